"""Envelope types: layout, defaults, kind agreement, round trips and golden vectors.

The golden vectors under ``tests/golden/`` pin the wire format (the ``.msgpack`` files,
and ``vectors.json`` and ``frames.bin`` for implementers, see ``golden_vectors.py``).
After a deliberate format change, regenerate them with::

    uv run python packages/klaw-wire/tests/test_wire.py --regenerate-golden

and review the diff; the tests never rewrite them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from golden_vectors import FRAMES_FILE, VECTORS_FILE, frames, vectors_json
from klaw_wire import (
    CONTROL_ACTIONS,
    NIL,
    WIRE_SCHEMA_VERSION,
    Ack,
    ControlMessage,
    DataMessage,
    Heartbeat,
    InvalidMessageError,
    MessageKind,
    UnknownSchemaVersionError,
    WireDecodeError,
    WireError,
    WireHeader,
    WireValidationError,
    decode,
    encode,
    get_codec_pool,
)
from wire_strategies import (
    WIRE_SETTINGS,
    acks,
    control_messages,
    data_messages,
    envelopes,
    golden_messages,
    heartbeats,
    wire_errors,
)

GOLDEN_DIR = Path(__file__).parent / "golden"

ENVELOPE_TYPES: list[tuple[type[Any], MessageKind, int]] = [
    (DataMessage, MessageKind.DATA, 1),
    (ControlMessage, MessageKind.CONTROL, 2),
    (Heartbeat, MessageKind.HEARTBEAT, 3),
    (Ack, MessageKind.ACK, 4),
    (WireError, MessageKind.ERROR, 5),
]


def _with_defaults(cls: type[Any]) -> Any:
    """An instance with every optional field at its default."""
    if cls is DataMessage:
        return DataMessage(payload=NIL)
    if cls is ControlMessage:
        return ControlMessage(action="close")
    return cls()


def test_kinds_are_numbered_like_the_tags() -> None:
    assert [(kind.name, kind.value) for kind in MessageKind] == [
        ("DATA", 1),
        ("CONTROL", 2),
        ("HEARTBEAT", 3),
        ("ACK", 4),
        ("ERROR", 5),
    ]
    for cls, kind, tag in ENVELOPE_TYPES:
        assert cls.__struct_config__.tag == tag == kind.value


def test_header_defaults() -> None:
    assert WireHeader() == WireHeader(
        version=WIRE_SCHEMA_VERSION, kind=MessageKind.DATA, channel_id="", seq=0, ts=0
    )
    assert WIRE_SCHEMA_VERSION == 1


@pytest.mark.parametrize(("cls", "kind", "tag"), ENVELOPE_TYPES)
def test_defaults_encode_to_exactly_one_complete_value(
    cls: type[Any], kind: MessageKind, tag: int
) -> None:
    msg = _with_defaults(cls)
    data = encode(msg)
    # Alone: one value, nothing left over (msgspec rejects trailing bytes).
    generic = msgspec.msgpack.decode(data)
    assert generic[0] == tag
    assert generic[1] == [WIRE_SCHEMA_VERSION, kind.value, "", 0, 0]
    assert decode(data) == msg
    # Inside another container: the container's element count stays right.
    assert msgspec.msgpack.decode(b"\x92" + data + b"\x2a") == [generic, 42]
    assert msgspec.msgpack.decode(msgspec.msgpack.encode([msg, msg])) == [generic, generic]


def test_layout_is_tag_header_then_fields() -> None:
    msg = ControlMessage.build("resize", metadata={"capacity": 2}, channel_id="c", seq=5, ts=6)
    assert msgspec.msgpack.decode(encode(msg)) == [2, [1, 2, "c", 5, 6], "resize", {"capacity": 2}]


@pytest.mark.parametrize(("cls", "kind", "tag"), ENVELOPE_TYPES)
def test_default_header_has_the_kind_of_its_type(
    cls: type[Any], kind: MessageKind, tag: int
) -> None:
    assert _with_defaults(cls).header.kind is kind


def test_build_fills_the_header_with_the_right_kind() -> None:
    built: list[tuple[Any, MessageKind]] = [
        (DataMessage.build(1, channel_id="c", seq=2, ts=3), MessageKind.DATA),
        (ControlMessage.build("pause", channel_id="c", seq=2, ts=3), MessageKind.CONTROL),
        (Heartbeat.build(sender_id="s", channel_id="c", seq=2, ts=3), MessageKind.HEARTBEAT),
        (Ack.build(acked_seq=1, channel_id="c", seq=2, ts=3), MessageKind.ACK),
        (WireError.build(code="x", channel_id="c", seq=2, ts=3), MessageKind.ERROR),
    ]
    for msg, kind in built:
        assert msg.header == WireHeader(kind=kind, channel_id="c", seq=2, ts=3)


def test_build_encodes_metadata_and_details() -> None:
    control = ControlMessage.build("resize", metadata={"capacity": 8})
    assert msgspec.msgpack.decode(control.metadata) == {"capacity": 8}
    error = WireError.build(code="c", message="m", details=[1, 2])
    assert msgspec.msgpack.decode(error.details) == [1, 2]
    assert ControlMessage.build("close").metadata == NIL
    raw = msgspec.Raw(b"\x01")
    assert WireError.build(details=raw).details is raw


@pytest.mark.parametrize(("cls", "kind", "tag"), ENVELOPE_TYPES)
def test_constructing_with_a_header_of_another_kind_is_rejected(
    cls: type[Any], kind: MessageKind, tag: int
) -> None:
    extra: dict[str, Any] = {"payload": 1} if cls is DataMessage else {}
    if cls is ControlMessage:
        extra = {"action": "close"}
    for other in MessageKind:
        if other is kind:
            assert cls(header=WireHeader(kind=other), **extra).header.kind is kind
            continue
        with pytest.raises(ValueError, match=rf"header\.kind must be {kind.name}"):
            cls(header=WireHeader(kind=other), **extra)


def test_replacing_the_header_keeps_the_kind_check() -> None:
    ack = Ack.build(acked_seq=1)
    moved = msgspec.structs.replace(ack, header=WireHeader(kind=MessageKind.ACK, seq=2))
    assert moved.header.seq == 2
    with pytest.raises(ValueError, match=r"Ack\.header\.kind must be ACK"):
        msgspec.structs.replace(ack, header=WireHeader())


def test_constructing_with_something_else_than_a_header_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a WireHeader"):
        Ack(header="not a header")  # type: ignore[arg-type]


@pytest.mark.parametrize(("cls", "kind", "tag"), ENVELOPE_TYPES)
def test_decoding_a_header_kind_that_disagrees_with_the_tag_is_rejected(
    cls: type[Any], kind: MessageKind, tag: int
) -> None:
    generic = msgspec.msgpack.decode(encode(_with_defaults(cls)))
    for other in MessageKind:
        generic[1][1] = other.value
        data = msgspec.msgpack.encode(generic)
        if other is kind:
            assert type(decode(data)) is cls
            continue
        with pytest.raises(WireValidationError, match=rf"header\.kind must be {kind.name}"):
            decode(data)
        # The check lives in the type, so a plain msgspec decoder enforces it too.
        with pytest.raises(msgspec.ValidationError):
            msgspec.msgpack.decode(data, type=cls)


def test_control_action_must_be_known() -> None:
    assert sorted(CONTROL_ACTIONS) == ["close", "create", "pause", "resize", "resume"]
    for action in CONTROL_ACTIONS:
        metadata = {"capacity": 1} if action == "resize" else None
        assert ControlMessage.build(action, metadata=metadata).action == action
    with pytest.raises(ValueError, match="must be one of"):
        ControlMessage.build("explode")
    data = msgspec.msgpack.encode([2, [1, 2, "", 0, 0], "explode", None])
    with pytest.raises(WireValidationError, match="Invalid enum value 'explode'") as info:
        decode(data)
    assert info.value.path == "$[2]"


def test_an_empty_raw_field_is_rejected_because_it_would_encode_to_nothing() -> None:
    with pytest.raises(ValueError, match="exactly one MessagePack value"):
        ControlMessage.build("close", metadata=msgspec.Raw(b""))
    with pytest.raises(ValueError, match="exactly one MessagePack value"):
        WireError.build(details=msgspec.Raw())


def test_messages_are_frozen() -> None:
    ack = Ack()
    with pytest.raises(AttributeError):
        ack.acked_seq = 3  # type: ignore[misc]


def test_a_newer_writer_may_append_fields_that_an_older_reader_ignores() -> None:
    generic = [4, [1, 4, "c", 1, 2, "trace-id", 99], 7, "ok", {"new": "field"}]
    assert decode(msgspec.msgpack.encode(generic)) == Ack.build(
        acked_seq=7, channel_id="c", seq=1, ts=2
    )


def test_negative_sequence_numbers_and_other_versions_are_rejected_on_decode() -> None:
    for header in ([1, 4, "", -1, 0], [1, 4, "", 0, -1]):
        with pytest.raises(WireValidationError):
            decode(msgspec.msgpack.encode([4, header, 0, "ok"]))
    for version in (0, 2, 999, 2**64 - 1):
        with pytest.raises(UnknownSchemaVersionError) as info:
            decode(msgspec.msgpack.encode([4, [version, 4, "", 0, 0], 0, "ok"]))
        assert info.value.version == version


@WIRE_SETTINGS
@given(envelopes)
def test_any_envelope_round_trips(msg: Any) -> None:
    assert decode(encode(msg)) == msg


@WIRE_SETTINGS
@given(envelopes)
def test_decoding_returns_the_type_that_was_encoded(msg: Any) -> None:
    decoded = decode(encode(msg))
    assert type(decoded) is type(msg)
    assert decoded.header == msg.header
    assert decoded.header.version == msg.header.version


@WIRE_SETTINGS
@given(envelopes)
def test_encode_and_decode_are_idempotent(msg: Any) -> None:
    data = encode(msg)
    assert encode(decode(data)) == data
    assert encode(decode(encode(decode(data)))) == data


@WIRE_SETTINGS
@given(st.lists(envelopes, max_size=5))
def test_envelopes_nest_inside_containers(msgs: list[Any]) -> None:
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(msgs))
    assert decoded == [msgspec.msgpack.decode(encode(m)) for m in msgs]


@WIRE_SETTINGS
@given(st.one_of(data_messages(), control_messages, heartbeats, acks, wire_errors))
def test_every_generated_message_has_the_kind_of_its_type(msg: Any) -> None:
    assert msg.header.kind.value == type(msg).__struct_config__.tag


# -- build checks what the decoders check ---------------------------------------------------

UINT64_EDGES = [0, 1, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1]


@pytest.mark.parametrize("value", UINT64_EDGES)
def test_build_accepts_every_uint64_and_the_decoder_reads_it_back(value: int) -> None:
    ack = Ack.build(acked_seq=value, seq=value, ts=value, channel_id="", status="")
    assert decode(encode(ack)) == ack
    data = DataMessage.build(value, seq=value, ts=value)
    assert get_codec_pool().decode_data(encode(data), int) == data


@pytest.mark.parametrize(
    ("build", "field", "reason"),
    [
        (lambda: DataMessage.build(1, seq=-1), "DataMessage.header.seq", "got -1"),
        (
            lambda: DataMessage.build(1, ts=2**64),
            "DataMessage.header.ts",
            "got 18446744073709551616",
        ),
        (lambda: Heartbeat.build(seq=True), "Heartbeat.header.seq", "got bool"),
        (lambda: Heartbeat.build(ts=1.5), "Heartbeat.header.ts", "got float"),  # type: ignore[arg-type]
        (lambda: Heartbeat.build(channel_id=7), "Heartbeat.header.channel_id", "must be a str"),  # type: ignore[arg-type]
        (lambda: Heartbeat.build(sender_id=None), "Heartbeat.sender_id", "must be a str"),
        (lambda: Ack.build(acked_seq=-1), "Ack.acked_seq", "between 0 and 2**64 - 1"),
        (lambda: Ack.build(status=b"ok"), "Ack.status", "must be a str"),
        (lambda: ControlMessage.build("explode"), "ControlMessage.action", "must be one of"),
        (
            lambda: ControlMessage.build("close", metadata=msgspec.Raw(b"")),
            "ControlMessage.metadata",
            "got none",
        ),
        (
            lambda: ControlMessage.build("close", metadata=msgspec.Raw(b"\x01\x02")),
            "ControlMessage.metadata",
            "trailing characters",
        ),
        (
            lambda: ControlMessage.build("close", metadata=object()),
            "ControlMessage.metadata",
            "cannot be encoded",
        ),
        (lambda: WireError.build(details=msgspec.Raw(b"\xc1")), "WireError.details", "opcode"),
        (lambda: ControlMessage.build("resize"), "ControlMessage.metadata", "got nil"),
        (
            lambda: ControlMessage.build("resize", metadata={"capacity": 0}),
            "ControlMessage.metadata",
            "Expected `int` >= 1 - at `$.capacity`",
        ),
        (
            lambda: ControlMessage.build("pause", metadata={"capacity": 8}),
            "ControlMessage.metadata",
            "must be nil",
        ),
        (
            lambda: WireError.build(code="channel.full", details={"capacity": "x"}),
            "WireError.details",
            "ChannelFull",
        ),
        (lambda: WireError.build(code="wire.decode", details=[1]), "WireError.details", "nil"),
        (lambda: WireError.build(code=5), "WireError.code", "must be a str"),
        (lambda: DataMessage.build(msgspec.Raw(b"\x92\x01")), "DataMessage.payload", "truncated"),
    ],
    ids=lambda value: value if isinstance(value, str) and "." in value else "",
)
def test_build_refuses_at_once_what_a_decoder_would_refuse(
    build: Any, field: str, reason: str
) -> None:
    with pytest.raises(InvalidMessageError) as info:
        build()
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value) == f"{field} {info.value.reason}"
    assert isinstance(info.value, ValueError)


def test_build_takes_the_fields_after_the_header_positionally_in_wire_order() -> None:
    assert Ack.build(7, "late") == Ack.build(acked_seq=7, status="late")
    assert WireError.build("c", "m", [1]) == WireError.build(code="c", message="m", details=[1])
    with pytest.raises(TypeError, match="at most 2 positional"):
        Ack.build(1, "ok", 3)
    with pytest.raises(TypeError, match="two values for 'acked_seq'"):
        Ack.build(1, acked_seq=1)
    with pytest.raises(TypeError, match="makes the header"):
        Ack.build(header=WireHeader(kind=MessageKind.ACK))
    with pytest.raises(TypeError):
        Ack.build(acked=1)
    with pytest.raises(TypeError):
        DataMessage.build()


_ANY_INT = st.integers(min_value=-(2**65), max_value=2**65)
_MAYBE_STR = st.one_of(st.text(max_size=4), st.integers(), st.none(), st.binary(max_size=2))


@WIRE_SETTINGS
@given(seq=_ANY_INT, ts=_ANY_INT, acked_seq=_ANY_INT, channel_id=_MAYBE_STR, status=_MAYBE_STR)
def test_what_build_makes_decodes_and_what_it_refuses_no_decoder_accepts(
    seq: Any, ts: Any, acked_seq: Any, channel_id: Any, status: Any
) -> None:
    try:
        ack = Ack.build(acked_seq=acked_seq, status=status, channel_id=channel_id, seq=seq, ts=ts)
    except InvalidMessageError:
        # The same values written by hand, as another implementation might: refused too.
        try:
            data = msgspec.msgpack.encode([4, [1, 4, channel_id, seq, ts], acked_seq, status])
        except OverflowError:
            return  # not even representable in MessagePack
        with pytest.raises(WireValidationError):
            decode(data)
    else:
        assert decode(encode(ack)) == ack


# -- golden vectors --------------------------------------------------------------------

GOLDEN_LAYOUTS: dict[str, list[Any]] = {
    "data_message": [
        1,
        [1, 1, "jobs", 7, 1_700_000_000_000],
        {"job": "resize", "width": 640, "tags": ["a", "b"]},
    ],
    "control_message": [2, [1, 2, "jobs", 8, 1_700_000_000_001], "resize", {"capacity": 64}],
    "heartbeat": [3, [1, 3, "jobs", 9, 1_700_000_000_002], "worker-1"],
    "ack": [4, [1, 4, "jobs", 10, 1_700_000_000_003], 7, "ok"],
    "wire_error": [
        5,
        [1, 5, "jobs", 11, 1_700_000_000_004],
        "channel.full",
        "channel 'jobs' is full (capacity 64)",
        {"channel_id": "jobs", "capacity": 64},
    ],
}


def test_there_is_one_golden_vector_per_message_type() -> None:
    assert sorted(p.stem for p in GOLDEN_DIR.glob("*.msgpack")) == sorted(golden_messages())
    types = {type(msg) for msg in golden_messages().values()}
    assert types == {cls for cls, _, _ in ENVELOPE_TYPES}


@pytest.mark.parametrize("name", sorted(GOLDEN_LAYOUTS))
def test_encoding_gives_exactly_the_golden_bytes(name: str) -> None:
    expected = (GOLDEN_DIR / f"{name}.msgpack").read_bytes()
    msg = golden_messages()[name]
    assert encode(msg) == expected, f"wire format drifted for {name}"
    assert msgspec.msgpack.decode(expected) == GOLDEN_LAYOUTS[name]
    decoded = decode(expected)
    assert type(decoded) is type(msg)
    assert encode(decoded) == expected


def _regenerate_golden() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, msg in golden_messages().items():
        (GOLDEN_DIR / f"{name}.msgpack").write_bytes(encode(msg))
        print(f"wrote {GOLDEN_DIR / name}.msgpack")
    for file_name, contents in ((VECTORS_FILE, vectors_json()), (FRAMES_FILE, frames())):
        (GOLDEN_DIR / file_name).write_bytes(contents)
        print(f"wrote {GOLDEN_DIR / file_name}")


def test_a_truncated_golden_vector_is_rejected() -> None:
    data = (GOLDEN_DIR / "ack.msgpack").read_bytes()
    with pytest.raises(WireDecodeError, match="truncated"):
        decode(data[:-1])


if __name__ == "__main__":
    if sys.argv[1:] == ["--regenerate-golden"]:
        _regenerate_golden()
    else:
        sys.exit(f"usage: {sys.argv[0]} --regenerate-golden")
