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

The normative description, for implementers in any language, is the user guide's
"klaw wire protocol, version 1" page.

Where each rule is checked:

- ``header.kind`` always equals the tag (:class:`MessageKind` numbers the kinds like the
  tags). msgspec cannot express that rule, so it lives in ``__post_init__``, shared by the
  five types: it runs on construction *and* on every decode, by klaw-wire or by any
  msgspec decoder of these types. A disagreeing header raises
  :class:`~klaw_wire.InvalidMessageError` (a ``ValueError``) when constructed and
  :class:`msgspec.ValidationError` when decoded. Its cost, one call from msgspec into
  Python per decoded message, is measured by the ``kind-check`` benchmark group.
- Every other rule is in the annotations (``seq`` a uint64, ``version`` exactly 1, the
  action one of five, ...): msgspec checks them when decoding, and ``build`` checks them
  when building, so a message made by ``build`` always decodes. The bare constructors,
  like every msgspec struct's, check no more than the kind: checking there would run
  on every decode too.

Fields are keyword-only. Readers ignore array elements after the ones they know: that is
how a message of this version may gain fields (see the specification's version rules).

Example:
    >>> from klaw_wire import Ack, decode, encode
    >>> ack = Ack.build(acked_seq=7, channel_id="jobs")
    >>> decode(encode(ack)) == ack
    True
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import (
    Annotated,
    Any,
    ClassVar,
    Final,
    Generic,
    Literal,
    Self,
    TypeAlias,
    TypeVar,
    Union,
    cast,
    get_args,
)

import msgspec
import msgspec.inspect

from klaw_types import NonNegativeInt
from klaw_wire._exceptions import InvalidMessageError
from klaw_wire._rules import UINT64_MAX, check_fields, check_layout
from klaw_wire.control import CONTROL_METADATA

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
"""The schema version this package writes into every header, and the only one it reads."""

NIL: Final = msgspec.Raw(b"\xc0")
"""A :class:`msgspec.Raw` holding MessagePack ``nil``: the default for ``Raw`` fields.

An empty ``Raw()`` would encode to zero bytes and leave the enclosing array one element
short, so ``Raw`` fields default to this one-byte value instead.
"""

_UInt64: TypeAlias = Annotated[
    NonNegativeInt,
    msgspec.Meta(
        # msgspec bounds must fit an int64; MessagePack itself stops at 2**64 - 1.
        extra_json_schema={"maximum": UINT64_MAX},
        description="An unsigned 64-bit integer: 0 to 2**64 - 1.",
    ),
]


def _nil() -> msgspec.Raw:
    return NIL


_RawValue: TypeAlias = Annotated[
    msgspec.Raw,
    msgspec.Meta(
        # The default, NIL, is MessagePack nil: null in the JSON Schema. (Given as a
        # factory: msgspec's schema generator cannot write a Raw default itself.)
        extra_json_schema={"default": None},
        description="Exactly one MessagePack value, of any type.",
    ),
]

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

    Immutable and safe to share between threads. Decoding rejects any version but 1 (as
    :class:`~klaw_wire.UnknownSchemaVersionError` from klaw-wire's decoders) and a
    ``seq`` or ``ts`` outside the uint64 range; constructing one does not check values
    (``build`` does).

    Attributes:
        version: Schema version of the writer: 1.
        kind: The envelope's kind; must match the envelope type it is put in.
        channel_id: The channel the message belongs to.
        seq: Sender-assigned sequence number, a uint64.
        ts: Send time in Unix milliseconds (UTC), a uint64; 0 when not set.
    """

    version: Literal[1] = WIRE_SCHEMA_VERSION
    """Schema version of the writer."""
    kind: MessageKind = MessageKind.DATA
    """The envelope's kind."""
    channel_id: str = ""
    """The channel the message belongs to."""
    seq: _UInt64 = 0
    """Sender-assigned sequence number."""
    ts: _UInt64 = 0
    """Send time in Unix milliseconds (UTC); 0 when not set."""


def _reject_header(message: object, expected: MessageKind) -> None:
    """The slow path of the kind check: accept an equal plain ``int``, reject anything else."""
    header = getattr(message, "header", None)
    kind = getattr(header, "kind", None)
    name = type(message).__name__
    if kind is None:
        raise TypeError(f"{name}.header must be a WireHeader, got {type(header).__name__}")
    if type(kind) is int and kind == expected:
        return
    shown = kind.name if isinstance(kind, MessageKind) else repr(kind)
    raise InvalidMessageError(
        field=f"{name}.header.kind", reason=f"must be {expected.name}, got {shown}"
    )


def _kind_check(kind: MessageKind) -> Callable[[Any], None]:
    """Return the ``__post_init__`` of the envelope type of ``kind``: the kind rule.

    msgspec calls it on construction and after every decode, so it is on the hot path of
    decoding: the kind is bound as a default argument (a local variable) rather than read
    from the class on each call, and a decoded header holds the enum member itself, so an
    identity test is enough; anything else takes the slow path.
    """

    def check_kind(self: Any, _kind: MessageKind = kind) -> None:
        try:
            if self.header.kind is not _kind:
                _reject_header(self, _kind)
        except AttributeError:
            _reject_header(self, _kind)

    return check_kind


def _to_raw(value: object, field: str) -> msgspec.Raw:
    if isinstance(value, msgspec.Raw):
        return value
    if value is None:
        return NIL
    try:
        return msgspec.Raw(msgspec.msgpack.encode(value))
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise InvalidMessageError(field=field, reason=f"cannot be encoded: {exc}") from exc


def _is_raw(annotation: Any) -> bool:
    info = msgspec.inspect.type_info(annotation)
    while isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    return isinstance(info, msgspec.inspect.RawType)


class _Envelope(msgspec.Struct, array_like=True, frozen=True, gc=False, kw_only=True):
    """The base of the five envelope types: the header-kind rule and ``build``, once.

    A subclass sets ``_kind`` (equal to its tag) and a default header of that kind.
    """

    _kind: ClassVar[MessageKind]
    _fields: ClassVar[tuple[tuple[str, ...], frozenset[str]] | None] = None

    header: WireHeader
    """The header; its ``kind`` is the type's kind."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # msgspec reads __post_init__ once the class is created, so it sees this one.
        type.__setattr__(cls, "__post_init__", _kind_check(cls._kind))

    @classmethod
    def build(
        cls, *fields: Any, channel_id: str = "", seq: int = 0, ts: int = 0, **named: Any
    ) -> Self:
        """Build a message of this type, every value checked as a decoder would check it.

        The header is made from ``channel_id``, ``seq`` and ``ts``, with this type's kind
        and version 1. Positional arguments are the fields after the header, in wire
        order (``DataMessage.build(payload)``, ``ControlMessage.build("resize")``); the
        others are keyword arguments. A field typed ``msgspec.Raw`` (``metadata``,
        ``details``) takes any msgspec-encodable value, encoded at once (``None`` gives
        :data:`NIL`), or a :class:`msgspec.Raw` holding exactly one MessagePack value.

        Args:
            *fields: Values of the fields after the header, in order.
            channel_id: The channel the message belongs to.
            seq: Sender-assigned sequence number, 0 to 2**64 - 1.
            ts: Send time in Unix milliseconds (UTC), 0 to 2**64 - 1.
            **named: Values of the other fields, by name.

        Returns:
            The message, which encodes to bytes every version-1 reader accepts.

        Raises:
            InvalidMessageError: A value a decoder would reject: out of range, of the
                wrong type, an unknown action, a ``Raw`` that is not exactly one value,
                a value that cannot be encoded.
            TypeError: A field is given twice, does not exist, or is the header.
        """
        names, raw_fields = cls.__dict__.get("_fields") or cls._field_names()
        if len(fields) > len(names):
            raise TypeError(f"{cls.__name__}.build takes at most {len(names)} positional fields")
        for name, value in zip(names, fields, strict=False):
            if name in named:
                raise TypeError(f"{cls.__name__}.build got two values for {name!r}")
            named[name] = value
        if "header" in named:
            raise TypeError(f"{cls.__name__}.build makes the header from channel_id, seq, ts")
        for name in raw_fields.intersection(named):
            named[name] = _to_raw(named[name], f"{cls.__name__}.{name}")
        header = WireHeader(kind=cls._kind, channel_id=channel_id, seq=seq, ts=ts)
        check_fields(header, f"{cls.__name__}.header")
        message = cls(header=header, **named)
        check_fields(message, cls.__name__)
        message._check_layout()
        return message

    def _check_layout(self) -> None:
        """Check what is inside this type's ``Raw`` fields, where the protocol says."""

    @classmethod
    def _field_names(cls) -> tuple[tuple[str, ...], frozenset[str]]:
        """The fields after the header, and those typed ``Raw``; computed on first use."""
        fields = msgspec.structs.fields(cls)[1:]
        names = (
            tuple(field.name for field in fields),
            frozenset(field.name for field in fields if _is_raw(field.type)),
        )
        type.__setattr__(cls, "_fields", names)
        return names


class DataMessage(_Envelope, Generic[T_co], frozen=True, gc=False, tag=1, kw_only=True):
    """Application data (tag 1): ``[1, header, payload]``.

    Inside :data:`WireEnvelope` the payload is a :class:`msgspec.Raw`, decoded later by
    type with :meth:`CodecPool.decode_payload`; :meth:`CodecPool.decode_data` decodes a
    whole ``DataMessage[T]`` in one pass.

    Attributes:
        header: Must have ``kind`` DATA (the default header does).
        payload: The value carried. A ``Raw`` payload must hold one complete
            MessagePack value (``build`` checks it).

    Raises:
        InvalidMessageError: ``header.kind`` is not DATA.
        TypeError: ``header`` is not a :class:`WireHeader`.
    """

    _kind = MessageKind.DATA
    header: WireHeader = WireHeader()
    """The header; ``kind`` is DATA."""
    payload: T_co
    """The value carried."""

    @classmethod
    def build(
        cls, *fields: U, channel_id: str = "", seq: int = 0, ts: int = 0, **named: Any
    ) -> DataMessage[U]:
        """Build a data message: ``DataMessage.build(payload, channel_id=..., ...)``.

        The shared ``build`` of the envelope types, typed by the payload: the header's
        values are checked, and a ``Raw`` payload must hold exactly one value.

        Args:
            *fields: The payload.
            channel_id: The channel the message belongs to.
            seq: Sender-assigned sequence number, 0 to 2**64 - 1.
            ts: Send time in Unix milliseconds (UTC), 0 to 2**64 - 1.
            **named: ``payload=``, when not given positionally.

        Returns:
            A ``DataMessage`` whose header kind is DATA.

        Raises:
            InvalidMessageError: A header value a decoder would reject, or a ``Raw``
                payload that is not exactly one MessagePack value.
            TypeError: No payload, or more than one.
        """
        built = super().build(*fields, channel_id=channel_id, seq=seq, ts=ts, **named)
        return cast("DataMessage[U]", built)


class ControlMessage(_Envelope, frozen=True, gc=False, tag=2, kw_only=True):
    """A channel lifecycle command (tag 2): ``[2, header, action, metadata]``.

    Attributes:
        header: Must have ``kind`` CONTROL (the default header does).
        action: One of create, close, resize, pause, resume; any other value is
            rejected by ``build`` and on decode.
        metadata: Arguments of the action as one MessagePack value (:data:`NIL` when
            there are none).

    Raises:
        InvalidMessageError: ``header.kind`` is not CONTROL.
        TypeError: ``header`` is not a :class:`WireHeader`.
    """

    _kind = MessageKind.CONTROL
    header: WireHeader = WireHeader(kind=MessageKind.CONTROL)
    """The header; ``kind`` is CONTROL."""
    action: ControlAction
    """What the peer is asked to do."""
    metadata: _RawValue = msgspec.field(default_factory=_nil)
    """Arguments of the action, encoded; decode with ``CodecPool.decode_payload``."""

    def _check_layout(self) -> None:
        check_layout(self.metadata, CONTROL_METADATA.get(self.action), "ControlMessage.metadata")


class Heartbeat(_Envelope, frozen=True, gc=False, tag=3, kw_only=True):
    """A liveness signal (tag 3): ``[3, header, sender_id]``.

    Attributes:
        header: Must have ``kind`` HEARTBEAT (the default header does).
        sender_id: Who is alive.

    Raises:
        InvalidMessageError: ``header.kind`` is not HEARTBEAT.
        TypeError: ``header`` is not a :class:`WireHeader`.
    """

    _kind = MessageKind.HEARTBEAT
    header: WireHeader = WireHeader(kind=MessageKind.HEARTBEAT)
    """The header; ``kind`` is HEARTBEAT."""
    sender_id: str = ""
    """Who is alive."""


class Ack(_Envelope, frozen=True, gc=False, tag=4, kw_only=True):
    """An acknowledgement (tag 4): ``[4, header, acked_seq, status]``.

    Attributes:
        header: Must have ``kind`` ACK (the default header does).
        acked_seq: The ``seq`` of the message acknowledged, a uint64.
        status: Outcome, ``"ok"`` by default.

    Raises:
        InvalidMessageError: ``header.kind`` is not ACK.
        TypeError: ``header`` is not a :class:`WireHeader`.
    """

    _kind = MessageKind.ACK
    header: WireHeader = WireHeader(kind=MessageKind.ACK)
    """The header; ``kind`` is ACK."""
    acked_seq: _UInt64 = 0
    """The ``seq`` of the message acknowledged."""
    status: str = "ok"
    """Outcome of processing the acknowledged message."""


class WireError(_Envelope, frozen=True, gc=False, tag=5, kw_only=True):
    """A failure reported to the peer (tag 5): ``[5, header, code, message, details]``.

    :func:`klaw_wire.to_wire_error` builds one from an error struct or exception and
    :func:`klaw_wire.from_wire_error` turns one back into an exception.

    Attributes:
        header: Must have ``kind`` ERROR (the default header does).
        code: A stable error code (see :class:`klaw_wire.ErrorCode`).
        message: Human-readable description.
        details: Structured details as one MessagePack value (:data:`NIL` for none).

    Raises:
        InvalidMessageError: ``header.kind`` is not ERROR.
        TypeError: ``header`` is not a :class:`WireHeader`.
    """

    _kind = MessageKind.ERROR
    header: WireHeader = WireHeader(kind=MessageKind.ERROR)
    """The header; ``kind`` is ERROR."""
    code: str = ""
    """A stable error code."""
    message: str = ""
    """Human-readable description."""
    details: _RawValue = msgspec.field(default_factory=_nil)
    """Structured details, encoded."""

    def _check_layout(self) -> None:
        if self.code in _DETAIL_LAYOUTS:
            check_layout(self.details, _DETAIL_LAYOUTS[self.code], "WireError.details")


_DETAIL_LAYOUTS: Final[dict[str, type[Any] | None]] = {}
"""The ``details`` layout of each error code klaw-wire defines (``None``: always nil).

Filled by :mod:`klaw_wire.errors`, which defines the codes and their structs and is
imported with the package; read by ``WireError.build``.
"""


WireEnvelope: TypeAlias = Union[  # noqa: UP007 - a runtime union of a generic alias
    DataMessage[msgspec.Raw], ControlMessage, Heartbeat, Ack, WireError
]
"""Any envelope as decoded without knowing the payload type (payload left as ``Raw``)."""

WireMessage: TypeAlias = Union[  # noqa: UP007 - a runtime union of a generic alias
    DataMessage[object], ControlMessage, Heartbeat, Ack, WireError
]
"""Any envelope that can be encoded, whatever its payload type."""
