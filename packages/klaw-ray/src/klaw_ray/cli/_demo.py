"""``klaw demo``: a typed producer/consumer pipeline, measured end to end.

Several producers send :class:`Order` records through one klaw channel with a plain
``send`` each, several consumers receive them with ``async for`` and aggregate them (on
Ray the channel batches behind their backs), and the driver prints
what it measured: throughput, wire bytes per record (against pickle), end-to-end latency
and a check that every order arrived exactly once.

On the Ray backend the producers and consumers are Ray tasks with ``num_cpus=0``: a task
that awaits channel calls in its own event loop holds its CPU while it waits, so with the
default ``num_cpus=1`` producers and consumers on a small node could wait on each other
forever. Latency is measured from the time a producer stamped into each record to the
time a consumer took it, on one machine's clock.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

import msgspec

from klaw_config import KlawConfig
from klaw_ray.cli._records import Order
from klaw_ray.factory import Backend, channel
from klaw_ray.protocols import Receiver, Sender
from klaw_wire import (
    DataMessage,
    WireHeader,
    get_codec_pool,
)

__all__ = [
    "ConsumerSummary",
    "DemoOptions",
    "DemoReport",
    "consume",
    "produce",
    "progress_bar",
    "run_demo",
]


class ConsumerSummary(msgspec.Struct, frozen=True, gc=False):
    """What one consumer saw.

    Attributes:
        order_ids: The ids of the orders it received, in the order received.
        latencies_ns: Send-to-receive latency of each of those orders.
        revenue: Sum of quantity * unit_price over its orders.
        first_sent_ns: Earliest ``created_ns`` among its orders (0 if none).
        last_received_ns: When it received its last order (0 if none).
    """

    order_ids: list[int]
    latencies_ns: list[int]
    revenue: float
    first_sent_ns: int = 0
    last_received_ns: int = 0


@dataclass(frozen=True)
class DemoOptions:
    """The demo's knobs (the command line's options).

    Attributes:
        backend: ``"ray"`` or ``"local"``.
        messages: Orders to send in total.
        producers: Producer tasks.
        consumers: Consumer tasks.
        capacity: Channel capacity.
    """

    backend: Backend = "ray"
    messages: int = 20_000
    producers: int = 2
    consumers: int = 2
    capacity: int = 1024

    def __post_init__(self) -> None:
        for name in ("messages", "producers", "consumers", "capacity"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if self.backend not in ("local", "ray"):
            raise ValueError(f"--backend must be 'local' or 'ray', got {self.backend!r}")


@dataclass(frozen=True)
class DemoReport:
    """What the demo measured.

    Attributes:
        options: The options it ran with.
        seconds: Time from the first send to the last receive (worker start-up, before
            the first send, is not counted).
        received: Orders received, duplicates included.
        exactly_once: Whether every order id arrived exactly once.
        envelope_bytes_single: Wire size of one order sent alone.
        envelope_bytes_per_order: Wire size per order inside a batch envelope.
        pickle_bytes: ``pickle.dumps`` size of the same order, for comparison.
        latency_p50_ms: Median send-to-receive latency.
        latency_p99_ms: 99th percentile send-to-receive latency.
        revenue: Sum of quantity * unit_price, as aggregated by the consumers.
    """

    options: DemoOptions
    seconds: float
    received: int
    exactly_once: bool
    envelope_bytes_single: int
    envelope_bytes_per_order: float
    pickle_bytes: int
    latency_p50_ms: float
    latency_p99_ms: float
    revenue: float

    @property
    def throughput(self) -> float:
        """Orders per second."""
        return self.received / self.seconds if self.seconds > 0 else 0.0

    def table(self) -> str:
        """The report as an aligned text table."""
        o = self.options
        rows = [
            ("backend", f"{o.backend} ({o.producers} producers, {o.consumers} consumers)"),
            ("messages", f"{self.received:,}"),
            ("throughput", f"{self.throughput:,.0f} msgs/s"),
            (
                "wire bytes / message",
                f"{self.envelope_bytes_per_order:.1f} in batches of "
                f"{_WIRE_BATCH}, {self.envelope_bytes_single} alone",
            ),
            ("pickle bytes / message", f"{self.pickle_bytes}"),
            ("latency p50 / p99", f"{self.latency_p50_ms:.2f} ms / {self.latency_p99_ms:.2f} ms"),
            ("revenue", f"{self.revenue:,.2f}"),
            (
                "verification",
                "every message received exactly once"
                if self.exactly_once
                else "FAILED: messages lost or duplicated",
            ),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _order(order_id: int) -> Order:
    return Order(
        order_id=order_id,
        customer=f"customer-{order_id % 97}",
        sku=f"SKU-{order_id % 13:04d}",
        quantity=1 + order_id % 5,
        unit_price=round(2.5 + (order_id % 11) * 1.25, 2),
    )


async def produce(sender: Sender[Order], first: int, count: int) -> int:
    """Send orders ``first`` .. ``first + count - 1`` one ``send`` each, then close ``sender``.

    The plain loop a service writes: on Ray the sender coalesces these sends into batches
    behind the caller's back (see :class:`~klaw_ray.RaySender`).

    Returns:
        How many orders were sent.
    """
    async with sender:
        for order_id in range(first, first + count):
            order = msgspec.structs.replace(_order(order_id), created_ns=time.time_ns())
            await sender.send(order)
    return count


async def consume(receiver: Receiver[Order]) -> ConsumerSummary:
    """Receive with ``async for`` until every producer is done, then close ``receiver``.

    Returns:
        The ids, latencies and revenue of what this consumer received.
    """
    ids: list[int] = []
    latencies: list[int] = []
    revenue = 0.0
    first_sent = last_received = 0
    async with receiver:
        async for order in receiver:  # ends at the end of the stream; failures propagate
            now = time.time_ns()
            ids.append(order.order_id)
            latencies.append(now - order.created_ns)
            revenue += order.quantity * order.unit_price
            if not first_sent or order.created_ns < first_sent:
                first_sent = order.created_ns
            last_received = now
    return ConsumerSummary(
        order_ids=ids,
        latencies_ns=latencies,
        revenue=revenue,
        first_sent_ns=first_sent,
        last_received_ns=last_received,
    )


def _shares(total: int, parts: int) -> list[tuple[int, int]]:
    """Split ``total`` ids into ``parts`` contiguous ``(first, count)`` ranges."""
    base, extra = divmod(total, parts)
    shares, first = [], 0
    for part in range(parts):
        count = base + (1 if part < extra else 0)
        shares.append((first, count))
        first += count
    return [share for share in shares if share[1] > 0]


def _percentile(sorted_values: Sequence[int], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index] / 1e6


Progress = Callable[[float], None]


async def _watch(monitor: Receiver[Order], total: int, progress: Progress | None) -> None:
    """Report the fraction of orders received, from the channel's statistics."""
    if progress is None:
        return
    while True:
        stats = await monitor.stats()
        progress(min(1.0, stats.total_received / total))
        await asyncio.sleep(0.2)


async def _run_local(
    options: DemoOptions, config: KlawConfig, progress: Progress | None
) -> list[ConsumerSummary]:
    tx, rx = await channel(options.capacity, backend="local", value_type=Order, config=config)
    shares = _shares(options.messages, options.producers)
    producers = [asyncio.ensure_future(produce(tx.clone(), f, n)) for f, n in shares]
    consumers = [asyncio.ensure_future(consume(rx.clone())) for _ in range(options.consumers)]
    watcher = asyncio.ensure_future(_watch(rx, options.messages, progress))
    await tx.close()
    try:
        await asyncio.gather(*producers)
        return list(await asyncio.gather(*consumers))
    finally:
        watcher.cancel()
        for task in (*producers, *consumers):
            task.cancel()
        await rx.close()


async def _run_ray(
    options: DemoOptions, config: KlawConfig, progress: Progress | None
) -> list[ConsumerSummary]:
    import ray  # noqa: PLC0415 - the Ray backend is imported only when used

    producer_task = ray.remote(num_cpus=0)(_produce_in_task)
    consumer_task = ray.remote(num_cpus=0)(_consume_in_task)
    tx, rx = await channel(options.capacity, backend="ray", value_type=Order, config=config)
    consumers = [consumer_task.remote(rx.clone()) for _ in range(options.consumers)]
    # Let every consumer's worker start before any order is stamped, so worker start-up
    # does not show up as latency.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sum((await rx.stats()).readers_per_node.values()) >= options.consumers:
            break  # every consumer has asked for values
        await asyncio.sleep(0.1)
    producers = [
        producer_task.remote(tx.clone(), first, count)
        for first, count in _shares(options.messages, options.producers)
    ]
    watcher = asyncio.ensure_future(_watch(rx, options.messages, progress))
    await tx.close()
    try:
        await asyncio.gather(*producers)
        summaries: list[ConsumerSummary] = await asyncio.gather(*consumers)
        return summaries
    finally:
        watcher.cancel()
        for ref in (*producers, *consumers):
            ray.cancel(ref, force=True)
        await rx.close()


def _produce_in_task(sender: Sender[Order], first: int, count: int) -> int:
    return asyncio.run(produce(sender, first, count))


def _consume_in_task(receiver: Receiver[Order]) -> ConsumerSummary:
    return asyncio.run(consume(receiver))


_WIRE_BATCH = 100
"""The batch size the wire-size figure is given for (a typical coalesced batch)."""


def _wire_sizes(batch: int) -> tuple[int, float, int]:
    pool = get_codec_pool()
    sample = msgspec.structs.replace(_order(12_345), created_ns=time.time_ns())
    header = WireHeader(channel_id="demo", seq=1, ts=int(time.time() * 1000))
    single = len(pool.encode(DataMessage(header=header, payload=sample)))
    batched = len(pool.encode(DataMessage(header=header, payload=[sample] * batch))) / batch
    return single, batched, len(pickle.dumps(sample))


async def run_demo(
    options: DemoOptions, config: KlawConfig, progress: Progress | None = None
) -> DemoReport:
    """Run the pipeline once and measure it.

    With the Ray backend and no Ray running in this process, an embedded local instance
    is started (or the cluster at ``ray.address`` joined) and shut down again at the end.
    Cancelling the call (Ctrl-C) closes the channel and cancels the producer and
    consumer tasks before it returns.

    Args:
        options: What to run.
        config: The configuration (Ray address and namespace for the Ray backend).
        progress: Called with the fraction of orders received so far.

    Returns:
        The report.
    """
    started_ray = False
    if options.backend == "ray":
        from klaw_ray.ray._runtime import ensure_ray  # noqa: PLC0415 - imports Ray

        started_ray = ensure_ray(config)
    try:
        run = _run_ray if options.backend == "ray" else _run_local
        summaries = await run(options, config, progress)
    finally:
        if started_ray:
            import ray  # noqa: PLC0415

            ray.shutdown()
    active = [s for s in summaries if s.order_ids]
    seconds = (
        (max(s.last_received_ns for s in active) - min(s.first_sent_ns for s in active)) / 1e9
        if active
        else 0.0
    )
    ids = sorted(i for s in summaries for i in s.order_ids)
    latencies = sorted(lat for s in summaries for lat in s.latencies_ns)
    single, per_order, pickled = _wire_sizes(_WIRE_BATCH)
    if progress is not None:
        progress(1.0)
    return DemoReport(
        options=options,
        seconds=seconds,
        received=len(ids),
        exactly_once=ids == list(range(options.messages)),
        envelope_bytes_single=single,
        envelope_bytes_per_order=per_order,
        pickle_bytes=pickled,
        latency_p50_ms=_percentile(latencies, 0.50),
        latency_p99_ms=_percentile(latencies, 0.99),
        revenue=sum(s.revenue for s in summaries),
    )


def progress_bar(stream: TextIO = sys.stderr, width: int = 30) -> Progress:
    """A ``progress`` callback drawing a one-line bar on a terminal (silent otherwise)."""
    interactive = stream.isatty()
    done = False

    def draw(fraction: float) -> None:
        nonlocal done
        if not interactive or done:
            return
        done = fraction >= 1.0
        filled = int(fraction * width)
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}")
        if fraction >= 1.0:
            stream.write("\n")
        stream.flush()

    return draw
