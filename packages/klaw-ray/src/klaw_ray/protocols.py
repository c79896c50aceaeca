"""The channel protocols: what every backend's senders and receivers provide.

``Sender[T_contra]`` puts values in, so it is contravariant: a ``Sender[object]`` can stand
where a ``Sender[int]`` is expected. ``Receiver[T_co]`` hands values out, so it is
covariant: a ``Receiver[bool]`` can stand where a ``Receiver[int]`` is expected. The
protocols are backend-agnostic; :func:`klaw_ray.channel` returns the in-process or the Ray
implementation behind them.

Semantics shared by every backend:

* Values from one sender are received in the order that sender sent them.
* A channel closes for receivers once *every* sender handle (the original and all its
  clones) is closed; receivers then drain what is queued and get
  :class:`~klaw_wire.EndOfStreamError`, and ``async for`` ends. That is the only error
  ``async for`` treats as the end: every other one propagates.
* Once every receiver handle is closed, sends fail with
  :class:`~klaw_wire.PeerClosedError`.
* Nothing a send accepted is lost while the channel lives, and a cancelled ``send`` or
  ``recv`` neither loses nor duplicates a value.
* Using a handle after closing it raises :class:`~klaw_wire.HandleClosedError`; closing
  twice is a no-op.
* All three are :class:`~klaw_wire.ChannelClosedError` subclasses, and so is
  :class:`~klaw_wire.ChannelBackendError` (the backend failed): a consumer that stops at
  the end of the stream catches ``EndOfStreamError``, not ``ChannelClosedError``, so that a
  failure is not mistaken for the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from klaw_ray.stats import ChannelStats
    from klaw_types import Result
    from klaw_wire import ChannelClosed, ChannelEmpty, ChannelFull

__all__ = [
    "Receiver",
    "ReferenceReceiver",
    "ReferenceSender",
    "Sender",
]

T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)


@runtime_checkable
class Sender(Protocol[T_contra]):
    """The sending end of a channel of ``T`` values."""

    async def send(self, value: T_contra) -> None:
        """Send one value, waiting while the channel is full.

        A backend may return once the value is accepted for sending (buffered, with room
        reserved for it) rather than once it is in the channel: then a failure to
        deliver it is raised by the next call (``send``, ``flush`` or ``close``).

        Args:
            value: The value to send.

        Raises:
            HandleClosedError: This handle is closed.
            PeerClosedError: Every receiver is closed.
            ChannelBackendError: The backend failed (Ray: the actor died or is unreachable).
        """
        ...

    async def flush(self) -> None:
        """Return once every value sent before this call is in the channel.

        Raises:
            PeerClosedError: Every receiver closed before a value could be delivered.
            ChannelBackendError: The backend failed.
        """
        ...

    async def try_send(self, value: T_contra) -> Result[None, ChannelFull | ChannelClosed]:
        """Send one value if that needs no waiting.

        Args:
            value: The value to send.

        Returns:
            ``Ok(None)`` when the value was accepted, ``Err(ChannelFull(...))`` when the
            channel is full, ``Err(ChannelClosed(...))`` when it is closed.
        """
        ...

    async def send_batch(self, values: Iterable[T_contra]) -> None:
        """Send several values in order, waiting for room as needed.

        Args:
            values: The values to send.

        Raises:
            HandleClosedError: This handle is closed.
            PeerClosedError: Every receiver is closed.
        """
        ...

    def clone(self) -> Self:
        """Return a new sender handle on the same channel.

        The channel stays open for receivers until every clone is closed.

        Raises:
            HandleClosedError: This handle is already closed.
        """
        ...

    async def close(self) -> None:
        """Close this handle. Idempotent."""
        ...

    async def abort(self, reason: str) -> None:
        """Close this handle so that receivers see a failed stream instead of its end.

        What is already in the channel is still delivered; once every sender is closed
        and the channel is drained, receivers get :class:`~klaw_wire.SenderLostError`
        (its ``detail`` is ``reason``) in place of :class:`~klaw_wire.EndOfStreamError`.
        Does nothing on a closed handle.

        Raises:
            TypeError: ``reason`` is not a non-empty string.
        """
        ...

    async def stats(self) -> ChannelStats:
        """Return a snapshot of the channel's statistics."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class Receiver(Protocol[T_co]):
    """The receiving end of a channel of ``T`` values."""

    async def recv(self) -> T_co:
        """Receive one value, waiting while the channel is empty.

        Returns:
            The next value.

        Raises:
            EndOfStreamError: Every sender is closed and the queue is drained.
            HandleClosedError: This handle is closed.
            ChannelBackendError: The backend failed.
        """
        ...

    async def try_recv(self) -> Result[T_co, ChannelEmpty | ChannelClosed]:
        """Receive one value if one is ready.

        Returns:
            ``Ok(value)``, ``Err(ChannelEmpty(...))`` when nothing is queued, or
            ``Err(ChannelClosed(...))`` when the channel is closed and drained.
        """
        ...

    async def recv_batch(self, max_items: int, timeout: float | None = None) -> Sequence[T_co]:
        """Wait for at least one value or the timeout, then take up to ``max_items``.

        Args:
            max_items: The most values to return; at least 1.
            timeout: Seconds to wait for the first value; ``None`` waits indefinitely.

        Returns:
            Between 1 and ``max_items`` values, or ``[]`` when the timeout expired first.
            Every backend returns a ``list``; the protocol says ``Sequence`` so that a
            ``Receiver`` stays covariant in its value type.

        Raises:
            ValueError: ``max_items`` is below 1 or ``timeout`` is negative.
            EndOfStreamError: Every sender is closed and the queue is drained.
        """
        ...

    def clone(self) -> Self:
        """Return a new receiver handle on the same channel.

        Receivers compete: each value goes to exactly one of them.

        Raises:
            HandleClosedError: This handle is already closed.
        """
        ...

    async def close(self) -> None:
        """Close this handle. Idempotent."""
        ...

    async def stats(self) -> ChannelStats:
        """Return a snapshot of the channel's statistics."""
        ...

    def __aiter__(self) -> AsyncIterator[T_co]: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class ReferenceSender(Sender[T_contra], Protocol[T_contra]):
    """A sender that passes values by reference (Ray: through the object store).

    The channel itself carries only small references, so large payloads do not pass
    through (or grow) the channel's queue.
    """


@runtime_checkable
class ReferenceReceiver(Receiver[T_co], Protocol[T_co]):
    """A receiver that resolves values passed by reference into the values themselves."""
