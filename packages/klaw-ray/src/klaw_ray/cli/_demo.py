"""``klaw demo``: a typed pipeline of two stages, measured end to end.

Producers send :class:`Order` records into the ``orders`` channel with a plain ``send``
each; the stage ``price`` turns each into a :class:`PricedOrder` on the ``priced``
channel; the stage ``total`` adds tax and sends an :class:`Invoice` to the ``totals``
channel; consumers receive the invoices with ``async for`` and aggregate them. The end
of the stream flows through: closing the producers ends each stage in turn, then the
consumers. The driver prints what it measured: throughput, wire bytes per record
(against pickle), end-to-end latency, each stage's figures, and a check that every order
arrived exactly once.

On the Ray backend the producers and consumers are Ray tasks and the stages' workers Ray
actors, all with ``num_cpus=0``: a task that awaits channel calls in its own event loop
holds its CPU while it waits, so with the default ``num_cpus=1`` they could wait on each
other forever on a small node. Latency is measured from the time a producer stamped into
each order to the time a consumer took its invoice, on one machine's clock.

Everything starts together; each producer waits until the first stage's workers have
asked for orders before it stamps its first order, and the driver until the consumers
have asked for invoices, so worker start-up is neither serial nor counted as latency.
Each phase (Ray start, workers ready, moving, shutdown) is announced on a
:class:`~klaw_ray.cli._progress.Reporter` and timed, and while orders move a bar shows
how many invoices the consumers have received.
"""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from rich import box
from rich.table import Table

from klaw_config import KlawConfig
from klaw_ray.cli._progress import Reporter
from klaw_ray.cli._records import Invoice, Order, PricedOrder, price, total
from klaw_ray.factory import Backend, channel
from klaw_ray.protocols import Receiver, Sender
from klaw_ray.stages import Stage, StageStats, stage
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
    "run_demo",
]


class ConsumerSummary(msgspec.Struct, frozen=True, gc=False):
    """What one consumer saw.

    Attributes:
        order_ids: The ids of the orders it received, in the order received.
        latencies_ns: Send-to-receive latency of each of those orders.
        revenue: Sum of the invoices' totals (tax included).
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
        consumers: Consumer tasks (they read the last channel).
        capacity: Capacity of each of the three channels.
        workers: Workers of each stage.
    """

    backend: Backend = "ray"
    messages: int = 20_000
    producers: int = 2
    consumers: int = 1
    capacity: int = 1024
    workers: int = 1

    def __post_init__(self) -> None:
        for name in ("messages", "producers", "consumers", "capacity", "workers"):
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
        revenue: Sum of the invoices' totals, as aggregated by the consumers.
        phases: ``(name, seconds)`` of each phase of the run, in order (Ray start,
            workers ready, moving, Ray shutdown; the local backend has only moving).
        stages: Each stage's final statistics, in pipeline order.
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
    phases: tuple[tuple[str, float], ...] = ()
    stages: tuple[StageStats, ...] = ()

    @property
    def throughput(self) -> float:
        """Orders per second."""
        return self.received / self.seconds if self.seconds > 0 else 0.0

    def table(self) -> Table:
        """The report as a two-column table (rendered plain when not on a terminal)."""
        o = self.options
        table = Table(box=box.SIMPLE, show_header=False, title="klaw demo")
        table.add_column("figure", style="bold")
        table.add_column("value")
        table.add_row(
            "backend",
            f"{o.backend} ({o.producers} producers, {o.workers} workers per stage, "
            f"{o.consumers} consumers)",
        )
        table.add_row("pipeline", "orders -> price -> priced -> total -> totals")
        table.add_row("messages", f"{self.received:,}")
        table.add_row("throughput", f"{self.throughput:,.0f} msgs/s")
        table.add_row(
            "wire bytes / message",
            f"{self.envelope_bytes_per_order:.1f} in batches of {_WIRE_BATCH}, "
            f"{self.envelope_bytes_single} alone",
        )
        table.add_row("pickle bytes / message", f"{self.pickle_bytes}")
        table.add_row(
            "latency p50 / p99", f"{self.latency_p50_ms:.2f} ms / {self.latency_p99_ms:.2f} ms"
        )
        for figures in self.stages:
            table.add_row(
                f"stage {figures.name}",
                f"{figures.values_in:,} in, {figures.values_out:,} out, "
                f"{figures.failed:,} failed, {len(figures.workers)} workers, "
                f"busy {figures.busy_seconds:.2f} s, {figures.workers_replaced} replaced",
            )
        table.add_row("revenue", f"{self.revenue:,.2f}")
        if self.phases:
            table.add_row("phases", ", ".join(f"{name} {s:.1f} s" for name, s in self.phases))
        table.add_row(
            "verification",
            "every message received exactly once"
            if self.exactly_once
            else "FAILED: messages lost or duplicated",
        )
        return table


def _order(order_id: int) -> Order:
    return Order(
        order_id=order_id,
        customer=f"customer-{order_id % 97}",
        sku=f"SKU-{order_id % 13:04d}",
        quantity=1 + order_id % 5,
        unit_price=round(2.5 + (order_id % 11) * 1.25, 2),
    )


async def produce(sender: Sender[Order], first: int, count: int, readers: int = 0) -> int:
    """Send orders ``first`` .. ``first + count - 1`` one ``send`` each, then close ``sender``.

    The plain loop a service writes: on Ray the sender coalesces these sends into batches
    behind the caller's back (see :class:`~klaw_ray.RaySender`).

    Args:
        sender: Where to send; closed when this returns, raises or is cancelled.
        first: The first order id.
        count: How many orders.
        readers: Wait until this many receivers have asked the channel for values before
            the first order is stamped, so that their start-up is not counted as
            latency (polls the channel's statistics; 0: do not wait).

    Returns:
        How many orders were sent.
    """
    async with sender:
        await _await_readers(sender, readers)
        for order_id in range(first, first + count):
            order = msgspec.structs.replace(_order(order_id), created_ns=time.time_ns())
            await sender.send(order)
    return count


async def consume(receiver: Receiver[Invoice]) -> ConsumerSummary:
    """Receive invoices with ``async for`` until the stream ends, then close ``receiver``.

    Returns:
        The ids, latencies and revenue of what this consumer received.
    """
    ids: list[int] = []
    latencies: list[int] = []
    revenue = 0.0
    first_sent = last_received = 0
    async with receiver:
        async for invoice in receiver:  # ends at the end of the stream; failures propagate
            now = time.time_ns()
            ids.append(invoice.order_id)
            latencies.append(now - invoice.created_ns)
            revenue += invoice.total
            if not first_sent or invoice.created_ns < first_sent:
                first_sent = invoice.created_ns
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


_POLL_SECONDS = 0.05
"""How often the driver and the producers look at the channel's statistics."""
_STAGE_BATCH = 1024
"""Values a stage worker takes at once. The demo's functions cost microseconds a value,
so a chunk costs its actor calls far more than its work: chunks of 1,024 move about 1.45
times as many orders a second as the default 256 (100,000 orders, this machine)."""


async def _await_readers(handle: Sender[Order], readers: int) -> None:
    """Wait until ``readers`` receivers have asked the channel for values."""
    while readers and sum((await handle.stats()).readers_per_node.values()) < readers:
        await asyncio.sleep(_POLL_SECONDS)


async def _watch(monitor: Receiver[Invoice], reporter: Reporter, total: int) -> None:
    """Draw the invoices received so far, as the last channel's statistics count them."""
    with reporter.progress("orders through the pipeline", total) as bar:
        try:
            while True:
                bar.update((await monitor.stats()).total_received)
                await asyncio.sleep(_POLL_SECONDS * 2)
        except asyncio.CancelledError:
            bar.update((await monitor.stats()).total_received)
            raise


async def _move(
    rx: Receiver[Invoice],
    reporter: Reporter,
    total: int,
    work: Any,
    phases: list[tuple[str, float]],
) -> list[ConsumerSummary]:
    """Await ``work`` (the consumers' summaries) while a bar shows the orders received."""
    with reporter.step(f"moving {total:,} orders ...", f"moved {total:,} orders") as step:
        watcher = asyncio.ensure_future(_watch(rx, reporter, total))
        try:
            summaries: list[ConsumerSummary] = await work
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    phases.append(("moving", step.seconds))
    return summaries


@dataclass
class _Pipeline:
    """The demo's three channels and two stages, as the driver holds them."""

    orders: Sender[Order]
    totals: Receiver[Invoice]
    stages: tuple[Stage, ...]

    async def stop(self) -> None:
        """Cancel the stages (if still running) and close the driver's handles."""
        for running in self.stages:
            await running.cancel()
        await self.orders.close()
        await self.totals.close()

    async def finish(self) -> tuple[StageStats, ...]:
        """Wait for the stages to end; their final statistics."""
        return tuple([await running.wait() for running in self.stages])


async def _build(options: DemoOptions, config: KlawConfig) -> _Pipeline:
    """Open the channels and start the stages: orders -> price -> priced -> total -> totals."""
    backend, capacity = options.backend, options.capacity
    orders_tx, orders_rx = await channel(capacity, backend=backend, value_type=Order, config=config)
    priced_tx, priced_rx = await channel(
        capacity, backend=backend, value_type=PricedOrder, config=config
    )
    totals_tx, totals_rx = await channel(
        capacity, backend=backend, value_type=Invoice, config=config
    )
    pricing = stage(
        price, orders_rx, priced_tx, workers=options.workers, batch_size=_STAGE_BATCH, config=config
    )
    totalling = stage(
        total, priced_rx, totals_tx, workers=options.workers, batch_size=_STAGE_BATCH, config=config
    )
    return _Pipeline(orders_tx, totals_rx, (pricing, totalling))


async def _run_local(
    options: DemoOptions, config: KlawConfig, reporter: Reporter, phases: list[tuple[str, float]]
) -> tuple[list[ConsumerSummary], tuple[StageStats, ...]]:
    pipeline = await _build(options, config)
    tx, rx = pipeline.orders, pipeline.totals
    shares = _shares(options.messages, options.producers)
    producers = [asyncio.ensure_future(produce(tx.clone(), f, n)) for f, n in shares]
    consumers = [asyncio.ensure_future(consume(rx.clone())) for _ in range(options.consumers)]
    await tx.close()
    try:

        async def work() -> list[ConsumerSummary]:
            await asyncio.gather(*producers)
            return list(await asyncio.gather(*consumers))

        summaries = await _move(rx, reporter, options.messages, work(), phases)
        return summaries, await pipeline.finish()
    finally:
        for task in (*producers, *consumers):
            task.cancel()
        await pipeline.stop()


async def _run_ray(
    options: DemoOptions, config: KlawConfig, reporter: Reporter, phases: list[tuple[str, float]]
) -> tuple[list[ConsumerSummary], tuple[StageStats, ...]]:
    import ray  # noqa: PLC0415 - the Ray backend is imported only when used

    producer_task = ray.remote(num_cpus=0)(_produce_in_task)
    consumer_task = ray.remote(num_cpus=0)(_consume_in_task)
    workers = (
        f"{options.producers} producers, 2 stages of {options.workers} and "
        f"{options.consumers} consumers"
    )
    with reporter.step(f"starting the channels, {workers} ...", "workers ready") as step:
        pipeline = await _build(options, config)
        tx, rx = pipeline.orders, pipeline.totals
        refs: list[Any] = []
        try:
            # Everything starts together; each producer waits until the first stage's
            # workers have asked for orders, and the driver until the consumers have asked
            # for invoices, so worker start-up does not show up as latency.
            consumers = [consumer_task.remote(rx.clone()) for _ in range(options.consumers)]
            producers = [
                producer_task.remote(tx.clone(), first, count, options.workers)
                for first, count in _shares(options.messages, options.producers)
            ]
            refs = [*consumers, *producers]
            await tx.close()
            await _await_workers(rx, options.consumers, refs)
        except BaseException:
            for ref in refs:
                ray.cancel(ref, force=True)
            await pipeline.stop()
            raise
    phases.append(("workers ready", step.seconds))
    try:

        async def work() -> list[ConsumerSummary]:
            await asyncio.gather(*producers)
            summaries: list[ConsumerSummary] = await asyncio.gather(*consumers)
            return summaries

        summaries = await _move(rx, reporter, options.messages, work(), phases)
        return summaries, await pipeline.finish()
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        await pipeline.stop()


async def _await_workers(rx: Receiver[Invoice], consumers: int, refs: list[Any]) -> None:
    """Wait until every consumer has asked for values; raise what a worker failed with.

    A worker task that ends before the stream has begun has failed (it could not start,
    or its first call failed): awaiting it raises that failure here instead of waiting
    for readers that will never come.
    """
    import ray  # noqa: PLC0415

    pending = list(refs)
    while sum((await rx.stats()).readers_per_node.values()) < consumers:
        if pending:
            ended, pending = ray.wait(pending, num_returns=len(pending), timeout=0)
            for ref in ended:
                await ref
        await asyncio.sleep(_POLL_SECONDS)


def _produce_in_task(sender: Sender[Order], first: int, count: int, readers: int) -> int:
    return asyncio.run(produce(sender, first, count, readers))


def _consume_in_task(receiver: Receiver[Invoice]) -> ConsumerSummary:
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


async def run_demo(options: DemoOptions, config: KlawConfig, reporter: Reporter) -> DemoReport:
    """Run the pipeline once and measure it, reporting each phase as it goes.

    With the Ray backend and no Ray running in this process, an embedded local instance
    is started (or the cluster at ``ray.address`` joined) and shut down again at the end.
    Each phase (Ray start, workers ready, moving, shutdown) is announced on ``reporter``
    when it begins and timed; while orders move, a bar shows how many the channel has
    handed to consumers (from its statistics). Cancelling the call (Ctrl-C) closes the
    channel and cancels the producer and consumer tasks before it returns.

    Args:
        options: What to run.
        config: The configuration (Ray address and namespace for the Ray backend).
        reporter: Where status lines and the progress bar go.

    Returns:
        The report.

    Raises:
        ChannelBackendError: Ray could not be started or reached, or a channel call
            failed.
    """
    phases: list[tuple[str, float]] = []
    if options.backend == "ray":
        from klaw_ray.cli._session import ray_session  # noqa: PLC0415 - imports Ray

        with ray_session(reporter, config, phases):
            summaries, stages = await _run_ray(options, config, reporter, phases)
    else:
        summaries, stages = await _run_local(options, config, reporter, phases)
    active = [s for s in summaries if s.order_ids]
    seconds = (
        (max(s.last_received_ns for s in active) - min(s.first_sent_ns for s in active)) / 1e9
        if active
        else 0.0
    )
    ids = sorted(i for s in summaries for i in s.order_ids)
    latencies = sorted(lat for s in summaries for lat in s.latencies_ns)
    single, per_order, pickled = _wire_sizes(_WIRE_BATCH)
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
        phases=tuple(phases),
        stages=stages,
    )
