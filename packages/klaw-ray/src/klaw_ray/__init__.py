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

from klaw_ray.factory import Backend, channel
from klaw_ray.local import LocalReceiver, LocalSender, local_channel
from klaw_ray.protocols import Receiver, ReferenceReceiver, ReferenceSender, Sender
from klaw_ray.results import (
    BatchResult,
    ChannelMetadata,
    GetRequest,
    PutRequest,
    SingleResult,
    Status,
)
from klaw_ray.stats import ChannelStats, ReaderInfo
from klaw_wire import (
    ChannelBackend,
    ChannelBackendError,
    ChannelClosed,
    ChannelClosedError,
    ChannelEmpty,
    ChannelEmptyError,
    ChannelFull,
    ChannelFullError,
)

if TYPE_CHECKING:
    from klaw_ray._struct_pickling import UnshippableTypeError
    from klaw_ray.actor import RayChannelActor
    from klaw_ray.named import ChannelNotFoundError, delete_channel, get_channel, list_channels
    from klaw_ray.ray_handles import (
        CHANNEL_ACTOR_PREFIX,
        RayReceiver,
        RayReferenceReceiver,
        RayReferenceSender,
        RaySender,
        ray_channel,
        reference_channel,
    )

__all__ = [
    "CHANNEL_ACTOR_PREFIX",
    "Backend",
    "BatchResult",
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
    "ChannelStats",
    "GetRequest",
    "LocalReceiver",
    "LocalSender",
    "PutRequest",
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
    "SingleResult",
    "Status",
    "UnshippableTypeError",
    "channel",
    "delete_channel",
    "get_channel",
    "list_channels",
    "local_channel",
    "ray_channel",
    "reference_channel",
]

# Names that import Ray, and the module each comes from.
_RAY_NAMES = {
    "RayChannelActor": "klaw_ray.actor",
    "ChannelNotFoundError": "klaw_ray.named",
    "delete_channel": "klaw_ray.named",
    "get_channel": "klaw_ray.named",
    "list_channels": "klaw_ray.named",
    "RayReceiver": "klaw_ray.ray_handles",
    "RayReferenceReceiver": "klaw_ray.ray_handles",
    "RayReferenceSender": "klaw_ray.ray_handles",
    "RaySender": "klaw_ray.ray_handles",
    "reference_channel": "klaw_ray.ray_handles",
    "ray_channel": "klaw_ray.ray_handles",
    "CHANNEL_ACTOR_PREFIX": "klaw_ray.ray_handles",
    "UnshippableTypeError": "klaw_ray._struct_pickling",
}


def __getattr__(name: str) -> Any:
    module = _RAY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'klaw_ray' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
