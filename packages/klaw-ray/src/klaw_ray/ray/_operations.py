"""Operator controls of named channels from Python: pause, resume, resize, close, stats.

Each control travels as a klaw-wire :class:`~klaw_wire.ControlMessage` envelope to the
channel's actor (:meth:`RayChannelActor.control`), which answers with an
:class:`~klaw_wire.Ack` or a :class:`~klaw_wire.WireError`; ``klaw channels`` uses these
functions. The channel is found by name like :func:`~klaw_ray.get_channel` finds it.
"""

from __future__ import annotations

import itertools
from typing import Any, Final

import msgspec
from ray.exceptions import RayError

from klaw_config import KlawConfig
from klaw_ray.ray._named import _find
from klaw_ray.ray._runtime import backend_error
from klaw_ray.stats import ChannelStats
from klaw_types import ChannelCapacity
from klaw_wire import (
    Ack,
    ControlAction,
    ControlMessage,
    ResizeMetadata,
    WireDecodeError,
    WireError,
    decode,
    encode,
    from_wire_error,
)

__all__ = [
    "channel_stats",
    "close_channel",
    "pause_channel",
    "resize_channel",
    "resume_channel",
]

_SEQ: Final = itertools.count(1)
"""This process's sequence numbers of control messages (their acknowledgements echo them)."""


async def pause_channel(
    name: str, *, namespace: str | None = None, config: KlawConfig | None = None
) -> None:
    """Pause a named channel: senders wait, queued values are still delivered.

    From the answer on, the channel grants senders no more room: ``send`` waits (its
    timeout and cancellation work as on a full channel) and ``try_send`` answers
    ``Err(ChannelFull(...))``; values already queued, and those a sender held room for
    before the pause, still reach receivers. Pausing a paused channel changes nothing.
    A durable channel stays paused across actor restarts.

    Args:
        name: The channel's name.
        namespace: Its Ray namespace; defaults to ``ray.namespace``.
        config: The configuration; loaded with ``load_config()`` when not given.

    Raises:
        ValueError: ``name`` or ``namespace`` is not valid.
        ChannelNotFoundError: No such channel exists.
        ChannelBackendError: Ray or the actor cannot be reached.
        RemoteError: The actor refused the message (its ``code`` says why).
    """
    await _control(name, namespace, config, "pause")


async def resume_channel(
    name: str, *, namespace: str | None = None, config: KlawConfig | None = None
) -> None:
    """Undo :func:`pause_channel`: waiting senders proceed, longest-waiting first.

    Resuming a channel that is not paused changes nothing.

    Args:
        name: The channel's name.
        namespace: Its Ray namespace; defaults to ``ray.namespace``.
        config: The configuration; loaded with ``load_config()`` when not given.

    Raises:
        ValueError: ``name`` or ``namespace`` is not valid.
        ChannelNotFoundError: No such channel exists.
        ChannelBackendError: Ray or the actor cannot be reached.
        RemoteError: The actor refused the message (its ``code`` says why).
    """
    await _control(name, namespace, config, "resume")


async def resize_channel(
    name: str,
    capacity: int,
    *,
    namespace: str | None = None,
    config: KlawConfig | None = None,
) -> None:
    """Set a named channel's capacity.

    A larger capacity lets waiting senders proceed at once, as far as the new room
    goes. A smaller one drops nothing: values queued beyond it stay and are delivered,
    and senders wait until the queue is below it. A durable channel keeps the new
    capacity across actor restarts. (Handles keep the capacity they were made with for
    their own batch sizes and error messages; ``stats().capacity`` is the new one.)

    Args:
        name: The channel's name.
        capacity: The new capacity, 1 to 1,000,000.
        namespace: Its Ray namespace; defaults to ``ray.namespace``.
        config: The configuration; loaded with ``load_config()`` when not given.

    Raises:
        TypeError: ``capacity`` is not an int.
        ValueError: ``capacity`` is out of range, or ``name`` or ``namespace`` is not
            valid.
        ChannelNotFoundError: No such channel exists.
        ChannelBackendError: Ray or the actor cannot be reached.
        RemoteError: The actor refused the message (its ``code`` says why).
    """
    given: object = capacity  # callers may pass anything at run time
    if isinstance(given, bool) or not isinstance(given, int):
        raise TypeError(f"capacity must be an int, not {type(given).__name__}")
    await _control(name, namespace, config, "resize", ResizeMetadata(capacity))


async def close_channel(
    name: str, *, namespace: str | None = None, config: KlawConfig | None = None
) -> None:
    """Close a named channel: every sender closed, receivers drain, then see the end.

    Every open sender handle, and any opened later, is closed: its next send raises
    ``HandleClosedError`` (values it buffered and had not flushed are not accepted).
    Receivers get every value queued or leased, then ``EndOfStreamError`` (``async
    for`` ends). The actor stays until :func:`~klaw_ray.delete_channel` removes it, so
    receivers can drain. Closing a closed channel changes nothing.

    Args:
        name: The channel's name.
        namespace: Its Ray namespace; defaults to ``ray.namespace``.
        config: The configuration; loaded with ``load_config()`` when not given.

    Raises:
        ValueError: ``name`` or ``namespace`` is not valid.
        ChannelNotFoundError: No such channel exists.
        ChannelBackendError: Ray or the actor cannot be reached.
        RemoteError: The actor refused the message (its ``code`` says why).
    """
    await _control(name, namespace, config, "close")


async def channel_stats(
    name: str, *, namespace: str | None = None, config: KlawConfig | None = None
) -> ChannelStats:
    """Return a statistics snapshot of a named channel, without opening a handle.

    One actor call; concurrent calls each get their own snapshot.

    Args:
        name: The channel's name.
        namespace: Its Ray namespace; defaults to ``ray.namespace``.
        config: The configuration; loaded with ``load_config()`` when not given.

    Returns:
        The snapshot, as a handle's ``stats()`` returns it.

    Raises:
        ValueError: ``name`` or ``namespace`` is not valid.
        ChannelNotFoundError: No such channel exists.
        ChannelBackendError: Ray or the actor cannot be reached.
    """
    actor, full_name, namespace, _ = await _find(name, namespace, config)
    try:
        stats: ChannelStats = await actor.stats.remote()
    except RayError as exc:
        raise backend_error(exc, full_name, namespace, name) from exc
    return stats


async def _control(
    name: str,
    namespace: str | None,
    config: KlawConfig | None,
    action: ControlAction,
    metadata: Any = None,
) -> None:
    """Send one control message to the actor of ``name``; raise what its answer says."""
    if isinstance(metadata, ResizeMetadata):
        _check_capacity(metadata.capacity)
    actor, full_name, namespace, _ = await _find(name, namespace, config)
    seq = next(_SEQ)
    message = ControlMessage.build(action, metadata=metadata, channel_id=name, seq=seq)
    try:
        answer_bytes: bytes = await actor.control.remote(encode(message))
    except RayError as exc:
        raise backend_error(exc, full_name, namespace, name) from exc
    try:
        answer = decode(answer_bytes)
    except WireDecodeError as exc:
        raise backend_error(exc, full_name, namespace, name) from exc
    if isinstance(answer, WireError):
        raise from_wire_error(answer)
    if not isinstance(answer, Ack) or answer.acked_seq != seq:
        raise backend_error(
            ValueError(f"the actor answered {answer!r} to control message {seq}"),
            full_name,
            namespace,
            name,
        )


def _check_capacity(capacity: int) -> None:
    try:
        msgspec.convert(capacity, ChannelCapacity)
    except msgspec.ValidationError as exc:
        reason = str(exc).replace(" - at `$`", "")
        raise ValueError(f"invalid capacity {capacity!r}: {reason}") from exc
