"""``ChannelStore``'s put + lease + acknowledge cycle, against raw sqlite3 and in memory.

A cycle moves 1,000 values through the bookkeeping of a durable channel actor, above a
standing backlog of 10,000 queued values: one operation puts them (inserts), one leases
them to a receiver (updates), one acknowledges them (deletes); each is one transaction
and also writes the counters. Contenders, each on its own state, measured alternately:

- ``ChannelStore`` on a real file (WAL, ``synchronous=NORMAL``), building the
  :class:`Changes` as the actor does;
- raw sqlite3: the same rows and transactions on the same schema and settings, as one-row
  statements through ``executemany``, the obvious way to write it;
- in memory: the dict and deque updates the actor makes for the same cycle anyway.

Target (the durable channel): batched throughput at least half the in-memory Ray
channel's, which ``test_ray_channel.py`` measures at about ``IN_MEMORY_CHANNEL`` values/s
with :class:`bench_records.Order` records. The store's time per value, added to that
channel's, projects the durable channel's rate for those records; the projection assumes
the store's work adds to the actor's and overlaps nothing. Nothing
here starts Ray. Timings are reported, never asserted.
"""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench_records import make_orders
from klaw_ray.ray._store import (
    Changes,
    ChannelStore,
    StoredCounters,
    StoredEntry,
    StoredMeta,
)

BATCH = 1000
BACKLOG = 10_000
CYCLES_PER_ROUND = 10
IN_MEMORY_CHANNEL = 200_000
"""Values/s of the in-memory Ray channel's batched loop, the durable channel's yardstick."""

META = StoredMeta("bench", "klaw-bench", None, "Order", False, "at_least_once", 0.0)
ORDER = msgspec.msgpack.encode(make_orders(1, start=123_456)[0])
ORDER_SIZE = f"{len(ORDER)} B Order"
ITEMS = {ORDER_SIZE: ORDER, "1 KiB": bytes(1024)}
"""The values: the record ``IN_MEMORY_CHANNEL`` was measured with, and a larger one."""

Cycle = Callable[[], None]


def _counters(next_id: int, acked: int) -> StoredCounters:
    return StoredCounters(next_id, next_id, acked + BATCH, acked, 0, 0, BACKLOG + BATCH)


def store_cycle(directory: Path, item: bytes) -> Cycle:
    """Cycles through a ``ChannelStore``, as the actor's durable bookkeeping would."""
    store = ChannelStore(directory / "store.sqlite3")
    store.create(META)
    store.commit(Changes(entries=[StoredEntry(i, i, item) for i in range(BACKLOG)]))
    head, first = 0, BACKLOG

    def cycle() -> None:
        nonlocal head, first
        after = first + BATCH
        new = [StoredEntry(i, i, item) for i in range(first, after)]
        store.commit(Changes(entries=new, counters=_counters(after, head)))
        leased = [StoredEntry(i, i, item, 1, "receiver", 1.9e9) for i in range(head, head + BATCH)]
        store.commit(Changes(entries=leased, counters=_counters(after, head)))
        acked = [entry.id for entry in leased]
        store.commit(Changes(deleted=acked, counters=_counters(after, head + BATCH)))
        head, first = head + BATCH, after

    return cycle


_UPSERT = (
    "INSERT INTO entries (id, pos, item, deliveries, leased_to, lease_deadline)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET pos = excluded.pos,"
    " item = excluded.item, deliveries = excluded.deliveries,"
    " leased_to = excluded.leased_to, lease_deadline = excluded.lease_deadline"
)
_COUNTERS = (
    "UPDATE counters SET next_id = ?, total_sent = ?, total_received = ?, total_acked = ?,"
    " redelivered = ?, lost = ?, high_watermark = ?"
)


def raw_sqlite_cycle(directory: Path, item: bytes) -> Cycle:
    """The same transactions through plain ``executemany``, on the store's own schema."""
    path = directory / "raw.sqlite3"
    ChannelStore(path).close()  # the schema, and WAL mode (which the file keeps)
    conn = sqlite3.connect(path, isolation_level=None)
    # The store's settings, so that only the statements differ.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA secure_delete = FAST")
    conn.execute("INSERT INTO counters VALUES (0, 0, 0, 0, 0, 0, 0, 0)")
    conn.execute("BEGIN")
    conn.executemany(_UPSERT, [(i, i, item, 0, "", 0.0) for i in range(BACKLOG)])
    conn.execute("COMMIT")
    head, first = 0, BACKLOG

    def transaction(sql: str, rows: Sequence[tuple[object, ...]], counters: StoredCounters) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute(_COUNTERS, msgspec.structs.astuple(counters))
        conn.execute("COMMIT")

    def cycle() -> None:
        nonlocal head, first
        after = first + BATCH
        new = [(i, i, item, 0, "", 0.0) for i in range(first, after)]
        transaction(_UPSERT, new, _counters(after, head))
        leased = [(i, i, item, 1, "receiver", 1.9e9) for i in range(head, head + BATCH)]
        transaction(_UPSERT, leased, _counters(after, head))
        acked = [(i,) for i in range(head, head + BATCH)]
        transaction("DELETE FROM entries WHERE id = ?", acked, _counters(after, head + BATCH))
        head, first = head + BATCH, after

    return cycle


def in_memory_cycle(directory: Path, item: bytes) -> Cycle:
    """The actor's in-memory bookkeeping for the same cycle: a deque and a dict of leases."""
    del directory  # nothing touches a file
    queue: deque[tuple[int, bytes]] = deque((i, item) for i in range(BACKLOG))
    leases: dict[int, tuple[bytes, str, float, int]] = {}
    head, first = 0, BACKLOG
    counters = StoredCounters()

    def cycle() -> None:
        nonlocal head, first, counters
        after = first + BATCH
        queue.extend((i, item) for i in range(first, after))
        counters = _counters(after, head)
        popleft = queue.popleft
        taken = [popleft() for _ in range(BATCH)]
        for id_, value in taken:
            leases[id_] = (value, "receiver", 1.9e9, 1)
        counters = _counters(after, head)
        for id_, _ in taken:
            del leases[id_]
        counters = _counters(after, head + BATCH)
        head, first = head + BATCH, after

    return cycle


CONTENDERS: dict[str, Callable[[Path, bytes], Cycle]] = {
    "ChannelStore (file)": store_cycle,
    "raw sqlite3 executemany (file)": raw_sqlite_cycle,
    "in memory (deque + dicts)": in_memory_cycle,
}


@pytest.mark.benchmark(group=f"store: put + lease + ack of {BATCH:,} values")
@pytest.mark.parametrize("size", list(ITEMS))
@pytest.mark.parametrize("name", list(CONTENDERS))
def test_cycle(benchmark: BenchmarkFixture, tmp_path: Path, name: str, size: str) -> None:
    cycle = CONTENDERS[name](tmp_path, ITEMS[size])

    def rounds() -> None:
        for _ in range(CYCLES_PER_ROUND):
            cycle()

    pedantic: Callable[..., None] = benchmark.pedantic  # untyped in pytest-benchmark
    pedantic(rounds, rounds=5, iterations=1, warmup_rounds=1)


def _best_cycle(cycles: dict[str, Cycle], rounds: int) -> dict[str, float]:
    """Seconds of each contender's best round of cycles, the contenders alternating."""
    best = dict.fromkeys(cycles, float("inf"))
    for _ in range(rounds):
        for name, cycle in cycles.items():
            start = time.perf_counter()
            for _ in range(CYCLES_PER_ROUND):
                cycle()
            best[name] = min(best[name], (time.perf_counter() - start) / CYCLES_PER_ROUND)
    return best


@pytest.mark.parametrize("size", list(ITEMS))
def test_ratio(report: Callable[[str], None], tmp_path: Path, size: str) -> None:
    item = ITEMS[size]
    cycles = {}
    for name, make in CONTENDERS.items():
        directory = tmp_path / name.split()[0]
        directory.mkdir()
        cycles[name] = make(directory, item)
    best = _best_cycle(cycles, rounds=8)
    store = best["ChannelStore (file)"]
    report(
        f"\nstore, put + lease + ack of {BATCH:,} values of {size} above {BACKLOG:,} queued, "
        f"best of 8 alternated rounds of {CYCLES_PER_ROUND} cycles:"
    )
    for name, seconds in best.items():
        report(
            f"  {name:<32} {BATCH / seconds / 1e3:8.1f} k values/s "
            f"({seconds / BATCH * 1e6:6.2f} us/value)"
        )
    raw = best["raw sqlite3 executemany (file)"]
    memory = best["in memory (deque + dicts)"]
    report(f"ratio ({size}): ChannelStore vs raw sqlite3 executemany = {raw / store:.2f}x")
    report(f"ratio ({size}): ChannelStore vs in-memory bookkeeping = {memory / store:.3f}x")
    if size == ORDER_SIZE:
        per_value = 1 / IN_MEMORY_CHANNEL + store / BATCH
        report(
            f"projected ({size}): durable channel {1 / per_value / 1e3:.0f} k values/s = "
            f"{1 / IN_MEMORY_CHANNEL / per_value:.0%} of the in-memory channel's "
            f"{IN_MEMORY_CHANNEL / 1e3:.0f} k (target >= 50%)"
        )
