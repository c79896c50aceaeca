"""Views: the tag and header of an envelope, and three fields of a task event record."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given

from klaw_wire import (
    DataMessage,
    EnvelopeView,
    Heartbeat,
    MessageKind,
    TaskEventView,
    WireHeader,
    WireValidationError,
    decode_envelope_view,
    decode_task_event_view,
    encode,
)
from wire_strategies import WIRE_SETTINGS, envelopes


@WIRE_SETTINGS
@given(envelopes)
def test_the_view_of_any_envelope_has_its_tag_and_header(msg: Any) -> None:
    view = decode_envelope_view(encode(msg))
    assert view == EnvelopeView(tag=type(msg).__struct_config__.tag, header=msg.header)
    assert view.header.kind == view.tag


def test_the_view_skips_a_payload_it_could_not_decode() -> None:
    # The payload is invalid UTF-8: a full decode of it would fail, the view skips it.
    data = b"\x93\x01\x95\x01\x01\xa4jobs\x05\x00" + b"\xa2\xff\xfe"
    view = decode_envelope_view(data)
    assert (view.tag, view.header.channel_id, view.header.seq) == (1, "jobs", 5)


def test_the_view_rejects_a_kind_that_disagrees_with_the_tag() -> None:
    data = msgspec.msgpack.encode([3, [1, 4, "", 0, 0], ""])
    with pytest.raises(WireValidationError, match="disagrees with message tag 3"):
        decode_envelope_view(data)
    with pytest.raises(ValueError, match="disagrees"):
        EnvelopeView(tag=2, header=WireHeader())


def test_the_view_reads_any_buffer() -> None:
    data = encode(Heartbeat.build(sender_id="w", seq=4))
    doubled = bytes(b for byte in data for b in (byte, 0))
    for buf in (data, bytearray(data), memoryview(data), memoryview(doubled)[::2]):
        assert decode_envelope_view(buf).header.seq == 4


def test_the_view_of_a_large_message_matches_the_full_decode() -> None:
    msg = DataMessage.build([{"i": i, "name": f"item-{i}"} for i in range(5000)], seq=77)
    view = decode_envelope_view(encode(msg))
    assert view.header == msg.header
    assert view.header.kind is MessageKind.DATA


RECORD: dict[str, Any] = {
    "kind": "finished",
    "attempt": 2,
    "id": "task-42",
    "payload": {"rows": list(range(100)), "blob": "x" * 1000},
    "ts": 1_700_000_000_123,
    "tags": ["a", "b"],
}


def test_a_task_event_view_picks_three_fields_out_of_msgpack() -> None:
    view = decode_task_event_view(msgspec.msgpack.encode(RECORD))
    assert view == TaskEventView(id="task-42", ts=1_700_000_000_123, kind="finished")


def test_a_task_event_view_picks_three_fields_out_of_json() -> None:
    text = msgspec.json.encode(RECORD)
    expected = TaskEventView(id="task-42", ts=1_700_000_000_123, kind="finished")
    assert decode_task_event_view(text, fmt="json") == expected
    assert decode_task_event_view(text.decode(), fmt="json") == expected
    assert decode_task_event_view(bytearray(text), fmt="json") == expected
    fractional = decode_task_event_view(b'{"id":"t","ts":1.5,"kind":"k"}', fmt="json")
    assert fractional.ts == 1.5


def test_a_task_event_record_missing_a_field_is_rejected() -> None:
    record = {key: value for key, value in RECORD.items() if key != "kind"}
    with pytest.raises(WireValidationError, match="missing required field `kind`"):
        decode_task_event_view(msgspec.msgpack.encode(record))
    with pytest.raises(WireValidationError, match=r"Expected `str`, got `int` - at `\$.id`"):
        decode_task_event_view(b'{"id":1,"ts":1,"kind":"k"}', fmt="json")


def test_task_event_view_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="fmt"):
        decode_task_event_view(b"", fmt="yaml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes-like"):
        decode_task_event_view("{}")
