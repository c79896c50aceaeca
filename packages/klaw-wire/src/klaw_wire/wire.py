"""The envelope types: every message that crosses a process or network boundary in klaw.

Each envelope is a frozen, ``gc=False``, array-like msgspec struct with an integer tag, so
on the wire it is one MessagePack array::

    [tag, [version, kind, channel_id, seq, ts], ...fields]

=====  ==================  ==========================================================
tag    type                fields after the header
=====  ==================  ==========================================================
1      ``DataMessage[T]``  ``payload: T``
2      ``ControlMessage``  ``action`` (create, close, resize, pause, resume),
                           ``metadata: Raw``
3      ``Heartbeat``       ``sender_id``
4      ``Ack``             ``acked_seq``, ``status``
5      ``WireError``       ``code``, ``message``, ``details: Raw``
=====  ==================  ==========================================================

``header.kind`` always equals the tag (:class:`MessageKind` numbers the kinds like the
tags). Each type's default header already has the right kind, and the ``build``
classmethods make one from keyword arguments. The check lives in ``__post_init__``, so it
runs on construction *and* on every decode, by klaw-wire or by any msgspec decoder of
these types: a disagreeing header raises :class:`ValueError` when built and
:class:`msgspec.ValidationError` when decoded. Measured in
``benchmarks/test_msgspec_performance.py`` against twin types without the hook, it costs
about 50 ns per decoded ``Ack`` (1.20-1.24x of a 0.22 us decode) and 90 ns per
``DataMessage[Order]`` (1.10-1.12x), the price of one call from msgspec into Python.

Fields are keyword-only. Readers ignore array elements they do not know, so a later
schema version may append fields to the header or to a message and older readers still
decode it.

Example:
    >>> from klaw_wire import Ack, decode, encode
    >>> ack = Ack.build(acked_seq=7, channel_id="jobs")
    >>> decode(encode(ack)) == ack
    True
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, Generic, Literal, NoReturn, Self, TypeAlias, TypeVar, Union, get_args

import msgspec

from klaw_types import NonNegativeInt, PositiveInt

__all__ = [
    "CONTROL_ACTIONS",
    "NIL",
    "WIRE_SCHEMA_VERSION",
    "Ack",
    "ControlAction",
    "ControlMessage",
    "DataMessage",
    "Heartbeat",
    "MessageKind",
    "WireEnvelope",
    "WireError",
    "WireHeader",
    "WireMessage",
]

T_co = TypeVar("T_co", covariant=True)
U = TypeVar("U")

WIRE_SCHEMA_VERSION: Final = 1
"""The schema version this package writes into every header it builds."""

NIL: Final = msgspec.Raw(b"\xc0")
"""A :class:`msgspec.Raw` holding MessagePack ``nil``: the default for ``Raw`` fields.

An empty ``Raw()`` would encode to zero bytes and leave the enclosing array one element
short, so ``Raw`` fields default to this one-byte value instead.
"""

ControlAction: TypeAlias = Literal["create", "close", "resize", "pause", "resume"]
"""What a :class:`ControlMessage` asks the peer to do to a channel."""

CONTROL_ACTIONS: Final[frozenset[str]] = frozenset(get_args(ControlAction))
"""The valid values of :data:`ControlAction`."""


class MessageKind(IntEnum):
    """The kind of an envelope, stored in its header; equal to the envelope's tag."""

    DATA = 1
    """A :class:`DataMessage`: application payload."""
    CONTROL = 2
    """A :class:`ControlMessage`: channel lifecycle."""
    HEARTBEAT = 3
    """A :class:`Heartbeat`: liveness."""
    ACK = 4
    """An :class:`Ack`: acknowledges a sequence number."""
    ERROR = 5
    """A :class:`WireError`: a failure reported to the peer."""


class WireHeader(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """The header every envelope starts with: ``[version, kind, channel_id, seq, ts]``.

    Immutable and safe to share between threads. Decoding rejects a version below 1 and
    a negative ``seq`` or ``ts``; constructing one does not check values.

    Attributes:
        version: Schema version of the writer.
        kind: The envelope's kind; must match the envelope type it is put in.
        channel_id: The channel the message belongs to.
        seq: Sender-assigned sequence number.
        ts: Send time in Unix milliseconds (0 when not set).
    """

    version: PositiveInt = WIRE_SCHEMA_VERSION
    """Schema version of the writer."""
    kind: MessageKind = MessageKind.DATA
    """The envelope's kind."""
    channel_id: str = ""
    """The channel the message belongs to."""
    seq: NonNegativeInt = 0
    """Sender-assigned sequence number."""
    ts: NonNegativeInt = 0
    """Send time in Unix milliseconds (0 when not set)."""


def _header(kind: MessageKind, channel_id: str, seq: int, ts: int, version: int) -> WireHeader:
    return WireHeader(version=version, kind=kind, channel_id=channel_id, seq=seq, ts=ts)


def _reject_header(message: object, expected: MessageKind) -> NoReturn:
    header = getattr(message, "header", None)
    kind = getattr(header, "kind", None)
    name = type(message).__name__
    if kind is None:
        raise TypeError(f"{name}.header must be a WireHeader, got {type(header).__name__}")
    shown = kind.name if isinstance(kind, MessageKind) else repr(kind)
    raise ValueError(f"{name} requires header.kind {expected.name}, got {shown}")


def _reject_raw(message: object, field: str) -> NoReturn:
    raise ValueError(
        f"{type(message).__name__}.{field} must hold exactly one MessagePack value; "
        "use klaw_wire.NIL for none"
    )


_DATA: Final = MessageKind.DATA
_CONTROL: Final = MessageKind.CONTROL
_HEARTBEAT: Final = MessageKind.HEARTBEAT
_ACK: Final = MessageKind.ACK
_ERROR: Final = MessageKind.ERROR


class DataMessage(
    msgspec.Struct, Generic[T_co], array_like=True, frozen=True, gc=False, tag=1, kw_only=True
):
    """Application data (tag 1): ``[1, header, payload]``.

    Inside :data:`WireEnvelope` the payload is a :class:`msgspec.Raw`, decoded later by
    type with :meth:`CodecPool.decode_payload`; :meth:`CodecPool.decode_data` decodes a
    whole ``DataMessage[T]`` in one pass.

    Attributes:
        header: Must have ``kind`` DATA (the default header does).
        payload: The value carried. A ``Raw`` payload must hold one complete
            MessagePack value (an empty ``Raw()`` would produce a malformed message).

    Raises:
        ValueError: ``header.kind`` is not DATA.
        TypeError: ``header`` is not a :class:`WireHeader`.
    """

    header: WireHeader = WireHeader()
    """The header; ``kind`` is DATA."""
    payload: T_co
    """The value carried."""

    def __post_init__(self) -> None:
        try:
            if self.header.kind != _DATA:
                _reject_header(self, _DATA)
        except AttributeError:
            _reject_header(self, _DATA)

    @classmethod
    def build(
        cls,
        payload: U,
        *,
        channel_id: str = "",
        seq: int = 0,
        ts: int = 0,
        version: int = WIRE_SCHEMA_VERSION,
    ) -> DataMessage[U]:
        """Build a data message, its header filled from the keyword arguments.

        Args:
            payload: The value to carry.
            channel_id: The channel the message belongs to.
            seq: Sender-assigned sequence number.
            ts: Send time in Unix milliseconds.
            version: Schema version to write.

        Returns:
            A ``DataMessage`` whose header kind is DATA.
        """
        return DataMessage(header=_header(_DATA, channel_id, seq, ts, version), payload=payload)


class ControlMessage(msgspec.Struct, array_like=True, frozen=True, gc=False, tag=2, kw_only=True):
    """A channel lifecycle command (tag 2): ``[2, header, action, metadata]``.

    Attributes:
        header: Must have ``kind`` CONTROL (the default header does).
        action: One of create, close, resize, pause, resume; any other value is
            rejected on construction and on decode.
        metadata: Arguments of the action as one MessagePack value (:data:`NIL` when
            there are none).

    Raises:
        ValueError: ``header.kind`` is not CONTROL, ``action`` is unknown, or
            ``metadata`` is empty.
        TypeError: ``header`` is not a :class:`WireHeader`.
    """

    header: WireHeader = WireHeader(kind=_CONTROL)
    """The header; ``kind`` is CONTROL."""
    action: ControlAction
    """What the peer is asked to do."""
    metadata: msgspec.Raw = NIL
    """Arguments of the action, encoded; decode with ``CodecPool.decode_payload``."""

    def __post_init__(self) -> None:
        try:
            if self.header.kind != _CONTROL:
                _reject_header(self, _CONTROL)
        except AttributeError:
            _reject_header(self, _CONTROL)
        if self.action not in CONTROL_ACTIONS:
            allowed = ", ".join(sorted(CONTROL_ACTIONS))
            raise ValueError(f"ControlMessage.action must be one of {allowed}: {self.action!r}")
        if not self.metadata:
            _reject_raw(self, "metadata")

    @classmethod
    def build(
        cls,
        action: ControlAction,
        *,
        metadata: object = None,
        channel_id: str = "",
        seq: int = 0,
        ts: int = 0,
        version: int = WIRE_SCHEMA_VERSION,
    ) -> Self:
        """Build a control message, encoding ``metadata`` and filling the header.

        Args:
            action: What the peer is asked to do.
            metadata: Any msgspec-encodable value (``None`` gives :data:`NIL`); a
                :class:`msgspec.Raw` is used as is.
            channel_id: The channel the message belongs to.
            seq: Sender-assigned sequence number.
            ts: Send time in Unix milliseconds.
            version: Schema version to write.

        Returns:
            A ``ControlMessage`` whose header kind is CONTROL.

        Raises:
            ValueError: ``action`` is unknown.
            TypeError: ``metadata`` holds a value msgpack cannot encode.
        """
        return cls(
            header=_header(_CONTROL, channel_id, seq, ts, version),
            action=action,
            metadata=_to_raw(metadata),
        )


class Heartbeat(msgspec.Struct, array_like=True, frozen=True, gc=False, tag=3, kw_only=True):
    """A liveness signal (tag 3): ``[3, header, sender_id]``.

    Attributes:
        header: Must have ``kind`` HEARTBEAT (the default header does).
        sender_id: Who is alive.

    Raises:
        ValueError: ``header.kind`` is not HEARTBEAT.
        TypeError: ``header`` is not a :class:`WireHeader`.
    """

    header: WireHeader = WireHeader(kind=_HEARTBEAT)
    """The header; ``kind`` is HEARTBEAT."""
    sender_id: str = ""
    """Who is alive."""

    def __post_init__(self) -> None:
        try:
            if self.header.kind != _HEARTBEAT:
                _reject_header(self, _HEARTBEAT)
        except AttributeError:
            _reject_header(self, _HEARTBEAT)

    @classmethod
    def build(
        cls,
        *,
        sender_id: str = "",
        channel_id: str = "",
        seq: int = 0,
        ts: int = 0,
        version: int = WIRE_SCHEMA_VERSION,
    ) -> Self:
        """Build a heartbeat, filling the header from the keyword arguments.

        Args:
            sender_id: Who is alive.
            channel_id: The channel the message belongs to.
            seq: Sender-assigned sequence number.
            ts: Send time in Unix milliseconds.
            version: Schema version to write.

        Returns:
            A ``Heartbeat`` whose header kind is HEARTBEAT.
        """
        return cls(header=_header(_HEARTBEAT, channel_id, seq, ts, version), sender_id=sender_id)


class Ack(msgspec.Struct, array_like=True, frozen=True, gc=False, tag=4, kw_only=True):
    """An acknowledgement (tag 4): ``[4, header, acked_seq, status]``.

    Attributes:
        header: Must have ``kind`` ACK (the default header does).
        acked_seq: The sequence number acknowledged.
        status: Outcome, ``"ok"`` by default.

    Raises:
        ValueError: ``header.kind`` is not ACK.
        TypeError: ``header`` is not a :class:`WireHeader`.
    """

    header: WireHeader = WireHeader(kind=_ACK)
    """The header; ``kind`` is ACK."""
    acked_seq: NonNegativeInt = 0
    """The sequence number acknowledged."""
    status: str = "ok"
    """Outcome of processing the acknowledged message."""

    def __post_init__(self) -> None:
        try:
            if self.header.kind != _ACK:
                _reject_header(self, _ACK)
        except AttributeError:
            _reject_header(self, _ACK)

    @classmethod
    def build(
        cls,
        *,
        acked_seq: int = 0,
        status: str = "ok",
        channel_id: str = "",
        seq: int = 0,
        ts: int = 0,
        version: int = WIRE_SCHEMA_VERSION,
    ) -> Self:
        """Build an acknowledgement, filling the header from the keyword arguments.

        Args:
            acked_seq: The sequence number acknowledged.
            status: Outcome of processing the acknowledged message.
            channel_id: The channel the message belongs to.
            seq: Sender-assigned sequence number of the ack itself.
            ts: Send time in Unix milliseconds.
            version: Schema version to write.

        Returns:
            An ``Ack`` whose header kind is ACK.
        """
        return cls(
            header=_header(_ACK, channel_id, seq, ts, version), acked_seq=acked_seq, status=status
        )


class WireError(msgspec.Struct, array_like=True, frozen=True, gc=False, tag=5, kw_only=True):
    """A failure reported to the peer (tag 5): ``[5, header, code, message, details]``.

    :func:`klaw_wire.to_wire_error` builds one from an error struct or exception and
    :func:`klaw_wire.from_wire_error` turns one back into an exception.

    Attributes:
        header: Must have ``kind`` ERROR (the default header does).
        code: A stable error code (see :class:`klaw_wire.ErrorCode`).
        message: Human-readable description.
        details: Structured details as one MessagePack value (:data:`NIL` for none).

    Raises:
        ValueError: ``header.kind`` is not ERROR, or ``details`` is empty.
        TypeError: ``header`` is not a :class:`WireHeader`.
    """

    header: WireHeader = WireHeader(kind=_ERROR)
    """The header; ``kind`` is ERROR."""
    code: str = ""
    """A stable error code."""
    message: str = ""
    """Human-readable description."""
    details: msgspec.Raw = NIL
    """Structured details, encoded."""

    def __post_init__(self) -> None:
        try:
            if self.header.kind != _ERROR:
                _reject_header(self, _ERROR)
        except AttributeError:
            _reject_header(self, _ERROR)
        if not self.details:
            _reject_raw(self, "details")

    @classmethod
    def build(
        cls,
        *,
        code: str = "",
        message: str = "",
        details: object = None,
        channel_id: str = "",
        seq: int = 0,
        ts: int = 0,
        version: int = WIRE_SCHEMA_VERSION,
    ) -> Self:
        """Build an error message, encoding ``details`` and filling the header.

        Args:
            code: A stable error code.
            message: Human-readable description.
            details: Any msgspec-encodable value (``None`` gives :data:`NIL`); a
                :class:`msgspec.Raw` is used as is.
            channel_id: The channel the message belongs to.
            seq: Sender-assigned sequence number.
            ts: Send time in Unix milliseconds.
            version: Schema version to write.

        Returns:
            A ``WireError`` whose header kind is ERROR.

        Raises:
            TypeError: ``details`` holds a value msgpack cannot encode.
        """
        return cls(
            header=_header(_ERROR, channel_id, seq, ts, version),
            code=code,
            message=message,
            details=_to_raw(details),
        )


def _to_raw(value: object) -> msgspec.Raw:
    if isinstance(value, msgspec.Raw):
        return value
    if value is None:
        return NIL
    return msgspec.Raw(msgspec.msgpack.encode(value))


WireEnvelope: TypeAlias = Union[  # noqa: UP007 - a runtime union of a generic alias
    DataMessage[msgspec.Raw], ControlMessage, Heartbeat, Ack, WireError
]
"""Any envelope as decoded without knowing the payload type (payload left as ``Raw``)."""

WireMessage: TypeAlias = Union[  # noqa: UP007 - a runtime union of a generic alias
    DataMessage[object], ControlMessage, Heartbeat, Ack, WireError
]
"""Any envelope that can be encoded, whatever its payload type."""
