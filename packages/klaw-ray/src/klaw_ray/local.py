"""The in-process backend: an asyncio channel that keeps values as Python objects.

Nothing is serialized or copied: a value sent is the very object received. All handles
of one channel must be used from one event loop (the one running when they are first
awaited); the channel is not thread-safe, like :class:`asyncio.Queue`.

Waiting is fair per operation: blocked senders and receivers are woken one at a time in
the order they started waiting. A cancelled ``send`` has not put its value in the channel;
a cancelled ``recv`` has not taken one; in both cases the wake-up it may have received is
passed on to the next waiter, so cancellation neither loses nor duplicates a value.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

from klaw_ray._arguments import UNBOUNDED, check_batch_args
from klaw_ray._handles import ClosingHandle, IterableReceiver
from klaw_ray._waiters import Waiters, count_waiting, wait_in, wake_all, wake_one
from klaw_ray.stats import ChannelStats
from klaw_types import Err, Ok, Result
from klaw_wire import (
    ChannelClosed,
    ChannelClosedError,
    ChannelEmpty,
    ChannelFull,
    EndOfStreamError,
    HandleClosedError,
    PeerClosedError,
)

__all__ = ["LocalReceiver", "LocalSender", "local_channel"]

T = TypeVar("T")


class _LocalState(Generic[T]):
    """What all handles of one local channel share."""

    __slots__ = (
        "buffer",
        "capacity",
        "getters",
        "high_watermark",
        "name",
        "putters",
        "receivers",
        "senders",
        "total_received",
        "total_sent",
    )

    def __init__(self, capacity: int, name: str) -> None:
        self.buffer: deque[T] = deque()
        self.capacity = capacity
        self.name = name
        self.getters: Waiters = deque()
        self.putters: Waiters = deque()
        self.senders = 0
        self.receivers = 0
        self.total_sent = 0
        self.total_received = 0
        self.high_watermark = 0

    def stats(self) -> ChannelStats:
        return ChannelStats(
            backend="local",
            capacity=None if self.capacity == UNBOUNDED else self.capacity,
            size=len(self.buffer),
            high_watermark=self.high_watermark,
            total_sent=self.total_sent,
            total_received=self.total_received,
            open_senders=self.senders,
            open_receivers=self.receivers,
            closed=self.senders == 0,
            waiting_senders=count_waiting(self.putters),
            waiting_receivers=count_waiting(self.getters),
            extras={"name": self.name} if self.name else {},
        )


class LocalSender(ClosingHandle, Generic[T]):
    """The sending end of an in-process channel. Implements :class:`~klaw_ray.Sender`."""

    __slots__ = ("_closed", "_state")

    def __init__(self, state: _LocalState[T]) -> None:
        self._state = state
        self._closed = False
        state.senders += 1

    def _check_open(self) -> None:
        if self._closed:
            raise HandleClosedError(channel_id=self._state.name, detail="this sender is closed")
        if self._state.receivers == 0:
            raise PeerClosedError(channel_id=self._state.name, detail="every receiver is closed")

    async def send(self, value: T) -> None:
        """Send ``value``, waiting while the channel is full.

        Args:
            value: The value; it is handed over as is, not copied.

        Raises:
            HandleClosedError: This sender is closed (also when closed while waiting).
            PeerClosedError: Every receiver is closed (also when that happens while
                waiting).
        """
        state = self._state
        self._check_open()
        while len(state.buffer) >= state.capacity:
            await wait_in(state.putters)
            self._check_open()
        self._put(value)

    def _put(self, value: T) -> None:
        state = self._state
        buffer = state.buffer
        buffer.append(value)
        state.total_sent += 1
        state.high_watermark = max(state.high_watermark, len(buffer))
        if state.getters:
            wake_one(state.getters)

    async def try_send(self, value: T) -> Result[None, ChannelFull | ChannelClosed]:
        """Send ``value`` only if the channel has room now.

        Args:
            value: The value.

        Returns:
            ``Ok(None)`` when accepted; ``Err(ChannelFull(...))`` or
            ``Err(ChannelClosed(...))`` otherwise.
        """
        try:
            self._check_open()
        except ChannelClosedError as exc:
            return Err(exc.to_struct())
        if len(self._state.buffer) >= self._state.capacity:
            return Err(ChannelFull(channel_id=self._state.name, capacity=self._state.capacity))
        self._put(value)
        return Ok(None)

    async def send_batch(self, values: Iterable[T]) -> None:
        """Send ``values`` in order, waiting for room as needed.

        Values are accepted one by one: if the call is cancelled or fails part-way, the
        values before that point were sent and the rest were not. An empty batch still
        checks that sending is possible.

        Args:
            values: The values.

        Raises:
            HandleClosedError: This sender is closed.
            PeerClosedError: Every receiver is closed.
        """
        self._check_open()
        for value in values:
            await self.send(value)

    async def flush(self) -> None:
        """Return at once: a local ``send`` puts its value in the channel before returning."""

    def clone(self) -> LocalSender[T]:
        """Return another sender handle; the channel stays open until all are closed.

        Raises:
            HandleClosedError: This handle is closed.
        """
        if self._closed:
            raise HandleClosedError(channel_id=self._state.name, detail="this sender is closed")
        return LocalSender(self._state)

    async def close(self) -> None:
        """Close this handle; the last sender to close ends the stream for receivers."""
        self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        state = self._state
        state.senders -= 1
        wake_all(state.putters)  # a send waiting on this handle must see it closed
        if state.senders == 0:
            wake_all(state.getters)

    async def stats(self) -> ChannelStats:
        """Return a snapshot of the channel's statistics."""
        return self._state.stats()


class LocalReceiver(IterableReceiver[T]):
    """The receiving end of an in-process channel. Implements :class:`~klaw_ray.Receiver`."""

    __slots__ = ("_closed", "_state")

    def __init__(self, state: _LocalState[T]) -> None:
        self._state = state
        self._closed = False
        state.receivers += 1

    def _closed_error(self) -> ChannelClosedError:
        if self._closed:
            return HandleClosedError(channel_id=self._state.name, detail="this receiver is closed")
        return EndOfStreamError(channel_id=self._state.name)

    async def recv(self) -> T:
        """Receive the next value, waiting while the channel is empty.

        Returns:
            The value.

        Raises:
            EndOfStreamError: Every sender is closed and nothing is left.
            HandleClosedError: This receiver is closed (also when closed while waiting).
        """
        state = self._state
        buffer = state.buffer
        while not buffer or self._closed:
            if self._closed or state.senders == 0:
                raise self._closed_error()
            await wait_in(state.getters)
        return self._take()

    def _take(self) -> T:
        state = self._state
        value = state.buffer.popleft()
        state.total_received += 1
        if state.putters:
            wake_one(state.putters)
        return value

    async def try_recv(self) -> Result[T, ChannelEmpty | ChannelClosed]:
        """Receive a value only if one is queued now.

        Returns:
            ``Ok(value)``; ``Err(ChannelEmpty(...))`` when nothing is queued;
            ``Err(ChannelClosed(...))`` when closed and drained, or this handle is closed.
        """
        state = self._state
        if self._closed or (not state.buffer and state.senders == 0):
            return Err(self._closed_error().to_struct())
        if not state.buffer:
            return Err(ChannelEmpty(channel_id=state.name))
        return Ok(self._take())

    async def recv_batch(self, max_items: int, timeout: float | None = None) -> list[T]:
        """Wait for at least one value (or the timeout), then take up to ``max_items``.

        Args:
            max_items: The most values to return; at least 1.
            timeout: Seconds to wait for the first value; ``None`` waits indefinitely.

        Returns:
            One to ``max_items`` values in channel order, or ``[]`` on timeout.

        Raises:
            TypeError: ``max_items`` is not an int.
            ValueError: ``max_items < 1`` or ``timeout < 0``.
            EndOfStreamError: Every sender is closed and nothing is left.
            HandleClosedError: This receiver is closed.
        """
        check_batch_args(max_items, timeout)
        state = self._state
        if not state.buffer or self._closed:
            try:
                async with asyncio.timeout(timeout):
                    while not state.buffer or self._closed:
                        if self._closed or state.senders == 0:
                            raise self._closed_error()
                        await wait_in(state.getters)
            except TimeoutError:
                return []
        count = min(max_items, len(state.buffer))
        return [self._take() for _ in range(count)]

    def clone(self) -> LocalReceiver[T]:
        """Return another receiver handle; receivers compete for values.

        Raises:
            HandleClosedError: This handle is closed.
        """
        if self._closed:
            raise self._closed_error()
        return LocalReceiver(self._state)

    async def close(self) -> None:
        """Close this handle; once every receiver is closed, sends fail."""
        self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        state = self._state
        state.receivers -= 1
        wake_all(state.getters)  # a recv waiting on this handle must see it closed
        if state.receivers == 0:
            wake_all(state.putters)

    async def stats(self) -> ChannelStats:
        """Return a snapshot of the channel's statistics."""
        return self._state.stats()


def local_channel(
    capacity: int | None, *, name: str = ""
) -> tuple[LocalSender[T], LocalReceiver[T]]:
    """Create an in-process channel and return its first sender and receiver.

    Most code calls :func:`klaw_ray.channel` instead, which validates the arguments and
    reads defaults from the configuration.

    Args:
        capacity: Most values queued at once, or ``None`` for unbounded.
        name: A name used in errors and statistics.

    Returns:
        ``(sender, receiver)``.
    """
    state: _LocalState[T] = _LocalState(UNBOUNDED if capacity is None else capacity, name)
    return LocalSender(state), LocalReceiver(state)
