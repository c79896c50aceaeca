"""What each control action's ``metadata`` holds: one struct per action that takes any.

A :class:`~klaw_wire.ControlMessage` asks its peer to act on the channel named by its
header's ``channel_id``. ``create`` carries ``nil`` or a map, ``resize`` a map; ``close``,
``pause`` and ``resume`` carry ``nil``. ``ControlMessage.build`` refuses other metadata.
Maps are decoded leniently, like every klaw-wire struct: keys a reader does not know are
ignored, so a later release may add optional keys without a new schema version.

:data:`CONTROL_METADATA` maps each action to its struct, or to ``None``; the JSON Schema
(:func:`~klaw_wire.json_schema`) is generated from it.

Example:
    >>> from klaw_wire import ControlMessage, ResizeMetadata, decode, encode, get_codec_pool
    >>> msg = decode(encode(ControlMessage.build("resize", metadata=ResizeMetadata(64))))
    >>> get_codec_pool().decode_payload(msg.metadata, ResizeMetadata).capacity
    64
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import msgspec

from klaw_types import ChannelCapacity

__all__ = ["CONTROL_METADATA", "CreateMetadata", "ResizeMetadata"]


class CreateMetadata(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """Metadata of ``create``: make the channel ``header.channel_id`` if it does not exist.

    ``nil`` metadata means the same as this struct with every field at its default.

    Attributes:
        capacity: The new channel's capacity, 1 to 1,000,000; ``None`` (the key
            absent): the peer's default.
    """

    capacity: ChannelCapacity | None = None
    """The new channel's capacity; ``None``: the peer's default."""


class ResizeMetadata(msgspec.Struct, frozen=True, gc=False):
    """Metadata of ``resize``: set the channel's capacity.

    Values already queued beyond a smaller capacity stay queued; sends wait until the
    queue is below it.

    Attributes:
        capacity: The new capacity, 1 to 1,000,000.
    """

    capacity: ChannelCapacity
    """The new capacity."""


CONTROL_METADATA: Final[Mapping[str, type[Any] | None]] = MappingProxyType(
    {
        "create": CreateMetadata,
        "close": None,
        "resize": ResizeMetadata,
        "pause": None,
        "resume": None,
    }
)
"""Each control action's metadata struct; ``None`` for the actions whose metadata is nil.

The keys are :data:`~klaw_wire.CONTROL_ACTIONS`.
"""
