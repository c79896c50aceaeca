"""klaw-wire: klaw's versioned MessagePack wire protocol on msgspec.

Everything that crosses a process or network boundary in klaw is one of the envelope
types of :mod:`klaw_wire.wire`, encoded by the thread-safe :class:`CodecPool`:

- envelopes: :class:`DataMessage`, :class:`ControlMessage`, :class:`Heartbeat`,
  :class:`Ack`, :class:`WireError`, each ``[tag, [version, kind, channel_id, seq, ts], ...]``;
- codec and buffers: :func:`get_codec_pool`, :func:`encode`, :func:`decode`,
  :func:`get_buffer_pool`;
- schema versions: :class:`SchemaRegistry`; partial decoding: :class:`EnvelopeView`,
  :class:`TaskEventView`; a JSON Schema of the protocol: :func:`json_schema`;
- control metadata: :class:`CreateMetadata`, :class:`ResizeMetadata`,
  :data:`CONTROL_METADATA`;
- errors: :class:`KlawWireError` and its tree, channel error structs and exceptions,
  :func:`to_wire_error` / :func:`from_wire_error`;
- framing: :func:`encode_frame`, :class:`FrameDecoder`, :func:`read_envelope`,
  :func:`write_envelope`; ``python -m klaw_wire inspect FILE`` prints captured frames and
  ``python -m klaw_wire schema`` the JSON Schema.

Import everything from here: ``from klaw_wire import DataMessage, get_codec_pool``.
"""

from __future__ import annotations

from klaw_wire._json_schema import JSON_SCHEMA_DIALECT, json_schema
from klaw_wire.buffers import BufferPool, get_buffer_pool
from klaw_wire.codec import CodecPool, decode, encode, get_codec_pool
from klaw_wire.control import CONTROL_METADATA, CreateMetadata, ResizeMetadata
from klaw_wire.errors import (
    ChannelBackend,
    ChannelBackendError,
    ChannelClosed,
    ChannelClosedError,
    ChannelEmpty,
    ChannelEmptyError,
    ChannelError,
    ChannelErrorStruct,
    ChannelFull,
    ChannelFullError,
    ChannelRestarted,
    ChannelRestartedError,
    EndOfStream,
    EndOfStreamError,
    ErrorCode,
    FrameTooLargeError,
    HandleClosed,
    HandleClosedError,
    InvalidMessageError,
    KlawWireError,
    PeerClosed,
    PeerClosedError,
    RemoteError,
    SenderLost,
    SenderLostError,
    UnknownSchemaVersionError,
    WireDecodeError,
    WireEncodeError,
    WireValidationError,
    from_wire_error,
    to_wire_error,
)
from klaw_wire.framing import (
    DEFAULT_MAX_FRAME_SIZE,
    FRAME_HEADER_SIZE,
    FrameDecoder,
    encode_frame,
    read_envelope,
    write_envelope,
)
from klaw_wire.schema import SchemaRegistry, get_schema_registry
from klaw_wire.views import (
    EnvelopeView,
    TaskEventView,
    decode_envelope_view,
    decode_task_event_view,
)
from klaw_wire.wire import (
    CONTROL_ACTIONS,
    NIL,
    WIRE_SCHEMA_VERSION,
    Ack,
    ControlAction,
    ControlMessage,
    DataMessage,
    Heartbeat,
    MessageKind,
    WireEnvelope,
    WireError,
    WireHeader,
    WireMessage,
)

__all__ = [
    "CONTROL_ACTIONS",
    "CONTROL_METADATA",
    "DEFAULT_MAX_FRAME_SIZE",
    "FRAME_HEADER_SIZE",
    "JSON_SCHEMA_DIALECT",
    "NIL",
    "WIRE_SCHEMA_VERSION",
    "Ack",
    "BufferPool",
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
    "CodecPool",
    "ControlAction",
    "ControlMessage",
    "CreateMetadata",
    "DataMessage",
    "EndOfStream",
    "EndOfStreamError",
    "EnvelopeView",
    "ErrorCode",
    "FrameDecoder",
    "FrameTooLargeError",
    "HandleClosed",
    "HandleClosedError",
    "Heartbeat",
    "InvalidMessageError",
    "KlawWireError",
    "MessageKind",
    "PeerClosed",
    "PeerClosedError",
    "RemoteError",
    "ResizeMetadata",
    "SchemaRegistry",
    "SenderLost",
    "SenderLostError",
    "TaskEventView",
    "UnknownSchemaVersionError",
    "WireDecodeError",
    "WireEncodeError",
    "WireEnvelope",
    "WireError",
    "WireHeader",
    "WireMessage",
    "WireValidationError",
    "decode",
    "decode_envelope_view",
    "decode_task_event_view",
    "encode",
    "encode_frame",
    "from_wire_error",
    "get_buffer_pool",
    "get_codec_pool",
    "get_schema_registry",
    "json_schema",
    "read_envelope",
    "to_wire_error",
    "write_envelope",
]
