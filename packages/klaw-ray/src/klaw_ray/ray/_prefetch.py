"""``PrefetchWindow``: how many values a receiver fetches ahead of its caller.

A receiver that fetches too little waits for every batch (one actor round trip per
batch: on a plain ``async for`` the throughput is the window over the round trip); one
that fetches too much holds values that other receivers could be working on. No fixed
number is right for both a fast consumer and a slow one, so the window adapts, the way
a TCP receive window is tuned to what the reader takes:

- it starts small (:data:`INITIAL_WINDOW`, or the ceiling if lower);
- it **doubles** when the caller had to wait for a batch that came back full (it asked
  for the whole window and got it): the channel had values to give and the window was
  what held the consumer back;
- it **shrinks** by a quarter when a batch arrives while a quarter of the window or more
  is still unread: the consumer took less than that during a whole round trip, so values
  sit in its buffer that another receiver could take;
- it never exceeds ``ceiling`` (``channels.prefetch``) nor falls below
  :data:`SMALLEST_WINDOW` (or the ceiling if lower).

The next batch is fetched once the buffer falls to half the window, for what is missing
up to the window, so a steady consumer always has one fetch on its way.

It is plain state, used from one event loop; it makes no call itself.
"""

from __future__ import annotations

__all__ = ["INITIAL_WINDOW", "SMALLEST_WINDOW", "PrefetchWindow"]

INITIAL_WINDOW = 128
"""The window a receiver starts with (when ``channels.prefetch`` is larger)."""
SMALLEST_WINDOW = 16
"""The smallest window shrinking leaves (when ``channels.prefetch`` is larger)."""


class PrefetchWindow:
    """The adaptive prefetch bound of one receiver (see the module documentation).

    Args:
        ceiling: The most values fetched ahead (``channels.prefetch``), at least 1.

    Raises:
        ValueError: ``ceiling`` is less than 1.
    """

    __slots__ = ("_floor", "ceiling", "size")

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError(f"a prefetch ceiling must be at least 1, got {ceiling}")
        self.ceiling = ceiling
        self._floor = min(SMALLEST_WINDOW, ceiling)
        self.size = min(INITIAL_WINDOW, ceiling)

    def wanted(self, buffered: int) -> int:
        """Values to fetch now with ``buffered`` unread, or 0 while there are enough."""
        if buffered > self.size // 2:
            return 0
        return self.size - buffered

    def starved(self, asked: int, got: int) -> None:
        """The caller waited for a batch: grow if that batch came back full.

        Args:
            asked: Values the batch asked for.
            got: Values it brought.
        """
        if got >= asked >= self.size // 2:
            self.size = min(self.ceiling, self.size * 2)

    def arrived(self, unread: int) -> None:
        """A batch arrived while ``unread`` values were still in the buffer."""
        if unread > 0 and unread >= self.size // 4:
            self.size = max(self._floor, self.size - self.size // 4)
