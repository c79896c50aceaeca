"""What every backend's handles share: ``async with`` and, for receivers, ``async for``."""

from __future__ import annotations

from types import TracebackType
from typing import Generic, Self, TypeVar

from klaw_wire import EndOfStreamError

__all__ = ["ClosingHandle", "IterableReceiver"]

T = TypeVar("T")


class ClosingHandle:
    """Makes a handle an async context manager that closes it on exit."""

    __slots__ = ()

    async def close(self) -> None:
        """Close the handle (provided by the handle class)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class IterableReceiver(ClosingHandle, Generic[T]):
    """Makes a receiver iterable with ``async for``.

    Iteration ends at the end of the stream (:class:`~klaw_wire.EndOfStreamError`: every
    sender closed, queue drained) and only there. Every other error propagates: a
    handle the caller closed (:class:`~klaw_wire.HandleClosedError`), a lost sender, a
    backend failure (:class:`~klaw_wire.ChannelBackendError`) are never taken for the end.
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
        except EndOfStreamError:
            raise StopAsyncIteration from None
