"""The metrics exporter: one Ray actor per Ray instance serving every channel's figures.

The exporter is a detached actor (``klaw-metrics`` in the Ray namespace ``klaw``) that
serves the Prometheus text format with ``prometheus_client`` on
``127.0.0.1:<telemetry.metrics_port>/metrics`` of its node. Channels register with it
when they are created (named or not: an unnamed actor cannot be looked up by name); on
each scrape it asks every registered channel actor for its ``stats()``, all at once and
within a bounded time, and turns the answers into metric families
(:mod:`klaw_ray.ray._families`). A channel whose actor died for good is dropped and
counted; one that does not answer in time (busy, or restarting) is left out of that
scrape and counted, never failing the scrape. An unnamed channel whose handles are all
closed is exposed one last time, then forgotten: the exporter's handle on its actor
must not keep a channel alive that nobody can use any more.

Why not Ray's own metrics API (``ray.util.metrics``): it records through Ray's metrics
agent, which a plain ``pip install klaw-ray`` does not have (it comes with
``ray[default]``'s dashboard dependencies), and it exposes on Ray's metrics port, not
``telemetry.metrics_port``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import ray
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from ray.exceptions import ActorDiedError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from klaw_config import KlawConfig
from klaw_ray.ray._families import (
    ChannelFigures,
    StageFigures,
    exporter_families,
    metric_families,
    stage_families,
)
from klaw_ray.ray._messages import ChannelMetadata
from klaw_ray.stages._records import WorkerStats, worker_totals

__all__ = [
    "EXPORTER_NAME",
    "EXPORTER_NAMESPACE",
    "MetricsPortError",
    "launch_metrics",
    "register_channel",
    "register_stage_worker",
    "retire_stage_worker",
    "serve_metrics",
]

EXPORTER_NAME: Final = "klaw-metrics"
"""Ray actor name of the metrics exporter."""
EXPORTER_NAMESPACE: Final = "klaw"
"""Ray namespace of the metrics exporter (one per Ray instance, whatever the channels')."""
_HOST: Final = "127.0.0.1"
_STATS_TIMEOUT: Final = 2.0
"""Seconds a scrape waits for the channels' ``stats()`` answers, all together."""


class MetricsPortError(OSError):
    """The metrics endpoint could not listen on ``telemetry.metrics_port``.

    Attributes:
        port: The port asked for.
        cause: Why it could not listen (the operating system's message).
    """

    def __init__(self, port: int, cause: str) -> None:
        self.port = port
        self.cause = cause
        super().__init__(
            f"cannot serve metrics on {_HOST}:{port} (telemetry.metrics_port, "
            f"KLAW_TELEMETRY_METRICS_PORT): {cause}; choose a free port or set "
            "telemetry.enabled = false (KLAW_TELEMETRY_ENABLED=false)"
        )


@dataclass(slots=True)
class _Registered:
    channel: str
    namespace: str
    actor: Any
    named: bool


@dataclass(slots=True)
class _StageWorker:
    stage: tuple[str, str]  # (stage name, namespace)
    actor: Any
    last: WorkerStats | None = None


def _add(total: WorkerStats | None, figures: WorkerStats) -> WorkerStats:
    return figures if total is None else worker_totals((total, figures))


def _ask_stats(actors: dict[str, Any]) -> tuple[dict[str, Any], set[Any]]:
    """Ask every actor for its ``stats()`` at once; the calls, and those answered in time."""
    calls = {key: actor.stats.remote() for key, actor in actors.items()}
    ready, _ = ray.wait(list(calls.values()), num_returns=len(calls), timeout=_STATS_TIMEOUT)
    return calls, set(ready)


class _ChannelCollector(Collector):
    """Collects every registered channel's figures on each scrape (the server's thread)."""

    def __init__(self, exporter: _Exporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterable[Metric]:
        started = time.perf_counter()
        exporter = self._exporter
        with exporter.lock:
            registered = dict(exporter.channels)
        calls, answered = _ask_stats({key: entry.actor for key, entry in registered.items()})
        figures: list[ChannelFigures] = []
        dead: list[str] = []
        finished: list[str] = []
        failures = 0
        for key, call in calls.items():
            if call not in answered:
                failures += 1
                continue
            entry = registered[key]
            try:
                stats = ray.get(call)
            except ActorDiedError:  # gone for good: deleted, or out of restarts
                dead.append(key)
                continue
            except RayError:  # restarting, or a failure of this call only
                failures += 1
                continue
            figures.append(ChannelFigures(entry.channel, entry.namespace, stats))
            if not entry.named and stats.open_senders == 0 and stats.open_receivers == 0:
                finished.append(key)
        with exporter.lock:
            for key in (*dead, *finished):
                if exporter.channels.get(key) is registered[key]:
                    del exporter.channels[key]
            exporter.dropped += len(dead)
            exporter.failures += failures
            dropped, total_failures = exporter.dropped, exporter.failures
        yield from metric_families(figures)
        yield from stage_families(self._stages())
        yield from exporter_families(
            len(figures), dropped, total_failures, time.perf_counter() - started
        )

    def _stages(self) -> list[StageFigures]:
        """Every registered stage's totals: its gone workers' figures plus the live ones'."""
        exporter = self._exporter
        with exporter.lock:
            workers = dict(exporter.workers)
        calls, answered = _ask_stats({key: worker.actor for key, worker in workers.items()})
        with exporter.lock:
            for key, call in calls.items():
                worker = workers[key]
                if call not in answered:
                    continue
                try:
                    worker.last = ray.get(call)
                except RayError:  # the worker is gone: what it last reported stays counted
                    if exporter.workers.pop(key, None) is worker and worker.last is not None:
                        exporter.retired[worker.stage] = _add(
                            exporter.retired.get(worker.stage), worker.last
                        )
            totals = dict(exporter.retired)
            live: dict[tuple[str, str], int] = {}
            for worker in exporter.workers.values():
                live[worker.stage] = live.get(worker.stage, 0) + 1
                if worker.last is not None:
                    totals[worker.stage] = _add(totals.get(worker.stage), worker.last)
        return [
            StageFigures(
                stage, namespace, totals[(stage, namespace)], live.get((stage, namespace), 0)
            )
            for stage, namespace in sorted(totals)
        ]


class _Exporter:
    """The exporter actor (see the module documentation).

    A plain (threaded) actor: registrations run on the actor's thread, scrapes on the
    HTTP server's thread; one lock keeps the registry consistent between them.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.channels: dict[str, _Registered] = {}
        self.dropped = 0
        self.failures = 0
        self.workers: dict[str, _StageWorker] = {}
        self.retired: dict[tuple[str, str], WorkerStats] = {}
        self._port: int | None = None
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_ChannelCollector(self))

    def serve(self, port: int) -> tuple[int, str]:
        """Listen on ``127.0.0.1:port`` unless already serving.

        Returns:
            ``(port served, "")``, or ``(port, why)`` when it could not listen.
        """
        if self._port is not None:
            return self._port, ""
        try:
            start_http_server(port, addr=_HOST, registry=self._registry)
        except OSError as exc:
            return port, exc.strerror or str(exc)
        self._port = port
        return port, ""

    def register(self, key: str, channel: str, namespace: str, actor: Any, named: bool) -> None:
        """Scrape ``actor`` from now on as ``channel`` in ``namespace`` (idempotent)."""
        with self.lock:
            self.channels[key] = _Registered(channel, namespace, actor, named)

    def register_worker(self, key: str, stage: str, namespace: str, actor: Any) -> None:
        """Scrape the stage worker ``actor`` from now on, counted under ``stage``."""
        with self.lock:
            self.workers[key] = _StageWorker((stage, namespace), actor)

    def retire_worker(self, key: str, final: WorkerStats) -> None:
        """A stage worker finished with these figures: keep them, stop scraping it."""
        with self.lock:
            worker = self.workers.pop(key, None)
            if worker is not None:
                self.retired[worker.stage] = _add(self.retired.get(worker.stage), final)


_RemoteExporter: Any = ray.remote(_Exporter)


@dataclass(slots=True)
class _Known:
    """This process's view of its Ray instance's exporter."""

    job: str
    exporter: Any
    port: int
    starting: Any = None  # the ``serve`` call of a start not yet checked


_known: _Known | None = None


def _job() -> str:
    return str(ray.get_runtime_context().get_job_id())


def launch_metrics(config: KlawConfig) -> None:
    """Start the exporter (unless one runs) on this node, without waiting for it (Ray is up).

    Whether it could listen is checked by :func:`serve_metrics`, or by the next
    :func:`register_channel`, so that the exporter starts while the channel actors do.
    """
    global _known  # noqa: PLW0603 - one exporter per process and Ray session
    node = ray.get_runtime_context().get_node_id()
    exporter = _RemoteExporter.options(
        name=EXPORTER_NAME,
        namespace=EXPORTER_NAMESPACE,
        get_if_exists=True,
        lifetime="detached",
        num_cpus=0,
        max_restarts=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
    ).remote()
    port = config.telemetry.metrics_port
    _known = _Known(_job(), exporter, port, exporter.serve.remote(port))


def _settle(known: _Known, answer: tuple[int, str]) -> None:
    """Take the answer of a start's ``serve`` call; raise if it could not listen."""
    global _known  # noqa: PLW0603 - see launch_metrics
    port, error = answer
    known.starting = None
    if error:
        ray.kill(known.exporter, no_restart=True)
        _known = None
        raise MetricsPortError(port, error)
    known.port = port


def serve_metrics(config: KlawConfig) -> str:
    """Start the exporter unless one runs, wait until it listens; return its URL.

    See :func:`klaw_ray.start_metrics_exporter`, the public entry point.

    Raises:
        MetricsPortError: The port is in use; the exporter started for it is killed.
    """
    launch_metrics(config)
    known = _known
    assert known is not None
    _settle(known, ray.get(known.starting))
    return f"http://{_HOST}:{known.port}/metrics"


def _find_exporter() -> _Known | None:
    """This Ray instance's exporter, or ``None`` when none runs."""
    global _known  # noqa: PLW0603 - see launch_metrics
    job = _job()
    if _known is not None and _known.job == job:
        return _known
    try:
        exporter = ray.get_actor(EXPORTER_NAME, namespace=EXPORTER_NAMESPACE)
    except ValueError:  # Ray's way of saying "no such actor"
        return None
    _known = _Known(job, exporter, 0)
    return _known


async def register_channel(actor: Any, metadata: ChannelMetadata, namespace: str) -> None:
    """Make a new channel's figures scrapeable, when an exporter runs (else nothing).

    The first registration after klaw started the exporter waits until the exporter
    listens. Otherwise best effort: an exporter that died is forgotten, and the channel
    is not scraped.

    Args:
        actor: The channel's actor.
        metadata: The channel's metadata (its name, or for an unnamed channel its key,
            identifies it: an unnamed channel is labelled ``unnamed-<12 hex digits>``).
        namespace: The namespace of the process that created the channel.

    Raises:
        MetricsPortError: The exporter klaw started on connecting to Ray could not
            listen on ``telemetry.metrics_port``; it was killed, and this channel is not
            registered (the channel itself is open, and works).
    """
    global _known  # noqa: PLW0603 - see launch_metrics
    known = await asyncio.to_thread(_find_exporter)
    if known is None:
        return
    if metadata.name:
        key, label = f"{namespace}/{metadata.name}", metadata.name
    else:
        key, label = metadata.key, f"unnamed-{metadata.key[:12]}"
    try:
        if known.starting is not None:
            _settle(known, await known.starting)
        await known.exporter.register.remote(key, label, namespace, actor, bool(metadata.name))
    except RayError:  # the exporter is gone: no metrics, and no failure
        _known = None


async def register_stage_worker(key: str, stage: str, actor: Any) -> None:
    """Make a stage worker's figures scrapeable, when an exporter runs (best effort).

    Args:
        key: The worker's unique key (its actor id).
        stage: The stage's name (the ``stage`` label).
        actor: The worker actor (it answers ``stats()`` with :class:`WorkerStats`).
    """
    global _known  # noqa: PLW0603 - see launch_metrics
    known = await asyncio.to_thread(_find_exporter)
    if known is None:
        return
    namespace = ray.get_runtime_context().namespace
    try:
        await known.exporter.register_worker.remote(key, stage, namespace, actor)
    except RayError:  # the exporter is gone: no metrics, and no failure
        _known = None


def retire_stage_worker(key: str, final: WorkerStats) -> None:
    """Tell the exporter, if one runs, a stage worker's final figures (not waited for)."""
    known = _known
    if known is not None:
        known.exporter.retire_worker.remote(key, final)
