"""The golden vectors for implementers: each message's bytes, its value, and what a reader does.

``tests/golden/vectors.json`` is generated from this module and committed; the tests
regenerate it in memory and compare, so it cannot drift. After a deliberate change::

    uv run python packages/klaw-wire/tests/test_wire.py --regenerate-golden

Each vector is one envelope body (frames add a 4-byte big-endian length):

- ``hex``: the bytes, as written; ``value``: their generic MessagePack decoding in JSON
  (integers exact, however large; ``bin`` as ``{"$bytes": "<base64>"}``, as ``inspect``
  shows it);
- ``valid``: whether a version-1 reader accepts it. If so, ``decoded_hex`` is the message
  as that reader holds it, written back in full (omitted elements filled with their
  defaults, appended ones dropped); if not, ``error`` is klaw-wire's error message.

``tests/golden/frames.bin`` holds every valid vector's ``hex`` as one framed stream.
"""

from __future__ import annotations

import base64
from typing import Any, Final

import msgspec

from klaw_wire import (
    Ack,
    ChannelFull,
    ControlMessage,
    CreateMetadata,
    DataMessage,
    EndOfStream,
    Heartbeat,
    ResizeMetadata,
    WireDecodeError,
    WireError,
    WireHeader,
    decode,
    encode,
    to_wire_error,
)

__all__ = ["FRAMES_FILE", "VECTORS_FILE", "frames", "vectors", "vectors_json"]

VECTORS_FILE: Final = "vectors.json"
FRAMES_FILE: Final = "frames.bin"
TS: Final = 1_700_000_000_000
ABOUT: Final = " ".join(
    [
        "Each vector is one envelope body; a frame adds its length as 4 big-endian bytes.",
        "hex: the bytes as written.",
        "value: their generic MessagePack decoding (integers exact, however large;",
        'bin data as {"$bytes": base64}, as klaw wire inspect shows it;',
        "null when the bytes are not one MessagePack value).",
        "valid: whether a version-1 reader accepts them.",
        "decoded_hex: the message as that reader holds it, written back in full",
        "(omitted elements filled with their defaults, appended ones dropped).",
        "error: klaw-wire's message for a vector it refuses.",
        "frames.bin, beside this file, holds every valid vector framed, in order.",
    ]
)
_BAD_STR: Final = b"\x00\xa2\xff\xfe"  # ts 0, then a 2-byte str that is not UTF-8


def _built() -> list[tuple[str, str, Any]]:
    """(name, description, message) of the vectors Python's ``build`` makes."""
    return [
        (
            "data_message",
            "DataMessage (tag 1) with a map payload",
            DataMessage.build(
                {"job": "resize", "width": 640, "tags": ["a", "b"]},
                channel_id="jobs",
                seq=7,
                ts=TS,
            ),
        ),
        (
            "control_message",
            "ControlMessage (tag 2): resize, metadata {capacity}",
            ControlMessage.build(
                "resize", metadata={"capacity": 64}, channel_id="jobs", seq=8, ts=TS + 1
            ),
        ),
        (
            "heartbeat",
            "Heartbeat (tag 3)",
            Heartbeat.build(sender_id="worker-1", channel_id="jobs", seq=9, ts=TS + 2),
        ),
        (
            "ack",
            "Ack (tag 4) of the message with seq 7",
            Ack.build(acked_seq=7, channel_id="jobs", seq=10, ts=TS + 3),
        ),
        (
            "wire_error",
            "WireError (tag 5): channel.full with its details map",
            to_wire_error(
                ChannelFull(channel_id="jobs", capacity=64),
                header=WireHeader(channel_id="jobs", seq=11, ts=TS + 4),
            ),
        ),
        ("ack_defaults", "every field at its default, written in full", Ack.build()),
        (
            "ack_uint64_2_32",
            "2**32 in seq, ts and acked_seq: the first value past uint32",
            Ack.build(acked_seq=2**32, seq=2**32, ts=2**32),
        ),
        (
            "ack_uint64_int64_max",
            "2**63 - 1 in seq, ts and acked_seq: the largest int64, written as uint64",
            Ack.build(acked_seq=2**63 - 1, seq=2**63 - 1, ts=2**63 - 1),
        ),
        (
            "ack_uint64_max",
            "2**64 - 1 in seq, ts and acked_seq: the largest uint64",
            Ack.build(acked_seq=2**64 - 1, seq=2**64 - 1, ts=2**64 - 1),
        ),
        (
            "heartbeat_unicode",
            "non-ASCII strings: UTF-8, lengths in bytes",
            Heartbeat.build(sender_id="wörker-🚀", channel_id="通道-ü"),
        ),
        (
            "heartbeat_empty_strings",
            "empty strings",
            Heartbeat.build(sender_id="", channel_id=""),
        ),
        (
            "data_payload_types",
            "a payload of every MessagePack type a payload may use",
            DataMessage.build(
                {
                    "nil": None,
                    "true": True,
                    "false": False,
                    "int": -1,
                    "int64_min": -(2**63),
                    "float": 1.5,
                    "str": "",
                    "bin": b"\x00\xff",
                    "array": [1, [2]],
                    "map": {"k": {}},
                },
                channel_id="types",
            ),
        ),
        (
            "control_create_default",
            "create with nil metadata: every option at its default",
            ControlMessage.build("create", channel_id="jobs"),
        ),
        (
            "control_create_capacity",
            "create with a capacity",
            ControlMessage.build("create", metadata=CreateMetadata(capacity=8), channel_id="jobs"),
        ),
        (
            "control_resize",
            "resize to the largest capacity",
            ControlMessage.build(
                "resize", metadata=ResizeMetadata(capacity=1_000_000), channel_id="jobs"
            ),
        ),
        ("control_close", "close: metadata nil", ControlMessage.build("close", channel_id="jobs")),
        ("control_pause", "pause: metadata nil", ControlMessage.build("pause", channel_id="jobs")),
        ("control_resume", "resume: metadata nil", ControlMessage.build("resume", channel_id="j")),
        (
            "wire_error_end_of_stream",
            "channel.end_of_stream, details {channel_id}",
            to_wire_error(EndOfStream(channel_id="jobs")),
        ),
        (
            "wire_error_nil_details",
            "channel.closed with nil details: every detail at its default",
            WireError.build(code="channel.closed", message="channel is closed"),
        ),
        (
            "wire_error_internal",
            "internal: any other failure of the peer, details nil",
            to_wire_error(ValueError("boom")),
        ),
    ]


def _written() -> list[tuple[str, str, bytes]]:
    """(name, description, bytes) of vectors another writer could send, valid or not."""
    pack = msgspec.msgpack.encode
    header = [1, 4, "", 0, 0]
    float_ts = b"\x92\x04\x95\x01\x04\xa0\x00" + pack(float(TS))
    return [
        ("short_ack", "[4]: every element after the tag omitted", pack([4])),
        ("short_header", "[1, [], 5]: a data header of defaults", pack([1, [], 5])),
        (
            "short_ack_header",
            "[4, [1, 4]]: a header cut after its kind",
            pack([4, [1, 4], 3]),
        ),
        (
            "appended_fields",
            "elements appended to the header and the message: ignored",
            pack([4, [1, 4, "c", 1, 2, "trace-7"], 7, "ok", {"new": True}]),
        ),
        (
            "wide_encodings",
            "valid but not minimal encodings (uint64 for 1, str8, array16): accepted",
            b"\xdc\x00\x04\x04\xdc\x00\x05\xcf"
            + (1).to_bytes(8, "big")
            + b"\x04\xd9\x00\x00\x00\x00\xa2ok",
        ),
        ("version_2", "version 2: unknown to a version-1 reader", pack([4, [2, *header[1:]], 0])),
        ("version_999", "version 999", pack([4, [999, *header[1:]], 0, "ok"])),
        ("version_0", "version 0", pack([4, [0, *header[1:]], 0, "ok"])),
        ("kind_mismatch", "tag 4 with header kind 1", pack([4, [1, 1, "", 0, 0], 0, "ok"])),
        ("omitted_kind", "[4, [1]]: an omitted kind is 1, not the tag", pack([4, [1], 0])),
        ("negative_seq", "seq -1", pack([4, [1, 4, "", -1, 0], 0, "ok"])),
        ("negative_acked_seq", "acked_seq -1", pack([4, header, -1, "ok"])),
        ("float_ts", "ts as a float64, as JavaScript writes large numbers", float_ts),
        ("unknown_tag", "tag 6", pack([6, [1, 6, "", 0, 0]])),
        ("unknown_action", "action 'explode'", pack([2, [1, 2, "", 0, 0], "explode", None])),
        ("missing_payload", "a data message without its payload", pack([1, [1, 1, "", 0, 0]])),
        ("wrong_type", "channel_id an integer", pack([3, [1, 3, 7, 0, 0], "w"])),
        ("trailing_bytes", "one byte after the message", pack([4]) + b"\xc0"),
        ("truncated", "the last byte missing", pack([3, [1, 3, "", 0, 0], "worker"])[:-1]),
        (
            "invalid_utf8",
            "a str that is not UTF-8",
            b"\x93\x03\x95\x01\x03\xa0\x00\x00\xa2\xff\xfe",
        ),
    ]


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):  # as `python -m klaw_wire inspect` shows bin data
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    return value


def _describe(name: str, description: str, data: bytes) -> dict[str, Any]:
    vector: dict[str, Any] = {"name": name, "description": description, "hex": data.hex()}
    try:
        vector["value"] = _json_value(msgspec.msgpack.decode(data))
    except (msgspec.DecodeError, UnicodeDecodeError):
        vector["value"] = None  # not one MessagePack value at all
    try:
        message = decode(data)
    except WireDecodeError as exc:
        vector.update(valid=False, error=str(exc))
    else:
        vector.update(valid=True, type=type(message).__name__, decoded_hex=encode(message).hex())
    return vector


def vectors() -> list[dict[str, Any]]:
    """Every vector, described."""
    described = [_describe(name, text, encode(msg)) for name, text, msg in _built()]
    described += [_describe(name, text, data) for name, text, data in _written()]
    return described


def frames() -> bytes:
    """Every valid vector, framed, in order: a stream a reader must decode whole."""
    stream = b""
    for vector in vectors():
        if vector["valid"]:
            body = bytes.fromhex(vector["hex"])
            stream += len(body).to_bytes(4, "big") + body
    return stream


def vectors_json() -> bytes:
    """The contents of ``vectors.json``."""
    document = {"protocol": "klaw wire protocol, version 1", "about": ABOUT, "vectors": vectors()}
    return msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"
