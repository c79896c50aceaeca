"""Static typing of ``Result`` and ``Option``, checked by mypy in CI.

Each ``assert_type`` is verified by mypy; each ``type: ignore[...]`` marks an assignment that
must stay a type error (mypy's ``warn_unused_ignores``, on under ``strict``, fails the check
if one of them becomes valid). The functions also run as tests, so the runtime values agree.
"""

from __future__ import annotations

from typing import assert_type

from klaw_types import Err, Nothing, Ok, Option, Result, Some


def test_result_methods_keep_their_types() -> None:
    result: Result[int, str] = Ok(1)
    assert_type(result.unwrap_or(0), int)
    assert_type(result.map(str), Ok[str] | Err[str])
    assert_type(result.map_err(len), Ok[int] | Err[int])
    assert_type(result.ok(), Some[int] | Nothing)
    assert_type(result.unwrap_or_else(len), int)
    assert result.map(str).unwrap() == "1"


def test_result_is_covariant() -> None:
    narrow: Result[bool, ValueError] = Ok(True)
    wide: Result[int, Exception] = narrow
    assert wide == Ok(True)


def test_result_is_not_contravariant() -> None:
    wide: Result[int, Exception] = Ok(1)
    narrow: Result[bool, ValueError] = wide  # type: ignore[assignment]
    assert narrow == Ok(1)


def test_match_narrows_result() -> None:
    result: Result[int, str] = Err("e")
    match result:
        case Ok(value):
            assert_type(value, int)
        case Err(error):
            assert_type(error, str)
            assert error == "e"


def test_option_methods_keep_their_types() -> None:
    option: Option[int] = Some(2)
    assert_type(option.unwrap_or(0), int)
    assert_type(option.map(str), Some[str] | Nothing)
    assert_type(option.ok_or("missing"), Ok[int] | Err[str])
    assert option.map(str) == Some("2")


def test_option_is_covariant() -> None:
    narrow: Option[bool] = Some(False)
    wide: Option[int] = narrow
    assert wide == Some(False)


def test_option_is_not_contravariant() -> None:
    wide: Option[int] = Some(3)
    narrow: Option[bool] = wide  # type: ignore[assignment]
    assert narrow == Some(3)
