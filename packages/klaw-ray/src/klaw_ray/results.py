"""What the channel actor's methods return, and what it tells handles about itself.

These are small frozen structs that Ray pickles between the actor and the handles; the
values themselves travel inside ``data`` as klaw-wire envelopes (or, on a reference
channel, as object references).
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeAlias, TypeVar

import msgspec

__all__ = ["BatchResult", "ChannelMetadata", "SingleResult", "Status"]

T = TypeVar("T")

Status: TypeAlias = Literal["ok", "full", "empty", "closed", "invalid", "withdrawn"]
"""Outcome of an actor call: see :class:`SingleResult`."""


class SingleResult(msgspec.Struct, Generic[T], frozen=True, gc=False, omit_defaults=True):
    """Outcome of an actor call about one value.

    Attributes:
        status: ``"ok"``; ``"full"`` / ``"empty"`` when it would have to wait;
            ``"closed"``; ``"invalid"`` when the value does not match the channel's type;
            ``"withdrawn"`` when the caller withdrew the call.
        data: For a receive, the value as an encoded ``DataMessage[T]`` envelope.
        ref: For a receive on a reference channel, the object reference instead.
        error: Why the status is not ``"ok"``, for the exception a handle raises.
    """

    status: Status = "ok"
    data: bytes = b""
    ref: Any = None
    error: str = ""


class BatchResult(msgspec.Struct, Generic[T], frozen=True, gc=False, omit_defaults=True):
    """Outcome of an actor call about several values.

    Attributes:
        status: As for :class:`SingleResult`.
        count: Values accepted (put) or carried in ``data`` (get).
        data: For a receive, the values as one encoded ``DataMessage[list[T]]``.
        refs: For a receive on a reference channel, the object references instead.
        error: Why the status is not ``"ok"``.
    """

    status: Status = "ok"
    count: int = 0
    data: bytes = b""
    refs: tuple[Any, ...] = ()
    error: str = ""


class ChannelMetadata(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """What a handle needs to attach to an existing channel actor.

    Attributes:
        name: The channel's name ("" for an anonymous channel).
        namespace: The Ray namespace of a named channel.
        capacity: Most values queued at once; ``None`` when unbounded.
        value_type: The type values are checked against; ``None`` for any.
        by_reference: Whether the channel carries object references (``ray.put``
            results) rather than encoded values.
        created_at: Unix time, in seconds, when the actor was created.
    """

    name: str = ""
    namespace: str = ""
    capacity: int | None = None
    value_type: Any = None
    by_reference: bool = False
    created_at: float = 0.0
