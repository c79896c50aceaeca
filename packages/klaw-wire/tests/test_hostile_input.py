"""Hostile input through every decode entry point: only WireDecodeError, never a hang.

Each entry point must either return a value or raise :class:`WireDecodeError` (a
``msgspec.DecodeError``) whatever the bytes: random bytes, truncations, single-byte
mutations of valid messages, huge length headers, wrong types at every position, and
nesting deep enough to exhaust the recursion limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from klaw_wire import (
    FrameDecoder,
    UnknownSchemaVersionError,
    WireDecodeError,
    WireError,
    WireValidationError,
    decode_envelope_view,
    decode_task_event_view,
    encode,
    from_wire_error,
    get_codec_pool,
    get_schema_registry,
    read_envelope,
)
from wire_strategies import WIRE_SETTINGS, Job, envelopes, golden_messages

_codec = get_codec_pool()
_registry = get_schema_registry()


def _read_all_frames(data: bytes) -> list[Any]:
    async def run() -> list[Any]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        found = []
        while (msg := await read_envelope(reader)) is not None:
            found.append(msg)
        return found

    return asyncio.run(run())


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


ENTRY_POINTS: dict[str, Callable[[bytes], object]] = {
    "decode": _codec.decode,
    "decode_data[Job]": lambda b: _codec.decode_data(b, Job),
    "decode_data[Raw]": lambda b: _codec.decode_data(b, msgspec.Raw),
    "data_decoder[Job]": _codec.data_decoder(Job),
    "decode_payload[Job]": lambda b: _codec.decode_payload(b, Job),
    "decode_payload[Any]": lambda b: _codec.decode_payload(b, Any),
    "decode_payload[bytearray]": lambda b: _codec.decode_payload(bytearray(b), list[str]),
    "registry.decode": _registry.decode,
    "registry.read_version": _registry.read_version,
    "decode_envelope_view": decode_envelope_view,
    "decode_task_event_view": decode_task_event_view,
    "decode_task_event_view[json]": lambda b: decode_task_event_view(b, fmt="json"),
    "from_wire_error": lambda b: from_wire_error(
        WireError(code="channel.backend", details=msgspec.Raw(b or b"\xc0"))
    ),
    "FrameDecoder.feed[body]": lambda b: FrameDecoder().feed(_framed(b)),
    "FrameDecoder.feed[stream]": lambda b: FrameDecoder(max_frame_size=1024).feed(b),
    "read_envelope[body]": lambda b: _read_all_frames(_framed(b)),
}
"""Every way klaw-wire decodes bytes, each taking one candidate input."""

DECODERS_OF_ONE_VALUE = [
    "decode",
    "decode_data[Job]",
    "decode_data[Raw]",
    "decode_payload[Job]",
    "decode_payload[Any]",
    "registry.decode",
    "decode_envelope_view",
    "decode_task_event_view",
    "FrameDecoder.feed[body]",
    "read_envelope[body]",
]
"""Entry points that must reject any input that is not exactly one complete value."""


def _survives(name: str, data: bytes) -> bool:
    """Run one entry point; True when it decoded, False when it raised WireDecodeError."""
    try:
        ENTRY_POINTS[name](data)
    except WireDecodeError as exc:
        error = exc
    else:
        return True
    assert str(error), f"{name}: empty error message"
    return False


@WIRE_SETTINGS
@given(st.binary(max_size=64))
def test_random_bytes_are_decoded_or_rejected_with_wire_decode_error(data: bytes) -> None:
    for name in ENTRY_POINTS:
        _survives(name, data)


@WIRE_SETTINGS
@given(st.binary(max_size=48).map(lambda b: b"\x93\x01\x95\x01\x01" + b))
def test_random_bytes_after_a_valid_looking_start_are_handled(data: bytes) -> None:
    for name in ENTRY_POINTS:
        _survives(name, data)


def _valid_messages() -> dict[str, bytes]:
    return {name: encode(msg) for name, msg in golden_messages().items()}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_truncation_of_a_valid_message_is_rejected(name: str) -> None:
    for message, data in _valid_messages().items():
        for end in range(len(data)):
            truncated = data[:end]
            survived = _survives(name, truncated)
            if name in DECODERS_OF_ONE_VALUE:
                assert not survived, f"{name} accepted {message} cut at {end}"


MUTATIONS = [0x00, 0x01, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xC0, 0xC1, 0xC4, 0xCC, 0xD9]
MUTATIONS += [0xDB, 0xDC, 0xDD, 0xDF, 0xE0, 0xFF]


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_single_byte_mutations_of_valid_messages_are_handled(name: str) -> None:
    for data in _valid_messages().values():
        for index in range(len(data)):
            for value in [*MUTATIONS, data[index] ^ 0x01]:
                mutated = bytearray(data)
                mutated[index] = value
                _survives(name, bytes(mutated))


@pytest.mark.parametrize("name", DECODERS_OF_ONE_VALUE)
@pytest.mark.parametrize(
    "header",
    [b"\xdd", b"\xdf", b"\xdb", b"\xc6", b"\xc9", b"\xdc", b"\xde", b"\xda", b"\xc5", b"\xc8"],
)
def test_huge_length_headers_are_rejected_without_allocating(name: str, header: bytes) -> None:
    data = header + b"\xff" * 4 + b"\x00"
    assert not _survives(name, data)
    nested = b"\x93\x01\x95\x01\x01\xa0\x00\x00" + data
    assert not _survives(name, nested)


def test_a_huge_frame_length_is_rejected_before_buffering() -> None:
    for feed in (FrameDecoder().feed, _read_all_frames):
        with pytest.raises(WireDecodeError, match="exceeds the maximum frame size"):
            feed(b"\xff\xff\xff\xff" + b"\x00" * 8)


@pytest.mark.parametrize("name", DECODERS_OF_ONE_VALUE)
def test_nesting_deeper_than_the_recursion_limit_is_rejected(name: str) -> None:
    deep = b"\x91" * 100_000 + b"\xc0"
    assert not _survives(name, deep)
    assert not _survives(name, b"\x93\x01\x95\x01\x01\xa0\x00\x00" + deep)
    assert not _survives(name, b"\x81\xa1k" * 50_000 + b"\xc0")


def test_invalid_utf8_inside_a_payload_is_rejected_when_the_payload_is_decoded() -> None:
    data = b"\x93\x01\x95\x01\x01\xa0\x00\x00" + b"\xa2\xff\xfe"
    envelope = _codec.decode(data)  # the payload stays Raw: not looked at yet
    with pytest.raises(WireDecodeError, match="invalid UTF-8"):
        _codec.decode_payload(envelope.payload, str)  # type: ignore[union-attr]
    with pytest.raises(WireDecodeError, match="invalid UTF-8"):
        _codec.decode_payload(envelope.payload, Any)  # type: ignore[union-attr]
    with pytest.raises(WireDecodeError, match="invalid UTF-8"):
        _codec.decode_data(data, str)


# -- wrong types at every position --------------------------------------------------------

CANDIDATES: list[Any] = [None, True, -1, 0, 9, 1.5, "x", "close", b"x", [], {}, 2**64 - 1]


def _accepts(kind: str, value: Any) -> bool:
    """Whether a field of this kind accepts the candidate value."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "any":
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "uint":
        return is_int and bool(value >= 0)
    if kind == "version":
        return is_int and value == 1
    if kind == "action":
        return bool(value == "close")
    return False  # "tag" and "kind": any change is wrong


HEADER_KINDS = ["version", "kind", "str", "uint", "uint"]
FIELD_KINDS = {
    "data_message": ["any"],
    "control_message": ["action", "any"],
    "heartbeat": ["str"],
    "ack": ["uint", "str"],
    "wire_error": ["str", "str", "any"],
}


def _positions(name: str) -> list[tuple[tuple[int, ...], str]]:
    header = [((1, index), kind) for index, kind in enumerate(HEADER_KINDS)]
    fields = [((2 + index,), kind) for index, kind in enumerate(FIELD_KINDS[name])]
    return [((0,), "tag"), ((1,), "header"), *header, *fields]


def _replace(generic: list[Any], path: tuple[int, ...], value: Any) -> bytes:
    copy = msgspec.msgpack.decode(msgspec.msgpack.encode(generic))
    target = copy
    for index in path[:-1]:
        target = target[index]
    target[path[-1]] = value
    return msgspec.msgpack.encode(copy)


@pytest.mark.parametrize("message", sorted(FIELD_KINDS))
def test_wrong_types_at_every_position_are_rejected(message: str) -> None:
    generic = msgspec.msgpack.decode(_valid_messages()[message])
    for path, kind in _positions(message):
        for value in CANDIDATES:
            data = _replace(generic, path, value)
            unchanged = type(value) is int and value == generic[1][1]  # True == 1 in Python
            accepted = _accepts(kind, value) or (kind == "kind" and unchanged)
            # An empty header is a header of defaults (kind DATA): valid for data only.
            accepted |= kind == "header" and value == [] and message == "data_message"
            # An int version other than 1 is an unknown version, whichever decoder reads it.
            unknown_version = kind == "version" and type(value) is int and value != 1
            for name in ("decode", "registry.decode"):
                if accepted:
                    assert _survives(name, data), f"{name} refused {value!r} at {path}"
                elif unknown_version:
                    with pytest.raises(UnknownSchemaVersionError) as unknown:
                        ENTRY_POINTS[name](data)
                    assert unknown.value.version == value
                else:
                    with pytest.raises(WireValidationError):
                        ENTRY_POINTS[name](data)
            if path[0] == 1 and not accepted:
                assert not _survives("decode_envelope_view", data), (path, value)


@WIRE_SETTINGS
@given(envelopes, st.data())
def test_any_single_position_replaced_by_garbage_is_handled(msg: Any, data: st.DataObject) -> None:
    generic = msgspec.msgpack.decode(encode(msg))
    path = data.draw(st.sampled_from([(0,), (1,), (1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2,)]))
    value = data.draw(st.sampled_from(CANDIDATES))
    mutated = _replace(generic, path, value)
    for name in ENTRY_POINTS:
        _survives(name, mutated)
