"""``SchemaRegistry``: route each message to the decoder of its schema version.

The version is the first element of the header, ``[tag, [version, ...], ...]``. The
registry reads it without decoding the rest of the message: from the first four bytes
when the writer used the compact encodings msgspec always produces, otherwise with a
probe decoder that skips everything after the version. The message is then decoded by
the decoder registered for that version.

Evolving the schema (the specification's version rules): within a version, a writer
may append fields that readers of the same version ignore; any other change takes a new
version number, and a reader decodes only the versions it knows. klaw-wire's other
decoders know version 1 alone and refuse any other with
:class:`~klaw_wire.UnknownSchemaVersionError`; a registry knows the versions registered
with it, and decodes each message with the decoder of its version.

Example:
    >>> from klaw_wire import Heartbeat, encode, get_schema_registry
    >>> get_schema_registry().decode(encode(Heartbeat(sender_id="w1"))).sender_id
    'w1'
"""

from __future__ import annotations

import threading
from typing import Any, Final

import msgspec

from klaw_wire._version import read_version
from klaw_wire.codec import _as_bytes, _Buffer
from klaw_wire.errors import _DECODE_FAILURES, UnknownSchemaVersionError, _decode_error
from klaw_wire.wire import WIRE_SCHEMA_VERSION, WireEnvelope

__all__ = ["SchemaRegistry", "get_schema_registry"]


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
        return read_version(_as_bytes(buf))

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
        version = read_version(buf)
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
