"""Reading and writing configuration files, with every failure as a ConfigError or OSError."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

from klaw_config.errors import ConfigError

T = TypeVar("T")

MAX_FILE_BYTES: Final = 1024 * 1024
"""Largest configuration file read, in bytes (1 MiB): a real one is a few kilobytes."""

# Without O_NONBLOCK, opening a path that became a FIFO after the stat waits for a writer.
_OPEN_FLAGS: Final = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)

_KINDS: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_text(file: str, *, named_by: str | None = None) -> str:
    """Return the text of the configuration file ``file``.

    The file must exist, be a regular file (a symbolic link to one is followed) and hold
    at most :data:`MAX_FILE_BYTES`. That is checked with :func:`os.stat` before the file
    is opened, so a FIFO, a device such as ``/dev/zero`` or a directory is refused
    without being opened, and again on the open file, so a path replaced meanwhile is
    refused too; the open does not wait, and at most one byte more than the limit is
    read. A UTF-8 byte order mark is accepted and dropped.

    Args:
        file: The path, as given.
        named_by: The environment variable that named the path, if one did; the errors
            about the file itself (not its contents) end by saying so.

    Raises:
        ConfigError: The file does not exist, is not a regular file, is too large,
            cannot be read (no permission, a path that is not valid), or is not UTF-8.
            ``source`` is ``file`` and ``path`` is ``None``.
    """
    suffix = "" if named_by is None else f" (from {named_by})"
    _check_file(file, _reach(file, os.stat, suffix), suffix)
    descriptor = _reach(file, lambda path: os.open(path, _OPEN_FLAGS), suffix)
    with os.fdopen(descriptor, "rb") as handle:
        _check_file(file, os.fstat(descriptor), suffix)
        data = _reach(file, lambda _: handle.read(MAX_FILE_BYTES + 1), suffix)
    if len(data) > MAX_FILE_BYTES:  # it grew since the stat
        raise ConfigError(file, f"too large: more than {MAX_FILE_BYTES} bytes{suffix}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        raise ConfigError(file, reason) from exc


def _reach(file: str, call: Callable[[str], T], suffix: str) -> T:
    """``call(file)``, with each way the file cannot be reached as a ConfigError."""
    try:
        return call(file)
    except FileNotFoundError as exc:
        raise ConfigError(file, f"no such file{suffix}") from exc
    except OSError as exc:
        raise ConfigError(file, f"cannot read the file: {exc.strerror or exc}{suffix}") from exc
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise ConfigError(file, f"cannot read the file: {exc}{suffix}") from exc


def _check_file(file: str, status: os.stat_result, suffix: str) -> None:
    """Refuse what is not a regular file of at most MAX_FILE_BYTES."""
    mode = status.st_mode
    if not stat.S_ISREG(mode):
        kind = next((f": it is {name}" for test, name in _KINDS if test(mode)), "")
        raise ConfigError(file, f"not a regular file{kind}{suffix}")
    if status.st_size > MAX_FILE_BYTES:
        reason = f"too large: {status.st_size} bytes, more than {MAX_FILE_BYTES}{suffix}"
        raise ConfigError(file, reason)


def write_text(file: str, text: str, *, overwrite: bool) -> None:
    """Write ``text`` to ``file`` as UTF-8.

    With ``overwrite``, the text goes to a temporary file next to the target that then
    replaces it in one step (readers see the old file or the new one, never a part of
    it); a symbolic link is followed, and an existing file keeps its permission bits.
    Without ``overwrite``, the file is created and must not exist.

    Raises:
        FileExistsError: ``overwrite`` is false and ``file`` exists.
        OSError: The file cannot be written.
    """
    if not overwrite:
        with open(file, "x", encoding="utf-8", newline="") as handle:
            handle.write(text)
        return
    target = Path(os.path.realpath(file))
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(target.stat().st_mode))
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
