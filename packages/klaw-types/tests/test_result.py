"""Behaviour and laws of ``Result`` (``Ok`` / ``Err``)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from klaw_types import Err, Nothing, Ok, Result, Some, UnwrapError

values = st.one_of(st.integers(), st.text(max_size=10), st.none())
results: st.SearchStrategy[Result[object, object]] = st.one_of(
    st.builds(Ok, values), st.builds(Err, values)
)


def _describe(result: Result[int, str]) -> str:
    match result:
        case Ok(value):
            return f"ok {value}"
        case Err(error):
            return f"err {error}"


def test_variants_work_with_match() -> None:
    assert _describe(Ok(3)) == "ok 3"
    assert _describe(Err("bad")) == "err bad"


def test_predicates() -> None:
    assert Ok(1).is_ok()
    assert not Ok(1).is_err()
    assert Err("e").is_err()
    assert not Err("e").is_ok()


def test_ok_and_err_convert_to_options() -> None:
    assert Ok(1).ok() == Some(1)
    assert Ok(1).err() == Nothing()
    assert Err("e").ok() == Nothing()
    assert Err("e").err() == Some("e")


def test_unwrap_returns_the_value_of_ok() -> None:
    assert Ok(5).unwrap() == 5
    assert Ok(5).expect("needs a value") == 5
    assert Err("e").unwrap_err() == "e"


def test_unwrap_of_err_shows_what_it_found() -> None:
    with pytest.raises(UnwrapError, match=r"called `unwrap\(\)` on Err\(error='disk full'\)"):
        Err("disk full").unwrap()


def test_unwrap_err_of_ok_shows_what_it_found() -> None:
    with pytest.raises(UnwrapError, match=r"called `unwrap_err\(\)` on Ok\(value=7\)") as info:
        Ok(7).unwrap_err()
    assert info.value.found == Ok(7)
    assert info.value.method == "unwrap_err"


def test_expect_puts_the_callers_message_first() -> None:
    with pytest.raises(UnwrapError, match=r"^config must load: found Err\(error='nope'\)$") as info:
        Err("nope").expect("config must load")
    assert info.value.reason == "config must load"


def test_unwrapping_an_exception_chains_it() -> None:
    cause = ValueError("boom")
    with pytest.raises(UnwrapError) as info:
        Err(cause).unwrap()
    assert info.value.__cause__ is cause


def test_fallbacks() -> None:
    assert Ok(1).unwrap_or(0) == 1
    assert Err("e").unwrap_or(0) == 0
    assert Ok(1).unwrap_or_else(len) == 1
    assert Err("four").unwrap_or_else(len) == 4


def test_map_and_map_err_touch_only_their_variant() -> None:
    assert Ok(2).map(lambda v: v * 10) == Ok(20)
    assert Err("e").map(lambda v: v * 10) == Err("e")
    assert Err("e").map_err(str.upper) == Err("E")
    assert Ok(2).map_err(str.upper) == Ok(2)


def test_and_then_and_or_else_chain() -> None:
    def half(n: int) -> Result[int, str]:
        return Ok(n // 2) if n % 2 == 0 else Err(f"{n} is odd")

    assert Ok(8).and_then(half).and_then(half) == Ok(2)
    assert Ok(6).and_then(half).and_then(half) == Err("3 is odd")
    assert Err("early").and_then(half) == Err("early")
    assert Err("e").or_else(lambda e: Ok(len(e))) == Ok(1)
    assert Ok(1).or_else(lambda e: Ok(0)) == Ok(1)


def test_callbacks_are_not_called_on_the_other_variant() -> None:
    def fail(_: object) -> int:
        raise AssertionError("must not be called")

    Ok(1).unwrap_or_else(fail)
    Ok(1).map_err(fail)
    Ok(1).or_else(fail)
    Err(1).map(fail)
    Err(1).and_then(fail)


def test_variants_are_immutable_and_hashable() -> None:
    ok = Ok(1)
    with pytest.raises(AttributeError):
        ok.value = 2  # type: ignore[misc]
    assert hash(Ok(1)) == hash(Ok(1))
    ok_one: object = Ok(1)
    assert ok_one != Err(1)


def test_result_round_trips_through_msgspec() -> None:
    for result in (Ok(1), Err("bad")):
        encoded = msgspec.msgpack.encode(result)
        assert msgspec.msgpack.decode(encoded, type=Ok[int] | Err[str]) == result


@given(results)
def test_map_identity(result: Result[object, object]) -> None:
    assert result.map(lambda v: v) == result


@given(results)
def test_map_composition(result: Result[object, object]) -> None:
    def f(v: object) -> str:
        return repr(v)

    def g(v: str) -> int:
        return len(v)

    assert result.map(f).map(g) == result.map(lambda v: g(f(v)))


def _kleisli(tag: int) -> Callable[[object], Result[object, object]]:
    def step(v: object) -> Result[object, object]:
        return Ok((tag, v)) if hash(repr(v)) % 3 else Err((tag, v))

    return step


@given(results)
def test_and_then_associativity(result: Result[object, object]) -> None:
    f, g = _kleisli(1), _kleisli(2)
    assert result.and_then(f).and_then(g) == result.and_then(lambda v: f(v).and_then(g))


@given(values)
def test_and_then_left_identity(value: object) -> None:
    f = _kleisli(1)
    assert Ok(value).and_then(f) == f(value)


@given(results)
def test_and_then_right_identity(result: Result[object, object]) -> None:
    assert result.and_then(Ok) == result


@given(results)
def test_unwrap_or_agrees_with_is_ok(result: Result[object, object]) -> None:
    sentinel = object()
    got = result.unwrap_or(sentinel)
    assert (got is not sentinel) == result.is_ok()
