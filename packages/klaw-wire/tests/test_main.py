"""``python -m klaw_wire``: inspect (JSON lines) and schema; one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from klaw_wire import DataMessage, Heartbeat, encode_frame, json_schema
from klaw_wire.__main__ import main
from wire_strategies import golden_messages


def _run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "klaw_wire", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def _lines(output: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.decode().splitlines()]


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "capture.bin"
    path.write_bytes(b"".join(encode_frame(msg) for msg in golden_messages().values()))
    return path


def test_inspect_prints_one_json_line_per_envelope(capture: Path) -> None:
    result = _run("inspect", str(capture))
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    lines = _lines(result.stdout)
    assert [line["type"] for line in lines] == [
        "DataMessage",
        "ControlMessage",
        "Heartbeat",
        "Ack",
        "WireError",
    ]
    assert lines[0] == {
        "type": "DataMessage",
        "kind": "DATA",
        "version": 1,
        "channel_id": "jobs",
        "seq": 7,
        "ts": 1_700_000_000_000,
        "payload": {"job": "resize", "width": 640, "tags": ["a", "b"]},
    }
    assert lines[1]["kind"] == "CONTROL"
    assert (lines[1]["action"], lines[1]["metadata"]) == ("resize", {"capacity": 64})
    assert lines[2]["sender_id"] == "worker-1"
    assert (lines[3]["kind"], lines[3]["acked_seq"], lines[3]["status"]) == ("ACK", 7, "ok")
    assert lines[4]["code"] == "channel.full"
    assert lines[4]["details"] == {"channel_id": "jobs", "capacity": 64}


def test_inspect_reads_standard_input(capture: Path) -> None:
    result = _run("inspect", "-", stdin=capture.read_bytes())
    assert result.returncode == 0
    assert len(_lines(result.stdout)) == 5


def test_an_empty_input_prints_nothing() -> None:
    result = _run("inspect", "-", stdin=b"")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def test_payload_values_json_cannot_hold_are_shown_readably(tmp_path: Path) -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    payload = {
        "blob": b"\x00\x01",
        "ext": msgspec.msgpack.Ext(7, b"ab"),
        "when": when,
        1: "int key",
        (1, 2): "array key",
    }
    path = tmp_path / "odd.bin"
    path.write_bytes(encode_frame(DataMessage.build(payload)))
    result = _run("inspect", str(path))
    assert result.returncode == 0, result.stderr
    (line,) = _lines(result.stdout)
    assert line["payload"] == {
        "blob": {"$bytes": "AAE="},
        "ext": {"$ext": 7, "data": "YWI="},
        "when": "2024-01-02T03:04:05Z",
        "1": "int key",
        "[1,2]": "array key",
    }


def _assert_one_line_error(result: subprocess.CompletedProcess[bytes], text: str) -> None:
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert text in stderr


def test_a_truncated_file_prints_the_good_frames_then_one_error_line(capture: Path) -> None:
    data = capture.read_bytes()
    result = _run("inspect", "-", stdin=data[:-3])
    _assert_one_line_error(result, "frame 5 at byte")
    assert "input ends inside the frame" in result.stderr.decode()
    assert len(_lines(result.stdout)) == 4


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\xff\xff\xff\xff", "exceeds the maximum frame size"),
        (b"\x00\x00", "input ends inside the frame header"),
        (b"\x00\x00\x00\x03\x93\x01\xc1", "frame 1 at byte 0"),
        (b"\x00\x00\x00\x00", "truncated"),
        (encode_frame(Heartbeat())[:4] + b"\x93\x03\x95\x01\x04\xa0\x00\x00\xa0", "kind must be"),
        (
            len(b"\x93\x01\x95\x01\x01\xa0\x00\x00\xa2\xff\xfe").to_bytes(4, "big")
            + b"\x93\x01\x95\x01\x01\xa0\x00\x00\xa2\xff\xfe",
            "invalid UTF-8",
        ),
    ],
    ids=["huge-length", "short-header", "bad-byte", "empty-frame", "kind-mismatch", "bad-utf8"],
)
def test_bad_input_gives_one_error_line_and_status_1(data: bytes, text: str) -> None:
    _assert_one_line_error(_run("inspect", "-", stdin=data), text)


def test_a_deeply_nested_payload_is_bad_input_not_a_crash() -> None:
    body = b"\x93\x01\x95\x01\x01\xa0\x00\x00" + b"\x91" * 100_000 + b"\xc0"
    result = _run("inspect", "-", stdin=len(body).to_bytes(4, "big") + body)
    _assert_one_line_error(result, "nested too deeply")


def test_a_missing_file_gives_one_error_line(tmp_path: Path) -> None:
    result = _run("inspect", str(tmp_path / "nope.bin"))
    _assert_one_line_error(result, "cannot read")


def test_usage_errors_exit_with_status_2() -> None:
    assert _run().returncode == 2
    assert _run("explode").returncode == 2


def test_main_returns_the_exit_status(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(capture)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert main(["--help"]) == 0
    assert main([], prog="klaw wire") == 2
    assert "usage: klaw wire" in capsys.readouterr().err
    assert main(["inspect", str(capture.parent / "missing")], prog="klaw wire") == 1
    assert capsys.readouterr().err.startswith("klaw wire inspect: error: cannot read")


def test_schema_prints_the_json_schema_of_the_envelopes() -> None:
    result = _run("schema")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(msgspec.json.encode(json_schema()))


def test_schema_of_a_payload_type_named_module_colon_class(tmp_path: Path) -> None:
    (tmp_path / "shop_events.py").write_text(
        "import msgspec\n\nclass Order(msgspec.Struct):\n    id: int\n    sku: str\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "klaw_wire", "schema", "shop_events:Order"],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["title"] == "klaw wire protocol, version 1: DataMessage[Order]"
    assert schema["$defs"]["Order"]["required"] == ["id", "sku"]


@pytest.mark.parametrize(
    ("argument", "status", "text"),
    [
        ("no_colon", 2, "expected MODULE:CLASS"),
        ("no_such_module_here:X", 1, "cannot import 'no_such_module_here'"),
        ("klaw_wire:NoSuchType", 1, "'klaw_wire' has no 'NoSuchType'"),
        ("builtins:object", 1, "cannot describe builtins:object"),
    ],
)
def test_schema_of_a_type_that_cannot_be_found_or_described(
    argument: str, status: int, text: str
) -> None:
    result = _run("schema", argument)
    assert result.returncode == status
    assert text in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()
    assert result.stdout == b""
