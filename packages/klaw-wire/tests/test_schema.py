"""SchemaRegistry: version routing, evolution by appended fields, unknown versions."""

from __future__ import annotations

from typing import Any, TypeAlias, Union

import msgspec
import pytest
from hypothesis import given

from klaw_wire import (
    Ack,
    DataMessage,
    Heartbeat,
    MessageKind,
    SchemaRegistry,
    UnknownSchemaVersionError,
    WireDecodeError,
    WireEnvelope,
    decode,
    decode_envelope_view,
    encode,
    get_codec_pool,
    get_schema_registry,
)
from wire_strategies import WIRE_SETTINGS, envelopes

# A version 2 of the schema, as a later release would define it: the header gains a
# trace id and Ack gains a latency, both appended after the version 1 fields.


class HeaderV2(msgspec.Struct, array_like=True, frozen=True, gc=False):
    version: int = 2
    kind: MessageKind = MessageKind.DATA
    channel_id: str = ""
    seq: int = 0
    ts: int = 0
    trace_id: str = ""


class DataMessageV2(msgspec.Struct, array_like=True, frozen=True, gc=False, tag=1, kw_only=True):
    header: HeaderV2 = HeaderV2()
    payload: msgspec.Raw


class AckV2(msgspec.Struct, array_like=True, frozen=True, gc=False, tag=4, kw_only=True):
    header: HeaderV2 = HeaderV2(kind=MessageKind.ACK)
    acked_seq: int = 0
    status: str = "ok"
    latency_ms: float = 0.0


EnvelopeV2: TypeAlias = Union[DataMessageV2, AckV2]  # noqa: UP007 - a runtime union


@pytest.fixture
def registry() -> SchemaRegistry:
    registry = SchemaRegistry()
    registry.register(2, EnvelopeV2)
    return registry


def test_version_1_is_registered_by_default() -> None:
    assert SchemaRegistry().versions == (1,)
    assert get_schema_registry() is get_schema_registry()
    assert get_schema_registry().versions[0] == 1


@WIRE_SETTINGS
@given(envelopes)
def test_the_registry_routes_every_envelope_by_its_version(msg: Any) -> None:
    registry = get_schema_registry()
    if msg.header.version == 1:
        assert registry.decode(encode(msg)) == msg
    else:
        with pytest.raises(UnknownSchemaVersionError) as info:
            registry.decode(encode(msg))
        assert info.value.version == msg.header.version
    as_v1 = msgspec.structs.replace(msg, header=msgspec.structs.replace(msg.header, version=1))
    assert registry.decode(encode(as_v1)) == as_v1


def test_old_and_new_messages_route_to_their_own_decoder(registry: SchemaRegistry) -> None:
    old = Ack.build(acked_seq=3, channel_id="c", seq=4)
    new = AckV2(header=HeaderV2(kind=MessageKind.ACK, trace_id="t-1"), acked_seq=3, latency_ms=2.5)
    assert registry.decode(encode(old)) == old
    decoded = registry.decode(msgspec.msgpack.encode(new))
    assert decoded == new
    assert isinstance(decoded, AckV2)
    assert decoded.header.trace_id == "t-1"
    payload = msgspec.msgpack.encode({"x": 1})
    data_v2 = msgspec.msgpack.encode(DataMessageV2(payload=msgspec.Raw(payload)))
    decoded_data = registry.decode(data_v2)
    assert isinstance(decoded_data, DataMessageV2)
    assert bytes(decoded_data.payload) == payload


def test_a_version_1_reader_refuses_a_newer_version_with_every_decoder() -> None:
    new = AckV2(
        header=HeaderV2(kind=MessageKind.ACK, channel_id="c", seq=9, trace_id="t"),
        acked_seq=8,
        latency_ms=1.5,
    )
    data = msgspec.msgpack.encode(new)
    old_reader = SchemaRegistry()
    with pytest.raises(UnknownSchemaVersionError) as routed:
        old_reader.decode(data)
    assert (routed.value.version, routed.value.known) == (2, (1,))
    # The plain decoders know version 1 alone, and say so: no field is silently lost.
    data_v2 = msgspec.msgpack.encode(DataMessageV2(payload=msgspec.Raw(b"\x01")))
    plain_decoders = [
        (decode, data),
        (decode_envelope_view, data),
        (lambda buf: get_codec_pool().decode_data(buf, msgspec.Raw), data_v2),
    ]
    for decode_plainly, encoded in plain_decoders:
        with pytest.raises(UnknownSchemaVersionError) as plain:
            decode_plainly(encoded)
        assert str(plain.value) == (
            "unknown wire schema version 2; known versions: 1 - at `$[1][0]`"
        )
    # Even a raw msgspec decoder of the version 1 types refuses it.
    with pytest.raises(msgspec.ValidationError, match=r"Invalid enum value 2 - at `\$\[1\]\[0\]`"):
        old_reader.get_decoder(1).decode(data)


def test_appended_fields_of_the_same_version_are_ignored() -> None:
    data = msgspec.msgpack.encode([4, [1, 4, "c", 9, 0, "trace"], 8, "ok", 1.5])
    assert SchemaRegistry().decode(data) == Ack.build(acked_seq=8, channel_id="c", seq=9)


def test_an_unknown_version_names_the_version_found_and_those_known(
    registry: SchemaRegistry,
) -> None:
    data = msgspec.msgpack.encode([3, [7, 3, "", 0, 0], "w"])
    with pytest.raises(UnknownSchemaVersionError) as info:
        registry.decode(data)
    error = info.value
    assert (error.version, error.known) == (7, (1, 2))
    assert str(error) == "unknown wire schema version 7; known versions: 1, 2 - at `$[1][0]`"
    assert isinstance(error, WireDecodeError)
    assert isinstance(error, msgspec.DecodeError)


def test_get_decoder_raises_key_error_for_an_unknown_version(registry: SchemaRegistry) -> None:
    assert registry.get_decoder(2) is registry.get_decoder(2)
    with pytest.raises(KeyError, match="5"):
        registry.get_decoder(5)


def test_the_version_is_read_from_the_first_bytes_or_by_a_probe() -> None:
    registry = SchemaRegistry()
    assert registry.read_version(encode(Heartbeat())) == 1
    # A writer that used wider encodings than needed: array16 headers, uint8 version.
    wide = b"\xdc\x00\x03" + b"\x03" + b"\xdc\x00\x05\xcc\x01\x03\xa0\x00\x00" + b"\xa1w"
    assert registry.read_version(wide) == 1
    assert registry.decode(wide) == Heartbeat(sender_id="w")
    big = msgspec.msgpack.encode([3, [300, 3, "", 0, 0], ""])
    assert registry.read_version(bytearray(big)) == 300
    with pytest.raises(WireDecodeError):
        registry.read_version(b"\x93\x03")


def test_the_payload_is_not_decoded_to_find_the_version() -> None:
    # Invalid UTF-8 inside the payload: reading the version does not look at it.
    data = b"\x93\x01\x95\x01\x01\xa0\x00\x00" + b"\xa2\xff\xfe"
    assert SchemaRegistry().read_version(data) == 1


def test_registering_is_validated(registry: SchemaRegistry) -> None:
    registry.register(2, EnvelopeV2)  # the same type again is a no-op
    with pytest.raises(ValueError, match="already registered"):
        registry.register(2, WireEnvelope)
    registry.register(2, EnvelopeV2, replace=True)
    registry.register(3, WireEnvelope)
    assert registry.decode(encode(Ack())) == Ack()
    with pytest.raises(ValueError, match="at least 1"):
        registry.register(0, WireEnvelope)
    with pytest.raises(TypeError):
        registry.register("3", WireEnvelope)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        registry.register(3, object())


def test_a_decoded_message_survives_reuse_of_its_buffer() -> None:
    data = encode(DataMessage.build([1, 2]))
    buf = bytearray(data)
    decoded = SchemaRegistry().decode(buf)
    buf[:] = bytes(len(buf))
    buf.extend(b"more")
    assert isinstance(decoded, DataMessage)
    assert msgspec.msgpack.decode(decoded.payload) == [1, 2]
