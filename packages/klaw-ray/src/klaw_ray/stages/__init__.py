"""Stages: run a typed function over a channel's values on a pool of workers.

>>> from klaw_ray import stage  # doctest: +SKIP
>>> priced = stage(price, orders_rx, invoices_tx, workers=4)  # doctest: +SKIP
>>> await priced.wait()  # doctest: +SKIP

See :func:`stage` and the Pipelines guide.
"""

from __future__ import annotations

from klaw_ray.stages._records import (
    DeadLetter,
    StageCancelledError,
    StageError,
    StageFailedError,
    StageState,
    StageStats,
    WorkerDiedError,
    WorkerStats,
)
from klaw_ray.stages._stage import Stage, stage

__all__ = [
    "DeadLetter",
    "Stage",
    "StageCancelledError",
    "StageError",
    "StageFailedError",
    "StageState",
    "StageStats",
    "WorkerDiedError",
    "WorkerStats",
    "stage",
]
