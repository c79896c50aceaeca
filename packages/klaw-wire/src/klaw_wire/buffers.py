"""``BufferPool``: reusable ``bytearray`` buffers for :meth:`CodecPool.encode_into`.

Encoding into a buffer that already has room avoids allocating a new ``bytes`` object
per message. The pool hands out buffers holding only zero bytes, takes them back wiped,
keeps at most ``max_pool`` of them, and drops any whose allocation grew beyond
``GROWTH_LIMIT`` times ``buffer_size`` while in use (one huge message must not pin
megabytes for the life of the process).

A reused buffer keeps the length of its allocation rather than being reset to
``buffer_size``: msgspec truncates the buffer to each message it writes, and CPython
gives the memory back when a ``bytearray`` shrinks below half its allocation, so
resetting the length on every release would reallocate twice per message. Kept at its
own size, a buffer serves a steady stream of similar messages with no allocation at all
(``tests/test_codec.py`` checks this with ``tracemalloc``).

The pool saves allocations, not time. Measured (``benchmarks/``, CPython 3.11, msgspec
0.22, 2-core VM): for a 205-byte message, acquire + ``encode_into`` + release takes about
3x as long as ``encode`` (a ``with`` block about 5x), and ``encode_into`` alone about
1.5x; for a 300 KB message ``encode_into`` a held buffer is on par with ``encode``. Use it
where allocator churn or memory peaks matter, not to speed up small messages.

Example:
    >>> from klaw_wire import Heartbeat, get_buffer_pool, get_codec_pool
    >>> pool, codec = get_buffer_pool(), get_codec_pool()
    >>> with pool as buf:
    ...     n = codec.encode_into(Heartbeat(), buf)
    ...     frame = bytes(buf[:n])
"""

from __future__ import annotations

from contextvars import ContextVar
from types import TracebackType
from typing import Final

__all__ = ["BufferPool", "get_buffer_pool"]

_HELD: ContextVar[tuple[tuple[BufferPool, bytearray], ...]] = ContextVar(
    "klaw_wire_held_buffers", default=()
)
"""Buffers taken with ``with pool as buf``, innermost last, per thread and per task."""


class BufferPool:
    """A bounded, thread-safe pool of ``bytearray`` buffers.

    :meth:`acquire` returns a pooled buffer, or a new one of ``buffer_size`` zero bytes
    when the pool is empty (it never blocks). :meth:`release` overwrites every byte the
    buffer's allocation holds with zeros and pools it, unless the pool already holds
    ``max_pool`` buffers or the allocation grew beyond ``GROWTH_LIMIT * buffer_size``;
    those are dropped for the garbage collector. No byte written by an earlier user is
    visible to the next. Write with ``encode_into(msg, buf)`` (offset 0 overwrites and
    truncates), or start with ``del buf[:]`` to append from empty.

    The pool is also a context manager: ``with pool as buf:`` acquires a buffer and
    releases it on exit, even on error. This works from many threads and many asyncio
    tasks at once: each thread and each task tracks its own buffers. It costs about
    1 microsecond more than calling :meth:`acquire` and :meth:`release` directly.

    Thread-safe without a lock: acquiring and pooling are single dictionary operations.
    Under concurrent releases the pool may briefly hold a few more than ``max_pool``
    buffers (at most one more per releasing thread).

    Args:
        buffer_size: Length, in bytes, of the buffers handed out.
        max_pool: How many released buffers to keep for reuse (0 keeps none).

    Raises:
        TypeError: An argument is not an ``int``.
        ValueError: ``buffer_size`` is below 1 or ``max_pool`` is negative.
    """

    GROWTH_LIMIT: Final = 4
    """A released buffer whose allocation exceeds this many times ``buffer_size``
    is dropped instead of pooled."""

    def __init__(self, buffer_size: int = 4096, max_pool: int = 64) -> None:
        for name, value in (("buffer_size", buffer_size), ("max_pool", max_pool)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be at least 1, got {buffer_size}")
        if max_pool < 0:
            raise ValueError(f"max_pool must not be negative, got {max_pool}")
        self._buffer_size = buffer_size
        self._max_pool = max_pool
        self._max_retained = buffer_size * self.GROWTH_LIMIT
        self._blank = bytes(buffer_size)
        self._zeros = memoryview(bytes(self._max_retained))
        # Pooled buffers by id: dict operations are atomic, so no lock is needed, and a
        # buffer released twice is found by its id (ids are unique while it is pooled).
        self._free: dict[int, bytearray] = {}

    @property
    def buffer_size(self) -> int:
        """Length, in bytes, of the buffers handed out."""
        return self._buffer_size

    @property
    def max_pool(self) -> int:
        """How many released buffers the pool keeps at most."""
        return self._max_pool

    @property
    def available(self) -> int:
        """How many buffers are pooled right now (a snapshot; other threads may change it)."""
        return len(self._free)

    def acquire(self) -> bytearray:
        """Take a buffer holding only zero bytes. Never blocks.

        Returns:
            A buffer that no one else holds until it is released: ``buffer_size`` zero
            bytes when new, as many zero bytes as its allocation holds when reused.
        """
        try:
            return self._free.popitem()[1]
        except KeyError:
            return bytearray(self._buffer_size)

    def release(self, buf: bytearray) -> None:
        """Give a buffer back. The caller must not use it afterwards.

        The buffer is wiped (its whole allocation set to zero bytes) and pooled, or
        dropped when the pool is full or the buffer grew beyond
        ``GROWTH_LIMIT * buffer_size``. A buffer that did not come from this pool is
        accepted like any other.

        Args:
            buf: The buffer to give back.

        Raises:
            TypeError: ``buf`` is not a ``bytearray``.
            ValueError: ``buf`` is already in the pool (released twice).
            BufferError: A ``memoryview`` of ``buf`` is still alive and wiping it needs a
                resize; it is then not pooled. Release views before releasing buffers.
        """
        if type(buf) is not bytearray:
            raise TypeError(f"buf must be a bytearray, not {type(buf).__name__}")
        key = id(buf)
        if key in self._free:
            raise ValueError("buffer released twice")
        capacity = buf.__alloc__() - 1  # the allocation keeps one byte for a trailing NUL
        if capacity > self._max_retained or len(self._free) >= self._max_pool:
            return
        if capacity == self._buffer_size:
            buf[:] = self._blank
        elif capacity > 0:
            # Zero the whole allocation, not only the visible part: the tail may hold an
            # earlier, longer message. Same size, so nothing is reallocated.
            buf[:] = self._zeros[:capacity]
        self._free[key] = buf

    def clear(self) -> None:
        """Drop every pooled buffer. Buffers currently held stay valid."""
        self._free.clear()

    def __enter__(self) -> bytearray:
        buf = self.acquire()
        _HELD.set((*_HELD.get(), (self, buf)))
        return buf

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        held = _HELD.get()
        if held and held[-1][0] is self:  # properly nested: the innermost entry is ours
            index = len(held) - 1
        else:
            index = next((i for i in reversed(range(len(held))) if held[i][0] is self), -1)
            if index < 0:
                raise RuntimeError("BufferPool.__exit__ called without a matching __enter__")
        _HELD.set(held[:index] + held[index + 1 :])
        self.release(held[index][1])

    def __repr__(self) -> str:
        return (
            f"BufferPool(buffer_size={self._buffer_size}, max_pool={self._max_pool}, "
            f"available={self.available})"
        )


_BUFFER_POOL: Final = BufferPool()


def get_buffer_pool() -> BufferPool:
    """Return the process-wide :class:`BufferPool` (4 KiB buffers, at most 64 pooled).

    Returns:
        The same pool on every call, from every thread.
    """
    return _BUFFER_POOL
