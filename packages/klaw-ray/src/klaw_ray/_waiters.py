"""Queues of asyncio futures that senders and receivers wait on, shared by the backends."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["Waiters", "count_waiting", "wait_in", "wake_all", "wake_one"]

Waiters = deque[asyncio.Future[None]]


def count_waiting(waiters: Waiters) -> int:
    """How many waiters still wait (a woken one may not have left the queue yet)."""
    return sum(1 for waiter in waiters if not waiter.done())


def wake_one(waiters: Waiters) -> None:
    """Wake the longest-waiting live waiter, if any."""
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return


def wake_all(waiters: Waiters) -> None:
    """Wake every waiter; each re-checks the condition it waits for."""
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)


async def wait_in(waiters: Waiters) -> None:
    """Wait on a new future appended to ``waiters`` until woken.

    A waiter that was woken and then cancelled before it could act wakes the next waiter
    in its place, so the wake-up (room for one value, or one value to take) is not lost.
    """
    waiter = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    except BaseException:
        woken = waiter.done() and not waiter.cancelled()
        waiter.cancel()
        with contextlib.suppress(ValueError):  # already taken off by a waker
            waiters.remove(waiter)
        if woken:
            wake_one(waiters)
        raise
