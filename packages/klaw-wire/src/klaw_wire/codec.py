"""``CodecPool``: thread-safe encoding and decoding of envelopes.

Use the process singleton from :func:`get_codec_pool`, or the module-level
:func:`encode` / :func:`decode` shortcuts that call it::

    >>> from klaw_wire import DataMessage, get_codec_pool
    >>> codec = get_codec_pool()
    >>> data = codec.encode(DataMessage.build([1, 2, 3], channel_id="jobs"))
    >>> codec.decode_data(data, list[int]).payload
    [1, 2, 3]
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final, NoReturn, TypeAlias, TypeVar, overload

import msgspec

from klaw_wire._version import decode_failure
from klaw_wire.errors import (
    _DECODE_FAILURES,
    _ENCODE_FAILURES,
    WireEncodeError,
    _decode_error,
    _encode_error,
)
from klaw_wire.wire import DataMessage, WireEnvelope, WireMessage

__all__ = ["CodecPool", "decode", "encode", "get_codec_pool"]

T = TypeVar("T")

_Buffer: TypeAlias = bytes | bytearray | memoryview


def _as_bytes(buf: _Buffer) -> bytes:
    """Return an immutable copy of a buffer (``bytes`` is returned as is).

    msgspec's ``Raw`` and ``memoryview`` results point into the buffer they were decoded
    from; decoding from ``bytes`` guarantees that a later write to, or resize of, the
    caller's buffer cannot change (or be blocked by) an envelope already returned.
    """
    if type(buf) is bytes:
        return buf
    if type(buf) is bytearray:
        return bytes(buf)
    return memoryview(buf).tobytes()  # any buffer, contiguous or not; TypeError otherwise


def _contiguous(buf: _Buffer) -> _Buffer:
    """Return ``buf``, copied only if it is a memoryview msgspec cannot read in place."""
    if type(buf) is memoryview and not buf.c_contiguous:
        return buf.tobytes()
    return buf


def _unsupported(value: object) -> NoReturn:
    """The encoders' ``enc_hook``: msgspec calls it for a value of a type it cannot encode."""
    cause = TypeError(f"Encoding objects of type {type(value).__name__} is unsupported")
    raise WireEncodeError(str(cause)) from cause


class CodecPool:
    """Thread-safe MessagePack codec for envelopes, with typed decoders built once.

    One instance can be used from any number of threads at once. It holds:

    - one shared ``msgspec.msgpack.Encoder``: msgspec encoders keep no per-call state,
      so sharing one is safe and takes no lock. :attr:`encode` *is* its ``encode``
      method: nothing runs between the call and msgspec's C code. One encoder per
      thread was measured and rejected (the ``data-encode`` and ``threads`` benchmark
      groups): finding the thread's encoder costs more than it saves, and the GIL
      serializes encoding either way.
    - one shared envelope ``Decoder`` for :data:`~klaw_wire.WireEnvelope`.
    - typed decoders, built on first use per payload type and cached: building a
      ``Decoder`` costs tens of microseconds, using one well under one. The cache holds
      at most ``max_cached_types`` types, evicting the oldest beyond that.

    Decoded envelopes never share memory with the caller's buffer: input that is not
    ``bytes`` is copied first, so reusing or resizing the buffer afterwards is safe.
    Pass ``bytes`` where you can: the copy has a price (the ``envelope-decode`` group).

    Every decode method raises :class:`~klaw_wire.WireDecodeError` (a
    ``msgspec.DecodeError``) or its subclass :class:`~klaw_wire.WireValidationError`
    for bad input, whatever the bytes, with msgspec's message and path; ``TypeError``
    only when the argument is not a bytes-like object at all. The decode methods are
    one thin Python call each around msgspec, which that error translation needs; the
    user guide's performance page lists their cost relative to raw msgspec.

    Args:
        max_cached_types: How many payload types keep a cached decoder.
    """

    encode: Callable[[WireMessage], bytes]
    """Encode an envelope to MessagePack bytes: one complete MessagePack array.

    The shared encoder's own bound ``encode`` method, so it costs what msgspec costs.
    A value of a type MessagePack cannot represent raises
    :class:`~klaw_wire.WireEncodeError` (a ``msgspec.EncodeError``, its ``__cause__``
    a ``TypeError``). A value of a supported type that MessagePack cannot hold raises
    msgspec's own error, unwrapped, because catching it would cost a Python call on
    every encode: ``OverflowError`` for an int outside ``-2**63 .. 2**64 - 1``,
    ``UnicodeEncodeError`` for a str with lone surrogates, ``RecursionError`` for
    nesting deeper than the interpreter's limit. The header of a message made by
    ``build`` never does. :meth:`encode_into` and :func:`~klaw_wire.encode_frame`
    raise ``WireEncodeError`` for those too.
    """

    def __init__(self, *, max_cached_types: int = 256) -> None:
        if max_cached_types < 1:
            raise ValueError(f"max_cached_types must be at least 1, got {max_cached_types}")
        encoder = msgspec.msgpack.Encoder(enc_hook=_unsupported)
        envelope_decoder: msgspec.msgpack.Decoder[WireEnvelope] = msgspec.msgpack.Decoder(
            WireEnvelope
        )
        # Bound methods, looked up once: the wrappers below add as little as possible.
        self.encode = encoder.encode
        self._encode_into = encoder.encode_into
        self._decode_envelope = envelope_decoder.decode
        self._max_cached = max_cached_types
        self._payload_decoders: dict[Any, Callable[[Any], Any]] = {}
        self._data_decoders: dict[Any, Callable[[bytes], DataMessage[Any]]] = {}
        self._lock = threading.Lock()

    def encode_into(self, msg: WireMessage, buf: bytearray, offset: int = 0) -> int:
        """Encode an envelope into ``buf`` starting at ``offset``, without a new ``bytes``.

        ``buf`` is grown if needed and truncated to ``offset`` plus the message; bytes
        before ``offset`` are kept. Use one buffer per thread (see :class:`BufferPool`).

        Args:
            msg: The envelope to encode.
            buf: The buffer to write into.
            offset: Where to start writing, ``0 <= offset <= len(buf)``.

        Returns:
            The number of bytes written.

        Raises:
            TypeError: ``buf`` is not a ``bytearray``.
            ValueError: ``offset`` is outside ``0..len(buf)`` (msgspec would leave the gap
                uninitialised).
            WireEncodeError: ``msg`` holds a value msgpack cannot represent; the contents
                of ``buf`` past ``offset`` are then unspecified.
        """
        if type(buf) is not bytearray:
            raise TypeError(f"buf must be a bytearray, not {type(buf).__name__}")
        if not 0 <= offset <= len(buf):
            raise ValueError(f"offset must be between 0 and len(buf)={len(buf)}, got {offset}")
        try:
            self._encode_into(msg, buf, offset)
        except WireEncodeError:
            raise
        except _ENCODE_FAILURES as exc:
            raise _encode_error(exc) from exc
        return len(buf) - offset

    def decode(self, buf: _Buffer) -> WireEnvelope:
        """Decode any envelope; a ``DataMessage`` keeps its payload as ``msgspec.Raw``.

        Args:
            buf: Exactly one encoded envelope.

        Returns:
            The envelope, of the type its tag names.

        Raises:
            WireDecodeError: ``buf`` is not exactly one valid envelope; a
                :class:`~klaw_wire.WireValidationError` when it is well-formed
                MessagePack of the wrong shape (including a header kind that disagrees
                with the tag).
        """
        if type(buf) is not bytes:
            buf = _as_bytes(buf)
        try:
            return self._decode_envelope(buf)
        except _DECODE_FAILURES as exc:
            raise decode_failure(exc, buf) from exc

    @overload
    def decode_payload(self, raw: msgspec.Raw | _Buffer, payload_type: type[T]) -> T: ...
    @overload
    def decode_payload(self, raw: msgspec.Raw | _Buffer, payload_type: Any) -> Any: ...
    def decode_payload(self, raw: msgspec.Raw | _Buffer, payload_type: Any) -> Any:
        """Decode a payload left as ``Raw`` (or any encoded value) into ``payload_type``.

        Args:
            raw: The encoded value, typically ``envelope.payload``.
            payload_type: Any type msgspec can decode into (a struct, ``list[int]``,
                a union, ...). Its decoder is built once and cached.

        Returns:
            The decoded, validated value.

        Raises:
            WireDecodeError: ``raw`` is not a valid encoding of ``payload_type``.
            TypeError: ``payload_type`` is not a type msgspec supports.
        """
        try:
            decode = self._payload_decoders[payload_type]
        except (KeyError, TypeError):
            decode = self._new_decoder(self._payload_decoders, payload_type, payload_type)
        if type(raw) is not msgspec.Raw and type(raw) is not bytes:
            raw = _as_bytes(raw)
        try:
            return decode(raw)
        except _DECODE_FAILURES as exc:
            raise _decode_error(exc) from exc

    @overload
    def decode_data(self, buf: _Buffer, payload_type: type[T]) -> DataMessage[T]: ...
    @overload
    def decode_data(self, buf: _Buffer, payload_type: Any) -> DataMessage[Any]: ...
    def decode_data(self, buf: _Buffer, payload_type: Any) -> DataMessage[Any]:
        """Decode a ``DataMessage[payload_type]`` in one pass, payload validated.

        Args:
            buf: Exactly one encoded ``DataMessage``.
            payload_type: The payload's type. Its decoder is built once and cached.

        Returns:
            The message with its payload decoded.

        Raises:
            WireDecodeError: ``buf`` is not a valid ``DataMessage`` with such a payload
                (another envelope type is a :class:`~klaw_wire.WireValidationError`).
            TypeError: ``payload_type`` is not a type msgspec supports.
        """
        try:
            decode = self._data_decoders[payload_type]
        except (KeyError, TypeError):
            target = DataMessage[payload_type]
            decode = self._new_decoder(self._data_decoders, payload_type, target)
        if type(buf) is not bytes:
            buf = _as_bytes(buf)
        try:
            return decode(buf)
        except _DECODE_FAILURES as exc:
            raise decode_failure(exc, buf) from exc

    @overload
    def data_decoder(self, payload_type: type[T]) -> Callable[[_Buffer], DataMessage[T]]: ...
    @overload
    def data_decoder(self, payload_type: Any) -> Callable[[_Buffer], DataMessage[Any]]: ...
    def data_decoder(self, payload_type: Any) -> Callable[[_Buffer], DataMessage[Any]]:
        """Return a function that decodes a ``DataMessage[payload_type]``: for hot loops.

        ``codec.data_decoder(T)(buf)`` is ``codec.decode_data(buf, T)`` without the
        per-call lookup of ``T``'s decoder: hold the function where one payload type
        is decoded over and over. It has the same error contract, and is safe to call
        from any thread.

        Args:
            payload_type: The payload's type. Its decoder is built once and cached.

        Returns:
            A function of one argument, the encoded message (any bytes-like object).

        Raises:
            TypeError: ``payload_type`` is not a type msgspec supports.
        """
        try:
            decode = self._data_decoders[payload_type]
        except (KeyError, TypeError):
            target = DataMessage[payload_type]
            decode = self._new_decoder(self._data_decoders, payload_type, target)

        def decode_data(buf: _Buffer) -> DataMessage[Any]:
            if type(buf) is not bytes:
                buf = _as_bytes(buf)
            try:
                return decode(buf)
            except _DECODE_FAILURES as exc:
                raise decode_failure(exc, buf) from exc

        return decode_data

    def _new_decoder(
        self, cache: dict[Any, Callable[[Any], Any]], key: Any, target: Any
    ) -> Callable[[Any], Any]:
        """Build (once) and cache the decoder of ``target``; called on a cache miss.

        The cache holds the decoder's bound ``decode`` method, saving a lookup per call.
        """
        try:
            hash(key)
        except TypeError:  # an unhashable type expression: usable, just not cacheable
            return msgspec.msgpack.Decoder(target).decode
        with self._lock:
            decode = cache.get(key)
            if decode is None:
                decode = msgspec.msgpack.Decoder(target).decode
                if len(cache) >= self._max_cached:
                    del cache[next(iter(cache))]
                cache[key] = decode
            return decode

    def __repr__(self) -> str:
        cached = len(self._payload_decoders) + len(self._data_decoders)
        return f"CodecPool(cached_decoders={cached}, max_cached_types={self._max_cached})"


_CODEC_POOL: Final = CodecPool()


def get_codec_pool() -> CodecPool:
    """Return the process-wide :class:`CodecPool`.

    Returns:
        The same pool on every call, from every thread.
    """
    return _CODEC_POOL


def encode(msg: WireMessage) -> bytes:
    """Encode an envelope with the process-wide pool; see :attr:`CodecPool.encode`.

    Args:
        msg: The envelope to encode.

    Returns:
        The encoded message.

    Raises:
        WireEncodeError: ``msg`` holds a value of a type msgpack cannot represent.
        OverflowError: An int outside ``-2**63 .. 2**64 - 1`` (as msgspec raises it;
            also ``UnicodeEncodeError`` and ``RecursionError``, see
            :attr:`CodecPool.encode`).
    """
    return _CODEC_POOL.encode(msg)


def decode(buf: _Buffer) -> WireEnvelope:
    """Decode an envelope with the process-wide pool; see :meth:`CodecPool.decode`.

    Args:
        buf: Exactly one encoded envelope.

    Returns:
        The envelope.

    Raises:
        WireDecodeError: ``buf`` is not exactly one valid envelope.
    """
    return _CODEC_POOL.decode(buf)
