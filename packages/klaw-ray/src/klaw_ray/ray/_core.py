"""``ChannelCore``: the state of one Ray channel and every rule that changes it.

The channel actor (:mod:`klaw_ray.ray._actor`) decodes requests, calls one method of its
core and encodes the answer; the core holds the queue, the leases, the senders' credit,
the waiting calls, and the handles and processes they belong to. It is plain asyncio
code, so tests drive it through any interleaving without Ray.

Invariants (each method restores them before it returns or awaits):

1. **Capacity.** ``len(queue) + credit_total <= capacity``: values queued, and room
   granted to senders and not yet used (values buffered in sender handles or on their
   way). Senders ship only values they hold credit for, so everything on the sending side
   is bounded by the capacity. Values leased to receivers are bounded apart, by what each
   receiver asks for at once (its prefetch, or its ``recv_batch`` size): counting them
   against the capacity would make a task that sends and then receives wait on itself.
   Two things may hold the queue over the capacity for a while, and then senders get no
   credit until it drains below it: values a receiver gives back (or loses with its
   process) return to the queue, and an operator's :meth:`~ChannelCore.resize` to less
   than is queued drops nothing. While the channel is paused (:meth:`~ChannelCore.pause`)
   no credit is granted at all; credit granted before stays valid.
2. **Exactly one place per value.** An accepted value is in the queue or leased to one
   receiver, until it is acknowledged (then it is gone) or lost with its receiver in
   at-most-once mode (then ``lost`` counts it).
3. **Hand-off.** While values are queued, no get waits: a put gives values straight to
   the longest-waiting get, so no later caller can take them first and no wake-up is
   lost. Likewise credit goes to the longest-waiting ``reserve`` first.
4. **No stale waiter.** A waiting call that times out, is withdrawn or whose process
   died leaves no waiter behind, and anything handed to it is accounted for.
5. **Per-writer order, at most once.** A writer's puts are applied in ``seq`` order, and
   a put whose ``seq`` was applied before is answered as a duplicate, adding nothing.
6. **An honest end.** Receivers see the end of the stream only once every sender closed,
   the queue is empty and no value is leased (a leased value may still come back); if a
   sender died without closing (or was closed as aborted), they see ``sender_lost``
   instead. A *supervised* handle (one a stage's worker holds, whose owner replaces it
   when its process dies) is closed normally when its process dies: its owner keeps
   another handle open until the work it supervises is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from klaw_ray._arguments import UNBOUNDED
from klaw_ray.ray._messages import Status

__all__ = ["SENDER_DIED", "ChannelCore", "Entry", "Journal", "Lease", "Problem"]

Problem = tuple[Status, str]
"""Why a call cannot proceed: a status and its explanation."""

SENDER_DIED = "a sender died without closing"
"""The explanation of ``sender_lost`` for a sender whose process died."""

_TURN_PATIENCE = 30.0
"""Seconds a put waits for an earlier put of its writer before giving up on the gap."""
_CLOSED_KEPT = 10_000
"""Most closed handle ids a core remembers, the latest closed: a long-lived channel whose
handles come and go must not grow without bound. A call from a handle closed longer ago
than that (a pickled copy used long after its close) is taken for a new handle."""


class Entry(msgspec.Struct, gc=False):
    """One value in the channel, as encoded bytes (``msgspec.Raw``) or an ``ObjectRef``.

    ``pos`` orders the queue when it is rebuilt from a durable channel's database: new
    values get increasing positions, values put back at the head decreasing ones.
    ``stamp`` is the Unix time its sender stamped it with when it was traced (0 when
    not; not kept in a durable channel's database).

    A struct that the garbage collector does not track (it refers to no container that
    could refer back to it): a channel holds thousands of entries, and building them as
    tracked objects cost a put of 1,000 values four times as much (see
    ``docs/user-guide/performance.md``).
    """

    id: int
    item: Any
    deliveries: int = 0
    pos: int = 0
    stamp: float = 0.0


class Lease(msgspec.Struct, gc=False):
    """A value handed to a receiver and not yet acknowledged (untracked, as ``Entry``)."""

    entry: Entry
    receiver: str
    deadline: float


@dataclass(slots=True)
class Journal:
    """What changed since the last commit, for a durable channel's database.

    The core only records; the actor turns a journal into one SQLite transaction
    (:mod:`klaw_ray.ray._durable`) before it answers the call that caused it. A handle
    in ``handles`` is written with whether it is supervised, and one in ``closed`` with
    the reason it was aborted for, if any: each fact commits with the handle change it
    belongs to, and neither costs anything per value.
    """

    entries: dict[int, Entry] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    handles: set[str] = field(default_factory=set)
    closed: dict[str, tuple[Literal["sender", "receiver"], Literal["closed", "lost"]]] = field(
        default_factory=dict
    )
    writers: set[str] = field(default_factory=set)
    dropped_writers: set[str] = field(default_factory=set)
    settings: bool = False
    """Whether an operator changed the capacity, the pause or the shutdown."""

    def changed(self, entries: list[Entry]) -> None:
        """Record that ``entries`` were added or changed (queued, leased, requeued)."""
        self.entries.update([(entry.id, entry) for entry in entries])
        if self.deleted:  # (ids are never reused; this keeps any order of calls right)
            self.deleted.difference_update([entry.id for entry in entries])

    def removed(self, entry_ids: list[int]) -> None:
        """Record that the entries ``entry_ids`` are gone (acknowledged or dropped)."""
        pop = self.entries.pop
        for entry_id in entry_ids:
            pop(entry_id, None)
        self.deleted.update(entry_ids)

    def __bool__(self) -> bool:
        return bool(
            self.entries
            or self.deleted
            or self.handles
            or self.closed
            or self.writers
            or self.dropped_writers
            or self.settings
        )


@dataclass(slots=True)
class _Handle:
    kind: Literal["sender", "receiver"]
    process: str
    node_id: str = ""
    registered_at: float = 0.0
    last_seen: float = 0.0
    total_received: int = 0


@dataclass(slots=True)
class _Writer:
    name: str
    handle_id: str
    last_seq: int = -1
    credit: int = 0
    need: int = 0
    turns: dict[int, asyncio.Future[None]] = field(default_factory=dict)


@dataclass(slots=True)
class _GetWaiter:
    receiver: str
    process: str
    request: int
    max_items: int
    future: asyncio.Future[list[Entry] | None]


@dataclass(slots=True)
class _ReserveWaiter:
    writer: str
    process: str
    request: int
    need: int
    future: asyncio.Future[int]


class ChannelCore:
    """A channel's queue, leases and credit, and the waiting calls on them.

    Every method runs on the actor's event loop; state changes between two ``await``
    points are atomic. Methods that wait (:meth:`get`, :meth:`reserve`, the turn of
    :meth:`put`) register a waiter, and every way out of the wait removes it.

    Args:
        capacity: Most values queued and reserved by senders at once; ``None`` for
            unbounded.
        at_least_once: Leased values of a receiver that dies go back to the channel;
            otherwise they are dropped and counted as lost.
        lease_seconds: How long a lease lasts without an acknowledgement.
        incarnation: This actor process's incarnation, carried by every answer.
        restarted: Whether this core replaces one whose state was lost: then the end of
            the stream needs a sender heard from in this incarnation.
        waiting_limit: Most calls waiting at once (gets and reserves together); one
            more is answered ``"busy"`` at once instead of waiting.
    """

    def __init__(
        self,
        capacity: int | None,
        *,
        at_least_once: bool = True,
        lease_seconds: float = 300.0,
        incarnation: int = 1,
        restarted: bool = False,
        waiting_limit: int = 64,
    ) -> None:
        self.capacity = UNBOUNDED if capacity is None else capacity
        self.at_least_once = at_least_once
        self.lease_seconds = lease_seconds
        self.incarnation = incarnation
        self.queue: deque[Entry] = deque()
        self.leases: dict[int, Lease] = {}
        self.handles: dict[str, _Handle] = {}
        self.closed: dict[str, str] = {}  # handle id -> "closed" | "lost", latest last
        self.writers: dict[str, _Writer] = {}
        self.credit_total = 0
        self.next_id = 0
        self.lost_senders: list[str] = []
        # Both change only as handles register and close; a durable channel's journal
        # carries them with those handle changes (see Journal.handles and .closed).
        self.lost_reasons: dict[str, str] = {}  # aborted sender -> why
        self.supervised: set[str] = set()  # open handles closed normally when their process dies
        self.total_sent = 0
        self.total_received = 0
        self.total_acked = 0
        self.redelivered = 0
        self.lost = 0
        self.high_watermark = 0
        self.waiting_limit = waiting_limit
        self.journal: Journal | None = None
        self.tail_pos = 0
        self.head_pos = 0
        self.sender_seen = not restarted
        self.receiver_seen = not restarted
        self.paused = False
        self.shut = False
        self._getters: deque[_GetWaiter] = deque()
        self._reservers: deque[_ReserveWaiter] = deque()

    # --- handles ---------------------------------------------------------------------

    def register(
        self,
        kind: Literal["sender", "receiver"],
        handle_id: str,
        process: str,
        *,
        supervised: bool = False,
    ) -> None:
        """Count a handle as open, held by ``process`` (unless it closed already).

        A sender registered after an operator's :meth:`shut_down` is closed at once. A
        ``supervised`` handle is closed normally, not as lost, when its process dies.
        """
        if handle_id in self.closed:
            return
        if kind == "sender" and self.shut:
            self.closed[handle_id] = "closed"
            if self.journal is not None:
                self.journal.closed[handle_id] = ("sender", "closed")
            return
        if supervised:
            self.supervised.add(handle_id)
        now = time.time()
        handle = self.handles.get(handle_id)
        if handle is None:
            self.handles[handle_id] = _Handle(kind, process, registered_at=now, last_seen=now)
        else:
            handle.process, handle.last_seen = process, now
        if self.journal is not None:
            self.journal.handles.add(handle_id)
        if kind == "sender":
            self.sender_seen = True
        else:
            self.receiver_seen = True

    def _open(self, kind: Literal["sender", "receiver"], handle_id: str, process: str) -> bool:
        """Adopt or refresh ``handle_id`` as used by ``process``; whether it is open."""
        if handle_id in self.closed:
            return False
        handle = self.handles.get(handle_id)
        if handle is None or handle.kind != kind:
            self.register(kind, handle_id, process)
        else:
            if handle.process != process and self.journal is not None:
                self.journal.handles.add(handle_id)
            handle.process, handle.last_seen = process, time.time()
        return True

    def _count(self, kind: str) -> int:
        return sum(1 for handle in self.handles.values() if handle.kind == kind)

    def senders_done(self) -> bool:
        """Whether every sender is closed (or lost), so the stream ends once drained."""
        return self.sender_seen and self._count("sender") == 0

    def receivers_done(self) -> bool:
        """Whether every receiver is closed (or lost), so sends fail."""
        return self.receiver_seen and self._count("receiver") == 0

    def free(self) -> int:
        """Room not yet queued or granted to a sender."""
        return self.capacity - len(self.queue) - self.credit_total

    def end_status(self) -> tuple[Status, str, str] | None:
        """``("ended" | "sender_lost", explanation, lost sender)`` once the stream is over."""
        if not self.senders_done() or self.queue or self.leases:
            return None
        if self.lost_senders:
            lost = self.lost_senders[0]
            return "sender_lost", self.lost_reasons.get(lost, SENDER_DIED), lost
        return "ended", "every sender is closed and the channel is drained", ""

    def close_handle(self, handle_id: str, *, lost: bool = False, reason: str = "") -> None:
        """Close a handle (``lost``: its process died): release what it holds, wake waiters.

        A sender's credit returns to the channel and its waiting reserves end; a
        receiver's leases go back to the head of the channel (at-least-once) or are
        dropped and counted lost (at-most-once), and its waiting gets end taking nothing.
        A lost sender with a ``reason`` was aborted on purpose: receivers see
        ``sender_lost`` with that explanation. Idempotent.
        """
        if lost and reason and handle_id in self.handles:
            self.lost_reasons[handle_id] = reason
        self.supervised.discard(handle_id)
        handle = self.handles.pop(handle_id, None)
        state: Literal["closed", "lost"] = "lost" if lost else "closed"
        self.remember_closed(handle_id, state)
        if handle is None:
            return
        if self.journal is not None:
            self.journal.handles.discard(handle_id)
            self.journal.closed[handle_id] = (handle.kind, state)
        if handle.kind == "sender":
            self._close_sender(handle_id, lost=lost)
        else:
            self._close_receiver(handle_id, lost=lost)

    def remember_closed(self, handle_id: str, state: str) -> None:
        """Remember ``handle_id`` as closed (``state``: ``"closed"`` or ``"lost"``).

        Only the latest closed ids are kept (a bounded number, ``_CLOSED_KEPT``): the
        oldest is forgotten first, and closing an id again makes it the latest.
        """
        self.closed.pop(handle_id, None)
        self.closed[handle_id] = state
        while len(self.closed) > _CLOSED_KEPT:
            del self.closed[next(iter(self.closed))]

    def _close_sender(self, handle_id: str, *, lost: bool) -> None:
        self.sender_seen = True
        for name, writer in list(self.writers.items()):
            if writer.handle_id != handle_id:
                continue
            self.credit_total -= writer.credit
            writer.credit = 0
            for turn in writer.turns.values():
                if not turn.done():
                    turn.set_result(None)
            del self.writers[name]
            if self.journal is not None:
                self.journal.writers.discard(name)
                self.journal.dropped_writers.add(name)
        for waiter in self._reservers:
            if waiter.writer not in self.writers and not waiter.future.done():
                waiter.future.set_result(0)
        if lost:
            self.lost_senders.append(handle_id)
        self._serve_reservers()
        if self.senders_done():
            self._wake_getters()

    def _close_receiver(self, handle_id: str, *, lost: bool) -> None:
        self.receiver_seen = True
        # Its waiting gets end first, so that the values it gives back go to others.
        for waiter in self._getters:
            if waiter.receiver == handle_id and not waiter.future.done():
                waiter.future.set_result(None)
        mine = [lease.entry for lease in self.leases.values() if lease.receiver == handle_id]
        for entry in mine:
            del self.leases[entry.id]
        if lost and not self.at_least_once:
            self.lost += len(mine)
            if self.journal is not None:
                self.journal.removed([entry.id for entry in mine])
        else:
            self._requeue(mine)
        self._serve_reservers()
        if self.receivers_done():
            self._wake_reservers()
        self._wake_getters_if_ended()

    def process_died(self, process: str) -> list[str]:
        """Close, as lost, every handle that ``process`` held last; return their ids."""
        dead = [hid for hid, handle in self.handles.items() if handle.process == process]
        for handle_id in dead:
            self.close_handle(handle_id, lost=handle_id not in self.supervised)
        for getter in self._getters:
            if getter.process == process and not getter.future.done():
                getter.future.set_result(None)
        for reserver in self._reservers:
            if reserver.process == process and not reserver.future.done():
                reserver.future.set_result(0)
        return dead

    def close_all(self) -> None:
        """Close every sender (the channel is being deleted): receivers see the end."""
        for handle_id, handle in list(self.handles.items()):
            if handle.kind == "sender":
                self.close_handle(handle_id)
        self.sender_seen = True
        self._wake_getters()
        self._wake_reservers()

    # --- operator controls -----------------------------------------------------------

    def pause(self) -> None:
        """Grant no more credit: sends wait (``try_send`` finds the channel full).

        Queued and leased values are untouched and still delivered; credit granted before
        stays valid, so values already covered by it still arrive. Idempotent.
        """
        self.paused = True
        self._operated()

    def resume(self) -> None:
        """Undo :meth:`pause`: waiting reserves get credit again, longest-waiting first."""
        self.paused = False
        self._operated()
        self._serve_reservers()

    def resize(self, capacity: int) -> None:
        """Set the capacity; waiting reserves get the room a larger one frees.

        A smaller capacity drops nothing: values queued beyond it stay and are delivered,
        and senders get no credit until the queue drains below it.

        Raises:
            ValueError: ``capacity`` is less than 1.
        """
        if capacity < 1:
            raise ValueError(f"a channel's capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._operated()
        self._serve_reservers()

    def shut_down(self) -> None:
        """Close the channel for an operator: every sender, including later ones.

        Receivers drain what is queued and leased, then see the end of the stream.
        """
        self.shut = True
        self._operated()
        self.close_all()

    def _operated(self) -> None:
        if self.journal is not None:
            self.journal.settings = True

    def reader_records(self) -> list[_Handle]:
        """The open receiver handles (closed and dead ones are dropped)."""
        return [handle for handle in self.handles.values() if handle.kind == "receiver"]

    # --- sending ---------------------------------------------------------------------

    def sender_problem(self, handle_id: str, process: str) -> Problem | None:
        """Why ``handle_id`` cannot send now, or ``None``."""
        if not self._open("sender", handle_id, process):
            if self.closed.get(handle_id) == "lost":
                return "handle_closed", "this sender's process was reported dead"
            if self.shut:
                return "handle_closed", "an operator closed the channel (klaw channels close)"
            return "handle_closed", "this sender is closed"
        if self.receivers_done():
            return "peer_closed", "every receiver is closed"
        return None

    def writer(self, name: str, handle_id: str) -> _Writer:
        """The state of writer ``name`` (created on first use)."""
        writer = self.writers.get(name)
        if writer is None:
            writer = self.writers[name] = _Writer(name, handle_id)
        if self.journal is not None:
            self.journal.writers.add(name)
        return writer

    def grant(self, writer: _Writer, need: int, ahead: int) -> int:
        """Grant ``writer`` credit for ``need`` values and up to ``ahead`` more.

        ``ahead`` (credit to ship later values at once) is granted only while the spare
        credit of all writers stays within three quarters of the capacity, so that idle
        senders cannot hold all the room that others wait for.
        """
        if self.paused:
            return 0
        # Never negative: values given back by a receiver, or a smaller capacity, may
        # hold the queue above the capacity for a while, and then there is no room at all.
        free = max(0, self.free())
        granted = min(max(need, 0), free)
        spare_room = self.capacity * 3 // 4 - sum(
            max(0, w.credit - w.need) for w in self.writers.values()
        )
        granted += max(0, min(ahead, free - granted, spare_room))
        writer.credit += granted
        self.credit_total += granted
        if granted and self.journal is not None:
            self.journal.writers.add(writer.name)
        return granted

    async def take_turn(self, writer: _Writer, seq: int) -> bool:
        """Wait until ``seq`` is ``writer``'s next put; ``False`` if it was applied before.

        A gap still open after a patience of 30 s is skipped rather than waited on
        forever (the earlier put was lost with its caller). Puts of one ``seq`` (a call
        retried while the first one still waits) wait for one shared turn: the first to
        resume applies its values, and the others then find them applied before. A put
        that gives up waiting (cancelled) leaves the turn to the others; the turn goes
        once the writer's order passes it (:meth:`end_turn`) or the writer closes.
        """
        if seq <= writer.last_seq:
            return False
        if seq > writer.last_seq + 1:
            turn = writer.turns.get(seq)
            if turn is None:
                turn = writer.turns[seq] = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(turn), _TURN_PATIENCE)
        return seq > writer.last_seq

    def end_turn(self, writer: _Writer, seq: int) -> None:
        """Record ``seq`` as applied and let the writer's next put proceed.

        Puts still waiting for a turn the writer's order has now passed (retries of a
        ``seq`` applied, or one whose gap was skipped) proceed too, and find it applied.
        """
        writer.last_seq = max(writer.last_seq, seq)
        if self.journal is not None:
            self.journal.writers.add(writer.name)
        for passed in [waiting for waiting in writer.turns if waiting <= writer.last_seq + 1]:
            turn = writer.turns.pop(passed)
            if not turn.done():
                turn.set_result(None)

    def accept(self, writer: _Writer, items: list[Any]) -> list[Entry]:
        """Queue ``items`` (covered by ``writer``'s credit) and hand them to waiting gets.

        Raises:
            ValueError: ``items`` exceeds the writer's credit.
        """
        count = len(items)
        if count > writer.credit:
            raise ValueError(f"a put of {count} values exceeds its credit of {writer.credit}")
        writer.credit -= count
        self.credit_total -= count
        entries = [
            Entry(self.next_id + offset, item, pos=self.tail_pos + offset)
            for offset, item in enumerate(items)
        ]
        self.next_id += count
        self.tail_pos += count
        self.queue.extend(entries)
        if self.journal is not None:
            self.journal.changed(entries)
            self.journal.writers.add(writer.name)
        self.total_sent += count
        self.high_watermark = max(self.high_watermark, len(self.queue) + len(self.leases))
        self._serve_getters()
        return entries

    def refuse(self, writer: _Writer, count: int) -> None:
        """Use up ``writer``'s credit for ``count`` values of a put refused whole.

        The sender spent that credit when it shipped them, so the writer no longer holds
        it (never more than it holds); the room it frees goes to the longest-waiting
        reserve at once, as any room that frees up.
        """
        spent = min(writer.credit, max(count, 0))
        if spent <= 0:
            return
        writer.credit -= spent
        self.credit_total -= spent
        if self.journal is not None:
            self.journal.writers.add(writer.name)
        self._serve_reservers()

    def restore(self, items: list[Any]) -> None:
        """Put restored values (a checkpoint's) at the head of the queue, in order.

        They bypass the capacity, as the values of the channel they were taken from.
        """
        entries = [Entry(self.next_id + offset, item) for offset, item in enumerate(items)]
        self.next_id += len(items)
        self._put_at_head(entries)
        self._serve_getters()

    async def reserve(
        self,
        writer_name: str,
        handle_id: str,
        process: str,
        request: int,
        need: int,
        ahead: int,
        wait: bool,
    ) -> tuple[int, Problem | None]:
        """Grant credit now, or wait (``wait``) until room frees up; FIFO among waiters.

        Only a ``need`` waits: a reserve for ``ahead`` credit alone is answered at once
        with what there is, as if ``wait`` were false, so that it never holds up the
        reserves queued behind it while there is room.

        A waiting reserve that is cancelled grants nothing: credit handed to it just
        before, which its caller never learns of, goes back to the channel and on to the
        next waiting reserve.

        Returns:
            ``(granted, problem)``: credit granted, and why none was if so
            (``("full", ...)`` when it must not wait).
        """
        problem = self.sender_problem(handle_id, process)
        if problem:
            return 0, problem
        writer = self.writer(writer_name, handle_id)
        writer.need = need
        if need <= 0 and ahead <= 0:
            return 0, None
        now = self._reserve_now(writer, need, ahead, wait=wait and need > 0)
        if now is not None:
            return now
        waiter = _ReserveWaiter(
            writer_name, process, request, max(need, 1), asyncio.get_running_loop().create_future()
        )
        self._reservers.append(waiter)
        try:
            granted = await waiter.future
        except asyncio.CancelledError:
            self._take_back(writer, waiter.future)
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._reservers.remove(waiter)
            if not waiter.future.done():
                waiter.future.cancel()
        if granted:
            return granted, None
        return 0, self.sender_problem(handle_id, process) or ("withdrawn", "")

    def _reserve_now(
        self, writer: _Writer, need: int, ahead: int, *, wait: bool
    ) -> tuple[int, Problem | None] | None:
        """Answer a reserve without waiting, or ``None`` when it is to wait."""
        if not self._reservers:
            granted = self.grant(writer, need, ahead)
            if granted or not wait:
                return granted, None if granted else self._full()
        elif not wait:
            return 0, self._full()
        if self._too_many_waiting():
            return 0, self._busy()
        return None

    def _full(self) -> Problem:
        if self.paused:
            return "full", "the channel is paused by an operator"
        return "full", "the channel is full"

    def _take_back(self, writer: _Writer, granted: asyncio.Future[int]) -> None:
        """Return credit granted to a reserve that was cancelled before it answered."""
        if not granted.done() or granted.cancelled() or self.writers.get(writer.name) is not writer:
            return  # nothing granted, or the writer closed and its credit went back
        taken = min(granted.result(), writer.credit)
        if taken <= 0:
            return
        writer.credit -= taken
        self.credit_total -= taken
        if self.journal is not None:
            self.journal.writers.add(writer.name)
        self._serve_reservers()

    def withdraw_reserve(self, writer: str, request: int) -> None:
        """End a waiting ``reserve`` of ``writer`` without granting anything."""
        for waiter in self._reservers:
            if waiter.writer == writer and waiter.request == request and not waiter.future.done():
                waiter.future.set_result(0)

    def _serve_reservers(self) -> None:
        """Grant credit to waiting reserves, longest-waiting first, while room lasts."""
        while self._reservers:
            waiter = self._reservers[0]
            writer = self.writers.get(waiter.writer)
            if waiter.future.done() or writer is None:
                self._reservers.popleft()
                if not waiter.future.done():
                    waiter.future.set_result(0)
                continue
            # The waiter's own need: a put of the same writer may have reported a smaller
            # one since, from before the values that wait were sent.
            granted = self.grant(writer, waiter.need, 0)
            if not granted:
                return
            self._reservers.popleft()
            waiter.future.set_result(granted)

    def _wake_reservers(self) -> None:
        """End every waiting reserve with nothing; each re-checks why."""
        while self._reservers:
            waiter = self._reservers.popleft()
            if not waiter.future.done():
                waiter.future.set_result(0)

    # --- receiving -------------------------------------------------------------------

    def receiver_problem(self, handle_id: str, process: str) -> Problem | None:
        """Why ``handle_id`` cannot receive now, or ``None``."""
        if not self._open("receiver", handle_id, process):
            if self.closed.get(handle_id) == "lost":
                return "handle_closed", "this receiver's process was reported dead"
            return "handle_closed", "this receiver is closed"
        return None

    def ack(self, handle_id: str, ids: list[int]) -> int:
        """Acknowledge delivery ids leased to ``handle_id``; return how many were."""
        leases = self.leases
        acked = []
        for delivery_id in ids:
            lease = leases.pop(delivery_id, None)
            if lease is None:
                continue
            if lease.receiver != handle_id:  # not this receiver's: it stays
                leases[delivery_id] = lease
                continue
            acked.append(delivery_id)
        count = len(acked)
        if self.journal is not None and acked:
            self.journal.removed(acked)
        if count:
            self.total_acked += count
            self._serve_reservers()
            self._wake_getters_if_ended()
        return count

    def give_back(self, handle_id: str, ids: list[int]) -> None:
        """Return leased values that were never handed out, to the head, in order.

        The hand-out is taken back whole: its delivery, its place in ``total_received``
        and, for a value delivered before, its count in ``redelivered``.
        """
        entries = []
        for delivery_id in ids:
            lease = self.leases.get(delivery_id)
            if lease is not None and lease.receiver == handle_id:
                del self.leases[delivery_id]
                if lease.entry.deliveries > 1:
                    self.redelivered -= 1
                lease.entry.deliveries -= 1
                self.total_received -= 1
                entries.append(lease.entry)
        self._requeue(entries)

    def reconcile(self, handle_id: str, held: list[int]) -> None:
        """After a restart: return ``handle_id``'s leases it does not hold (answers lost)."""
        keep = set(held)
        lost_answers = [
            lease.entry.id
            for lease in self.leases.values()
            if lease.receiver == handle_id and lease.entry.id not in keep
        ]
        self.give_back(handle_id, lost_answers)

    def take(self, handle_id: str, max_items: int) -> list[Entry]:
        """Lease up to ``max_items`` queued values to ``handle_id``."""
        count = min(max_items, len(self.queue))
        if not count:
            return []
        deadline = time.monotonic() + self.lease_seconds
        popleft, leases = self.queue.popleft, self.leases
        taken = [popleft() for _ in range(count)]
        for entry in taken:
            if entry.deliveries:
                self.redelivered += 1
            entry.deliveries += 1
            leases[entry.id] = Lease(entry, handle_id, deadline)
        if self.journal is not None:
            self.journal.changed(taken)
        self.total_received += count
        handle = self.handles.get(handle_id)
        if handle is not None:
            handle.total_received += count
        self._serve_reservers()  # the values left the queue: their room is free again
        return taken

    async def get(
        self, handle_id: str, process: str, request: int, max_items: int, wait: float | None
    ) -> tuple[list[Entry], Problem | None]:
        """Take values, waiting up to ``wait`` seconds for the first one.

        A waiting get that is cancelled takes nothing: values handed to it just before,
        which its caller never sees, go back to the head of the queue as never handed
        out (see :meth:`give_back`).

        Returns:
            ``(entries, problem)``: the values leased to the caller, and when there are
            none, why (``empty``, ``ended``, ``sender_lost``, ``handle_closed``,
            ``withdrawn``).
        """
        taken = self.take(handle_id, max_items)
        if taken:
            return taken, None
        ended = self.end_status()
        if ended:
            return [], (ended[0], ended[1])
        if wait is not None and wait <= 0:
            return [], ("empty", "the channel is empty")
        if self._too_many_waiting():
            return [], self._busy()
        future: asyncio.Future[list[Entry] | None] = asyncio.get_running_loop().create_future()
        waiter = _GetWaiter(handle_id, process, request, max_items, future)
        self._getters.append(waiter)
        result: list[Entry] | None = None
        try:
            with contextlib.suppress(TimeoutError):
                result = await asyncio.wait_for(asyncio.shield(future), wait)
        except asyncio.CancelledError:
            # Values handed over just before the cancellation never reach the caller.
            if future.done() and not future.cancelled():
                self.give_back(handle_id, [entry.id for entry in future.result() or []])
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._getters.remove(waiter)
            if future.done() and not future.cancelled():
                result = future.result()  # handed values just as the wait ended: keep them
            else:
                future.cancel()
        if result:
            # Only what is still leased to this receiver: had it closed meanwhile, its
            # leases went back to the queue and are not to be answered a second time.
            result = [entry for entry in result if self._leased_to(entry.id, handle_id)]
        if result:
            return result, None
        return [], self._why_nothing(handle_id, process, abandoned=waiter.request < 0)

    def _leased_to(self, delivery_id: int, handle_id: str) -> bool:
        lease = self.leases.get(delivery_id)
        return lease is not None and lease.receiver == handle_id

    def _why_nothing(self, handle_id: str, process: str, *, abandoned: bool) -> Problem:
        """Why a get that waited ends with no value."""
        problem = self.receiver_problem(handle_id, process)
        if problem:
            return problem
        ended = self.end_status()
        if ended:
            return ended[0], ended[1]
        if abandoned:
            return "withdrawn", ""
        return "empty", "the channel is empty"

    def abandon(self, handle_id: str, request: int) -> None:
        """End a waiting get of ``handle_id`` taking nothing (its caller gave it up)."""
        for waiter in self._getters:
            if waiter.receiver == handle_id and waiter.request == request:
                waiter.request = -1
                if not waiter.future.done():
                    waiter.future.set_result(None)

    def expire_leases(self, now: float | None = None) -> int:
        """Return leases past their deadline to the head of the channel; how many."""
        if not self.at_least_once:
            return 0  # at most once: a leased value is never handed to anyone else
        now = time.monotonic() if now is None else now
        expired = [lease.entry for lease in self.leases.values() if lease.deadline <= now]
        for entry in expired:
            del self.leases[entry.id]
        self._requeue(expired)
        return len(expired)

    def requeue(self, entries: list[Entry]) -> None:
        """Put values no longer leased back at the head, in id order (see ``_requeue``)."""
        self._requeue(entries)

    def _requeue(self, entries: list[Entry]) -> None:
        """Put values no longer leased back at the head of the queue, in id order.

        Their delivery counts stay, so handing one out again counts as a redelivery
        (:meth:`give_back` takes the count back first for values never handed out).
        """
        if not entries:
            return
        self._put_at_head(sorted(entries, key=lambda entry: entry.id))
        self._serve_getters()

    def _put_at_head(self, entries: list[Entry]) -> None:
        """Put ``entries`` before everything queued, keeping their order."""
        for offset, entry in enumerate(entries):
            entry.pos = self.head_pos - len(entries) + offset
        self.head_pos -= len(entries)
        self.queue.extendleft(reversed(entries))
        if self.journal is not None:
            self.journal.changed(entries)

    def _serve_getters(self) -> None:
        """Hand queued values to waiting gets, longest-waiting first."""
        while self.queue and self._getters:
            waiter = self._getters.popleft()
            if waiter.future.done():
                continue
            waiter.future.set_result(self.take(waiter.receiver, waiter.max_items))

    def _wake_getters(self) -> None:
        """End every waiting get with nothing; each re-checks (closed, ended)."""
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.future.done():
                waiter.future.set_result(None)

    def _wake_getters_if_ended(self) -> None:
        if self._getters and self.end_status():
            self._wake_getters()

    def _too_many_waiting(self) -> bool:
        return self.waiting_senders + self.waiting_receivers >= self.waiting_limit

    def _busy(self) -> Problem:
        return (
            "busy",
            f"{self.waiting_limit} calls already wait on this channel, its limit "
            "(ray.max_concurrency): use fewer handles at once, or raise the limit",
        )

    # --- statistics --------------------------------------------------------------------

    @property
    def waiting_receivers(self) -> int:
        """Gets waiting now."""
        return sum(1 for waiter in self._getters if not waiter.future.done())

    @property
    def waiting_senders(self) -> int:
        """Reserves waiting for credit now."""
        return sum(1 for waiter in self._reservers if not waiter.future.done())
