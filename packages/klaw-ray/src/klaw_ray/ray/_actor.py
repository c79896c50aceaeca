"""``RayChannelActor``: the Ray actor that holds a channel's queue of encoded values.

The actor never raises for channel conditions: every method returns a status code
(``"ok"``, ``"full"``, ``"empty"``, ``"ended"``, ``"handle_closed"``, ``"peer_closed"``,
``"invalid"``, ``"withdrawn"``) in a
:class:`SingleResult` or :class:`BatchResult`, which the handles in
:mod:`klaw_ray.ray._handles` turn into values, ``Result``s and exceptions. Values arrive
and leave as klaw-wire ``DataMessage`` envelopes encoded by the codec pool, one envelope
per call whatever the number of values, and are queued as the encoded bytes of each
value: the actor checks them against the channel's value type but never keeps them as
Python objects.

Ordering: each sending process numbers its calls (the envelope header's ``seq``); the actor
runs one writer's puts in that order even when Ray delivers pipelined calls out of order.

Waiting: a blocking put waits in the actor for room, keeping its writer's turn so that
the writer's later calls stay behind it; a get waits for a value for at most
``poll_seconds`` (the handle calls again until its own deadline). A dead or killed actor
fails every call in flight at once, so no handle waits on a call that cannot return. A
handle whose caller is cancelled mid-call withdraws its put (``withdraw``) or abandons
its get (``abandon``) and puts back anything it was handed (``requeue``), so
cancellation loses and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from typing import Any, Generic, TypeVar

import msgspec
import ray

from klaw_ray._arguments import UNBOUNDED
from klaw_ray._waiters import Waiters, count_waiting, wait_in, wake_all, wake_one
from klaw_ray.ray._messages import (
    BatchResult,
    ChannelMetadata,
    GetRequest,
    PutRequest,
    SingleResult,
    Status,
    encode_answer_or_request,
)
from klaw_ray.ray._naming import now_ms
from klaw_ray.ray._validator import RawItems, _TypeValidator
from klaw_ray.stats import ChannelStats, ReaderInfo
from klaw_wire import DataMessage, WireHeader, get_codec_pool

__all__ = ["RayChannelActor"]

T = TypeVar("T")

_TURN_PATIENCE = 30.0
# What msgspec raises for malformed bytes: DecodeError (a ValueError), UnicodeDecodeError
# (a ValueError) for invalid strings, RecursionError for hostile nesting.
_MALFORMED = (ValueError, RecursionError)
_PUT_REQUEST = msgspec.msgpack.Decoder(PutRequest)
_GET_REQUEST = msgspec.msgpack.Decoder(GetRequest)


class _Checkpoint(msgspec.Struct, frozen=True, gc=False):
    """The persistent part of a channel's state, as ``get_checkpoint_state`` encodes it."""

    items: list[bytes]
    total_sent: int
    total_received: int
    high_watermark: int


class _ChannelActorState(msgspec.Struct, gc=True):
    """Everything the actor mutates: long-lived, so tracked by the garbage collector."""

    capacity: int
    queue: deque[Any] = msgspec.field(default_factory=deque)  # Raw, or ObjectRef
    senders: set[str] = msgspec.field(default_factory=set)
    receivers: set[str] = msgspec.field(default_factory=set)
    readers: dict[str, ReaderInfo] = msgspec.field(default_factory=dict)
    next_seq: dict[str, int] = msgspec.field(default_factory=dict)
    withdrawn: set[tuple[str, int]] = msgspec.field(default_factory=set)
    total_sent: int = 0
    total_received: int = 0
    high_watermark: int = 0
    getters: Waiters = msgspec.field(default_factory=deque)
    putters: Waiters = msgspec.field(default_factory=deque)
    turns: dict[str, Waiters] = msgspec.field(default_factory=dict)
    pending_puts: dict[tuple[str, int], asyncio.Future[None]] = msgspec.field(default_factory=dict)
    pending_gets: dict[tuple[str, int], asyncio.Future[None]] = msgspec.field(default_factory=dict)


def _was_restarted() -> bool:
    """Whether this actor process replaces one that died (False outside an actor)."""
    if not ray.is_initialized():  # built outside Ray, e.g. in a unit test
        return False
    context = ray.get_runtime_context()
    if context.get_actor_id() is None:
        return False
    return bool(context.was_current_actor_reconstructed)


class RayChannelActor(Generic[T]):
    """The bounded queue behind a Ray channel. Create it through :func:`klaw_ray.channel`.

    It runs as an async actor (``num_cpus=0``) so that many handles can wait on it at
    once. Every method is a coroutine executed on the actor's event loop, so state changes
    are atomic between ``await`` points.

    Args:
        capacity: Most values queued at once; ``None`` for unbounded.
        value_type: Type every value is checked against; ``None`` accepts any value.
        name: The channel's name, used in envelopes and errors.
        namespace: The Ray namespace of a named channel.
        senders: Ids of the sender handles open at creation.
        receivers: Ids of the receiver handles open at creation.
        by_reference: Carry object references (``put_refs``) instead of encoded values.
        poll_seconds: Longest a single ``get`` waits for a value before answering.
    """

    def __init__(
        self,
        capacity: int | None,
        value_type: Any,
        name: str,
        namespace: str,
        senders: list[str],
        receivers: list[str],
        by_reference: bool = False,
        poll_seconds: float = 1.0,
    ) -> None:
        self._state = _ChannelActorState(capacity=UNBOUNDED if capacity is None else capacity)
        # A restarted actor lost its state, including which handles are open: those it
        # was created with may have closed since. It learns the open handles again as
        # they call it (see _adopt). It reports the end of the stream only once a sender
        # has shown itself since the restart and every sender it knows has closed, and
        # refuses puts for want of receivers only on the same terms for receivers.
        self._restarted = _was_restarted()
        self._sender_seen = self._receiver_seen = not self._restarted
        self._closed_handles: set[str] = set()
        if not self._restarted:
            self._state.senders.update(senders)
            self._state.receivers.update(receivers)
        self._validator = _TypeValidator.for_type(value_type)
        self._metadata = ChannelMetadata(
            name=name,
            namespace=namespace,
            capacity=capacity,
            value_type=value_type,
            by_reference=by_reference,
            created_at=time.time(),
        )
        self._poll_seconds = poll_seconds

    # --- handles -----------------------------------------------------------------------

    async def metadata(self) -> ChannelMetadata:
        """Return what a handle needs to attach to this channel."""
        return self._metadata

    async def add_sender(self, handle_id: str) -> None:
        """Count a new sender handle as open (unless it has closed already)."""
        self._adopt(self._state.senders, handle_id)

    async def add_receiver(self, handle_id: str) -> None:
        """Count a new receiver handle as open (unless it has closed already)."""
        self._adopt(self._state.receivers, handle_id)

    async def close_sender(self, handle_id: str) -> None:
        """Close a sender handle; the last one closes the channel for receivers."""
        state = self._state
        state.senders.discard(handle_id)
        self._closed_handles.add(handle_id)
        self._sender_seen = True
        wake_all(state.putters)
        if self._senders_done():
            wake_all(state.getters)

    async def close_receiver(self, handle_id: str) -> None:
        """Close a receiver handle; once none is left, puts fail."""
        state = self._state
        state.receivers.discard(handle_id)
        self._closed_handles.add(handle_id)
        self._receiver_seen = True
        wake_all(state.getters)
        if self._receivers_done():
            wake_all(state.putters)

    async def close_all(self) -> None:
        """Close every handle at once (used when the channel is deleted)."""
        self._state.senders.clear()
        self._state.receivers.clear()
        wake_all(self._state.putters)
        wake_all(self._state.getters)

    # --- sending -----------------------------------------------------------------------

    def _adopt(self, handles: set[str], handle_id: str) -> None:
        """Count ``handle_id`` as open unless it has closed.

        A handle id is known only to its handle, so a call from an unknown one means it
        is open: a clone whose registration is still on its way, or any handle after a
        restart.
        """
        if handle_id not in self._closed_handles:
            handles.add(handle_id)

    def _senders_done(self) -> bool:
        """Whether every sender is closed, so receivers drain and then stop."""
        return not self._state.senders and self._sender_seen

    def _receivers_done(self) -> bool:
        """Whether every receiver is closed, so puts fail."""
        return not self._state.receivers and self._receiver_seen

    def _sender_problem(self, handle_id: str) -> tuple[Status, str] | None:
        """Why ``handle_id`` may not send now (status and text), or ``None``."""
        if handle_id not in self._state.senders:
            self._adopt(self._state.senders, handle_id)
            self._sender_seen = self._sender_seen or handle_id in self._state.senders
        if handle_id not in self._state.senders:
            return "handle_closed", "this sender is closed"
        if self._receivers_done():
            return "peer_closed", "every receiver is closed"
        return None

    async def _take_turn(self, writer: str, seq: int) -> None:
        """Wait until every earlier call of ``writer`` has been answered.

        Each writer numbers its calls from 0 and never skips a number, so waiting is
        safe. A restarted actor never saw a writer's earlier calls: it starts that
        writer's count at the first call it sees. A gap still open after
        ``_TURN_PATIENCE`` seconds is skipped rather than waited on forever.
        """
        state = self._state
        expected = state.next_seq.get(writer)
        if expected is None and self._restarted:
            state.next_seq[writer] = expected = seq
        if (expected or 0) >= seq:  # the usual case: nothing to wait for
            return
        waiters = state.turns.setdefault(writer, deque())
        try:
            async with asyncio.timeout(_TURN_PATIENCE):
                while state.next_seq.get(writer, 0) < seq:
                    await wait_in(waiters)
        except TimeoutError:
            state.next_seq[writer] = seq

    def _end_turn(self, writer: str, seq: int) -> None:
        state = self._state
        if state.next_seq.get(writer, 0) <= seq:
            state.next_seq[writer] = seq + 1
        waiters = state.turns.get(writer)
        if waiters:
            wake_all(waiters)
        elif waiters is not None:
            del state.turns[writer]

    async def put(self, request: bytes) -> bytes:
        """Queue every value of a ``DataMessage[list[T]]``, all or none.

        Args:
            request: An encoded :class:`~klaw_ray.PutRequest`; its envelope's header
                ``seq`` orders this call among its writer's calls.

        Returns:
            An encoded :class:`~klaw_ray.BatchResult`: ``"ok"`` with the count;
            ``"full"``, ``"handle_closed"``, ``"peer_closed"``, ``"invalid"`` or
            ``"withdrawn"`` with nothing queued.
        """
        if self._metadata.by_reference:
            return encode_answer_or_request(
                BatchResult(status="invalid", error="this channel carries refs, not values")
            )
        try:
            put = _PUT_REQUEST.decode(request)
            header, items = self._validator.split(bytes(put.envelope))
        except _MALFORMED as exc:
            return encode_answer_or_request(BatchResult(status="invalid", error=str(exc)))
        status, error = await self._put_values(
            put.handle_id, put.writer, header.seq, items, put.block
        )
        count = len(items) if status == "ok" else 0
        return encode_answer_or_request(BatchResult(status=status, count=count, error=error))

    async def put_one(self, request: bytes) -> bytes:
        """Queue the value of a ``DataMessage[T]``.

        Args:
            request: An encoded :class:`~klaw_ray.PutRequest`.

        Returns:
            An encoded :class:`~klaw_ray.SingleResult`, with the statuses of :meth:`put`.
        """
        if self._metadata.by_reference:
            return encode_answer_or_request(
                SingleResult(status="invalid", error="this channel carries refs, not values")
            )
        try:
            put = _PUT_REQUEST.decode(request)
            header, item = self._validator.split_one(bytes(put.envelope))
        except _MALFORMED as exc:
            return encode_answer_or_request(SingleResult(status="invalid", error=str(exc)))
        status, error = await self._put_values(
            put.handle_id, put.writer, header.seq, [item], put.block
        )
        return encode_answer_or_request(SingleResult(status=status, error=error))

    async def put_refs(
        self, handle_id: str, writer: str, seq: int, refs: list[Any], block: bool
    ) -> BatchResult[T]:
        """Queue object references, all or none (reference channels).

        Args:
            handle_id: The sending handle.
            writer: The sending process's id for this handle.
            seq: The writer's number for this call, which orders it.
            refs: ``ray.put`` references; the actor holds the references, never the values.
            block: Wait for room instead of answering ``"full"``.

        Returns:
            As for :meth:`put`.
        """
        if not self._metadata.by_reference:
            return BatchResult(status="invalid", error="this channel carries values, not refs")
        status, error = await self._put_values(handle_id, writer, seq, refs, block)
        return BatchResult(status=status, count=len(refs) if status == "ok" else 0, error=error)

    async def _put_values(
        self, handle_id: str, writer: str, seq: int, items: list[Any], block: bool
    ) -> tuple[Status, str]:
        """Queue ``items`` in ``writer``'s turn ``seq``; answer ``(status, error)``."""
        await self._take_turn(writer, seq)
        try:
            return await self._put_in_turn(handle_id, writer, seq, items, block)
        finally:
            self._end_turn(writer, seq)

    async def _put_in_turn(
        self, handle_id: str, writer: str, seq: int, items: list[Any], block: bool
    ) -> tuple[Status, str]:
        state = self._state
        key = (writer, seq)
        if key in state.withdrawn:
            state.withdrawn.discard(key)
            return "withdrawn", ""
        problem = self._sender_problem(handle_id)
        count = len(items)
        if not problem and len(state.queue) + count > state.capacity:
            if not block:
                return "full", "the channel is full"
            # Wait for room for as long as it takes: the caller keeps its turn, so its
            # later calls stay behind it, and a dead actor fails the call at once anyway.
            withdrawal = asyncio.get_running_loop().create_future()
            state.pending_puts[key] = withdrawal
            waiting: asyncio.Future[None] | None = None
            try:
                while not problem and len(state.queue) + count > state.capacity:
                    waiting = asyncio.ensure_future(wait_in(state.putters))
                    await asyncio.wait((waiting, withdrawal), return_when=asyncio.FIRST_COMPLETED)
                    if withdrawal.done():
                        return "withdrawn", ""
                    problem = self._sender_problem(handle_id)
            finally:
                # However the wait ends (room, withdrawal, cancellation), no waiter of
                # this call stays behind in the queue to swallow a later wake-up.
                if waiting is not None and not waiting.done():
                    waiting.cancel()
                state.pending_puts.pop(key, None)
        if problem:
            return problem
        state.queue.extend(items)
        state.total_sent += count
        state.high_watermark = max(state.high_watermark, len(state.queue))
        for _ in range(min(count, len(state.getters))):
            wake_one(state.getters)
        return "ok", ""

    async def withdraw(self, writer: str, seq: int) -> bool:
        """Withdraw a put that its caller stopped waiting for.

        Returns:
            ``True`` if the put had not queued anything (and now never will); ``False``
            if it had already been answered.
        """
        state = self._state
        key = (writer, seq)
        pending = state.pending_puts.get(key)
        if pending is not None:
            if not pending.done():
                pending.set_result(None)
            return True
        if state.next_seq.get(writer, 0) > seq:
            return False
        state.withdrawn.add(key)
        return True

    # --- receiving ---------------------------------------------------------------------

    def _touch_reader(self, handle_id: str, reader: str, node_id: str) -> None:
        now = time.time()
        info = self._state.readers.get(reader)
        if info is None:
            self._state.readers[reader] = ReaderInfo(
                reader_id=handle_id, node_id=node_id, registered_at=now, last_seen=now
            )
        else:
            self._state.readers[reader] = msgspec.structs.replace(info, last_seen=now)

    def _receiver_problem(self, handle_id: str) -> tuple[Status, str] | None:
        """Why ``handle_id`` may not receive now (status and text), or ``None``."""
        if handle_id not in self._state.receivers:
            self._adopt(self._state.receivers, handle_id)
            self._receiver_seen = self._receiver_seen or handle_id in self._state.receivers
        if handle_id not in self._state.receivers:
            return "handle_closed", "this receiver is closed"
        if not self._state.queue and self._senders_done():
            return "ended", "every sender is closed and the channel is drained"
        return None

    async def get(self, request: bytes) -> bytes | BatchResult[T]:
        """Take up to ``max_items`` values as one encoded ``DataMessage[list[T]]``.

        Args:
            request: An encoded :class:`~klaw_ray.GetRequest`.

        Returns:
            An encoded :class:`~klaw_ray.BatchResult` (on a reference channel the struct
            itself, carrying the references): ``"ok"`` with values; ``"empty"`` when none
            came in time; ``"ended"`` (every sender closed, nothing left) or
            ``"handle_closed"``; ``"withdrawn"`` when abandoned while waiting;
            ``"invalid"`` for a malformed request.
        """
        try:
            get = _GET_REQUEST.decode(request)
        except _MALFORMED as exc:
            return encode_answer_or_request(BatchResult(status="invalid", error=str(exc)))
        status, error = await self._wait_for_values(get)
        if status != "ok":
            return encode_answer_or_request(BatchResult(status=status, error=error))
        items = self._pop(get.reader, get.max_items)
        if self._metadata.by_reference:
            return BatchResult(count=len(items), refs=tuple(items))
        return encode_answer_or_request(BatchResult(count=len(items), data=self._encode(items)))

    async def get_one(self, request: bytes) -> bytes | SingleResult[T]:
        """Take one value as an encoded ``DataMessage[T]`` (or, by reference, its ref).

        Args:
            request: An encoded :class:`~klaw_ray.GetRequest`.

        Returns:
            An encoded :class:`~klaw_ray.SingleResult` (on a reference channel the struct
            itself), with the statuses of :meth:`get`.
        """
        try:
            get = _GET_REQUEST.decode(request)
        except _MALFORMED as exc:
            return encode_answer_or_request(SingleResult(status="invalid", error=str(exc)))
        status, error = await self._wait_for_values(get)
        if status != "ok":
            return encode_answer_or_request(SingleResult(status=status, error=error))
        item = self._pop(get.reader, 1)[0]
        if self._metadata.by_reference:
            return SingleResult(ref=item)
        return encode_answer_or_request(SingleResult(data=self._encode(item)))

    async def _wait_for_values(self, get: GetRequest) -> tuple[Status, str]:
        """Wait until a value can be taken; answer ``("ok", "")`` or why not."""
        state = self._state
        handle_id, reader, request, wait_seconds = get.handle_id, get.reader, get.request, get.wait
        self._touch_reader(handle_id, reader, get.node_id)
        problem = self._receiver_problem(handle_id)
        if not problem and not state.queue:
            if wait_seconds is not None and wait_seconds <= 0:
                return "empty", "the channel is empty"
            limit = self._poll_seconds
            if wait_seconds is not None:
                limit = min(limit, wait_seconds)
            key = (reader, request)
            abandoned = asyncio.get_running_loop().create_future()
            state.pending_gets[key] = abandoned
            waiting: asyncio.Future[None] | None = None
            try:
                async with asyncio.timeout(limit):
                    while not problem and not state.queue:
                        waiting = asyncio.ensure_future(wait_in(state.getters))
                        await asyncio.wait(
                            (waiting, abandoned), return_when=asyncio.FIRST_COMPLETED
                        )
                        if abandoned.done():
                            return "withdrawn", ""
                        problem = self._receiver_problem(handle_id)
            except TimeoutError:
                return "empty", "the channel is empty"
            finally:
                # A get that timed out or was abandoned leaves no waiter behind: a stale
                # one would take the wake-up of the next put from a live receiver.
                if waiting is not None and not waiting.done():
                    waiting.cancel()
                state.pending_gets.pop(key, None)
        if problem:
            return problem
        return "ok", ""

    def _pop(self, reader: str, max_items: int) -> list[Any]:
        state = self._state
        count = min(max_items, len(state.queue))
        items = [state.queue.popleft() for _ in range(count)]
        state.total_received += count
        info = state.readers[reader]
        state.readers[reader] = msgspec.structs.replace(
            info, total_received=info.total_received + count
        )
        if count:
            wake_all(state.putters)  # each waiting put re-checks whether its values fit
        return items

    def _encode(self, payload: Any) -> bytes:
        header = WireHeader(channel_id=self._metadata.name, ts=now_ms())
        return get_codec_pool().encode(DataMessage(header=header, payload=payload))

    async def abandon(self, reader: str, request: int) -> None:
        """Make a waiting ``get`` return ``"withdrawn"`` now, if it is still waiting."""
        pending = self._state.pending_gets.get((reader, request))
        if pending is not None and not pending.done():
            pending.set_result(None)

    async def requeue(self, reader: str, result: SingleResult[T] | BatchResult[T]) -> None:
        """Put values a cancelled receiver was handed back at the front, in order."""
        items: list[Any]
        if isinstance(result, SingleResult):
            if self._metadata.by_reference:
                items = [result.ref]
            else:
                items = [get_codec_pool().decode_data(result.data, msgspec.Raw).payload]
        elif self._metadata.by_reference:
            items = list(result.refs)
        else:
            items = get_codec_pool().decode_data(result.data, RawItems).payload
        state = self._state
        state.queue.extendleft(reversed(items))
        state.total_received -= len(items)
        info = state.readers.get(reader)
        if info is not None:
            state.readers[reader] = msgspec.structs.replace(
                info, total_received=info.total_received - len(items)
            )
        for _ in range(min(len(items), len(state.getters))):
            wake_one(state.getters)

    # --- statistics and checkpoints ----------------------------------------------------

    async def stats(self) -> ChannelStats:
        """Return a snapshot of the channel's statistics."""
        state = self._state
        per_node: dict[str, int] = {}
        for info in state.readers.values():
            per_node[info.node_id] = per_node.get(info.node_id, 0) + 1
        metadata = self._metadata
        return ChannelStats(
            backend="ray",
            capacity=metadata.capacity,
            size=len(state.queue),
            high_watermark=state.high_watermark,
            total_sent=state.total_sent,
            total_received=state.total_received,
            open_senders=len(state.senders),
            open_receivers=len(state.receivers),
            closed=self._senders_done(),
            waiting_senders=count_waiting(state.putters),
            waiting_receivers=count_waiting(state.getters),
            readers_per_node=per_node,
            readers=tuple(state.readers.values()),
            extras={
                "name": metadata.name,
                "namespace": metadata.namespace,
                "pid": os.getpid(),
            },
        )

    async def get_checkpoint_state(self) -> bytes:
        """Encode the queued values and the totals for a later restore.

        Handles are not part of a checkpoint: the handles of a lost actor cannot reach a
        new one, and a restarted actor learns its open handles as they call it.

        Returns:
            MessagePack bytes for :meth:`apply_checkpoint_state`.

        Raises:
            TypeError: The channel carries references: its values live in the object
                store, whose lifetime a checkpoint cannot extend.
        """
        if self._metadata.by_reference:
            raise TypeError("a reference channel cannot be checkpointed")
        state = self._state
        checkpoint = _Checkpoint(
            items=[bytes(item) for item in state.queue],
            total_sent=state.total_sent,
            total_received=state.total_received,
            high_watermark=state.high_watermark,
        )
        return msgspec.msgpack.encode(checkpoint)

    async def apply_checkpoint_state(self, checkpoint: bytes) -> int:
        """Restore a checkpoint: its values go in front of anything queued since.

        Totals become the larger of the checkpoint's and the current ones.

        Args:
            checkpoint: Bytes from :meth:`get_checkpoint_state`.

        Returns:
            How many values were restored.

        Raises:
            msgspec.DecodeError: ``checkpoint`` is not a channel checkpoint.
        """
        restored = msgspec.msgpack.decode(checkpoint, type=_Checkpoint)
        state = self._state
        state.queue.extendleft(msgspec.Raw(item) for item in reversed(restored.items))
        state.total_sent = max(state.total_sent, restored.total_sent)
        state.total_received = max(state.total_received, restored.total_received)
        state.high_watermark = max(state.high_watermark, restored.high_watermark, len(state.queue))
        wake_all(state.getters)
        return len(restored.items)
