"""The Ray backend's handles: ``RaySender`` / ``RayReceiver`` and their reference variants.

Handles are small picklable objects (the actor handle, the channel's metadata and a handle
id), so they can be passed into Ray tasks and actors. A pickled copy *is* the same handle:
closing any copy closes it everywhere, so pass ``clone()``s to tasks that should each hold
the channel open. Per-process state (the call numbering that keeps one writer's values in
order, the reader id used in statistics) is created afresh in each process on first use.

Every Ray failure (the actor died, was killed or cannot be reached) surfaces as
:class:`~klaw_wire.ChannelBackendError`, which is a ``ChannelClosedError``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Generic, Self, TypeVar, overload

import msgspec
import ray
from ray.exceptions import RayError

from klaw_config import KlawConfig
from klaw_ray._arguments import check_batch_args, resolve_arguments
from klaw_ray._handles import ClosingHandle, IterableReceiver
from klaw_ray.ray import _pickling
from klaw_ray.ray._actor import RayChannelActor
from klaw_ray.ray._messages import (
    BatchResult,
    ChannelMetadata,
    GetRequest,
    PutRequest,
    SingleResult,
    decode_batch_result,
    decode_single_result,
    encode_answer_or_request,
)
from klaw_ray.ray._naming import actor_name, now_ms
from klaw_ray.ray._runtime import backend_error, current_node_id, ensure_ray
from klaw_ray.stats import ChannelStats
from klaw_types import Err, Ok, Result
from klaw_wire import (
    ChannelBackendError,
    ChannelClosed,
    ChannelClosedError,
    ChannelEmpty,
    ChannelFull,
    DataMessage,
    EndOfStreamError,
    HandleClosedError,
    PeerClosedError,
    WireHeader,
    get_codec_pool,
)

__all__ = [
    "RayReceiver",
    "RayReferenceReceiver",
    "RayReferenceSender",
    "RaySender",
    "ray_channel",
    "reference_channel",
]

_pickling.install()

T = TypeVar("T")

_RemoteActor: Any = ray.remote(RayChannelActor)

_CLOSED_ERRORS: dict[str, type[ChannelClosedError]] = {
    "ended": EndOfStreamError,
    "handle_closed": HandleClosedError,
    "peer_closed": PeerClosedError,
}
"""The exception each closed-channel status of an actor's answer raises."""


class _RayHandle(ClosingHandle):
    """What sender and receiver handles share: the actor, metadata and lifecycle."""

    __slots__ = (
        "_actor",
        "_batch_type",
        "_closed",
        "_handle_id",
        "_metadata",
        "_ready",
        "_value_type",
    )

    def __init__(
        self,
        actor: Any,
        metadata: ChannelMetadata,
        handle_id: str,
        ready: ray.ObjectRef[None] | None = None,
    ) -> None:
        self._actor = actor
        self._metadata = metadata
        self._handle_id = handle_id
        self._closed = False
        self._ready = ready
        self._value_type: Any = Any if metadata.value_type is None else metadata.value_type
        self._batch_type: Any = list[self._value_type]  # type: ignore[name-defined]

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy is the same handle. Its first call may reach the actor before the call
        # that registered it (calls from two processes are not ordered); the actor then
        # adopts it, as it adopts any open handle it has not heard of.
        return (type(self), (self._actor, self._metadata, self._handle_id))

    @property
    def _actor_name(self) -> str:
        return actor_name(self._metadata.name)

    def _backend_error(self, exc: BaseException) -> ChannelBackendError:
        metadata = self._metadata
        return backend_error(exc, self._actor_name, metadata.namespace, metadata.name)

    async def _call(self, ref: Any) -> Any:
        """Await an actor call, turning any Ray failure into ``ChannelBackendError``."""
        try:
            return await ref
        except RayError as exc:
            raise self._backend_error(exc) from exc

    async def _ensure_registered(self) -> None:
        """Wait for this handle's registration call, if it made one (before closing)."""
        if self._ready is not None:
            ready, self._ready = self._ready, None
            await self._call(ready)

    @property
    def _label(self) -> str:
        """How messages name the channel: by name, or as an unnamed Ray channel."""
        name = self._metadata.name
        return f"channel {name!r}" if name else "the Ray channel"

    def _closed_error(self, status: str, reason: str) -> ChannelClosedError:
        """The exception for a closed-channel status of the actor's answer."""
        error_type = _CLOSED_ERRORS.get(status, ChannelClosedError)
        return error_type(channel_id=self._metadata.name, detail=reason)

    async def stats(self) -> ChannelStats:
        """Return a snapshot of the channel's statistics (one actor call).

        Raises:
            ChannelBackendError: The actor cannot be reached.
        """
        stats: ChannelStats = await self._call(self._actor.stats.remote())
        return stats

    async def checkpoint(self) -> bytes:
        """Capture the channel's queued values and totals (not its handles).

        Returns:
            Bytes for :meth:`restore`, on this channel or on a new one of the same type
            (after the actor was lost, for instance).

        Raises:
            ChannelBackendError: The actor cannot be reached, or the channel carries
                references (which cannot be checkpointed).
        """
        state: bytes = await self._call(self._actor.get_checkpoint_state.remote())
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
        count: int = await self._call(self._actor.apply_checkpoint_state.remote(checkpoint))
        return count


class RaySender(_RayHandle, Generic[T]):
    """The sending end of a Ray channel. Implements :class:`~klaw_ray.Sender`.

    ``send`` and ``send_batch`` encode values with klaw-wire's codec pool into one
    ``DataMessage`` envelope per call; the actor checks them against the channel's value
    type and rejects a batch with any wrong-typed value whole.
    """

    __slots__ = ("_seq", "_writer")

    def __init__(
        self,
        actor: Any,
        metadata: ChannelMetadata,
        handle_id: str,
        ready: ray.ObjectRef[None] | None = None,
    ) -> None:
        super().__init__(actor, metadata, handle_id, ready)
        self._writer = uuid.uuid4().hex
        self._seq = 0

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error("handle_closed", "this sender is closed")

    def _encode(self, payload: Any, seq: int) -> bytes:
        header = WireHeader(channel_id=self._metadata.name, seq=seq, ts=now_ms())
        try:
            return get_codec_pool().encode(DataMessage(header=header, payload=payload))
        except (TypeError, msgspec.EncodeError) as exc:
            raise TypeError(
                f"cannot send to {self._label}: a value is not encodable: {exc}"
            ) from exc

    def _submit(self, values: list[Any], seq: int, block: bool) -> Any:
        """Start the actor call that queues ``values`` (one value: ``put_one``)."""
        single = len(values) == 1
        envelope = self._encode(values[0] if single else values, seq)
        request = encode_answer_or_request(
            PutRequest(self._handle_id, self._writer, block, msgspec.Raw(envelope))
        )
        if single:
            return self._actor.put_one.remote(request)
        return self._actor.put.remote(request)

    async def _put(self, values: list[Any], block: bool) -> SingleResult[T] | BatchResult[T]:
        self._check_open()
        # Number and submit the call before any await, so that calls made one after
        # another (even without waiting for each other) are numbered in that order.
        seq = self._seq
        ref = self._submit(values, seq, block)
        self._seq += 1
        try:
            answer = await self._call(ref)
        except asyncio.CancelledError:
            await asyncio.shield(self._withdraw(ref, seq))
            raise
        result: SingleResult[T] | BatchResult[T] = _decode_answer(answer, single=len(values) == 1)
        if result.status in _CLOSED_ERRORS:
            raise self._closed_error(result.status, result.error)
        if result.status == "invalid":
            raise TypeError(f"{self._label} rejected the value(s): {result.error}")
        return result

    async def _withdraw(self, ref: Any, seq: int) -> None:
        """Make sure a put whose caller was cancelled queues nothing it has not already."""
        try:
            await self._actor.withdraw.remote(self._writer, seq)
            await ref
        except RayError:
            pass  # the actor is gone: nothing can be queued any more

    def _chunks(self, values: list[Any]) -> list[list[Any]]:
        capacity = self._metadata.capacity
        if capacity is None or len(values) <= capacity:
            return [values]
        return [values[i : i + capacity] for i in range(0, len(values), capacity)]

    async def send(self, value: T) -> None:
        """Send ``value``, waiting while the channel is full.

        Raises:
            HandleClosedError: This sender is closed.
            PeerClosedError: Every receiver is closed.
            ChannelBackendError: The actor died or cannot be reached.
            TypeError: The value cannot be encoded, or does not match the channel's type.
        """
        await self._put([value], block=True)

    async def try_send(self, value: T) -> Result[None, ChannelFull | ChannelClosed]:
        """Send ``value`` only if the channel has room now (one actor call).

        Returns:
            ``Ok(None)``, ``Err(ChannelFull(...))`` or ``Err(ChannelClosed(...))``.

        Raises:
            ChannelBackendError: The actor died or cannot be reached.
            TypeError: The value cannot be encoded, or does not match the channel's type.
        """
        try:
            result = await self._put([value], block=False)
        except ChannelBackendError:
            raise
        except ChannelClosedError as exc:
            return Err(exc.to_struct())
        if result.status == "full":
            return Err(
                ChannelFull(channel_id=self._metadata.name, capacity=self._metadata.capacity or 0)
            )
        return Ok(None)

    async def send_batch(self, values: Iterable[T]) -> None:
        """Send ``values`` in order as one actor call (or one per ``capacity`` values).

        Each call is all-or-nothing: a batch with a wrong-typed value is rejected whole.

        Raises:
            HandleClosedError: This sender is closed (also for an empty batch).
            PeerClosedError: Every receiver is closed (also for an empty batch).
            ChannelBackendError: The actor died or cannot be reached.
            TypeError: A value cannot be encoded, or does not match the channel's type.
        """
        batch = list(values)
        if not batch:  # nothing to send, but say whether sending is possible (one call)
            await self._put([], block=False)
            return
        for chunk in self._chunks(batch):
            await self._put(chunk, block=True)

    def clone(self) -> Self:
        """Return another sender handle, registered with the actor before its first use.

        Raises:
            HandleClosedError: This handle is closed.
        """
        self._check_open()
        handle_id = uuid.uuid4().hex
        ready = self._actor.add_sender.remote(handle_id)
        return type(self)(self._actor, self._metadata, handle_id, ready)

    async def close(self) -> None:
        """Close this handle (every pickled copy of it too). Idempotent.

        A channel whose actor is already gone counts as closed: no error is raised.
        """
        if self._closed:
            return
        self._closed = True
        try:
            await self._ensure_registered()
            await self._actor.close_sender.remote(self._handle_id)
        except (RayError, ChannelBackendError):
            pass


class RayReceiver(_RayHandle, IterableReceiver[T]):
    """The receiving end of a Ray channel. Implements :class:`~klaw_ray.Receiver`.

    Values arrive as one ``DataMessage`` envelope per call, decoded with a typed decoder
    cached by the codec pool.
    """

    __slots__ = ("_reader", "_request")

    def __init__(
        self,
        actor: Any,
        metadata: ChannelMetadata,
        handle_id: str,
        ready: ray.ObjectRef[None] | None = None,
    ) -> None:
        super().__init__(actor, metadata, handle_id, ready)
        self._reader = uuid.uuid4().hex
        self._request = 0

    async def _values(self, result: BatchResult[T]) -> list[T]:
        """The values a successful ``get`` carried (decoded; fetched for references)."""
        values: list[T] = get_codec_pool().decode_data(result.data, self._batch_type).payload
        return values

    async def _value(self, result: SingleResult[T]) -> T:
        """The value a successful ``get_one`` carried (decoded; fetched for references)."""
        value: T = get_codec_pool().decode_data(result.data, self._value_type).payload
        return value

    async def _get_one(self, wait: float | None) -> SingleResult[T]:
        result: SingleResult[T] = await self._request_values(None, wait)
        return result

    async def _get(self, max_items: int, wait: float | None) -> BatchResult[T]:
        result: BatchResult[T] = await self._request_values(max_items, wait)
        return result

    async def _request_values(self, max_items: int | None, wait: float | None) -> Any:
        """Call ``get`` (or ``get_one`` when ``max_items`` is None), cancellation-safe."""
        if self._closed:
            raise self._closed_error("handle_closed", "this receiver is closed")
        request = self._request
        self._request += 1
        encoded = encode_answer_or_request(
            GetRequest(
                self._handle_id, self._reader, current_node_id(), request, max_items or 1, wait
            )
        )
        method = self._actor.get_one if max_items is None else self._actor.get
        ref = method.remote(encoded)
        try:
            answer = await self._call(ref)
        except asyncio.CancelledError:
            await asyncio.shield(self._abandon(ref, request, single=max_items is None))
            raise
        return _decode_answer(answer, single=max_items is None)

    async def _abandon(self, ref: Any, request: int, *, single: bool) -> None:
        """Put back anything a get whose caller was cancelled had already taken."""
        try:
            await self._actor.abandon.remote(self._reader, request)
            result = _decode_answer(await ref, single=single)
            if result.status == "ok":
                await self._actor.requeue.remote(self._reader, result)
        except RayError:
            pass  # the actor is gone, and its queue with it

    async def recv(self) -> T:
        """Receive the next value, waiting while the channel is empty.

        Raises:
            EndOfStreamError: Every sender is closed and the channel is drained.
            HandleClosedError: This receiver is closed.
            ChannelBackendError: The actor died or cannot be reached.
        """
        while True:
            result = await self._get_one(None)
            if result.status == "ok":
                return await self._value(result)
            if result.status in _CLOSED_ERRORS:
                raise self._closed_error(result.status, result.error)

    async def try_recv(self) -> Result[T, ChannelEmpty | ChannelClosed]:
        """Receive a value only if one is queued now (one actor call).

        Returns:
            ``Ok(value)``, ``Err(ChannelEmpty(...))`` or ``Err(ChannelClosed(...))``.

        Raises:
            ChannelBackendError: The actor died or cannot be reached.
        """
        try:
            result = await self._get_one(0)
        except ChannelBackendError:
            raise
        except ChannelClosedError as exc:
            return Err(exc.to_struct())
        if result.status == "ok":
            return Ok(await self._value(result))
        if result.status in _CLOSED_ERRORS:
            return Err(self._closed_error(result.status, result.error).to_struct())
        return Err(ChannelEmpty(channel_id=self._metadata.name))

    async def recv_batch(self, max_items: int, timeout: float | None = None) -> list[T]:
        """Wait for at least one value (or the timeout), then take up to ``max_items``.

        All values taken travel in one actor call.

        Raises:
            TypeError: ``max_items`` is not an int.
            ValueError: ``max_items < 1`` or ``timeout < 0``.
            EndOfStreamError: Every sender is closed and the channel is drained.
            HandleClosedError: This receiver is closed.
            ChannelBackendError: The actor died or cannot be reached.
        """
        check_batch_args(max_items, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            result = await self._get(max_items, wait)
            if result.status == "ok":
                return await self._values(result)
            if result.status in _CLOSED_ERRORS:
                raise self._closed_error(result.status, result.error)
            if deadline is not None and time.monotonic() >= deadline:
                return []

    def clone(self) -> Self:
        """Return another receiver handle; receivers compete for values.

        Raises:
            HandleClosedError: This handle is closed.
        """
        if self._closed:
            raise self._closed_error("handle_closed", "this receiver is closed")
        handle_id = uuid.uuid4().hex
        ready = self._actor.add_receiver.remote(handle_id)
        return type(self)(self._actor, self._metadata, handle_id, ready)

    async def close(self) -> None:
        """Close this handle (every pickled copy of it too). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._ensure_registered()
            await self._actor.close_receiver.remote(self._handle_id)
        except (RayError, ChannelBackendError):
            pass


class RayReferenceSender(RaySender[T]):
    """A sender that puts each value in Ray's object store and sends only its reference.

    Use it for large payloads: the channel actor holds references, never the values, so
    its memory does not grow with them. Values are anything Ray can store; they are not
    checked against a value type.
    """

    __slots__ = ()

    def _submit(self, values: list[Any], seq: int, block: bool) -> Any:
        refs = [ray.put(value) for value in values]
        return self._actor.put_refs.remote(self._handle_id, self._writer, seq, refs, block)


class RayReferenceReceiver(RayReceiver[T]):
    """A receiver that fetches each referenced value from Ray's object store."""

    __slots__ = ()

    async def _values(self, result: BatchResult[T]) -> list[T]:
        try:
            values: list[T] = await asyncio.gather(*result.refs)
        except RayError as exc:
            raise self._backend_error(exc) from exc
        return values

    async def _value(self, result: SingleResult[T]) -> T:
        try:
            value: T = await result.ref
        except RayError as exc:
            raise self._backend_error(exc) from exc
        return value


def _decode_answer(answer: Any, *, single: bool) -> Any:
    """Decode an actor's answer into a ``SingleResult`` or ``BatchResult``.

    Reference channels answer with the struct itself (it carries object references).
    """
    if isinstance(answer, SingleResult | BatchResult):
        return answer
    return decode_single_result(answer) if single else decode_batch_result(answer)


_MAX_RESTARTS = 3


async def _open_actor(
    capacity: int | None,
    value_type: Any,
    name: str | None,
    namespace: str,
    config: KlawConfig,
    by_reference: bool,
    actor_options: Mapping[str, Any] | None = None,
) -> tuple[Any, ChannelMetadata, str, str]:
    """Create (or, for a name in use, attach to) a channel actor; register two handles."""
    ensure_ray(config)
    _pickling.check_shippable(value_type)
    sender_id, receiver_id = uuid.uuid4().hex, uuid.uuid4().hex
    options: dict[str, Any] = {
        "num_cpus": 0,
        "max_restarts": _MAX_RESTARTS,
        "max_task_retries": 0,
        "max_concurrency": config.ray.max_concurrency,
    }
    options.update(actor_options or {})
    if name is not None:
        options.update(
            name=actor_name(name),
            namespace=namespace,
            lifetime="detached",
            get_if_exists=True,
        )
    try:
        actor = _RemoteActor.options(**options).remote(
            capacity,
            value_type,
            name or "",
            namespace if name else "",
            [sender_id],
            [receiver_id],
            by_reference,
        )
        metadata: ChannelMetadata = await actor.metadata.remote()
        if name is not None:  # an existing actor ignored the ids passed to its constructor
            await actor.add_sender.remote(sender_id)
            await actor.add_receiver.remote(receiver_id)
    except RayError as exc:
        raise backend_error(exc, actor_name(name or ""), namespace, name or "") from exc
    expected = (capacity, value_type, by_reference)
    found = (metadata.capacity, metadata.value_type, metadata.by_reference)
    if found != expected:
        await actor.close_sender.remote(sender_id)
        await actor.close_receiver.remote(receiver_id)
        raise ValueError(
            f"channel {name!r} in namespace {namespace!r} already exists with "
            f"capacity={metadata.capacity}, value_type={metadata.value_type!r}, "
            f"by_reference={metadata.by_reference}; asked for capacity={capacity}, "
            f"value_type={value_type!r}, by_reference={by_reference}"
        )
    return actor, metadata, sender_id, receiver_id


async def ray_channel(
    capacity: int | None,
    *,
    value_type: Any = None,
    name: str | None = None,
    namespace: str,
    config: KlawConfig,
    actor_options: Mapping[str, Any] | None = None,
) -> tuple[RaySender[Any], RayReceiver[Any]]:
    """Create a Ray channel; most code calls :func:`klaw_ray.channel` instead.

    Args:
        capacity: Most values queued at once; ``None`` for unbounded.
        value_type: Type every value is checked against; ``None`` for any.
        name: Makes the channel a named, detached actor (attaches if it exists).
        namespace: Ray namespace of a named channel.
        config: The configuration (Ray address, actor concurrency).
        actor_options: Extra Ray actor options, e.g. ``{"resources": {"head": 0.01}}``
            or a ``scheduling_strategy`` to place the channel actor on a chosen node.

    Returns:
        ``(sender, receiver)``.

    Raises:
        ChannelBackendError: Ray could not be started, or the actor not created.
        UnshippableTypeError: ``value_type`` cannot be sent to Ray workers.
        ValueError: A channel of that name exists with another capacity or type.
    """
    actor, metadata, sender_id, receiver_id = await _open_actor(
        capacity, value_type, name, namespace, config, False, actor_options
    )
    return RaySender(actor, metadata, sender_id), RayReceiver(actor, metadata, receiver_id)


@overload
async def reference_channel(
    capacity: int | None = None,
    *,
    value_type: type[T],
    name: str | None = None,
    namespace: str | None = None,
    config: KlawConfig | None = None,
) -> tuple[RayReferenceSender[T], RayReferenceReceiver[T]]: ...


@overload
async def reference_channel(
    capacity: int | None = None,
    *,
    value_type: None = None,
    name: str | None = None,
    namespace: str | None = None,
    config: KlawConfig | None = None,
) -> tuple[RayReferenceSender[Any], RayReferenceReceiver[Any]]: ...


async def reference_channel(
    capacity: int | None = None,
    *,
    value_type: Any = None,
    name: str | None = None,
    namespace: str | None = None,
    config: KlawConfig | None = None,
) -> tuple[RayReferenceSender[Any], RayReferenceReceiver[Any]]:
    """Create a Ray channel that passes values by reference through the object store.

    Each value goes to the object store with ``ray.put``; the channel carries only the
    references, so a large payload never passes through the channel actor. Values are
    whatever Ray can store (they are not checked against ``value_type``, which serves
    static typing only). Reference channels cannot be checkpointed.

    Args:
        capacity: Most references queued at once; ``None`` takes ``channels.capacity``.
        value_type: The type of the values, for static typing.
        name: Makes the channel a named, detached actor (attaches if it exists).
        namespace: Ray namespace of a named channel; defaults to ``ray.namespace``.
        config: The configuration; loaded with ``load_config()`` when not given.

    Returns:
        ``(sender, receiver)``.

    Raises:
        ChannelBackendError: Ray could not be started, or the actor not created.
        ValueError: An argument is out of range, or the name is taken by another kind
            of channel.
    """
    capacity, name, namespace, config = resolve_arguments(
        capacity, name=name, namespace=namespace, unbounded=False, config=config
    )
    actor, metadata, sender_id, receiver_id = await _open_actor(
        capacity, None, name, namespace or config.ray.namespace, config, by_reference=True
    )
    return (
        RayReferenceSender(actor, metadata, sender_id),
        RayReferenceReceiver(actor, metadata, receiver_id),
    )
