"""``KLAW_<SECTION>_<FIELD>`` environment variables: the table and the overrides.

Every field of the model has one variable, named after its section and field in upper
case. The table is generated from :class:`~klaw_config.KlawConfig` by
:func:`environment_variables`, so a new field gets its variable without anyone writing it
down; a test keeps the copy below in step with the generated table.

================================  ===========================  ===================
Variable                          Field                        Default
================================  ===========================  ===================
KLAW_RAY_NAMESPACE                ray.namespace                ``"klaw"``
KLAW_RAY_ADDRESS                  ray.address                  not set
KLAW_RAY_MAX_CONCURRENCY          ray.max_concurrency          ``64``
KLAW_CHANNELS_CAPACITY            channels.capacity            ``1024``
KLAW_CHANNELS_TIMEOUT             channels.timeout             ``30.0``
KLAW_CHANNELS_DELIVERY            channels.delivery            ``"at_least_once"``
KLAW_CHANNELS_LEASE_SECONDS       channels.lease_seconds       ``300.0``
KLAW_CHANNELS_DURABLE             channels.durable             ``false``
KLAW_CHANNELS_STORAGE_DIR         channels.storage_dir         not set
KLAW_CHANNELS_COALESCE            channels.coalesce            ``true``
KLAW_CHANNELS_PREFETCH            channels.prefetch            ``1024``
KLAW_EXECUTOR_MAX_WORKERS         executor.max_workers         ``8``
KLAW_EXECUTOR_TASK_TIMEOUT        executor.task_timeout        ``300.0``
KLAW_TELEMETRY_ENABLED            telemetry.enabled            ``true``
KLAW_TELEMETRY_METRICS_PORT       telemetry.metrics_port       ``9464``
KLAW_TELEMETRY_TRACE_SAMPLE_RATE  telemetry.trace_sample_rate  ``0.1``
================================  ===========================  ===================

One more variable, ``KLAW_CONFIG``, names the configuration file itself; see
:func:`~klaw_config.load_config`.

A misspelt variable is an error, not a setting silently lost. A ``KLAW_*`` variable that
is neither in the table nor ``KLAW_CONFIG`` is reported when it looks like one of them,
that is when, compared in upper case, it

- starts with a section's name or a near spelling of it, or with ``CONFIG`` or a near
  spelling of it, as its first word after ``KLAW_``: ``KLAW_CHANNELS_CAPACITYX``,
  ``KLAW_CHANNELS__CAPACITY``, ``KLAW_CHANELS_CAPACITY``, ``KLAW_RAY_ADRESS``,
  ``KLAW_CONFIG_FILE``;
- is ``KLAW_`` and a field's name without its section: ``KLAW_CAPACITY``;
- or is a near spelling of a variable klaw reads: ``KLAW_CONFG``, ``KLAW_NAMESPACE``,
  ``klaw_ray_namespace``.

A near spelling is one with a :class:`difflib.SequenceMatcher` similarity of at least
0.8 (a letter left out, doubled or swapped). The error names the closest variable klaw
reads ("did you mean KLAW_CHANNELS_CAPACITY?"). Other ``KLAW_*`` variables, such as
``KLAW_REQUIRE_INTEROP`` or ``KLAW_HOME``, are not klaw's configuration and are left
alone; names starting with ``KLAW_<SECTION>_`` are the configuration's alone.

How a value is read:

- It is used exactly as given: no whitespace is stripped.
- Numbers are converted as TOML strings are (msgspec's lax mode): ``"128"``, ``"1e3"``,
  ``"2.5"``. The field's bounds apply, so ``KLAW_CHANNELS_CAPACITY=0`` is an error.
- Booleans accept ``true``/``false``, ``1``/``0`` and ``yes``/``no``, in any case.
- A field with a fixed set of values takes one of them exactly as the table spells it:
  ``KLAW_CHANNELS_DELIVERY=at_most_once``, not ``AT_MOST_ONCE``.
- An empty value sets an optional field (``KLAW_RAY_ADDRESS``,
  ``KLAW_CHANNELS_STORAGE_DIR``) to "not set"; for any other field an empty value is
  invalid.

An invalid value raises :class:`~klaw_config.ConfigError` naming the variable, the field
and msgspec's explanation, with the value as it was given.
"""

from __future__ import annotations

import functools
import os
import typing
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import msgspec

from klaw_config import _spelling
from klaw_config.errors import ConfigError
from klaw_config.model import KlawConfig

__all__ = [
    "CONFIG_FILE_VARIABLE",
    "ENV_PREFIX",
    "EnvVar",
    "apply_environment",
    "environment_variables",
]

ENV_PREFIX: Final = "KLAW_"
"""Prefix of every klaw environment variable."""

CONFIG_FILE_VARIABLE: Final = "KLAW_CONFIG"
"""Environment variable naming the configuration file when no path is passed."""

_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})


class EnvVar(msgspec.Struct, frozen=True):
    """One environment variable and the configuration field it overrides.

    Attributes:
        name: The variable, e.g. ``"KLAW_CHANNELS_CAPACITY"``.
        section: The section the field is in, e.g. ``"channels"``.
        field: The field's name in its section, e.g. ``"capacity"``.
        value_type: What the field accepts, in words, e.g. ``"integer, 1 to 1000000"``.
        default: The field's default value (``None``: not set).
        description: What the field does, from the model's ``msgspec.Meta``.
    """

    name: str
    """The variable, e.g. ``"KLAW_CHANNELS_CAPACITY"``."""
    section: str
    """The section the field is in, e.g. ``"channels"``."""
    field: str
    """The field's name in its section, e.g. ``"capacity"``."""
    value_type: str
    """What the field accepts, in words, e.g. ``"integer, 1 to 1000000"``."""
    default: bool | int | float | str | None
    """The field's default value (``None``: not set)."""
    description: str
    """What the field does, from the model's ``msgspec.Meta``."""

    @property
    def path(self) -> str:
        """The dotted field path, e.g. ``"channels.capacity"``."""
        return f"{self.section}.{self.field}"


class _Binding(NamedTuple):
    """An :class:`EnvVar` with what converting its value needs."""

    var: EnvVar
    hint: Any
    is_bool: bool
    optional: bool


def environment_variables() -> tuple[EnvVar, ...]:
    """Return the table of environment variables, generated from the model.

    The order is the model's: sections as :class:`~klaw_config.KlawConfig` declares them,
    fields as each section declares them. The table is computed once and cached.

    Returns:
        One :class:`EnvVar` per configuration field.
    """
    return tuple(binding.var for binding in _bindings())


def apply_environment(config: KlawConfig, environ: Mapping[str, str] | None = None) -> KlawConfig:
    """Override fields of ``config`` from ``KLAW_<SECTION>_<FIELD>`` variables.

    Each variable that is present is converted with its field's constraints (see the
    module documentation for how values are read) and the fields are replaced with
    :func:`msgspec.structs.replace`; ``config`` itself is not changed. Variables that
    are absent leave their field alone. A ``KLAW_*`` variable that names no field is an
    error when it looks like a misspelt configuration variable (the module
    documentation gives the rule) and is ignored otherwise; ``KLAW_CONFIG`` is ignored
    here, as it names the file, which :func:`~klaw_config.load_config` reads.

    Args:
        config: The configuration to start from.
        environ: The variables to read; ``os.environ`` when ``None``.

    Returns:
        ``config`` with the overrides applied (``config`` itself when there are none).

    Raises:
        ConfigError: A variable's value is invalid for its field (the error's ``source``
            names the variable and its ``path`` the field), or a variable is a misspelt
            one (``path`` is ``None`` and the reason names the closest real variable).
            Of several, the first is reported: invalid values in table order, then
            misspelt variables in name order.
    """
    changes, errors = _read(os.environ if environ is None else environ)
    if errors:
        raise errors[0]
    if not changes:
        return config
    sections = {
        section: msgspec.structs.replace(getattr(config, section), **fields)
        for section, fields in changes.items()
    }
    return msgspec.structs.replace(config, **sections)


def _environment_problems(environ: Mapping[str, str]) -> list[ConfigError]:
    """Every problem :func:`apply_environment` would report, in its order."""
    return _read(environ)[1]


def _read(environ: Mapping[str, str]) -> tuple[dict[str, dict[str, object]], list[ConfigError]]:
    """The fields the variables set, by section, and every problem with the variables."""
    changes: dict[str, dict[str, object]] = {}
    errors: list[ConfigError] = []
    for binding in _bindings():
        text = environ.get(binding.var.name)
        if text is None:
            continue
        try:
            value = _parse(binding, text)
        except ConfigError as exc:
            errors.append(exc)
        else:
            changes.setdefault(binding.var.section, {})[binding.var.field] = value
    for name in sorted(environ):
        error = _misspelt(name)
        if error is not None:
            errors.append(error)
    return changes, errors


def _misspelt(name: str) -> ConfigError | None:
    """The error for ``name`` when it looks like a variable klaw reads but is not one."""
    upper = name.upper()
    real = _real_names()
    if not upper.startswith(ENV_PREFIX) or name in real:
        return None
    rest = upper.removeprefix(ENV_PREFIX)
    first_word = rest.split("_", 1)[0]
    config_word = CONFIG_FILE_VARIABLE.removeprefix(ENV_PREFIX)
    looks_like_ours = (
        any(_spelling.is_near(first_word, word) for word in (*_sections(), config_word))
        or rest in _field_words()
        or any(_spelling.is_near(upper, variable) for variable in real)
    )
    if not looks_like_ours:
        return None
    suggestion = _spelling.closest(upper, real)
    return ConfigError(
        f"environment variable {name}",
        f"unknown variable; did you mean {suggestion}?",
    )


@functools.cache
def _real_names() -> tuple[str, ...]:
    """Every variable klaw reads: the table's, then ``KLAW_CONFIG``."""
    return (*(binding.var.name for binding in _bindings()), CONFIG_FILE_VARIABLE)


@functools.cache
def _sections() -> tuple[str, ...]:
    return tuple(dict.fromkeys(binding.var.section.upper() for binding in _bindings()))


@functools.cache
def _field_words() -> frozenset[str]:
    return frozenset(binding.var.field.upper() for binding in _bindings())


def _parse(binding: _Binding, text: str) -> object:
    var = binding.var
    source = f"environment variable {var.name}"
    if binding.is_bool:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        reason = f"Expected true, false, 1, 0, yes or no, in any case (value {text!r})"
        raise ConfigError(source, reason, var.path)
    if binding.optional and not text:
        return None
    try:
        return msgspec.convert(text, binding.hint, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(source, f"{exc} (value {text!r})", var.path) from exc


@functools.cache
def _bindings() -> tuple[_Binding, ...]:
    root = msgspec.inspect.type_info(KlawConfig)
    assert isinstance(root, msgspec.inspect.StructType)
    bindings: list[_Binding] = []
    for section in root.fields:
        section_info = section.type
        assert isinstance(section_info, msgspec.inspect.StructType)
        hints = typing.get_type_hints(section_info.cls, include_extras=True)
        for field in section_info.fields:
            info, description = _unwrap(field.type)
            var = EnvVar(
                name=f"{ENV_PREFIX}{section.name.upper()}_{field.name.upper()}",
                section=section.name,
                field=field.name,
                value_type=_describe(info),
                default=field.default,
                description=description,
            )
            bindings.append(
                _Binding(
                    var=var,
                    hint=hints[field.name],
                    is_bool=isinstance(info, msgspec.inspect.BoolType),
                    optional=_is_optional(info),
                )
            )
    names = [binding.var.name for binding in bindings]
    if len(set(names)) != len(names):  # pragma: no cover - guards future fields
        raise RuntimeError(f"two configuration fields share an environment variable: {names}")
    return tuple(bindings)


def _unwrap(info: msgspec.inspect.Type) -> tuple[msgspec.inspect.Type, str]:
    """Strip ``Metadata`` wrappers, keeping the outermost (most specific) description."""
    description = ""
    while isinstance(info, msgspec.inspect.Metadata):
        schema = info.extra_json_schema or {}
        description = description or str(schema.get("description", ""))
        info = info.type
    return info, description


def _is_optional(info: msgspec.inspect.Type) -> bool:
    return isinstance(info, msgspec.inspect.UnionType) and any(
        isinstance(member, msgspec.inspect.NoneType) for member in info.types
    )


def _describe(info: msgspec.inspect.Type) -> str:
    """Say in words what values a field of this type accepts."""
    info, _ = _unwrap(info)
    if isinstance(info, msgspec.inspect.BoolType):
        return "boolean"
    if isinstance(info, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        kind = "integer" if isinstance(info, msgspec.inspect.IntType) else "number"
        if info.ge is not None and info.le is not None:
            return f"{kind}, {info.ge} to {info.le}"
        bounds = [
            f"{op} {value}"
            for op, value in ((">", info.gt), (">=", info.ge), ("<", info.lt), ("<=", info.le))
            if value is not None
        ]
        return ", ".join([kind, *bounds])
    if isinstance(info, msgspec.inspect.StrType):
        return ", ".join(["string", *_string_bounds(info)])
    if isinstance(info, msgspec.inspect.LiteralType):
        return "one of " + ", ".join(repr(value) for value in info.values)
    if isinstance(info, msgspec.inspect.UnionType):
        members = [m for m in info.types if not isinstance(m, msgspec.inspect.NoneType)]
        described = " or ".join(_describe(member) for member in members)
        return f"{described}; or not set" if _is_optional(info) else described
    raise TypeError(f"klaw_config cannot describe a field of type {info!r}")


def _string_bounds(info: msgspec.inspect.StrType) -> list[str]:
    parts: list[str] = []
    low, high = info.min_length, info.max_length
    if low is not None and high is not None:
        parts.append(f"{low} to {high} characters")
    elif low is not None:
        parts.append(f"at least {low} character{'s' if low != 1 else ''}")
    elif high is not None:
        parts.append(f"at most {high} characters")
    if info.pattern is not None:
        parts.append(f"matching {info.pattern}")
    return parts
