"""Static types of the public API, checked by ``mypy --strict`` over this folder.

At run time ``assert_type`` returns its argument unchanged, so these tests also execute
each call once.
"""

from __future__ import annotations

from typing import Any, assert_type

import msgspec

from klaw_wire import (
    Ack,
    ChannelBackend,
    ChannelBackendError,
    ChannelClosed,
    ChannelClosedError,
    ChannelFull,
    ChannelFullError,
    ControlMessage,
    DataMessage,
    Heartbeat,
    KlawWireError,
    WireEnvelope,
    WireError,
    decode,
    encode,
    from_wire_error,
    get_codec_pool,
    get_schema_registry,
    json_schema,
    to_wire_error,
)
from wire_strategies import Job


def test_builders_and_codec_methods_have_precise_types() -> None:
    codec = get_codec_pool()
    job = Job(name="a", size=1)
    msg = assert_type(DataMessage.build(job, channel_id="jobs"), DataMessage[Job])
    data = assert_type(encode(msg), bytes)
    assert_type(decode(data), WireEnvelope)
    assert_type(codec.decode(data), WireEnvelope)
    assert_type(codec.decode_data(data, Job), DataMessage[Job])
    assert_type(codec.decode_data(data, int | Job), DataMessage[Any])
    decode_job = codec.data_decoder(Job)
    assert_type(decode_job(data), DataMessage[Job])
    assert_type(codec.encode(msg), bytes)
    assert_type(json_schema(Job), dict[str, Any])
    envelope = codec.decode(data)
    assert isinstance(envelope, DataMessage)
    assert_type(envelope.payload, msgspec.Raw)
    assert_type(codec.decode_payload(envelope.payload, Job), Job)
    assert_type(codec.encode_into(msg, bytearray()), int)
    assert_type(get_schema_registry().decode(data), object)
    assert_type(Ack.build(acked_seq=1), Ack)
    assert_type(Heartbeat.build(), Heartbeat)
    assert_type(ControlMessage.build("close"), ControlMessage)
    assert_type(WireError.build(code="x"), WireError)


def test_error_conversions_have_precise_types() -> None:
    assert_type(ChannelFull().to_exception(), ChannelFullError)
    assert_type(ChannelFullError().to_struct(), ChannelFull)
    assert_type(ChannelClosed().to_exception(), ChannelClosedError)
    assert_type(ChannelBackend().to_exception(), ChannelBackendError)
    assert_type(ChannelBackendError().to_struct(), ChannelBackend)
    wire = assert_type(to_wire_error(ChannelFull(capacity=2)), WireError)
    assert_type(from_wire_error(wire), KlawWireError)
    # A covariant payload: a message of a subtype is a message of its supertype.
    narrow: DataMessage[bool] = DataMessage.build(True)
    wide: DataMessage[int] = narrow
    assert wide.payload is True
