"""One stage worker's loop: receive a chunk, apply the function, send on, repeat.

The loop is the same wherever the worker runs (a Ray actor, or a task of the local
event loop); it only uses the :class:`~klaw_ray.Receiver` and :class:`~klaw_ray.Sender`
protocols.

At least once, end to end: a chunk's results (and its dead letters) are flushed into
their channels *before* the next receive, which is what acknowledges the chunk on an
acknowledged Ray channel. A worker that dies at any point has therefore either put a
chunk's results in the sink, or left the chunk unacknowledged, to be redelivered to the
other workers: nothing is lost, and only the dead worker's unacknowledged values can be
processed twice.
"""

from __future__ import annotations

import time
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

    Returns when ``source`` raises :class:`EndOfStreamError`. The handles are not
    closed here: the caller owns them.

    Raises:
        ValueFailedError: A value failed and there is no dead-letter channel. The value
            (and the rest of its chunk) stays unacknowledged.
        ChannelClosedError: A channel failed otherwise (a lost sender upstream, the
            sink's receivers all closed, ...).
        ChannelBackendError: A channel's actor failed.
    """
    while True:
        try:
            values = await source.recv_batch(batch_size)
        except EndOfStreamError:
            return
        counters.values_in += len(values)
        deliveries = _deliveries(source, len(values))
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
        if sink is not None:
            await sink.flush()
        if dead_letter is not None:
            await dead_letter.flush()


async def _send_results(sink: Sender[Any], outcome: Outcome) -> Outcome:
    """Send one value's results; a result the sink refuses is the value's failure."""
    for position, result in enumerate(outcome.results):
        try:
            await sink.send(result)
        except TypeError as exc:  # the function returned something the sink cannot take
            sent = outcome.results[:position]
            return Outcome(sent, TypeError(f"the stage's function returned {exc}"))
    return outcome
