"""``channel()``: one call that opens a typed channel on either backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from klaw_ray._arguments import resolve_arguments
from klaw_ray.local import LocalReceiver, LocalSender, local_channel

if TYPE_CHECKING:
    from klaw_config import KlawConfig
    from klaw_ray.protocols import Receiver, Sender
    from klaw_ray.ray import RayReceiver, RaySender

__all__ = ["Backend", "DeliveryMode", "channel"]

T = TypeVar("T")

Backend = Literal["local", "ray"]
"""Where a channel lives: ``"local"`` (this event loop) or ``"ray"`` (a Ray actor)."""

DeliveryMode = Literal["at_least_once", "at_most_once"]
"""What a Ray channel promises when a receiver dies: see :func:`channel`."""


@overload
async def channel(
    capacity: int | None = None,
    *,
    backend: Literal["local"] = "local",
    value_type: type[T],
    name: str | None = None,
    namespace: str | None = None,
    unbounded: bool = False,
    durable: bool | None = None,
    delivery: DeliveryMode | None = None,
    coalesce: bool | None = None,
    config: KlawConfig | None = None,
) -> tuple[LocalSender[T], LocalReceiver[T]]: ...


@overload
async def channel(
    capacity: int | None = None,
    *,
    backend: Literal["local"] = "local",
    value_type: None = None,
    name: str | None = None,
    namespace: str | None = None,
    unbounded: bool = False,
    durable: bool | None = None,
    delivery: DeliveryMode | None = None,
    coalesce: bool | None = None,
    config: KlawConfig | None = None,
) -> tuple[LocalSender[Any], LocalReceiver[Any]]: ...


@overload
async def channel(
    capacity: int | None = None,
    *,
    backend: Literal["ray"],
    value_type: type[T],
    name: str | None = None,
    namespace: str | None = None,
    unbounded: bool = False,
    durable: bool | None = None,
    delivery: DeliveryMode | None = None,
    coalesce: bool | None = None,
    config: KlawConfig | None = None,
) -> tuple[RaySender[T], RayReceiver[T]]: ...


@overload
async def channel(
    capacity: int | None = None,
    *,
    backend: Literal["ray"],
    value_type: Any = None,
    name: str | None = None,
    namespace: str | None = None,
    unbounded: bool = False,
    durable: bool | None = None,
    delivery: DeliveryMode | None = None,
    coalesce: bool | None = None,
    config: KlawConfig | None = None,
) -> tuple[RaySender[Any], RayReceiver[Any]]: ...


@overload
async def channel(
    capacity: int | None = None,
    *,
    backend: Backend,
    value_type: type[T],
    name: str | None = None,
    namespace: str | None = None,
    unbounded: bool = False,
    durable: bool | None = None,
    delivery: DeliveryMode | None = None,
    coalesce: bool | None = None,
    config: KlawConfig | None = None,
) -> tuple[Sender[T], Receiver[T]]: ...


@overload
async def channel(
    capacity: int | None = None,
    *,
    backend: Backend,
    value_type: Any = None,
    name: str | None = None,
    namespace: str | None = None,
    unbounded: bool = False,
    durable: bool | None = None,
    delivery: DeliveryMode | None = None,
    coalesce: bool | None = None,
    config: KlawConfig | None = None,
) -> tuple[Sender[Any], Receiver[Any]]: ...


async def channel(
    capacity: int | None = None,
    *,
    backend: Backend = "local",
    value_type: Any = None,
    name: str | None = None,
    namespace: str | None = None,
    unbounded: bool = False,
    durable: bool | None = None,
    delivery: DeliveryMode | None = None,
    coalesce: bool | None = None,
    config: KlawConfig | None = None,
) -> tuple[Sender[Any], Receiver[Any]]:
    """Open a bounded (or unbounded) typed channel and return its first two handles.

    Clone the handles for more producers or consumers; close every clone to end the
    stream. Defaults come from the klaw configuration (``channels.capacity``,
    ``ray.namespace``, ``ray.address``), loaded with :func:`klaw_config.load_config` when
    ``config`` is not given.

    Args:
        capacity: Most values queued at once, 1 to 1,000,000; ``None`` takes
            ``channels.capacity`` from the configuration.
        backend: ``"local"`` for an in-process asyncio channel (values are not copied) or
            ``"ray"`` for a channel held by a Ray actor (values travel as klaw-wire
            envelopes, validated against ``value_type``).
        value_type: The type of the values. On Ray every value is checked against it
            (msgspec's type system: builtins, containers, msgspec structs); ``None``
            accepts anything msgspec can encode. On the local backend it only informs
            static typing.
        name: A name for the channel. On Ray a name makes it a *named* channel: a
            detached actor that outlives this process and that :func:`get_channel` can
            find; opening an existing name attaches to it.
        namespace: The Ray namespace of a named channel; defaults to ``ray.namespace``.
        unbounded: Create a channel without a capacity limit (``capacity`` must be
            ``None``).
        durable: Ray only: keep the channel's state in an SQLite database on the
            actor's node, so that a restarted actor resumes with nothing lost; ``None``
            takes ``channels.durable``.
        delivery: Ray only: ``"at_least_once"`` leases each received value to its
            receiver until acknowledged and redelivers it if the receiver dies;
            ``"at_most_once"`` never redelivers. ``None`` takes ``channels.delivery``.
        coalesce: Ray only: ``True`` lets ``send`` return once the value is buffered
            (values travel in batches); ``False`` returns once it is in the channel.
            ``None`` takes ``channels.coalesce``.
        config: The configuration to use instead of loading one.

    Returns:
        ``(sender, receiver)``.

    Raises:
        ValueError: An argument is out of range (capacity, name, namespace, backend,
            delivery), ``unbounded`` was combined with a ``capacity``, or a Ray-only
            option was given for the local backend.
        klaw_config.ConfigError: No ``config`` was given and loading it failed.
        ChannelBackendError: The Ray backend could not start or reach its actor.
        MetricsPortError: The Ray backend started Ray with ``telemetry.enabled``, and
            the metrics endpoint could not listen on ``telemetry.metrics_port``.

    Example:
        >>> import asyncio
        >>> async def main() -> list[int]:
        ...     tx, rx = await channel(8, value_type=int)
        ...     async with tx:
        ...         await tx.send_batch([1, 2, 3])
        ...     return [value async for value in rx]
        >>> asyncio.run(main())
        [1, 2, 3]
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    if delivery not in (None, "at_least_once", "at_most_once"):
        raise ValueError(f"delivery must be 'at_least_once' or 'at_most_once', got {delivery!r}")
    capacity, name, namespace, config = resolve_arguments(
        capacity, name=name, namespace=namespace, unbounded=unbounded, config=config
    )
    if backend == "local":
        for option, given in (
            ("namespace", namespace),
            ("durable", durable),
            ("delivery", delivery),
            ("coalesce", coalesce),
        ):
            if given is not None:
                raise ValueError(f"{option} applies to the Ray backend only")
        return local_channel(capacity, name=name or "")
    from klaw_ray.ray import ray_channel  # noqa: PLC0415 - imports Ray

    return await ray_channel(
        capacity,
        value_type=value_type,
        name=name,
        namespace=namespace or config.ray.namespace,
        config=config,
        durable=durable,
        delivery=delivery,
        coalesce=coalesce,
    )
