"""Behaviour and laws of ``Option`` (``Some`` / ``Nothing``)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from klaw_types import Err, Nothing, Ok, Option, Some, UnwrapError

values = st.one_of(st.integers(), st.text(max_size=10), st.none())
options: st.SearchStrategy[Option[object]] = st.one_of(st.builds(Some, values), st.just(Nothing()))


def _describe(option: Option[int]) -> str:
    match option:
        case Some(value):
            return f"some {value}"
        case Nothing():
            return "nothing"


def test_variants_work_with_match() -> None:
    assert _describe(Some(1)) == "some 1"
    assert _describe(Nothing()) == "nothing"


def test_predicates() -> None:
    assert Some(1).is_some()
    assert not Some(1).is_none()
    assert Nothing().is_none()
    assert not Nothing().is_some()


def test_all_nothings_are_equal() -> None:
    assert Nothing() == Nothing()
    assert hash(Nothing()) == hash(Nothing())
    present: object = Some(None)
    assert present != Nothing()


def test_unwrap() -> None:
    assert Some(3).unwrap() == 3
    assert Some(3).expect("present") == 3
    with pytest.raises(UnwrapError, match=r"called `unwrap\(\)` on Nothing\(\)"):
        Nothing().unwrap()
    with pytest.raises(UnwrapError, match=r"^user 42 must exist: found Nothing\(\)$"):
        Nothing().expect("user 42 must exist")


def test_fallbacks() -> None:
    assert Some(1).unwrap_or(0) == 1
    assert Nothing().unwrap_or(0) == 0
    assert Some(1).unwrap_or_else(lambda: 0) == 1
    assert Nothing().unwrap_or_else(lambda: 9) == 9


def test_map_and_then_filter() -> None:
    assert Some(2).map(str) == Some("2")
    assert Nothing().map(str) == Nothing()
    assert Some(4).and_then(lambda v: Some(v + 1)) == Some(5)
    assert Some(4).and_then(lambda v: Nothing()) == Nothing()
    assert Nothing().and_then(Some) == Nothing()
    assert Some(4).filter(lambda v: v > 3) == Some(4)
    assert Some(2).filter(lambda v: v > 3) == Nothing()
    assert Nothing().filter(lambda v: True) == Nothing()


def test_ok_or_converts_to_result() -> None:
    assert Some(1).ok_or("missing") == Ok(1)
    assert Nothing().ok_or("missing") == Err("missing")


def test_option_round_trips_through_msgspec() -> None:
    for option in (Some(1), Nothing()):
        encoded = msgspec.json.encode(option)
        assert msgspec.json.decode(encoded, type=Some[int] | Nothing) == option


@given(options)
def test_map_identity(option: Option[object]) -> None:
    assert option.map(lambda v: v) == option


@given(options)
def test_map_composition(option: Option[object]) -> None:
    def f(v: object) -> str:
        return repr(v)

    def g(v: str) -> int:
        return len(v)

    assert option.map(f).map(g) == option.map(lambda v: g(f(v)))


def _kleisli(tag: int) -> Callable[[object], Option[object]]:
    def step(v: object) -> Option[object]:
        return Some((tag, v)) if hash(repr(v)) % 3 else Nothing()

    return step


@given(options)
def test_and_then_associativity(option: Option[object]) -> None:
    f, g = _kleisli(1), _kleisli(2)
    assert option.and_then(f).and_then(g) == option.and_then(lambda v: f(v).and_then(g))


@given(values)
def test_and_then_left_identity(value: object) -> None:
    f = _kleisli(1)
    assert Some(value).and_then(f) == f(value)


@given(options)
def test_and_then_right_identity(option: Option[object]) -> None:
    assert option.and_then(Some) == option


@given(options, st.booleans())
def test_filter_keeps_exactly_what_passes(option: Option[object], keep: bool) -> None:
    filtered = option.filter(lambda _: keep)
    assert filtered == (option if keep else Nothing())
