"""The local channel against ``asyncio.Queue`` and anyio memory object streams.

One producer task and one consumer task move 200,000 ints through a buffer of 1024 on
one event loop. Every contender is driven the same way: the producer awaits one send per
item (or one ``send_batch`` per 256 items), the consumer awaits one receive per item (or
one ``recv_batch(256)``) and appends what it gets to a list, checked after the run.

Target (issue 5): klaw's throughput at least 0.7x ``asyncio.Queue``'s and far above
anyio's. The ``ratio`` test measures the contenders alternately, best of several rounds
each, and prints throughput ratios; timings are reported, never asserted.

With a buffer of 1024 a task rarely waits; ``test_ratio_when_every_operation_waits``
uses a buffer of 1, where every send and receive waits and the value is handed over from
one task to the other, to measure the waiting path against ``asyncio.Queue(1)``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from klaw_config import KlawConfig
from klaw_ray import EndOfStreamError, LocalReceiver, LocalSender, channel

N_ITEMS = 200_000
CAPACITY = 1024
BATCH = 256
EXPECTED = list(range(N_ITEMS))

Run = Callable[[], Coroutine[Any, Any, list[int]]]


async def _klaw_channel() -> tuple[LocalSender[int], LocalReceiver[int]]:
    return await channel(CAPACITY, value_type=int, config=KlawConfig())


async def klaw_send_recv() -> list[int]:
    tx, rx = await _klaw_channel()
    received: list[int] = []

    async def produce() -> None:
        send = tx.send
        for i in range(N_ITEMS):
            await send(i)

    async def consume() -> None:
        recv, append = rx.recv, received.append
        for _ in range(N_ITEMS):
            append(await recv())

    await asyncio.gather(produce(), consume())
    return received


async def klaw_async_for() -> list[int]:
    """Idiomatic klaw: the producer closes its sender, ``async for`` ends the consumer."""
    tx, rx = await _klaw_channel()
    received: list[int] = []

    async def produce() -> None:
        async with tx:
            send = tx.send
            for i in range(N_ITEMS):
                await send(i)

    async def consume() -> None:
        append = received.append
        async for value in rx:
            append(value)

    await asyncio.gather(produce(), consume())
    return received


async def klaw_batches() -> list[int]:
    tx, rx = await _klaw_channel()
    received: list[int] = []

    async def produce() -> None:
        async with tx:
            for start in range(0, N_ITEMS, BATCH):
                await tx.send_batch(range(start, min(start + BATCH, N_ITEMS)))

    async def consume() -> None:
        extend = received.extend
        try:
            while True:
                extend(await rx.recv_batch(BATCH))
        except EndOfStreamError:
            pass

    await asyncio.gather(produce(), consume())
    return received


async def asyncio_queue() -> list[int]:
    queue: asyncio.Queue[int] = asyncio.Queue(CAPACITY)
    received: list[int] = []

    async def produce() -> None:
        put = queue.put
        for i in range(N_ITEMS):
            await put(i)

    async def consume() -> None:
        get, append = queue.get, received.append
        for _ in range(N_ITEMS):
            append(await get())

    await asyncio.gather(produce(), consume())
    return received


async def anyio_stream() -> list[int]:
    send_stream, receive_stream = anyio.create_memory_object_stream[int](CAPACITY)
    received: list[int] = []

    async def produce() -> None:
        async with send_stream:
            send = send_stream.send
            for i in range(N_ITEMS):
                await send(i)

    async def consume() -> None:
        async with receive_stream:
            receive, append = receive_stream.receive, received.append
            for _ in range(N_ITEMS):
                append(await receive())

    await asyncio.gather(produce(), consume())
    return received


CONTENDERS: dict[str, Run] = {
    "klaw send/recv": klaw_send_recv,
    "klaw async for": klaw_async_for,
    "klaw send_batch/recv_batch": klaw_batches,
    "asyncio.Queue put/get": asyncio_queue,
    "anyio memory stream": anyio_stream,
}


def _run(run: Run) -> list[int]:
    return asyncio.run(run())


@pytest.mark.benchmark(group="local: 200,000 ints, 1 producer, 1 consumer, capacity 1024")
@pytest.mark.parametrize("name", list(CONTENDERS))
def test_throughput(benchmark: BenchmarkFixture, name: str) -> None:
    run = CONTENDERS[name]
    pedantic: Callable[..., list[int]] = benchmark.pedantic  # untyped in pytest-benchmark
    received = pedantic(_run, args=(run,), rounds=3, iterations=1, warmup_rounds=1)
    assert received == EXPECTED


def _timed(run: Run) -> float:
    start = time.perf_counter()
    received = _run(run)
    elapsed = time.perf_counter() - start
    assert received == EXPECTED
    return elapsed


def test_ratio(report: Callable[[str], None]) -> None:
    """Alternate the contenders round by round; compare each one's best round."""
    best = dict.fromkeys(CONTENDERS, float("inf"))
    for _ in range(4):
        for name, run in CONTENDERS.items():
            best[name] = min(best[name], _timed(run))
    base = best["asyncio.Queue put/get"]
    anyio_time = best["anyio memory stream"]
    report(
        f"\nlocal, {N_ITEMS:,} ints, capacity {CAPACITY}, best of 4 "
        f"(items/s; throughput ratio = baseline time / klaw time):"
    )
    for name, elapsed in best.items():
        report(f"  {name:<28} {N_ITEMS / elapsed / 1e6:6.2f} M items/s  ({elapsed * 1e3:7.1f} ms)")
    for name in ("klaw send/recv", "klaw async for", "klaw send_batch/recv_batch"):
        report(
            f"ratio: {name} vs asyncio.Queue = {base / best[name]:.2f}x (issue 10: >= 1.0x); "
            f"vs anyio = {anyio_time / best[name]:.2f}x"
        )


N_HANDED = 50_000


async def klaw_handed_over() -> list[int]:
    tx, rx = await channel(1, value_type=int, config=KlawConfig())
    received: list[int] = []

    async def produce() -> None:
        send = tx.send
        for i in range(N_HANDED):
            await send(i)

    async def consume() -> None:
        recv, append = rx.recv, received.append
        for _ in range(N_HANDED):
            append(await recv())

    await asyncio.gather(produce(), consume())
    return received


async def asyncio_queue_of_one() -> list[int]:
    queue: asyncio.Queue[int] = asyncio.Queue(1)
    received: list[int] = []

    async def produce() -> None:
        put = queue.put
        for i in range(N_HANDED):
            await put(i)

    async def consume() -> None:
        get, append = queue.get, received.append
        for _ in range(N_HANDED):
            append(await get())

    await asyncio.gather(produce(), consume())
    return received


def test_ratio_when_every_operation_waits(report: Callable[[str], None]) -> None:
    """Capacity 1: each value is handed over by a woken task; best of 4, alternating."""
    contenders: dict[str, Run] = {
        "klaw send/recv": klaw_handed_over,
        "asyncio.Queue(1) put/get": asyncio_queue_of_one,
    }
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(4):
        for name, run in contenders.items():
            start = time.perf_counter()
            received = _run(run)
            best[name] = min(best[name], time.perf_counter() - start)
            assert received == list(range(N_HANDED))
    ratio = best["asyncio.Queue(1) put/get"] / best["klaw send/recv"]
    report(
        f"\nlocal, {N_HANDED:,} ints, capacity 1 (every operation waits), best of 4:\n"
        f"ratio: klaw send/recv vs asyncio.Queue(1) = {ratio:.2f}x"
    )
