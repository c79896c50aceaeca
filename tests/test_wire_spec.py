"""The wire specification page lists what the code defines: it cannot fall behind it.

The tables of ``docs/user-guide/wire-spec.md`` are checked against the structs: every
error code with the keys of its details struct, every control action with its metadata,
the header's elements in order, and each envelope's fields in wire order.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from klaw_wire import (
    CONTROL_ACTIONS,
    CONTROL_METADATA,
    Ack,
    ControlMessage,
    DataMessage,
    ErrorCode,
    Heartbeat,
    WireError,
    WireHeader,
)
from klaw_wire.errors import _CODE_OF_STRUCT

SPEC = (Path(__file__).resolve().parents[1] / "docs" / "user-guide" / "wire-spec.md").read_text(
    encoding="utf-8"
)


def _row(*cells: str) -> str:
    """The table row of the spec whose first cells are ``cells``."""
    start = "".join(f"| {cell} " for cell in cells) + "|"
    rows = [line for line in SPEC.splitlines() if line.startswith(start)]
    assert len(rows) == 1, f"expected one row {start} in wire-spec.md, got {rows}"
    return rows[0]


def _names(row: str) -> list[str]:
    return re.findall(r"`(\w+)`", row)


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_every_error_code_is_listed_with_the_keys_of_its_details(code: ErrorCode) -> None:
    row = _row(f"`{code.value}`")
    struct = {c: s for s, c in _CODE_OF_STRUCT.items()}.get(code)
    keys = [] if struct is None else [field.name for field in msgspec.structs.fields(struct)]
    assert set(keys) <= set(_names(row)), row
    if struct is None:
        assert row.rstrip(" |").endswith("nil"), row


@pytest.mark.parametrize("action", sorted(CONTROL_ACTIONS))
def test_every_control_action_is_listed_with_its_metadata(action: str) -> None:
    row = _row(f"`{action}`")
    layout = CONTROL_METADATA[action]
    if layout is None:
        assert row.rstrip(" |").endswith("nil"), row
    else:
        for field in msgspec.structs.fields(layout):
            assert f"`{field.name}`" in row, row


def test_the_header_table_lists_the_elements_in_order_with_their_defaults() -> None:
    for position, field in enumerate(msgspec.structs.fields(WireHeader)):
        row = _row(str(position), f"`{field.name}`")
        default = '`""`' if field.default == "" else str(int(field.default))
        assert f"| {default} |" in row, row


@pytest.mark.parametrize("cls", [DataMessage, ControlMessage, Heartbeat, Ack, WireError])
def test_each_envelope_row_lists_its_fields_in_wire_order(cls: type[msgspec.Struct]) -> None:
    row = _row(str(cls.__struct_config__.tag), f"`{cls.__name__}`")
    fields = [field.name for field in msgspec.structs.fields(cls)][1:]
    listed = [name for name in _names(row) if name in fields]
    assert listed == fields, row
