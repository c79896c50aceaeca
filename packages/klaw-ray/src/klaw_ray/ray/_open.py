"""Opening Ray channels: ``ray_channel`` and ``reference_channel``, and their actor."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal, overload

import ray
from ray.exceptions import RayError

from klaw_config import KlawConfig
from klaw_ray._arguments import resolve_arguments
from klaw_ray.ray import _pickling
from klaw_ray.ray._actor import RayChannelActor, actor_concurrency
from klaw_ray.ray._exporter import MetricsPortError, register_channel
from klaw_ray.ray._liveness import process_id
from klaw_ray.ray._messages import ChannelMetadata
from klaw_ray.ray._naming import actor_name
from klaw_ray.ray._receiver import RayReceiver
from klaw_ray.ray._reference import RayReferenceReceiver, RayReferenceSender
from klaw_ray.ray._runtime import backend_error, ensure_ray
from klaw_ray.ray._sender import RaySender

__all__ = ["handle_options", "open_actor", "ray_channel", "reference_channel"]

_pickling.install()


_RemoteActor: Any = ray.remote(RayChannelActor)
_MAX_RESTARTS = 3


DeliveryMode = Literal["at_least_once", "at_most_once"]


def handle_options(config: KlawConfig, coalesce: bool | None = None) -> dict[str, Any]:
    """The options handles of a channel carry (and pass on to their pickled copies)."""
    channels = config.channels
    return {
        "coalesce": channels.coalesce if coalesce is None else coalesce,
        "prefetch": channels.prefetch,
        "timeout": channels.timeout,
        "trace_sample_rate": (
            config.telemetry.trace_sample_rate if config.telemetry.enabled else 0.0
        ),
    }


async def open_actor(
    capacity: int | None,
    value_type: Any,
    name: str | None,
    namespace: str,
    config: KlawConfig,
    *,
    by_reference: bool = False,
    durable: bool | None = None,
    delivery: DeliveryMode | None = None,
    actor_options: Mapping[str, Any] | None = None,
) -> tuple[Any, ChannelMetadata, str, str]:
    """Create (or, for a name in use, attach to) a channel actor; register two handles.

    Returns:
        ``(actor, metadata, sender id, receiver id)``.

    Raises:
        ChannelBackendError: Ray could not be started, or the actor not created.
        UnshippableTypeError: ``value_type`` cannot be sent to Ray workers.
        ValueError: A channel of that name exists with other settings.
        MetricsPortError: klaw started Ray and its metrics exporter, which could not
            listen on ``telemetry.metrics_port``.
    """
    ensure_ray(config)
    _pickling.check_shippable(value_type)
    delivery = config.channels.delivery if delivery is None else delivery
    if durable and name is None:
        raise ValueError("a durable channel needs a name (its database is found by name)")
    if durable and by_reference:
        raise ValueError("a reference channel cannot be durable: its values live in Ray's store")
    if durable is None:  # channels.durable applies to named channels of values
        durable = config.channels.durable and name is not None and not by_reference
    sender_id, receiver_id = uuid.uuid4().hex, uuid.uuid4().hex
    limit = config.ray.max_concurrency
    options: dict[str, Any] = {
        "num_cpus": 0,
        "max_restarts": _MAX_RESTARTS,
        "max_task_retries": 0,
        "max_concurrency": actor_concurrency(limit),
    }
    options.update(actor_options or {})
    if name is not None:
        options.update(
            name=actor_name(name), namespace=namespace, lifetime="detached", get_if_exists=True
        )
    process = process_id()
    try:
        actor = _RemoteActor.options(**options).remote(
            capacity,
            value_type,
            name or "",
            namespace if name else "",
            [sender_id],
            [receiver_id],
            process,
            by_reference,
            delivery,
            config.channels.lease_seconds,
            durable,
            config.channels.storage_dir,
            limit,
        )
        metadata: ChannelMetadata = await actor.metadata.remote()
        if name is not None:  # an existing actor ignored the ids passed to its constructor
            await actor.register.remote("sender", sender_id, process)
            await actor.register.remote("receiver", receiver_id, process)
    except RayError as exc:
        raise backend_error(exc, actor_name(name or ""), namespace, name or "") from exc
    if config.telemetry.enabled:
        try:
            await register_channel(actor, metadata, namespace)
        except MetricsPortError:  # the caller gets no handles: none may stay open
            await actor.close_all_of.remote([sender_id, receiver_id])
            raise
    expected = (capacity, value_type, by_reference, delivery, durable)
    found = (
        metadata.capacity,
        metadata.value_type,
        metadata.by_reference,
        metadata.delivery,
        metadata.durable,
    )
    if found != expected:
        await actor.close_all_of.remote([sender_id, receiver_id])
        raise ValueError(
            f"channel {name!r} in namespace {namespace!r} already exists with "
            f"capacity={metadata.capacity}, value_type={metadata.value_type!r}, "
            f"by_reference={metadata.by_reference}, delivery={metadata.delivery!r}, "
            f"durable={metadata.durable}; asked for capacity={capacity}, "
            f"value_type={value_type!r}, by_reference={by_reference}, delivery={delivery!r}, "
            f"durable={durable}"
        )
    return actor, metadata, sender_id, receiver_id


async def ray_channel(
    capacity: int | None,
    *,
    value_type: Any = None,
    name: str | None = None,
    namespace: str,
    config: KlawConfig,
    durable: bool | None = None,
    delivery: DeliveryMode | None = None,
    coalesce: bool | None = None,
    actor_options: Mapping[str, Any] | None = None,
) -> tuple[RaySender[Any], RayReceiver[Any]]:
    """Create a Ray channel; most code calls :func:`klaw_ray.channel` instead.

    Args:
        capacity: Most values held at once; ``None`` for unbounded.
        value_type: Type every value is checked against; ``None`` for any.
        name: Makes the channel a named, detached actor (attaches if it exists).
        namespace: Ray namespace of a named channel.
        config: The configuration (Ray address, actor concurrency, ``channels.*``).
        durable: Keep the channel's state in SQLite on the actor's node; ``None`` takes
            ``channels.durable``.
        delivery: ``"at_least_once"`` or ``"at_most_once"``; ``None`` takes
            ``channels.delivery``.
        coalesce: Whether ``send`` returns once buffered (``True``) or once in the
            channel; ``None`` takes ``channels.coalesce``.
        actor_options: Extra Ray actor options, e.g. ``{"resources": {"head": 0.01}}``
            or a ``scheduling_strategy`` to place the channel actor on a chosen node.

    Returns:
        ``(sender, receiver)``.

    Raises:
        ChannelBackendError: Ray could not be started, or the actor not created (for a
            durable channel also: its database holds a channel with other settings).
        UnshippableTypeError: ``value_type`` cannot be sent to Ray workers.
        ValueError: A channel of that name exists with other settings, or ``durable``
            was asked for an unnamed channel.
        MetricsPortError: klaw started Ray, and its metrics endpoint could not listen
            on ``telemetry.metrics_port``.
    """
    actor, metadata, sender_id, receiver_id = await open_actor(
        capacity,
        value_type,
        name,
        namespace,
        config,
        durable=durable,
        delivery=delivery,
        actor_options=actor_options,
    )
    options = handle_options(config, coalesce)
    return (
        RaySender(actor, metadata, sender_id, options=options),
        RayReceiver(actor, metadata, receiver_id, options=options),
    )


@overload
async def reference_channel(
    capacity: int | None = None,
    *,
    value_type: type[Any],
    name: str | None = None,
    namespace: str | None = None,
    config: KlawConfig | None = None,
) -> tuple[RayReferenceSender[Any], RayReferenceReceiver[Any]]: ...


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
        capacity: Most references held at once; ``None`` takes ``channels.capacity``.
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
    actor, metadata, sender_id, receiver_id = await open_actor(
        capacity,
        None,
        name,
        namespace or config.ray.namespace,
        config,
        by_reference=True,
        durable=False,
    )
    options = handle_options(config)
    return (
        RayReferenceSender(actor, metadata, sender_id, options=options),
        RayReferenceReceiver(actor, metadata, receiver_id, options=options),
    )
