"""The text of a configuration file, decoded into the model, with every problem found.

:func:`decode` is the fast path: one typed ``msgspec.toml.decode`` of the whole file.
msgspec stops at the first invalid value, so :func:`problems` validates the decoded
document one key at a time to find them all; :func:`decode` uses it, when the file is
invalid, so that the error it raises is the first of those :func:`problems` lists.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from klaw_config import _spelling
from klaw_config.errors import ConfigError
from klaw_config.model import KlawConfig

# msgspec reports a validation error as "<reason> - at `$.<path>`" (no suffix at the root).
_LOCATED: Final = re.compile(r"(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.DOTALL)
_UNKNOWN_FIELD: Final = re.compile(r"Object contains unknown field `(?P<name>.*)`", re.DOTALL)


def decode(text: str, file: str) -> KlawConfig:
    """Decode the text of ``file`` into the model (strings convert to numbers).

    Raises:
        ConfigError: The text is not valid TOML, or it is not a valid configuration:
            the first of the :func:`problems` of the file.
    """
    try:
        return msgspec.toml.decode(text, type=KlawConfig, strict=False)
    except msgspec.ValidationError as exc:
        first = next(iter(problems(text, file)), None) or _caused(validation_error(file, exc), exc)
        raise first from first.__cause__
    except msgspec.DecodeError as exc:
        raise _invalid_toml(file, exc) from exc
    except RecursionError as exc:  # tomllib recurses into nested arrays and tables
        raise _too_deep(file) from exc


def problems(text: str, file: str) -> list[ConfigError]:
    """Every problem of the text of ``file``, in the order of the file; ``[]`` if none.

    Invalid TOML is one problem, as nothing after the first syntax error can be read.
    Otherwise every unknown section, every section that is not a table, every unknown
    key and every invalid value is one, each :class:`ConfigError` chaining msgspec's
    error as ``__cause__``.
    """
    try:
        document: dict[str, Any] = msgspec.toml.decode(text)
    except msgspec.DecodeError as exc:
        return [_caused(_invalid_toml(file, exc), exc)]
    except RecursionError as exc:
        return [_caused(_too_deep(file), exc)]
    sections = _field_names("")
    found: list[ConfigError] = []
    for section, table in document.items():
        pieces = (
            [{section: {key: value}} for key, value in table.items()]
            if isinstance(table, dict) and section in sections
            else [{section: table}]
        )
        for piece in pieces:
            error = _check(piece, file)
            if error is not None:
                found.append(error)
    if not found:  # each key is valid alone; a rule across keys would show up here
        whole = _check(document, file)
        found += [] if whole is None else [whole]
    return found


def validation_error(source: str, exc: msgspec.ValidationError) -> ConfigError:
    """Turn msgspec's message into a ConfigError with a dotted field path.

    An unknown key or section names the known ones, after the one it is probably a
    misspelling of when there is such a one (see :mod:`klaw_config._spelling`).
    """
    located = _LOCATED.fullmatch(str(exc))
    assert located is not None  # the pattern matches any text
    reason = located["reason"]
    parent = (located["path"] or "").lstrip(".")
    unknown = _UNKNOWN_FIELD.fullmatch(reason)
    if unknown is None:
        return ConfigError(source, reason, parent or None)
    name = unknown["name"]
    names = _field_names(parent)
    near = _spelling.near_match(name, names)
    hint = "" if near is None else f"did you mean {near}? "
    if parent:
        reason = f"unknown key in [{parent}]; {hint}known keys: {', '.join(names)}"
        return ConfigError(source, reason, f"{parent}.{name}")
    return ConfigError(source, f"unknown section; {hint}known sections: {', '.join(names)}", name)


def _check(document: dict[str, Any], file: str) -> ConfigError | None:
    try:
        msgspec.convert(document, KlawConfig, strict=False)
    except msgspec.ValidationError as exc:
        return _caused(validation_error(file, exc), exc)
    return None


def _field_names(parent: str) -> list[str]:
    """The field names of the struct at dotted path ``parent`` ("" for the root)."""
    info: msgspec.inspect.Type = msgspec.inspect.type_info(KlawConfig)
    for part in filter(None, parent.split(".")):
        assert isinstance(info, msgspec.inspect.StructType)
        info = next(field.type for field in info.fields if field.name == part)
    assert isinstance(info, msgspec.inspect.StructType)
    return [field.name for field in info.fields]


def _invalid_toml(file: str, exc: msgspec.DecodeError) -> ConfigError:
    return ConfigError(file, f"invalid TOML: {exc}")


def _too_deep(file: str) -> ConfigError:
    return ConfigError(file, "invalid TOML: values are nested too deeply")


def _caused(error: ConfigError, cause: BaseException) -> ConfigError:
    """``error`` with ``cause`` as its ``__cause__``, as ``raise error from cause`` sets it."""
    error.__cause__ = cause
    return error
