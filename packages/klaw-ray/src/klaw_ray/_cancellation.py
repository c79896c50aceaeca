"""Cancellation around operations that must not be cut short: shared by the whole library."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["defer_cancellation", "run_to_completion"]

T = TypeVar("T")


def defer_cancellation() -> None:
    """Re-arm a cancellation that arrived after the operation completed.

    The operation returns normally (its effect happened: a value was accepted); the
    current task is cancelled again, so that its next ``await`` raises
    ``CancelledError`` and ``asyncio.timeout`` and task cancellation keep working.
    """
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
        task.cancel()


async def run_to_completion(operation: Awaitable[T]) -> T:
    """Await ``operation`` to its end even if the calling task is cancelled meanwhile.

    A cancelled caller waits for the operation to finish, then sees its cancellation
    (``CancelledError``); a second cancellation while it waits does the same. For
    closing and cleaning up: work that, cut short, would leave a channel open.
    """
    running = asyncio.ensure_future(operation)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(running)
        except asyncio.CancelledError:
            if running.cancelled():
                raise
            cancelled = True
            continue
        if cancelled:
            raise asyncio.CancelledError
        return result
