"""Stages on both backends: results, end of stream, failures, timeouts, cancellation.

The worker-death tests (a worker that ``os._exit``s mid-stream) and the Ray-only cases
run against the session's Ray instance.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import stage_functions as fns
from channel_backends import wait_for_stats
from klaw_config import ChannelDefaults, KlawConfig, RayConfig
from klaw_ray import (
    DeadLetter,
    LocalReceiver,
    LocalSender,
    Receiver,
    Sender,
    SenderLostError,
    Stage,
    StageCancelledError,
    StageFailedError,
    WorkerDiedError,
    channel,
    local_channel,
    stage,
)
from klaw_ray.stages._loop import ValueFailedError

pytestmark = pytest.mark.anyio

Opener = Callable[..., Any]


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def open_channel(request: pytest.FixtureRequest) -> Opener:
    """``await open_channel(capacity, value_type)`` on the parametrized backend."""
    if request.param == "local":

        async def local(capacity: int, value_type: Any = int) -> Any:
            return local_channel(capacity)

        return local
    config: KlawConfig = request.getfixturevalue("ray_config")

    async def on_ray(capacity: int, value_type: Any = int) -> Any:
        return await channel(capacity, value_type=value_type, backend="ray", config=config)

    return on_ray


def _config(request: pytest.FixtureRequest) -> KlawConfig | None:
    """The Ray configuration when the test runs on Ray (stages read their defaults there)."""
    if "ray_config" in request.fixturenames:
        config: KlawConfig = request.getfixturevalue("ray_config")
        return config
    return None


async def _produce(sender: Sender[Any], values: list[Any]) -> None:
    async with sender:
        for value in values:
            await sender.send(value)


async def _collect(receiver: Receiver[Any]) -> list[Any]:
    return [value async for value in receiver]


async def _drain_until_error(receiver: Receiver[Any]) -> tuple[list[Any], BaseException]:
    """Receive until the stream stops with an error; the values and that error."""
    values: list[Any] = []
    while True:
        try:
            values.append(await receiver.recv())
        except Exception as exc:
            return values, exc


async def _run(
    fn: Any,
    values: list[Any],
    open_channel: Opener,
    *,
    value_type: Any = int,
    result_type: Any = int,
    dead: bool = False,
    **options: Any,
) -> tuple[list[Any], list[Any], Any]:
    """Send ``values`` through a stage of ``fn``; the sink's values, dead letters, stats."""
    src_tx, src_rx = await open_channel(256, value_type)
    out_tx, out_rx = await open_channel(256, result_type)
    dl_tx, dl_rx = (None, None)
    if dead:
        dl_tx, dl_rx = await open_channel(256, DeadLetter[value_type])
    running = stage(fn, src_rx, out_tx, dead_letter=dl_tx, **options)
    collect_dead = _collect(dl_rx) if dl_rx is not None else asyncio.sleep(0, result=[])
    _, results, dead_letters, stats = await asyncio.gather(
        _produce(src_tx, values), _collect(out_rx), collect_dead, running.wait()
    )
    return results, dead_letters, stats


# --- results and the end of the stream --------------------------------------------------


async def test_results_reach_the_sink_and_the_end_of_the_stream_flows_through(
    open_channel: Opener, request: pytest.FixtureRequest
) -> None:
    values = list(range(2_000))
    results, _, stats = await _run(
        fns.double, values, open_channel, workers=2, config=_config(request)
    )
    assert sorted(results) == [2 * value for value in values]
    assert stats.state == "done"
    assert (stats.values_in, stats.values_out, stats.failed) == (2_000, 2_000, 0)
    assert len(stats.workers) == 2
    assert sum(worker.values_in for worker in stats.workers) == 2_000
    assert not any(worker.alive for worker in stats.workers)


async def test_typed_records_flow_from_orders_to_invoices(
    open_channel: Opener, request: pytest.FixtureRequest
) -> None:
    orders = [fns.Order(i, "SKU", 1 + i % 3, 2.5) for i in range(500)]
    results, _, _ = await _run(
        fns.price,
        orders,
        open_channel,
        value_type=fns.Order,
        result_type=fns.Invoice,
        workers=2,
        config=_config(request),
    )
    assert sorted(results, key=lambda invoice: invoice.order_id) == [
        fns.Invoice(order.order_id, order.quantity * order.price) for order in orders
    ]


async def test_an_async_function_is_awaited(
    open_channel: Opener, request: pytest.FixtureRequest
) -> None:
    results, _, _ = await _run(
        fns.double_async, list(range(300)), open_channel, workers=2, config=_config(request)
    )
    assert sorted(results) == [2 * value for value in range(300)]


@pytest.mark.parametrize("fn", [fns.explode, fns.explode_async], ids=["sync", "async"])
async def test_a_generator_sends_any_number_of_results_per_value(
    fn: Any, open_channel: Opener, request: pytest.FixtureRequest
) -> None:
    values = list(range(200))
    results, _, stats = await _run(fn, values, open_channel, workers=2, config=_config(request))
    expected = [value * 10 + part for value in values for part in range(value % 4)]
    assert sorted(results) == sorted(expected)
    assert stats.values_in == 200
    assert stats.values_out == len(expected)


async def test_a_stage_without_a_sink_runs_the_function_for_its_effect(
    open_channel: Opener, request: pytest.FixtureRequest
) -> None:
    src_tx, src_rx = await open_channel(64)
    running = stage(fns.double, src_rx, workers=1, config=_config(request))
    await _produce(src_tx, list(range(100)))
    stats = await running.wait()
    assert (stats.values_in, stats.values_out) == (100, 100)


# --- failures ---------------------------------------------------------------------------


async def test_failing_values_go_to_the_dead_letter_channel_with_their_error(
    open_channel: Opener, request: pytest.FixtureRequest
) -> None:
    values = list(range(1_000))  # 1 in 10 fails
    results, dead_letters, stats = await _run(
        fns.fail_on_sevens, values, open_channel, dead=True, workers=2, config=_config(request)
    )
    failing = [value for value in values if value % 10 == 7]
    assert sorted(results) == [2 * value for value in values if value % 10 != 7]
    assert sorted(letter.value for letter in dead_letters) == failing
    letter = dead_letters[0]
    assert isinstance(letter, DeadLetter)
    assert letter.error_type == "builtins.ValueError"
    assert letter.error_message == f"no sevens: {letter.value}"
    assert letter.stage == "fail_on_sevens"
    assert letter.deliveries == 1
    assert (stats.failed, stats.dead_lettered) == (len(failing), len(failing))


async def test_one_percent_failing_on_ray_every_failure_is_a_dead_letter_the_rest_arrive(
    ray_config: KlawConfig,
) -> None:
    values = list(range(5_000))
    results, dead_letters, stats = await _run(
        fns.fail_one_percent,
        values,
        _ray_opener(ray_config),
        dead=True,
        workers=2,
        config=ray_config,
    )
    failing = [value for value in values if value % 100 == 37]
    assert len(failing) == 50
    assert sorted(letter.value for letter in dead_letters) == failing
    assert {letter.error_message for letter in dead_letters} == {
        f"unlucky: {value}" for value in failing
    }
    assert sorted(results) == [2 * value for value in values if value % 100 != 37]
    assert (stats.values_in, stats.failed, stats.dead_lettered) == (5_000, 50, 50)


async def test_a_result_the_sink_refuses_is_that_values_failure(ray_config: KlawConfig) -> None:
    src_tx, src_rx = await channel(64, value_type=int, backend="ray", config=ray_config)
    out_tx, out_rx = await channel(64, value_type=int, backend="ray", config=ray_config)
    dl_tx, dl_rx = await channel(64, value_type=DeadLetter[int], backend="ray", config=ray_config)
    running = stage(fns.wrong_result, src_rx, out_tx, dead_letter=dl_tx, config=ray_config)
    _, results, dead_letters, _ = await asyncio.gather(
        _produce(src_tx, list(range(10))), _collect(out_rx), _collect(dl_rx), running.wait()
    )
    assert sorted(results) == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert [letter.value for letter in dead_letters] == [5]
    assert dead_letters[0].error_type == "builtins.TypeError"


async def test_a_failing_value_without_a_dead_letter_fails_the_stage_and_loses_nothing(
    ray_config: KlawConfig,
) -> None:
    src_tx, src_rx = await channel(256, value_type=int, backend="ray", config=ray_config)
    out_tx, out_rx = await channel(256, value_type=int, backend="ray", config=ray_config)
    keeper = src_rx.clone()  # reads what the failed stage left in the source
    running = stage(fns.fail_on_sevens, src_rx, out_tx, workers=1, config=ray_config)
    values = list(range(100))
    await _produce(src_tx, values)
    with pytest.raises(StageFailedError, match="no sevens") as failed:
        await running.wait()
    assert isinstance(failed.value.__cause__, ValueFailedError)
    assert running.state == "failed"
    results, end = await _drain_until_error(out_rx)
    assert isinstance(end, SenderLostError)
    assert "failed" in end.detail
    left = await _collect(keeper)  # the failing value and its chunk came back
    assert 7 in left
    processed = {result // 2 for result in results}
    assert processed | set(left) == set(values)


async def test_failure_without_dead_letter_on_a_local_stage(
    request: pytest.FixtureRequest,
) -> None:
    src_tx, src_rx = _local_ints(64)
    out_tx, out_rx = _local_ints(64)
    running = stage(fns.fail_on_sevens, src_rx, out_tx, workers=1)
    await _produce(src_tx, list(range(20)))
    with pytest.raises(StageFailedError, match="no sevens"):
        await running.wait()
    _, end = await _drain_until_error(out_rx)
    assert isinstance(end, SenderLostError)


async def test_a_sync_value_past_the_task_timeout_is_dead_lettered_and_the_rest_goes_on() -> None:
    try:
        results, dead_letters, _ = await _run(
            fns.stall_on_thirteen,
            list(range(40)),
            _local_opener,
            dead=True,
            workers=1,
            task_timeout=0.2,
        )
    finally:
        fns.RELEASE.set()  # let the abandoned thread finish
    assert sorted(results) == [2 * value for value in range(40) if value != 13]
    assert [letter.value for letter in dead_letters] == [13]
    assert dead_letters[0].error_type == "builtins.TimeoutError"
    assert "task_timeout of 0.2 s" in dead_letters[0].error_message


@pytest.mark.parametrize("fn", [fns.stall_on_thirteen_async, fns.sleep_on_thirteen])
async def test_a_value_past_the_task_timeout_on_ray_is_dead_lettered(
    fn: Any, ray_config: KlawConfig
) -> None:
    results, dead_letters, stats = await _run(
        fn,
        list(range(40)),
        _ray_opener(ray_config),
        dead=True,
        workers=1,
        task_timeout=0.5,
        config=ray_config,
    )
    assert sorted(results) == [2 * value for value in range(40) if value != 13]
    assert [letter.value for letter in dead_letters] == [13]
    assert dead_letters[0].error_type == "builtins.TimeoutError"
    assert stats.failed == 1


async def _local_opener(capacity: int, value_type: Any = int) -> Any:
    return local_channel(capacity)


def _local_ints(capacity: int) -> tuple[LocalSender[int], LocalReceiver[int]]:
    return local_channel(capacity)


def _ray_opener(config: KlawConfig) -> Opener:
    async def on_ray(capacity: int, value_type: Any = int) -> Any:
        return await channel(capacity, value_type=value_type, backend="ray", config=config)

    return on_ray


# --- cancellation -----------------------------------------------------------------------


def test_a_stage_left_running_when_its_event_loop_shuts_down_ends_cancelled_quietly() -> None:
    # asyncio.run cancels every task left when its main coroutine ends (as after a
    # SystemExit from a signal handler): the stage's task must end cancelled, not with
    # an exception the loop reports as unhandled.
    reported: list[dict[str, Any]] = []
    left: list[Stage] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(context))
        src: tuple[LocalSender[int], LocalReceiver[int]] = local_channel(64)
        out: tuple[LocalSender[int], LocalReceiver[int]] = local_channel(64)
        (src_tx, src_rx), (out_tx, out_rx) = src, out
        running = stage(fns.double, src_rx, out_tx, workers=2)
        left.append(running)
        await src_tx.send(21)
        assert await out_rx.recv() == 42  # moving; then main returns, the stage running

    asyncio.run(main())
    (running,) = left
    assert running.state == "cancelled"
    assert reported == []


async def test_cancel_runs_to_its_end_when_its_caller_is_cancelled_then_raises() -> None:
    src: tuple[LocalSender[int], LocalReceiver[int]] = local_channel(64)
    out: tuple[LocalSender[int], LocalReceiver[int]] = local_channel(64)
    (src_tx, src_rx), (out_tx, out_rx) = src, out
    running = stage(fns.double, src_rx, out_tx, workers=2)
    await src_tx.send(21)
    assert await out_rx.recv() == 42  # moving
    cancelling = asyncio.ensure_future(running.cancel())
    await asyncio.sleep(0)  # (a turn of the loop: cancel() has asked the stage to stop)
    assert not cancelling.done()
    cancelling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelling  # the caller's own cancellation, raised, not swallowed ...
    assert running.state == "cancelled"  # ... once the stop had run to its end
    with pytest.raises(StageCancelledError):
        await running.wait()
    await src_tx.close()


async def test_cancel_stops_the_workers_and_fails_the_sinks_stream(
    open_channel: Opener, request: pytest.FixtureRequest
) -> None:
    src_tx, src_rx = await open_channel(64)
    out_tx, out_rx = await open_channel(64)
    running = stage(fns.slow_double, src_rx, out_tx, workers=2, config=_config(request))
    producing = asyncio.ensure_future(_produce(src_tx, list(range(100_000))))
    received = await out_rx.recv()  # the stage is moving values
    assert received % 2 == 0
    await running.cancel()
    assert running.state == "cancelled"
    with pytest.raises(StageCancelledError):
        await running.wait()
    _, end = await _drain_until_error(out_rx)
    assert isinstance(end, SenderLostError)
    assert "cancelled" in end.detail
    await running.cancel()  # idempotent
    producing.cancel()
    with pytest.raises((asyncio.CancelledError, Exception)):
        await producing


async def test_a_stage_cancelled_as_it_starts_ends_the_sinks_stream(
    open_channel: Opener, request: pytest.FixtureRequest
) -> None:
    src_tx, src_rx = await open_channel(64)
    out_tx, out_rx = await open_channel(64)
    running = stage(fns.double, src_rx, out_tx, workers=2, config=_config(request))
    await asyncio.sleep(0)  # the stage is starting its workers
    await running.cancel()
    assert running.state == "cancelled"
    _, end = await asyncio.wait_for(_drain_until_error(out_rx), 60)
    assert isinstance(end, SenderLostError)  # no half-started worker keeps the stream open
    stats = await wait_for_stats(src_tx, lambda s: s.open_receivers == 0, timeout=60)
    assert stats.open_receivers == 0  # nor counts as a receiver of the source
    await src_tx.close()


async def test_stats_while_running_show_every_worker(ray_config: KlawConfig) -> None:
    src_tx, src_rx = await channel(64, value_type=int, backend="ray", config=ray_config)
    running = stage(fns.double, src_rx, workers=2, config=ray_config)
    async with src_tx:
        for value in range(50):
            await src_tx.send(value)
        await src_tx.flush()
        deadline = time.monotonic() + 60
        while (stats := await running.stats()).values_in < 50:
            assert time.monotonic() < deadline, stats
            await asyncio.sleep(0.01)
    assert stats.state == "running"
    assert [worker.index for worker in stats.workers] == [0, 1]
    assert all(worker.alive and worker.node_id for worker in stats.workers)
    final = await running.wait()
    assert final.values_in == 50


# --- worker death -----------------------------------------------------------------------


async def test_a_worker_that_dies_mid_stream_is_replaced_and_nothing_is_lost(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    marker = tmp_path / "died"
    count = 5_000
    values = list(range(count))
    results, _, stats = await _run(
        fns.die_once_at(str(marker), 2_500),
        values,
        _ray_opener(ray_config),
        workers=2,
        config=ray_config,
    )
    assert marker.exists()  # a worker really died
    seen = Counter(result // 2 for result in results)
    assert set(seen) == set(values)  # every value processed at least once
    duplicates = sum(n - 1 for n in seen.values())
    # Only the dead worker's unacknowledged values: at most its chunk and its prefetch.
    assert duplicates <= 256 + ray_config.channels.prefetch
    assert stats.workers_replaced == 1
    assert stats.state == "done"  # the stream ended normally: no lost sender downstream


async def test_a_value_that_kills_every_worker_fails_the_stage_and_stays_in_the_source(
    ray_config: KlawConfig,
) -> None:
    src_tx, src_rx = await channel(64, value_type=int, backend="ray", config=ray_config)
    out_tx, out_rx = await channel(64, value_type=int, backend="ray", config=ray_config)
    keeper = src_rx.clone()
    running = stage(
        fns.die_always_at(0), src_rx, out_tx, workers=1, max_restarts=1, config=ray_config
    )
    await _produce(src_tx, [0, 1, 2])
    with pytest.raises(StageFailedError, match="max_restarts=1") as failed:
        await running.wait()
    assert isinstance(failed.value.__cause__, WorkerDiedError)
    stats = await running.stats()
    assert stats.workers_replaced == 2
    _, end = await _drain_until_error(out_rx)
    assert isinstance(end, SenderLostError)
    assert sorted(await _collect(keeper)) == [0, 1, 2]  # nothing lost


# --- backpressure -----------------------------------------------------------------------


async def test_a_slow_stage_slows_its_producer(ray_config: KlawConfig) -> None:
    prefetch = 16
    config = KlawConfig(
        ray=RayConfig(namespace=ray_config.ray.namespace),
        channels=ChannelDefaults(prefetch=prefetch),
    )
    capacity, workers, batch = 32, 2, 8
    src_tx, src_rx = await channel(capacity, value_type=int, backend="ray", config=config)
    running = stage(fns.slow_double, src_rx, workers=workers, batch_size=batch, config=config)
    bound = capacity + workers * (batch + prefetch)
    gaps: list[int] = []

    async def watch() -> None:
        while not running.done():
            sent = (await src_tx.stats()).total_sent
            gaps.append(sent - (await running.stats()).values_in)
            await asyncio.sleep(0.005)

    watching = asyncio.ensure_future(watch())
    await _produce(src_tx, list(range(2_000)))
    stats = await running.wait()
    await watching
    assert stats.values_in == 2_000
    assert gaps
    assert max(gaps) <= bound  # accepted but not yet taken by a worker: bounded


# --- aborting a sender (both backends) -------------------------------------------------


async def test_abort_lets_receivers_drain_then_raises_sender_lost(open_channel: Opener) -> None:
    tx, rx = await open_channel(16)
    await tx.send(1)
    await tx.send(2)
    await tx.abort("upstream gave up")
    await tx.abort("again")  # closed: nothing happens
    values, end = await _drain_until_error(rx)
    assert values == [1, 2]
    assert isinstance(end, SenderLostError)
    assert end.detail == "upstream gave up"


async def test_abort_needs_a_reason(open_channel: Opener) -> None:
    tx, _ = await open_channel(4)
    with pytest.raises(TypeError, match="non-empty reason"):
        await tx.abort("")
    await tx.close()


async def test_abort_waits_for_the_other_senders(open_channel: Opener) -> None:
    tx, rx = await open_channel(16)
    other = tx.clone()
    await tx.abort("one failed")
    await other.send(3)
    await other.close()
    values, end = await _drain_until_error(rx)
    assert values == [3]
    assert isinstance(end, SenderLostError)


# --- arguments --------------------------------------------------------------------------


async def test_bad_arguments_are_refused() -> None:
    tx, rx = _local_ints(4)
    out_tx, _ = _local_ints(4)
    with pytest.raises(TypeError, match="callable"):
        stage(42, rx)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="workers must be at least 1"):
        stage(fns.double, rx, workers=0)
    with pytest.raises(TypeError, match="workers must be an int"):
        stage(fns.double, rx, workers=True)
    with pytest.raises(ValueError, match="task_timeout"):
        stage(fns.double, rx, task_timeout=-1)
    with pytest.raises(ValueError, match="max_restarts"):
        stage(fns.double, rx, max_restarts=-1)
    with pytest.raises(ValueError, match="batch_size"):
        stage(fns.double, rx, batch_size=0)
    with pytest.raises(TypeError, match="Receiver"):
        stage(fns.double, out_tx)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="Sender"):
        stage(fns.double, rx, rx)  # type: ignore[call-overload]
    await tx.close()


async def test_mixed_backends_are_refused(ray_config: KlawConfig) -> None:
    _, local_rx = _local_ints(4)
    ray_tx, ray_rx = await channel(4, value_type=int, backend="ray", config=ray_config)
    with pytest.raises(TypeError, match="local channel handles"):
        stage(fns.double, local_rx, ray_tx)
    await ray_tx.close()
    await ray_rx.close()


def test_a_stage_needs_a_running_event_loop() -> None:
    _, rx = _local_ints(4)
    with pytest.raises(RuntimeError):
        stage(fns.double, rx)


async def test_wait_cancelled_leaves_the_stage_running() -> None:
    tx, rx = _local_ints(4)
    running: Stage = stage(fns.double, rx, workers=1)
    waiting = asyncio.ensure_future(running.wait())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not running.done()
    await _produce(tx, [1, 2, 3])
    stats = await running.wait()
    assert stats.values_in == 3
