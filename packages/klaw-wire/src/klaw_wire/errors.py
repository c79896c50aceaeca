"""klaw-wire's exceptions, the channel error structs, and their wire form.

Exception tree (every class carries its fields as attributes and builds its message from
them; all can be built with no arguments, and all pickle, so they cross Ray and process
boundaries intact)::

    KlawWireError
    ├── InvalidMessageError        (also a ValueError) a message built against the rules
    ├── WireDecodeError            (also a msgspec.DecodeError)
    │   ├── WireValidationError    (also a msgspec.ValidationError)
    │   ├── UnknownSchemaVersionError
    │   └── FrameTooLargeError
    ├── WireEncodeError            (also a msgspec.EncodeError)
    ├── ChannelError
    │   ├── ChannelClosedError
    │   │   ├── EndOfStreamError        every sender closed, the queue is drained
    │   │   ├── HandleClosedError       the caller closed this handle
    │   │   ├── PeerClosedError         every handle at the other end is gone
    │   │   ├── SenderLostError         a sender died without closing
    │   │   └── ChannelBackendError     the backend failed
    │   │       └── ChannelRestartedError   it restarted and lost queued values
    │   ├── ChannelFullError
    │   └── ChannelEmptyError
    └── RemoteError

Decoding contract: every decode entry point of klaw-wire (``CodecPool.decode``,
``decode_payload``, ``decode_data``, the schema registry, the views, framing and
:func:`from_wire_error`) raises :class:`WireDecodeError` or a subclass for bad input,
whatever the bytes, keeping msgspec's message and path. Nothing else escapes.

Channel errors come in pairs: a frozen msgspec struct (``ChannelClosed``, ``EndOfStream``,
``HandleClosed``, ``PeerClosed``, ``SenderLost``, ``ChannelFull``, ``ChannelEmpty``,
``ChannelBackend``, ``ChannelRestarted``) to return as a value, and an exception to raise;
``struct.to_exception()`` and ``exc.to_struct()`` convert between them, and
:func:`to_wire_error` / :func:`from_wire_error` carry either across the wire as a
:class:`~klaw_wire.WireError` with a stable :class:`ErrorCode`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Final, TypeAlias, Union

import msgspec

from klaw_wire._exceptions import InvalidMessageError, KlawWireError
from klaw_wire._rules import check_fields
from klaw_wire.wire import _DETAIL_LAYOUTS, NIL, MessageKind, WireError, WireHeader

__all__ = [
    "ChannelBackend",
    "ChannelBackendError",
    "ChannelClosed",
    "ChannelClosedError",
    "ChannelEmpty",
    "ChannelEmptyError",
    "ChannelError",
    "ChannelErrorStruct",
    "ChannelFull",
    "ChannelFullError",
    "ChannelRestarted",
    "ChannelRestartedError",
    "EndOfStream",
    "EndOfStreamError",
    "ErrorCode",
    "FrameTooLargeError",
    "HandleClosed",
    "HandleClosedError",
    "InvalidMessageError",
    "KlawWireError",
    "PeerClosed",
    "PeerClosedError",
    "RemoteError",
    "SenderLost",
    "SenderLostError",
    "UnknownSchemaVersionError",
    "WireDecodeError",
    "WireEncodeError",
    "WireValidationError",
    "from_wire_error",
    "to_wire_error",
]


class ErrorCode(StrEnum):
    """Stable codes of :class:`~klaw_wire.WireError` messages. Never renumber or rename.

    =====================  =========================================================
    code                   meaning
    =====================  =========================================================
    ``channel.closed``     :class:`ChannelClosedError`: the channel is closed (a
                           peer that does not say which way).
    ``channel.end_of_stream``  :class:`EndOfStreamError`: every sender closed and
                           the queue is drained.
    ``channel.handle_closed``  :class:`HandleClosedError`: the caller closed the
                           handle it used.
    ``channel.peer_closed``    :class:`PeerClosedError`: every handle at the other
                           end closed or died (for a sender: no receiver is left).
    ``channel.sender_lost``    :class:`SenderLostError`: a sender died without
                           closing; the stream may be incomplete.
    ``channel.full``       :class:`ChannelFullError`: a non-waiting send found it full.
    ``channel.empty``      :class:`ChannelEmptyError`: a non-waiting receive found
                           nothing.
    ``channel.backend``    :class:`ChannelBackendError`: the backend (e.g. a Ray
                           actor) failed.
    ``channel.restarted``  :class:`ChannelRestartedError`: the backend restarted
                           and lost the values it held.
    ``wire.decode``        the peer could not decode what it received.
    ``wire.encode``        the peer could not encode its reply.
    ``internal``           any other exception on the peer.
    =====================  =========================================================
    """

    CHANNEL_CLOSED = "channel.closed"
    END_OF_STREAM = "channel.end_of_stream"
    HANDLE_CLOSED = "channel.handle_closed"
    PEER_CLOSED = "channel.peer_closed"
    SENDER_LOST = "channel.sender_lost"
    CHANNEL_FULL = "channel.full"
    CHANNEL_EMPTY = "channel.empty"
    CHANNEL_BACKEND = "channel.backend"
    CHANNEL_RESTARTED = "channel.restarted"
    DECODE = "wire.decode"
    ENCODE = "wire.encode"
    INTERNAL = "internal"


class WireDecodeError(KlawWireError, msgspec.DecodeError):
    """Bytes could not be decoded into what was asked for.

    A :class:`msgspec.DecodeError`, so code that catches msgspec's errors keeps working.
    The message is msgspec's, path included: ``"<reason> - at `<path>`"``.

    Args:
        reason: What was wrong.
        path: Where, as a msgspec path such as ``$[1][3]``; ``None`` when not known.

    Attributes:
        reason: What was wrong.
        path: Where, or ``None``.
    """

    def __init__(self, reason: str = "invalid wire data", *, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(reason if path is None else f"{reason} - at `{path}`")


class WireValidationError(WireDecodeError, msgspec.ValidationError):
    """Well-formed MessagePack whose values do not fit the expected type or constraints.

    Also a :class:`msgspec.ValidationError`. Raised, for example, for a header whose kind
    disagrees with the message tag, or an unknown control action.
    """


class UnknownSchemaVersionError(WireDecodeError):
    """A message carries a schema version no decoder is registered for.

    Args:
        version: The version found in the header, ``None`` if none was readable.
        known: The versions the registry knows.

    Attributes:
        version: The version found.
        known: The known versions, sorted.
    """

    def __init__(self, *, version: int | None = None, known: tuple[int, ...] = ()) -> None:
        self.version = version
        self.known = tuple(sorted(known))
        found = "unknown wire schema version" + ("" if version is None else f" {version}")
        listed = ", ".join(map(str, self.known)) or "none"
        super().__init__(f"{found}; known versions: {listed}", path="$[1][0]")


class FrameTooLargeError(WireDecodeError):
    """A frame header announces more bytes than the reader accepts.

    Raised as soon as the 4-byte length is read, before any of the body is buffered.

    Args:
        size: The announced body length in bytes.
        max_frame_size: The reader's limit in bytes.

    Attributes:
        size: The announced body length.
        max_frame_size: The limit.
    """

    def __init__(self, *, size: int = 0, max_frame_size: int = 0) -> None:
        self.size = size
        self.max_frame_size = max_frame_size
        super().__init__(
            f"frame of {size} bytes exceeds the maximum frame size of {max_frame_size} bytes"
        )


class WireEncodeError(KlawWireError, msgspec.EncodeError):
    """A message holds a value MessagePack cannot represent.

    Also a :class:`msgspec.EncodeError`; the original error (a ``TypeError`` for an
    unsupported type, an ``OverflowError`` for an integer out of range, ...) is its
    ``__cause__``.

    Args:
        reason: What could not be encoded.

    Attributes:
        reason: What could not be encoded.
    """

    def __init__(self, reason: str = "message could not be encoded") -> None:
        self.reason = reason
        super().__init__(reason)


def _subject(channel_id: str) -> str:
    return f"channel {channel_id!r}" if channel_id else "channel"


def _with_detail(text: str, detail: str) -> str:
    return f"{text}: {detail}" if detail else text


class ChannelError(KlawWireError):
    """Base class of the channel exceptions.

    Args:
        channel_id: The channel concerned, ``""`` when not known.
        detail: Extra context, appended to the message.

    Attributes:
        channel_id: The channel concerned.
        detail: Extra context.
        code: The :class:`ErrorCode` this exception travels as.

    Each concrete subclass has ``to_struct()``, returning its value form.
    """

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, *, channel_id: str = "", detail: str = "") -> None:
        self.channel_id = channel_id
        self.detail = detail
        super().__init__(self._describe())

    def _describe(self) -> str:
        return _with_detail(f"{_subject(self.channel_id)} error", self.detail)


class ChannelClosedError(ChannelError):
    """The channel is closed: no more items will arrive, or no receiver remains.

    Receivers get it once every sender has closed and the queue is drained; senders
    get it once every receiver has closed.

    Args:
        channel_id: The channel concerned.
        detail: Extra context, e.g. ``"all senders closed"``.
    """

    code: ClassVar[ErrorCode] = ErrorCode.CHANNEL_CLOSED

    def _describe(self) -> str:
        return _with_detail(f"{_subject(self.channel_id)} is closed", self.detail)

    def to_struct(self) -> ChannelClosed:
        """Return the :class:`ChannelClosed` struct carrying the same fields."""
        return ChannelClosed(channel_id=self.channel_id, detail=self.detail)


class EndOfStreamError(ChannelClosedError):
    """The stream ended: every sender closed and every value queued was received.

    The one normal way for a channel to end. ``async for`` stops on it and only on it;
    a consumer that loops on ``recv()`` should catch this class, not
    :class:`ChannelClosedError`, so that a failure (:class:`ChannelBackendError`,
    :class:`SenderLostError`) is not mistaken for the end.

    Args:
        channel_id: The channel concerned.
        detail: Extra context.
    """

    code: ClassVar[ErrorCode] = ErrorCode.END_OF_STREAM

    def _describe(self) -> str:
        text = f"{_subject(self.channel_id)} has ended: every sender closed, nothing is left"
        return _with_detail(text, self.detail)

    def to_struct(self) -> EndOfStream:
        """Return the :class:`EndOfStream` struct carrying the same fields."""
        return EndOfStream(channel_id=self.channel_id, detail=self.detail)


class HandleClosedError(ChannelClosedError):
    """The handle used was closed by its own holder (``close()``, or ``async with`` exit).

    A programming error on the caller's side rather than a state of the channel: the
    other handles of the channel are unaffected.

    Args:
        channel_id: The channel concerned.
        detail: Extra context, e.g. ``"this sender is closed"``.
    """

    code: ClassVar[ErrorCode] = ErrorCode.HANDLE_CLOSED

    def _describe(self) -> str:
        text = f"{_subject(self.channel_id)} handle is closed (closed by its holder)"
        return _with_detail(text, self.detail)

    def to_struct(self) -> HandleClosed:
        """Return the :class:`HandleClosed` struct carrying the same fields."""
        return HandleClosed(channel_id=self.channel_id, detail=self.detail)


class PeerClosedError(ChannelClosedError):
    """Every handle at the other end of the channel is closed or its process died.

    Senders get it once no receiver is left (nothing sent could ever be received).
    Values queued when it happened stay queued.

    Args:
        channel_id: The channel concerned.
        detail: Extra context, e.g. ``"every receiver is closed"``.
    """

    code: ClassVar[ErrorCode] = ErrorCode.PEER_CLOSED

    def _describe(self) -> str:
        return _with_detail(f"{_subject(self.channel_id)} has lost its other end", self.detail)

    def to_struct(self) -> PeerClosed:
        """Return the :class:`PeerClosed` struct carrying the same fields."""
        return PeerClosed(channel_id=self.channel_id, detail=self.detail)


class SenderLostError(ChannelClosedError):
    """A sender's process died without closing it, or it aborted: the stream may be incomplete.

    Receivers get it, in place of :class:`EndOfStreamError`, once every other sender
    closed and the queue is drained; every value the lost sender had delivered before
    its death was received first. A sender that aborted the stream on purpose
    (``Sender.abort``) says why in ``detail``.

    Args:
        channel_id: The channel concerned.
        sender_id: The lost sender handle's id.
        detail: Extra context.

    Attributes:
        sender_id: The lost sender handle's id.
    """

    code: ClassVar[ErrorCode] = ErrorCode.SENDER_LOST

    def __init__(self, *, channel_id: str = "", sender_id: str = "", detail: str = "") -> None:
        self.sender_id = sender_id
        super().__init__(channel_id=channel_id, detail=detail)

    def _describe(self) -> str:
        who = f"sender {self.sender_id!r}" if self.sender_id else "a sender"
        if self.detail:  # the sender aborted the stream and said why
            return f"{_subject(self.channel_id)} lost {who}: {self.detail}"
        return (
            f"{_subject(self.channel_id)} lost {who}: it died without closing, "
            "so the stream may be incomplete"
        )

    def to_struct(self) -> SenderLost:
        """Return the :class:`SenderLost` struct carrying the same fields."""
        return SenderLost(channel_id=self.channel_id, sender_id=self.sender_id, detail=self.detail)


class ChannelFullError(ChannelError):
    """A send that must not wait found the channel at capacity.

    Args:
        channel_id: The channel concerned.
        capacity: The channel's capacity (0 when not known).
        detail: Extra context.

    Attributes:
        capacity: The channel's capacity.
    """

    code: ClassVar[ErrorCode] = ErrorCode.CHANNEL_FULL

    def __init__(self, *, channel_id: str = "", capacity: int = 0, detail: str = "") -> None:
        self.capacity = capacity
        super().__init__(channel_id=channel_id, detail=detail)

    def _describe(self) -> str:
        size = f" (capacity {self.capacity})" if self.capacity else ""
        return _with_detail(f"{_subject(self.channel_id)} is full{size}", self.detail)

    def to_struct(self) -> ChannelFull:
        """Return the :class:`ChannelFull` struct carrying the same fields."""
        return ChannelFull(channel_id=self.channel_id, capacity=self.capacity, detail=self.detail)


class ChannelEmptyError(ChannelError):
    """A receive that must not wait found nothing queued (the channel is still open).

    Args:
        channel_id: The channel concerned.
        detail: Extra context.
    """

    code: ClassVar[ErrorCode] = ErrorCode.CHANNEL_EMPTY

    def _describe(self) -> str:
        return _with_detail(f"{_subject(self.channel_id)} is empty", self.detail)

    def to_struct(self) -> ChannelEmpty:
        """Return the :class:`ChannelEmpty` struct carrying the same fields."""
        return ChannelEmpty(channel_id=self.channel_id, detail=self.detail)


class ChannelBackendError(ChannelClosedError):
    """The channel's backend failed (for example its Ray actor died or is unreachable).

    A :class:`ChannelClosedError`: the channel is unusable from then on. Chain the
    original exception with ``raise ChannelBackendError(...) from exc``.

    Args:
        channel_id: The channel concerned.
        backend: The backend name, e.g. ``"ray"``.
        cause: The underlying failure as text, e.g. ``repr(exc)``.
        actor_name: The actor that failed, when there is one.
        namespace: The actor's namespace, when there is one.
        detail: Extra context.

    Attributes:
        backend: The backend name.
        cause: The underlying failure as text.
        actor_name: The actor that failed.
        namespace: The actor's namespace.
    """

    code: ClassVar[ErrorCode] = ErrorCode.CHANNEL_BACKEND

    def __init__(
        self,
        *,
        channel_id: str = "",
        backend: str = "",
        cause: str = "",
        actor_name: str = "",
        namespace: str = "",
        detail: str = "",
    ) -> None:
        self.backend = backend
        self.cause = cause
        self.actor_name = actor_name
        self.namespace = namespace
        super().__init__(channel_id=channel_id, detail=detail)

    def _describe(self) -> str:
        text = _subject(self.channel_id) + " backend"
        if self.backend:
            text += f" {self.backend!r}"
        text += " failed"
        if self.actor_name:
            where = f" in namespace {self.namespace!r}" if self.namespace else ""
            text += f" (actor {self.actor_name!r}{where})"
        if self.cause:
            text += f": {self.cause}"
        return f"{text}; {self.detail}" if self.detail else text

    def to_struct(self) -> ChannelBackend:
        """Return the :class:`ChannelBackend` struct carrying the same fields."""
        return ChannelBackend(
            channel_id=self.channel_id,
            backend=self.backend,
            cause=self.cause,
            actor_name=self.actor_name,
            namespace=self.namespace,
            detail=self.detail,
        )


class ChannelRestartedError(ChannelBackendError):
    """The channel's backend restarted and lost values it held (a non-durable channel).

    Raised by every handle that meets the new incarnation, before it hands out or accepts
    anything more. ``lost`` counts the values the channel held, as far as the handle
    knows (values queued and leased at the last answer it saw from the old incarnation).

    Args:
        channel_id: The channel concerned.
        backend: The backend name.
        incarnation: The new incarnation the handle met.
        lost: Values known to be lost (0 when not known).
        actor_name: The actor that restarted.
        namespace: The actor's namespace.
        detail: Extra context.

    Attributes:
        incarnation: The new incarnation.
        lost: Values known to be lost.
    """

    code: ClassVar[ErrorCode] = ErrorCode.CHANNEL_RESTARTED

    def __init__(
        self,
        *,
        channel_id: str = "",
        backend: str = "",
        incarnation: int = 0,
        lost: int = 0,
        actor_name: str = "",
        namespace: str = "",
        detail: str = "",
    ) -> None:
        self.incarnation = incarnation
        self.lost = lost
        super().__init__(
            channel_id=channel_id,
            backend=backend,
            cause="",
            actor_name=actor_name,
            namespace=namespace,
            detail=detail,
        )

    def _describe(self) -> str:
        text = f"{_subject(self.channel_id)} restarted"
        if self.incarnation:
            text += f" (incarnation {self.incarnation})"
        text += " and lost its queued values"
        if self.lost:
            text += f" ({self.lost} known)"
        if self.actor_name:
            where = f" in namespace {self.namespace!r}" if self.namespace else ""
            text += f"; actor {self.actor_name!r}{where}"
        return _with_detail(text, self.detail)

    def to_struct(self) -> ChannelRestarted:
        """Return the :class:`ChannelRestarted` struct carrying the same fields."""
        return ChannelRestarted(
            channel_id=self.channel_id,
            backend=self.backend,
            incarnation=self.incarnation,
            lost=self.lost,
            actor_name=self.actor_name,
            namespace=self.namespace,
            detail=self.detail,
        )


class RemoteError(KlawWireError):
    """An error reported by the peer that has no local exception type.

    :func:`from_wire_error` returns it for a code it does not map to a channel error,
    keeping the code, message and details; :func:`to_wire_error` sends it back unchanged.

    Args:
        code: The peer's error code.
        message: The peer's message.
        details: The peer's structured details, encoded (:data:`~klaw_wire.NIL` if none).

    Attributes:
        code: The peer's error code.
        message: The peer's message.
        details: The peer's details.
    """

    def __init__(self, *, code: str = "", message: str = "", details: msgspec.Raw = NIL) -> None:
        self.code = code
        self.message = message
        self.details = details
        label = f"remote error [{code}]" if code else "remote error"
        super().__init__(f"{label}: {message}" if message else label)


class ChannelClosed(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Value form of :class:`ChannelClosedError` (code ``channel.closed``).

    Immutable; every field has a default. Encoded as a map with defaults omitted.
    """

    channel_id: str = ""
    """The channel concerned."""
    detail: str = ""
    """Extra context."""

    def to_exception(self) -> ChannelClosedError:
        """Return the exception carrying the same fields."""
        return ChannelClosedError(channel_id=self.channel_id, detail=self.detail)


class EndOfStream(ChannelClosed, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Value form of :class:`EndOfStreamError` (code ``channel.end_of_stream``).

    A :class:`ChannelClosed`, as its exception is a :class:`ChannelClosedError`.
    """

    def to_exception(self) -> EndOfStreamError:
        """Return the exception carrying the same fields."""
        return EndOfStreamError(channel_id=self.channel_id, detail=self.detail)


class HandleClosed(ChannelClosed, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Value form of :class:`HandleClosedError` (code ``channel.handle_closed``).

    A :class:`ChannelClosed`, as its exception is a :class:`ChannelClosedError`.
    """

    def to_exception(self) -> HandleClosedError:
        """Return the exception carrying the same fields."""
        return HandleClosedError(channel_id=self.channel_id, detail=self.detail)


class PeerClosed(ChannelClosed, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Value form of :class:`PeerClosedError` (code ``channel.peer_closed``).

    A :class:`ChannelClosed`, as its exception is a :class:`ChannelClosedError`.
    """

    def to_exception(self) -> PeerClosedError:
        """Return the exception carrying the same fields."""
        return PeerClosedError(channel_id=self.channel_id, detail=self.detail)


class SenderLost(ChannelClosed, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Value form of :class:`SenderLostError` (code ``channel.sender_lost``).

    A :class:`ChannelClosed`, as its exception is a :class:`ChannelClosedError`.
    """

    sender_id: str = ""
    """The lost sender handle's id."""

    def to_exception(self) -> SenderLostError:
        """Return the exception carrying the same fields."""
        return SenderLostError(
            channel_id=self.channel_id, sender_id=self.sender_id, detail=self.detail
        )


class ChannelFull(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Value form of :class:`ChannelFullError` (code ``channel.full``).

    Immutable; every field has a default. Encoded as a map with defaults omitted.
    """

    channel_id: str = ""
    """The channel concerned."""
    capacity: int = 0
    """The channel's capacity (0 when not known)."""
    detail: str = ""
    """Extra context."""

    def to_exception(self) -> ChannelFullError:
        """Return the exception carrying the same fields."""
        return ChannelFullError(
            channel_id=self.channel_id, capacity=self.capacity, detail=self.detail
        )


class ChannelEmpty(msgspec.Struct, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Value form of :class:`ChannelEmptyError` (code ``channel.empty``).

    Immutable; every field has a default. Encoded as a map with defaults omitted.
    """

    channel_id: str = ""
    """The channel concerned."""
    detail: str = ""
    """Extra context."""

    def to_exception(self) -> ChannelEmptyError:
        """Return the exception carrying the same fields."""
        return ChannelEmptyError(channel_id=self.channel_id, detail=self.detail)


class ChannelBackend(ChannelClosed, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Value form of :class:`ChannelBackendError` (code ``channel.backend``).

    A :class:`ChannelClosed`, as its exception is a :class:`ChannelClosedError`.
    Immutable; every field has a default. Encoded as a map with defaults omitted.
    """

    backend: str = ""
    """The backend name, e.g. ``"ray"``."""
    cause: str = ""
    """The underlying failure as text."""
    actor_name: str = ""
    """The actor that failed."""
    namespace: str = ""
    """The actor's namespace."""

    def to_exception(self) -> ChannelBackendError:
        """Return the exception carrying the same fields."""
        return ChannelBackendError(
            channel_id=self.channel_id,
            backend=self.backend,
            cause=self.cause,
            actor_name=self.actor_name,
            namespace=self.namespace,
            detail=self.detail,
        )


class ChannelRestarted(ChannelBackend, frozen=True, gc=False, kw_only=True, omit_defaults=True):
    """Value form of :class:`ChannelRestartedError` (code ``channel.restarted``).

    A :class:`ChannelBackend`, as its exception is a :class:`ChannelBackendError`.
    """

    incarnation: int = 0
    """The new incarnation the handle met."""
    lost: int = 0
    """Values known to be lost (0 when not known)."""

    def to_exception(self) -> ChannelRestartedError:
        """Return the exception carrying the same fields."""
        return ChannelRestartedError(
            channel_id=self.channel_id,
            backend=self.backend,
            incarnation=self.incarnation,
            lost=self.lost,
            actor_name=self.actor_name,
            namespace=self.namespace,
            detail=self.detail,
        )


ChannelErrorStruct: TypeAlias = Union[  # noqa: UP007 - kept a Union like WireEnvelope
    ChannelClosed,
    EndOfStream,
    HandleClosed,
    PeerClosed,
    SenderLost,
    ChannelFull,
    ChannelEmpty,
    ChannelBackend,
    ChannelRestarted,
]
"""Any of the channel error structs."""

_DECODE_FAILURES: Final = (ValueError, RecursionError, OverflowError)
"""What msgspec raises on bad input: ``DecodeError`` (a ``ValueError``), and for hostile
bytes also ``UnicodeDecodeError`` (a ``ValueError``) and ``RecursionError``."""

_ENCODE_FAILURES: Final = (
    msgspec.EncodeError,
    TypeError,
    ValueError,
    OverflowError,
    RecursionError,
)
"""What msgspec raises for a value it cannot encode."""

_PATH_MARKER: Final = " - at `"


def _decode_error(exc: BaseException) -> WireDecodeError:
    """Translate a failure of msgspec's decoder into klaw-wire's error, keeping its text."""
    if isinstance(exc, WireDecodeError):
        return exc
    if isinstance(exc, RecursionError):
        return WireDecodeError("MessagePack data is nested too deeply")
    text = str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return WireDecodeError(f"MessagePack data is malformed: invalid UTF-8 string ({text})")
    reason, marker, rest = text.rpartition(_PATH_MARKER)
    path: str | None = None
    if marker and rest.endswith("`"):
        path = rest[:-1]
    else:
        reason = text
    if isinstance(exc, msgspec.ValidationError):
        return WireValidationError(reason, path=path)
    return WireDecodeError(reason or type(exc).__name__, path=path)


def _encode_error(exc: BaseException) -> WireEncodeError:
    """Translate a failure of msgspec's encoder into klaw-wire's error."""
    return WireEncodeError(str(exc) or type(exc).__name__)


_CODE_OF_STRUCT: Final[dict[type[Any], ErrorCode]] = {
    ChannelClosed: ErrorCode.CHANNEL_CLOSED,
    EndOfStream: ErrorCode.END_OF_STREAM,
    HandleClosed: ErrorCode.HANDLE_CLOSED,
    PeerClosed: ErrorCode.PEER_CLOSED,
    SenderLost: ErrorCode.SENDER_LOST,
    ChannelFull: ErrorCode.CHANNEL_FULL,
    ChannelEmpty: ErrorCode.CHANNEL_EMPTY,
    ChannelBackend: ErrorCode.CHANNEL_BACKEND,
    ChannelRestarted: ErrorCode.CHANNEL_RESTARTED,
}
# WireError.build checks the details of the codes defined here; wire.py cannot import
# this module, so the layouts are handed to it: nil only, or the code's struct.
_DETAIL_LAYOUTS.update({str(code): None for code in ErrorCode})
_DETAIL_LAYOUTS.update({str(code): struct_type for struct_type, code in _CODE_OF_STRUCT.items()})
_DETAIL_DECODERS: Final[dict[str, tuple[type[Any], msgspec.msgpack.Decoder[Any]]]] = {
    code.value: (struct_type, msgspec.msgpack.Decoder(struct_type))
    for struct_type, code in _CODE_OF_STRUCT.items()
}
_DETAIL_ENCODER: Final = msgspec.msgpack.Encoder()
_NIL_BYTES: Final = bytes(NIL)


def to_wire_error(
    err: ChannelErrorStruct | BaseException, *, header: WireHeader | None = None
) -> WireError:
    """Describe an error struct or exception as a :class:`~klaw_wire.WireError`.

    Channel errors (struct or exception) keep their fields in ``details``;
    :class:`RemoteError` is sent back unchanged; klaw-wire's decode and encode errors get
    codes ``wire.decode`` / ``wire.encode``; any other exception becomes ``internal``
    with ``"<Type>: <message>"``. Pure function, safe from any thread.

    Args:
        err: The error to describe.
        header: The header to send it with (for example the header of the message that
            failed, to keep its channel and sequence number); its kind is set to ERROR.
            ``None`` gives a default ERROR header.

    Returns:
        A ``WireError`` ready to encode, checked like ``WireError.build`` checks.

    Raises:
        TypeError: ``err`` is neither an error struct nor an exception.
        InvalidMessageError: ``header`` holds a value a decoder would reject, or a
            :class:`RemoteError`'s fields do (``details`` not one MessagePack value).
    """
    if header is None:
        header = WireHeader(kind=MessageKind.ERROR)
    elif header.kind != MessageKind.ERROR:
        header = msgspec.structs.replace(header, kind=MessageKind.ERROR)
    if isinstance(err, (ChannelClosedError, ChannelFullError, ChannelEmptyError)):
        err = err.to_struct()
    details = NIL
    if isinstance(err, (ChannelClosed, ChannelFull, ChannelEmpty)):
        code: str = _CODE_OF_STRUCT[type(err)]
        text = str(err.to_exception())
        details = msgspec.Raw(_DETAIL_ENCODER.encode(err))
    elif isinstance(err, RemoteError):
        code, text, details = err.code, err.message, err.details
    elif isinstance(err, WireDecodeError):
        code, text = ErrorCode.DECODE, str(err)
    elif isinstance(err, WireEncodeError):
        code, text = ErrorCode.ENCODE, str(err)
    elif isinstance(err, BaseException):
        code = ErrorCode.INTERNAL
        text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    else:
        raise TypeError(f"expected an error struct or an exception, got {type(err).__name__}")
    wire_error = WireError(header=header, code=code, message=text, details=details)
    check_fields(header, "WireError.header")
    check_fields(wire_error, "WireError")
    return wire_error


def from_wire_error(msg: WireError) -> KlawWireError:
    """Turn a received :class:`~klaw_wire.WireError` back into an exception.

    A channel code gives the matching channel exception with the fields from
    ``details`` (``nil`` details give every field its default); any other code, and a
    channel code whose details do not decode as its layout, gives a
    :class:`RemoteError` carrying the code, message and details. The result is
    returned, not raised. Pure function, safe from any thread.

    Args:
        msg: The received error message.

    Returns:
        The exception to raise.

    Raises:
        TypeError: ``msg`` is not a ``WireError``.
    """
    if not isinstance(msg, WireError):
        raise TypeError(f"expected a WireError, got {type(msg).__name__}")
    known = _DETAIL_DECODERS.get(msg.code)
    if known is None:
        return RemoteError(code=msg.code, message=msg.message, details=msg.details)
    struct_type, decoder = known
    details = bytes(msg.details)
    try:
        struct = struct_type() if details == _NIL_BYTES else decoder.decode(details)
    except _DECODE_FAILURES:
        # Details this reader cannot read (another layout, a newer peer, garbage): the
        # error is still reported, as the generic remote error with everything kept.
        return RemoteError(code=msg.code, message=msg.message, details=msg.details)
    error: KlawWireError = struct.to_exception()
    return error
