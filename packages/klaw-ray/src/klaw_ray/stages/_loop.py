"""One stage worker's loop: receive a chunk, apply the function, send on, repeat.

The loop is the same wherever the worker runs (a Ray actor, or a task of the local
event loop); it only uses the :class:`~klaw_ray.Receiver` and :class:`~klaw_ray.Sender`
protocols.

At least once, end to end: a chunk is acknowledged only once its results (and its dead
letters) are in their channels. On a Ray receiver the worker acknowledges chunks itself
(see :class:`_Landing`), so that it can process the next chunk while the previous one's
results are still on their way; elsewhere it flushes each chunk's results before the
next receive, which acknowledges it. A worker that dies at any point has therefore either
put a chunk's results in the sink, or left the chunk unacknowledged, to be redelivered to
the other workers: nothing is lost, and only the dead worker's unacknowledged values can
be processed twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from klaw_ray.protocols import Receiver, Sender
from klaw_ray.stages._apply import Applier, Outcome
from klaw_ray.stages._records import DeadLetter, WorkerStats
from klaw_wire import EndOfStreamError

__all__ = ["ValueFailedError", "WorkerCounters", "run_worker"]


@dataclass(slots=True)
class WorkerCounters:
    """A worker's running figures (read at any time by ``stats()`` calls)."""

    index: int
    values_in: int = 0
    values_out: int = 0
    failed: int = 0
    dead_lettered: int = 0
    busy_seconds: float = 0.0

    def snapshot(self, *, alive: bool, node_id: str = "") -> WorkerStats:
        """These figures as an immutable :class:`WorkerStats`."""
        return WorkerStats(
            index=self.index,
            values_in=self.values_in,
            values_out=self.values_out,
            failed=self.failed,
            dead_lettered=self.dead_lettered,
            busy_seconds=self.busy_seconds,
            alive=alive,
            node_id=node_id,
        )


class ValueFailedError(Exception):
    """A value failed and the stage has no dead-letter channel: the worker stops.

    Picklable (it crosses from a Ray worker to the stage), so it carries text only.

    Attributes:
        error_type: The qualified name of the function's exception type.
        error_message: ``str()`` of that exception.
        value_repr: ``repr()`` of the value, cut to 200 characters.
    """

    def __init__(self, error_type: str, error_message: str, value_repr: str) -> None:
        self.error_type = error_type
        self.error_message = error_message
        self.value_repr = value_repr
        super().__init__(error_type, error_message, value_repr)

    def __str__(self) -> str:
        return f"{self.error_type}: {self.error_message} (on value {self.value_repr})"


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


def _deliveries(source: Any, count: int) -> list[int]:
    """How many times each value of the last receive was handed out (1 if unknown)."""
    last = getattr(source, "last_deliveries", None)
    if last is None or len(last) != count:
        return [1] * count
    return [delivery.count for delivery in last]


_LANDING_DEPTH = 2
"""Chunks whose results may still be on their way to the sink while the worker goes on."""


class _Landing:
    """The chunks whose results are on their way, acknowledged once they are in.

    With a receiver that supports it (a Ray receiver), the worker takes its next chunk
    while the previous chunks' results are still being shipped, and acknowledges a
    chunk only once its results (and dead letters) are in their channels: at most
    ``_LANDING_DEPTH`` chunks wait so. Otherwise each chunk is flushed before the next
    receive (which acknowledges it).
    """

    def __init__(self, source: Receiver[Any], senders: tuple[Sender[Any], ...]) -> None:
        self._senders = senders
        hold = getattr(source, "_hold_acks", None)
        self._release: Callable[[int], None] | None = getattr(source, "_release_acks", None)
        self._manual = hold is not None and self._release is not None
        if hold is not None and self._manual:
            hold()
        self._chunks: deque[tuple[asyncio.Task[None], int]] = deque()

    async def _flush(self) -> None:
        for sender in self._senders:
            await sender.flush()

    async def chunk_sent(self, count: int) -> None:
        """A chunk of ``count`` values has had its results sent."""
        if not self._manual:
            await self._flush()
            return
        self._chunks.append((asyncio.ensure_future(self._flush()), count))
        while self._chunks and (len(self._chunks) > _LANDING_DEPTH or self._chunks[0][0].done()):
            await self._land_first()

    async def land_all(self) -> None:
        """Wait until every chunk's results are in; acknowledge them all."""
        while self._chunks:
            await self._land_first()

    async def _land_first(self) -> None:
        task, count = self._chunks[0]
        await task
        self._chunks.popleft()
        assert self._release is not None
        self._release(count)

    def cancel(self) -> None:
        """Stop waiting (the worker failed): nothing more is acknowledged."""
        for task, _ in self._chunks:
            task.cancel()
        self._chunks.clear()


async def run_worker(
    *,
    name: str,
    applier: Applier,
    source: Receiver[Any],
    sink: Sender[Any] | None,
    dead_letter: Sender[DeadLetter[Any]] | None,
    counters: WorkerCounters,
    batch_size: int,
) -> None:
    """Run one worker until the source ends.

    Returns when ``source`` raises :class:`EndOfStreamError`, every chunk's results
    being in their channels and acknowledged. The handles are not closed here: the
    caller owns them.

    Raises:
        ValueFailedError: A value failed and there is no dead-letter channel. The value
            (and the rest of its chunk) stays unacknowledged.
        ChannelClosedError: A channel failed otherwise (a lost sender upstream, the
            sink's receivers all closed, ...).
        ChannelBackendError: A channel's actor failed.
    """
    senders = tuple(sender for sender in (sink, dead_letter) if sender is not None)
    landing = _Landing(source, senders)
    try:
        while True:
            try:
                values = await source.recv_batch(batch_size, timeout=0)
                if not values:  # the next receive waits: acknowledge what is in first,
                    await landing.land_all()  # or the stream could not end
                    values = await source.recv_batch(batch_size)
            except EndOfStreamError:
                await landing.land_all()
                return
            await _process(
                name, applier, values, _deliveries(source, len(values)), sink, dead_letter, counters
            )
            await landing.chunk_sent(len(values))
    except BaseException:
        landing.cancel()
        raise


async def _process(
    name: str,
    applier: Applier,
    values: Sequence[Any],
    deliveries: list[int],
    sink: Sender[Any] | None,
    dead_letter: Sender[DeadLetter[Any]] | None,
    counters: WorkerCounters,
) -> None:
    """Apply the function to one chunk; send its results, or its failures as dead letters."""
    counters.values_in += len(values)
    started = time.perf_counter()
    outcomes = await applier.apply(values)
    counters.busy_seconds += time.perf_counter() - started
    for value, count, applied in zip(values, deliveries, outcomes, strict=True):
        outcome = applied
        if outcome.error is None and sink is not None:
            outcome = await _send_results(sink, outcome)
        if outcome.error is None:
            counters.values_out += len(outcome.results)
            continue
        counters.failed += 1
        error = outcome.error
        if dead_letter is None:
            raise ValueFailedError(_type_name(error), str(error), repr(value)[:200]) from error
        await dead_letter.send(
            DeadLetter(
                stage=name,
                error_type=_type_name(error),
                error_message=str(error),
                value=value,
                deliveries=count,
                worker=counters.index,
            )
        )
        counters.dead_lettered += 1


async def _send_results(sink: Sender[Any], outcome: Outcome) -> Outcome:
    """Send one value's results; a result the sink refuses is the value's failure."""
    for position, result in enumerate(outcome.results):
        try:
            await sink.send(result)
        except TypeError as exc:  # the function returned something the sink cannot take
            sent = outcome.results[:position]
            return Outcome(sent, TypeError(f"the stage's function returned {exc}"))
    return outcome
