"""A stage against the hand-written consumer loop it replaces, same workers, same run.

Issue 14's target: a stage with a trivial function moves values at >= 0.9x the
throughput of the loop users write by hand (``async for order in source: await
sink.send(price(order))`` in each of N Ray tasks), with the same number of workers, the
same channels and the same producer and consumer in the driver.

Each measurement first moves a warm-up batch through the workers, so that worker
start-up (a Ray actor process for a stage worker, a pooled task worker for the loop) is
not counted; then it times ``VALUES`` orders from the first send to the last result.
The two alternate, twice each, and the best of each is compared. Reported, never
asserted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import ray

from bench_records import Order, make_orders
from bench_stage_functions import Priced, hand_written_worker, price
from klaw_config import KlawConfig
from klaw_ray import RayReceiver, RaySender, channel, stage

WORKERS = 2
VALUES = 40_000
WARM_UP = 2_000
CAPACITY = 1024
ROUNDS = 3

Start = Callable[[RayReceiver[Order], RaySender[Priced]], Awaitable[Callable[[], Awaitable[Any]]]]
"""Starts the workers between two channels; returns how to wait for them to finish."""


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for the module's driver-side calls."""
    with asyncio.Runner() as runner_:
        yield runner_


async def _start_hand_written(
    source: RayReceiver[Order], sink: RaySender[Priced]
) -> Callable[[], Awaitable[Any]]:
    task = ray.remote(num_cpus=0, max_retries=0)(hand_written_worker)
    refs = [task.remote(source.clone(), sink.clone()) for _ in range(WORKERS)]
    await source.close()
    await sink.close()

    async def finished() -> Any:
        return await asyncio.gather(*refs)

    return finished


def _start_stage(config: KlawConfig) -> Start:
    async def start(
        source: RayReceiver[Order], sink: RaySender[Priced]
    ) -> Callable[[], Awaitable[Any]]:
        return stage(price, source, sink, workers=WORKERS, config=config).wait

    return start


async def _move(tx: RaySender[Order], rx: RayReceiver[Priced], orders: list[Order]) -> None:
    async def produce() -> None:
        for first in range(0, len(orders), 1_000):
            await tx.send_batch(orders[first : first + 1_000])
        await tx.flush()

    async def consume() -> None:
        got = 0
        while got < len(orders):
            got += len(await rx.recv_batch(1_000))

    await asyncio.gather(produce(), consume())


def _values_per_second(runner: asyncio.Runner, config: KlawConfig, start: Start) -> float:
    async def run() -> float:
        orders_tx, orders_rx = await channel(
            CAPACITY, value_type=Order, backend="ray", config=config
        )
        priced_tx, priced_rx = await channel(
            CAPACITY, value_type=Priced, backend="ray", config=config
        )
        finished = await start(orders_rx, priced_tx)
        await _move(orders_tx, priced_rx, make_orders(WARM_UP))  # the workers are up
        started = time.perf_counter()
        await _move(orders_tx, priced_rx, make_orders(VALUES, WARM_UP))
        elapsed = time.perf_counter() - started
        await orders_tx.close()
        assert await priced_rx.recv_batch(1, timeout=0) == []
        await finished()
        await priced_rx.close()
        return VALUES / elapsed

    return runner.run(run())


def test_stage_against_the_hand_written_loop(
    runner: asyncio.Runner, ray_config: KlawConfig, report: Callable[[str], None]
) -> None:
    loops: list[float] = []
    stages: list[float] = []
    for _ in range(ROUNDS):
        loops.append(_values_per_second(runner, ray_config, _start_hand_written))
        stages.append(_values_per_second(runner, ray_config, _start_stage(ray_config)))
    loop, staged = max(loops), max(stages)
    report(
        f"stage vs hand-written loop ({WORKERS} workers, {VALUES:,} orders): "
        f"stage {staged:,.0f}/s, loop {loop:,.0f}/s, ratio {staged / loop:.2f}x (target >= 0.9x)"
    )
    assert staged > 0
