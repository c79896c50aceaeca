"""Starting or joining Ray for klaw, and turning Ray's failures into klaw errors."""

from __future__ import annotations

import os
import re
from typing import Final

import ray
from ray._private import ray_constants

from klaw_config import KlawConfig
from klaw_ray.ray._exporter import launch_metrics
from klaw_wire import ChannelBackendError

__all__ = [
    "LOOPBACK_ENVIRONMENT",
    "backend_error",
    "current_node_id",
    "describe_failure",
    "ensure_ray",
    "start_embedded_ray",
    "use_loopback_only",
]

LOOPBACK_ENVIRONMENT: Final = {
    # Bind and advertise 127.0.0.1 only: an embedded instance is no open door.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # Workers run in this very environment; do not package the working directory.
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}
"""Environment an embedded Ray instance is started with (inherited by its processes)."""

_QUIET_ENVIRONMENT: Final = {
    # Keep the GCS from growing with task events during long runs (unless set otherwise).
    "RAY_task_events_report_interval_ms": "0",
}


def use_loopback_only() -> None:
    """Make the Ray processes this process starts bind and advertise 127.0.0.1 only.

    Sets :data:`LOOPBACK_ENVIRONMENT` (so Ray's own processes and workers inherit it)
    and the two Ray settings that Ray reads from it when first imported, since Ray may
    already be imported by the time an embedded instance is started. Call it before
    ``ray.init()`` (or ``ray.cluster_utils.Cluster``) starts a local instance.
    """
    os.environ.update(LOOPBACK_ENVIRONMENT)
    for key, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    ray_constants.ENABLE_RAY_CLUSTER = False
    ray_constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV = False


def start_embedded_ray(namespace: str, *, num_cpus: int | None = None) -> None:
    """Start a new single-node Ray instance in this process, on 127.0.0.1 only.

    Always a new instance (``address="local"``): never one that another process left
    running, which ``ray.init()`` without an address would join. No dashboard.

    Args:
        namespace: The Ray namespace of this driver.
        num_cpus: CPUs the node offers; ``None`` lets Ray count them.
    """
    use_loopback_only()
    ray.init(
        address="local",
        num_cpus=num_cpus,
        namespace=namespace,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )


def ensure_ray(config: KlawConfig) -> bool:
    """Connect to Ray unless this process already is, following ``config.ray``.

    With ``ray.address`` unset, start an embedded single-node instance that listens on
    127.0.0.1 only, with no dashboard. Otherwise join the cluster at that address.

    With ``telemetry.enabled``, a Ray that this call started or joined also gets the
    metrics exporter (:func:`~klaw_ray.start_metrics_exporter`), started without
    waiting for it: the first channel created checks that it listens.

    Args:
        config: The configuration (``ray.address``, ``ray.namespace``).

    Returns:
        ``True`` if this call started or joined Ray, ``False`` if it was already running.

    Raises:
        ChannelBackendError: Ray could not be started or reached.
    """
    if ray.is_initialized():
        return False
    try:
        if config.ray.address is None:
            start_embedded_ray(config.ray.namespace)
        else:
            ray.init(address=config.ray.address, namespace=config.ray.namespace)
    except Exception as exc:  # Ray raises many unrelated types when it cannot start
        raise ChannelBackendError(
            backend="ray",
            cause=f"{type(exc).__name__}: {exc}",
            namespace=config.ray.namespace,
        ) from exc
    if config.telemetry.enabled:
        launch_metrics(config)  # checked when the first channel registers with it
    return True


_ANSI_ESCAPE: Final = re.compile(r"\x1b\[[0-9;]*m")


def describe_failure(exc: BaseException) -> str:
    """One readable line for a Ray failure: the remote exception when there is one.

    A ``RayTaskError`` wraps what the actor raised; its own text starts with a colored
    traceback header, so the wrapped exception is named instead. Otherwise the first line
    of the message is kept, with the last line naming an error (the root cause in a
    multi-line report such as "the actor died ... No module named 'x'") appended.
    """
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and cause is not exc:
        return f"{type(cause).__name__}: {cause}"
    lines = [line.strip() for line in _ANSI_ESCAPE.sub("", str(exc)).splitlines()]
    lines = [line for line in lines if line]
    summary = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    root = next((line for line in reversed(lines[1:]) if "Error" in line), None)
    return summary if root is None else f"{summary} ({root})"


def backend_error(
    exc: BaseException, actor_name: str, namespace: str, channel_id: str = "", detail: str = ""
) -> ChannelBackendError:
    """Describe a Ray failure reaching a channel actor as a ``ChannelBackendError``."""
    return ChannelBackendError(
        channel_id=channel_id,
        backend="ray",
        cause=describe_failure(exc),
        actor_name=actor_name,
        namespace=namespace,
        detail=detail,
    )


_node_id: str | None = None


def current_node_id() -> str:
    """Return the id of the Ray node this process runs on (cached)."""
    global _node_id  # noqa: PLW0603 - a process never changes node
    if _node_id is None:
        _node_id = ray.get_runtime_context().get_node_id()
    return _node_id
