"""The command line: ``python -m klaw_config check | show | init``.

:func:`main` is also what klaw-ray's ``klaw config ...`` command runs. It returns the
exit status rather than exiting: 0 on success, 1 when the configuration is invalid or a
file cannot be written, 2 for a mistake on the command line. Each error is one line on
standard error (``error: ...``), never a traceback; an invalid configuration is
reported whole, one line per problem.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from klaw_config import _files
from klaw_config._render import render_effective, render_starter
from klaw_config.env import CONFIG_FILE_VARIABLE
from klaw_config.errors import ConfigError
from klaw_config.loader import ConfigSources, _problems, load_config_with_sources

__all__ = ["main"]

_DEFAULT_INIT_FILE = "klaw.toml"


class _Exit(Exception):
    """Raised by the parser instead of ``SystemExit``, so :func:`main` can return."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _UsageError(Exception):
    """A mistake on the command line: reported as one line, exit status 2."""


class _Failure(Exception):
    """A command that could not do its work: reported as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise _Exit(status)


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m klaw_config") -> int:
    """Run the command line and return its exit status.

    Verbs:

    - ``check [FILE]``: load the configuration (FILE, else ``KLAW_CONFIG``, then the
      ``KLAW_*`` overrides) and say on one line that it is valid, or report every
      problem, one per line: every unknown section or key and every invalid value of
      the file, every invalid or misspelt ``KLAW_*`` variable. A FILE that does not
      exist, is not a regular file or is larger than 1 MiB is a problem.
    - ``show [FILE]``: print the effective configuration as TOML, each value followed
      by a comment naming where it came from: default, file, or environment variable;
      an invalid configuration is reported as ``check`` reports it.
    - ``init [FILE] [--force]``: write a commented starter file (FILE, else
      ``KLAW_CONFIG``, else ``klaw.toml``) with every key at its default. An existing
      file is kept unless ``--force`` is given.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` when ``None``.
        prog: The program name used in help and usage messages, e.g. ``"klaw config"``.

    Returns:
        0 on success, 1 when the configuration is invalid or ``init`` cannot write its
        file, 2 for a usage mistake.
    """
    parser = _build_parser(prog)
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        command: str = args.command
        if command == "init":
            print(_init(args.file, force=args.force))
            return 0
        problems = _problems(args.file, os.environ)
        if problems:
            _report(*(str(problem) for problem in problems))
            return 1
        if command == "check":
            print(_check(args.file))
        else:
            config, sources = load_config_with_sources(args.file)
            sys.stdout.write(render_effective(config, sources))
    except _Exit as exc:
        return exc.status
    except _UsageError as exc:
        _report(str(exc))
        return 2
    except (_Failure, ConfigError) as exc:
        _report(str(exc))
        return 1
    return 0


def _build_parser(prog: str) -> _Parser:
    parser = _Parser(
        prog=prog,
        description="Check, show or create the klaw configuration file.",
    )
    verbs = parser.add_subparsers(dest="command", required=True, metavar="{check,show,init}")
    check = verbs.add_parser("check", help="validate the configuration; exit 1 if invalid")
    show = verbs.add_parser("show", help="print the effective configuration and its sources")
    init = verbs.add_parser("init", help="write a commented starter file")
    for verb in (check, show):
        verb.add_argument(
            "file", nargs="?", metavar="FILE", help=f"TOML file (default: ${CONFIG_FILE_VARIABLE})"
        )
    init.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help=f"file to write (default: ${CONFIG_FILE_VARIABLE}, else {_DEFAULT_INIT_FILE})",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    return parser


def _check(file: str | None) -> str:
    _, sources = load_config_with_sources(file)
    line = f"valid: {_where(sources)}"
    if sources.from_environment:
        line += "; overridden by " + ", ".join(sorted(sources.from_environment.values()))
    return line


def _where(sources: ConfigSources) -> str:
    if sources.file is None:
        return "no configuration file, the defaults apply"
    return sources.file


def _init(file: str | None, *, force: bool) -> str:
    target = file or os.environ.get(CONFIG_FILE_VARIABLE) or _DEFAULT_INIT_FILE
    try:
        _files.write_text(target, render_starter(), overwrite=force)
    except FileExistsError as exc:
        raise _Failure(f"{target} already exists; pass --force to overwrite it") from exc
    except OSError as exc:
        raise _Failure(f"cannot write {target}: {exc.strerror or exc}") from exc
    return f"wrote {target}"


def _report(*messages: str) -> None:
    """Write each message to standard error as one ``error: ...`` line."""
    for message in messages:
        one_line = " ".join(message.splitlines())
        sys.stderr.write(f"error: {one_line}\n")
