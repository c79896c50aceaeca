"""What a stage reports: dead letters, worker and stage statistics, stage errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Literal, TypeVar

import msgspec

__all__ = [
    "DeadLetter",
    "StageCancelledError",
    "StageError",
    "StageFailedError",
    "StageState",
    "StageStats",
    "WorkerDiedError",
    "WorkerStats",
    "worker_totals",
]

T = TypeVar("T")

StageState = Literal["running", "done", "failed", "cancelled"]
"""Where a stage is: running, finished (its source ended), failed, or cancelled."""


class DeadLetter(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """A value a stage could not process, as sent to its ``dead_letter`` channel.

    Make the dead-letter channel with ``value_type=DeadLetter[YourType]``.

    Attributes:
        stage: The stage's name.
        error_type: The qualified name of the exception's type (``"builtins.ValueError"``;
            ``"builtins.TimeoutError"`` for a value that ran past ``task_timeout``).
        error_message: ``str()`` of the exception.
        value: The value, as the stage received it.
        deliveries: How many times the channel had handed this value out (more than
            one: it was redelivered after a worker died).
        worker: The index of the worker that gave up on it.
    """

    stage: str
    error_type: str
    error_message: str
    value: T
    deliveries: int = 1
    worker: int = 0


class WorkerStats(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One worker's figures.

    Attributes:
        index: The worker's slot (0 to ``workers - 1``); a replacement takes the slot of
            the worker it replaces.
        values_in: Values it received.
        values_out: Results it sent to the sink (counted when sent even without a sink).
        failed: Values whose function raised or timed out.
        dead_lettered: Failed values sent to the dead-letter channel.
        busy_seconds: Time spent in the stage's function.
        alive: Whether the worker is still running (``False`` once it finished or died).
        node_id: The Ray node it runs on (``""`` for a local stage).
    """

    index: int
    values_in: int = 0
    values_out: int = 0
    failed: int = 0
    dead_lettered: int = 0
    busy_seconds: float = 0.0
    alive: bool = True
    node_id: str = ""


def worker_totals(figures: Iterable[WorkerStats]) -> WorkerStats:
    """The figures of several workers added up (``index`` 0, not alive)."""
    every = list(figures)
    return WorkerStats(
        index=0,
        values_in=sum(worker.values_in for worker in every),
        values_out=sum(worker.values_out for worker in every),
        failed=sum(worker.failed for worker in every),
        dead_lettered=sum(worker.dead_lettered for worker in every),
        busy_seconds=sum(worker.busy_seconds for worker in every),
        alive=False,
    )


class StageStats(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A snapshot of a stage's figures, totals first.

    Totals add up every worker the stage ran, replaced ones included (a dead worker
    counts what it last reported).

    Attributes:
        name: The stage's name.
        state: Where the stage is.
        values_in: Values received by all workers (a redelivered value counts again).
        values_out: Results sent.
        failed: Values whose function raised or timed out.
        dead_lettered: Failed values sent to the dead-letter channel.
        busy_seconds: Time all workers spent in the function.
        workers_replaced: Workers that died and were replaced.
        workers: The current worker of each slot.
    """

    name: str
    state: StageState
    values_in: int = 0
    values_out: int = 0
    failed: int = 0
    dead_lettered: int = 0
    busy_seconds: float = 0.0
    workers_replaced: int = 0
    workers: tuple[WorkerStats, ...] = ()


class StageError(Exception):
    """The base of the errors :meth:`Stage.wait` raises.

    Attributes:
        stage: The stage's name.
    """

    def __init__(self, stage: str, message: str) -> None:
        self.stage = stage
        super().__init__(message)


class StageFailedError(StageError):
    """The stage stopped on a failure.

    A value failed without a dead-letter channel, workers kept dying, or a channel
    failed. Its ``__cause__`` is the underlying exception when there is one. The stage's sink
    was closed as failed: downstream receivers get :class:`~klaw_wire.SenderLostError`
    (``detail`` says why) instead of the end of the stream.

    Attributes:
        stage: The stage's name.
        reason: What went wrong.
    """

    def __init__(self, stage: str, reason: str) -> None:
        self.reason = reason
        super().__init__(stage, f"stage {stage!r} failed: {reason}")


class StageCancelledError(StageError):
    """The stage was cancelled (:meth:`Stage.cancel`) before its source ended.

    Its sink was closed as failed: downstream receivers get
    :class:`~klaw_wire.SenderLostError` instead of the end of the stream.
    """

    def __init__(self, stage: str) -> None:
        super().__init__(stage, f"stage {stage!r} was cancelled")


class WorkerDiedError(StageError):
    """A stage worker's process died.

    The stage replaces the worker (within ``max_restarts``); :meth:`Stage.wait` raises
    :class:`StageFailedError` caused by this error once too many died, or at once when
    a worker could not even start (its function or a handle could not be unpickled
    there, for example): a replacement would fail the same way.

    Attributes:
        detail: What Ray reported.
        started: Whether the worker had started (``False``: it failed to start).
    """

    def __init__(self, stage: str, detail: str, *, started: bool = True) -> None:
        self.detail = detail
        self.started = started
        what = "died" if started else "could not start"
        super().__init__(stage, f"a worker of stage {stage!r} {what}: {detail}")
