"""``async for`` over a receiver, shared by every backend's receiver class."""

from __future__ import annotations

from typing import Generic, TypeVar

from klaw_wire import ChannelBackendError, ChannelClosedError

__all__ = ["IterableReceiver"]

T = TypeVar("T")


class IterableReceiver(Generic[T]):
    """Makes a receiver iterable with ``async for``.

    Iteration ends when the channel closes cleanly (every sender closed, queue drained);
    a backend failure (``ChannelBackendError``) is raised, never taken for the end.
    """

    __slots__ = ()

    async def recv(self) -> T:
        """Receive the next value (provided by the receiver class)."""
        raise NotImplementedError

    def __aiter__(self) -> IterableReceiver[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.recv()
        except ChannelBackendError:
            raise
        except ChannelClosedError:
            raise StopAsyncIteration from None
