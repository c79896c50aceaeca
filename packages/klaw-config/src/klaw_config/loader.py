"""Loading and saving the configuration.

A configuration is assembled in three layers, each overriding the one before:

1. the defaults of :class:`~klaw_config.KlawConfig`;
2. the TOML file: the ``path`` argument, else the file named by the ``KLAW_CONFIG``
   environment variable (an empty ``KLAW_CONFIG`` counts as unset), else none. Sections
   and keys the file leaves out keep their defaults;
3. ``KLAW_<SECTION>_<FIELD>`` environment variables (see :mod:`klaw_config.env`).

A file that is named must be there: a file that does not exist, is not a regular file
(a directory, a FIFO, a device such as ``/dev/zero``) or holds more than 1 MiB is an
error, found with :func:`os.stat` before the file is opened, so that no such file is
read and nothing blocks. The file is decoded with
``msgspec.toml.decode(..., strict=False)``: this is the one boundary where text becomes
configuration, so strings convert to numbers (``capacity = "128"`` is ``128``) while
every constraint still applies.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

import msgspec

from klaw_config import _document, _files
from klaw_config.env import (
    CONFIG_FILE_VARIABLE,
    _environment_problems,
    apply_environment,
    environment_variables,
)
from klaw_config.errors import ConfigError
from klaw_config.model import KlawConfig

__all__ = [
    "ConfigSources",
    "load_config",
    "load_config_with_sources",
    "save_config",
]

_SAVED_HEADER: Final = (
    "# klaw configuration. Keys left out keep their defaults;\n"
    "# `python -m klaw_config init FILE` writes a starter file that lists them all.\n"
)


class ConfigSources(msgspec.Struct, frozen=True):
    """Where each value of a loaded configuration came from.

    Returned by :func:`load_config_with_sources`; ``python -m klaw_config show`` prints
    it next to the values.

    Attributes:
        file: The configuration file read (the ``path`` argument, else
            ``KLAW_CONFIG``), or ``None`` when there was neither.
        from_file: Dotted paths of the fields the file sets.
        from_environment: Dotted paths of the fields set by an environment variable,
            each mapped to the variable's name.
    """

    file: str | None
    """The configuration file read, or ``None`` when there was none."""
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
            or no file when that is unset or empty.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: For every failure, and nothing else: the file does not exist, is
            not a regular file, is larger than 1 MiB, cannot be read or is not UTF-8; it
            is not valid TOML, it has an unknown section or key, a value has the wrong
            type or is out of range; an environment variable's value is invalid, or a
            ``KLAW_*`` variable is a misspelling of one klaw reads. The message names
            the file or variable and the field; the cause (``OSError``,
            ``msgspec.ValidationError``, ...) is chained. Of several problems the first
            is raised, those of the file before those of the environment;
            ``python -m klaw_config check`` lists them all.
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
        error = _document.validation_error(target, exc)
        raise ConfigError(target, f"refusing to save: {error.reason}", error.path) from exc
    body = msgspec.toml.encode(config).decode("utf-8")
    text = _SAVED_HEADER + (f"\n{body}" if body else "")
    _files.write_text(target, text, overwrite=True)


def _load(
    path: str | os.PathLike[str] | None, environ: Mapping[str, str], *, track: bool
) -> tuple[KlawConfig, ConfigSources | None]:
    file, named_by = _file(path, environ)
    config = KlawConfig()
    text = None
    if file is not None:
        text = _files.read_text(file, named_by=named_by)
        config = _document.decode(text, file)
    config = apply_environment(config, environ)
    if not track:
        return config, None
    sources = ConfigSources(
        file=file,
        from_file=frozenset() if text is None else _keys_set(text),
        from_environment={
            var.path: var.name for var in environment_variables() if var.name in environ
        },
    )
    return config, sources


def _problems(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> list[ConfigError]:
    """Every problem :func:`load_config` could raise, in its order; ``[]`` when it loads.

    The problems of the file, if there is one (one when it cannot be read or is not
    valid TOML, else one per unknown section or key and per invalid value), then those of
    the environment variables (one per invalid value or misspelt variable).
    """
    found: list[ConfigError] = []
    file, named_by = _file(path, environ)
    if file is not None:
        try:
            text = _files.read_text(file, named_by=named_by)
        except ConfigError as exc:
            found.append(exc)
        else:
            found += _document.problems(text, file)
    return found + _environment_problems(environ)


def _file(
    path: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """The file to read, if any, and the variable that named it, if one did."""
    if path is not None:
        return os.fspath(path), None
    return environ.get(CONFIG_FILE_VARIABLE) or None, CONFIG_FILE_VARIABLE


def _keys_set(text: str) -> frozenset[str]:
    """Dotted paths of the fields a (valid) configuration file sets."""
    document = msgspec.toml.decode(text)
    return frozenset(
        f"{section}.{key}"
        for section, table in document.items()
        if isinstance(table, dict)
        for key in table
    )
