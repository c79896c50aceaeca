"""The Ray channel against ``ray.util.queue.Queue``, on the same records, in one run.

Both sides use the session's one local Ray instance (2 CPUs, loopback only) through one
actor each (``num_cpus=0``), created once per module, and move the same
:class:`bench_records.Order` values:

- single-item round trip: one ``send`` then one ``recv`` (klaw) against ``put`` then
  ``get`` (``ray.util.queue``'s blocking API, and its ``put_async`` / ``get_async``);
- batched throughput: 20,000 records in batches of 500, klaw ``send_batch`` /
  ``recv_batch`` against ``put_nowait_batch`` / ``get_nowait_batch``. "sequential" sends
  every batch then receives every batch, the only pattern ``ray.util.queue``'s
  non-blocking batch API allows from one thread; "pipelined" runs klaw's producer and
  consumer as concurrent tasks, as a service would. A sweep shows how the ratio moves
  with the batch size;
- wire bytes per record: the klaw envelope the sender hands to Ray against pickle and
  against what Ray's serializer makes of the same record(s) for ``ray.util.queue``.

Targets (issue 5): batched klaw throughput at least 5x ``ray.util.queue``'s batch API; a
single-item round trip no slower than ``ray.util.queue``'s. The ``ratio`` tests measure
the contenders alternately and print ``baseline time / klaw time`` (above 1: klaw is
faster). Timings are reported, never asserted.
"""

from __future__ import annotations

import asyncio
import pickle
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from ray.util.queue import Queue

from bench_records import Order, OrderRow, make_orders
from klaw_config import KlawConfig
from klaw_ray import RayReceiver, RaySender, channel
from klaw_wire import DataMessage, WireHeader, get_codec_pool

CAPACITY = 20_000
ROUND_TRIPS = 100  # per benchmark round: one Ray call costs milliseconds
BATCH_RECORDS = 20_000
BATCH = 500

SINGLE = make_orders(ROUND_TRIPS)
RECORDS = make_orders(BATCH_RECORDS)
CHUNKS = [RECORDS[i : i + BATCH] for i in range(0, BATCH_RECORDS, BATCH)]

KlawPair = tuple[RaySender[Order], RayReceiver[Order]]


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for every klaw call of the module (handles stay on one loop)."""
    with asyncio.Runner() as runner_:
        yield runner_


@pytest.fixture(scope="module")
def klaw(ray_config: KlawConfig, runner: asyncio.Runner) -> Iterator[KlawPair]:
    """A klaw Ray channel of orders, warmed up with one round trip."""
    tx, rx = runner.run(channel(CAPACITY, backend="ray", value_type=Order, config=ray_config))
    assert runner.run(_klaw_round_trips(tx, rx, SINGLE[:1])) == SINGLE[:1]
    yield tx, rx
    runner.run(tx.close())
    runner.run(rx.close())


@pytest.fixture(scope="module")
def queue(ray_config: KlawConfig) -> Iterator[Queue]:
    """A ``ray.util.queue.Queue`` of the same capacity, warmed up with one round trip."""
    queue_ = Queue(maxsize=CAPACITY, actor_options={"num_cpus": 0})
    assert _queue_round_trips(queue_, SINGLE[:1]) == SINGLE[:1]
    yield queue_
    queue_.shutdown()


# --- single-item round trips ----------------------------------------------------------


async def _klaw_round_trips(
    tx: RaySender[Order], rx: RayReceiver[Order], records: list[Order]
) -> list[Order]:
    received: list[Order] = []
    for record in records:
        await tx.send(record)
        received.append(await rx.recv())
    return received


def _queue_round_trips(queue_: Queue, records: list[Order]) -> list[Order]:
    received: list[Order] = []
    for record in records:
        queue_.put(record)
        received.append(queue_.get())
    return received


async def _queue_async_round_trips(queue_: Queue, records: list[Order]) -> list[Order]:
    received: list[Order] = []
    for record in records:
        await queue_.put_async(record)
        received.append(await queue_.get_async())
    return received


def klaw_single(klaw: KlawPair, runner: asyncio.Runner) -> list[Order]:
    return runner.run(_klaw_round_trips(*klaw, SINGLE))


def queue_single(queue_: Queue) -> list[Order]:
    return _queue_round_trips(queue_, SINGLE)


def queue_async_single(queue_: Queue, runner: asyncio.Runner) -> list[Order]:
    return runner.run(_queue_async_round_trips(queue_, SINGLE))


def _measure(
    benchmark: BenchmarkFixture,
    run: Callable[..., list[Order]],
    *args: object,
    rounds: int,
    warmup_rounds: int = 0,
) -> list[Order]:
    """Run ``benchmark.pedantic`` (untyped in pytest-benchmark), one call per round."""
    pedantic: Callable[..., list[Order]] = benchmark.pedantic
    return pedantic(run, args=args, rounds=rounds, iterations=1, warmup_rounds=warmup_rounds)


_SINGLE_GROUP = f"ray: {ROUND_TRIPS} single-record round trips per round"


@pytest.mark.benchmark(group=_SINGLE_GROUP)
def test_klaw_send_recv_round_trip(
    benchmark: BenchmarkFixture, klaw: KlawPair, runner: asyncio.Runner
) -> None:
    received = _measure(benchmark, klaw_single, klaw, runner, rounds=4)
    assert received == SINGLE


@pytest.mark.benchmark(group=_SINGLE_GROUP)
def test_ray_queue_put_get_round_trip(benchmark: BenchmarkFixture, queue: Queue) -> None:
    received = _measure(benchmark, queue_single, queue, rounds=4)
    assert received == SINGLE


@pytest.mark.benchmark(group=_SINGLE_GROUP)
def test_ray_queue_put_async_get_async_round_trip(
    benchmark: BenchmarkFixture, queue: Queue, runner: asyncio.Runner
) -> None:
    received = _measure(benchmark, queue_async_single, queue, runner, rounds=4)
    assert received == SINGLE


# --- batched throughput ---------------------------------------------------------------


async def _klaw_sequential(tx: RaySender[Order], rx: RayReceiver[Order]) -> list[Order]:
    for chunk in CHUNKS:
        await tx.send_batch(chunk)
    received: list[Order] = []
    while len(received) < BATCH_RECORDS:
        received.extend(await rx.recv_batch(BATCH))
    return received


async def _klaw_pipelined(tx: RaySender[Order], rx: RayReceiver[Order]) -> list[Order]:
    received: list[Order] = []

    async def produce() -> None:
        for chunk in CHUNKS:
            await tx.send_batch(chunk)

    async def consume() -> None:
        while len(received) < BATCH_RECORDS:
            received.extend(await rx.recv_batch(BATCH))

    await asyncio.gather(produce(), consume())
    return received


def klaw_sequential(klaw: KlawPair, runner: asyncio.Runner) -> list[Order]:
    return runner.run(_klaw_sequential(*klaw))


def klaw_pipelined(klaw: KlawPair, runner: asyncio.Runner) -> list[Order]:
    return runner.run(_klaw_pipelined(*klaw))


def queue_batched(queue_: Queue) -> list[Order]:
    for chunk in CHUNKS:
        queue_.put_nowait_batch(chunk)
    received: list[Order] = []
    for _ in CHUNKS:
        received.extend(queue_.get_nowait_batch(BATCH))
    return received


_BATCH_GROUP = f"ray: {BATCH_RECORDS:,} records in batches of {BATCH}"


@pytest.mark.benchmark(group=_BATCH_GROUP)
def test_klaw_batches_sequential(
    benchmark: BenchmarkFixture, klaw: KlawPair, runner: asyncio.Runner
) -> None:
    received = _measure(benchmark, klaw_sequential, klaw, runner, rounds=3, warmup_rounds=1)
    assert received == RECORDS


@pytest.mark.benchmark(group=_BATCH_GROUP)
def test_klaw_batches_pipelined(
    benchmark: BenchmarkFixture, klaw: KlawPair, runner: asyncio.Runner
) -> None:
    received = _measure(benchmark, klaw_pipelined, klaw, runner, rounds=3, warmup_rounds=1)
    assert received == RECORDS


@pytest.mark.benchmark(group=_BATCH_GROUP)
def test_ray_queue_nowait_batches(benchmark: BenchmarkFixture, queue: Queue) -> None:
    received = _measure(benchmark, queue_batched, queue, rounds=3, warmup_rounds=1)
    assert received == RECORDS


# --- ratios ---------------------------------------------------------------------------


def _timed(run: Callable[[], list[Order]], expected: list[Order]) -> float:
    start = time.perf_counter()
    received = run()
    elapsed = time.perf_counter() - start
    assert received == expected
    return elapsed


def _alternate(
    contenders: dict[str, Callable[[], list[Order]]], expected: list[Order], rounds: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            times[name].append(_timed(run, expected))
    return times


def test_ratio_single_round_trip(
    klaw: KlawPair, queue: Queue, runner: asyncio.Runner, report: Callable[[str], None]
) -> None:
    times = _alternate(
        {
            "klaw send/recv": lambda: klaw_single(klaw, runner),
            "ray.util.queue put/get": lambda: queue_single(queue),
            "ray.util.queue put_async/get_async": lambda: queue_async_single(queue, runner),
        },
        SINGLE,
        rounds=5,
    )
    per_trip = {name: statistics.median(t) / ROUND_TRIPS for name, t in times.items()}
    ours = per_trip["klaw send/recv"]
    report(f"\nray single-record round trip, median of 5 x {ROUND_TRIPS}, alternated:")
    for name, seconds in per_trip.items():
        report(f"  {name:<36} {seconds * 1e3:6.2f} ms per round trip")
    for name in ("ray.util.queue put/get", "ray.util.queue put_async/get_async"):
        report(
            f"ratio: klaw round trip vs {name} = {per_trip[name] / ours:.2f}x "
            f"(baseline time / klaw time; target >= 1.00x)"
        )


def test_ratio_batched(
    klaw: KlawPair, queue: Queue, runner: asyncio.Runner, report: Callable[[str], None]
) -> None:
    times = _alternate(
        {
            "klaw send_batch/recv_batch sequential": lambda: klaw_sequential(klaw, runner),
            "klaw send_batch/recv_batch pipelined": lambda: klaw_pipelined(klaw, runner),
            "ray.util.queue *_nowait_batch": lambda: queue_batched(queue),
        },
        RECORDS,
        rounds=3,
    )
    best = {name: min(t) for name, t in times.items()}
    base = best["ray.util.queue *_nowait_batch"]
    report(
        f"\nray batched, {BATCH_RECORDS:,} records in batches of {BATCH}, best of 3, alternated:"
    )
    for name, seconds in best.items():
        report(
            f"  {name:<38} {BATCH_RECORDS / seconds / 1e3:7.1f} k records/s "
            f"({seconds * 1e3:6.1f} ms)"
        )
    for name in ("klaw send_batch/recv_batch sequential", "klaw send_batch/recv_batch pipelined"):
        report(
            f"ratio: {name} vs ray.util.queue batch API = {base / best[name]:.2f}x "
            f"(baseline time / klaw time; target >= 5.00x)"
        )


SWEEP_BATCHES = (100, 500, 2_000, 10_000)


def test_ratio_batched_by_batch_size(
    klaw: KlawPair, queue: Queue, runner: asyncio.Runner, report: Callable[[str], None]
) -> None:
    """Where the batched ratio goes with the batch size (sequential pattern, same records).

    Each batch costs klaw two actor calls whatever its size; per record, klaw pays a
    msgspec encode, validation and decode where ``ray.util.queue`` pays Ray's pickling
    of every object. The ratio therefore grows with the batch size.
    """
    report(f"\nray batched by batch size, {BATCH_RECORDS:,} records, sequential, best of 2:")
    for size in SWEEP_BATCHES:
        chunks = [RECORDS[i : i + size] for i in range(0, BATCH_RECORDS, size)]

        async def klaw_run(chunks: list[list[Order]] = chunks, size: int = size) -> list[Order]:
            tx, rx = klaw
            for chunk in chunks:
                await tx.send_batch(chunk)
            received: list[Order] = []
            while len(received) < BATCH_RECORDS:
                received.extend(await rx.recv_batch(size))
            return received

        def queue_run(chunks: list[list[Order]] = chunks) -> list[Order]:
            for chunk in chunks:
                queue.put_nowait_batch(chunk)
            received: list[Order] = []
            for chunk in chunks:
                received.extend(queue.get_nowait_batch(len(chunk)))
            return received

        times = _alternate(
            {"klaw": lambda: runner.run(klaw_run()), "queue": queue_run}, RECORDS, rounds=2
        )
        ours, base = min(times["klaw"]), min(times["queue"])
        report(
            f"  batch {size:>6,}: klaw {ours * 1e6 / BATCH_RECORDS:5.2f} us/record, "
            f"ray.util.queue {base * 1e6 / BATCH_RECORDS:5.2f} us/record, "
            f"ratio {base / ours:.2f}x"
        )


# --- wire bytes -----------------------------------------------------------------------


def _envelope(records: list[Any]) -> bytes:
    """Encode records as the klaw sender does: one ``DataMessage[list[T]]``."""
    header = WireHeader(channel_id="", seq=123_456, ts=time.time_ns() // 1_000_000)
    return get_codec_pool().encode(DataMessage(header=header, payload=records))


def _ray_serialized_size(value: object) -> int:
    """Bytes Ray's own serializer produces for ``value`` (how it ships a call argument).

    Ray packs containers with msgpack and pickles the Python objects inside them (protocol
    5) as one stream; ``bytes`` travel as they are.
    """
    from ray._private.serialization import SerializationContext
    from ray._private.worker import global_worker

    context: Any = SerializationContext  # untyped in Ray
    size: int = context(global_worker).serialize(value).total_bytes
    return size


def test_wire_bytes_per_record(report: Callable[[str], None]) -> None:
    record, chunk = RECORDS[0], CHUNKS[0]
    rows = [OrderRow(*msgspec.structs.astuple(order)) for order in chunk]
    codec = get_codec_pool()
    single, batch = _envelope([record]), _envelope(chunk)
    assert codec.decode_data(single, list[Order]).payload == [record]
    assert codec.decode_data(batch, list[Order]).payload == chunk
    assert codec.decode_data(_envelope(rows), list[OrderRow]).payload == rows
    assert pickle.loads(pickle.dumps(chunk, protocol=5)) == chunk
    sizes: dict[str, tuple[float, float]] = {
        "klaw envelope (what klaw ships)": (len(single), len(batch) / BATCH),
        "  the records alone (msgpack)": (
            len(msgspec.msgpack.encode(record)),
            len(msgspec.msgpack.encode(chunk)) / BATCH,
        ),
        "  envelope, array_like=True record": (
            len(_envelope(rows[:1])),
            len(_envelope(rows)) / BATCH,
        ),
        "pickle, protocol 5": (
            len(pickle.dumps(record, protocol=5)),
            len(pickle.dumps(chunk, protocol=5)) / BATCH,
        ),
        "Ray serializer (what the queue ships)": (
            _ray_serialized_size(record),
            _ray_serialized_size(chunk) / BATCH,
        ),
    }
    report(f"\nwire bytes per record, {record!r}:")
    report(f"  {'':<38} {'one record':>10} {f'batch of {BATCH}':>14}")
    for name, (one, many) in sizes.items():
        report(f"  {name:<38} {one:>10.0f} {many:>14.1f}")
    klaw_one, klaw_many = sizes["klaw envelope (what klaw ships)"]
    for baseline in ("pickle, protocol 5", "Ray serializer (what the queue ships)"):
        one, many = sizes[baseline]
        report(
            f"ratio: klaw envelope bytes / {baseline} bytes per record = "
            f"{klaw_one / one:.2f} (one record), {klaw_many / many:.2f} (batch of {BATCH})"
        )
