"""klaw-ray: typed, bounded channels in one process and across a Ray cluster.

``import klaw_ray`` does not import Ray: the names of the Ray backend (``RaySender``,
``get_channel``, ...) load it on first access. Channel errors are re-exported from
klaw-wire, so ``from klaw_ray import ChannelClosedError`` works.

Example:
    >>> import asyncio
    >>> from klaw_ray import channel
    >>> async def main() -> list[str]:
    ...     tx, rx = await channel(16, value_type=str)
    ...     async with tx:
    ...         await tx.send("hello")
    ...     return [word async for word in rx]
    >>> asyncio.run(main())
    ['hello']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from klaw_ray.factory import Backend, DeliveryMode, channel
from klaw_ray.local import LocalReceiver, LocalSender, local_channel
from klaw_ray.protocols import Receiver, ReferenceReceiver, ReferenceSender, Sender
from klaw_ray.stages import (
    DeadLetter,
    Stage,
    StageCancelledError,
    StageError,
    StageFailedError,
    StageState,
    StageStats,
    WorkerDiedError,
    WorkerStats,
    stage,
)
from klaw_ray.stats import LATENCY_BUCKETS, ChannelStats, LatencyHistogram, ReaderInfo
from klaw_wire import (
    ChannelBackend,
    ChannelBackendError,
    ChannelClosed,
    ChannelClosedError,
    ChannelEmpty,
    ChannelEmptyError,
    ChannelFull,
    ChannelFullError,
    ChannelRestarted,
    ChannelRestartedError,
    EndOfStream,
    EndOfStreamError,
    HandleClosed,
    HandleClosedError,
    PeerClosed,
    PeerClosedError,
    SenderLost,
    SenderLostError,
)

if TYPE_CHECKING:
    from klaw_ray.ray import (
        CHANNEL_ACTOR_PREFIX,
        ChannelMetadata,
        ChannelNotFoundError,
        Delivery,
        MetricsPortError,
        RayChannelActor,
        RayReceiver,
        RayReferenceReceiver,
        RayReferenceSender,
        RaySender,
        UnshippableTypeError,
        channel_stats,
        close_channel,
        delete_channel,
        get_channel,
        list_channels,
        pause_channel,
        ray_channel,
        reference_channel,
        resize_channel,
        resume_channel,
        start_metrics_exporter,
    )

__all__ = [
    "CHANNEL_ACTOR_PREFIX",
    "LATENCY_BUCKETS",
    "Backend",
    "ChannelBackend",
    "ChannelBackendError",
    "ChannelClosed",
    "ChannelClosedError",
    "ChannelEmpty",
    "ChannelEmptyError",
    "ChannelFull",
    "ChannelFullError",
    "ChannelMetadata",
    "ChannelNotFoundError",
    "ChannelRestarted",
    "ChannelRestartedError",
    "ChannelStats",
    "DeadLetter",
    "Delivery",
    "DeliveryMode",
    "EndOfStream",
    "EndOfStreamError",
    "HandleClosed",
    "HandleClosedError",
    "LatencyHistogram",
    "LocalReceiver",
    "LocalSender",
    "MetricsPortError",
    "PeerClosed",
    "PeerClosedError",
    "RayChannelActor",
    "RayReceiver",
    "RayReferenceReceiver",
    "RayReferenceSender",
    "RaySender",
    "ReaderInfo",
    "Receiver",
    "ReferenceReceiver",
    "ReferenceSender",
    "Sender",
    "SenderLost",
    "SenderLostError",
    "Stage",
    "StageCancelledError",
    "StageError",
    "StageFailedError",
    "StageState",
    "StageStats",
    "UnshippableTypeError",
    "WorkerDiedError",
    "WorkerStats",
    "channel",
    "channel_stats",
    "close_channel",
    "delete_channel",
    "get_channel",
    "list_channels",
    "local_channel",
    "pause_channel",
    "ray_channel",
    "reference_channel",
    "resize_channel",
    "resume_channel",
    "stage",
    "start_metrics_exporter",
]

# The Ray backend's names: importing klaw_ray.ray imports Ray, so they load on first use.
_RAY_NAMES = frozenset(
    {
        "CHANNEL_ACTOR_PREFIX",
        "ChannelMetadata",
        "ChannelNotFoundError",
        "Delivery",
        "MetricsPortError",
        "RayChannelActor",
        "RayReceiver",
        "RayReferenceReceiver",
        "RayReferenceSender",
        "RaySender",
        "UnshippableTypeError",
        "channel_stats",
        "close_channel",
        "delete_channel",
        "get_channel",
        "list_channels",
        "pause_channel",
        "ray_channel",
        "reference_channel",
        "resize_channel",
        "resume_channel",
        "start_metrics_exporter",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _RAY_NAMES:
        raise AttributeError(f"module 'klaw_ray' has no attribute {name!r}")
    value = getattr(importlib.import_module("klaw_ray.ray"), name)
    globals()[name] = value
    return value
