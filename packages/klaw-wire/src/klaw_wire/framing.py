"""Length-prefixed frames: envelopes over byte streams (TCP, pipes, files).

A frame is a 4-byte big-endian unsigned length followed by that many bytes of one
encoded envelope. Readers refuse a frame longer than their ``max_frame_size`` as soon
as they read its length, before buffering any of it.

- :func:`encode_frame` builds a frame.
- :class:`FrameDecoder` is a sans-io incremental decoder: feed it bytes as they arrive,
  split anywhere, and get back the envelopes completed so far.
- :func:`read_envelope` / :func:`write_envelope` do the same over asyncio streams.

Example:
    >>> from klaw_wire import FrameDecoder, Heartbeat, encode_frame
    >>> data = encode_frame(Heartbeat(sender_id="a")) + encode_frame(Heartbeat(sender_id="b"))
    >>> decoder = FrameDecoder()
    >>> [m.sender_id for m in decoder.feed(data[:5]) + decoder.feed(data[5:])]
    ['a', 'b']
"""

from __future__ import annotations

import asyncio
import struct
from typing import Final

from klaw_wire.codec import _Buffer, _contiguous, get_codec_pool
from klaw_wire.errors import (
    _ENCODE_FAILURES,
    FrameTooLargeError,
    WireDecodeError,
    WireEncodeError,
    _encode_error,
)
from klaw_wire.wire import WireEnvelope, WireMessage

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "FRAME_HEADER_SIZE",
    "FrameDecoder",
    "encode_frame",
    "read_envelope",
    "write_envelope",
]

FRAME_HEADER_SIZE: Final = 4
"""Bytes in the length prefix of a frame."""

DEFAULT_MAX_FRAME_SIZE: Final = 16 * 1024 * 1024
"""Largest frame body readers accept by default: 16 MiB."""

_LENGTH: Final = struct.Struct(">I")
_MAX_BODY: Final = 2**32 - 1


def _check_max_frame_size(max_frame_size: int) -> int:
    if isinstance(max_frame_size, bool) or not isinstance(max_frame_size, int):
        raise TypeError(f"max_frame_size must be an int, not {type(max_frame_size).__name__}")
    if not 0 < max_frame_size <= _MAX_BODY:
        raise ValueError(f"max_frame_size must be between 1 and 2**32 - 1, got {max_frame_size}")
    return max_frame_size


def encode_frame(msg: WireMessage) -> bytes:
    """Encode an envelope as one frame: its length as 4 big-endian bytes, then the body.

    Args:
        msg: The envelope to encode.

    Returns:
        The frame.

    Raises:
        WireEncodeError: ``msg`` cannot be encoded, or its encoding is 4 GiB or more.
    """
    try:
        body = get_codec_pool().encode(msg)
    except WireEncodeError:
        raise
    except _ENCODE_FAILURES as exc:
        raise _encode_error(exc) from exc
    if len(body) > _MAX_BODY:
        raise WireEncodeError(f"an envelope of {len(body)} bytes does not fit in one frame")
    return _LENGTH.pack(len(body)) + body


class FrameDecoder:
    """Incremental, sans-io frame decoder for one byte stream.

    Feed it the stream's bytes in whatever pieces they arrive; it buffers partial frames
    and returns each envelope once its frame is complete. Not thread-safe: use one
    decoder per stream, from one thread or task at a time.

    Errors:

    - A frame whose body does not decode is consumed and reported with
      :class:`~klaw_wire.WireDecodeError`; envelopes completed before it in the same
      call are kept and returned by the next call, and decoding continues after it.
    - A length above ``max_frame_size`` raises :class:`~klaw_wire.FrameTooLargeError`
      at once. The stream cannot be resynchronised after that: the next call returns
      envelopes completed before the bad frame, if any, and every later call raises
      :class:`~klaw_wire.WireDecodeError`.

    Args:
        max_frame_size: Largest frame body accepted, in bytes.

    Raises:
        TypeError: ``max_frame_size`` is not an ``int``.
        ValueError: ``max_frame_size`` is not between 1 and 2**32 - 1.
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self._max_frame_size = _check_max_frame_size(max_frame_size)
        self._buffer = bytearray()
        self._ready: list[WireEnvelope] = []
        self._failure: WireDecodeError | None = None
        self._codec = get_codec_pool()

    @property
    def max_frame_size(self) -> int:
        """Largest frame body accepted, in bytes."""
        return self._max_frame_size

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    @property
    def at_boundary(self) -> bool:
        """Whether the stream may end here: no partial frame is buffered."""
        return not self._buffer

    def feed(self, data: _Buffer) -> list[WireEnvelope]:
        """Add received bytes and return the envelopes completed by them.

        Args:
            data: The next bytes of the stream (may be empty).

        Returns:
            The completed envelopes in stream order, possibly none.

        Raises:
            FrameTooLargeError: A frame announces more than ``max_frame_size`` bytes.
            WireDecodeError: A frame's body is not a valid envelope, or an earlier
                ``FrameTooLargeError`` left the decoder unusable.
        """
        ready, self._ready = self._ready, []
        if self._failure is not None:
            if ready:
                return ready
            raise WireDecodeError(f"frame decoder stopped after an earlier error: {self._failure}")
        buf = self._buffer
        buf += _contiguous(data)
        consumed = 0
        try:
            with memoryview(buf) as view:
                end = len(view)
                while end - consumed >= FRAME_HEADER_SIZE:
                    (size,) = _LENGTH.unpack_from(view, consumed)
                    if size > self._max_frame_size:
                        self._failure = FrameTooLargeError(
                            size=size, max_frame_size=self._max_frame_size
                        )
                        raise self._failure
                    stop = consumed + FRAME_HEADER_SIZE + size
                    if stop > end:
                        break
                    body = view[consumed + FRAME_HEADER_SIZE : stop].tobytes()
                    consumed = stop
                    ready.append(self._codec.decode(body))
        except WireDecodeError:
            self._ready = ready
            raise
        finally:
            del buf[:consumed]
        return ready

    def __repr__(self) -> str:
        return f"FrameDecoder(max_frame_size={self._max_frame_size}, buffered={self.buffered})"


async def read_envelope(
    reader: asyncio.StreamReader, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> WireEnvelope | None:
    """Read one framed envelope from an asyncio stream.

    Cancellation: if the call is cancelled after part of a frame was read, the stream
    is left mid-frame and must not be read with this function again.

    Args:
        reader: The stream to read from.
        max_frame_size: Largest frame body accepted, in bytes.

    Returns:
        The envelope, or ``None`` when the stream ended cleanly at a frame boundary.

    Raises:
        FrameTooLargeError: The frame announces more than ``max_frame_size`` bytes;
            raised before any of its body is read.
        WireDecodeError: The stream ended inside a frame, or the body is not a valid
            envelope.
        OSError: The transport failed (as raised by ``reader``).
    """
    _check_max_frame_size(max_frame_size)
    try:
        header = await reader.readexactly(FRAME_HEADER_SIZE)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise WireDecodeError(
            f"stream ended inside a frame header ({len(exc.partial)} of {FRAME_HEADER_SIZE} bytes)"
        ) from exc
    (size,) = _LENGTH.unpack(header)
    if size > max_frame_size:
        raise FrameTooLargeError(size=size, max_frame_size=max_frame_size)
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise WireDecodeError(
            f"stream ended inside a frame ({len(exc.partial)} of {size} body bytes)"
        ) from exc
    return get_codec_pool().decode(body)


async def write_envelope(writer: asyncio.StreamWriter, msg: WireMessage) -> None:
    """Write one envelope as a frame to an asyncio stream and wait for the buffer to drain.

    Concurrent calls on one writer must be serialised by the caller (frames are written
    whole, but ``drain`` from several tasks at once is not supported by asyncio).

    Args:
        writer: The stream to write to.
        msg: The envelope to send.

    Raises:
        WireEncodeError: ``msg`` cannot be encoded; nothing is written.
        OSError: The transport failed (as raised by ``writer.drain``).
    """
    writer.write(encode_frame(msg))
    await writer.drain()
