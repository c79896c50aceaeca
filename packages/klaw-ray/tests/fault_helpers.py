"""Ray tasks and records for the fault-injection tests (workers import this module by name).

Producers and consumers run as Ray tasks (``num_cpus=0``, ``max_retries=0``) and report
what they sent or received. The ones that die do so on their own, with ``os._exit``,
once the channel's statistics show the state the test wants them to die in; before
dying they write a :class:`DeathRecord` to a file the test reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import ray

from klaw_ray import ChannelStats, RayReceiver, RaySender
from klaw_ray.ray._actor import RayChannelActor
from klaw_wire import ChannelClosedError, SenderLostError

__all__ = [
    "ConsumerReport",
    "CountingChannelActor",
    "DeathRecord",
    "ProducerReport",
    "consume",
    "consume_then_die",
    "consume_until_sender_waits_then_die",
    "poll_stats",
    "produce",
    "produce_flush_then_die",
    "produce_until_blocked_then_die",
    "produce_until_error",
    "read_death",
    "receive_one_each_then_close",
    "send_then_die",
    "wait_in_recv_batch_then_die",
]

_POLL = 0.02
"""Seconds between two looks at a channel's statistics while waiting for a condition."""
_BOUND = 60.0
"""Longest any helper waits for a condition before it gives up (and the test fails)."""


class ProducerReport(msgspec.Struct, frozen=True):
    """What a producer task did.

    Attributes:
        sent: Sends (values) that returned normally.
        error: The type name of the channel error it ended with; ``""`` if none.
        undelivered: How many values that error reported as not delivered.
        ended_at: Wall-clock time (``time.time()``) the producer ended.
    """

    sent: int
    error: str = ""
    undelivered: int = 0
    ended_at: float = 0.0


class ConsumerReport(msgspec.Struct, frozen=True):
    """What a consumer task received, in order, and how it ended.

    Attributes:
        values: The values received.
        counts: Each value's delivery count (``Delivery.count``; above 1: a redelivery).
        error: The type name of the channel error it ended with; ``""`` for the end of
            the stream.
        sender_id: The lost sender a ``SenderLostError`` named.
        first_redelivery_at: Wall-clock time it got its first redelivered value (0.0: none).
        ended_at: Wall-clock time it ended.
    """

    values: list[int]
    counts: list[int]
    error: str = ""
    sender_id: str = ""
    first_redelivery_at: float = 0.0
    ended_at: float = 0.0


class DeathRecord(msgspec.Struct, frozen=True):
    """What a task that killed itself had done, written just before ``os._exit``.

    Attributes:
        values: The values it received (consumers) or sent (producers), in order.
        last_batch: A consumer's last batch: handed out, never acknowledged.
        pid: The process that died.
        exit_at: Wall-clock time of the exit.
    """

    values: list[int]
    last_batch: list[int] = msgspec.field(default_factory=list)
    pid: int = 0
    exit_at: float = 0.0


def read_death(path: Path) -> DeathRecord:
    """The record a task wrote at ``path`` before it died."""
    return msgspec.json.decode(path.read_bytes(), type=DeathRecord)


def _die(path: str, values: list[int], last_batch: list[int] | None = None) -> None:
    record = DeathRecord(values, last_batch or [], os.getpid(), time.time())
    Path(path).write_bytes(msgspec.json.encode(record))
    os._exit(1)  # no close, no flush, no acknowledgement: the process is just gone


async def poll_stats(
    handle: RaySender[Any] | RayReceiver[Any],
    condition: Callable[[ChannelStats], bool],
    timeout: float = _BOUND,
) -> ChannelStats:
    """Wait until the channel's statistics satisfy ``condition``; return them.

    Raises:
        TimeoutError: The condition did not hold within ``timeout`` seconds (the message
            carries the last statistics seen).
    """
    deadline = time.monotonic() + timeout
    while True:
        stats = await handle.stats()
        if condition(stats):
            return stats
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout} s; last stats: {stats}")
        await asyncio.sleep(_POLL)


def _undelivered(exc: BaseException) -> int:
    return len(getattr(exc, "undelivered", ()))


@ray.remote(num_cpus=0, max_retries=0)
def produce(sender: RaySender[int], base: int, count: int) -> ProducerReport:
    """Send ``base + i`` for ``i`` in ``range(count)``, then close."""

    async def run() -> ProducerReport:
        sent = 0
        try:
            async with sender:
                for i in range(count):
                    await sender.send(base + i)
                    sent += 1
        except ChannelClosedError as exc:
            return ProducerReport(sent, type(exc).__name__, _undelivered(exc), time.time())
        return ProducerReport(sent, ended_at=time.time())

    return asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def produce_until_error(sender: RaySender[int], base: int, limit: int) -> ProducerReport:
    """Send ``base, base + 1, ...`` until a send raises a channel error (or ``limit``)."""

    async def run() -> ProducerReport:
        sent = 0
        report = ProducerReport(limit)
        try:
            for i in range(limit):
                await sender.send(base + i)
                sent += 1
            await sender.flush()
        except ChannelClosedError as exc:
            report = ProducerReport(sent, type(exc).__name__, _undelivered(exc), time.time())
        with contextlib.suppress(ChannelClosedError):
            await sender.close()
        return report

    return asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def consume(receiver: RayReceiver[int]) -> ConsumerReport:
    """Receive with ``async for`` until the stream ends or a channel error; then close."""

    async def run() -> ConsumerReport:
        values: list[int] = []
        counts: list[int] = []
        first_redelivery_at = 0.0
        error, sender_id = "", ""
        try:
            async for value in receiver:
                count = receiver.last_deliveries[0].count
                if count > 1 and not first_redelivery_at:
                    first_redelivery_at = time.time()
                values.append(value)
                counts.append(count)
        except ChannelClosedError as exc:
            error = type(exc).__name__
            if isinstance(exc, SenderLostError):
                sender_id = exc.sender_id
        with contextlib.suppress(ChannelClosedError):
            await receiver.close()
        return ConsumerReport(values, counts, error, sender_id, first_redelivery_at, time.time())

    return asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def consume_then_die(receiver: RayReceiver[int], at_least: int, record: str) -> None:
    """Receive batches (each acknowledging the one before) until ``at_least``, then die.

    The last batch is still leased to this receiver when its process exits. Returns
    normally only if the stream ended first (which the test then reports).
    """

    async def run() -> None:
        values: list[int] = []
        batch: list[int] = []
        while len(values) < at_least:
            try:
                batch = await receiver.recv_batch(25)
            except ChannelClosedError:
                return
            values.extend(batch)
        _die(record, values, batch)

    asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def wait_in_recv_batch_then_die(receiver: RayReceiver[int], waiting: int, record: str) -> None:
    """Wait in ``recv_batch`` on an empty channel; die once ``waiting`` gets wait in it."""

    async def run() -> None:
        pending = asyncio.ensure_future(receiver.recv_batch(10))
        await poll_stats(receiver, lambda s: s.waiting_receivers >= waiting)
        if pending.done():  # it took something: not the case under test
            raise AssertionError(f"recv_batch returned {pending.result()} before the death")
        _die(record, [])

    asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def produce_flush_then_die(sender: RaySender[int], count: int, record: str) -> None:
    """Send ``range(count)``, flush (so that all of it is in the channel), then die."""

    async def run() -> None:
        for i in range(count):
            await sender.send(i)
        await sender.flush()
        _die(record, list(range(count)))

    asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def produce_until_blocked_then_die(sender: RaySender[int], record: str) -> None:
    """Send ``0, 1, ...`` until a send waits for room; die while it waits.

    Dies once a reserve waits in the channel and every send that returned has reached
    the channel (``total_sent`` equals it), so the values that had returned are exactly
    the ones delivered, and the blocked one and any after it were never shipped.
    """

    async def run() -> None:
        returned = 0

        async def sending() -> None:
            nonlocal returned
            for i in range(1_000_000):
                await sender.send(i)
                returned = i + 1

        loop = asyncio.ensure_future(sending())
        await poll_stats(sender, lambda s: s.waiting_senders >= 1 and 0 < returned == s.total_sent)
        if loop.done():
            loop.result()  # a failure: raise it (the test reports it)
        _die(record, list(range(returned)))

    asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def consume_until_sender_waits_then_die(
    receiver: RayReceiver[int], at_least: int, record: str
) -> None:
    """Receive ``at_least`` values, then die once a sender waits for room."""

    async def run() -> None:
        values: list[int] = []
        batch: list[int] = []
        while len(values) < at_least:
            batch = await receiver.recv_batch(at_least - len(values))
            values.extend(batch)
        await poll_stats(receiver, lambda s: s.waiting_senders >= 1)
        _die(record, values, batch)

    asyncio.run(run())


class CountingChannelActor(RayChannelActor[Any]):
    """A channel actor that also counts its ``hold`` calls still waiting (one per process)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._holding = 0

    async def hold(self, process: str) -> None:
        """Wait as the channel actor's ``hold`` does, counted while it waits."""
        self._holding += 1
        try:
            await super().hold(process)
        finally:
            self._holding -= 1

    async def holding(self) -> int:
        """How many ``hold`` calls wait now."""
        return self._holding


@ray.remote(num_cpus=0, max_retries=0)
def send_then_die(sender: RaySender[int], value: int, record: str) -> None:
    """Send one value, flush, die."""

    async def run() -> None:
        await sender.send(value)
        await sender.flush()
        _die(record, [value])

    asyncio.run(run())


@ray.remote(num_cpus=0, max_retries=0)
def receive_one_each_then_close(receivers: list[RayReceiver[int]]) -> list[int]:
    """With each receiver in turn: receive one value, then close it; return the values."""

    async def run() -> list[int]:
        values: list[int] = []
        for receiver in receivers:
            values.extend(await asyncio.wait_for(receiver.recv_batch(1), _BOUND))
            await receiver.close()
        return values

    return asyncio.run(run())
