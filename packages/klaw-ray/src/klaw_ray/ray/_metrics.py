"""``start_metrics_exporter``: serve the channels' metrics from a program's own Ray."""

from __future__ import annotations

from klaw_config import KlawConfig, load_config
from klaw_ray.ray._exporter import serve_metrics
from klaw_ray.ray._runtime import ensure_ray

__all__ = ["start_metrics_exporter"]


def start_metrics_exporter(config: KlawConfig | None = None) -> str | None:
    """Serve every channel's metrics on ``telemetry.metrics_port``, unless already served.

    klaw calls this itself when it starts or joins Ray (``channel()``, ``get_channel``,
    ``klaw demo``); call it when your program started Ray itself with ``ray.init``.
    One exporter serves a whole Ray instance: the first call starts it on this process's
    node, later calls (from any process) find it, and channels created from then on,
    named or not, register with it. It blocks while the exporter starts (it is not a
    coroutine: call it before the event loop's work begins, or through
    ``asyncio.to_thread``). Safe to call from several processes at once: they all end
    up with the one exporter.

    Args:
        config: The configuration (``telemetry.*``, ``ray.*``); ``load_config()`` when
            not given. Connects to Ray as ``channel()`` does if this process is not yet.

    Returns:
        The endpoint's URL (``http://127.0.0.1:<port>/metrics``; the port of the running
        exporter when one was already started, whatever ``config`` says), or ``None``
        when ``telemetry.enabled`` is false.

    Raises:
        MetricsPortError: The port is in use (or not allowed); no exporter is left
            running, so a later call can try another port.
        ChannelBackendError: Ray could not be started or reached.
    """
    config = load_config() if config is None else config
    if not config.telemetry.enabled:
        return None
    ensure_ray(config)
    return serve_metrics(config)
