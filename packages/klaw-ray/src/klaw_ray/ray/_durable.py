"""Durable channels: a channel core mirrored into its SQLite database, and rebuilt from it.

The actor of a durable channel keeps its :class:`~klaw_ray.ray._core.ChannelCore` in
memory as any channel does; the core records in its :class:`~klaw_ray.ray._core.Journal`
what each operation changed, and :meth:`DurableChannel.commit` writes that as one SQLite
transaction (:mod:`klaw_ray.ray._store`) before the actor answers. So a put is answered
``"ok"`` only once its values are on disk, values are handed to a receiver only once the
lease is, and an acknowledged value is gone from the disk when the acknowledgement is
answered.

A restarted actor (or a new one, after the whole Ray instance restarted, on the same
``channels.storage_dir``) rebuilds the core from the database: queued values in order,
leases with their receivers and deadlines, open handles and the processes holding them
(and which of them are supervised), closed handles (and the reason each aborted sender
gave), each writer's last applied put and its credit, the counters, and what an operator
set (a resized capacity, a pause, a close). Handles re-attach on their
next call; the processes of handles that do not re-attach within :data:`RESTART_GRACE`
seconds are taken for dead, so their leases return and their senders count as lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import msgspec

from klaw_ray._arguments import UNBOUNDED
from klaw_ray.ray._core import ChannelCore, Entry, Lease, _Handle, _Writer
from klaw_ray.ray._store import (
    Changes,
    ChannelStore,
    Snapshot,
    StoredCounters,
    StoredEntry,
    StoredHandle,
    StoredMeta,
    StoredSettings,
    StoredWriter,
)

__all__ = ["RESTART_GRACE", "DurableChannel", "default_storage_dir", "describe_type"]

RESTART_GRACE: Final = 10.0
"""Seconds a restarted durable channel waits for the processes of its open handles."""


def default_storage_dir() -> Path:
    """``$XDG_DATA_HOME/klaw/channels``, or ``~/.local/share/klaw/channels``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "klaw" / "channels"


def describe_type(value_type: Any) -> str:
    """The text a database keeps of a channel's value type, compared on re-attach."""
    if value_type is None:
        return "any"
    module = getattr(value_type, "__module__", "")
    name = getattr(value_type, "__qualname__", None)
    return f"{module}:{name}" if name else repr(value_type)


class DurableChannel:
    """The database of one durable channel, and the mirror of its core into it.

    Not thread-safe: the actor's event loop is its only user. Every method that writes
    runs one transaction and raises :class:`~klaw_ray.ray._store.StoreError` if it
    fails, leaving the database as it was.

    Args:
        storage_dir: The directory of durable channels' databases; ``None`` for
            :func:`default_storage_dir`.
        namespace: The channel's Ray namespace.
        name: The channel's name.
    """

    def __init__(self, storage_dir: str | None, namespace: str, name: str) -> None:
        directory = default_storage_dir() if storage_dir is None else Path(storage_dir)
        self.store = ChannelStore(ChannelStore.path_for(directory, namespace, name))
        self.created_capacity: int | None = None

    def open(self, meta: StoredMeta) -> tuple[int, Snapshot | None]:
        """Create the channel's database, or read it back; return the incarnation.

        Returns:
            ``(incarnation, snapshot)``: ``snapshot`` is ``None`` for a new channel.

        Raises:
            ValueError: The database holds a channel of another kind (capacity, value
                type, references, delivery): naming both.
            StoreError: The file is not a klaw channel database, or cannot be used.
        """
        snapshot = self.store.load()
        self.created_capacity = meta.capacity
        if snapshot is None:
            return self.store.create(meta), None
        stored = snapshot.meta
        mine = (meta.capacity, meta.value_type, meta.by_reference, meta.delivery)
        theirs = (stored.capacity, stored.value_type, stored.by_reference, stored.delivery)
        if mine != theirs:
            raise ValueError(
                f"the durable channel {meta.name!r} at {self.store.path} holds a channel with "
                f"capacity={stored.capacity}, value type {stored.value_type}, "
                f"by_reference={stored.by_reference}, delivery={stored.delivery!r}; asked for "
                f"capacity={meta.capacity}, value type {meta.value_type}, "
                f"by_reference={meta.by_reference}, delivery={meta.delivery!r}"
            )
        return self.store.begin_incarnation(), snapshot

    def rebuild(self, core: ChannelCore, snapshot: Snapshot) -> set[str]:
        """Fill a new core from ``snapshot``; return the processes to hear from again."""
        now_wall, now_mono = time.time(), time.monotonic()
        counters = snapshot.counters
        core.next_id = counters.next_id
        core.total_sent = counters.total_sent
        core.total_received = counters.total_received
        core.total_acked = counters.total_acked
        core.redelivered = counters.redelivered
        core.lost = counters.lost
        core.high_watermark = counters.high_watermark
        settings = snapshot.settings
        if settings.capacity is not None:
            core.capacity = settings.capacity
        core.paused, core.shut = settings.paused, settings.shut
        for stored in snapshot.entries:
            entry = Entry(stored.id, msgspec.Raw(stored.item), stored.deliveries, stored.pos)
            if stored.leased_to:
                deadline = now_mono + (stored.lease_deadline - now_wall)
                core.leases[entry.id] = Lease(entry, stored.leased_to, deadline)
            else:
                core.queue.append(entry)
        positions = [stored.pos for stored in snapshot.entries]
        core.head_pos = min(positions, default=0)
        core.tail_pos = max(positions, default=-1) + 1
        processes = _restore_handles(core, snapshot.handles)
        orphaned: dict[str, list[int]] = {}
        for lease in core.leases.values():
            if lease.receiver not in core.handles:  # leased to a handle that is gone
                orphaned.setdefault(lease.receiver, []).append(lease.entry.id)
        for ids in orphaned.values():
            core.requeue([core.leases.pop(delivery_id).entry for delivery_id in ids])
        for stored_writer in snapshot.writers:
            writer = _Writer(
                stored_writer.writer,
                stored_writer.handle_id,
                stored_writer.last_seq,
                stored_writer.credit,
            )
            core.writers[writer.name] = writer
            core.credit_total += writer.credit
        core.sender_seen = core.receiver_seen = True
        processes.discard("")
        return processes

    def commit(self, core: ChannelCore) -> None:
        """Write what ``core.journal`` recorded as one transaction, then clear it."""
        journal = core.journal
        if journal is None or not journal:
            return
        now_wall, now_mono = time.time(), time.monotonic()
        entries = []
        for entry in journal.entries.values():
            lease = core.leases.get(entry.id)
            entries.append(
                StoredEntry(
                    entry.id,
                    entry.pos,
                    bytes(entry.item),
                    entry.deliveries,
                    lease.receiver if lease else "",
                    now_wall + (lease.deadline - now_mono) if lease else 0.0,
                )
            )
        handles = [
            StoredHandle(
                handle_id, handle.kind, "open", handle.process, handle_id in core.supervised
            )
            for handle_id in journal.handles
            if (handle := core.handles.get(handle_id)) is not None
        ]
        lost_order = _lost_order(core, journal.closed.values())
        handles.extend(
            StoredHandle(
                handle_id,
                kind,
                state,
                reason=core.lost_reasons.get(handle_id, ""),
                lost_order=lost_order.get(handle_id, 0),
            )
            for handle_id, (kind, state) in journal.closed.items()
        )
        writers = [
            StoredWriter(name, writer.handle_id, writer.last_seq, writer.credit)
            for name in journal.writers
            if (writer := core.writers.get(name)) is not None
        ]
        changes = Changes(
            entries=entries,
            deleted=sorted(journal.deleted),
            handles=handles,
            writers=writers,
            dropped_writers=sorted(journal.dropped_writers),
            counters=StoredCounters(
                core.next_id,
                core.total_sent,
                core.total_received,
                core.total_acked,
                core.redelivered,
                core.lost,
                core.high_watermark,
            ),
            settings=_settings(core, self.created_capacity) if journal.settings else None,
        )
        self.store.commit(changes)
        core.journal = type(journal)()

    def close(self) -> None:
        """Close the database (idempotent)."""
        self.store.close()


def _restore_handles(core: ChannelCore, handles: list[StoredHandle]) -> set[str]:
    """Put stored handles back into ``core``; return the processes holding the open ones.

    An open handle keeps whether it is supervised (its process's death closes it
    normally), and a lost sender the reason it was aborted for (what receivers are told).
    """
    processes: set[str] = set()
    lost: list[StoredHandle] = []
    for handle in handles:
        if handle.state == "open":
            core.handles[handle.handle_id] = _Handle(handle.kind, handle.process)
            processes.add(handle.process)
            if handle.supervised:
                core.supervised.add(handle.handle_id)
            continue
        core.remember_closed(handle.handle_id, handle.state)
        if handle.state == "lost" and handle.kind == "sender":
            lost.append(handle)
            if handle.reason:
                core.lost_reasons[handle.handle_id] = handle.reason
    # In the order they were lost (a file from before lost_order: 0, by id, first).
    lost.sort(key=lambda handle: (handle.lost_order, handle.handle_id))
    core.lost_senders.extend(handle.handle_id for handle in lost)
    return processes


def _lost_order(core: ChannelCore, closed: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Each lost sender's place (1, 2, ...) among ``core``'s, when ``closed`` has one."""
    if not any(kind == "sender" and state == "lost" for kind, state in closed):
        return {}  # (the common case: nothing to number)
    return {handle_id: place for place, handle_id in enumerate(core.lost_senders, 1)}


def _settings(core: ChannelCore, created_capacity: int | None) -> StoredSettings:
    """What an operator set on ``core``; the capacity only when a resize changed it."""
    resized = None if core.capacity == _as_bound(created_capacity) else core.capacity
    return StoredSettings(resized, core.paused, core.shut)


def _as_bound(capacity: int | None) -> int:
    return UNBOUNDED if capacity is None else capacity
