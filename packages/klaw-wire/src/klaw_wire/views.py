"""Views: decode only the part of a message you need, skipping the rest.

msgspec skips unwanted values without building Python objects for them, so a view of a
message with a large payload costs a fraction of a full decode. Use
:func:`decode_envelope_view` to route envelopes by tag, channel or sequence number, and
:func:`decode_task_event_view` to index large task event records.

Example:
    >>> from klaw_wire import DataMessage, MessageKind, decode_envelope_view, encode
    >>> view = decode_envelope_view(encode(DataMessage.build(list(range(1000)), seq=9)))
    >>> (view.tag, view.header.kind is MessageKind.DATA, view.header.seq)
    (1, True, 9)
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from klaw_wire._version import decode_failure
from klaw_wire.codec import _as_bytes, _Buffer, _contiguous
from klaw_wire.errors import _DECODE_FAILURES, _decode_error
from klaw_wire.wire import WireHeader

__all__ = ["EnvelopeView", "TaskEventView", "decode_envelope_view", "decode_task_event_view"]


class EnvelopeView(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """The tag and header of any envelope; the fields after the header are skipped.

    Decoding checks that the header kind equals the tag, like a full decode does.

    Attributes:
        tag: The envelope's tag (1 data, 2 control, 3 heartbeat, 4 ack, 5 error).
        header: The envelope's header.

    Raises:
        ValueError: On construction, when ``header.kind`` differs from ``tag``.
    """

    tag: int
    """The envelope's tag."""
    header: WireHeader
    """The envelope's header."""

    def __post_init__(self) -> None:
        if self.header.kind != self.tag:
            raise ValueError(
                f"header kind {self.header.kind!r} disagrees with message tag {self.tag}"
            )


class TaskEventView(msgspec.Struct, frozen=True, gc=False):
    """The ``id``, ``ts`` and ``kind`` of a task event record; other fields are skipped.

    The record is a map (MessagePack or JSON object) with at least these three keys.

    Attributes:
        id: The event's identifier.
        ts: The event's timestamp, as the record gives it (an int is accepted).
        kind: The event's kind, e.g. ``"started"``.
    """

    id: str
    """The event's identifier."""
    ts: float
    """The event's timestamp."""
    kind: str
    """The event's kind."""


_ENVELOPE_VIEW: Final = msgspec.msgpack.Decoder(EnvelopeView)
_TASK_EVENT_MSGPACK: Final = msgspec.msgpack.Decoder(TaskEventView)
_TASK_EVENT_JSON: Final = msgspec.json.Decoder(TaskEventView)


def decode_envelope_view(buf: _Buffer) -> EnvelopeView:
    """Decode the tag and header of an encoded envelope, skipping the rest.

    The skipped part is still checked to be well-formed MessagePack of the right length,
    but not validated against the envelope's field types. Safe from any thread.

    Args:
        buf: Exactly one encoded envelope.

    Returns:
        Its view.

    Raises:
        WireDecodeError: ``buf`` does not start with a valid tag and header, or is not
            exactly one MessagePack value.
    """
    try:
        return _ENVELOPE_VIEW.decode(_contiguous(buf))
    except _DECODE_FAILURES as exc:
        raise decode_failure(exc, _as_bytes(buf)) from exc


def decode_task_event_view(
    buf: _Buffer | str, *, fmt: Literal["msgpack", "json"] = "msgpack"
) -> TaskEventView:
    """Pick ``id``, ``ts`` and ``kind`` out of an encoded task event record.

    Safe from any thread.

    Args:
        buf: One encoded record (for JSON, ``str`` is accepted too).
        fmt: The record's encoding.

    Returns:
        The view.

    Raises:
        WireDecodeError: ``buf`` is not a valid record or lacks one of the three fields.
        TypeError: ``buf`` is a ``str`` and ``fmt`` is ``"msgpack"``.
        ValueError: ``fmt`` is neither ``"msgpack"`` nor ``"json"``.
    """
    try:
        if fmt == "msgpack":
            if isinstance(buf, str):
                raise TypeError("a MessagePack record must be bytes-like, not str")
            return _TASK_EVENT_MSGPACK.decode(_contiguous(buf))
        if fmt == "json":
            return _TASK_EVENT_JSON.decode(buf if isinstance(buf, str) else _contiguous(buf))
    except _DECODE_FAILURES as exc:
        raise _decode_error(exc) from exc
    raise ValueError(f"fmt must be 'msgpack' or 'json', got {fmt!r}")
