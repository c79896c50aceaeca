"""Reading a message's schema version without decoding it, and naming an unknown one.

The version is the first element of the header, ``[tag, [version, ...], ...]``. It is read
from the first four bytes when the writer used the compact encodings msgspec always
produces, otherwise with a probe decoder that skips everything after the version.
"""

from __future__ import annotations

from typing import Final

import msgspec

from klaw_wire.errors import (
    _DECODE_FAILURES,
    UnknownSchemaVersionError,
    WireDecodeError,
    WireValidationError,
    _decode_error,
)
from klaw_wire.wire import WIRE_SCHEMA_VERSION

__all__ = ["decode_failure", "read_version"]

_VERSION_PATH: Final = "$[1][0]"


# Defaults as in the envelope types: a writer may omit trailing fields it leaves at
# their defaults, and an omitted version means version 1 there too.
class _HeaderVersion(msgspec.Struct, array_like=True, frozen=True, gc=False):
    version: int = WIRE_SCHEMA_VERSION


class _VersionProbe(msgspec.Struct, array_like=True, frozen=True, gc=False):
    tag: int
    header: _HeaderVersion = _HeaderVersion()


_PROBE: Final = msgspec.msgpack.Decoder(_VersionProbe)


def read_version(buf: bytes) -> int:
    """Return the version in the header of ``buf``, decoding nothing after it.

    Raises:
        WireDecodeError: No version can be read from ``buf``.
    """
    # msgspec writes small arrays as fixarray (0x90 | length) and small ints as positive
    # fixint (0x00-0x7f): [tag, [version, ...], ...] then starts with these four bytes,
    # the outer array holding at least two elements and the header at least one.
    if (
        len(buf) > 3
        and (buf[1] | buf[3]) < 0x80
        and 0x92 <= buf[0] <= 0x9F
        and 0x91 <= buf[2] <= 0x9F
    ):
        return buf[3]
    try:
        return _PROBE.decode(buf).header.version
    except _DECODE_FAILURES as exc:
        raise _decode_error(exc) from exc


def decode_failure(exc: BaseException, buf: bytes) -> WireDecodeError:
    """Translate a decoder's failure on ``buf``, naming an unknown version as such.

    A version-1 type refuses any other version at ``$[1][0]``; that failure becomes an
    :class:`~klaw_wire.UnknownSchemaVersionError` carrying the version found. Called on
    the error path only.
    """
    error = _decode_error(exc)
    if isinstance(error, WireValidationError) and error.path == _VERSION_PATH:
        try:
            version = read_version(buf)
        except WireDecodeError:
            return error
        if version != WIRE_SCHEMA_VERSION:
            return UnknownSchemaVersionError(version=version, known=(WIRE_SCHEMA_VERSION,))
    return error
