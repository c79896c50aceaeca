"""Named channels: find, list and delete channels that live as detached Ray actors.

``channel(..., backend="ray", name="orders")`` creates a named channel: a detached actor
named ``klaw-channel/orders`` in a Ray namespace, which outlives the process that made it
until :func:`delete_channel` removes it. Any driver connected to the same cluster can
attach to it with :func:`get_channel`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import ray
from ray.exceptions import RayError

from klaw_config import KlawConfig
from klaw_ray._arguments import resolve_arguments
from klaw_ray.ray._liveness import process_id
from klaw_ray.ray._messages import ChannelMetadata
from klaw_ray.ray._naming import CHANNEL_ACTOR_PREFIX, actor_name
from klaw_ray.ray._open import handle_options
from klaw_ray.ray._receiver import RayReceiver
from klaw_ray.ray._reference import RayReferenceReceiver, RayReferenceSender
from klaw_ray.ray._runtime import backend_error, ensure_ray
from klaw_ray.ray._sender import RaySender

__all__ = ["ChannelNotFoundError", "delete_channel", "get_channel", "list_channels"]


class ChannelNotFoundError(LookupError):
    """No named channel of that name exists in that namespace.

    Attributes:
        name: The channel name looked up.
        namespace: The namespace it was looked up in.
    """

    def __init__(self, name: str, namespace: str) -> None:
        self.name = name
        self.namespace = namespace
        super().__init__(f"no channel named {name!r} in Ray namespace {namespace!r}")


async def _find(
    name: str | None, namespace: str | None, config: KlawConfig | None
) -> tuple[Any, str, str, KlawConfig]:
    if name is None:
        raise ValueError("a channel name is required")
    _, name, namespace, config = resolve_arguments(
        None, name=name, namespace=namespace, unbounded=True, config=config
    )
    assert name is not None
    namespace = namespace or config.ray.namespace
    ensure_ray(config)
    full_name = actor_name(name)
    try:
        actor = await asyncio.to_thread(ray.get_actor, full_name, namespace=namespace)
    except ValueError as exc:  # Ray's way of saying "no such actor"
        raise ChannelNotFoundError(name, namespace) from exc
    return actor, full_name, namespace, config


async def get_channel(
    name: str, namespace: str | None = None, *, config: KlawConfig | None = None
) -> tuple[RaySender[Any], RayReceiver[Any]]:
    """Attach to a named channel and return a new sender and receiver for it.

    The handles are rebuilt from the actor's :class:`~klaw_ray.ChannelMetadata`
    (capacity, value type, whether it carries references) and registered with it, so
    the channel stays open for receivers until these handles are closed too.

    Args:
        name: The channel's name (an ``Identifier``).
        namespace: Its Ray namespace; defaults to ``ray.namespace`` from the configuration.
        config: The configuration; loaded with ``load_config()`` when not given.

    Returns:
        ``(sender, receiver)``: reference handles for a reference channel.

    Raises:
        ValueError: ``name`` or ``namespace`` is not valid.
        ChannelNotFoundError: No such channel exists.
        ChannelBackendError: Ray or the actor cannot be reached.
    """
    actor, full_name, namespace, config = await _find(name, namespace, config)
    sender, receiver = uuid.uuid4().hex, uuid.uuid4().hex
    try:
        metadata: ChannelMetadata = await actor.metadata.remote()
        await actor.register.remote("sender", sender, process_id())
        await actor.register.remote("receiver", receiver, process_id())
    except RayError as exc:
        raise backend_error(exc, full_name, namespace, name) from exc
    options = handle_options(config)
    if metadata.by_reference:
        return (
            RayReferenceSender(actor, metadata, sender, options=options),
            RayReferenceReceiver(actor, metadata, receiver, options=options),
        )
    return (
        RaySender(actor, metadata, sender, options=options),
        RayReceiver(actor, metadata, receiver, options=options),
    )


async def delete_channel(
    name: str, namespace: str | None = None, *, config: KlawConfig | None = None
) -> None:
    """Close every handle of a named channel and remove its actor.

    Receivers waiting on it get ``ChannelClosedError`` promptly; values still queued
    are dropped.

    Args:
        name: The channel's name.
        namespace: Its Ray namespace; defaults to ``ray.namespace``.
        config: The configuration; loaded with ``load_config()`` when not given.

    Raises:
        ValueError: ``name`` or ``namespace`` is not valid.
        ChannelNotFoundError: No such channel exists.
        ChannelBackendError: Ray or the actor cannot be reached.
    """
    actor, full_name, namespace, _ = await _find(name, namespace, config)
    try:
        await actor.close_all.remote()
        await asyncio.sleep(0.05)  # let waiting calls answer "closed" before the kill
        ray.kill(actor, no_restart=True)
    except RayError as exc:
        raise backend_error(exc, full_name, namespace, name) from exc


async def list_channels(
    namespace: str | None = None, *, config: KlawConfig | None = None
) -> list[str]:
    """Return the names of the named channels in a Ray namespace, sorted.

    Args:
        namespace: The Ray namespace; defaults to ``ray.namespace``.
        config: The configuration; loaded with ``load_config()`` when not given.

    Raises:
        ValueError: ``namespace`` is not valid.
    """
    _, _, namespace, config = resolve_arguments(
        None, name=None, namespace=namespace, unbounded=True, config=config
    )
    namespace = namespace or config.ray.namespace
    ensure_ray(config)
    actors = await asyncio.to_thread(ray.util.list_named_actors, all_namespaces=True)
    return sorted(
        entry["name"].removeprefix(CHANNEL_ACTOR_PREFIX)
        for entry in actors
        if entry["namespace"] == namespace and entry["name"].startswith(CHANNEL_ACTOR_PREFIX)
    )
