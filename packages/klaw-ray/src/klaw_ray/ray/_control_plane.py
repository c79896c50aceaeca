"""The channel actor's side of the control plane: one ``ControlMessage`` in, one answer out.

An operator's request (:mod:`klaw_ray.ray._operations`, ``klaw channels``) reaches the
channel actor as an encoded klaw-wire :class:`~klaw_wire.ControlMessage`; the actor hands
the bytes to :func:`apply_control`, which checks the whole message first and only then
changes the :class:`~klaw_ray.ray._core.ChannelCore`, so a refused message changes
nothing. The answer is what the wire protocol's control section says: an encoded
:class:`~klaw_wire.Ack` of the message's ``seq``, or an encoded
:class:`~klaw_wire.WireError` whose ``code`` says why:

==========================  ================================================================
code                        when
==========================  ================================================================
``wire.decode``             the bytes are not one envelope, the action is unknown, or the
                            metadata does not fit the action's layout (a capacity of 0)
``control.unsupported``     a valid envelope that is not a ``ControlMessage``, or ``create``
                            (the channel exists: its actor is the one answering)
``control.wrong_channel``   the header's ``channel_id`` names another channel
==========================  ================================================================
"""

from __future__ import annotations

from typing import Final

from klaw_ray.ray._core import ChannelCore
from klaw_wire import (
    CONTROL_METADATA,
    NIL,
    Ack,
    ControlMessage,
    ResizeMetadata,
    WireDecodeError,
    WireError,
    decode,
    encode,
    get_codec_pool,
    to_wire_error,
)

__all__ = ["UNSUPPORTED", "WRONG_CHANNEL", "apply_control"]

UNSUPPORTED: Final = "control.unsupported"
"""Error code: the message is not a control action this channel actor can apply."""
WRONG_CHANNEL: Final = "control.wrong_channel"
"""Error code: the message names another channel than the one whose actor received it."""

_NIL_BYTES: Final = bytes(NIL)


class _Refused(Exception):
    """A control message refused with an application code of the control plane."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


def apply_control(core: ChannelCore, channel: str, request: bytes) -> bytes:
    """Apply one encoded ``ControlMessage`` to ``core``; return the encoded answer.

    Runs on the actor's event loop without awaiting, so the change is atomic with
    respect to every other call. Never raises for bad input: hostile bytes, an unknown
    action or bad metadata are answered with a ``WireError`` and change nothing.

    Args:
        core: The channel's state.
        channel: The channel's name; a message naming another channel is refused (an
            empty ``channel_id`` means this one).
        request: The encoded message.

    Returns:
        An encoded :class:`~klaw_wire.Ack` (``acked_seq`` is the message's ``seq``), or an
        encoded :class:`~klaw_wire.WireError` (see the module documentation for codes).
    """
    try:
        message = decode(request)
    except WireDecodeError as exc:
        return encode(to_wire_error(exc))
    try:
        _apply(core, channel, message)
    except WireDecodeError as exc:
        return encode(to_wire_error(exc, header=message.header))
    except _Refused as exc:
        answer = WireError.build(
            code=exc.code, message=exc.message, channel_id=channel, seq=message.header.seq
        )
        return encode(answer)
    return encode(Ack.build(acked_seq=message.header.seq, channel_id=channel))


def _apply(core: ChannelCore, channel: str, message: object) -> None:
    """Check ``message`` whole, then apply it (nothing changes if it is refused)."""
    if not isinstance(message, ControlMessage):
        raise _Refused(
            UNSUPPORTED,
            f"a channel actor takes control messages only, not a {type(message).__name__}",
        )
    named = message.header.channel_id
    if named and named != channel:
        raise _Refused(WRONG_CHANNEL, f"this is the actor of channel {channel!r}, not of {named!r}")
    action = message.action
    if action == "create":
        raise _Refused(
            UNSUPPORTED,
            f"channel {channel!r} exists already: create a channel with klaw_ray.channel()",
        )
    if CONTROL_METADATA[action] is None and bytes(message.metadata) != _NIL_BYTES:
        raise WireDecodeError(f"the metadata of {action!r} must be nil")
    if action == "resize":
        resize = get_codec_pool().decode_payload(message.metadata, ResizeMetadata)
        core.resize(resize.capacity)
    elif action == "pause":
        core.pause()
    elif action == "resume":
        core.resume()
    else:  # "close"
        core.shut_down()
