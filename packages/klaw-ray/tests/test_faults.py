"""Fault injection on Ray channels: actors restarted, consumers and producers killed.

Each test kills something mid-stream (the channel actor with ``ray.kill``, a task's
process with ``os._exit`` once the channel is in the state under test), then checks
which values were received, how many times, and which errors every handle raised. Each
prints one parseable line of what it measured::

    FAULT case=<name> lost=<n> duplicated=<n> notice_s=<seconds>

``notice_s`` is how long the system took to notice the fault (the restarted actor to
answer, a redelivery to arrive, the lost sender to be reported...). Times are printed,
never asserted, except as the generous bounds the channels promise, which are the
``asyncio.wait_for`` timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import ray
from ray.exceptions import RayError

from fault_helpers import (
    ConsumerReport,
    CountingChannelActor,
    ProducerReport,
    consume,
    consume_then_die,
    consume_until_sender_waits_then_die,
    poll_stats,
    produce,
    produce_flush_then_die,
    produce_until_blocked_then_die,
    produce_until_error,
    read_death,
    receive_one_each_then_close,
    send_then_die,
    wait_in_recv_batch_then_die,
)
from klaw_config import ChannelDefaults, KlawConfig
from klaw_ray import RayReceiver, RaySender, channel, delete_channel, get_channel
from klaw_ray.ray import _open
from klaw_ray.ray._store import ChannelStore
from klaw_wire import (
    ChannelRestartedError,
    EndOfStreamError,
    PeerClosedError,
    SenderLostError,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

_PER_PRODUCER = 1500
"""Values each of two producers sends through a channel whose actor restarts."""


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _durable(config: KlawConfig, storage: Path) -> KlawConfig:
    """``config`` with durable channels' databases under ``storage``."""
    return KlawConfig(ray=config.ray, channels=ChannelDefaults(storage_dir=str(storage)))


def _fault(case: str, lost: int, duplicated: int, notice_s: float, **more: object) -> None:
    extra = "".join(f" {key}={value}" for key, value in more.items())
    print(f"FAULT case={case} lost={lost} duplicated={duplicated} notice_s={notice_s:.2f}{extra}")


def _duplicated(values: list[int]) -> int:
    return len(values) - len(set(values))


async def _kill_and_await_restart(handle: RaySender[Any] | RayReceiver[Any]) -> float:
    """Kill the channel actor (restart allowed); return seconds until its new process answers."""
    old_pid = (await handle.stats()).extras["pid"]
    killed = time.monotonic()
    ray.kill(handle._actor, no_restart=False)

    async def restarted() -> None:
        while (await handle.stats()).extras["pid"] == old_pid:  # retries while it restarts
            await asyncio.sleep(0.05)

    await asyncio.wait_for(restarted(), 60)
    return time.monotonic() - killed


async def _send_and_flush(tx: RaySender[int], value: int) -> None:
    await tx.send(value)
    await tx.flush()


async def _receive_all(
    rx: RayReceiver[int], into: list[tuple[int, int]], timeout: float = 60
) -> None:
    """Receive ``(value, delivery count)`` pairs until a receive raises (the end, or not)."""
    while True:
        batch = await asyncio.wait_for(rx.recv_batch(50), timeout)
        into.extend(
            (value, delivery.count)
            for value, delivery in zip(batch, rx.last_deliveries, strict=True)
        )


# --- 1, 2: the channel actor restarts mid-stream ---------------------------------------


async def test_a_durable_channel_restarted_mid_stream_loses_and_duplicates_nothing(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    config = _durable(ray_config, tmp_path)
    name = _unique("durable_restart")
    tx, rx = await channel(
        64, backend="ray", value_type=int, name=name, durable=True, config=config
    )
    try:
        producers = [produce.remote(tx.clone(), p * 100_000, _PER_PRODUCER) for p in range(2)]
        consumers = [consume.remote(rx.clone()) for _ in range(2)]
        await tx.close()
        await rx.close()
        total = 2 * _PER_PRODUCER
        at_kill = await poll_stats(tx, lambda s: s.total_received > total // 3)
        restart_s = await _kill_and_await_restart(tx)
        produced: list[ProducerReport] = await asyncio.wait_for(asyncio.gather(*producers), 60)
        consumed: list[ConsumerReport] = await asyncio.wait_for(asyncio.gather(*consumers), 60)
        received = [value for report in consumed for value in report.values]
        expected = {p * 100_000 + i for p in range(2) for i in range(_PER_PRODUCER)}
        after = await tx.stats()
        _fault(
            "durable_restart",
            len(expected - set(received)),
            _duplicated(received),
            restart_s,
            received_at_kill=at_kill.total_received,
        )
        assert at_kill.total_received < total  # the kill did land mid-stream
        assert after.incarnation != at_kill.incarnation
        assert [report.error for report in produced] == ["", ""]
        assert [report.sent for report in produced] == [_PER_PRODUCER] * 2
        assert [report.error for report in consumed] == ["", ""]  # `async for` ended
        assert sorted(received) == sorted(expected)  # 0 lost, 0 duplicated
        assert after.total_sent == total
        assert after.lost == 0
    finally:
        await delete_channel(name, config=config)


async def test_a_channel_restarted_mid_stream_is_raised_by_every_handle(
    ray_config: KlawConfig,
) -> None:
    tx, rx = await channel(64, backend="ray", value_type=int, config=ray_config)
    producers = [produce_until_error.remote(tx.clone(), p * 1_000_000, 500_000) for p in range(2)]
    consumers = [consume.remote(rx.clone()) for _ in range(2)]
    await poll_stats(tx, lambda s: s.total_received > 1000)
    killed_at = time.time()
    ray.kill(tx._actor, no_restart=False)

    async def every_report() -> tuple[list[ProducerReport], list[ConsumerReport]]:
        return await asyncio.gather(*producers), await asyncio.gather(*consumers)

    produced, consumed = await asyncio.wait_for(every_report(), 30)
    received = [value for report in consumed for value in report.values]
    delivered = sum(report.sent - report.undelivered for report in produced)
    ended = [report.ended_at for report in produced] + [report.ended_at for report in consumed]
    _fault(
        "restart_not_durable",
        delivered - len(received),  # what the old incarnation held, as far as one can tell
        _duplicated(received),
        max(ended) - killed_at,
        received=len(received),
    )
    assert [report.error for report in produced] == ["ChannelRestartedError"] * 2
    assert [report.error for report in consumed] == ["ChannelRestartedError"] * 2
    assert _duplicated(received) == 0
    sent = {p * 1_000_000 + i for p, report in enumerate(produced) for i in range(report.sent)}
    assert set(received) <= sent
    with pytest.raises(ChannelRestartedError):  # the driver's own handles too
        await asyncio.wait_for(rx.recv(), 30)
    with pytest.raises(ChannelRestartedError):
        await asyncio.wait_for(_send_and_flush(tx, 1), 30)
    with pytest.raises(ChannelRestartedError):
        await tx.send(2)  # and they keep raising it


# --- 3, 4: a consumer's process dies ---------------------------------------------------


async def test_a_dead_consumers_unacknowledged_values_are_redelivered_to_another(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    tx, rx = await channel(64, backend="ray", value_type=int, config=ray_config)
    record = tmp_path / "dying_consumer.json"
    dying = consume_then_die.remote(rx.clone(), 40, str(record))
    survivor = consume.remote(rx.clone())
    await rx.close()
    await poll_stats(tx, lambda s: s.waiting_receivers == 2)
    count = 1000
    async with tx:
        await asyncio.wait_for(tx.send_batch(range(count)), 60)
    with pytest.raises(RayError):  # it died (had the stream ended first, it would return)
        await asyncio.wait_for(dying, 60)
    report: ConsumerReport = await asyncio.wait_for(survivor, 60)
    death = read_death(record)
    stats = await tx.stats()
    both = set(report.values) & set(death.values)
    redelivered = {v for v, n in zip(report.values, report.counts, strict=True) if n > 1}
    lost = set(range(count)) - set(report.values) - set(death.values)
    _fault(
        "consumer_exit",
        len(lost),
        len(both),
        report.first_redelivery_at - death.exit_at,
        unacked=len(death.last_batch),
    )
    assert report.error == ""  # the stream ended normally
    assert not lost
    assert _duplicated(report.values) == 0
    # Exactly the batch it was handed and never acknowledged came back, marked redelivered.
    assert both == set(death.last_batch)
    assert redelivered == set(death.last_batch)
    assert stats.redelivered == len(death.last_batch)
    assert stats.lost == 0


async def test_a_consumer_that_dies_waiting_in_recv_batch_takes_nothing_with_it(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    tx, rx = await channel(64, backend="ray", value_type=int, config=ray_config)
    record = tmp_path / "waiting_consumer.json"
    dying_rx = rx.clone()
    dying = wait_in_recv_batch_then_die.remote(dying_rx, 2, str(record))
    await poll_stats(rx, lambda s: s.waiting_receivers == 1)  # its get waits first
    received: list[tuple[int, int]] = []
    receiving = asyncio.create_task(_receive_all(rx, received))
    with pytest.raises(RayError):
        await asyncio.wait_for(dying, 60)
    death = read_death(record)
    # Values sent as soon as it is dead, before the channel can know: none may be lost.
    await tx.send_batch(range(100))
    await tx.flush()
    noticed = await poll_stats(
        rx, lambda s: dying_rx.handle_id not in {r.reader_id for r in s.readers}
    )
    notice_s = time.time() - death.exit_at
    # Values sent once the channel knows: the dead get left no waiter behind to take them.
    async with tx:
        await tx.send_batch(range(100, 200))
    with pytest.raises(EndOfStreamError):
        await asyncio.wait_for(receiving, 60)
    values = [value for value, _ in received]
    late = [count for value, count in received if value >= 100]
    _fault(
        "consumer_exit_in_recv_batch",
        len(set(range(200)) - set(values)),
        _duplicated(values),
        notice_s,
        taken_before_notice=noticed.redelivered,
    )
    assert sorted(values) == list(range(200))
    assert late == [1] * 100
    assert noticed.redelivered <= 10  # at most what its one get asked for, then given back
    assert (await rx.stats()).lost == 0


# --- 5, 6: a producer's process dies; the last consumer's process dies ------------------


async def test_a_producer_that_dies_after_flushing_is_reported_lost_after_its_values(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    tx, rx = await channel(64, backend="ray", value_type=int, config=ray_config)
    record = tmp_path / "dying_producer.json"
    lost = tx.clone()
    other = consume.remote(rx.clone())
    dying = produce_flush_then_die.remote(lost, 300, str(record))
    await tx.close()
    received: list[tuple[int, int]] = []
    receiving = asyncio.ensure_future(_receive_all(rx, received))
    with pytest.raises(RayError):
        await asyncio.wait_for(dying, 60)
    # Within 10 s of its death, both consumers have every value it delivered, then the error.
    ended = await asyncio.wait_for(asyncio.gather(receiving, other, return_exceptions=True), 10)
    reported_at = time.time()
    death = read_death(record)
    report = ended[1]
    assert isinstance(report, ConsumerReport)
    values = [value for value, _ in received] + report.values
    _fault(
        "producer_exit_after_flush",
        len(set(death.values) - set(values)),
        _duplicated(values),
        reported_at - death.exit_at,
        split=f"{len(received)}+{len(report.values)}",
    )
    assert sorted(values) == list(range(300))
    assert isinstance(ended[0], SenderLostError)
    assert ended[0].sender_id == lost.handle_id
    assert (report.error, report.sender_id) == ("SenderLostError", lost.handle_id)
    stats = await rx.stats()
    assert stats.lost_senders == 1
    assert stats.open_senders == 0


async def test_a_producer_that_dies_blocked_on_a_full_channel_ships_nothing_more(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    tx, rx = await channel(16, backend="ray", value_type=int, config=ray_config)
    record = tmp_path / "blocked_producer.json"
    lost = tx.clone()
    dying = produce_until_blocked_then_die.remote(lost, str(record))
    await tx.close()
    with pytest.raises(RayError):
        await asyncio.wait_for(dying, 60)
    death = read_death(record)
    # Drained at once: room frees up for the blocked send before the channel knows it died.
    received: list[tuple[int, int]] = []
    with pytest.raises(SenderLostError) as raised:
        await _receive_all(rx, received, timeout=10)
    reported_at = time.time()
    values = [value for value, _ in received]
    stats = await rx.stats()
    _fault(
        "producer_exit_blocked",
        len(set(death.values) - set(values)),
        _duplicated(values),
        reported_at - death.exit_at,
        delivered=len(death.values),
    )
    assert values == death.values  # all it delivered, none of what waited for room
    assert stats.total_sent == len(death.values)
    assert raised.value.sender_id == lost.handle_id
    assert stats.reserved == 0  # the credit granted to the dead writer came back
    assert stats.lost_senders == 1


async def test_a_producer_blocked_on_a_full_channel_learns_that_the_last_consumer_died(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    tx, rx = await channel(8, backend="ray", value_type=int, config=ray_config)
    record = tmp_path / "last_consumer.json"
    dying = consume_until_sender_waits_then_die.remote(rx.clone(), 5, str(record))
    await poll_stats(tx, lambda s: s.open_receivers == 2)
    await rx.close()  # the task's receiver is the last one
    sent: list[int] = []
    with pytest.raises(PeerClosedError) as raised:
        await asyncio.wait_for(_send_until_it_raises(tx, sent), 60)  # never a hang
    raised_at = time.time()
    with pytest.raises(RayError):
        await asyncio.wait_for(dying, 30)
    death = read_death(record)
    stats = await tx.stats()
    undelivered = len(getattr(raised.value, "undelivered", ()))
    _fault(
        "last_consumer_exit",
        len(sent) - undelivered - stats.total_sent,  # sends that returned, went nowhere
        0,
        raised_at - death.exit_at,
        queued=stats.size,
    )
    assert sent == list(range(stats.total_sent + undelivered))  # nothing dropped untold
    assert stats.open_receivers == 0
    with pytest.raises(PeerClosedError):
        await tx.send(-1)
    await tx.close()


async def _send_until_it_raises(tx: RaySender[int], sent: list[int]) -> None:
    for value in range(10_000):
        await tx.send(value)
        sent.append(value)


# --- 7: a second driver ----------------------------------------------------------------

_SECOND_DRIVER = """
import asyncio
import contextlib
import json
import ray
from klaw_config import KlawConfig, RayConfig
from klaw_ray import get_channel
from klaw_ray.ray._runtime import use_loopback_only

async def main() -> None:
    config = KlawConfig(ray=RayConfig(namespace={namespace!r}))
    started = asyncio.get_running_loop().time()
    tx, rx = await get_channel({name!r}, config=config)
    values, counts = [], []
    while len(values) < {count}:
        batch = await asyncio.wait_for(rx.recv_batch(100), 30)
        values.extend(batch)
        counts.extend(delivery.count for delivery in rx.last_deliveries)
    await tx.close()
    rest = [value async for value in rx]  # every sender closed: the stream ends
    await rx.close()
    print(json.dumps({{"values": values, "counts": counts, "rest": rest,
                      "seconds": asyncio.get_running_loop().time() - started}}))

use_loopback_only()
ray.init(address={address!r}, namespace={namespace!r}, _node_ip_address="127.0.0.1",
         log_to_driver=False)
asyncio.run(main())
"""


async def test_a_second_driver_receives_what_the_first_sent_after_a_restart(
    ray_config: KlawConfig, ray_cluster: str, tmp_path: Path
) -> None:
    config = _durable(ray_config, tmp_path)
    name = _unique("handover")
    count = 40
    tx, rx = await channel(
        64, backend="ray", value_type=int, name=name, durable=True, config=config
    )
    try:
        await tx.send_batch(range(count))
        await tx.flush()
        await tx.close()
        await rx.close()  # the first driver keeps no handle open
        restart_s = await _kill_and_await_restart(tx)
        script = tmp_path / "second_driver.py"
        script.write_text(
            textwrap.dedent(_SECOND_DRIVER).format(
                name=name, namespace=config.ray.namespace, address=ray_cluster, count=count
            )
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), env=dict(os.environ), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0
        answer = json.loads(out.decode().strip().splitlines()[-1])
        _fault(
            "second_driver_after_restart",
            len(set(range(count)) - set(answer["values"])),
            _duplicated(answer["values"]),
            restart_s,
            second_driver_s=f"{answer['seconds']:.2f}",
        )
        assert answer["values"] == list(range(count))
        assert answer["counts"] == [1] * count
        assert answer["rest"] == []
        stats = await tx.stats()
        assert (stats.open_senders, stats.open_receivers, stats.size) == (0, 0, 0)
    finally:
        await delete_channel(name, config=config)


# --- 8: reader records -----------------------------------------------------------------


def _handle_rows(storage: Path, namespace: str, name: str) -> tuple[int, int]:
    """``(rows, open rows)`` of a durable channel's ``handles`` table."""
    with contextlib.closing(sqlite3.connect(ChannelStore.path_for(storage, namespace, name))) as db:
        rows, open_rows = db.execute(
            "SELECT count(*), coalesce(sum(state = 'open'), 0) FROM handles"
        ).fetchone()
    return int(rows), int(open_rows)


async def test_closed_receiver_clones_leave_no_reader_record(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    config = _durable(ray_config, tmp_path)
    name = _unique("readers")
    tx, rx = await channel(
        256, backend="ray", value_type=int, name=name, durable=True, config=config
    )
    try:
        node = ray.get_runtime_context().get_node_id()
        await tx.send_batch(range(151))
        await tx.flush()
        assert await rx.recv_batch(1) == [0]
        await rx.ack()
        used_here = [rx.clone() for _ in range(50)]
        used_there = [rx.clone() for _ in range(100)]
        for clone in used_here:
            assert len(await asyncio.wait_for(clone.recv_batch(1), 30)) == 1
        during = await poll_stats(rx, lambda s: s.open_receivers == 151)
        assert during.readers_per_node == {node: 51}
        started = time.monotonic()
        for _ in range(50):  # cloned and closed at once, never used
            await rx.clone().close()
        await asyncio.gather(*(clone.close() for clone in used_here))
        # Used in another process, which closes its copies there.
        elsewhere = await asyncio.wait_for(receive_one_each_then_close.remote(used_there), 60)
        after = await poll_stats(rx, lambda s: s.open_receivers == 1)
        rows, open_rows = _handle_rows(tmp_path, config.ray.namespace, name)
        _fault(
            "reader_records",
            0,
            0,
            time.monotonic() - started,
            clones=200,
            handle_rows=rows,
            open_rows=open_rows,
        )
        assert len(elsewhere) == 100
        assert [reader.reader_id for reader in after.readers] == [rx.handle_id]
        assert after.readers_per_node == {node: 1}
        assert (after.size, after.leased) == (0, 0)  # the used clones acknowledged on close
        assert open_rows == 2  # the database keeps open only tx and rx
    finally:
        await delete_channel(name, config=config)


# --- beyond the list: calls a restart or a death must not swallow ------------------------


async def test_handles_closed_while_a_durable_channel_restarts_are_closed(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    config = _durable(ray_config, tmp_path)
    name = _unique("close_in_restart")
    tx, rx = await channel(
        16, backend="ray", value_type=int, name=name, durable=True, config=config
    )
    try:
        tx2, rx2 = tx.clone(), rx.clone()
        await tx2.send_batch(range(10))
        await tx2.flush()
        assert await rx2.recv_batch(4) == [0, 1, 2, 3]
        old_pid = await _kill_and_await_death(tx)
        killed = time.monotonic()
        await asyncio.gather(tx2.close(), rx2.close())  # while the actor restarts
        closed_s = time.monotonic() - killed
        stats = await poll_stats(tx, lambda s: s.extras["pid"] != old_pid)
        _fault(
            "close_during_restart",
            stats.leased,  # values stuck, leased to a receiver that closed
            0,
            closed_s,
            open_senders=stats.open_senders,
            open_receivers=stats.open_receivers,
        )
        assert (stats.open_senders, stats.open_receivers) == (1, 1)  # tx and rx only
        assert stats.leased == 0  # rx2 acknowledged what it was handed
        await tx.close()
        rest = await asyncio.wait_for(_drain(rx), 30)  # and the stream ends
        assert rest == [4, 5, 6, 7, 8, 9]
    finally:
        await delete_channel(name, config=config)


async def _kill_and_await_death(handle: RaySender[Any] | RayReceiver[Any]) -> int:
    """Kill the channel actor (restart allowed) and wait until its process is gone.

    Returns the dead process's id. Calls made from then on, until this driver learns that
    the actor restarts, fail in Ray (they do not wait for the new process).
    """
    pid: int = (await handle.stats()).extras["pid"]
    ray.kill(handle._actor, no_restart=False)

    def gone() -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}  # a zombie is dead too

    async def dead() -> None:
        while not gone():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(dead(), 30)
    return pid


async def _drain(rx: RayReceiver[int]) -> list[int]:
    return [value async for value in rx]


async def test_a_clone_made_while_a_durable_channel_restarts_keeps_the_stream_open(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    config = _durable(ray_config, tmp_path)
    name = _unique("clone_in_restart")
    tx, rx = await channel(
        16, backend="ray", value_type=int, name=name, durable=True, config=config
    )
    try:
        await tx.send(1)
        await tx.flush()
        old_pid = await _kill_and_await_death(tx)
        late = tx.clone()  # while the actor restarts
        await poll_stats(tx, lambda s: s.extras["pid"] != old_pid)
        await tx.close()  # `late` is still open: the stream goes on
        assert await asyncio.wait_for(rx.recv(), 30) == 1
        waiting = asyncio.create_task(rx.recv())
        await poll_stats(rx, lambda s: s.waiting_receivers == 1 or waiting.done())
        if waiting.done():
            waiting.result()  # raises EndOfStreamError: the stream ended early
        await late.send(2)
        await late.flush()
        assert await asyncio.wait_for(waiting, 30) == 2
        await late.close()
        with pytest.raises(EndOfStreamError):
            await asyncio.wait_for(rx.recv(), 30)
    finally:
        await delete_channel(name, config=config)


async def test_an_aborted_senders_reason_reaches_receivers_after_a_durable_restart(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    config = _durable(ray_config, tmp_path)
    name = _unique("abort_then_restart")
    tx, rx = await channel(
        16, backend="ray", value_type=int, name=name, durable=True, config=config
    )
    try:
        await tx.send_batch([1, 2])
        await tx.abort("upstream gave up at value 3")
        restart_s = await _kill_and_await_restart(rx)
        received: list[tuple[int, int]] = []
        with pytest.raises(SenderLostError) as lost:
            await _receive_all(rx, received, timeout=30)
        _fault("abort_reason_after_restart", 2 - len(received), 0, restart_s)
        assert received == [(1, 1), (2, 1)]
        assert lost.value.detail == "upstream gave up at value 3"
    finally:
        await delete_channel(name, config=config)


async def test_a_supervised_clone_dying_after_a_durable_restart_does_not_fail_the_stream(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    config = _durable(ray_config, tmp_path)
    name = _unique("supervised_restart")
    tx, rx = await channel(
        16, backend="ray", value_type=int, name=name, durable=True, config=config
    )
    try:
        worker = tx._supervised_clone()  # a stage worker's sink clone
        await worker._ensure_registered()
        restart_s = await _kill_and_await_restart(rx)
        record = tmp_path / "worker.json"
        with pytest.raises(RayError):  # the worker's process dies after the restart
            await asyncio.wait_for(send_then_die.remote(worker, 5, str(record)), 60)
        stats = await poll_stats(rx, lambda s: s.open_senders == 1)  # the worker's clone closed
        _fault("supervised_after_restart", 0, 0, restart_s, lost_senders=stats.lost_senders)
        assert read_death(record).values == [5]
        assert stats.lost_senders == 0
        await tx.close()  # the stage's own handle: the stream ends, not fails
        assert await asyncio.wait_for(_drain(rx), 30) == [5]
    finally:
        await delete_channel(name, config=config)


async def test_a_supervised_clone_registered_while_a_durable_channel_restarts_stays_supervised(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    config = _durable(ray_config, tmp_path)
    name = _unique("supervised_in_restart")
    tx, rx = await channel(
        16, backend="ray", value_type=int, name=name, durable=True, config=config
    )
    try:
        old_pid = await _kill_and_await_death(tx)
        worker = tx._supervised_clone()  # its registration fails in Ray, and is made again
        await worker._ensure_registered()
        await poll_stats(rx, lambda s: s.extras["pid"] != old_pid and s.open_senders == 2)
        record = tmp_path / "worker.json"
        with pytest.raises(RayError):
            await asyncio.wait_for(send_then_die.remote(worker, 5, str(record)), 60)
        died = time.monotonic()
        stats = await poll_stats(rx, lambda s: s.open_senders == 1)  # the worker's clone closed
        notice_s = time.monotonic() - died
        _fault("supervised_in_restart", 0, 0, notice_s, lost_senders=stats.lost_senders)
        assert stats.lost_senders == 0
        await tx.close()
        assert await asyncio.wait_for(_drain(rx), 30) == [5]
    finally:
        await delete_channel(name, config=config)


async def test_a_clone_of_a_handle_from_before_a_restart_does_not_hold_the_new_stream_open(
    ray_config: KlawConfig,
) -> None:
    name = _unique("stale_clone")
    tx, _rx = await channel(16, backend="ray", value_type=int, name=name, config=ray_config)
    try:
        await tx.send(1)
        await tx.flush()
        restart_s = await _kill_and_await_restart(tx)
        stale = tx.clone()  # of a handle that has not met the new incarnation yet
        with pytest.raises(ChannelRestartedError):
            await asyncio.wait_for(_send_and_flush(stale, 2), 30)
        await stale.close()
        fresh_tx, fresh_rx = await get_channel(name, config=ray_config)
        await fresh_tx.send(3)
        await fresh_tx.close()
        stats = await fresh_rx.stats()
        _fault("stale_clone_after_restart", 0, 0, restart_s, open_senders=stats.open_senders)
        assert stats.open_senders == 0  # the stale clone is no handle of this incarnation
        assert await asyncio.wait_for(_drain(fresh_rx), 30) == [3]
    finally:
        await delete_channel(name, config=ray_config)


async def test_a_dead_process_leaves_no_call_waiting_in_the_channel_actor(
    ray_config: KlawConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_open, "_RemoteActor", ray.remote(CountingChannelActor))
    tx, rx = await channel(16, backend="ray", value_type=int, config=ray_config)
    await tx.send(-1)
    await tx.flush()  # the driver's process is watched: one hold
    before = await tx._actor.holding.remote()
    deaths = 3
    for i in range(deaths):
        with pytest.raises(RayError):
            await asyncio.wait_for(
                send_then_die.remote(tx.clone(), i, str(tmp_path / f"dead{i}.json")), 60
            )
    started = time.monotonic()
    await poll_stats(rx, lambda s: s.lost_senders == deaths)  # every death was noticed
    after = await tx._actor.holding.remote()
    _fault("dead_process_holds", 0, 0, time.monotonic() - started, holds=f"{before}->{after}")
    assert before == 1
    assert after == before
