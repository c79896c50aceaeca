"""``RayChannelActor``: the Ray actor that holds one channel.

The actor decodes each request, applies it to its :class:`~klaw_ray.ray._core.ChannelCore`
(which states the channel's invariants) and answers with a status, never an exception
for a channel condition. Values arrive and leave as klaw-wire ``DataMessage`` envelopes,
one per call whatever the number of values; the actor checks every value against the
channel's value type with the decoder receivers use, so a value the channel accepts is
one every receiver can decode, and keeps each as its encoded bytes.

Concurrency: the actor is an async actor on one event loop. Calls that wait (a ``get``
for a value, a ``reserve`` for room) are bounded: at most ``waiting_limit`` wait at once
(``ray.max_concurrency``), and one more is refused with a clear error instead of
waiting. Ray runs far more calls at once than that bound (see
:func:`actor_concurrency`), so however many handles wait, a consumer's ``get``, an
acknowledgement, a close and ``stats()`` always get through. Each process using the
channel also keeps one ``hold`` call waiting, for liveness (see
:mod:`klaw_ray.ray._liveness`).

Operators act on a channel through :meth:`RayChannelActor.control`, which takes a
klaw-wire ``ControlMessage`` (pause, resume, resize, close; see
:mod:`klaw_ray.ray._control_plane`) and answers with an ``Ack`` or a ``WireError``.

Failure: every answer carries the actor's incarnation. A restarted actor of a channel
that is not durable has lost its values; it answers ``"restarted"`` to every request
from a handle of the old incarnation, so that the handle raises instead of carrying on
over a hole in the stream. A durable channel (:mod:`klaw_ray.ray._durable`) resumes
from its database instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Literal, TypeVar, cast

import msgspec
import ray

from klaw_ray._arguments import UNBOUNDED
from klaw_ray.ray._batch_size import batch_size
from klaw_ray.ray._control_plane import apply_control
from klaw_ray.ray._core import ChannelCore, Entry, Journal, Problem
from klaw_ray.ray._durable import RESTART_GRACE, DurableChannel, describe_type
from klaw_ray.ray._latency import LatencyRecorder
from klaw_ray.ray._messages import (
    AckRequest,
    ChannelMetadata,
    CloseRequest,
    GetAnswer,
    GetRequest,
    PutRequest,
    ReserveRequest,
    SendAnswer,
    Status,
    encode_message,
)
from klaw_ray.ray._naming import now_ms
from klaw_ray.ray._store import StoredMeta
from klaw_ray.ray._validator import _TypeValidator
from klaw_ray.stats import ChannelStats, ReaderInfo
from klaw_wire import DataMessage, WireHeader, get_codec_pool

__all__ = ["RayChannelActor", "actor_concurrency"]

T = TypeVar("T")
_Method = TypeVar("_Method", bound=Callable[..., Awaitable[Any]])

_HOLD_LIMIT = 10_000
"""Most processes one channel watches at once (one waiting ``hold`` call each)."""
_FREE_CALLS = 1_000
"""Calls that do not wait (puts, acknowledgements, closes, statistics) Ray may run at once."""


def actor_concurrency(waiting_limit: int) -> int:
    """Ray's ``max_concurrency`` for a channel actor allowing ``waiting_limit`` waiting calls.

    Room for every waiting call, every process's ``hold`` and ``_FREE_CALLS`` more, so
    that waiting calls can never fill the actor.
    """
    return waiting_limit + _HOLD_LIMIT + _FREE_CALLS


# What msgspec raises for malformed bytes: DecodeError (a ValueError), UnicodeDecodeError
# (a ValueError) for invalid strings, RecursionError for hostile nesting.
_MALFORMED = (ValueError, RecursionError)
_PUT = msgspec.msgpack.Decoder(PutRequest)
_RESERVE = msgspec.msgpack.Decoder(ReserveRequest)
_GET = msgspec.msgpack.Decoder(GetRequest)
_ACK = msgspec.msgpack.Decoder(AckRequest)
_CLOSE = msgspec.msgpack.Decoder(CloseRequest)

_ERROR_CODES: dict[Status, str] = {
    "full": "channel.full",
    "empty": "channel.empty",
    "handle_closed": "channel.handle_closed",
    "peer_closed": "channel.peer_closed",
    "sender_lost": "channel.sender_lost",
    "restarted": "channel.restarted",
    "busy": "channel.busy",
    "invalid": "channel.invalid",
}
"""The code each refusal is counted under in ``ChannelStats.errors``: the wire error
code of what the handle raises or returns, and ``channel.busy`` / ``channel.invalid`` for
the two refusals a handle reports as a ``ChannelBackendError``. ``"ok"``, ``"ended"``
(the end of the stream, which every receiver meets: a completion, not a failure) and
``"withdrawn"`` (the caller gave the call up) are not counted."""


class _Checkpoint(msgspec.Struct, frozen=True, gc=False):
    """The values and totals of a channel, as ``get_checkpoint_state`` encodes them."""

    items: list[bytes]
    total_sent: int
    total_received: int
    high_watermark: int


def _committing(method: _Method) -> _Method:
    """Make an actor method write what it changed (durable channels) before it answers.

    The write happens however the method ends, so a waiting call that was handed values
    by another call's hand-off also finds them on disk. The call is counted under the
    method's name (``ChannelStats.calls``) when it starts.
    """
    name = method.__name__

    @functools.wraps(method)
    async def committing(self: RayChannelActor[Any], *args: Any) -> Any:
        calls = self._calls
        calls[name] = calls.get(name, 0) + 1
        try:
            return await method(self, *args)
        finally:
            self._commit()

    return cast(_Method, committing)


def _was_restarted() -> bool:
    """Whether this actor process replaces one that died (False outside an actor)."""
    if not ray.is_initialized():  # built outside Ray, e.g. in a unit test
        return False
    context = ray.get_runtime_context()
    if context.get_actor_id() is None:
        return False
    return bool(context.was_current_actor_reconstructed)


class RayChannelActor(Generic[T]):
    """The channel behind Ray handles. Create it through :func:`klaw_ray.channel`.

    It runs as an async actor (``num_cpus=0``): every method is a coroutine on the
    actor's event loop, so state changes are atomic between ``await`` points.

    Args:
        capacity: Most values queued and reserved by senders (buffered in their handles
            or on their way) at once; ``None`` for unbounded.
        value_type: Type every value is checked against; ``None`` accepts any value.
        name: The channel's name, used in envelopes and errors.
        namespace: The Ray namespace of a named channel.
        senders: Ids of the sender handles open at creation.
        receivers: Ids of the receiver handles open at creation.
        process: The creating process's id (holder of those handles).
        by_reference: Carry object references (``put_refs``) instead of encoded values.
        delivery: ``"at_least_once"`` or ``"at_most_once"``.
        lease_seconds: How long a value stays leased without an acknowledgement.
        durable: Keep the state in SQLite under ``storage_dir`` (named channels only).
        storage_dir: Directory of durable channels' databases; ``None`` for the default.
        waiting_limit: Most calls waiting at once (gets and reserves); one more is
            answered ``"busy"``.
        poll_seconds: Longest a single ``get`` waits before answering ``"empty"``.
    """

    def __init__(
        self,
        capacity: int | None,
        value_type: Any,
        name: str,
        namespace: str,
        senders: list[str],
        receivers: list[str],
        process: str = "",
        by_reference: bool = False,
        delivery: Literal["at_least_once", "at_most_once"] = "at_least_once",
        lease_seconds: float = 300.0,
        durable: bool = False,
        storage_dir: str | None = None,
        waiting_limit: int = 64,
        poll_seconds: float = 10.0,
    ) -> None:
        restarted = _was_restarted()
        self._durable: DurableChannel | None = None
        self._unconfirmed: set[str] = set()
        incarnation = time.time_ns() // 1000
        snapshot = None
        if durable:
            self._durable = DurableChannel(storage_dir, namespace, name)
            stored = StoredMeta(
                name,
                namespace,
                capacity,
                describe_type(value_type),
                by_reference,
                delivery,
                time.time(),
            )
            incarnation, snapshot = self._durable.open(stored)
            restarted = False  # nothing was lost: handles of earlier incarnations go on
        self._incarnation = incarnation
        self._core = ChannelCore(
            capacity,
            at_least_once=delivery == "at_least_once",
            lease_seconds=lease_seconds,
            incarnation=incarnation,
            restarted=restarted,
            waiting_limit=waiting_limit,
        )
        self._restarted = restarted
        if self._durable is not None:
            self._core.journal = Journal()
        if snapshot is not None and self._durable is not None:
            self._unconfirmed = self._durable.rebuild(self._core, snapshot)
        elif not restarted:
            for handle_id in senders:
                self._core.register("sender", handle_id, process)
            for handle_id in receivers:
                self._core.register("receiver", handle_id, process)
        self._commit()
        self._validator = _TypeValidator.for_type(value_type)
        self._metadata = ChannelMetadata(
            name=name,
            namespace=namespace,
            capacity=capacity,
            value_type=value_type,
            by_reference=by_reference,
            durable=durable,
            delivery=delivery,
            lease_seconds=lease_seconds,
            incarnation=self._incarnation,
            key=uuid.uuid4().hex,
            created_at=time.time(),
        )
        self._poll_seconds = poll_seconds
        self._holds: dict[str, asyncio.Event] = {}
        self._watched: set[str] = set()
        self._expiry: asyncio.Task[None] | None = None
        self._grace: asyncio.Task[None] | None = None
        self._errors: dict[str, int] = {}
        self._calls: dict[str, int] = {}  # by method: ChannelStats.calls
        self._latency = LatencyRecorder()
        self._traced = False  # whether any put carried stamps (else answers skip them)

    def _count(self, status: Status) -> None:
        """Count a refusal by its error code (``ChannelStats.errors``)."""
        code = _ERROR_CODES.get(status)
        if code is not None:
            self._errors[code] = self._errors.get(code, 0) + 1

    def _commit(self) -> None:
        """Write what the last operation changed, for a durable channel (else nothing).

        Raises:
            StoreError: The database could not be written; the call fails with it.
        """
        if self._durable is not None:
            self._durable.commit(self._core)

    def _start_grace(self) -> None:
        """After a durable restart: processes that do not re-attach in time are dead."""
        if self._unconfirmed and self._grace is None:
            self._grace = asyncio.get_running_loop().create_task(self._end_grace())

    async def _end_grace(self) -> None:
        await asyncio.sleep(RESTART_GRACE)
        for process in sorted(self._unconfirmed - self._watched):
            self._core.process_died(process)
        self._unconfirmed.clear()
        self._commit()

    # --- handles and processes ---------------------------------------------------------

    async def metadata(self) -> ChannelMetadata:
        """Return what a handle needs to attach to this channel."""
        return self._metadata

    async def register(
        self,
        kind: Literal["sender", "receiver"],
        handle_id: str,
        process: str,
        incarnation: int = 0,
        supervised: bool = False,
    ) -> None:
        """Count a new handle (a clone, or one of :func:`get_channel`) as open.

        A clone of a handle from an incarnation that lost its values is not counted:
        its first call is answered ``"restarted"`` like its original's. A
        ``supervised`` handle is closed normally, not as lost, when its process dies
        (a stage replaces its worker and keeps its own handle open meanwhile).
        """
        if incarnation and self._stale(incarnation):
            return
        self._core.register(kind, handle_id, process, supervised=supervised)
        self._commit()

    async def hold(self, process: str) -> None:
        """Wait as long as ``process`` lives (see :mod:`klaw_ray.ray._liveness`)."""
        await self._holds.setdefault(process, asyncio.Event()).wait()

    async def watch(self, process: str, holds: list[Any]) -> None:
        """Start watching ``process``: when its ``hold`` reference fails, it died."""
        if process in self._watched:
            return
        self._watched.add(process)
        self._unconfirmed.discard(process)
        asyncio.get_running_loop().create_task(self._watch(process, holds[0]))

    async def _watch(self, process: str, hold: Any) -> None:
        try:
            await hold
        except ray.exceptions.RayError:  # OwnerDiedError: the process is gone
            self._core.process_died(process)
            self._commit()
        finally:
            self._watched.discard(process)
            hold_event = self._holds.pop(process, None)
            if hold_event is not None:
                hold_event.set()  # end the dead process's hold call: it frees its slot

    def process_died(self, process: str) -> list[str]:
        """Treat every handle ``process`` held as dead; return their ids (for tests)."""
        return self._core.process_died(process)

    def _stale(self, incarnation: int) -> Problem | None:
        self._start_grace()
        if incarnation != self._incarnation and self._restarted:
            return (
                "restarted",
                "the channel's actor restarted and lost the values it held; this handle "
                "belongs to the incarnation before",
            )
        return None

    # --- sending -----------------------------------------------------------------------

    def _send_answer(self, problem: Problem, **fields: Any) -> bytes:
        status, error = problem
        self._count(status)
        return encode_message(
            SendAnswer(status=status, incarnation=self._incarnation, error=error, **fields)
        )

    @_committing
    async def put(self, request: bytes) -> bytes:
        """Queue the values of a put, all or none, in its writer's turn.

        Args:
            request: An encoded :class:`~klaw_ray.ray._messages.PutRequest`.

        Returns:
            An encoded :class:`~klaw_ray.ray._messages.SendAnswer`.
        """
        if self._metadata.by_reference:
            return self._send_answer(("invalid", "this channel carries refs, not values"))
        try:
            put = _PUT.decode(request)
        except _MALFORMED as exc:
            return self._send_answer(("invalid", f"malformed put request: {exc}"))
        answer = await self._put(put, lambda: self._validator.split(bytes(put.envelope))[1])
        return encode_message(answer)

    @_committing
    async def put_refs(self, put: PutRequest, refs: list[Any]) -> SendAnswer:
        """Queue object references, all or none (reference channels).

        Args:
            put: The request (its envelope is unused).
            refs: ``ray.put`` references; the actor holds the references, never the values.

        Returns:
            The :class:`~klaw_ray.ray._messages.SendAnswer` itself (it travels through
            Ray's serializer, like the references).
        """
        if not self._metadata.by_reference:
            return SendAnswer(status="invalid", error="this channel carries values, not refs")
        return await self._put(put, lambda: list(refs))

    async def _put(self, put: PutRequest, items_of: Any) -> SendAnswer:
        core = self._core
        incarnation = self._incarnation
        problem = self._stale(put.incarnation) or core.sender_problem(put.handle_id, put.process)
        if problem:
            self._count(problem[0])
            return SendAnswer(status=problem[0], incarnation=incarnation, error=problem[1])
        writer = core.writer(put.writer, put.handle_id)
        if not await core.take_turn(writer, put.seq):
            return SendAnswer(incarnation=incarnation, duplicate=True)
        try:
            problem = core.sender_problem(put.handle_id, put.process)
            if problem:
                self._count(problem[0])
                return SendAnswer(status=problem[0], incarnation=incarnation, error=problem[1])
            try:
                items: list[Any] = items_of()
                entries = core.accept(writer, items)
            except _MALFORMED as exc:
                # Rejected whole: the values' credit is used up, like the sender's view.
                core.refuse(writer, _count_items(put))
                self._count("invalid")
                return SendAnswer(status="invalid", incarnation=incarnation, error=str(exc))
            if put.stamps:  # before any await: a get served by this put answers later
                self._stamp(entries, put.stamps)
        finally:
            core.end_turn(writer, put.seq)
        self._start_expiry()
        writer.need = put.need
        granted = core.grant(writer, put.need, put.ahead) if not core.waiting_senders else 0
        return SendAnswer(incarnation=incarnation, accepted=len(items), granted=granted)

    def _stamp(self, entries: list[Entry], stamps: list[tuple[int, float]]) -> None:
        """Keep each traced value's send time with it (indexes out of range ignored)."""
        self._traced = True
        for index, stamp in stamps:
            if 0 <= index < len(entries):
                entries[index].stamp = stamp

    @_committing
    async def reserve(self, request: bytes) -> bytes:
        """Grant credit, waiting for room if the request says so.

        Args:
            request: An encoded :class:`~klaw_ray.ray._messages.ReserveRequest`.

        Returns:
            An encoded :class:`~klaw_ray.ray._messages.SendAnswer`: ``"ok"`` with the
            credit granted, ``"full"``, ``"handle_closed"``, ``"peer_closed"``,
            ``"restarted"``, ``"withdrawn"`` or ``"invalid"``.
        """
        try:
            reserve = _RESERVE.decode(request)
        except _MALFORMED as exc:
            return self._send_answer(("invalid", f"malformed reserve request: {exc}"))
        problem = self._stale(reserve.incarnation)
        if problem:
            return self._send_answer(problem)
        granted, problem = await self._core.reserve(
            reserve.writer,
            reserve.handle_id,
            reserve.process,
            reserve.request,
            reserve.need,
            reserve.ahead,
            reserve.wait,
        )
        if problem:
            return self._send_answer(problem, granted=granted)
        return encode_message(SendAnswer(incarnation=self._incarnation, granted=granted))

    @_committing
    async def withdraw(self, writer: str, request: int) -> None:
        """End a waiting ``reserve`` whose caller no longer needs it."""
        self._core.withdraw_reserve(writer, request)

    # --- receiving ---------------------------------------------------------------------

    def _get_answer(self, problem: Problem, *, count: bool = True) -> bytes:
        status, error = problem
        if count:  # an idle poll that ended "empty" is no refusal
            self._count(status)
        lost = self._core.lost_senders[0] if status == "sender_lost" else ""
        return encode_message(
            GetAnswer(status=status, incarnation=self._incarnation, error=error, lost_sender=lost)
        )

    @_committing
    async def get(self, request: bytes) -> bytes | GetAnswer:
        """Acknowledge what the caller handed out, then take up to ``max_items`` values.

        Args:
            request: An encoded :class:`~klaw_ray.ray._messages.GetRequest`.

        Returns:
            An encoded :class:`~klaw_ray.ray._messages.GetAnswer` (on a reference
            channel the struct itself, carrying the references).
        """
        try:
            get = _GET.decode(request)
        except _MALFORMED as exc:
            return self._get_answer(("invalid", f"malformed get request: {exc}"))
        core = self._core
        problem = self._stale(get.incarnation) or core.receiver_problem(get.handle_id, get.process)
        if problem:
            return self._get_answer(problem)
        handle = core.handles[get.handle_id]
        handle.node_id = get.node_id or handle.node_id
        if get.observed:
            self._latency.observe(get.observed)
        core.ack(get.handle_id, get.acked)
        if get.held is not None:  # after acknowledging: what is left and not held is lost
            core.reconcile(get.handle_id, get.held)
        wait = self._poll_seconds if get.wait is None else min(get.wait, self._poll_seconds)
        entries, problem = await core.get(
            get.handle_id, get.process, get.request, max(1, get.max_items), wait
        )
        if problem:
            idle_poll = problem[0] == "empty" and wait > 0
            return self._get_answer(problem, count=not idle_poll)
        self._start_expiry()
        return self._entries_answer(entries)

    def _entries_answer(self, entries: list[Entry]) -> bytes | GetAnswer:
        ids = [entry.id for entry in entries]
        deliveries = [entry.deliveries for entry in entries]
        if max(deliveries, default=1) == 1:  # every value on its first delivery (counts >= 1)
            deliveries = []
        items = [entry.item for entry in entries]
        stamps: list[tuple[int, float]] = []
        if self._traced:
            stamps = [(index, entry.stamp) for index, entry in enumerate(entries) if entry.stamp]
        if self._metadata.by_reference:
            return GetAnswer(
                incarnation=self._incarnation,
                ids=ids,
                deliveries=deliveries,
                refs=tuple(items),
                stamps=stamps,
            )
        header = WireHeader(channel_id=self._metadata.name, ts=now_ms())
        data = get_codec_pool().encode(DataMessage(header=header, payload=items))
        return encode_message(
            GetAnswer(
                incarnation=self._incarnation,
                ids=ids,
                deliveries=deliveries,
                data=data,
                stamps=stamps,
            )
        )

    @_committing
    async def abandon(self, handle_id: str, request: int) -> None:
        """Make a waiting ``get`` return ``"withdrawn"`` now, taking nothing."""
        self._core.abandon(handle_id, request)

    @_committing
    async def ack(self, request: bytes) -> bytes:
        """Acknowledge delivery ids (an explicit ``ack()`` of a receiver).

        Returns:
            An encoded :class:`~klaw_ray.ray._messages.SendAnswer` whose ``accepted`` is
            how many leases ended.
        """
        try:
            ack = _ACK.decode(request)
        except _MALFORMED as exc:
            return self._send_answer(("invalid", f"malformed ack request: {exc}"))
        problem = self._stale(ack.incarnation) or self._core.receiver_problem(
            ack.handle_id, ack.process
        )
        if problem:
            return self._send_answer(problem)
        count = self._core.ack(ack.handle_id, ack.acked)
        return encode_message(SendAnswer(incarnation=self._incarnation, accepted=count))

    def _start_expiry(self) -> None:
        """Run the lease-expiry loop once there are leases (and keep it running)."""
        if self._expiry is None and self._core.leases:
            self._expiry = asyncio.get_running_loop().create_task(self._expire_forever())

    async def _expire_forever(self) -> None:
        interval = min(max(self._core.lease_seconds / 10, 0.5), 30.0)
        while True:
            await asyncio.sleep(interval)
            if self._core.expire_leases():
                self._commit()

    # --- closing -----------------------------------------------------------------------

    @_committing
    async def close_sender(self, request: bytes) -> None:
        """Close a sender handle: its credit returns; the last one ends the stream.

        A request with an ``abort`` explanation closes the sender as lost: receivers
        then see ``sender_lost`` with that explanation instead of the end.
        """
        with contextlib.suppress(*_MALFORMED):
            close = _CLOSE.decode(request)
            if not self._stale(close.incarnation):
                aborted = bool(close.abort)
                self._core.close_handle(close.handle_id, lost=aborted, reason=close.abort)

    @_committing
    async def close_receiver(self, request: bytes) -> None:
        """Close a receiver: acknowledge what it handed out, give back what it did not."""
        with contextlib.suppress(*_MALFORMED):
            close = _CLOSE.decode(request)
            if not self._stale(close.incarnation):
                if close.observed:
                    self._latency.observe(close.observed)
                self._core.ack(close.handle_id, close.acked)
                self._core.give_back(close.handle_id, close.unread)
                self._core.close_handle(close.handle_id)

    @_committing
    async def close_all_of(self, handle_ids: list[str]) -> None:
        """Close these handles (those a refused attach had registered)."""
        for handle_id in handle_ids:
            self._core.close_handle(handle_id)

    @_committing
    async def close_all(self) -> None:
        """Close every handle at once (used when the channel is deleted)."""
        self._core.close_all()

    # --- control plane -----------------------------------------------------------------

    @_committing
    async def control(self, request: bytes) -> bytes:
        """Apply an operator's encoded klaw-wire ``ControlMessage`` to the channel.

        ``pause`` stops granting room to senders (sends wait, ``try_send`` finds the
        channel full) while queued values are still delivered; ``resume`` undoes it;
        ``resize`` sets the capacity (waiting senders proceed when it grows; nothing
        queued is dropped when it shrinks); ``close`` closes every sender, this one's
        and later ones, so receivers drain and then see the end of the stream. A durable
        channel writes the change before answering, and keeps it across restarts.
        The message is checked whole before anything changes, on the actor's event loop
        between two other calls.

        Args:
            request: An encoded :class:`~klaw_wire.ControlMessage`.

        Returns:
            An encoded :class:`~klaw_wire.Ack`, or an encoded :class:`~klaw_wire.WireError`
            for bytes that are not a valid control message (see
            :mod:`klaw_ray.ray._control_plane` for the codes); never an exception for bad
            input.
        """
        return apply_control(self._core, self._metadata.name, request)

    # --- statistics and checkpoints ----------------------------------------------------

    async def stats(self) -> ChannelStats:
        """Return a snapshot of the channel's statistics."""
        core = self._core
        readers = tuple(
            ReaderInfo(
                reader_id=handle_id,
                node_id=handle.node_id,
                registered_at=handle.registered_at,
                last_seen=handle.last_seen,
                total_received=handle.total_received,
            )
            for handle_id, handle in core.handles.items()
            if handle.kind == "receiver"
        )
        per_node: dict[str, int] = {}
        for info in readers:
            if info.node_id:  # known once the receiver has asked for values
                per_node[info.node_id] = per_node.get(info.node_id, 0) + 1
        metadata = self._metadata
        return ChannelStats(
            backend="ray",
            capacity=None if core.capacity == UNBOUNDED else core.capacity,
            size=len(core.queue),
            high_watermark=core.high_watermark,
            total_sent=core.total_sent,
            total_received=core.total_received,
            open_senders=sum(1 for h in core.handles.values() if h.kind == "sender"),
            open_receivers=len(readers),
            closed=core.senders_done(),
            waiting_senders=core.waiting_senders,
            waiting_receivers=core.waiting_receivers,
            leased=len(core.leases),
            reserved=core.credit_total,
            redelivered=core.redelivered,
            lost=core.lost,
            lost_senders=len(core.lost_senders),
            incarnation=self._incarnation,
            paused=core.paused,
            readers_per_node=per_node,
            readers=readers,
            errors=dict(self._errors),
            calls=dict(self._calls),
            latency=self._latency.snapshot(),
            extras={"name": metadata.name, "namespace": metadata.namespace, "pid": os.getpid()},
        )

    async def get_checkpoint_state(self) -> bytes:
        """Encode the values the channel holds (queued and leased) and its totals.

        Handles are not part of a checkpoint: a checkpoint restores values into a new
        channel, whose handles are new.

        Returns:
            MessagePack bytes for :meth:`apply_checkpoint_state`.

        Raises:
            TypeError: The channel carries references: its values live in the object
                store, whose lifetime a checkpoint cannot extend.
        """
        if self._metadata.by_reference:
            raise TypeError("a reference channel cannot be checkpointed")
        core = self._core
        held = sorted(
            [*core.queue, *(lease.entry for lease in core.leases.values())],
            key=lambda entry: entry.id,
        )
        checkpoint = _Checkpoint(
            items=[bytes(entry.item) for entry in held],
            total_sent=core.total_sent,
            total_received=core.total_received - len(core.leases),
            high_watermark=core.high_watermark,
        )
        return msgspec.msgpack.encode(checkpoint)

    @_committing
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
        core = self._core
        core.restore([msgspec.Raw(item) for item in restored.items])
        core.total_sent = max(core.total_sent, restored.total_sent)
        core.total_received = max(core.total_received, restored.total_received)
        core.high_watermark = max(core.high_watermark, restored.high_watermark, len(core.queue))
        return len(restored.items)


def _count_items(put: PutRequest) -> int:
    """How many values a put carries, read from its envelope's structure alone.

    Not by decoding: a batch refused because a value is nested too deep to decode
    would count 0 values then (0 also when the envelope is unreadable).
    """
    return batch_size(bytes(put.envelope))
