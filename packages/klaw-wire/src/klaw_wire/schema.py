"""``SchemaRegistry``: route each message to the decoder of its schema version.

The version is the first element of the header, ``[tag, [version, ...], ...]``. The
registry reads it without decoding the rest of the message: from the first four bytes
when the writer used the compact encodings msgspec always produces, otherwise with a
probe decoder that skips everything after the version. The message is then decoded by
the decoder registered for that version.

Evolving the schema: a new version may append fields to the header or to a message
type. Readers ignore trailing fields they do not know, so an old reader still decodes a
newer writer's messages (it sees the fields it knows, and the newer version number),
while a reader that registered the new version gets every field.

Example:
    >>> from klaw_wire import Heartbeat, encode, get_schema_registry
    >>> get_schema_registry().decode(encode(Heartbeat(sender_id="w1"))).sender_id
    'w1'
"""

from __future__ import annotations

import threading
from typing import Any, Final

import msgspec

from klaw_wire.codec import _as_bytes, _Buffer
from klaw_wire.errors import _DECODE_FAILURES, UnknownSchemaVersionError, _decode_error
from klaw_wire.wire import WIRE_SCHEMA_VERSION, WireEnvelope

__all__ = ["SchemaRegistry", "get_schema_registry"]


# Defaults as in the envelope types: a writer may omit trailing fields it leaves at
# their defaults, and an omitted version means version 1 there too.
class _HeaderVersion(msgspec.Struct, array_like=True, frozen=True, gc=False):
    version: int = WIRE_SCHEMA_VERSION


class _VersionProbe(msgspec.Struct, array_like=True, frozen=True, gc=False):
    tag: int
    header: _HeaderVersion = _HeaderVersion()


_PROBE: Final = msgspec.msgpack.Decoder(_VersionProbe)


def _read_version(buf: bytes) -> int:
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
    return _probe_version(buf)


def _probe_version(buf: bytes) -> int:
    """Read the version with a decoder that skips everything after it."""
    try:
        return _PROBE.decode(buf).header.version
    except _DECODE_FAILURES as exc:
        raise _decode_error(exc) from exc


class SchemaRegistry:
    """Maps schema versions to envelope decoders; version 1 is registered on creation.

    Thread-safe: registering replaces the version table atomically, so a concurrent
    :meth:`decode` sees either the old or the new table, never a partial one.

    Example:
        >>> registry = SchemaRegistry()
        >>> registry.versions
        (1,)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[int, Any] = {}
        self._decoders: dict[int, msgspec.msgpack.Decoder[Any]] = {}
        self.register(WIRE_SCHEMA_VERSION, WireEnvelope)

    @property
    def versions(self) -> tuple[int, ...]:
        """The registered versions, ascending."""
        return tuple(sorted(self._decoders))

    def register(self, version: int, envelope_type: Any, *, replace: bool = False) -> None:
        """Register the envelope type (usually a union of tagged structs) of a version.

        Args:
            version: The schema version, at least 1.
            envelope_type: What messages of that version decode into.
            replace: Allow replacing a version registered with another type.

        Raises:
            TypeError: ``version`` is not an ``int``, or msgspec cannot decode
                ``envelope_type``.
            ValueError: ``version`` is below 1, or is registered with another type and
                ``replace`` is false.
        """
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"version must be an int, not {type(version).__name__}")
        if version < 1:
            raise ValueError(f"version must be at least 1, got {version}")
        decoder = msgspec.msgpack.Decoder(envelope_type)
        with self._lock:
            known = self._types.get(version)
            if known is not None and known != envelope_type and not replace:
                raise ValueError(f"schema version {version} is already registered with {known!r}")
            self._types = {**self._types, version: envelope_type}
            self._decoders = {**self._decoders, version: decoder}

    def get_decoder(self, version: int) -> msgspec.msgpack.Decoder[Any]:
        """Return the decoder registered for ``version``.

        Args:
            version: A schema version.

        Returns:
            The shared, thread-safe msgspec decoder of that version. It decodes from any
            buffer, but its ``Raw`` fields then point into that buffer; pass ``bytes``.

        Raises:
            KeyError: ``version`` is not registered.
        """
        try:
            return self._decoders[version]
        except KeyError:
            raise KeyError(f"schema version {version} is not registered") from None

    def read_version(self, buf: _Buffer) -> int:
        """Read the schema version of an encoded message without decoding the rest.

        Args:
            buf: An encoded message.

        Returns:
            The version in its header.

        Raises:
            WireDecodeError: No version can be read from ``buf``.
        """
        return _read_version(_as_bytes(buf))

    def decode(self, buf: _Buffer) -> object:
        """Decode a message with the decoder of the version in its header.

        As with :meth:`CodecPool.decode`, input that is not ``bytes`` is copied first,
        so the result does not change when the caller's buffer is reused.

        Args:
            buf: Exactly one encoded message.

        Returns:
            The message, as the envelope type registered for its version (for
            version 1, a :data:`~klaw_wire.WireEnvelope`).

        Raises:
            UnknownSchemaVersionError: No decoder is registered for the version found.
            WireDecodeError: ``buf`` is not a valid message of that version.
        """
        if type(buf) is not bytes:
            buf = _as_bytes(buf)
        version = _read_version(buf)
        decoder = self._decoders.get(version)
        if decoder is None:
            raise UnknownSchemaVersionError(version=version, known=self.versions)
        try:
            result: object = decoder.decode(buf)
        except _DECODE_FAILURES as exc:
            raise _decode_error(exc) from exc
        return result

    def __repr__(self) -> str:
        return f"SchemaRegistry(versions={self.versions})"


_SCHEMA_REGISTRY: Final = SchemaRegistry()


def get_schema_registry() -> SchemaRegistry:
    """Return the process-wide :class:`SchemaRegistry` (version 1 registered).

    Returns:
        The same registry on every call, from every thread.
    """
    return _SCHEMA_REGISTRY
