"""Ray channels as a stream: coalescing, credit, cancellation and load, on a real Ray.

Each test is a case that failed before the streaming transport (issue 10): a cancelled
``send`` that delivered anyway, a cancelled ``close`` that left the channel open, a
``try_send`` stuck behind a waiting ``send``, a value receivers could not decode, and
deadlocks under load.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from channel_backends import wait_for_stats, wait_for_waiting
from klaw_config import KlawConfig
from klaw_ray import RaySender, channel
from klaw_types import Err, Ok
from klaw_wire import ChannelFull, EndOfStreamError, PeerClosedError

pytestmark = pytest.mark.anyio


def _deep(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


async def test_a_value_receivers_could_not_decode_is_refused_at_the_call(
    ray_config: KlawConfig,
) -> None:
    tx, rx = await channel(8, backend="ray", config=ray_config)
    with pytest.raises(TypeError, match=r"rejected|not encodable"):
        await tx.send_batch([1, _deep(995), 2])
    await tx.send(3)
    await tx.close()
    assert [value async for value in rx] == [3]  # nothing of the refused batch


async def test_a_send_cancelled_while_it_waits_sends_nothing(ray_config: KlawConfig) -> None:
    tx, rx = await channel(1, backend="ray", value_type=int, config=ray_config)
    idle = rx.clone()  # open, never fetching: the channel fills
    await rx.close()
    await tx.send(1)
    waiting = [asyncio.create_task(tx.send(i)) for i in range(2, 12)]
    await wait_for_waiting(tx, senders=1)  # one reserve waits for the handle's sends
    for task in waiting:
        task.cancel()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results)
    await wait_for_waiting(tx)  # and the reserve was withdrawn
    assert await idle.recv() == 1
    await tx.close()
    assert [value async for value in idle] == []  # none of the cancelled values arrived


async def test_a_cancelled_close_still_closes(ray_config: KlawConfig) -> None:
    tx, rx = await channel(8, backend="ray", value_type=int, config=ray_config)
    clone = tx.clone()
    await tx.close()
    await clone.send(1)
    closing = asyncio.create_task(clone.close())
    await asyncio.sleep(0)  # let the close start; then cancel it
    closing.cancel()
    await asyncio.gather(closing, return_exceptions=True)
    await wait_for_stats(rx, lambda stats: stats.open_senders == 0)
    assert [value async for value in rx] == [1]  # the stream ends: the clone closed


async def test_try_send_answers_at_once_and_never_overtakes_a_waiting_send(
    ray_config: KlawConfig,
) -> None:
    tx, rx = await channel(1, backend="ray", value_type=int, config=ray_config)
    idle = rx.clone()
    await rx.close()
    await tx.send(1)
    waiting = asyncio.create_task(tx.send(2))
    await wait_for_waiting(tx, senders=1)
    match await asyncio.wait_for(tx.try_send(3), 5):
        case Err(ChannelFull()):
            pass
        case other:
            pytest.fail(f"expected Err(ChannelFull), got {other!r}")
    assert await idle.recv() == 1
    await asyncio.wait_for(waiting, 10)
    match await tx.try_send(4):
        case Ok(None) | Err(ChannelFull()):
            pass
        case other:
            pytest.fail(f"unexpected {other!r}")
    await tx.close()
    received = [value async for value in idle]
    assert received[:1] == [2]  # the waiting send went first
    assert 3 not in received


async def test_a_failed_batch_is_raised_with_the_values_not_delivered(
    ray_config: KlawConfig,
) -> None:
    tx, rx = await channel(64, backend="ray", value_type=int, config=ray_config)
    await tx.send(0)
    await tx.flush()
    await rx.close()  # nobody left: what is buffered next cannot be delivered
    await tx.send(1)
    with pytest.raises(PeerClosedError) as raised:
        await tx.flush()
    assert getattr(raised.value, "undelivered", None) == (1,)


async def test_send_batch_into_a_full_sized_channel_with_a_batch_receiver_never_stalls(
    ray_config: KlawConfig,
) -> None:
    tx, rx = await channel(1024, backend="ray", value_type=int, config=ray_config)
    total = 30_000

    async def produce() -> None:
        async with tx:
            for start in range(0, total, 1000):
                await tx.send_batch(range(start, start + 1000))

    async def consume() -> int:
        count = 0
        try:
            while True:
                count += len(await rx.recv_batch(1024))
        except EndOfStreamError:
            return count

    _, count = await asyncio.wait_for(asyncio.gather(produce(), consume()), 120)
    assert count == total


async def test_senders_blocked_on_a_full_channel_leave_gets_and_stats_free(
    ray_config: KlawConfig,
) -> None:
    limit = ray_config.ray.max_concurrency
    tx, rx = await channel(1, backend="ray", value_type=int, config=ray_config)
    idle = rx.clone()
    await rx.close()
    await tx.send(0)
    await tx.flush()
    senders: list[RaySender[int]] = [tx.clone() for _ in range(limit + 6)]
    blocked = [asyncio.create_task(sender.send(i)) for i, sender in enumerate(senders, 1)]
    stats = await wait_for_stats(tx, lambda s: s.waiting_senders == limit)
    assert stats.waiting_senders <= limit
    assert stats.size == 1  # and stats() got through while the senders wait
    received = {await asyncio.wait_for(idle.recv(), 30) for _ in range(20)}
    assert len(received) == 20  # so do gets
    # Beyond the limit the actor refuses to keep a call waiting; those senders ask again
    # a little later, so every value still arrives, and the waiting stays bounded.
    received |= {await asyncio.wait_for(idle.recv(), 30) for _ in range(len(senders) - 19)}
    await asyncio.wait_for(asyncio.gather(*blocked), 60)
    assert received == set(range(len(senders) + 1))
    for sender in senders:
        await sender.close()
    await tx.close()
    await idle.close()


async def test_three_hundred_concurrent_sends_from_one_handle_all_arrive(
    ray_config: KlawConfig,
) -> None:
    tx, rx = await channel(16, backend="ray", value_type=int, config=ray_config)

    async def consume() -> list[int]:
        return [value async for value in rx]

    consuming = asyncio.create_task(consume())
    await asyncio.wait_for(asyncio.gather(*(tx.send(i) for i in range(300))), 60)
    await tx.close()
    assert sorted(await asyncio.wait_for(consuming, 60)) == list(range(300))


async def test_flush_returns_while_another_task_keeps_sending(ray_config: KlawConfig) -> None:
    tx, rx = await channel(64, backend="ray", value_type=int, config=ray_config)
    for value in range(10):
        await tx.send(value)
    stop = asyncio.Event()

    async def keep_sending() -> int:  # the handle never goes idle while this runs
        sent = 0
        while not stop.is_set():
            await tx.send(100 + sent)
            sent += 1
        return sent

    async def consume() -> list[int]:
        return [value async for value in rx]

    consuming = asyncio.create_task(consume())
    sending = asyncio.create_task(keep_sending())
    await asyncio.wait_for(tx.flush(), 60)  # waits for the first ten only
    assert (await rx.stats()).total_sent >= 10
    stop.set()
    more = await sending
    await tx.close()
    received = await asyncio.wait_for(consuming, 60)
    assert sorted(received) == [*range(10), *range(100, 100 + more)]


async def test_without_coalescing_send_returns_once_the_value_is_in_the_channel(
    ray_config: KlawConfig,
) -> None:
    tx, rx = await channel(8, backend="ray", value_type=int, coalesce=False, config=ray_config)
    assert not tx.coalescing
    await tx.send(1)
    assert (await rx.stats()).total_sent == 1  # no flush needed
    await tx.close()
    assert [value async for value in rx] == [1]


async def test_four_consumers_share_a_busy_channel(ray_config: KlawConfig) -> None:
    tx, rx = await channel(256, backend="ray", value_type=int, config=ray_config)
    receivers = [rx.clone() for _ in range(4)]
    await rx.close()

    async def consume(index: int) -> int:
        count = 0
        async with receivers[index] as receiver:
            async for _ in receiver:
                count += 1
        return count

    consuming = [asyncio.create_task(consume(i)) for i in range(4)]
    async with tx:
        for i in range(8_000):
            await tx.send(i)
    counts = await asyncio.wait_for(asyncio.gather(*consuming), 120)
    assert sum(counts) == 8_000
    assert all(count > 0 for count in counts)  # a prefetching receiver takes no one's share
