"""The value rules of envelope fields, derived from their annotations, for ``build`` to check.

msgspec checks every field when it decodes, but not when a struct is constructed. So that
``build`` never makes a message a decoder would reject, it checks each value against the
same annotation the decoder uses: an ``int`` within the annotation's bounds (by default
the MessagePack range, ``-2**63`` to ``2**64 - 1``), a ``str``, one of a ``Literal``'s
values, a member of an enum, and a ``msgspec.Raw`` (in any field) holding exactly one
complete MessagePack value. Other annotations (a payload's type variable) are not checked:
the payload's encoding is the payload type's business.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import msgspec
import msgspec.inspect as mi

from klaw_wire._exceptions import InvalidMessageError

__all__ = [
    "INT64_MIN",
    "UINT64_MAX",
    "check_fields",
    "check_layout",
    "layout_accepts_nil",
    "raw_problem",
]

UINT64_MAX: Final = 2**64 - 1
"""The largest integer MessagePack can hold."""
INT64_MIN: Final = -(2**63)
"""The smallest integer MessagePack can hold."""

_Check: TypeAlias = Callable[[Any], str | None]
"""Returns what is wrong with a value, or ``None``."""

_ONE_VALUE: Final = msgspec.msgpack.Decoder(msgspec.Raw)
_NIL: Final = b"\xc0"
_RULES: dict[type[Any], tuple[tuple[str, _Check], ...]] = {}
_LAYOUTS: dict[type[Any], msgspec.msgpack.Decoder[Any]] = {}
_LOCK: Final = threading.Lock()


def _bound(value: int) -> str:
    return {UINT64_MAX: "2**64 - 1", INT64_MIN: "-2**63"}.get(value, str(value))


def raw_problem(value: msgspec.Raw) -> str | None:
    """Say why ``value`` is not exactly one complete MessagePack value, or return ``None``."""
    if not value:
        return "must hold exactly one MessagePack value, got none (use klaw_wire.NIL)"
    try:
        _ONE_VALUE.decode(value)
    except msgspec.DecodeError as exc:
        return f"must hold exactly one MessagePack value: {exc}"
    return None


def _int_check(info: mi.IntType) -> _Check:
    low = INT64_MIN if info.ge is None else info.ge
    if info.gt is not None:
        low = info.gt + 1
    high = UINT64_MAX if info.le is None else info.le
    if info.lt is not None:
        high = info.lt - 1
    shown = f"an int between {_bound(low)} and {_bound(high)}"

    def check(value: Any) -> str | None:
        if type(value) is not int:  # bool is an int subclass, and encodes as true/false
            return f"must be {shown}, got {type(value).__name__}"
        if not low <= value <= high:
            return f"must be {shown}, got {value}"
        return None

    return check


def _literal_check(info: mi.LiteralType) -> _Check:
    allowed = info.values
    shown = ", ".join(map(repr, allowed))

    def check(value: Any) -> str | None:
        if any(type(value) is type(choice) and value == choice for choice in allowed):
            return None
        return f"must be one of {shown}, got {value!r}"

    return check


def _enum_check(info: mi.EnumType) -> _Check:
    cls = info.cls

    def check(value: Any) -> str | None:
        return None if isinstance(value, cls) else f"must be a {cls.__name__}, got {value!r}"

    return check


def _str_check(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a str, got {type(value).__name__}"


def _raw_check(value: Any) -> str | None:
    if not isinstance(value, msgspec.Raw):
        return f"must be a msgspec.Raw, got {type(value).__name__}"
    return raw_problem(value)


def _any_check(value: Any) -> str | None:
    return raw_problem(value) if isinstance(value, msgspec.Raw) else None


_FACTORIES: Final[dict[type[Any], Callable[[Any], _Check]]] = {
    mi.IntType: _int_check,
    mi.LiteralType: _literal_check,
    mi.EnumType: _enum_check,
    mi.StrType: lambda _: _str_check,
    mi.RawType: lambda _: _raw_check,
    mi.AnyType: lambda _: _any_check,
}
"""The check of each kind of annotation; the others are not checked."""


def _check_of(info: mi.Type) -> _Check | None:
    while isinstance(info, mi.Metadata):
        info = info.type
    factory = _FACTORIES.get(type(info))
    return None if factory is None else factory(info)


def _rules_of(cls: type[Any]) -> tuple[tuple[str, _Check], ...]:
    rules = _RULES.get(cls)
    if rules is None:
        with _LOCK:
            info = mi.type_info(cls)
            if not isinstance(info, mi.StructType):
                raise TypeError(f"{cls.__name__} is not a msgspec Struct")
            rules = tuple(
                (field.name, check)
                for field in info.fields
                if (check := _check_of(field.type)) is not None
            )
            _RULES[cls] = rules
    return rules


def check_fields(message: msgspec.Struct, prefix: str) -> None:
    """Check every field of ``message`` (not nested structs) against its annotation.

    Args:
        message: A struct instance.
        prefix: How to name its fields in the error, e.g. ``"Ack"`` or ``"Ack.header"``.

    Raises:
        InvalidMessageError: The first field whose value a decoder would reject.
    """
    for name, check in _rules_of(type(message)):
        problem = check(getattr(message, name))
        if problem is not None:
            raise InvalidMessageError(field=f"{prefix}.{name}", reason=problem)


def layout_accepts_nil(layout: type[Any]) -> bool:
    """Whether ``nil`` may stand for ``layout``: when every one of its fields has a default."""
    return all(not field.required for field in msgspec.structs.fields(layout))


def check_layout(value: msgspec.Raw, layout: type[Any] | None, field: str) -> None:
    """Check that ``value`` is ``nil`` or an encoding of ``layout`` (``None``: only nil).

    ``nil`` stands for a layout all of whose fields have defaults.

    Raises:
        InvalidMessageError: ``value`` is neither.
    """
    if bytes(value) == _NIL:
        if layout is None or layout_accepts_nil(layout):
            return
        raise InvalidMessageError(field=field, reason=f"must be a {layout.__name__} map, got nil")
    if layout is None:
        raise InvalidMessageError(field=field, reason="must be nil")
    decoder = _LAYOUTS.get(layout)
    if decoder is None:
        decoder = _LAYOUTS.setdefault(layout, msgspec.msgpack.Decoder(layout))
    try:
        decoder.decode(value)
    except (msgspec.DecodeError, RecursionError) as exc:
        reason = f"must be nil or a {layout.__name__} map: {exc}"
        raise InvalidMessageError(field=field, reason=reason) from exc
