"""``klaw bench``: klaw's codec and channels against their baselines, in one process.

Every comparison times klaw and its baseline back to back on the same data and reports
their ratio, which is what stays meaningful on a noisy machine: ``klaw / baseline`` is the
time klaw took for the same work relative to the baseline (below 1.0: klaw is faster).

- codec: the codec pool against a raw msgspec ``Encoder`` / ``Decoder`` (the floor),
  pydantic v2 models of the same envelope (JSON encode and validate; skipped when
  pydantic is not installed) and pickle;
- local channel: one producer and one consumer moving ints, against ``asyncio.Queue``;
- Ray channel: a single send/recv round trip and batched throughput, against
  ``ray.util.queue.Queue`` (``put_async``/``get_async`` and
  ``put_nowait_batch``/``get_nowait_batch``), on an embedded local Ray instance unless one
  is running or configured.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import platform
import time
import timeit
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

import msgspec
from rich import box
from rich.table import Table

from klaw_config import KlawConfig, load_config
from klaw_ray.cli._progress import Reporter
from klaw_ray.cli._records import Order
from klaw_ray.cli._signals import run
from klaw_ray.local import LocalReceiver, LocalSender, local_channel
from klaw_wire import DataMessage, WireHeader, get_codec_pool

__all__ = ["BenchReport", "Comparison", "run_bench"]


@dataclass(frozen=True)
class Comparison:
    """One klaw measurement beside its baseline.

    Attributes:
        group: ``"codec"``, ``"local channel"`` or ``"ray channel"``.
        name: What was measured.
        klaw_seconds: klaw's time for the work.
        baseline: The baseline's name.
        baseline_seconds: The baseline's time for the same work; ``None`` if skipped.
        note: Why the baseline was skipped, or other context.
    """

    group: str
    name: str
    klaw_seconds: float
    baseline: str
    baseline_seconds: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """``klaw_seconds / baseline_seconds`` (below 1.0: klaw is faster)."""
        if self.baseline_seconds is None or self.baseline_seconds <= 0:
            return None
        return self.klaw_seconds / self.baseline_seconds


@dataclass
class BenchReport:
    """All comparisons of one run, with the machine and versions they ran on."""

    comparisons: list[Comparison] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)

    def table(self) -> Table:
        """The comparisons as a table (rendered plain when not on a terminal)."""
        table = Table(
            box=box.SIMPLE_HEAD,
            title="klaw bench",
            caption="klaw / baseline is klaw's time for the same work: below 1.00x is faster.",
        )
        for header in ("group", "measurement", "baseline"):
            table.add_column(header)
        table.add_column("klaw / baseline", justify="right")
        for c in self.comparisons:
            ratio = "skipped" if c.ratio is None else _ratio(c.ratio)
            note = f" ({c.note})" if c.note else ""
            table.add_row(c.group, c.name, c.baseline, f"{ratio}{note}")
        return table

    def write_json(self, path: str) -> None:
        """Write the figures, with machine and version details, as JSON."""
        payload = {
            "machine": self.machine,
            "comparisons": [{**asdict(c), "ratio": c.ratio} for c in self.comparisons],
        }
        with open(path, "w", encoding="utf-8") as file:
            json.dump(payload, file, indent=2)
            file.write("\n")


def _best(work: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Best time of ``repeat`` runs of ``number`` calls, per call."""
    return min(timeit.repeat(work, number=number, repeat=repeat)) / number


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name) for name in ("klaw-ray", "klaw-wire", "msgspec", "ray", "pydantic")
        },
    }


def _sample_order(i: int = 7) -> Order:
    return Order(
        order_id=i,
        customer="customer-7",
        sku="SKU-0007",
        quantity=3,
        unit_price=9.75,
        created_ns=1_700_000_000_000_000_000,
    )


_CODEC_COMPARISONS = 6
_LOCAL_COMPARISONS = 1
_RAY_COMPARISONS = 3


def _codec(quick: bool) -> Iterator[Comparison]:
    """The codec comparisons, each yielded as soon as it is measured."""
    number = 2_000 if quick else 20_000
    pool = get_codec_pool()
    message = DataMessage(
        header=WireHeader(channel_id="bench", seq=1, ts=1), payload=_sample_order()
    )
    blob = pool.encode(message)
    raw_encoder = msgspec.msgpack.Encoder()
    raw_decoder = msgspec.msgpack.Decoder(DataMessage[Order])
    klaw_encode = _best(lambda: pool.encode(message), number)
    klaw_decode = _best(lambda: pool.decode_data(blob, Order), number)
    pickled = pickle.dumps(message)
    name_encode, name_decode = "encode DataMessage[Order]", "decode DataMessage[Order]"
    yield Comparison(
        "codec",
        name_encode,
        klaw_encode,
        "raw msgspec",
        _best(lambda: raw_encoder.encode(message), number),
    )
    yield Comparison(
        "codec",
        name_decode,
        klaw_decode,
        "raw msgspec",
        _best(lambda: raw_decoder.decode(blob), number),
    )
    yield Comparison(
        "codec",
        name_encode,
        klaw_encode,
        "pickle.dumps",
        _best(lambda: pickle.dumps(message), number),
    )
    yield Comparison(
        "codec",
        name_decode,
        klaw_decode,
        "pickle.loads",
        _best(lambda: pickle.loads(pickled), number),
    )
    try:
        import pydantic  # noqa: PLC0415 - an optional baseline
    except ImportError:
        for name in (name_encode, name_decode):
            yield Comparison("codec", name, 0.0, "pydantic v2", None, "pydantic not installed")
        return

    class PydOrder(pydantic.BaseModel):
        order_id: int
        customer: str
        sku: str
        quantity: int
        unit_price: float
        created_ns: int

    class PydHeader(pydantic.BaseModel):
        version: int
        kind: int
        channel_id: str
        seq: int
        ts: int

    class PydData(pydantic.BaseModel):
        header: PydHeader
        payload: PydOrder

    model = PydData(
        header=PydHeader(version=1, kind=1, channel_id="bench", seq=1, ts=1),
        payload=PydOrder(**msgspec.structs.asdict(_sample_order())),
    )
    text = model.model_dump_json()
    yield Comparison(
        "codec", name_encode, klaw_encode, "pydantic v2 JSON", _best(model.model_dump_json, number)
    )
    yield Comparison(
        "codec",
        name_decode,
        klaw_decode,
        "pydantic v2 JSON",
        _best(lambda: PydData.model_validate_json(text), number),
    )


async def _klaw_local(count: int) -> None:
    pair: tuple[LocalSender[int], LocalReceiver[int]] = local_channel(1024)
    tx, rx = pair

    async def produce() -> None:
        for i in range(count):
            await tx.send(i)
        await tx.close()

    async def consume() -> int:
        return sum([1 async for _ in rx])

    _, received = await asyncio.gather(produce(), consume())
    assert received == count


async def _asyncio_queue(count: int) -> None:
    queue: asyncio.Queue[int | None] = asyncio.Queue(1024)

    async def produce() -> None:
        for i in range(count):
            await queue.put(i)
        await queue.put(None)

    async def consume() -> int:
        received = 0
        while await queue.get() is not None:
            received += 1
        return received

    _, received = await asyncio.gather(produce(), consume())
    assert received == count


def _local(quick: bool) -> Iterator[Comparison]:
    """The local channel comparison."""
    count = 20_000 if quick else 200_000

    def timed(work: Callable[[int], Any]) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            run(work(count))
            best = min(best, time.perf_counter() - started)
        return best

    yield Comparison(
        "local channel",
        f"{count:,} ints, 1 producer, 1 consumer, capacity 1024",
        timed(_klaw_local),
        "asyncio.Queue",
        timed(_asyncio_queue),
    )


async def _ray(quick: bool, config: KlawConfig, record: Callable[[Comparison], None]) -> None:
    """The Ray channel comparisons, each passed to ``record`` as soon as it is measured."""
    from ray.util.queue import Queue  # noqa: PLC0415 - only this part needs Ray

    from klaw_ray.factory import channel  # noqa: PLC0415

    rounds = 50 if quick else 300
    total, batch = (2_000, 500) if quick else (20_000, 500)
    orders = [_sample_order(i) for i in range(total)]
    tx, rx = await channel(total, backend="ray", value_type=Order, config=config)
    queue = Queue(maxsize=total, actor_options={"num_cpus": 0})
    try:
        order = orders[0]
        await tx.send(order)  # warm both paths up
        await rx.recv()
        await queue.put_async(order)
        await queue.get_async()

        started = time.perf_counter()
        for _ in range(rounds):
            await tx.send(order)
            await rx.recv()
        klaw_single = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(rounds):
            await queue.put_async(order)
            await queue.get_async()
        queue_single = time.perf_counter() - started
        record(
            Comparison(
                "ray channel",
                f"send+recv round trip, one Order ({rounds} rounds)",
                klaw_single,
                "ray.util.queue put/get",
                queue_single,
            )
        )

        started = time.perf_counter()
        for i in range(0, total, batch):
            await tx.send_batch(orders[i : i + batch])
        received = 0
        while received < total:
            received += len(await rx.recv_batch(batch))
        klaw_batched = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(0, total, batch):
            queue.put_nowait_batch(orders[i : i + batch])
        received = 0
        while received < total:
            received += len(queue.get_nowait_batch(min(batch, total - received)))
        queue_batched = time.perf_counter() - started
        record(
            Comparison(
                "ray channel",
                f"{total:,} Orders in batches of {batch}",
                klaw_batched,
                "ray.util.queue batch API",
                queue_batched,
            )
        )

        streamed = 2_000 if quick else 20_000
        queue_streamed = 200 if quick else 1_000
        klaw_stream = await _klaw_stream(tx, rx, orders[0], streamed)
        queue_stream = await _queue_stream(queue, orders[0], queue_streamed)
        record(
            Comparison(
                "ray channel",
                f"{streamed:,} Orders, per-value send / async for (queue timed on "
                f"{queue_streamed:,}, scaled)",
                klaw_stream,
                "ray.util.queue put/get per value",
                queue_stream * streamed / queue_streamed,
            )
        )
    finally:
        await tx.close()
        await rx.close()
        queue.shutdown()


async def _klaw_stream(tx: Any, rx: Any, order: Order, count: int) -> float:
    """Seconds for a producer loop of ``send`` and a consumer loop of ``recv``, together."""

    async def produce() -> None:
        for _ in range(count):
            await tx.send(order)
        await tx.flush()

    async def consume() -> None:
        for _ in range(count):
            await rx.recv()

    started = time.perf_counter()
    await asyncio.gather(produce(), consume())
    return time.perf_counter() - started


async def _queue_stream(queue: Any, order: Order, count: int) -> float:
    """The same with ``ray.util.queue``'s ``put_async`` / ``get_async``."""

    async def produce() -> None:
        for _ in range(count):
            await queue.put_async(order)

    async def consume() -> None:
        for _ in range(count):
            await queue.get_async()

    started = time.perf_counter()
    await asyncio.gather(produce(), consume())
    return time.perf_counter() - started


def run_bench(reporter: Reporter, *, quick: bool = False, ray: bool = True) -> BenchReport:
    """Run every comparison and return the report, showing progress per comparison.

    A bar on ``reporter`` moves on as each comparison is measured, named by what it
    measured (on a plain stream: one line per comparison); starting and stopping an
    embedded Ray instance are status lines of their own. Interrupting it (Ctrl-C) stops
    at the current comparison and shuts down a Ray instance it started.

    Args:
        reporter: Where status lines and progress go.
        quick: Fewer repetitions and smaller workloads (seconds instead of a minute).
        ray: Include the Ray channel comparisons (starts or joins Ray as configured).

    Returns:
        The report, with machine and version details.

    Raises:
        ChannelBackendError: Ray could not be started or reached, or a channel call
            failed.
    """
    report = BenchReport(machine=_machine())
    total = _CODEC_COMPARISONS + _LOCAL_COMPARISONS + (_RAY_COMPARISONS if ray else 0)
    reporter.status(f"klaw bench: {total} comparisons{' (quick)' if quick else ''}")

    with reporter.progress("comparisons", total) as bar:

        def record(comparison: Comparison) -> None:
            report.comparisons.append(comparison)
            bar.advance(f"{comparison.group}: {comparison.name} vs {comparison.baseline}")

        for comparison in (*_codec(quick), *_local(quick)):
            record(comparison)
        if ray:
            _run_ray_comparisons(reporter, quick, record)
    return report


def _run_ray_comparisons(
    reporter: Reporter, quick: bool, record: Callable[[Comparison], None]
) -> None:
    from klaw_ray.cli._session import ray_session  # noqa: PLC0415 - imports Ray

    config = load_config()
    with ray_session(reporter, config):
        run(_ray(quick, config, record))


def _ratio(ratio: float) -> str:
    """A time ratio for the table: two decimals, or three significant digits below 0.1.

    A per-value loop hundreds of times faster than its baseline reads 0.0045x, not 0.00x.
    """
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3g}x"
