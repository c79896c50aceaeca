"""What Ray sender and receiver handles share: the actor, calls with retry, incarnations.

A handle is a small picklable object (the actor handle, the channel's metadata, a handle
id and its options), so it can be passed to Ray tasks and actors. A pickled copy *is*
the same handle: closing any copy closes it everywhere. What a handle does in one
process (its buffers, call numbering, the calls it has in flight) is created afresh in
each process on first use and never pickled.

Failures: every Ray failure surfaces as :class:`~klaw_wire.ChannelBackendError`. A call
that Ray reports *unavailable* (the actor is restarting, or its node cannot be reached)
is retried, pausing 0.05 s at first and up to 1 s between tries, for at most
``channels.timeout`` seconds from the first time Ray reported it (not from the start
of the call, which may have waited long for values): that is the setting's one
meaning. When the time is up the call raises ``ChannelBackendError`` naming the channel
and the setting. An actor that Ray reports dead for good (killed with
``no_restart=True``, or out of restarts) fails the call at once: there is nothing to
wait for. The actor applies a retried put at most once.

When the channel that answers is a new incarnation that lost its values (a channel that
is not durable), the handle raises
:class:`~klaw_wire.ChannelRestartedError`, and keeps raising it for every later call:
open new handles (for a named channel, :func:`~klaw_ray.get_channel`) to go on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Self

from ray.exceptions import ActorDiedError, RayActorError, RayError

from klaw_ray._cancellation import run_to_completion
from klaw_ray._handles import ClosingHandle
from klaw_ray.ray._core import SENDER_DIED
from klaw_ray.ray._liveness import attach_process, process_id
from klaw_ray.ray._messages import ChannelMetadata
from klaw_ray.ray._naming import actor_name
from klaw_ray.ray._runtime import backend_error
from klaw_ray.stats import ChannelStats
from klaw_wire import (
    ChannelBackendError,
    ChannelClosedError,
    ChannelRestartedError,
    EndOfStreamError,
    HandleClosedError,
    PeerClosedError,
    SenderLostError,
)

__all__ = ["RayHandle", "closed_error"]

_RETRY_PAUSE = (0.05, 1.0)
"""First and longest pause between retries of a call that failed while the actor restarts."""


def closed_error(status: str, channel_id: str, reason: str, lost_sender: str = "") -> Exception:
    """The exception of a closed-channel status of an actor's answer."""
    if status == "ended":
        return EndOfStreamError(channel_id=channel_id)
    if status == "sender_lost":
        detail = "" if reason in ("", SENDER_DIED) else reason  # aborted: say why
        return SenderLostError(channel_id=channel_id, sender_id=lost_sender, detail=detail)
    if status == "handle_closed":
        return HandleClosedError(channel_id=channel_id, detail=reason)
    if status == "peer_closed":
        return PeerClosedError(channel_id=channel_id, detail=reason)
    if status in ("busy", "invalid"):
        return ChannelBackendError(channel_id=channel_id, backend="ray", cause=reason)
    return ChannelClosedError(channel_id=channel_id, detail=reason)


class RayHandle(ClosingHandle):
    """The base of Ray sender and receiver handles.

    Args:
        actor: The channel's Ray actor handle.
        metadata: The channel's metadata, as the actor reported it.
        handle_id: This handle's id, shared by its pickled copies.
        ready: A registration call this handle made and must see answered before it
            closes (a clone registers itself).
        options: Handle options (``timeout``, ``coalesce``, ``prefetch``).
    """

    __slots__ = (
        "_actor",
        "_broken",
        "_clones",
        "_closed",
        "_handle_id",
        "_incarnation",
        "_metadata",
        "_options",
        "_ready",
        "_supervised",
        "_value_type",
    )

    def __init__(
        self,
        actor: Any,
        metadata: ChannelMetadata,
        handle_id: str,
        ready: Any = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._actor = actor
        self._metadata = metadata
        self._handle_id = handle_id
        self._ready = ready
        self._supervised = False  # a registration made again is made as the first was
        self._options = dict(options or {})
        self._closed = False
        self._broken: BaseException | None = None
        self._incarnation = metadata.incarnation
        self._clones: list[RayHandle] = []  # this process's clones, registered before a close
        self._value_type: Any = Any if metadata.value_type is None else metadata.value_type

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy is the same handle. Its first call may reach the actor before the call
        # that registered it (calls from two processes are not ordered); the actor then
        # adopts it, as it adopts any open handle it has not heard of.
        return (type(self), (self._actor, self._metadata, self._handle_id, None, self._options))

    @property
    def handle_id(self) -> str:
        """This handle's id (what the actor and its statistics call it)."""
        return self._handle_id

    @property
    def _timeout(self) -> float:
        return float(self._options.get("timeout", 30.0))

    @property
    def _label(self) -> str:
        """How messages name the channel: by name, or as an unnamed Ray channel."""
        name = self._metadata.name
        return f"channel {name!r}" if name else "the Ray channel"

    def _backend_error(self, exc: BaseException, detail: str = "") -> ChannelBackendError:
        metadata = self._metadata
        return backend_error(
            exc, actor_name(metadata.name), metadata.namespace, metadata.name, detail
        )

    def _attach(self) -> None:
        """Make the actor watch this process's liveness (once per incarnation)."""
        attach_process(self._actor, self._metadata.key, self._incarnation)

    async def _call(self, method: str, *args: Any) -> Any:
        """Call the actor, retrying while Ray reports it unavailable; Ray failures become ours.

        Cancelling the caller cancels the wait (and a pause between tries) at once.

        Raises:
            ChannelBackendError: The actor is dead for good (at once), or it was still
                unavailable ``channels.timeout`` seconds after Ray first reported it so
                (the error's ``detail`` names the setting and its value).
        """
        timeout = self._timeout
        deadline: float | None = None  # counted from the first failure, not the call's start
        pause = _RETRY_PAUSE[0]
        while True:
            try:
                return await getattr(self._actor, method).remote(*args)
            except ActorDiedError as exc:
                raise self._backend_error(exc, "its actor is gone for good") from exc
            except RayActorError as exc:  # unavailable (restarting, unreachable): try again
                now = time.monotonic()
                if deadline is None:
                    deadline = now + timeout
                if now + pause > deadline:
                    detail = f"did not answer again within channels.timeout = {timeout:g} s"
                    raise self._backend_error(exc, detail) from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, _RETRY_PAUSE[1])
            except RayError as exc:
                raise self._backend_error(exc) from exc

    def _check_answer(self, incarnation: int, status: str) -> None:
        """Compare an answer's incarnation with the handle's; adopt it or break.

        Raises:
            ChannelRestartedError: The channel restarted and lost its values (and every
                later call of this handle raises it too).
        """
        if self._broken is not None:
            raise self._broken
        if status != "restarted" and (incarnation == self._incarnation or not incarnation):
            return
        if self._metadata.durable and status != "restarted":
            self._incarnation = incarnation
            self._adopted_incarnation()
            return
        metadata = self._metadata
        self._broken = ChannelRestartedError(
            channel_id=metadata.name,
            backend="ray",
            incarnation=incarnation,
            actor_name=actor_name(metadata.name),
            namespace=metadata.namespace,
        )
        raise self._broken

    def _adopted_incarnation(self) -> None:
        """Hook: the durable channel restarted; re-attach liveness (and more in receivers)."""
        self._attach()

    def _check_usable(self) -> None:
        """Raise if this handle is closed or broken.

        Raises:
            HandleClosedError: The handle is closed.
            ChannelRestartedError: The channel restarted and lost its values.
        """
        if self._broken is not None:
            raise self._broken
        if self._closed:
            kind = "sender" if self._is_sender else "receiver"
            raise HandleClosedError(channel_id=self._metadata.name, detail=f"this {kind} is closed")

    _is_sender = False

    async def _ensure_registered(self) -> None:
        """Wait for this handle's registration call, if it made one.

        Called before a clone's first send and before any close, so that the channel
        counts the handle open before anything could end the stream without it. A
        registration lost to an actor restart is made again (retried like any call), a
        supervised one as supervised.
        """
        if self._ready is not None:
            ready, self._ready = self._ready, None
            try:
                await ready
            except RayActorError:
                kind = "sender" if self._is_sender else "receiver"
                await self._call(
                    "register",
                    kind,
                    self._handle_id,
                    process_id(),
                    self._incarnation,
                    self._supervised,
                )
            except RayError as exc:
                raise self._backend_error(exc) from exc

    def _registered_clone(self, *, supervised: bool = False) -> Self:
        """A new handle of the same kind, registered with the actor before its first use.

        The registration call is made now; the clone waits for its answer before its
        first send and before it closes, and this handle before it closes (so that the
        channel counts the clone open before anything could end the stream without it).

        Raises:
            HandleClosedError: This handle is closed.
        """
        self._check_usable()
        handle_id = uuid.uuid4().hex
        kind = "sender" if self._is_sender else "receiver"
        ready = self._actor.register.remote(
            kind, handle_id, process_id(), self._incarnation, supervised
        )
        clone = type(self)(self._actor, self._metadata, handle_id, ready, self._options)
        clone._supervised = supervised
        self._clones.append(clone)
        return clone

    async def _close_once(self) -> None:
        """Run this handle's ``_close`` once, to the end even if the caller is cancelled.

        A cancelled caller waits for the close to finish, then sees its cancellation.
        """
        if self._closed:
            return
        self._closed = True
        await run_to_completion(self._close())

    async def _close(self) -> None:
        """Close this handle at the actor (provided by senders and receivers)."""
        raise NotImplementedError

    async def _close_call(self, method: str, request: bytes) -> None:
        """Make a closing call, retried while the actor restarts; quiet if it is gone.

        Raises:
            ChannelRestartedError: Never: a handle of a lost incarnation closes quietly.
        """
        try:
            await self._ensure_registered()
            for clone in self._clones:  # counted open before this close could end the stream
                await clone._ensure_registered()
            self._clones.clear()
            await self._call(method, request)
        except ChannelBackendError:
            pass  # the channel is gone (or unreachable for the handle's timeout): closed

    async def stats(self) -> ChannelStats:
        """Return a snapshot of the channel's statistics (one actor call; works closed).

        Raises:
            ChannelBackendError: The actor cannot be reached.
        """
        stats: ChannelStats = await self._call("stats")
        return stats

    async def checkpoint(self) -> bytes:
        """Capture the values the channel holds (queued and leased) and its totals.

        Returns:
            Bytes for :meth:`restore`, on this channel or on a new one of the same type.

        Raises:
            ChannelBackendError: The actor cannot be reached, or the channel carries
                references (which cannot be checkpointed).
        """
        state: bytes = await self._call("get_checkpoint_state")
        return state

    async def restore(self, checkpoint: bytes) -> int:
        """Put a checkpoint's values back in front of the queue.

        Args:
            checkpoint: Bytes from :meth:`checkpoint`.

        Returns:
            How many values were restored.

        Raises:
            ChannelBackendError: The actor cannot be reached or rejected the checkpoint.
        """
        count: int = await self._call("apply_checkpoint_state", checkpoint)
        return count
