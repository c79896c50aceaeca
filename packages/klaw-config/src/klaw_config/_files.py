"""Reading and writing configuration files, with every failure as a ConfigError or OSError."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from klaw_config.errors import ConfigError


def read_text(file: str) -> str | None:
    """Return the text of ``file``, or ``None`` when it does not exist.

    A UTF-8 byte order mark is accepted and dropped.

    Raises:
        ConfigError: The file exists but cannot be read (a directory, no permission, a
            path that is not valid) or is not UTF-8.
    """
    try:
        data = Path(file).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(file, f"cannot read the file: {exc.strerror or exc}") from exc
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise ConfigError(file, f"cannot read the file: {exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        raise ConfigError(file, reason) from exc


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
