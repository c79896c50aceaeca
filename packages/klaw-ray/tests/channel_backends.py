"""How the conformance suite opens a channel on each backend, and waits on its state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from klaw_ray import ChannelStats, Receiver, Sender

OpenChannel: TypeAlias = Callable[[int | None], Awaitable[tuple[Sender[Any], Receiver[Any]]]]
"""``await open_channel(capacity)`` returns a fresh ``(sender, receiver)``."""


async def wait_for_stats(
    handle: Sender[Any] | Receiver[Any],
    condition: Callable[[ChannelStats], bool],
    *,
    timeout: float = 20.0,
) -> ChannelStats:
    """Wait until the channel's statistics satisfy ``condition``; return them.

    Polls ``stats()`` (a local call on the local backend, one actor call on Ray), letting
    the event loop run between polls. Fails the test with the last statistics seen if the
    condition does not hold within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        stats = await handle.stats()
        if condition(stats):
            return stats
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s; last stats: {stats}")
        await asyncio.sleep(0.001)


async def wait_for_waiting(
    handle: Sender[Any] | Receiver[Any], *, senders: int = 0, receivers: int = 0
) -> ChannelStats:
    """Wait until exactly ``senders`` sends and ``receivers`` receives wait in the channel."""
    return await wait_for_stats(
        handle,
        lambda s: s.waiting_senders == senders and s.waiting_receivers == receivers,
    )


async def receive_exactly(
    receiver: Receiver[Any], count: int, *, timeout: float = 20.0
) -> list[Any]:
    """Receive ``count`` values in as many ``recv_batch`` calls as it takes.

    A coalescing sender's values may reach the channel in several batches, so one
    ``recv_batch`` may return only some of them. Fails the test after ``timeout`` s.
    """
    received: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(received) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"received {len(received)} of {count} values: {received!r}")
        received.extend(await receiver.recv_batch(count - len(received), timeout=remaining))
    return received
