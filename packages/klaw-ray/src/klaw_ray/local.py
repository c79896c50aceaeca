"""The in-process backend: an asyncio channel that keeps values as Python objects.

Nothing is serialized or copied: a value sent is the very object received. All handles
of one channel must be used from one event loop (the one running when they are first
awaited); the channel is not thread-safe, like :class:`asyncio.Queue`.

Waiting follows trio's fairness rule, by hand-off rather than wake-and-recheck. A value
sent while receivers wait goes straight to the one that has waited longest: that
``recv`` returns exactly that value, and the value is never in the buffer where a
``try_recv`` could take it. Room freed while senders wait goes to the one that has
waited longest: its value moves into the buffer on its behalf, and its ``send`` returns.
So an operation that finds others waiting never overtakes them: ``try_send`` answers
``ChannelFull`` while a ``send`` waits, and ``try_recv`` answers ``ChannelEmpty`` while a
``recv`` waits.

Cancellation is atomic. A ``send`` cancelled while it waits has put nothing in the
channel and raises; one whose value was accepted before the cancellation reached it
returns normally, and the cancellation is re-armed so that the task's next ``await``
raises :class:`asyncio.CancelledError` (a task that ends there ends cancelled, its value
sent). A ``recv`` cancelled while it waits has taken nothing and raises. One that was
handed a value before the cancellation reached it raises as well, and gives the value
back at the head of the channel: the longest-waiting receiver gets it, or else it is the
next value received. It is not returned because asyncio discards what a task returns
when a cancellation is pending, which would lose the value whenever the ``recv`` is the
task's last ``await``. The value given back may make the buffer hold one value more than
the capacity for a while, and values a ``try_recv`` took meanwhile overtake it: the only
case in which values are received out of the order they were accepted.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Generic, TypeVar

from klaw_ray._arguments import UNBOUNDED, check_abort_reason, check_batch_args
from klaw_ray._cancellation import defer_cancellation
from klaw_ray._handles import ClosingHandle, IterableReceiver
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
    SenderLostError,
)

__all__ = ["LocalReceiver", "LocalSender", "local_channel"]

T = TypeVar("T")


class _LocalState(Generic[T]):
    """What all handles of one local channel share.

    ``getters`` holds the receives waiting for a value, ``putters`` the sends waiting for
    room with their values, each longest-waiting first and keyed by the future its task
    awaits. A future that is done is no longer waiting: it was cancelled (its task takes
    it off when it resumes) or answered (whoever answered took it off). Live getters mean
    an empty buffer, and live putters a full one.
    """

    __slots__ = (
        "buffer",
        "capacity",
        "failure",
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
        self.getters: OrderedDict[asyncio.Future[T], LocalReceiver[T]] = OrderedDict()
        self.putters: OrderedDict[asyncio.Future[None], tuple[T, LocalSender[T]]] = OrderedDict()
        self.senders = 0
        self.receivers = 0
        self.total_sent = 0
        self.total_received = 0
        self.high_watermark = 0
        self.failure: ChannelClosedError | None = None  # set by an aborting sender

    def end_error(self) -> ChannelClosedError:
        """What receivers see once every sender is closed and nothing is left."""
        if self.failure is not None:
            return self.failure.to_struct().to_exception()
        return EndOfStreamError(channel_id=self.name)

    def hand_over(self, value: T) -> bool:
        """Give ``value`` to the longest-waiting live receiver; whether there was one."""
        getters = self.getters
        while getters:
            waiter, _ = getters.popitem(last=False)
            if not waiter.done():
                waiter.set_result(value)
                self.total_received += 1
                return True
        return False

    def refill(self) -> None:
        """Move the values of the longest-waiting live senders into the room there is."""
        putters, buffer = self.putters, self.buffer
        while putters and len(buffer) < self.capacity:
            waiter, (value, _) = putters.popitem(last=False)
            if not waiter.done():
                buffer.append(value)
                self.total_sent += 1
                waiter.set_result(None)

    def give_back(self, value: T) -> None:
        """Put back a value whose receiver was cancelled before it resumed, at the head."""
        self.total_received -= 1
        if self.getters and self.hand_over(value):
            return
        buffer = self.buffer
        buffer.appendleft(value)
        self.high_watermark = max(self.high_watermark, len(buffer))

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
            waiting_senders=sum(1 for waiter in self.putters if not waiter.done()),
            waiting_receivers=sum(1 for waiter in self.getters if not waiter.done()),
            extras={"name": self.name} if self.name else {},
        )


class LocalSender(ClosingHandle, Generic[T]):
    """The sending end of an in-process channel. Implements :class:`~klaw_ray.Sender`."""

    __slots__ = ("_closed", "_state")

    def __init__(self, state: _LocalState[T]) -> None:
        self._state = state
        self._closed = False
        state.senders += 1

    def _refusal(self) -> ChannelClosedError:
        if self._closed:
            return HandleClosedError(channel_id=self._state.name, detail="this sender is closed")
        return PeerClosedError(channel_id=self._state.name, detail="every receiver is closed")

    def _check_open(self) -> None:
        if self._closed or not self._state.receivers:
            raise self._refusal()

    async def send(self, value: T) -> None:
        """Send ``value``, waiting while the channel is full.

        A receiver waiting gets the value at once; otherwise it is queued if there is
        room, or the call waits behind the sends already waiting. Cancelled while it
        waits, it has sent nothing and raises ``CancelledError``, unless its value was
        accepted first: then it returns normally and the task's next ``await`` raises.

        Args:
            value: The value; it is handed over as is, not copied.

        Raises:
            HandleClosedError: This sender is closed (also when closed while waiting).
            PeerClosedError: Every receiver is closed (also when that happens while
                waiting; the value was not accepted).
        """
        state = self._state
        if self._closed or not state.receivers:
            raise self._refusal()
        if state.getters and state.hand_over(value):
            state.total_sent += 1
            return
        buffer = state.buffer
        if len(buffer) < state.capacity:
            buffer.append(value)
            state.total_sent += 1
            state.high_watermark = max(state.high_watermark, len(buffer))
            return
        if await self._wait_for_room(value) is not None:
            defer_cancellation()

    async def _wait_for_room(self, value: T) -> asyncio.CancelledError | None:
        """Wait until ``value`` is accepted.

        Returns:
            The cancellation that arrived after ``value`` was accepted, or ``None``.

        Raises:
            CancelledError: Cancelled before ``value`` was accepted.
            HandleClosedError: This sender was closed while waiting.
            PeerClosedError: Every receiver was closed while waiting.
        """
        state = self._state
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.putters[waiter] = (value, self)
        try:
            await waiter
        except asyncio.CancelledError as exc:
            if waiter.cancelled():
                state.putters.pop(waiter, None)
                raise
            if waiter.exception() is not None:  # closed, then cancelled: nothing sent
                raise
            return exc
        except BaseException:
            if not waiter.done():
                waiter.cancel()
                state.putters.pop(waiter, None)
            raise
        return None

    async def try_send(self, value: T) -> Result[None, ChannelFull | ChannelClosed]:
        """Send ``value`` only if that needs no waiting.

        It goes to a waiting receiver, or into the buffer if there is room; while sends
        wait, the channel is full for this call too (it does not overtake them).

        Args:
            value: The value.

        Returns:
            ``Ok(None)`` when accepted; ``Err(ChannelFull(...))`` or
            ``Err(ChannelClosed(...))`` otherwise.
        """
        state = self._state
        if self._closed or not state.receivers:
            return Err(self._refusal().to_struct())
        if state.getters and state.hand_over(value):
            state.total_sent += 1
            return Ok(None)
        buffer = state.buffer
        if len(buffer) >= state.capacity:
            return Err(ChannelFull(channel_id=state.name, capacity=state.capacity))
        buffer.append(value)
        state.total_sent += 1
        state.high_watermark = max(state.high_watermark, len(buffer))
        return Ok(None)

    async def send_batch(self, values: Iterable[T]) -> None:
        """Send ``values`` in order, waiting for room as needed.

        Values are accepted one by one, as by :meth:`send`: if the call is cancelled or
        fails part-way, the values before that point were sent and the rest were not. A
        cancellation that arrives after the value being waited for was accepted raises
        at once (that value was sent). An empty batch still checks that sending is
        possible.

        Args:
            values: The values.

        Raises:
            HandleClosedError: This sender is closed.
            PeerClosedError: Every receiver is closed.
        """
        state = self._state
        buffer, capacity = state.buffer, state.capacity
        if self._closed or not state.receivers:
            raise self._refusal()
        for value in values:
            if state.getters and state.hand_over(value):
                state.total_sent += 1
            elif len(buffer) < capacity:
                buffer.append(value)
                state.total_sent += 1
                state.high_watermark = max(state.high_watermark, len(buffer))
            else:
                cancelled = await self._wait_for_room(value)
                if cancelled is not None:
                    raise cancelled
                self._check_open()  # closed after the value was accepted, before resuming

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
        """Close this handle; the last sender to close ends the stream for receivers.

        Sends waiting on this handle raise ``HandleClosedError``, their values not sent;
        when it is the last sender, waiting receives raise ``EndOfStreamError`` (nothing
        is queued while receives wait).
        """
        self._close()

    async def abort(self, reason: str) -> None:
        """Close this handle so that receivers see a failed stream instead of its end.

        Values already queued are still delivered; once every sender is closed and the
        channel is drained, receivers get :class:`~klaw_wire.SenderLostError` (its
        ``detail`` is ``reason``) in place of the end of the stream. Does nothing on a
        closed handle.

        Raises:
            TypeError: ``reason`` is not a non-empty string.
        """
        check_abort_reason(reason)
        if self._closed:
            return
        state = self._state
        if state.failure is None:
            state.failure = SenderLostError(channel_id=state.name, detail=reason)
        self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        state = self._state
        state.senders -= 1
        putters = state.putters
        for waiter, (_, owner) in list(putters.items()):
            if owner is self:
                del putters[waiter]
                if not waiter.done():
                    waiter.set_exception(self._refusal())
        if state.senders == 0:
            getters = state.getters
            while getters:
                getter, _ = getters.popitem(last=False)
                if not getter.done():
                    getter.set_exception(state.end_error())

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
        return self._state.end_error()

    async def recv(self) -> T:
        """Receive the next value, waiting while the channel is empty.

        Takes the value at the head of the buffer, or waits behind the receives already
        waiting until a sender hands it one. Cancelled while it waits, it raises
        ``CancelledError`` and has taken nothing: a value already handed to it goes back
        to the head of the channel.

        Returns:
            The value.

        Raises:
            EndOfStreamError: Every sender is closed and nothing is left.
            HandleClosedError: This receiver is closed (also when closed while waiting).
        """
        state = self._state
        buffer = state.buffer
        if buffer and not self._closed:
            value = buffer.popleft()
            state.total_received += 1
            if state.putters:
                state.refill()
            return value
        return await self._wait_for_value()

    async def __anext__(self) -> T:
        state = self._state
        buffer = state.buffer
        if buffer and not self._closed:
            value = buffer.popleft()
            state.total_received += 1
            if state.putters:
                state.refill()
            return value
        try:
            return await self._wait_for_value()
        except EndOfStreamError:
            raise StopAsyncIteration from None

    async def _wait_for_value(self) -> T:
        """Wait until a sender hands this receive a value (the buffer is empty).

        Raises:
            CancelledError: Cancelled; a value handed over meanwhile was given back.
            EndOfStreamError: Every sender is closed (now or while waiting).
            HandleClosedError: This receiver is closed (now or while waiting).
        """
        state = self._state
        if self._closed or not state.senders:
            raise self._closed_error()
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        state.getters[waiter] = self
        try:
            return await waiter
        except BaseException:
            if not waiter.done():
                waiter.cancel()
            if waiter.cancelled():
                state.getters.pop(waiter, None)
            elif waiter.exception() is None:
                state.give_back(waiter.result())
            raise

    async def try_recv(self) -> Result[T, ChannelEmpty | ChannelClosed]:
        """Receive a value only if one is queued now.

        Values handed to waiting receives are theirs, not queued: while receives wait,
        this call finds the channel empty.

        Returns:
            ``Ok(value)``; ``Err(ChannelEmpty(...))`` when nothing is queued;
            ``Err(ChannelClosed(...))`` when closed and drained, or this handle is closed.
        """
        state = self._state
        buffer = state.buffer
        if self._closed:
            return Err(self._closed_error().to_struct())
        if buffer:
            value = buffer.popleft()
            state.total_received += 1
            if state.putters:
                state.refill()
            return Ok(value)
        if not state.senders:
            return Err(self._closed_error().to_struct())
        return Err(ChannelEmpty(channel_id=state.name))

    async def recv_batch(self, max_items: int, timeout: float | None = None) -> list[T]:
        """Wait for at least one value (or the timeout), then take up to ``max_items``.

        The first value is received as by :meth:`recv`; the rest are what is queued then,
        including values that waiting sends move in as room frees. Cancelled (or timed
        out) while waiting for the first value, it has taken nothing.

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
        buffer = state.buffer
        values: list[T] = []
        if self._closed or not buffer:
            if timeout is None:
                values.append(await self._wait_for_value())
            else:
                try:
                    async with asyncio.timeout(timeout):
                        values.append(await self._wait_for_value())
                except TimeoutError:
                    return []
        wanted = max_items - len(values)
        if not state.putters:
            count = min(wanted, len(buffer))
            take = buffer.popleft
            values.extend([take() for _ in range(count)])
            state.total_received += count
            return values
        while wanted and buffer:
            values.append(buffer.popleft())
            state.total_received += 1
            state.refill()
            wanted -= 1
        return values

    def clone(self) -> LocalReceiver[T]:
        """Return another receiver handle; receivers compete for values.

        Raises:
            HandleClosedError: This handle is closed.
        """
        if self._closed:
            raise self._closed_error()
        return LocalReceiver(self._state)

    async def close(self) -> None:
        """Close this handle; once every receiver is closed, sends fail.

        Receives waiting on this handle raise ``HandleClosedError``, having taken
        nothing; when it is the last receiver, waiting sends raise ``PeerClosedError``,
        their values not sent.
        """
        self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        state = self._state
        state.receivers -= 1
        getters = state.getters
        for waiter, owner in list(getters.items()):
            if owner is self:
                del getters[waiter]
                if not waiter.done():
                    waiter.set_exception(self._closed_error())
        if state.receivers == 0:
            putters = state.putters
            while putters:
                putter, (_, sender) = putters.popitem(last=False)
                if not putter.done():
                    putter.set_exception(sender._refusal())

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
