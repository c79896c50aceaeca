"""Channel statistics as Prometheus metric families (names, labels, help texts).

Pure functions over :class:`~klaw_ray.ChannelStats` snapshots: the exporter
(:mod:`klaw_ray.ray._exporter`) gathers the snapshots, these name them. Every channel
family carries the labels ``channel`` and ``namespace``; counters are exposed with the
``_total`` suffix. The metrics guide lists every family.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from klaw_ray.stages._records import WorkerStats
from klaw_ray.stats import LATENCY_BUCKETS, ChannelStats, LatencyHistogram

__all__ = [
    "ChannelFigures",
    "StageFigures",
    "exporter_families",
    "metric_families",
    "stage_families",
]

_LABELS = ["channel", "namespace"]
_UNKNOWN_NODE = "unknown"


@dataclass(frozen=True, slots=True)
class ChannelFigures:
    """One channel's snapshot and the labels it is exposed under."""

    channel: str
    namespace: str
    stats: ChannelStats


_COUNTERS: tuple[tuple[str, str, Callable[[ChannelStats], float]], ...] = (
    ("values_sent", "Values the channel accepted from senders.", lambda s: s.total_sent),
    ("values_received", "Values handed to receivers.", lambda s: s.total_received),
    (
        "redelivered",
        "Values handed out again after their receiver died or their lease expired.",
        lambda s: s.redelivered,
    ),
    ("lost", "Values lost with a receiver that died (at-most-once mode).", lambda s: s.lost),
    (
        "lost_senders",
        "Sender handles whose process died without closing them.",
        lambda s: s.lost_senders,
    ),
)
_GAUGES: tuple[tuple[str, str, Callable[[ChannelStats], float]], ...] = (
    ("depth", "Values queued now, not counting those leased to receivers.", lambda s: s.size),
    ("high_watermark", "Most values ever held at once.", lambda s: s.high_watermark),
    ("waiting_senders", "Sends waiting for room now.", lambda s: s.waiting_senders),
    ("waiting_receivers", "Receives waiting for a value now.", lambda s: s.waiting_receivers),
    ("leased", "Values handed to receivers and not yet acknowledged.", lambda s: s.leased),
    (
        "reserved",
        "Room granted to senders and not yet used (buffered in handles or on their way).",
        lambda s: s.reserved,
    ),
    ("closed", "1 once every sender is closed, else 0.", lambda s: float(s.closed)),
)


def metric_families(channels: list[ChannelFigures]) -> Iterator[Metric]:
    """The ``klaw_channel_*`` families of these channels (each family once, all channels).

    Args:
        channels: The channels scraped, with their labels.

    Yields:
        One metric family per figure.
    """
    for name, documentation, figure in _COUNTERS:
        counter = CounterMetricFamily(f"klaw_channel_{name}", documentation, labels=_LABELS)
        for entry in channels:
            counter.add_metric([entry.channel, entry.namespace], figure(entry.stats))
        yield counter
    for name, documentation, figure in _GAUGES:
        gauge = GaugeMetricFamily(f"klaw_channel_{name}", documentation, labels=_LABELS)
        for entry in channels:
            gauge.add_metric([entry.channel, entry.namespace], figure(entry.stats))
        yield gauge
    capacity = GaugeMetricFamily(
        "klaw_channel_capacity",
        "Most values the channel holds (absent for an unbounded channel).",
        labels=_LABELS,
    )
    for entry in channels:
        if entry.stats.capacity is not None:
            capacity.add_metric([entry.channel, entry.namespace], entry.stats.capacity)
    yield capacity
    yield _open_handles(channels)
    yield _counts(
        channels,
        "errors",
        "Calls the channel actor refused, by error code.",
        "code",
        lambda s: s.errors,
    )
    yield _counts(
        channels,
        "calls",
        "Calls the channel actor received, by method (put, get, reserve, ack, ...).",
        "method",
        lambda s: s.calls,
    )
    yield _latency(channels)


def _counts(
    channels: list[ChannelFigures],
    name: str,
    documentation: str,
    label: str,
    counts: Callable[[ChannelStats], dict[str, int]],
) -> Metric:
    """The counter ``klaw_channel_<name>`` of each channel's ``counts``, one per ``label``."""
    counter = CounterMetricFamily(f"klaw_channel_{name}", documentation, labels=[*_LABELS, label])
    for entry in channels:
        for key, count in sorted(counts(entry.stats).items()):
            counter.add_metric([entry.channel, entry.namespace, key], count)
    return counter


def _open_handles(channels: list[ChannelFigures]) -> Metric:
    handles = GaugeMetricFamily(
        "klaw_channel_open_handles",
        "Open handles, by kind and by the Ray node they run on ('unknown' until known).",
        labels=[*_LABELS, "kind", "node"],
    )
    for entry in channels:
        stats, labels = entry.stats, [entry.channel, entry.namespace]
        handles.add_metric([*labels, "sender", _UNKNOWN_NODE], stats.open_senders)
        known = 0
        for node, count in sorted(stats.readers_per_node.items()):
            handles.add_metric([*labels, "receiver", node], count)
            known += count
        if stats.open_receivers > known or not stats.readers_per_node:
            handles.add_metric([*labels, "receiver", _UNKNOWN_NODE], stats.open_receivers - known)
    return handles


def _latency(channels: list[ChannelFigures]) -> Metric:
    histogram = HistogramMetricFamily(
        "klaw_channel_latency_seconds",
        "Send-to-receive latency of traced values (telemetry.trace_sample_rate).",
        labels=_LABELS,
    )
    for entry in channels:
        latency = entry.stats.latency or LatencyHistogram(counts=(0,) * (len(LATENCY_BUCKETS) + 1))
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*latency.bounds, None), latency.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound is None else repr(bound), running))
        histogram.add_metric([entry.channel, entry.namespace], buckets, latency.sum)
    return histogram


def exporter_families(
    channels: int, dropped: int, failures: int, seconds: float
) -> Iterator[Metric]:
    """The exporter's own ``klaw_exporter_*`` families.

    Args:
        channels: Channels whose figures this scrape exposes.
        dropped: Channels forgotten so far because their actor died for good.
        failures: ``stats()`` calls so far that did not answer in time or failed.
        seconds: How long this scrape took to gather the figures.

    Yields:
        One metric family per figure.
    """
    yield GaugeMetricFamily(
        "klaw_exporter_channels", "Channels exposed by this scrape.", value=channels
    )
    yield CounterMetricFamily(
        "klaw_exporter_channels_dropped",
        "Channels forgotten because their actor died for good.",
        value=dropped,
    )
    yield CounterMetricFamily(
        "klaw_exporter_stats_failures",
        "Channel stats() calls that did not answer within the scrape's bound, or failed.",
        value=failures,
    )
    yield GaugeMetricFamily(
        "klaw_exporter_scrape_duration_seconds",
        "Seconds the latest scrape took to gather the channels' figures.",
        value=seconds,
    )


@dataclass(frozen=True, slots=True)
class StageFigures:
    """One stage's totals (every worker it ran, live and gone) and its labels."""

    stage: str
    namespace: str
    totals: WorkerStats
    workers: int


_STAGE_COUNTERS: tuple[tuple[str, str, Callable[[WorkerStats], float]], ...] = (
    ("values_in", "Values the stage's workers received.", lambda w: w.values_in),
    ("values_out", "Results the stage's workers sent.", lambda w: w.values_out),
    ("failed", "Values whose function raised or ran past task_timeout.", lambda w: w.failed),
    ("dead_lettered", "Failed values sent to the dead-letter channel.", lambda w: w.dead_lettered),
    (
        "busy_seconds",
        "Seconds the stage's workers spent in its function.",
        lambda w: w.busy_seconds,
    ),
)


def stage_families(stages: list[StageFigures]) -> Iterator[Metric]:
    """The ``klaw_stage_*`` families: each Ray stage's totals, labelled ``stage``, ``namespace``.

    Args:
        stages: The stages whose workers registered, with their totals.

    Yields:
        One metric family per figure.
    """
    labels = ["stage", "namespace"]
    for name, documentation, figure in _STAGE_COUNTERS:
        counter = CounterMetricFamily(f"klaw_stage_{name}", documentation, labels=labels)
        for entry in stages:
            counter.add_metric([entry.stage, entry.namespace], figure(entry.totals))
        yield counter
    workers = GaugeMetricFamily(
        "klaw_stage_workers", "The stage's workers running now.", labels=labels
    )
    for entry in stages:
        workers.add_metric([entry.stage, entry.namespace], entry.workers)
    yield workers
