"""Per-value streaming on Ray: klaw's plain loops against ``ray.util.queue``, in one run.

What users write: a producer task doing ``for x in xs: await tx.send(x)`` and a consumer
task doing ``async for x in rx``. klaw's sender coalesces those sends into batches and its
receiver prefetches; ``ray.util.queue`` makes one actor call per ``put`` and per ``get``.
Measured here, each against its baseline in the same run (issue 10's targets):

- 1 producer task -> 1 consumer task, per value: values/s, klaw over ``ray.util.queue``;
- 4 producer tasks x 4 consumer tasks, per value, each value exactly once: values/s, and
  the share each of the 4 consumers got;
- a driver loop of ``send_batch(1000)`` + ``recv_batch(1000)``, against
  ``ray.util.queue``'s ``put_nowait_batch`` / ``get_nowait_batch``;
- the latency of one value sent to a consumer task already waiting in ``recv``, echoed
  back: klaw's round trip over ``ray.util.queue``'s (the target is at most 1.5x);
- a durable channel's driver batch loop against the same channel in memory (issue 11's
  target: at least half the throughput);
- the floor under all of them: what Ray's calls cost with no klaw code (an empty call,
  and the batch loop's put and get carrying the same bytes), against klaw's batch loop.

The per-value rows also print the actor calls the run made per 1,000 values
(``ChannelStats.calls``): on Ray, that is what they depend on.

Tasks are warmed up first, so worker start-up is not measured. Figures are reported,
never asserted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import ray
from ray.util.queue import Queue

from bench_records import Order, make_orders
from klaw_config import ChannelDefaults, KlawConfig
from klaw_ray import ChannelStats, RayReceiver, RaySender, channel

PER_VALUE = 100_000
QUEUE_PER_VALUE = 3_000  # ray.util.queue: one actor call per value, so fewer of them
CAPACITY = 1024
ECHOES = 30
_BATCH_ROUNDS = 100  # of send_batch(1000) + recv_batch(1000): about half a second


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for the module's klaw calls from the driver."""
    with asyncio.Runner() as runner_:
        yield runner_


@ray.remote(num_cpus=0, max_retries=0)
def _klaw_produce(tx: RaySender[Order], first: int, count: int) -> float:
    async def run() -> float:
        orders = make_orders(count, first)
        started = time.perf_counter()
        async with tx:
            for order in orders:
                await tx.send(order)
        return started

    return asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def _klaw_consume(rx: RayReceiver[Order]) -> tuple[int, float]:
    async def run() -> tuple[int, float]:
        count = 0
        async with rx:
            async for _ in rx:
                count += 1
        return count, time.perf_counter()

    return asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def _queue_produce(queue: Queue, count: int) -> float:
    started = time.perf_counter()
    for order in make_orders(count):
        queue.put(order)
    return started


@ray.remote(num_cpus=0, max_retries=0)
def _queue_consume(queue: Queue, count: int) -> float:
    for _ in range(count):
        queue.get()
    return time.perf_counter()


def _klaw_streaming(
    runner: asyncio.Runner,
    config: KlawConfig,
    producers: int,
    consumers: int,
    total: int,
    capacity: int = CAPACITY,
) -> tuple[float, list[int], str]:
    """Values/s of ``producers`` x ``consumers`` tasks, each consumer's count, and how
    the channel's actor calls carried them (:func:`_calls_per_value`)."""

    async def run() -> tuple[float, list[int], str]:
        tx, rx = await channel(capacity, backend="ray", value_type=Order, config=config)
        share = total // producers
        receiving = [_klaw_consume.remote(rx.clone()) for _ in range(consumers)]
        sending = [_klaw_produce.remote(tx.clone(), p * share, share) for p in range(producers)]
        await tx.close()  # the driver's receiver stays open, unread, to read the figures
        starts = await asyncio.gather(*sending)
        results = await asyncio.gather(*receiving)
        calls = _calls_per_value(await rx.stats())
        await rx.close()
        counts = [count for count, _ in results]
        assert sum(counts) == share * producers
        seconds = max(end for _, end in results) - min(starts)
        return share * producers / seconds, counts, calls

    return runner.run(run())


def _calls_per_value(stats: ChannelStats) -> str:
    """The actor calls per 1,000 values of a finished run, and what a put and a get carried.

    An actor call costs the same whatever it carries (``test_what_ray_costs``), so on
    Ray this is what the per-value figures depend on.
    """
    data = sum(stats.calls.get(method, 0) for method in ("put", "get", "reserve", "ack"))
    per_put = stats.total_sent / max(1, stats.calls.get("put", 0))
    per_get = stats.total_received / max(1, stats.calls.get("get", 0))
    return (
        f"{1000 * data / max(1, stats.total_sent):.1f} put/get/reserve/ack calls per 1,000 "
        f"values, {per_put:.0f} values a put, {per_get:.0f} a get"
    )


def _queue_streaming(total: int) -> float:
    queue = Queue(maxsize=CAPACITY, actor_options={"num_cpus": 0})
    try:
        end = _queue_consume.remote(queue, total)
        start = _queue_produce.remote(queue, total)
        return total / (ray.get(end) - ray.get(start))
    finally:
        queue.shutdown()


def test_per_value_one_producer_task_to_one_consumer_task(
    ray_config: KlawConfig, runner: asyncio.Runner, report: Callable[[str], None]
) -> None:
    _klaw_streaming(runner, ray_config, 1, 1, 2_000)  # warm the workers up
    _queue_streaming(200)
    klaw, _, calls = _klaw_streaming(runner, ray_config, 1, 1, PER_VALUE)
    queue = _queue_streaming(QUEUE_PER_VALUE)
    report(
        f"streaming 1->1 per value: klaw {klaw:,.0f} values/s, ray.util.queue "
        f"{queue:,.0f} values/s, ratio {klaw / queue:.1f}x (targets >= 50,000/s and >= 50x); "
        f"{calls}"
    )


def test_per_value_four_producer_tasks_by_four_consumer_tasks(
    ray_config: KlawConfig, runner: asyncio.Runner, report: Callable[[str], None]
) -> None:
    _klaw_streaming(runner, ray_config, 4, 4, 4_000)  # warm the workers up
    rate, counts, calls = _klaw_streaming(runner, ray_config, 4, 4, PER_VALUE)
    shares = ", ".join(f"{count / sum(counts):.0%}" for count in counts)
    report(
        f"streaming 4x4 per value: klaw {rate:,.0f} values/s, every value once; consumer "
        f"shares {shares} (target >= 50,000/s); {calls}"
    )
    # What the capacity buys: eight handles share it, and it bounds what each call carries.
    rate, counts, calls = _klaw_streaming(runner, ray_config, 4, 4, PER_VALUE, capacity=4096)
    shares = ", ".join(f"{count / sum(counts):.0%}" for count in counts)
    report(
        f"streaming 4x4 per value, capacity 4,096: klaw {rate:,.0f} values/s; consumer "
        f"shares {shares}; {calls}"
    )


def _klaw_batch_loop(runner: asyncio.Runner, config: KlawConfig, durable: bool) -> float:
    records = make_orders(1000)

    async def run() -> float:
        name = f"bench_durable_{time.time_ns()}" if durable else None
        tx, rx = await channel(
            4096, backend="ray", value_type=Order, name=name, durable=durable, config=config
        )
        started = time.perf_counter()
        for _ in range(_BATCH_ROUNDS):
            await tx.send_batch(records)
            got = 0
            while got < len(records):
                got += len(await rx.recv_batch(1000))
        seconds = time.perf_counter() - started
        await tx.close()
        await rx.close()
        return _BATCH_ROUNDS * len(records) / seconds

    return runner.run(run())


def _queue_batch_loop() -> float:
    queue = Queue(maxsize=4096, actor_options={"num_cpus": 0})
    records = make_orders(1000)
    try:
        started = time.perf_counter()
        for _ in range(20):
            queue.put_nowait_batch(records)
            queue.get_nowait_batch(len(records))
        return 20 * len(records) / (time.perf_counter() - started)
    finally:
        queue.shutdown()


def test_driver_batch_loop(
    ray_config: KlawConfig, runner: asyncio.Runner, report: Callable[[str], None]
) -> None:
    _klaw_batch_loop(runner, ray_config, durable=False)
    klaw = statistics.median(_klaw_batch_loop(runner, ray_config, durable=False) for _ in range(3))
    queue = statistics.median(_queue_batch_loop() for _ in range(3))
    report(
        f"driver send_batch(1000)+recv_batch(1000): klaw {klaw:,.0f} values/s, "
        f"ray.util.queue batch API {queue:,.0f} values/s, ratio {klaw / queue:.1f}x "
        "(targets >= 400,000/s and >= 5x)"
    )


@ray.remote(num_cpus=0)
class _BareChannel:
    """The two calls of a batch round with no klaw code: a put keeps bytes, a get waits
    for them and returns them (what a klaw channel's actor does, minus checking,
    queueing and leasing each value)."""

    def __init__(self) -> None:
        self._batches: asyncio.Queue[bytes] = asyncio.Queue()

    async def put(self, batch: bytes) -> int:
        self._batches.put_nowait(batch)
        return 1

    async def get(self) -> bytes:
        return await self._batches.get()

    async def nothing(self) -> None:
        return None


def _bare_floor(runner: asyncio.Runner) -> tuple[float, float, float, float]:
    """Ray's own cost, measured like the klaw loops: an empty call's round trip (s),
    empty calls/s with 8 in flight, and the batch loop's two calls carrying the bytes of
    1,000 encoded ``Order``s, awaited one after the other and submitted together
    (values/s each)."""
    actor = _BareChannel.remote()  # type: ignore[attr-defined]
    batch = msgspec.msgpack.encode(make_orders(1000))

    async def run() -> tuple[float, float, float, float]:
        await actor.nothing.remote()
        started = time.perf_counter()
        for _ in range(200):
            await actor.nothing.remote()
        round_trip = (time.perf_counter() - started) / 200

        async def eight_wide() -> None:
            for _ in range(100):
                await actor.nothing.remote()

        started = time.perf_counter()
        await asyncio.gather(*(eight_wide() for _ in range(8)))
        calls = 800 / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(_BATCH_ROUNDS):
            await actor.put.remote(batch)
            await actor.get.remote()
        one_by_one = _BATCH_ROUNDS * 1000 / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(_BATCH_ROUNDS):
            put, get = actor.put.remote(batch), actor.get.remote()
            await get
            await put
        together = _BATCH_ROUNDS * 1000 / (time.perf_counter() - started)
        return round_trip, calls, one_by_one, together

    try:
        return runner.run(run())
    finally:
        ray.kill(actor)


def test_what_ray_costs(
    ray_config: KlawConfig, runner: asyncio.Runner, report: Callable[[str], None]
) -> None:
    """The floor under the Ray figures: what the calls klaw makes cost with no klaw code."""
    _bare_floor(runner)
    round_trip, calls, one_by_one, together = _bare_floor(runner)
    klaw = statistics.median(_klaw_batch_loop(runner, ray_config, durable=False) for _ in range(3))
    report(
        f"Ray alone: an empty actor call takes {round_trip * 1000:.2f} ms there and back, "
        f"{calls:,.0f} empty calls/s with 8 in flight; the batch loop's put and get of the "
        f"same bytes with no klaw code: {one_by_one:,.0f} values/s awaited in turn, "
        f"{together:,.0f} submitted together; klaw's batch loop {klaw:,.0f} values/s is "
        f"{klaw / together:.0%} of that"
    )


def test_durable_batch_loop_against_in_memory(
    ray_config: KlawConfig,
    runner: asyncio.Runner,
    report: Callable[[str], None],
    tmp_path: Path,
) -> None:
    config = msgspec.structs.replace(
        ray_config, channels=ChannelDefaults(storage_dir=str(tmp_path))
    )
    memory, durable = [], []
    for _ in range(3):  # alternate, so both see the same machine
        memory.append(_klaw_batch_loop(runner, config, durable=False))
        durable.append(_klaw_batch_loop(runner, config, durable=True))
    report(
        f"durable batch loop: {statistics.median(durable):,.0f} values/s against "
        f"{statistics.median(memory):,.0f} in memory, "
        f"{statistics.median(durable) / statistics.median(memory):.0%} (target >= 50%)"
    )


@ray.remote(num_cpus=0, max_retries=0)
def _klaw_echo(rx: RayReceiver[Order], tx: RaySender[Order], count: int) -> None:
    async def run() -> None:
        async with rx, tx:
            for _ in range(count):
                await tx.send(await rx.recv())
                await tx.flush()

    asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def _queue_echo(inbox: Queue, outbox: Queue, count: int) -> None:
    for _ in range(count):
        outbox.put(inbox.get())


def _klaw_latency(runner: asyncio.Runner, config: KlawConfig) -> float:
    async def run() -> float:
        to_task, from_driver = await channel(16, backend="ray", value_type=Order, config=config)
        to_driver, from_task = await channel(16, backend="ray", value_type=Order, config=config)
        echo = _klaw_echo.remote(from_driver, to_driver, ECHOES + 1)
        order = make_orders(1)[0]
        await to_task.send(order)  # the first echo starts the task
        await to_task.flush()
        await from_task.recv()
        times = []
        for _ in range(ECHOES):
            started = time.perf_counter()
            await to_task.send(order)
            await to_task.flush()
            await from_task.recv()
            times.append(time.perf_counter() - started)
        await echo
        return statistics.median(times)

    return runner.run(run())


def _queue_latency() -> float:
    inbox = Queue(maxsize=16, actor_options={"num_cpus": 0})
    outbox = Queue(maxsize=16, actor_options={"num_cpus": 0})
    try:
        echo = _queue_echo.remote(inbox, outbox, ECHOES + 1)
        order: Any = make_orders(1)[0]
        inbox.put(order)
        outbox.get()
        times = []
        for _ in range(ECHOES):
            started = time.perf_counter()
            inbox.put(order)
            outbox.get()
            times.append(time.perf_counter() - started)
        ray.get(echo)
        return statistics.median(times)
    finally:
        inbox.shutdown()
        outbox.shutdown()


def test_latency_to_a_waiting_consumer(
    ray_config: KlawConfig, runner: asyncio.Runner, report: Callable[[str], None]
) -> None:
    klaw = _klaw_latency(runner, ray_config)
    queue = _queue_latency()
    report(
        f"echo driver -> task -> driver: klaw {klaw * 1000:.2f} ms, ray.util.queue "
        f"{queue * 1000:.2f} ms, ratio {klaw / queue:.2f}x (target <= 1.5x)"
    )
