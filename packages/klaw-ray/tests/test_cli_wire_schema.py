"""``klaw wire schema``: klaw-wire's JSON Schema command under the ``klaw`` name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec

from klaw_wire import ResizeMetadata, json_schema

KLAW = str(Path(sys.executable).with_name("klaw"))


def _klaw_wire(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KLAW_")}
    return subprocess.run(
        [KLAW, "wire", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )


def test_klaw_wire_schema_prints_the_envelope_schema_and_a_payloads() -> None:
    envelopes = _klaw_wire("schema")
    assert envelopes.returncode == 0, envelopes.stderr
    assert json.loads(envelopes.stdout) == json.loads(msgspec.json.encode(json_schema()))
    resize = _klaw_wire("schema", "klaw_wire:ResizeMetadata")
    assert resize.returncode == 0, resize.stderr
    expected = json.loads(msgspec.json.encode(json_schema(ResizeMetadata)))
    assert json.loads(resize.stdout) == expected
    missing = _klaw_wire("schema", "klaw_wire:Nope")
    assert missing.returncode == 1
    assert missing.stderr.startswith("klaw wire schema: error:")
