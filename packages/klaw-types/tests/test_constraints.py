"""Each constrained type accepts its bounds and rejects values just outside them."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from klaw_types import (
    CHANNEL_CAPACITY_MAX,
    CONCURRENCY_LIMIT_MAX,
    IDENTIFIER_PATTERN,
    NAMESPACE_PATTERN,
    PORT_MAX,
    PORT_MIN,
    TIMEOUT_SECONDS_MAX,
    ChannelCapacity,
    ConcurrencyLimit,
    Identifier,
    Namespace,
    NonNegativeInt,
    Port,
    PositiveInt,
    SampleRate,
    TimeoutSeconds,
)


def _holder(tp: Any) -> type[msgspec.Struct]:
    """A struct with one field ``field`` of type ``tp``, to see the error path."""
    return msgspec.defstruct("Holder", [("field", tp)])


def _accepts(tp: Any, value: object) -> bool:
    holder = _holder(tp)
    try:
        msgspec.convert({"field": value}, holder)
        msgspec.msgpack.decode(msgspec.msgpack.encode({"field": value}), type=holder)
    except msgspec.ValidationError:
        return False
    return True


CASES: list[tuple[str, Any, list[object], list[object]]] = [
    ("PositiveInt", PositiveInt, [1, 100, 1_000_000], [0, -1]),
    ("NonNegativeInt", NonNegativeInt, [0, 1, 2**40], [-1, -(2**40)]),
    ("ChannelCapacity", ChannelCapacity, [1, 500_000, 1_000_000], [0, 1_000_001]),
    ("TimeoutSeconds", TimeoutSeconds, [0.0, 30.0, 86400.0], [-1.0, 86401.0]),
    ("ConcurrencyLimit", ConcurrencyLimit, [1, 10_000], [0, 10_001]),
    (
        "Identifier",
        Identifier,
        ["foo", "foo_bar", "Foo-123", "_", "a" * 255],
        ["", "123foo", "foo bar", "-foo", "a" * 256, "foo.bar"],
    ),
    (
        "Namespace",
        Namespace,
        ["klaw", "my-namespace", "a", "a" * 63],
        ["", "MyNamespace", "123ns", "-ns", "a" * 64, "my_ns"],
    ),
    ("Port", Port, [1024, 8080, 65535], [1023, 65536, 0]),
    ("SampleRate", SampleRate, [0.0, 0.5, 1.0], [-0.01, 1.01]),
]


@pytest.mark.parametrize(("name", "tp", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_bounds_are_inclusive_and_just_outside_is_rejected(
    name: str, tp: Any, good: list[object], bad: list[object]
) -> None:
    for value in good:
        assert _accepts(tp, value), f"{name} should accept {value!r}"
    for value in bad:
        assert not _accepts(tp, value), f"{name} should reject {value!r}"


@pytest.mark.parametrize(
    ("tp", "value", "bound"),
    [
        (PositiveInt, 0, ">= 1"),  # msgspec states `gt=0` on ints as `>= 1`
        (NonNegativeInt, -1, ">= 0"),
        (ChannelCapacity, 0, ">= 1"),
        (ChannelCapacity, 1_000_001, "<= 1000000"),
        (TimeoutSeconds, -1.0, ">= 0.0"),
        (TimeoutSeconds, 86401.0, "<= 86400.0"),
        (ConcurrencyLimit, 10_001, "<= 10000"),
        (Port, 80, ">= 1024"),
        (SampleRate, 2.0, "<= 1.0"),
        (Identifier, "", "length >= 1"),
        (Identifier, "9lives", "matching regex"),
        (Namespace, "x" * 64, "length <= 63"),
        (Namespace, "Upper", "matching regex"),
    ],
)
def test_error_names_the_field_path_and_the_bound(tp: Any, value: object, bound: str) -> None:
    outer = msgspec.defstruct("Outer", [("inner", _holder(tp))])
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert({"inner": {"field": value}}, outer)
    message = str(info.value)
    assert "$.inner.field" in message
    assert bound in message


def test_wrong_base_type_is_rejected() -> None:
    assert not _accepts(PositiveInt, "12")
    assert not _accepts(Identifier, 12)
    assert not _accepts(ChannelCapacity, 1.5)


def test_integers_are_accepted_where_seconds_are_floats() -> None:
    holder = _holder(TimeoutSeconds)
    assert msgspec.convert({"field": 5}, holder) == holder(5.0)


# --- properties: every valid value passes, every invalid value fails -------------------

INT_RANGES: list[tuple[Any, int | None, int | None]] = [
    (PositiveInt, 1, None),
    (NonNegativeInt, 0, None),
    (ChannelCapacity, 1, CHANNEL_CAPACITY_MAX),
    (ConcurrencyLimit, 1, CONCURRENCY_LIMIT_MAX),
    (Port, PORT_MIN, PORT_MAX),
]
FLOAT_RANGES: list[tuple[Any, float, float]] = [
    (TimeoutSeconds, 0.0, TIMEOUT_SECONDS_MAX),
    (SampleRate, 0.0, 1.0),
]
# The oracle is written independently of the patterns the types use.
STR_RULES: list[tuple[Any, str, int]] = [
    (Identifier, r"[a-zA-Z_][a-zA-Z0-9_-]*", 255),
    (Namespace, r"[a-z][a-z0-9-]*", 63),
]


def _in_int_range(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


@pytest.mark.parametrize(("tp", "low", "high"), INT_RANGES)
@given(value=st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integer_constraint_holds_exactly_on_its_range(
    tp: Any, low: int | None, high: int | None, value: int
) -> None:
    assert _accepts(tp, value) == _in_int_range(value, low, high)


@pytest.mark.parametrize(("tp", "low", "high"), INT_RANGES)
@given(data=st.data())
def test_integer_constraint_accepts_every_value_inside(
    tp: Any, low: int | None, high: int | None, data: st.DataObject
) -> None:
    value = data.draw(st.integers(min_value=low, max_value=high if high is not None else 2**62))
    assert _accepts(tp, value)


@pytest.mark.parametrize(("tp", "low", "high"), FLOAT_RANGES)
@given(value=st.floats(allow_nan=False, allow_infinity=True))
def test_float_constraint_holds_exactly_on_its_range(
    tp: Any, low: float, high: float, value: float
) -> None:
    assert _accepts(tp, value) == (low <= value <= high)


@pytest.mark.parametrize(("tp", "low", "high"), FLOAT_RANGES)
@given(value=st.just(float("nan")))
def test_float_constraint_rejects_nan(tp: Any, low: float, high: float, value: float) -> None:
    assert not _accepts(tp, value)


@pytest.mark.parametrize(("tp", "pattern", "max_length"), STR_RULES)
@given(value=st.text(max_size=300))
def test_string_constraint_holds_exactly_on_its_rule(
    tp: Any, pattern: str, max_length: int, value: str
) -> None:
    expected = 1 <= len(value) <= max_length and re.fullmatch(pattern, value) is not None
    assert _accepts(tp, value) == expected


@pytest.mark.parametrize(("tp", "pattern", "max_length"), STR_RULES)
@given(data=st.data())
def test_string_constraint_accepts_every_matching_value(
    tp: Any, pattern: str, max_length: int, data: st.DataObject
) -> None:
    value = data.draw(st.from_regex(pattern, fullmatch=True).filter(lambda s: len(s) <= max_length))
    assert _accepts(tp, value)


@pytest.mark.parametrize("tp", [Identifier, Namespace])
@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "\t"])
def test_names_with_trailing_whitespace_are_rejected(tp: Any, suffix: str) -> None:
    assert not _accepts(tp, "name" + suffix)


@pytest.mark.parametrize(
    ("tp", "pattern", "max_length"),
    [(Identifier, IDENTIFIER_PATTERN, 255), (Namespace, NAMESPACE_PATTERN, 63)],
)
@given(value=st.text(max_size=80))
def test_published_pattern_is_the_one_enforced(
    tp: Any, pattern: str, max_length: int, value: str
) -> None:
    expected = 1 <= len(value) <= max_length and re.search(pattern, value) is not None
    assert _accepts(tp, value) == expected
