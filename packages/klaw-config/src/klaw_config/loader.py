"""Loading and saving the configuration.

A configuration is assembled in three layers, each overriding the one before:

1. the defaults of :class:`~klaw_config.KlawConfig`;
2. the TOML file: the ``path`` argument, else the file named by the ``KLAW_CONFIG``
   environment variable (an empty ``KLAW_CONFIG`` counts as unset). A file that does not
   exist gives the defaults; sections and keys it leaves out keep theirs;
3. ``KLAW_<SECTION>_<FIELD>`` environment variables (see :mod:`klaw_config.env`).

The file is decoded with ``msgspec.toml.decode(..., strict=False)``: this is the one
boundary where text becomes configuration, so strings convert to numbers
(``capacity = "128"`` is ``128``) while every constraint still applies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Final

import msgspec

from klaw_config import _files
from klaw_config.env import apply_environment, environment_variables
from klaw_config.errors import ConfigError
from klaw_config.model import KlawConfig

__all__ = [
    "CONFIG_FILE_VARIABLE",
    "ConfigSources",
    "load_config",
    "load_config_with_sources",
    "save_config",
]

CONFIG_FILE_VARIABLE: Final = "KLAW_CONFIG"
"""Environment variable naming the configuration file when no path is passed."""


_SAVED_HEADER: Final = (
    "# klaw configuration. Keys left out keep their defaults;\n"
    "# `python -m klaw_config init FILE` writes a starter file that lists them all.\n"
)

# msgspec reports a validation error as "<reason> - at `$.<path>`" (no suffix at the root).
_LOCATED = re.compile(r"(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.DOTALL)
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<name>.*)`", re.DOTALL)


class ConfigSources(msgspec.Struct, frozen=True):
    """Where each value of a loaded configuration came from.

    Returned by :func:`load_config_with_sources`; ``python -m klaw_config show`` prints
    it next to the values.

    Attributes:
        file: The configuration file consulted (the ``path`` argument, else
            ``KLAW_CONFIG``), or ``None`` when there was neither.
        file_found: Whether ``file`` existed. A missing file contributes nothing.
        from_file: Dotted paths of the fields the file sets.
        from_environment: Dotted paths of the fields set by an environment variable,
            each mapped to the variable's name.
    """

    file: str | None
    """The configuration file consulted, or ``None`` when there was none."""
    file_found: bool
    """Whether ``file`` existed. A missing file contributes nothing."""
    from_file: frozenset[str]
    """Dotted paths of the fields the file sets, e.g. ``"channels.capacity"``."""
    from_environment: dict[str, str]
    """Dotted paths of the fields set by environment variables -> the variable names."""

    def origin(self, path: str) -> str:
        """Say where the value of one field came from.

        An environment variable wins over the file, and the file over the default.

        Args:
            path: A dotted field path, e.g. ``"channels.capacity"``.

        Returns:
            ``"environment variable NAME"``, ``"file"`` or ``"default"``.
        """
        if path in self.from_environment:
            return f"environment variable {self.from_environment[path]}"
        if path in self.from_file:
            return "file"
        return "default"


def load_config(path: str | os.PathLike[str] | None = None) -> KlawConfig:
    """Load the configuration: defaults, then a TOML file, then environment variables.

    Reads ``os.environ`` and the file but changes nothing, so concurrent calls are safe;
    a file being replaced by :func:`save_config` meanwhile is read whole, old or new.

    Args:
        path: The TOML file to read. ``None`` reads the file named by ``KLAW_CONFIG``,
            or no file when that is unset or empty. A file that does not exist gives the
            defaults (environment variables still apply).

    Returns:
        The validated configuration.

    Raises:
        ConfigError: For every failure, and nothing else: the file cannot be read or is
            not UTF-8, it is not valid TOML, it has an unknown section or key, a value
            has the wrong type or is out of range, or an environment variable's value is
            invalid. The message names the file or variable and the field; the cause
            (``OSError``, ``msgspec.ValidationError``, ...) is chained.
    """
    return _load(path, os.environ, track=False)[0]


def load_config_with_sources(
    path: str | os.PathLike[str] | None = None,
) -> tuple[KlawConfig, ConfigSources]:
    """Load the configuration as :func:`load_config` does, and say where each value came from.

    The file, when there is one, is parsed a second time to learn which keys it sets,
    so prefer :func:`load_config` where the sources are not needed.

    Args:
        path: As for :func:`load_config`.

    Returns:
        The configuration and its :class:`ConfigSources`.

    Raises:
        ConfigError: As for :func:`load_config`.
    """
    config, sources = _load(path, os.environ, track=True)
    assert sources is not None
    return config, sources


def save_config(config: KlawConfig, path: str | os.PathLike[str]) -> None:
    """Write ``config`` as TOML that :func:`load_config` reads back equal.

    Only the values that differ from the defaults are written (the model is
    ``omit_defaults``), below a two-line comment, so a default configuration saves to a
    file of comments only; a field that is not set (``None``) is left out, as TOML has
    no null. The file is replaced in one step: a concurrent reader sees the old file or
    the new one. A symbolic link is followed, and an existing file keeps its permissions.

    Args:
        config: The configuration to write. It is validated first, because msgspec
            constructors do not check constraints.
        path: The file to write; it is created or replaced.

    Raises:
        ConfigError: A value of ``config`` breaks its constraint; nothing is written.
        OSError: The file cannot be written.
    """
    target = os.fspath(path)
    try:
        msgspec.convert(msgspec.to_builtins(config), KlawConfig)
    except msgspec.ValidationError as exc:
        error = _validation_error(target, exc)
        raise ConfigError(target, f"refusing to save: {error.reason}", error.path) from exc
    body = msgspec.toml.encode(config).decode("utf-8")
    text = _SAVED_HEADER + (f"\n{body}" if body else "")
    _files.write_text(target, text, overwrite=True)


def _load(
    path: str | os.PathLike[str] | None, environ: Mapping[str, str], *, track: bool
) -> tuple[KlawConfig, ConfigSources | None]:
    if path is not None:
        file: str | None = os.fspath(path)
    else:
        file = environ.get(CONFIG_FILE_VARIABLE) or None
    config = KlawConfig()
    text = None if file is None else _files.read_text(file)
    if file is not None and text is not None:
        config = _decode(text, file)
    config = apply_environment(config, environ)
    if not track:
        return config, None
    sources = ConfigSources(
        file=file,
        file_found=text is not None,
        from_file=frozenset() if text is None else _keys_set(text),
        from_environment={
            var.path: var.name for var in environment_variables() if var.name in environ
        },
    )
    return config, sources


def _decode(text: str, file: str) -> KlawConfig:
    try:
        return msgspec.toml.decode(text, type=KlawConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise _validation_error(file, exc) from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(file, f"invalid TOML: {exc}") from exc
    except RecursionError as exc:  # tomllib recurses into nested arrays and tables
        raise ConfigError(file, "invalid TOML: values are nested too deeply") from exc


def _validation_error(source: str, exc: msgspec.ValidationError) -> ConfigError:
    """Turn msgspec's message into a ConfigError with a dotted field path."""
    located = _LOCATED.fullmatch(str(exc))
    assert located is not None  # the pattern matches any text
    reason = located["reason"]
    parent = (located["path"] or "").lstrip(".")
    unknown = _UNKNOWN_FIELD.fullmatch(reason)
    if unknown is None:
        return ConfigError(source, reason, parent or None)
    name = unknown["name"]
    known = ", ".join(_field_names(parent))
    if parent:
        return ConfigError(
            source, f"unknown key in [{parent}]; known keys: {known}", f"{parent}.{name}"
        )
    return ConfigError(source, f"unknown section; known sections: {known}", name)


def _field_names(parent: str) -> list[str]:
    """The field names of the struct at dotted path ``parent`` ("" for the root)."""
    info: msgspec.inspect.Type = msgspec.inspect.type_info(KlawConfig)
    for part in filter(None, parent.split(".")):
        assert isinstance(info, msgspec.inspect.StructType)
        info = next(field.type for field in info.fields if field.name == part)
    assert isinstance(info, msgspec.inspect.StructType)
    return [field.name for field in info.fields]


def _keys_set(text: str) -> frozenset[str]:
    """Dotted paths of the fields a (valid) configuration file sets."""
    document = msgspec.toml.decode(text)
    return frozenset(
        f"{section}.{key}"
        for section, table in document.items()
        if isinstance(table, dict)
        for key in table
    )
