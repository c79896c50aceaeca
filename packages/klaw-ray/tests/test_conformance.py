"""Channel semantics every backend must honour, run against each backend.

The ``open_channel`` fixture (see ``conftest.py``) is parametrized by backend; each test
receives a factory ``open_channel(capacity)`` returning a fresh ``(sender, receiver)``.
"""

from __future__ import annotations

import asyncio

import pytest

from channel_backends import OpenChannel
from klaw_types import Err, Ok
from klaw_wire import ChannelClosed, ChannelClosedError, ChannelEmpty, ChannelFull

pytestmark = pytest.mark.anyio


async def _settle() -> None:
    """Let every ready task run (a few loop turns)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_values_arrive_in_the_order_sent(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(16)
    for i in range(10):
        await tx.send(i)
    assert [await rx.recv() for _ in range(10)] == list(range(10))


async def test_try_send_reports_full_and_try_recv_reports_empty(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(2)
    assert await tx.try_send(1) == Ok(None)
    assert await tx.try_send(2) == Ok(None)
    match await tx.try_send(3):
        case Err(ChannelFull()):
            pass
        case other:
            pytest.fail(f"expected Err(ChannelFull), got {other!r}")
    assert await rx.try_recv() == Ok(1)
    assert await rx.try_recv() == Ok(2)
    match await rx.try_recv():
        case Err(ChannelEmpty()):
            pass
        case received:
            pytest.fail(f"expected Err(ChannelEmpty), got {received!r}")


async def test_send_waits_while_full_until_a_recv(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(1)
    await tx.send("a")
    blocked = asyncio.create_task(tx.send("b"))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    assert await rx.recv() == "a"
    await asyncio.wait_for(blocked, 10)
    assert await rx.recv() == "b"


async def test_recv_waits_while_empty_until_a_send(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    waiting = asyncio.create_task(rx.recv())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await tx.send(42)
    assert await asyncio.wait_for(waiting, 10) == 42


async def test_receivers_drain_then_see_closed_when_every_sender_closes(
    open_channel: OpenChannel,
) -> None:
    tx, rx = await open_channel(8)
    await tx.send_batch([1, 2, 3])
    await tx.close()
    assert [await rx.recv() for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ChannelClosedError):
        await rx.recv()
    match await rx.try_recv():
        case Err(ChannelClosed()):
            pass
        case other:
            pytest.fail(f"expected Err(ChannelClosed), got {other!r}")


async def test_async_for_ends_after_draining(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(8)
    async with tx:
        await tx.send_batch(["x", "y"])
    assert [value async for value in rx] == ["x", "y"]


async def test_channel_stays_open_until_every_sender_clone_closes(
    open_channel: OpenChannel,
) -> None:
    tx, rx = await open_channel(8)
    tx2 = tx.clone()
    await tx.close()
    await tx2.send("still open")
    assert await rx.recv() == "still open"
    match await rx.try_recv():
        case Err(ChannelEmpty()):
            pass
        case other:
            pytest.fail(f"expected Err(ChannelEmpty) while a clone is open, got {other!r}")
    await tx2.close()
    with pytest.raises(ChannelClosedError):
        await rx.recv()


async def test_blocked_receiver_wakes_when_last_sender_closes(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    waiting = asyncio.create_task(rx.recv())
    await asyncio.sleep(0.05)
    await tx.close()
    with pytest.raises(ChannelClosedError):
        await asyncio.wait_for(waiting, 10)


async def test_send_fails_once_every_receiver_closes(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    rx2 = rx.clone()
    await rx.close()
    await tx.send(1)  # rx2 is still open
    await rx2.close()
    with pytest.raises(ChannelClosedError):
        await tx.send(2)
    match await tx.try_send(3):
        case Err(ChannelClosed()):
            pass
        case other:
            pytest.fail(f"expected Err(ChannelClosed), got {other!r}")


async def test_blocked_sender_wakes_when_last_receiver_closes(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(1)
    await tx.send(1)
    blocked = asyncio.create_task(tx.send(2))
    await asyncio.sleep(0.05)
    await rx.close()
    with pytest.raises(ChannelClosedError):
        await asyncio.wait_for(blocked, 10)


async def test_closed_handles_refuse_use_and_close_is_idempotent(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    keep_tx, keep_rx = tx.clone(), rx.clone()
    await tx.close()
    await tx.close()
    await rx.close()
    await rx.close()
    with pytest.raises(ChannelClosedError):
        await tx.send(1)
    with pytest.raises(ChannelClosedError):
        tx.clone()
    with pytest.raises(ChannelClosedError):
        await rx.recv()
    with pytest.raises(ChannelClosedError):
        rx.clone()
    await keep_tx.send(5)
    assert await keep_rx.recv() == 5


async def test_recv_batch_takes_what_is_there_up_to_max(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(16)
    await tx.send_batch(range(5))
    assert await rx.recv_batch(3) == [0, 1, 2]
    assert await rx.recv_batch(10) == [3, 4]


async def test_recv_batch_times_out_empty(open_channel: OpenChannel) -> None:
    _tx, rx = await open_channel(4)
    assert await rx.recv_batch(10, timeout=0.05) == []


async def test_recv_batch_waits_for_the_first_value(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    waiting = asyncio.create_task(rx.recv_batch(10, timeout=30))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await tx.send("first")
    assert await asyncio.wait_for(waiting, 10) == ["first"]


async def test_recv_batch_raises_closed_when_closed_and_drained(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    await tx.send(1)
    await tx.close()
    assert await rx.recv_batch(10) == [1]
    with pytest.raises(ChannelClosedError):
        await rx.recv_batch(10, timeout=5)


@pytest.mark.parametrize(("max_items", "timeout"), [(0, None), (-1, None), (1, -0.5)])
async def test_recv_batch_rejects_bad_arguments(
    open_channel: OpenChannel, max_items: int, timeout: float | None
) -> None:
    _tx, rx = await open_channel(4)
    with pytest.raises(ValueError, match="must be"):
        await rx.recv_batch(max_items, timeout)


async def test_cancelled_recv_loses_nothing(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    waiting = asyncio.create_task(rx.recv())
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await tx.send("kept")
    assert await rx.recv() == "kept"


async def test_cancelled_send_delivers_nothing(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(1)
    await tx.send("first")
    blocked = asyncio.create_task(tx.send("cancelled"))
    await asyncio.sleep(0.05)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    assert await rx.recv() == "first"
    await tx.send("second")
    await tx.close()
    assert [v async for v in rx] == ["second"]


async def test_every_value_is_received_exactly_once_in_per_sender_order(
    open_channel: OpenChannel,
) -> None:
    tx, rx = await open_channel(8)
    producers, consumers, per_producer = 3, 3, 60
    senders = [tx.clone() for _ in range(producers)]
    receivers = [rx.clone() for _ in range(consumers)]
    await tx.close()
    await rx.close()

    async def produce(index: int) -> None:
        async with senders[index] as sender:
            for seq in range(per_producer):
                if seq % 3 == 0:
                    await sender.send_batch([index * 1000 + seq])
                else:
                    await sender.send(index * 1000 + seq)

    async def consume(index: int) -> list[int]:
        async with receivers[index] as receiver:
            return [value async for value in receiver]

    results = await asyncio.wait_for(
        asyncio.gather(
            *(produce(i) for i in range(producers)), *(consume(i) for i in range(consumers))
        ),
        60,
    )
    received: list[int] = [v for batch in results[producers:] if batch for v in batch]
    assert sorted(received) == [p * 1000 + s for p in range(producers) for s in range(per_producer)]
    for batch in results[producers:]:
        assert batch is not None
        for producer in range(producers):
            mine = [value for value in batch if value // 1000 == producer]
            assert mine == sorted(mine)


async def test_stats_count_what_happened(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(8)
    await tx.send_batch([1, 2, 3])
    await rx.recv()
    stats = await tx.stats()
    assert stats.capacity == 8
    assert stats.size == 2
    assert stats.high_watermark == 3
    assert stats.total_sent == 3
    assert stats.total_received == 1
    assert stats.open_senders == 1
    assert stats.open_receivers == 1
    assert not stats.closed


async def test_unbounded_channel_never_waits_to_send(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(None)
    await tx.send_batch(range(5000))
    assert (await tx.stats()).capacity is None
    assert await rx.recv_batch(5000) == list(range(5000))
