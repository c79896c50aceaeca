"""Hypothesis strategies for klaw-config, derived from the model's constraints.

The strategies read each field's type and bounds with ``msgspec.inspect``, so a field
added to the model is covered without editing this module; a field of a kind this module
does not know fails loudly (``TypeError``) instead of being skipped.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from hypothesis import strategies as st

from klaw_config import EnvVar, KlawConfig, environment_variables

__all__ = [
    "configs",
    "env_text",
    "field_type",
    "invalid_values",
    "numeric_fields",
    "valid_values",
]

# Text TOML can carry and UTF-8 can encode: no lone surrogates.
_TEXT = st.characters(codec="utf-8")


def field_type(var: EnvVar) -> msgspec.inspect.Type:
    """The ``msgspec.inspect`` type of the field ``var`` sets, without metadata."""
    root = msgspec.inspect.type_info(KlawConfig)
    assert isinstance(root, msgspec.inspect.StructType)
    section = next(f.type for f in root.fields if f.name == var.section)
    assert isinstance(section, msgspec.inspect.StructType)
    info = next(f.type for f in section.fields if f.name == var.field)
    while isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    return info


def valid_values(info: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    """Values that satisfy the constraints of ``info``."""
    if isinstance(info, msgspec.inspect.Metadata):
        return valid_values(info.type)
    if isinstance(info, msgspec.inspect.UnionType):
        return st.one_of(*(valid_values(member) for member in info.types))
    return _scalars(info)


def _scalars(info: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    if isinstance(info, msgspec.inspect.BoolType):
        return st.booleans()
    if isinstance(info, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        return _numbers(info)
    if isinstance(info, msgspec.inspect.StrType):
        return _strings(info)
    if isinstance(info, msgspec.inspect.LiteralType):
        return st.sampled_from(list(info.values))
    if isinstance(info, msgspec.inspect.NoneType):
        return st.none()
    raise TypeError(f"no strategy for {info!r}: teach config_strategies this type")


def _numbers(
    info: msgspec.inspect.IntType | msgspec.inspect.FloatType,
) -> st.SearchStrategy[Any]:
    if isinstance(info, msgspec.inspect.IntType):
        low = info.ge if info.gt is None else info.gt + 1
        high = info.le if info.lt is None else info.lt - 1
        return st.integers(min_value=low, max_value=high)
    return st.floats(
        min_value=info.ge if info.gt is None else info.gt,
        max_value=info.le if info.lt is None else info.lt,
        exclude_min=info.gt is not None,
        exclude_max=info.lt is not None,
        allow_nan=False,
        allow_infinity=False,
    )


def _strings(info: msgspec.inspect.StrType) -> st.SearchStrategy[str]:
    low = info.min_length or 0
    high = info.max_length

    def fits(text: str) -> bool:
        return len(text) >= low and (high is None or len(text) <= high)

    if info.pattern is None:
        return st.text(_TEXT, min_size=low, max_size=high)
    return st.from_regex(info.pattern, fullmatch=True).filter(fits)


def invalid_values(info: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    """Values of the right kind that break the constraints of ``info``.

    Numbers outside their bounds (and NaN and the infinities for a bounded float), and
    strings of the wrong length or not matching the pattern.
    """
    if isinstance(info, msgspec.inspect.IntType):
        outside: list[st.SearchStrategy[int]] = []
        if info.ge is not None:
            outside.append(st.integers(max_value=info.ge - 1))
        if info.le is not None:
            outside.append(st.integers(min_value=info.le + 1))
        return st.one_of(*outside)
    if isinstance(info, msgspec.inspect.FloatType):
        low, high = info.ge, info.le
        assert low is not None
        assert high is not None
        return st.one_of(
            st.floats(max_value=low), st.floats(min_value=high), st.just(float("nan"))
        ).filter(lambda value: not low <= value <= high)
    if isinstance(info, msgspec.inspect.StrType):
        pattern = info.pattern

        def breaks(text: str) -> bool:
            too_short = info.min_length is not None and len(text) < info.min_length
            too_long = info.max_length is not None and len(text) > info.max_length
            mismatch = pattern is not None and re.search(pattern, text) is None
            return too_short or too_long or mismatch

        return st.text(_TEXT, max_size=80).filter(breaks)
    if isinstance(info, msgspec.inspect.LiteralType):
        allowed = set(info.values)
        return st.text(_TEXT, max_size=40).filter(lambda text: text not in allowed)
    raise TypeError(f"no invalid values for {info!r}")


def numeric_fields() -> list[EnvVar]:
    """The fields whose type is a bounded number."""
    return [
        var
        for var in environment_variables()
        if isinstance(field_type(var), msgspec.inspect.IntType | msgspec.inspect.FloatType)
    ]


def env_text(value: object) -> st.SearchStrategy[str]:
    """The ways an environment variable can spell ``value``."""
    if value is None:
        return st.just("")
    if isinstance(value, bool):
        words = ["true", "1", "yes"] if value else ["false", "0", "no"]
        return st.sampled_from(words).flatmap(
            lambda word: st.sampled_from([word, word.upper(), word.capitalize()])
        )
    if isinstance(value, float):
        return st.just(repr(value))
    return st.just(str(value))


def _section(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    fields = {f.name: st.just(f.default) | valid_values(f.type) for f in info.fields}
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values))


def configs() -> st.SearchStrategy[KlawConfig]:
    """Valid configurations: each field at its default or at any valid value."""
    root = msgspec.inspect.type_info(KlawConfig)
    assert isinstance(root, msgspec.inspect.StructType)
    sections: dict[str, st.SearchStrategy[Any]] = {}
    for section in root.fields:
        assert isinstance(section.type, msgspec.inspect.StructType)
        sections[section.name] = _section(section.type.cls)
    return st.fixed_dictionaries(sections).map(lambda values: KlawConfig(**values))
