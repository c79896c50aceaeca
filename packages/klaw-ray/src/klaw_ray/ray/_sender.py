"""``RaySender``: the sending end of a Ray channel, coalescing sends into batches.

How a value travels (coalescing on, the default):

1. ``send(value)`` encodes the value and checks it against the channel's type at the
   call (a bad value raises there and nothing is buffered).
2. It takes one unit of the handle's *credit* (room the actor granted) and puts the
   value in the handle's send buffer, then returns. Without credit it waits: the answer
   of a put on its way brings credit, and with none on its way the handle asks the actor
   with one ``reserve`` call, which waits in the actor until receivers make room.
   Waiting sends keep their order, and ``try_send`` never overtakes them.
3. The buffer ships as one ``put`` per batch, at once when no put is in flight (no linger
   timer), and, under load, gathering values while up to two puts are in flight. Each
   answer brings new credit, so a busy sender rarely waits for it.

Capacity therefore bounds everything on the sending side: values queued in the actor,
buffered here and in flight (what receivers hold is bounded by what each asks for).

A shipped batch that fails (every receiver closed, the actor died or restarted and lost
its values) makes the next ``send``, ``send_batch``, ``flush`` or ``close`` raise that
error with the values that were not delivered in its ``undelivered`` attribute, so
nothing is dropped without the caller knowing.

Tracing (``telemetry.trace_sample_rate`` above 0): a seeded sampler in the handle picks
the values stamped with the wall clock at their ``send`` call; the stamps travel with
their put (see :mod:`klaw_ray.ray._latency`). A value that is never shipped (its send
was cancelled while waiting, or failed) takes its stamp with it.

With ``coalesce=False``, ``send`` returns only once its value is in the channel (one
actor call per value): choose it when the caller must know that, and the default when
throughput matters (``flush()`` gives the same guarantee for everything sent before it).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar

import msgspec

from klaw_ray._arguments import check_abort_reason
from klaw_ray._cancellation import defer_cancellation
from klaw_ray.ray._handle import RayHandle, closed_error
from klaw_ray.ray._latency import TraceSampler, sampler_for
from klaw_ray.ray._liveness import process_id
from klaw_ray.ray._messages import (
    CloseRequest,
    PutRequest,
    ReserveRequest,
    SendAnswer,
    decode_send_answer,
    encode_message,
)
from klaw_ray.ray._naming import now_ms
from klaw_types import Err, Ok, Result
from klaw_wire import (
    ChannelBackendError,
    ChannelClosed,
    ChannelClosedError,
    ChannelFull,
    DataMessage,
    HandleClosedError,
    WireHeader,
    get_codec_pool,
)

__all__ = ["RaySender"]

T = TypeVar("T")

_MAX_IN_FLIGHT = 2
"""Puts one writer keeps in flight at once."""
_MAX_BATCH = 1000
"""Most values in one put."""
_IN_A_BATCH = b"\x91\x91"
"""Two one-element MessagePack arrays: a value's place in a received batch (the envelope,
then its list of values), so that checking it there checks its real nesting depth. (The
actor checks each batch again, in a Ray worker like the receivers.)"""
_UNENCODABLE = (TypeError, ValueError, OverflowError, RecursionError, msgspec.EncodeError)
"""What encoding a value that MessagePack cannot hold raises."""
_BUSY_PAUSE = 0.1
"""Seconds a sender waits before asking again when the channel refused a waiting reserve."""
_YIELD_EVERY = 256
"""Sends that complete without waiting yield to the event loop this often, so that the
answers of puts in flight are processed while a producer loop runs."""


@dataclass(slots=True)
class _Pending:
    value: Any
    item: Any  # the encoded value (Raw), or an ObjectRef on a reference channel
    future: asyncio.Future[None]
    stamp: float = 0.0  # when traced: the time of its send call


@dataclass(slots=True)
class _SendState:
    """What one process's use of a sender handle (a *writer*) keeps."""

    writer: str
    loop: asyncio.AbstractEventLoop
    seq: int = 0
    credit: int = 0
    reserve_request: int = 0
    reserving: bool = False
    since_yield: int = 0
    buffer: list[tuple[Any, Any]] = field(default_factory=list)
    pending: deque[_Pending] = field(default_factory=deque)
    in_flight: dict[int, list[tuple[Any, Any]]] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    failure: BaseException | None = None
    reported: bool = False
    undelivered: list[Any] = field(default_factory=list)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    shipped: int = 0  # values shipped so far (a value's position: how many shipped before it)
    starts: dict[int, int] = field(default_factory=dict)  # seq in flight -> its first position
    progress: asyncio.Event = field(default_factory=asyncio.Event)  # set when a put ends
    sampler: TraceSampler | None = None  # None when no value is traced (rate 0)
    stamps: dict[int, float] = field(default_factory=dict)  # buffered position -> send time

    @property
    def tail(self) -> int:
        """The position the next buffered value takes: every value buffered so far is before it."""
        return self.shipped + len(self.buffer)


class RaySender(RayHandle, Generic[T]):
    """The sending end of a Ray channel. Implements :class:`~klaw_ray.Sender`.

    See the module documentation for how values travel and what the capacity bounds.
    Methods are safe to call concurrently from tasks of one event loop; use a
    ``clone()`` per thread or per process.
    """

    __slots__ = ("_abort_reason", "_check", "_state_")

    _is_sender = True

    def __init__(
        self,
        actor: Any,
        metadata: Any,
        handle_id: str,
        ready: Any = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(actor, metadata, handle_id, ready, options)
        self._state_: _SendState | None = None
        self._abort_reason = ""
        self._check: Any = None  # decodes list[list[T]]: built at the first send

    @property
    def coalescing(self) -> bool:
        """Whether ``send`` returns once buffered (True) or once in the channel (False)."""
        return bool(self._options.get("coalesce", True))

    def _state(self) -> _SendState:
        """This process's writer state, bound to the running event loop."""
        loop = asyncio.get_running_loop()
        state = self._state_
        if state is None:
            writer = uuid.uuid4().hex
            rate = float(self._options.get("trace_sample_rate", 0.0))
            state = self._state_ = _SendState(
                writer=writer, loop=loop, sampler=sampler_for(rate, writer)
            )
            state.idle.set()
            self._attach()
        elif state.loop is not loop:
            if not state.idle.is_set() or state.pending:
                raise RuntimeError("a RaySender is in use on another event loop; use a clone()")
            state.loop, state.idle = loop, asyncio.Event()
            state.idle.set()
        return state

    # --- encoding ----------------------------------------------------------------------

    def _checker(self) -> Any:
        """The decoder of ``list[list[T]]``: the receivers' check, at their depth."""
        check = self._check
        if check is None:
            nested: Any = list[list[self._value_type]]  # type: ignore[name-defined]
            check = self._check = msgspec.msgpack.Decoder(nested).decode
        return check

    def _item(self, value: Any) -> Any:
        """Encode and check one value (an ``ObjectRef`` on reference channels).

        Raises:
            TypeError: The value cannot be encoded or does not match the channel's type.
        """
        try:
            encoded = get_codec_pool().encode(value)
        except _UNENCODABLE as exc:
            reason = f"cannot send to {self._label}: a value is not encodable: {exc}"
            raise TypeError(reason) from exc
        try:
            # The receivers' own check, at the depth they decode it (inside an envelope's
            # list of values): what they could not decode is never accepted.
            self._checker()(_IN_A_BATCH + encoded)
        except (ValueError, RecursionError) as exc:  # msgspec's errors are ValueErrors
            raise TypeError(f"{self._label} rejected the value: {exc}") from exc
        return msgspec.Raw(encoded)

    def _items(self, values: list[Any]) -> list[Any]:
        """Encode and check a batch of values: :meth:`_item` for each, one check for all.

        The values are checked together, as one list at the depth receivers decode
        it, which costs a third of checking them one by one; when the batch fails, each
        is checked alone, so that the error names the first bad value as :meth:`_item`
        would.

        Raises:
            TypeError: A value cannot be encoded or does not match the channel's type.
        """
        encode = get_codec_pool().encode
        try:
            encoded = [encode(value) for value in values]
        except _UNENCODABLE:
            return [self._item(value) for value in values]  # raises, naming the value
        try:
            self._checker()(b"\x91" + _array_header(len(encoded)) + b"".join(encoded))
        except (ValueError, RecursionError):
            return [self._item(value) for value in values]  # raises, naming the value
        return [msgspec.Raw(item) for item in encoded]

    @staticmethod
    def _picks(state: _SendState, count: int) -> dict[int, float]:
        """Stamps for the next ``count`` values sent: index -> the time of this call.

        Empty when nothing is traced. A stamp is kept by the value's position in the
        send buffer (see :meth:`_enqueue`), so shipping a batch costs the values
        stamped, not all of them.
        """
        if state.sampler is None:
            return {}
        picked = state.sampler.picks(count)
        if not picked:
            return {}
        now = time.time()
        return dict.fromkeys(picked, now)

    @staticmethod
    def _batch_stamps(state: _SendState, start: int, end: int) -> list[tuple[int, float]]:
        """The stamps of the batch of positions ``start..end`` about to ship, by index.

        Taken out of the handle. Every stamp left is at ``start`` or later (the buffer
        ships in order), so only the stamps are looked at, not the batch's values.
        """
        stamps = state.stamps
        found = sorted((position, stamp) for position, stamp in stamps.items() if position < end)
        for position, _ in found:
            del stamps[position]
        return [(position - start, stamp) for position, stamp in found]

    # --- the send buffer ---------------------------------------------------------------

    def _check_failure(self, state: _SendState) -> None:
        """Raise the failure of an earlier batch once, with its undelivered values."""
        failure = state.failure
        if failure is None:
            return
        if not state.reported:
            state.reported = True
            failure.undelivered = tuple(state.undelivered)  # type: ignore[attr-defined]
            raise failure
        raise _again(failure, self._metadata.name)

    def _feed(self, state: _SendState) -> None:
        """Give credit to waiting sends, in order, moving their values into the buffer."""
        while state.pending and state.credit > 0:
            pending = state.pending.popleft()
            if pending.future.done():  # cancelled while waiting: it sent nothing
                continue
            state.credit -= 1
            if pending.stamp:
                state.stamps[state.tail] = pending.stamp
            state.buffer.append((pending.value, pending.item))
            pending.future.set_result(None)
        if state.pending and not state.reserving and not state.in_flight and state.failure is None:
            self._reserve(state)  # (a put in flight brings credit with its answer)

    def _fail_pending(self, state: _SendState, failure: BaseException) -> None:
        while state.pending:
            pending = state.pending.popleft()  # never sent: its stamp goes with it
            if not pending.future.done():
                pending.future.set_exception(_again(failure, self._metadata.name))

    def _ship(self, state: _SendState) -> None:
        """Start puts for buffered values while fewer than two are in flight."""
        while state.buffer and len(state.in_flight) < _MAX_IN_FLIGHT and state.failure is None:
            batch = state.buffer[:_MAX_BATCH]
            del state.buffer[:_MAX_BATCH]
            seq = state.seq
            state.seq += 1
            state.in_flight[seq] = batch
            start = state.starts[seq] = state.shipped
            state.shipped += len(batch)
            state.idle.clear()
            items = [item for _, item in batch]
            stamps = self._batch_stamps(state, start, state.shipped) if state.stamps else []
            ref = self._submit_put(state, seq, items, stamps)
            task = state.loop.create_task(self._await_put(state, seq, ref, batch))
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)

    def _put_request(
        self, state: _SendState, seq: int, envelope: bytes, stamps: list[tuple[int, float]]
    ) -> PutRequest:
        return PutRequest(
            self._handle_id,
            state.writer,
            process_id(),
            seq,
            self._incarnation,
            len(state.pending),
            self._ahead(),
            msgspec.Raw(envelope),
            stamps,
        )

    def _ahead(self) -> int:
        capacity = self._metadata.capacity
        return _MAX_BATCH if capacity is None else max(1, min(_MAX_BATCH, capacity // 2))

    def _submit_put(
        self, state: _SendState, seq: int, items: list[Any], stamps: list[tuple[int, float]]
    ) -> Any:
        """Start the actor call that puts ``items``; return a retrying awaitable."""
        header = WireHeader(channel_id=self._metadata.name, seq=seq, ts=now_ms())
        envelope = get_codec_pool().encode(DataMessage(header=header, payload=items))
        request = encode_message(self._put_request(state, seq, envelope, stamps))
        return self._call("put", request)

    async def _await_put(
        self, state: _SendState, seq: int, call: Any, batch: list[tuple[Any, Any]]
    ) -> None:
        try:
            answer = decode_send_answer(await call)
            self._check_answer(answer.incarnation, answer.status)
            self._raise_for(answer)
        except (ChannelClosedError, TypeError) as exc:  # backend errors are closed errors
            self._record_failure(state, exc, batch)
            return
        finally:
            state.in_flight.pop(seq, None)
            state.starts.pop(seq, None)
            if not state.in_flight and not state.buffer:
                state.idle.set()
            state.progress.set()  # wake flushes; each waits on the event it saw
            state.progress = asyncio.Event()
        state.credit += answer.granted
        self._feed(state)
        self._ship(state)

    def _raise_for(self, answer: SendAnswer) -> None:
        if answer.status in ("ok", "full"):
            return
        if answer.status == "invalid":
            raise TypeError(f"{self._label} rejected the value(s): {answer.error}")
        raise closed_error(answer.status, self._metadata.name, answer.error, answer.lost_sender)

    def _record_failure(
        self, state: _SendState, exc: BaseException, batch: list[tuple[Any, Any]]
    ) -> None:
        if state.failure is None:
            state.failure = exc
        state.undelivered.extend(value for value, _ in batch)
        if not state.in_flight:
            state.undelivered.extend(value for value, _ in state.buffer)
            state.buffer.clear()
            state.stamps.clear()
            state.idle.set()
        self._fail_pending(state, state.failure)

    def _reserve(self, state: _SendState) -> None:
        """Ask the actor for credit (one call at a time), waiting there for room."""
        state.reserving = True
        request = state.reserve_request
        state.reserve_request += 1
        encoded = encode_message(
            ReserveRequest(
                self._handle_id,
                state.writer,
                process_id(),
                self._incarnation,
                len(state.pending),
                self._ahead(),
                True,
                request,
            )
        )
        task = state.loop.create_task(self._await_reserve(state, encoded))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    async def _await_reserve(self, state: _SendState, encoded: bytes) -> None:
        try:
            answer = decode_send_answer(await self._call("reserve", encoded))
            self._check_answer(answer.incarnation, answer.status)
            if answer.status == "busy":  # too many calls wait: ask again shortly
                await asyncio.sleep(_BUSY_PAUSE)
            elif answer.status not in ("ok", "withdrawn", "full"):
                self._raise_for(answer)
        except ChannelClosedError as exc:
            if state.failure is None:
                state.failure = exc
                state.reported = True  # nothing of this handle was lost: say it plainly
            self._fail_pending(state, exc)
            return
        finally:
            state.reserving = False
        state.credit += answer.granted
        self._feed(state)
        self._ship(state)

    async def _enqueue(
        self,
        state: _SendState,
        values: list[Any],
        items: list[Any],
        stamps: dict[int, float],
    ) -> None:
        """Buffer values in order once each has credit; wait for credit when needed.

        ``stamps`` maps the index of each traced value to its send time; a stamp is
        kept by the position the value takes in the buffer (or with the waiting send
        until it does).
        """
        index = 0
        if not state.pending:
            take = min(state.credit, len(items))
            state.credit -= take
            if stamps:
                first = state.tail
                state.stamps.update((first + i, stamp) for i, stamp in stamps.items() if i < take)
            state.buffer.extend(zip(values[:take], items[:take], strict=True))
            index = take
        if index < len(items):
            waiting = [
                _Pending(value, item, state.loop.create_future(), stamps.get(at, 0.0))
                for at, value, item in zip(
                    range(index, len(items)), values[index:], items[index:], strict=True
                )
            ]
            state.pending.extend(waiting)
            self._feed(state)
            self._ship(state)
            try:
                await waiting[-1].future
            except asyncio.CancelledError:
                # What was fed before the cancellation is sent; the rest never will be.
                for pending in waiting:
                    pending.future.cancel()  # never buffered: nor is its stamp shipped
                state.pending = deque(p for p in state.pending if not p.future.done())
                if not state.pending and state.reserving:
                    # Nothing waits for room any more: the reserve waiting in the actor
                    # goes, so that it holds no slot and takes no room.
                    self._actor.withdraw.remote(state.writer, state.reserve_request - 1)
                if waiting[-1].future.cancelled():
                    raise
                defer_cancellation()  # every value was accepted: the send happened
            return
        self._ship(state)
        state.since_yield += len(items)
        if state.since_yield >= _YIELD_EVERY:
            state.since_yield = 0
            await asyncio.sleep(0)

    # --- the Sender protocol -----------------------------------------------------------

    async def send(self, value: T) -> None:
        """Send ``value``: it is checked, encoded and buffered, then shipped in a batch.

        Waits while the channel has no room (see the module documentation). Cancelled
        while it waits, it has sent nothing. With ``coalesce=False`` it returns once the
        value is in the channel; cancelled then, it either sent nothing and raises, or
        returns normally because the value was accepted (the cancellation then takes
        effect at the caller's next ``await``).

        Raises:
            HandleClosedError: This sender is closed.
            PeerClosedError: Every receiver is closed (now, or for an earlier batch).
            ChannelBackendError: The actor died or cannot be reached.
            ChannelRestartedError: The channel restarted and lost its values.
            TypeError: The value cannot be encoded, or does not match the channel's type.
        """
        state = self._state_
        if (  # the common case, kept short: credit in hand, nothing waiting, all well
            state is not None
            and state.credit > 0
            and not state.pending
            and state.failure is None
            and self._broken is None
            and self._ready is None
            and not self._closed
            and state.loop is asyncio.get_running_loop()
            and self.coalescing
        ):
            item = self._item(value)
            if state.sampler is not None and state.sampler.sample():
                state.stamps[state.tail] = time.time()
            state.credit -= 1
            state.buffer.append((value, item))
            if len(state.in_flight) < _MAX_IN_FLIGHT:
                self._ship(state)
            state.since_yield += 1
            if state.since_yield >= _YIELD_EVERY:
                state.since_yield = 0
                await asyncio.sleep(0)
            return
        await self.send_batch((value,))

    async def send_batch(self, values: Iterable[T]) -> None:
        """Send ``values`` in order, as :meth:`send` would one by one.

        Every value is checked before any is buffered, so a batch with a bad value sends
        nothing. Cancelled part-way, the values before that point were sent and the rest
        were not. An empty batch still reports (one actor call) whether sending is
        possible.

        Raises:
            HandleClosedError: This sender is closed (also for an empty batch).
            PeerClosedError: Every receiver is closed (also for an empty batch).
            ChannelBackendError: The actor died or cannot be reached.
            ChannelRestartedError: The channel restarted and lost its values.
            TypeError: A value cannot be encoded, or does not match the channel's type.
        """
        self._check_usable()
        state = self._state()
        self._check_failure(state)
        if self._ready is not None:  # a clone: counted open before it sends anything
            await self._ensure_registered()
        batch = list(values)
        items = self._items(batch)
        if not batch:
            await self._probe(state)
            return
        stamps = self._picks(state, len(items))
        if self.coalescing:
            await self._enqueue(state, batch, items, stamps)
        else:
            await self._send_and_wait(state, batch, items, stamps)
        self._check_failure(state)

    async def _send_and_wait(
        self, state: _SendState, values: list[Any], items: list[Any], stamps: dict[int, float]
    ) -> None:
        """Send and return once in the channel (``coalesce=False``); see :meth:`send`."""
        await self._enqueue(state, values, items, stamps)
        try:
            await asyncio.shield(self._drained(state))
        except asyncio.CancelledError:
            await asyncio.shield(self._drained(state))
            if state.failure is not None:
                raise
            defer_cancellation()

    async def _drained(self, state: _SendState) -> None:
        """Wait until nothing is buffered or in flight (or a batch failed)."""
        while (state.buffer or state.in_flight) and state.failure is None:
            await state.idle.wait()

    async def _reserve_at_once(self, state: _SendState, need: int) -> SendAnswer:
        """Ask the actor for ``need`` credit without waiting (0: is sending possible?).

        Raises:
            PeerClosedError: Every receiver is closed.
            HandleClosedError: This sender is closed.
            ChannelBackendError: The actor died or cannot be reached.
        """
        request = ReserveRequest(
            self._handle_id, state.writer, process_id(), self._incarnation, need, 0, False, -1
        )
        answer = decode_send_answer(await self._call("reserve", encode_message(request)))
        self._check_answer(answer.incarnation, answer.status)
        self._raise_for(answer)
        return answer

    async def _probe(self, state: _SendState) -> None:
        """Ask the actor whether sending is possible (for ``send_batch([])``)."""
        await self._reserve_at_once(state, 0)

    async def try_send(self, value: T) -> Result[None, ChannelFull | ChannelClosed]:
        """Send ``value`` only if the channel has room now; never waits for room.

        Answers at once from the handle's credit; without credit it asks the actor (one
        call). While a ``send`` of this handle waits for room it answers ``ChannelFull``
        at once, so it never overtakes that send.

        Returns:
            ``Ok(None)``, ``Err(ChannelFull(...))``, or ``Err(PeerClosed(...))`` /
            ``Err(HandleClosed(...))``.

        Raises:
            ChannelBackendError: The actor died or cannot be reached.
            ChannelRestartedError: The channel restarted and lost its values.
            TypeError: The value cannot be encoded, or does not match the channel's type.
        """
        if self._closed:
            closed = HandleClosedError(
                channel_id=self._metadata.name, detail="this sender is closed"
            )
            return Err(closed.to_struct())
        state = self._state()
        item = self._item(value)
        full = ChannelFull(channel_id=self._metadata.name, capacity=self._metadata.capacity or 0)
        try:
            self._check_failure(state)
            if state.pending:
                return Err(full)
            if state.credit <= 0:
                state.credit += (await self._reserve_at_once(state, 1)).granted
                if state.credit <= 0 or state.pending:
                    return Err(full)
        except ChannelBackendError:
            raise
        except ChannelClosedError as exc:
            return Err(exc.to_struct())
        await self._enqueue(state, [value], [item], self._picks(state, 1))
        if not self.coalescing:
            await self._drained(state)
        return Ok(None)

    async def flush(self) -> None:
        """Wait until every value sent before this call is in the channel.

        Values sent meanwhile (by other tasks) are not waited for, so a flush returns
        even while others keep sending. Cancelling it cancels only the wait.

        Raises:
            PeerClosedError: A batch could not be delivered (its values are in the
                error's ``undelivered``).
            ChannelBackendError: The actor died or cannot be reached.
            ChannelRestartedError: The channel restarted and lost its values.
        """
        state = self._state_
        if state is None:
            return
        target = state.tail  # the values sent so far end here
        while state.failure is None and min(state.starts.values(), default=state.shipped) < target:
            await state.progress.wait()
        self._check_failure(state)

    def clone(self) -> Self:
        """Return another sender handle, registered with the actor before its first use.

        The channel ends for receivers only once every clone is closed.

        Raises:
            HandleClosedError: This handle is closed.
        """
        return self._registered_clone()

    def _supervised_clone(self) -> Self:
        """A clone that is closed normally, not as lost, when its process dies.

        For a stage's workers: the stage keeps its own handle open while it replaces a
        dead worker, so the worker's death must not end the stream with ``sender_lost``.
        """
        return self._registered_clone(supervised=True)

    async def abort(self, reason: str) -> None:
        """Close this handle so that receivers see a failed stream, not its end.

        Values already in the channel stay and are delivered; values buffered in this
        handle are shipped first, as by :meth:`close`. Once every other sender is
        closed and the channel is drained, receivers get :class:`SenderLostError`
        (whose ``detail`` is ``reason``) in place of :class:`EndOfStreamError`. Like
        ``close``, it runs to the end even if the caller is cancelled, and closes
        every pickled copy; on a closed handle it does nothing.

        Args:
            reason: Why the stream failed (receivers read it in the error's detail).

        Raises:
            TypeError: ``reason`` is not a non-empty string.
            PeerClosedError: A buffered batch could not be delivered.
        """
        check_abort_reason(reason)
        self._abort_reason = reason
        await self._close_once()

    async def close(self) -> None:
        """Flush, then close this handle (every pickled copy of it too). Idempotent.

        Runs to the end even if the calling task is cancelled meanwhile. Raises the
        failure of a batch not yet reported (its values in ``undelivered``); a channel
        whose actor is already gone counts as closed.

        Raises:
            PeerClosedError: A buffered batch could not be delivered.
            ChannelRestartedError: The channel restarted and lost buffered values.
        """
        await self._close_once()

    async def _close(self) -> None:
        state = self._state_
        failure: BaseException | None = None
        if state is not None:
            await self._drained(state)
            closed = HandleClosedError(
                channel_id=self._metadata.name, detail="this sender is closed"
            )
            self._fail_pending(state, closed)
            if state.failure is not None and not state.reported:
                state.reported = True
                failure = state.failure
                failure.undelivered = tuple(state.undelivered)  # type: ignore[attr-defined]
        request = encode_message(
            CloseRequest(self._handle_id, process_id(), self._incarnation, abort=self._abort_reason)
        )
        await self._close_call("close_sender", request)
        if failure is not None:
            raise failure


def _again(failure: BaseException, channel_id: str) -> BaseException:
    """A fresh exception of the same meaning, for calls after the first report."""
    if isinstance(failure, ChannelClosedError):
        clone = failure.to_struct().to_exception()
        clone.undelivered = ()  # type: ignore[attr-defined]
        return clone
    return failure


def _array_header(length: int) -> bytes:
    """The MessagePack header of an array of ``length`` elements."""
    if length < 16:
        return bytes((0x90 | length,))
    if length < 1 << 16:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")
