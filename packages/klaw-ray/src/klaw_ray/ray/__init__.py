"""klaw-ray's Ray backend: channels held by a Ray actor, usable from any task or actor.

Importing this package imports Ray. Most code reaches these names through the
:mod:`klaw_ray` facade (``from klaw_ray import RaySender, get_channel``), which loads
them on first use; the implementation lives in this package's private modules: the
handles, the channel actor, the messages they exchange, Ray start-up, the pickling of
``__main__`` structs and the registry of named channels.
"""

from __future__ import annotations

from klaw_ray.ray._actor import RayChannelActor
from klaw_ray.ray._exporter import MetricsPortError
from klaw_ray.ray._messages import ChannelMetadata
from klaw_ray.ray._metrics import start_metrics_exporter
from klaw_ray.ray._named import ChannelNotFoundError, delete_channel, get_channel, list_channels
from klaw_ray.ray._naming import CHANNEL_ACTOR_PREFIX
from klaw_ray.ray._open import ray_channel, reference_channel
from klaw_ray.ray._operations import (
    channel_stats,
    close_channel,
    pause_channel,
    resize_channel,
    resume_channel,
)
from klaw_ray.ray._pickling import UnshippableTypeError
from klaw_ray.ray._receiver import Delivery, RayReceiver
from klaw_ray.ray._reference import RayReferenceReceiver, RayReferenceSender
from klaw_ray.ray._sender import RaySender

__all__ = [
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
]
