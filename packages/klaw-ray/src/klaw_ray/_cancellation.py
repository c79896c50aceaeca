"""Cancellation that arrives after an operation took effect: shared by both backends."""

from __future__ import annotations

import asyncio

__all__ = ["defer_cancellation"]


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
