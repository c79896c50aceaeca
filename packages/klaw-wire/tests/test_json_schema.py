"""The JSON Schema: valid 2020-12, generated from the structs, and in agreement with decoding.

Messages are checked as their generic MessagePack decoding, made JSON-compatible the way
the schema describes bytes (a base64 string).
"""

from __future__ import annotations

import base64
from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from klaw_wire import (
    CONTROL_METADATA,
    JSON_SCHEMA_DIALECT,
    ControlMessage,
    CreateMetadata,
    DataMessage,
    ErrorCode,
    InvalidMessageError,
    ResizeMetadata,
    WireDecodeError,
    WireEnvelope,
    WireError,
    decode,
    encode,
    from_wire_error,
    get_codec_pool,
    json_schema,
    to_wire_error,
)
from wire_strategies import (
    WIRE_SETTINGS,
    Job,
    data_messages,
    envelopes,
    golden_messages,
    jobs,
    msgpack_values,
)

ENVELOPES = jsonschema.Draft202012Validator(json_schema())
JOBS = jsonschema.Draft202012Validator(json_schema(Job))


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def _as_json(data: bytes) -> Any:
    return _jsonable(msgspec.msgpack.decode(data))


def _decodes(data: bytes) -> bool:
    try:
        decode(data)
    except WireDecodeError:
        return False
    return True


def test_the_schemas_are_valid_json_schema_2020_12() -> None:
    for schema in (json_schema(), json_schema(Job), json_schema(list[int])):
        assert schema["$schema"] == JSON_SCHEMA_DIALECT
        jsonschema.Draft202012Validator.check_schema(schema)
        assert msgspec.json.decode(msgspec.json.encode(schema)) == schema


def test_msgspecs_own_schema_generator_describes_the_envelopes_too() -> None:
    # The Raw fields default through a factory: msgspec cannot write a Raw default.
    defs = msgspec.json.schema(WireEnvelope)["$defs"]
    assert defs["ControlMessage"]["prefixItems"][3]["default"] is None
    assert defs["WireError"]["prefixItems"][4]["default"] is None


def test_the_schema_is_generated_from_the_structs() -> None:
    defs = json_schema()["$defs"]
    header = defs["WireHeader"]["prefixItems"]
    assert header[0] == {"enum": [1], "default": 1}
    assert header[3]["maximum"] == 2**64 - 1
    assert header[3]["minimum"] == 0
    assert defs["ResizeMetadata"]["required"] == ["capacity"]
    assert "capacity" in defs["CreateMetadata"]["properties"]
    for cls in (CreateMetadata, ResizeMetadata):
        assert cls in CONTROL_METADATA.values()
    assert set(json_schema(Job)["$defs"]) >= {"Job", "DataMessage_Job_", "WireHeader"}


@pytest.mark.parametrize("name", sorted(golden_messages()))
def test_every_golden_message_is_valid(name: str) -> None:
    ENVELOPES.validate(_as_json(encode(golden_messages()[name])))


@WIRE_SETTINGS
@given(envelopes)
def test_every_encoded_envelope_is_valid(msg: Any) -> None:
    ENVELOPES.validate(_as_json(encode(msg)))


@WIRE_SETTINGS
@given(data_messages(jobs))
def test_a_typed_data_message_is_valid_against_its_payloads_schema(msg: DataMessage[Job]) -> None:
    JOBS.validate(_as_json(encode(msg)))


# Wire forms, one change each from a valid message; the schema and the decoder must agree.
AGREEMENT: list[Any] = [
    [4],
    [4, []],
    [4, [1]],
    [4, [1, 4]],
    [1, [], None],
    [1, [1], None],
    [4, [1, 1, "", 0, 0], 0, "ok"],
    [4, [2, 4, "", 0, 0], 0, "ok"],
    [4, [0, 4, "", 0, 0], 0, "ok"],
    [4, [1, 4, "", -1, 0], 0, "ok"],
    [4, [1, 4, "", 2**64 - 1, 2**64 - 1], 2**64 - 1, "ok"],
    [4, [1, 4, "", 0, 0], -1, "ok"],
    [4, [1, 4, 7, 0, 0], 0, "ok"],
    [4, [1, 4, "", 0, 0], 0, "ok", "appended", {"later": 1}],
    [4, [1, 4, "", 0, 0, "appended"], 0, "ok"],
    [3, [1, 3, "é", 0, 0], ""],
    [3, [1, 3, "", 0, 0], None],
    [2, [1, 2, "", 0, 0], "resize", {"capacity": 8}],
    [2, [1, 2, "", 0, 0], "explode", None],
    [2, [1, 2, "", 0, 0]],
    [5, [1, 5, "", 0, 0], "x", "y", [1, 2]],
    [6, [1, 6, "", 0, 0]],
    [True, [1, 1, "", 0, 0], None],
    [],
]


@pytest.mark.parametrize("value", AGREEMENT, ids=repr)
def test_the_schema_accepts_exactly_what_a_version_1_reader_decodes(value: Any) -> None:
    assert ENVELOPES.is_valid(value) == _decodes(msgspec.msgpack.encode(value))


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ([2, [1, 2, "c", 0, 0], "resize", {"capacity": 8}], True),
        ([2, [1, 2, "c", 0, 0], "resize", {"capacity": 0}], False),
        ([2, [1, 2, "c", 0, 0], "resize", None], False),
        ([2, [1, 2, "c", 0, 0], "resize", {}], False),
        ([2, [1, 2, "c", 0, 0], "create", {}], True),
        ([2, [1, 2, "c", 0, 0], "create", {"capacity": 1_000_001}], False),
        ([2, [1, 2, "c", 0, 0], "close", None], True),
        ([2, [1, 2, "c", 0, 0], "close", {"capacity": 8}], False),
        ([5, [1, 5, "", 0, 0], "channel.full", "m", {"capacity": 3}], True),
        ([5, [1, 5, "", 0, 0], "channel.full", "m", {"capacity": "x"}], False),
        ([5, [1, 5, "", 0, 0], "channel.full", "m", None], True),
        ([5, [1, 5, "", 0, 0], "wire.decode", "m", None], True),
        ([5, [1, 5, "", 0, 0], "wire.decode", "m", {"reason": "x"}], False),
        ([5, [1, 5, "", 0, 0], "billing.declined", "m", {"any": ["thing"]}], True),
    ],
)
def test_metadata_and_details_follow_the_action_and_the_code(value: Any, valid: bool) -> None:
    assert ENVELOPES.is_valid(value) == valid


_CODES = st.sampled_from(sorted(ErrorCode)) | st.text(max_size=8)
_LAYOUT_LIKE = st.one_of(
    msgpack_values,
    st.fixed_dictionaries({"capacity": st.integers(min_value=-2, max_value=2_000_000)}),
    st.fixed_dictionaries({"capacity": st.none()}),
)


@WIRE_SETTINGS
@given(
    action=st.sampled_from(sorted(CONTROL_METADATA)),
    code=_CODES,
    value=_LAYOUT_LIKE,
)
def test_what_build_makes_is_valid_and_what_it_refuses_is_not(
    action: str, code: str, value: Any
) -> None:
    control = [2, [1, 2, "", 0, 0], action, _jsonable(value)]
    error = [5, [1, 5, "", 0, 0], code, "", _jsonable(value)]
    for build, as_list in (
        (lambda: ControlMessage.build(action, metadata=value), control),
        (lambda: WireError.build(code=code, details=value), error),
    ):
        try:
            built = build()
        except InvalidMessageError:
            assert not ENVELOPES.is_valid(as_list), as_list
        else:
            assert ENVELOPES.is_valid(_as_json(encode(built))), as_list


def test_an_integral_float_is_no_integer_on_the_wire_though_json_schema_cannot_tell() -> None:
    value = [4, [1, 4, "", 0, 0], 1.0, "ok"]
    assert ENVELOPES.is_valid(value)  # JSON Schema: 1.0 is an integer
    assert not _decodes(msgspec.msgpack.encode(value))  # MessagePack: a float64


def test_valid_details_are_what_from_wire_error_reads_as_a_channel_error() -> None:
    for code in ErrorCode:
        error = to_wire_error(from_wire_error(WireError.build(code=code, message="m")))
        assert ENVELOPES.is_valid(_as_json(encode(error))), code
    resize = ControlMessage.build("resize", metadata=ResizeMetadata(capacity=9))
    assert ENVELOPES.is_valid(_as_json(encode(resize)))
    metadata = get_codec_pool().decode_payload(resize.metadata, ResizeMetadata)
    assert metadata == ResizeMetadata(capacity=9)
