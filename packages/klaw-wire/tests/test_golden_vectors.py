"""The published golden vectors: up to date, complete, and read exactly as they describe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from golden_vectors import FRAMES_FILE, VECTORS_FILE, frames, vectors, vectors_json
from klaw_wire import FrameDecoder, WireDecodeError, decode, encode, json_schema
from wire_strategies import golden_messages

GOLDEN_DIR = Path(__file__).parent / "golden"
VECTORS: list[dict[str, Any]] = json.loads((GOLDEN_DIR / VECTORS_FILE).read_bytes())["vectors"]
ENVELOPES = jsonschema.Draft202012Validator(json_schema())


def _ids(vector: dict[str, Any]) -> str:
    return str(vector["name"])


def test_the_published_files_are_what_the_code_generates() -> None:
    regenerate = "uv run python packages/klaw-wire/tests/test_wire.py --regenerate-golden"
    assert (GOLDEN_DIR / VECTORS_FILE).read_bytes() == vectors_json(), regenerate
    assert (GOLDEN_DIR / FRAMES_FILE).read_bytes() == frames(), regenerate
    assert vectors() == VECTORS


def test_the_golden_message_files_are_vectors_too() -> None:
    by_name = {vector["name"]: vector for vector in VECTORS}
    for name in golden_messages():
        assert bytes.fromhex(by_name[name]["hex"]) == (GOLDEN_DIR / f"{name}.msgpack").read_bytes()


def _integers(value: Any) -> set[int]:
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return set().union(*map(_integers, items)) if items else set()


def test_the_vectors_cover_every_kind_integer_edges_strings_defaults_and_versions() -> None:
    valid = [vector for vector in VECTORS if vector["valid"]]
    assert {vector["type"] for vector in valid} == {
        "DataMessage",
        "ControlMessage",
        "Heartbeat",
        "Ack",
        "WireError",
    }
    integers = set().union(*(_integers(vector["value"]) for vector in valid))
    assert {0, 2**32, 2**63 - 1, 2**64 - 1, -(2**63)} <= integers
    texts = json.dumps([vector["value"] for vector in valid], ensure_ascii=False)
    assert "通道-ü" in texts
    assert '""' in texts
    assert any(vector["hex"] != vector["decoded_hex"] for vector in valid)  # defaults filled
    refused = {vector["name"]: vector["error"] for vector in VECTORS if not vector["valid"]}
    assert refused["version_2"].startswith("unknown wire schema version 2")
    assert refused["version_999"].startswith("unknown wire schema version 999")


@pytest.mark.parametrize("vector", VECTORS, ids=_ids)
def test_each_vector_is_read_as_it_says(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    if vector["valid"]:
        message = decode(data)
        assert type(message).__name__ == vector["type"]
        assert encode(message).hex() == vector["decoded_hex"]
        assert ENVELOPES.is_valid(_as_json(data))
    else:
        with pytest.raises(WireDecodeError) as info:
            decode(data)
        assert str(info.value) == vector["error"]


def _as_json(data: bytes) -> Any:
    """The generic decoding as JSON: bytes become the schema's base64 strings."""
    return msgspec.json.decode(msgspec.json.encode(msgspec.msgpack.decode(data)))


def test_the_framed_stream_decodes_to_every_valid_vector_in_order() -> None:
    decoder = FrameDecoder()
    stream = (GOLDEN_DIR / FRAMES_FILE).read_bytes()
    messages = [
        m for start in range(0, len(stream), 7) for m in decoder.feed(stream[start : start + 7])
    ]
    assert decoder.at_boundary
    expected = [vector["decoded_hex"] for vector in VECTORS if vector["valid"]]
    assert [encode(message).hex() for message in messages] == expected
