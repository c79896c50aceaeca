"""Prometheus metrics: the exporter on a real Ray, scraped over loopback and parsed.

The Ray tests share the session's Ray instance; each starts the exporter on a free
loopback port and kills it afterwards, waiting until Ray no longer knows its name.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import msgspec
import pytest
import ray
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

import stage_functions
from channel_backends import wait_for_stats
from klaw_config import KlawConfig, TelemetryConfig
from klaw_ray import (
    LATENCY_BUCKETS,
    ChannelStats,
    LatencyHistogram,
    MetricsPortError,
    channel,
    delete_channel,
    stages,
    start_metrics_exporter,
)
from klaw_ray.ray._actor import RayChannelActor
from klaw_ray.ray._exporter import EXPORTER_NAME, EXPORTER_NAMESPACE, launch_metrics
from klaw_ray.ray._families import ChannelFigures, exporter_families, metric_families
from klaw_ray.ray._latency import LatencyRecorder, TraceSampler
from klaw_ray.ray._messages import (
    CloseRequest,
    GetRequest,
    PutRequest,
    ReserveRequest,
    decode_get_answer,
    decode_send_answer,
    encode_message,
)
from klaw_wire import DataMessage, WireHeader, get_codec_pool

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(base: KlawConfig, port: int, *, enabled: bool = True, rate: float = 1.0) -> KlawConfig:
    telemetry = TelemetryConfig(enabled=enabled, metrics_port=port, trace_sample_rate=rate)
    return msgspec.structs.replace(base, telemetry=telemetry)


def _exporter_exists() -> bool:
    try:
        ray.get_actor(EXPORTER_NAME, namespace=EXPORTER_NAMESPACE)
    except ValueError:
        return False
    return True


def _wait_until(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {seconds} s")
        time.sleep(0.05)


def _stop_exporter() -> None:
    if _exporter_exists():
        ray.kill(ray.get_actor(EXPORTER_NAME, namespace=EXPORTER_NAMESPACE), no_restart=True)
    _wait_until(lambda: not _exporter_exists(), "gone")


@pytest.fixture
def exporter(ray_config: KlawConfig) -> Iterator[tuple[KlawConfig, str]]:
    """A running exporter on a free port; yields its configuration and URL."""
    _stop_exporter()
    config = _config(ray_config, _free_port())
    url = start_metrics_exporter(config)
    assert url == f"http://127.0.0.1:{config.telemetry.metrics_port}/metrics"
    try:
        yield config, url
    finally:
        _stop_exporter()


def _parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return _parse(answer.read().decode())


def _of(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _channels(samples: Samples) -> set[str]:
    return {dict(labels)["channel"] for name, labels in samples if name == "klaw_channel_depth"}


def _check_against_stats(samples: Samples, label: str, stats: ChannelStats, namespace: str) -> None:
    at = {"channel": label, "namespace": namespace}
    assert _of(samples, "klaw_channel_values_sent_total", **at) == stats.total_sent
    assert _of(samples, "klaw_channel_values_received_total", **at) == stats.total_received
    assert _of(samples, "klaw_channel_depth", **at) == stats.size
    assert _of(samples, "klaw_channel_capacity", **at) == stats.capacity
    assert _of(samples, "klaw_channel_leased", **at) == stats.leased
    assert _of(samples, "klaw_channel_waiting_senders", **at) == stats.waiting_senders
    assert _of(samples, "klaw_channel_waiting_receivers", **at) == stats.waiting_receivers
    assert _of(samples, "klaw_channel_redelivered_total", **at) == stats.redelivered
    assert _of(samples, "klaw_channel_lost_senders_total", **at) == stats.lost_senders
    senders = _of(samples, "klaw_channel_open_handles", **at, kind="sender", node="unknown")
    assert senders == stats.open_senders
    receivers = sum(
        value
        for (name, labels), value in samples.items()
        if name == "klaw_channel_open_handles"
        and ("channel", label) in labels
        and ("kind", "receiver") in labels
    )
    assert receivers == stats.open_receivers
    for code, count in stats.errors.items():
        assert _of(samples, "klaw_channel_errors_total", **at, code=code) == count
    assert stats.calls  # every channel here was put to and read from
    for method, count in stats.calls.items():
        assert _of(samples, "klaw_channel_calls_total", **at, method=method) == count
    assert stats.latency is not None
    assert _of(samples, "klaw_channel_latency_seconds_count", **at) == stats.latency.count
    assert _of(samples, "klaw_channel_latency_seconds_sum", **at) == pytest.approx(
        stats.latency.sum
    )


@pytest.mark.anyio
async def test_every_channel_named_or_not_is_scraped_with_its_figures(
    exporter: tuple[KlawConfig, str],
) -> None:
    config, url = exporter
    name = f"metrics_{uuid.uuid4().hex[:8]}"
    named_tx, named_rx = await channel(64, backend="ray", value_type=int, name=name, config=config)
    tx, rx = await channel(16, backend="ray", value_type=int, config=config)
    unnamed = f"unnamed-{tx._metadata.key[:12]}"
    try:
        for value in range(40):
            await named_tx.send(value)
        await named_tx.flush()
        received = [await named_rx.recv() for _ in range(30)]
        assert received == list(range(30))
        assert len(await named_rx.recv_batch(4)) == 4
        # Its prefetch took all 40; the first 30 are acknowledged (beside its next get,
        # which waits in the actor), the last 4 and the 6 unread stay leased: then the
        # figures hold still while stats() and the scrape read them.
        await wait_for_stats(named_rx, lambda s: s.leased == 10 and s.waiting_receivers == 1)
        for value in range(7):
            await tx.send(value)
        await tx.flush()
        assert (await rx.try_recv()).unwrap() == 0  # its fetch leased all 7
        assert (await tx.try_send(99)).is_ok()
        await tx.flush()

        named_stats, stats = await named_rx.stats(), await rx.stats()
        samples = _scrape(url)
        assert {name, unnamed} <= _channels(samples)
        _check_against_stats(samples, name, named_stats, config.ray.namespace)
        _check_against_stats(samples, unnamed, stats, config.ray.namespace)
        assert (named_stats.size, named_stats.leased, named_stats.total_sent) == (0, 10, 40)
        assert (stats.size, stats.leased, stats.total_sent) == (1, 7, 8)

        # Every value handed to the caller was traced (rate 1.0); a receiver reports its
        # latencies with its next call, its close at the latest.
        await named_rx.close()
        named_stats = await named_tx.stats()
        assert named_stats.latency is not None
        assert named_stats.latency.count == 34
        samples = _scrape(url)
        _check_against_stats(samples, name, named_stats, config.ray.namespace)
        at = {"channel": name, "namespace": config.ray.namespace}
        assert _of(samples, "klaw_channel_latency_seconds_bucket", **at, le="+Inf") == 34
        assert _of(samples, "klaw_channel_values_received_total", **at) == 34
        # The closed receiver's unread values went back: the channel holds 6 again.
        assert _of(samples, "klaw_channel_depth", **at) == 6
    finally:
        for handle in (named_tx, named_rx, tx, rx):
            await handle.close()
        await delete_channel(name, config=config)


@pytest.mark.anyio
async def test_refusals_are_counted_by_error_code(exporter: tuple[KlawConfig, str]) -> None:
    config, url = exporter
    tx, rx = await channel(2, backend="ray", value_type=int, config=config)
    label = f"unnamed-{tx._metadata.key[:12]}"
    try:
        assert (await rx.try_recv()).is_err()  # empty
        assert (await tx.try_send(1)).is_ok()
        assert (await tx.try_send(2)).is_ok()
        assert (await tx.try_send(3)).is_err()  # full
        stats = await rx.stats()
        assert stats.errors.get("channel.empty") == 1
        assert stats.errors.get("channel.full", 0) >= 1
        samples = _scrape(url)
        _check_against_stats(samples, label, stats, config.ray.namespace)
    finally:
        await tx.close()
        await rx.close()


@pytest.mark.anyio
async def test_rate_zero_traces_nothing(exporter: tuple[KlawConfig, str]) -> None:
    config, url = exporter
    untraced = _config(config, config.telemetry.metrics_port, rate=0.0)
    tx, rx = await channel(32, backend="ray", value_type=int, config=untraced)
    label = f"unnamed-{tx._metadata.key[:12]}"
    async with tx:
        for value in range(20):
            await tx.send(value)
    assert [value async for value in rx] == list(range(20))
    await rx.close()
    stats = await tx.stats()
    assert stats.total_received == 20
    assert stats.errors == {}  # the end of the stream is no refusal
    assert stats.latency == LatencyHistogram(counts=(0,) * (len(LATENCY_BUCKETS) + 1))
    at = {"channel": label, "namespace": config.ray.namespace}
    assert _of(_scrape(url), "klaw_channel_latency_seconds_count", **at) == 0


@pytest.mark.anyio
async def test_a_deleted_channel_disappears_and_is_counted(
    exporter: tuple[KlawConfig, str],
) -> None:
    config, url = exporter
    name = f"metrics_gone_{uuid.uuid4().hex[:8]}"
    tx, rx = await channel(8, backend="ray", value_type=int, name=name, config=config)
    assert name in _channels(_scrape(url))
    dropped = _of(_scrape(url), "klaw_exporter_channels_dropped_total")
    await delete_channel(name, config=config)
    await tx.close()
    await rx.close()
    await asyncio.to_thread(
        _wait_until, lambda: name not in _channels(_scrape(url)), "dropped from the scrape"
    )
    assert _of(_scrape(url), "klaw_exporter_channels_dropped_total") == dropped + 1


@pytest.mark.anyio
async def test_an_unnamed_channel_whose_handles_all_closed_is_forgotten(
    exporter: tuple[KlawConfig, str],
) -> None:
    config, url = exporter
    tx, rx = await channel(8, backend="ray", value_type=int, config=config)
    label = f"unnamed-{tx._metadata.key[:12]}"
    await tx.close()
    assert label in _channels(_scrape(url))  # one handle still open
    await rx.close()
    assert label in _channels(_scrape(url))  # exposed once more, with its final figures
    assert label not in _channels(_scrape(url))


def test_a_second_start_finds_the_running_exporter(exporter: tuple[KlawConfig, str]) -> None:
    config, url = exporter
    other_port = _config(config, _free_port())
    assert start_metrics_exporter(other_port) == url  # one exporter per Ray instance


def test_telemetry_disabled_starts_no_exporter(ray_config: KlawConfig) -> None:
    _stop_exporter()
    assert start_metrics_exporter(_config(ray_config, _free_port(), enabled=False)) is None
    assert not _exporter_exists()


def test_a_port_in_use_is_a_clear_error_and_leaves_no_exporter(ray_config: KlawConfig) -> None:
    _stop_exporter()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        expected = rf"127\.0\.0\.1:{port} \(telemetry\.metrics_port"
        with pytest.raises(MetricsPortError, match=expected) as info:
            start_metrics_exporter(_config(ray_config, port))
    assert info.value.port == port
    _wait_until(lambda: not _exporter_exists(), "gone")


@pytest.mark.anyio
async def test_a_port_in_use_found_by_the_first_channel_fails_its_creation(
    ray_config: KlawConfig,
) -> None:
    _stop_exporter()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _config(ray_config, taken.getsockname()[1])
        launch_metrics(config)  # what klaw does when it starts Ray: it does not wait
        with pytest.raises(MetricsPortError, match=r"telemetry\.metrics_port"):
            await channel(4, backend="ray", value_type=int, config=config)
    await asyncio.to_thread(_wait_until, lambda: not _exporter_exists(), "gone")
    async with asyncio.timeout(60):  # no exporter now: channels work, without metrics
        tx, rx = await channel(4, backend="ray", value_type=int, config=config)
        async with tx:
            await tx.send(1)
        assert [value async for value in rx] == [1]
        await rx.close()


# --- without Ray: sampling, buckets and families ---------------------------------------


def test_the_sampler_picks_about_its_rate_reproducibly() -> None:
    sampler = TraceSampler(0.1, "writer")
    picks = [sampler.sample() for _ in range(100_000)]
    again = TraceSampler(0.1, "writer")
    assert picks == [again.sample() for _ in range(100_000)]
    assert 0.09 < sum(picks) / len(picks) < 0.11
    every = TraceSampler(1.0, "writer")
    assert all(every.sample() for _ in range(1000))
    with pytest.raises(ValueError, match="sample rate"):
        TraceSampler(0.0, "writer")


@given(rate=st.floats(0.001, 1.0), counts=st.lists(st.integers(0, 300), max_size=20))
def test_picks_for_a_batch_are_what_sampling_value_by_value_picks(
    rate: float, counts: list[int]
) -> None:
    by_batch, by_value = TraceSampler(rate, "writer"), TraceSampler(rate, "writer")
    for count in counts:
        picked = [index for index in range(count) if by_value.sample()]
        assert by_batch.picks(count) == picked


def test_latencies_fall_in_le_buckets_and_bad_reports_are_ignored() -> None:
    recorder = LatencyRecorder()
    recorder.observe([0.0005, 0.0006, 100.0, -1.0, math.nan, math.inf])
    histogram = recorder.snapshot()
    assert histogram.count == 3
    assert histogram.counts[0] == 1  # le="0.0005" includes its bound
    assert histogram.counts[1] == 1
    assert histogram.counts[-1] == 1  # above the last bound
    assert histogram.sum == pytest.approx(100.0011)


class _Fixed(Collector):
    def __init__(self, figures: list[ChannelFigures]) -> None:
        self._figures = figures

    def collect(self):  # type: ignore[no-untyped-def]
        yield from metric_families(self._figures)
        yield from exporter_families(len(self._figures), 2, 3, 0.25)


def test_families_render_as_valid_text_format() -> None:
    stats = ChannelStats(
        backend="ray",
        capacity=None,
        size=3,
        total_sent=10,
        total_received=7,
        open_senders=2,
        open_receivers=3,
        readers_per_node={"node-a": 2},
        errors={"channel.full": 4},
        calls={"put": 5, "get": 2},
        latency=LatencyHistogram(counts=(1,) + (0,) * len(LATENCY_BUCKETS), sum=0.0001),
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed([ChannelFigures("orders", "klaw", stats)]))
    samples = _parse(generate_latest(registry).decode())
    at = {"channel": "orders", "namespace": "klaw"}
    assert _of(samples, "klaw_channel_values_sent_total", **at) == 10
    assert ("klaw_channel_capacity", frozenset(at.items())) not in samples  # unbounded
    assert _of(samples, "klaw_channel_open_handles", **at, kind="receiver", node="node-a") == 2
    assert _of(samples, "klaw_channel_open_handles", **at, kind="receiver", node="unknown") == 1
    assert _of(samples, "klaw_channel_errors_total", **at, code="channel.full") == 4
    assert _of(samples, "klaw_channel_calls_total", **at, method="put") == 5
    assert _of(samples, "klaw_channel_calls_total", **at, method="get") == 2
    assert _of(samples, "klaw_channel_latency_seconds_bucket", **at, le="0.0005") == 1
    assert _of(samples, "klaw_channel_latency_seconds_bucket", **at, le="+Inf") == 1
    assert _of(samples, "klaw_exporter_channels_dropped_total") == 2
    assert _of(samples, "klaw_exporter_stats_failures_total") == 3


# --- the channel actor in-process: stamps and refusals ---------------------------------


def _get_request(
    request: int, wait: float, acked: list[int] | None = None, observed: list[float] | None = None
) -> bytes:
    get = GetRequest("r", "p", "node", request, 0, 10, wait, acked or [], None, observed or [])
    return encode_message(get)


@pytest.mark.anyio
async def test_the_actor_keeps_stamps_with_values_and_adds_up_reported_latencies() -> None:
    actor: RayChannelActor[int] = RayChannelActor(
        8, int, "test", "", senders=["s"], receivers=["r"], process="p"
    )
    try:
        reserve = ReserveRequest("s", "w", "p", 0, 3, 0, False, 0)
        assert decode_send_answer(await actor.reserve(encode_message(reserve))).granted >= 3
        envelope = get_codec_pool().encode(
            DataMessage(header=WireHeader(channel_id="test"), payload=[1, 2, 3])
        )
        stamps = [(0, 100.0), (2, 200.0), (7, 300.0)]  # index 7 is out of range: ignored
        put = PutRequest("s", "w", "p", 0, 0, 0, 0, msgspec.Raw(envelope), stamps)
        assert decode_send_answer(await actor.put(encode_message(put))).accepted == 3
        got = decode_get_answer(await actor.get(_get_request(0, 0.0)))
        assert got.stamps == [(0, 100.0), (2, 200.0)]
        idle = decode_get_answer(await actor.get(_get_request(1, 0.01, acked=got.ids)))
        assert idle.status == "empty"  # an idle poll that ended: not a refusal
        refused = _get_request(2, 0.0, observed=[0.002, math.nan, -1.0])
        assert decode_get_answer(await actor.get(refused)).status == "empty"  # a refusal
        await actor.close_receiver(encode_message(CloseRequest("r", "p", 0, observed=[0.02])))
        stats = await actor.stats()
        assert stats.latency is not None
        assert stats.latency.count == 2
        assert stats.latency.sum == pytest.approx(0.022)
        assert stats.errors == {"channel.empty": 1}
        late = decode_send_answer(await actor.put(encode_message(put)))
        assert late.status == "peer_closed"
        assert (await actor.stats()).errors == {"channel.empty": 1, "channel.peer_closed": 1}
    finally:
        await actor.close_all()


@pytest.mark.anyio
async def test_the_actor_counts_the_calls_it_answers_by_method() -> None:
    actor: RayChannelActor[int] = RayChannelActor(
        8, int, "test", "", senders=["s"], receivers=["r"], process="p"
    )
    try:
        assert (await actor.stats()).calls == {}
        reserve = ReserveRequest("s", "w", "p", 0, 3, 0, False, 0)
        await actor.reserve(encode_message(reserve))
        envelope = get_codec_pool().encode(
            DataMessage(header=WireHeader(channel_id="test"), payload=[1, 2, 3])
        )
        put = PutRequest("s", "w", "p", 0, 0, 0, 0, msgspec.Raw(envelope), [])
        await actor.put(encode_message(put))
        got = decode_get_answer(await actor.get(_get_request(0, 0.0)))
        assert got.status == "ok"
        refused = decode_get_answer(await actor.get(_get_request(1, 0.0, acked=got.ids)))
        assert refused.status == "empty"  # a refusal is a call answered all the same
        assert (await actor.put(b"\xc1")) != b""  # malformed: answered, and counted
        await actor.close_receiver(encode_message(CloseRequest("r", "p", 2)))
        stats = await actor.stats()
        assert stats.calls == {"reserve": 1, "put": 2, "get": 2, "close_receiver": 1}
        assert stats.total_sent / stats.calls["put"] == 1.5  # values per put, as documented
    finally:
        await actor.close_all()


@pytest.mark.anyio
async def test_the_local_backend_counts_no_calls() -> None:
    tx, rx = await channel(4, value_type=int, backend="local")
    async with tx, rx:
        await tx.send(1)
        assert await rx.recv() == 1
        assert (await tx.stats()).calls == {}


@pytest.mark.anyio
async def test_a_stage_is_scraped_with_its_values_and_failures(
    exporter: tuple[KlawConfig, str],
) -> None:
    config, url = exporter
    src_tx, src_rx = await channel(64, value_type=int, backend="ray", config=config)
    dl_tx, dl_rx = await channel(
        64, value_type=stages.DeadLetter[int], backend="ray", config=config
    )
    running = stages.stage(
        stage_functions.fail_on_sevens,
        src_rx,
        dead_letter=dl_tx,
        workers=2,
        name="scraped-stage",
        config=config,
    )

    async def produce() -> None:
        async with src_tx:
            for value in range(100):
                await src_tx.send(value)

    async def dead_letters() -> int:
        return len([letter async for letter in dl_rx])

    _, failed, stats = await asyncio.gather(produce(), dead_letters(), running.wait())
    assert failed == stats.failed == 10
    at = {"stage": "scraped-stage", "namespace": ray.get_runtime_context().namespace}

    def counted() -> bool:  # the workers' final figures reach the exporter asynchronously
        samples = _scrape(url)
        return (
            samples.get(("klaw_stage_values_in_total", frozenset(at.items()))) == 100
            and samples.get(("klaw_stage_failed_total", frozenset(at.items()))) == 10
        )

    await asyncio.to_thread(_wait_until, counted, "the stage's final figures")
    samples = _scrape(url)
    assert _of(samples, "klaw_stage_values_out_total", **at) == 90
    assert _of(samples, "klaw_stage_dead_lettered_total", **at) == 10
    assert _of(samples, "klaw_stage_workers", **at) == 0
