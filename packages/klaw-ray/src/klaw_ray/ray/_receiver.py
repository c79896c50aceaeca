"""``RayReceiver``: the receiving end of a Ray channel, prefetching in batches.

``recv()`` and ``async for`` hand out values from a local buffer that batched gets fill;
when the buffer runs low the next batch is fetched while the current one is consumed.
How many values are fetched ahead adapts to the consumer (see
:mod:`klaw_ray.ray._prefetch`): a fast consumer's window grows, up to ``prefetch``
(``channels.prefetch``), so that it rarely waits for a round trip; a slow one's shrinks,
so that it does not hold values other receivers could be working on. ``recv_batch`` asks
for the number of values it is given.

Acknowledgement (``delivery="at_least_once"``, the default): every value handed to a
receiver stays *leased* to it until acknowledged: implicitly by the receiver's next
receive (the get that follows carries the acknowledgements), by its ``close()``, or
explicitly with :meth:`RayReceiver.ack`. If the receiver's process dies, or a lease
outlives ``channels.lease_seconds``, the value goes back to the head of the channel for
the other receivers, and :attr:`RayReceiver.last_deliveries` tells the consumer that
received it again that it is a redelivery. Values fetched but never handed out go back to
the head of the channel, in order, when the receiver closes; a cancelled ``recv`` loses
nothing (what its fetch brings stays in the buffer).

Latency: a traced value (one its sender stamped) is measured when the receiver hands it
to its caller, and the measurement travels with the receiver's next get, or its close
(see :mod:`klaw_ray.ray._latency`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar

import msgspec

from klaw_ray._arguments import check_batch_args
from klaw_ray._handles import IterableReceiver
from klaw_ray.ray._handle import RayHandle, closed_error
from klaw_ray.ray._liveness import process_id
from klaw_ray.ray._messages import (
    AckRequest,
    CloseRequest,
    GetAnswer,
    GetRequest,
    decode_get_answer,
    decode_send_answer,
    encode_message,
)
from klaw_ray.ray._prefetch import PrefetchWindow
from klaw_ray.ray._runtime import current_node_id
from klaw_types import Err, Ok, Result
from klaw_wire import (
    ChannelBackendError,
    ChannelClosed,
    ChannelClosedError,
    ChannelEmpty,
    get_codec_pool,
)

__all__ = ["Delivery", "RayReceiver"]

T = TypeVar("T")

_BUSY_PAUSE = 0.1
"""Seconds a receiver waits before asking again when the channel refused a waiting get."""
_ACK_LINGER = 0.02
"""Seconds acknowledgements wait for a get to carry them before they go on their own."""


class Delivery(msgspec.Struct, frozen=True, gc=False):
    """How a received value was delivered.

    Attributes:
        id: The value's delivery id in its channel.
        count: How many times it has been handed to a receiver: 1 the first time, more
            when it is a redelivery (its earlier receiver died or its lease expired).
    """

    id: int
    count: int = 1

    @property
    def redelivered(self) -> bool:
        """Whether an earlier receiver may have seen (and processed) this value."""
        return self.count > 1


@dataclass(slots=True)
class _ReceiveState:
    """What one process's use of a receiver handle keeps."""

    loop: asyncio.AbstractEventLoop
    request: int = 0
    # (delivery, value, send time if traced else 0.0), in the order fetched
    buffer: deque[tuple[Delivery, Any, float]] = field(default_factory=deque)
    handed: list[int] = field(default_factory=list)  # acknowledged by the caller's next receive
    current: list[int] = field(default_factory=list)  # handed by the latest receive: not yet
    acks: set[asyncio.Task[None]] = field(default_factory=set)
    acking: set[int] = field(default_factory=set)  # in an ack call not yet answered
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=4096))  # acked lately
    fetch: asyncio.Task[None] | None = None
    fetch_request: int = -1
    asked: int = 0  # values the latest fetch asked for
    got: int = 0  # values it brought
    window: PrefetchWindow = field(default_factory=lambda: PrefetchWindow(1))
    ack_timer: asyncio.TimerHandle | None = None  # lingering acknowledgements
    end: BaseException | None = None
    reconcile: bool = False
    observed: list[float] = field(default_factory=list)  # latencies not yet reported
    held: deque[int] | None = None  # manual acknowledgement: handed out, not yet released

    @property
    def fetching(self) -> bool:
        """Whether a get of this receiver is on its way (or waiting in the actor)."""
        return self.fetch is not None and not self.fetch.done()


class RayReceiver(RayHandle, IterableReceiver[T], Generic[T]):
    """The receiving end of a Ray channel. Implements :class:`~klaw_ray.Receiver`.

    See the module documentation for prefetching and acknowledgements. Methods are
    safe to call concurrently from tasks of one event loop; use a ``clone()`` per thread
    or per process.
    """

    __slots__ = ("_batch_type", "_last", "_prefetch", "_state_")

    def __init__(
        self,
        actor: Any,
        metadata: Any,
        handle_id: str,
        ready: Any = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(actor, metadata, handle_id, ready, options)
        self._state_: _ReceiveState | None = None
        self._batch_type: Any = list[self._value_type]  # type: ignore[name-defined]
        self._last: tuple[Delivery, ...] = ()
        self._prefetch = max(1, int(self._options.get("prefetch", 1024)))

    @property
    def last_deliveries(self) -> tuple[Delivery, ...]:
        """How the values handed out by the latest receive call were delivered.

        One :class:`Delivery` for ``recv``, ``try_recv`` and each ``async for`` step,
        one per value for ``recv_batch``; empty before the first value.
        """
        return self._last

    def _state(self) -> _ReceiveState:
        loop = asyncio.get_running_loop()
        state = self._state_
        if state is None:
            state = self._state_ = _ReceiveState(loop, window=PrefetchWindow(self._prefetch))
            self._attach()
        elif state.loop is not loop:
            if state.fetching:
                raise RuntimeError("a RayReceiver is in use on another event loop; use a clone()")
            state.loop = loop
        return state

    def _adopted_incarnation(self) -> None:
        super()._adopted_incarnation()
        if self._state_ is not None:
            self._state_.reconcile = True

    # --- fetching ----------------------------------------------------------------------

    def _get_request(self, state: _ReceiveState, max_items: int, wait: float | None) -> bytes:
        if state.ack_timer is not None:  # the acknowledgements ride on this get instead
            state.ack_timer.cancel()
            state.ack_timer = None
        acked, state.handed = state.handed, []
        state.recent.extend(acked)
        held = None
        if state.reconcile:  # the first get after a durable restart
            state.reconcile = False
            # Acknowledge again what was acknowledged lately (an acknowledgement may have
            # been lost in the crash; the actor ignores ids it no longer leases), and name
            # what this receiver still holds or is acknowledging: every other lease of it
            # was lost in the crash and goes back to the channel.
            acked = sorted({*acked, *state.recent})
            held = [
                *state.current,
                *(state.held or ()),
                *(delivery.id for delivery, _, _ in state.buffer),
                *state.acking,
            ]
        request = state.request
        state.request += 1
        state.fetch_request = request
        observed, state.observed = state.observed, []
        return encode_message(
            GetRequest(
                self._handle_id,
                process_id(),
                current_node_id(),
                request,
                self._incarnation,
                max_items,
                wait,
                acked,
                held,
                observed,
            )
        )

    async def _fetch(self, state: _ReceiveState, max_items: int, wait: float | None) -> None:
        """One get: its values go to the buffer; the end of the stream is remembered."""
        request = self._get_request(state, max_items, wait)
        state.asked, state.got = max_items, 0
        try:
            answer = decode_get_answer(await self._call("get", request))
            self._check_answer(answer.incarnation, answer.status)
        except (ChannelBackendError, ChannelClosedError) as exc:
            state.end = state.end or exc
            return
        if answer.status == "ok":
            values = await self._values(answer)
            state.got = len(values)
            state.window.arrived(len(state.buffer))
            count = len(answer.ids)
            counts = answer.deliveries or [1] * count
            stamps: Iterable[float] = itertools.repeat(0.0, count)
            if answer.stamps:  # traced values: their send times, by index
                stamps = [0.0] * count
                for index, stamp in answer.stamps:
                    if 0 <= index < count:
                        stamps[index] = stamp
            state.buffer.extend(
                (Delivery(delivery_id, times), value, stamp)
                for delivery_id, times, value, stamp in zip(
                    answer.ids, counts, values, stamps, strict=True
                )
            )
        elif answer.status in ("ended", "sender_lost", "handle_closed", "peer_closed"):
            error = closed_error(
                answer.status, self._metadata.name, answer.error, answer.lost_sender
            )
            state.end = state.end or error
        elif answer.status == "busy":  # too many calls wait: try again shortly, not at once
            await asyncio.sleep(_BUSY_PAUSE)
        elif answer.status == "invalid":
            state.end = state.end or ChannelBackendError(
                channel_id=self._metadata.name, backend="ray", cause=answer.error
            )

    async def _values(self, answer: GetAnswer) -> list[Any]:
        """The values a successful get carried (decoded; fetched for references)."""
        values: list[Any] = get_codec_pool().decode_data(answer.data, self._batch_type).payload
        return values

    def _start_fetch(
        self, state: _ReceiveState, max_items: int, wait: float | None
    ) -> asyncio.Task[None]:
        fetch = state.fetch
        if fetch is None or fetch.done():
            fetch = state.fetch = state.loop.create_task(self._fetch(state, max_items, wait))
        return fetch

    def _prefetch_if_low(self, state: _ReceiveState) -> None:
        if state.end is None and not state.fetching:
            wanted = state.window.wanted(len(state.buffer))
            if wanted:  # top the buffer up to the window
                self._start_fetch(state, wanted, None)

    async def _wait_for_fetch(self, state: _ReceiveState) -> None:
        """Wait for a batch the caller needs now (growing the window if it was short)."""
        await asyncio.shield(self._start_fetch(state, state.window.size, None))
        state.window.starved(state.asked, state.got)

    def _processed(self, state: _ReceiveState) -> None:
        """A new receive began: what the previous one handed out is acknowledged.

        The acknowledgement travels with the next get; when a get is already waiting in
        the actor, it is sent at once instead, so that the end of the stream (which waits
        for every lease to end) is not held up by it.
        """
        if not state.current:
            return
        state.handed.extend(state.current)
        state.current = []
        self._ack_now_if_waiting(state)

    def _hold_acks(self) -> None:
        """Acknowledge values only through :meth:`_release_acks`, not at the next receive.

        For a stage's worker, which receives the next chunk while the previous chunk's
        results are still on their way to the sink, and acknowledges a chunk only once
        its results are in. Use ``recv_batch`` only: ``recv`` and ``async for`` are not
        meant for this mode. Values still held when the handle closes go back to the
        channel (they may have been processed: at least once).
        """
        state = self._state()
        if state.held is None:
            state.held = deque()

    def _release_acks(self, count: int) -> None:
        """Acknowledge the ``count`` values handed out first among those still held.

        The acknowledgement travels with the next get, or at once (in the background)
        when a get is already waiting in the actor; a failure shows on the next receive.
        """
        state = self._state()
        held = state.held
        if held is None or count <= 0:
            return
        state.handed.extend(held.popleft() for _ in range(min(count, len(held))))
        self._ack_now_if_waiting(state)

    def _ack_now_if_waiting(self, state: _ReceiveState) -> None:
        """Send the pending acknowledgements soon if a get is on its way to the actor.

        They travel with the next get when it starts within ``_ACK_LINGER`` (20 ms), as
        it does while values flow; otherwise they go in an ``ack`` call of their own. A
        get waiting in the actor may be waiting for these very acknowledgements (the
        end of the stream waits for every lease to end), so they cannot wait for the
        next get for ever; but one call per batch of acknowledgements would double the
        calls of a busy receiver.
        """
        if state.ack_timer is not None or not state.handed:
            return
        if not state.fetching:
            return
        state.ack_timer = state.loop.call_later(_ACK_LINGER, self._ack_lingering, state)

    def _ack_lingering(self, state: _ReceiveState) -> None:
        """The linger is over and no get took the acknowledgements: send them now."""
        state.ack_timer = None
        if self._closed or not state.handed:
            return
        if not state.fetching:
            return  # no get waits: the next one carries them
        acked, state.handed = state.handed, []
        state.recent.extend(acked)
        state.acking.update(acked)
        request = encode_message(
            AckRequest(self._handle_id, process_id(), self._incarnation, acked)
        )
        task = state.loop.create_task(self._quiet_ack(state, request, acked))
        state.acks.add(task)
        task.add_done_callback(state.acks.discard)

    async def _quiet_ack(self, state: _ReceiveState, request: bytes, acked: list[int]) -> None:
        try:
            with contextlib.suppress(ChannelBackendError):  # a failure shows on the next get
                await self._call("ack", request)
        finally:
            state.acking.difference_update(acked)

    def _hand_out(self, state: _ReceiveState, count: int) -> list[Any]:
        """Hand values to the caller; the previous receive's values count as acknowledged.

        The values handed now stay unacknowledged (leased) until the caller's next
        receive, its ``ack()`` or its close, so a consumer that dies while processing
        them has them redelivered.
        """
        popleft = state.buffer.popleft
        taken = [popleft() for _ in range(min(count, len(state.buffer)))]
        stamps = [stamp for _, _, stamp in taken if stamp]
        if stamps:
            _observe(state, stamps)
        self._last = tuple(delivery for delivery, _, _ in taken)
        if state.held is not None:  # acknowledged only by _release_acks
            state.held.extend(delivery.id for delivery in self._last)
        else:
            state.handed.extend(state.current)
            state.current = [delivery.id for delivery in self._last]
        return [value for _, value, _ in taken]

    # --- the Receiver protocol ---------------------------------------------------------

    async def recv(self) -> T:
        """Receive the next value, waiting while the channel is empty.

        The value handed out before this one counts as acknowledged.

        Raises:
            EndOfStreamError: Every sender is closed and the channel is drained.
            SenderLostError: A sender died without closing, and the channel is drained.
            HandleClosedError: This receiver is closed.
            ChannelBackendError: The actor died or cannot be reached.
            ChannelRestartedError: The channel restarted and lost its values.
        """
        state = self._state_
        if (  # the common case, kept short: a value is here and all is well
            state is not None
            and state.buffer
            and state.held is None
            and not self._closed
            and self._broken is None
            and state.loop is asyncio.get_running_loop()
        ):
            delivery, value, stamp = state.buffer.popleft()
            if stamp:
                _observe(state, (stamp,))
            state.handed.extend(state.current)  # the previous value is processed now
            state.current = [delivery.id]
            self._last = (delivery,)
            self._prefetch_if_low(state)
            return value  # type: ignore[no-any-return]
        self._check_usable()
        state = self._state()
        self._processed(state)
        while True:
            if state.buffer:
                value = self._hand_out(state, 1)[0]
                self._prefetch_if_low(state)
                return value  # type: ignore[no-any-return]
            if state.end is not None:
                raise _reraise(state.end)
            await self._wait_for_fetch(state)
            self._check_usable()

    async def try_recv(self) -> Result[T, ChannelEmpty | ChannelClosed]:
        """Receive a value only if one is here or queued now (at most one actor call).

        Returns:
            ``Ok(value)``, ``Err(ChannelEmpty(...))``, or ``Err(EndOfStream(...))`` /
            ``Err(SenderLost(...))`` / ``Err(HandleClosed(...))``.

        Raises:
            ChannelBackendError: The actor died or cannot be reached.
            ChannelRestartedError: The channel restarted and lost its values.
        """
        try:
            self._check_usable()
        except ChannelBackendError:
            raise
        except ChannelClosedError as exc:
            return Err(exc.to_struct())
        state = self._state()
        self._processed(state)
        if not state.buffer and state.end is None and not state.fetching:
            await self._fetch(state, state.window.size, 0)
        if state.buffer:
            return Ok(self._hand_out(state, 1)[0])
        if state.end is not None:
            if isinstance(state.end, ChannelBackendError):
                raise _reraise(state.end)
            if isinstance(state.end, ChannelClosedError):
                return Err(state.end.to_struct())
        return Err(ChannelEmpty(channel_id=self._metadata.name))

    async def recv_batch(self, max_items: int, timeout: float | None = None) -> list[T]:
        """Wait for at least one value (or the timeout), then take up to ``max_items``.

        Values already fetched are handed out first; otherwise one get asks for
        ``max_items``. On timeout, a get still waiting in the actor goes on in the
        background and what it brings is kept for the next receive.

        Raises:
            TypeError: ``max_items`` is not an int, or ``timeout`` not a number.
            ValueError: ``max_items < 1``, or ``timeout`` negative, NaN or infinite.
            EndOfStreamError: Every sender is closed and the channel is drained.
            SenderLostError: A sender died without closing, and the channel is drained.
            HandleClosedError: This receiver is closed.
            ChannelBackendError: The actor died or cannot be reached.
        """
        check_batch_args(max_items, timeout)
        self._check_usable()
        state = self._state()
        self._processed(state)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if state.buffer:
                values: list[T] = self._hand_out(state, max_items)
                return values
            if state.end is not None:
                raise _reraise(state.end)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            fetch = self._start_fetch(state, max_items, remaining)
            try:
                await asyncio.wait_for(asyncio.shield(fetch), remaining)
            except TimeoutError:
                return []
            self._check_usable()
            if not state.buffer and deadline is not None and time.monotonic() >= deadline:
                return []

    async def ack(self) -> None:
        """Acknowledge every value handed out so far (one actor call, if any is pending).

        Raises:
            HandleClosedError: This receiver is closed.
            ChannelBackendError: The actor died or cannot be reached.
        """
        self._check_usable()
        state = self._state()
        if not state.handed and not state.current:
            return
        acked, state.handed, state.current = [*state.handed, *state.current], [], []
        answer = decode_send_answer(
            await self._call(
                "ack",
                encode_message(AckRequest(self._handle_id, process_id(), self._incarnation, acked)),
            )
        )
        self._check_answer(answer.incarnation, answer.status)

    def clone(self) -> Self:
        """Return another receiver handle; receivers compete for values.

        Raises:
            HandleClosedError: This handle is closed.
        """
        return self._registered_clone()

    async def close(self) -> None:
        """Close this handle (every pickled copy too); give back what was not handed out.

        Values handed out are acknowledged; values fetched but never handed out go back
        to the head of the channel, in order. Runs to the end even if the calling task
        is cancelled meanwhile. Idempotent; a channel whose actor is gone counts as
        closed.
        """
        await self._close_once()

    async def _close(self) -> None:
        state = self._state_
        acked: list[int] = []
        unread: list[int] = []
        observed: list[float] = []
        if state is not None:
            if state.ack_timer is not None:  # the close carries them
                state.ack_timer.cancel()
                state.ack_timer = None
            fetch = state.fetch
            if fetch is not None and not fetch.done():
                with contextlib.suppress(ChannelBackendError):  # gone: the fetch fails too
                    await self._call("abandon", self._handle_id, state.fetch_request)
                await asyncio.shield(fetch)
            acked, state.handed, state.current = [*state.handed, *state.current], [], []
            unread = [*(state.held or ()), *(delivery.id for delivery, _, _ in state.buffer)]
            if state.held is not None:
                state.held.clear()
            state.buffer.clear()  # the unread values keep their stamps in the actor
            observed, state.observed = state.observed, []
        request = CloseRequest(
            self._handle_id, process_id(), self._incarnation, acked, unread, observed
        )
        await self._close_call("close_receiver", encode_message(request))


def _observe(state: _ReceiveState, stamps: Iterable[float]) -> None:
    """Traced values are handed to the caller: their latencies go with the next call.

    ``stamps`` are their send times. A latency below 0 (the sender's clock ahead of
    this one) counts as 0.
    """
    now = time.time()
    state.observed.extend(max(0.0, now - stamp) for stamp in stamps)


def _reraise(error: BaseException) -> BaseException:
    """A fresh copy of a remembered closed-channel error (each raise gets its own).

    A backend failure is raised as it was, with its cause.
    """
    if isinstance(error, ChannelClosedError) and not isinstance(error, ChannelBackendError):
        return error.to_struct().to_exception()
    return error
