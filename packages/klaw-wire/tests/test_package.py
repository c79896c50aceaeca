"""The package root: what it exports, and what importing it pulls in."""

from __future__ import annotations

import importlib
import subprocess
import sys

import klaw_wire

MODULES = [
    "wire",
    "codec",
    "buffers",
    "schema",
    "views",
    "errors",
    "framing",
    "control",
    "_json_schema",  # private module, public function: json_schema
]


def test_the_root_exports_exactly_the_public_names_of_its_modules() -> None:
    names: set[str] = set()
    for module in MODULES:
        names.update(importlib.import_module(f"klaw_wire.{module}").__all__)
    assert set(klaw_wire.__all__) == names
    assert klaw_wire.__all__ == sorted(klaw_wire.__all__, key=lambda n: (not n.isupper(), n))


def test_channel_error_pairs_are_importable_from_the_root() -> None:
    from klaw_wire import (
        ChannelBackend,
        ChannelBackendError,
        ChannelClosed,
        ChannelClosedError,
        ChannelEmpty,
        ChannelEmptyError,
        ChannelFull,
        ChannelFullError,
    )

    for struct_type, exc_type in [
        (ChannelClosed, ChannelClosedError),
        (ChannelFull, ChannelFullError),
        (ChannelEmpty, ChannelEmptyError),
        (ChannelBackend, ChannelBackendError),
    ]:
        assert type(struct_type().to_exception()) is exc_type
        assert type(exc_type().to_struct()) is struct_type


def test_importing_klaw_wire_pulls_in_only_msgspec_and_klaw_types() -> None:
    code = (
        "import sys; before = set(sys.modules); import klaw_wire; "
        "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(result.stdout.split())
    third_party = loaded - set(sys.stdlib_module_names) - {"klaw_wire"}
    # msgspec itself imports typing_extensions when it is installed.
    assert (
        {"msgspec", "klaw_types"} <= third_party <= {"msgspec", "klaw_types", "typing_extensions"}
    )
