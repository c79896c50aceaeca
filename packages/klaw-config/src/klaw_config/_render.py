"""TOML text for the command line: the effective configuration, and a starter file."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Iterator
from itertools import groupby
from typing import Final

import msgspec
import tomli_w

from klaw_config.env import CONFIG_FILE_VARIABLE, EnvVar, environment_variables
from klaw_config.loader import ConfigSources
from klaw_config.model import KlawConfig

_WIDTH: Final = 88

_STARTER_HEADER: Final = """\
# klaw configuration file.
#
# Values come in three layers, each overriding the one before: the defaults, this file,
# then KLAW_<SECTION>_<FIELD> environment variables. Every key below is commented out at
# its default: uncomment it and change the value to override the default. Keys and
# sections left out keep their defaults; an unknown key or section is an error.
#
# Check this file:         python -m klaw_config check FILE
# See what takes effect:   python -m klaw_config show FILE
"""


def render_effective(config: KlawConfig, sources: ConfigSources) -> str:
    """Render ``config`` as TOML, every field with a comment saying where it came from.

    The text is valid TOML that loads back to ``config``; a field that is not set is
    shown as a comment.
    """
    lines = [
        "# Effective klaw configuration: the defaults, then the file, then KLAW_* variables.",
        f"# File: {_describe_file(sources)}",
        "# The comment after each value says where it came from.",
    ]
    for section, variables in _by_section():
        lines += ["", f"[{section}]"]
        values = getattr(config, section)
        for var in variables:
            origin = sources.origin(var.path)
            value = getattr(values, var.field)
            if value is None:
                lines.append(f"# {var.field}: not set  # {origin}")
            else:
                lines.append(f"{_assignment(var.field, value)}  # {origin}")
    return "\n".join(lines) + "\n"


def render_starter() -> str:
    """Render a commented starter file: every field documented and at its default.

    Every key is commented out, so the file loads to the defaults as written, and also
    with every ``# key = value`` line uncommented.
    """
    lines = [_STARTER_HEADER.rstrip("\n")]
    for section, variables in _by_section():
        lines += ["", "", *_comment(_section_summary(section)), f"[{section}]"]
        for var in variables:
            lines.append("")
            lines += _comment(var.description)
            lines += _comment(f"Type: {var.value_type}.")
            lines.append(f"# Environment variable: {var.name}")
            if var.default is None:
                lines.append(f"# ({var.field} is not set by default)")
            else:
                lines.append(f"# {_assignment(var.field, var.default)}")
    return "\n".join(lines) + "\n"


def _by_section() -> Iterator[tuple[str, list[EnvVar]]]:
    for section, variables in groupby(environment_variables(), key=lambda var: var.section):
        yield section, list(variables)


def _assignment(key: str, value: object) -> str:
    """One ``key = value`` line, the value written as TOML writes it."""
    return tomli_w.dumps({key: value}).rstrip("\n")


def _comment(text: str) -> list[str]:
    return textwrap.wrap(
        text, width=_WIDTH, initial_indent="# ", subsequent_indent="# ", break_long_words=False
    )


def _section_summary(section: str) -> str:
    """The first line of the docstring of the struct behind ``section``."""
    field = next(f for f in msgspec.structs.fields(KlawConfig) if f.name == section)
    doc = inspect.getdoc(field.type) or ""
    return doc.splitlines()[0] if doc else section


def _describe_file(sources: ConfigSources) -> str:
    if sources.file is None:
        return f"none (no file given and {CONFIG_FILE_VARIABLE} is not set)"
    return sources.file
