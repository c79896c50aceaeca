"""Channel semantics every backend must honour, run against each backend.

The ``open_channel`` fixture (see ``conftest.py``) is parametrized by backend; each test
receives a factory ``open_channel(capacity)`` returning a fresh ``(sender, receiver)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from channel_backends import OpenChannel, wait_for_waiting
from klaw_ray import Sender
from klaw_types import Err, Ok
from klaw_wire import (
    ChannelBackendError,
    ChannelClosedError,
    ChannelEmpty,
    ChannelFull,
    EndOfStream,
    EndOfStreamError,
    HandleClosed,
    HandleClosedError,
    PeerClosed,
    PeerClosedError,
)

pytestmark = pytest.mark.anyio


async def _send_and_flush(tx: Sender[Any], value: Any) -> None:
    await tx.send(value)
    await tx.flush()


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
    await wait_for_waiting(tx, senders=1)
    assert not blocked.done()
    assert await rx.recv() == "a"
    await asyncio.wait_for(blocked, 10)
    assert await rx.recv() == "b"


async def test_recv_waits_while_empty_until_a_send(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    waiting = asyncio.create_task(rx.recv())
    await wait_for_waiting(rx, receivers=1)
    assert not waiting.done()
    await tx.send(42)
    assert await asyncio.wait_for(waiting, 10) == 42


async def test_receivers_drain_then_see_the_end_of_stream_when_every_sender_closes(
    open_channel: OpenChannel,
) -> None:
    tx, rx = await open_channel(8)
    await tx.send_batch([1, 2, 3])
    await tx.close()
    assert [await rx.recv() for _ in range(3)] == [1, 2, 3]
    with pytest.raises(EndOfStreamError):
        await rx.recv()
    match await rx.try_recv():
        case Err(EndOfStream()):
            pass
        case other:
            pytest.fail(f"expected Err(EndOfStream), got {other!r}")


async def test_the_end_of_stream_is_a_channel_closed_error_but_not_a_backend_error(
    open_channel: OpenChannel,
) -> None:
    tx, rx = await open_channel(2)
    await tx.close()
    with pytest.raises(ChannelClosedError) as caught:
        await rx.recv()
    assert type(caught.value) is EndOfStreamError
    assert not issubclass(EndOfStreamError, ChannelBackendError)


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
    with pytest.raises(EndOfStreamError):
        await rx.recv()


async def test_blocked_receiver_wakes_when_last_sender_closes(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    waiting = asyncio.create_task(rx.recv())
    await wait_for_waiting(rx, receivers=1)
    await tx.close()
    with pytest.raises(EndOfStreamError):
        await asyncio.wait_for(waiting, 10)


async def test_send_fails_with_peer_closed_once_every_receiver_closes(
    open_channel: OpenChannel,
) -> None:
    tx, rx = await open_channel(4)
    rx2 = rx.clone()
    await rx.close()
    await tx.send(1)  # rx2 is still open
    await rx2.close()
    with pytest.raises(PeerClosedError):
        await _send_and_flush(tx, 2)  # a coalescing sender learns it when the batch fails
    with pytest.raises(PeerClosedError):
        await tx.send_batch([3, 4])
    with pytest.raises(PeerClosedError):
        await tx.send_batch([])
    match await tx.try_send(3):
        case Err(PeerClosed()):
            pass
        case other:
            pytest.fail(f"expected Err(PeerClosed), got {other!r}")


async def test_blocked_sender_wakes_when_last_receiver_closes(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(1)
    await tx.send(1)
    blocked = asyncio.create_task(tx.send(2))
    await wait_for_waiting(tx, senders=1)
    await rx.close()
    with pytest.raises(PeerClosedError):
        await asyncio.wait_for(blocked, 10)


async def test_closed_handles_refuse_use_and_close_is_idempotent(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    keep_tx, keep_rx = tx.clone(), rx.clone()
    await tx.close()
    await tx.close()
    await rx.close()
    await rx.close()
    with pytest.raises(HandleClosedError):
        await tx.send(1)
    with pytest.raises(HandleClosedError):
        await tx.send_batch([1])
    with pytest.raises(HandleClosedError):
        await tx.send_batch([])
    with pytest.raises(HandleClosedError):
        tx.clone()
    with pytest.raises(HandleClosedError):
        await rx.recv()
    with pytest.raises(HandleClosedError):
        await rx.recv_batch(4, timeout=1)
    with pytest.raises(HandleClosedError):
        rx.clone()
    match await tx.try_send(1):
        case Err(HandleClosed()):
            pass
        case other:
            pytest.fail(f"expected Err(HandleClosed), got {other!r}")
    match await rx.try_recv():
        case Err(HandleClosed()):
            pass
        case received:
            pytest.fail(f"expected Err(HandleClosed), got {received!r}")
    await keep_tx.send(5)
    assert await keep_rx.recv() == 5


async def test_async_for_on_a_handle_the_caller_closed_raises(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    await tx.send(1)
    await rx.close()
    iterator = aiter(rx)
    with pytest.raises(HandleClosedError):
        await anext(iterator)


async def test_async_for_stops_when_its_receiver_is_closed_while_waiting(
    open_channel: OpenChannel,
) -> None:
    _tx, rx = await open_channel(4)

    async def iterate() -> list[int]:
        return [value async for value in rx]

    iterating = asyncio.create_task(iterate())
    await wait_for_waiting(rx, receivers=1)
    await rx.close()
    with pytest.raises(HandleClosedError):
        await asyncio.wait_for(iterating, 10)


async def test_stats_work_on_closed_handles(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    await tx.send(1)
    await tx.close()
    await rx.close()
    assert (await tx.stats()).total_sent == 1
    assert (await rx.stats()).size == 1


async def test_stats_count_waiting_senders_and_receivers(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(1)
    receiving = asyncio.create_task(rx.recv())
    stats = await wait_for_waiting(rx, receivers=1)
    assert (stats.waiting_senders, stats.waiting_receivers) == (0, 1)
    await tx.send("a")
    assert await asyncio.wait_for(receiving, 10) == "a"
    idle = rx.clone()  # open, but never asks for values
    await rx.close()  # nobody fetches any more, so the next sends fill the channel
    other = tx.clone()
    await tx.send("b")
    sending = asyncio.create_task(other.send("c"))
    stats = await wait_for_waiting(tx, senders=1)
    assert (stats.waiting_senders, stats.waiting_receivers) == (1, 0)
    sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)
    await wait_for_waiting(tx)
    await idle.close()


async def test_a_woken_receiver_cancelled_before_it_runs_passes_the_value_on(
    open_channel: OpenChannel,
) -> None:
    tx, rx = await open_channel(4)
    other = rx.clone()
    first = asyncio.create_task(rx.recv())
    await wait_for_waiting(rx, receivers=1)
    second = asyncio.create_task(other.recv())
    await wait_for_waiting(rx, receivers=2)
    await tx.send("only")
    first.cancel()  # woken (or answered) but not yet run
    done, _ = await asyncio.wait({first}, timeout=10)
    assert done
    if first.cancelled():
        # Local: the wake-up passed to the other receiver. Ray: the value waits in the
        # cancelled receiver's buffer, and its close gives it back. Either way it arrives.
        await rx.close()
        assert await asyncio.wait_for(second, 10) == "only"
    else:  # the value reached the first receiver before the cancellation: nothing lost
        assert first.result() == "only"
        second.cancel()


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
    await wait_for_waiting(rx, receivers=1)
    assert not waiting.done()
    await tx.send("first")
    assert await asyncio.wait_for(waiting, 10) == ["first"]


async def test_recv_batch_raises_the_end_of_stream_when_closed_and_drained(
    open_channel: OpenChannel,
) -> None:
    tx, rx = await open_channel(4)
    await tx.send(1)
    await tx.close()
    assert await rx.recv_batch(10) == [1]
    with pytest.raises(EndOfStreamError):
        await rx.recv_batch(10, timeout=5)


@pytest.mark.parametrize(
    ("max_items", "timeout"),
    [(0, None), (-1, None), (1, -0.5), (1, float("nan")), (1, float("inf"))],
)
async def test_recv_batch_rejects_bad_arguments(
    open_channel: OpenChannel, max_items: int, timeout: float | None
) -> None:
    _tx, rx = await open_channel(4)
    with pytest.raises(ValueError, match="must be"):
        await rx.recv_batch(max_items, timeout)


async def test_recv_batch_rejects_a_timeout_that_is_not_a_number(
    open_channel: OpenChannel,
) -> None:
    _tx, rx = await open_channel(4)
    with pytest.raises(TypeError, match="timeout"):
        await rx.recv_batch(1, "1")  # type: ignore[arg-type]


async def test_cancelled_recv_loses_nothing(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(4)
    waiting = asyncio.create_task(rx.recv())
    await wait_for_waiting(rx, receivers=1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await tx.send("kept")
    assert await rx.recv() == "kept"


async def test_cancelled_send_delivers_nothing(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(1)
    await tx.send("first")
    blocked = asyncio.create_task(tx.send("cancelled"))
    await wait_for_waiting(tx, senders=1)
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
    await tx.flush()
    assert [await rx.recv() for _ in range(3)] == [1, 2, 3]
    stats = await tx.stats()
    assert stats.capacity == 8
    assert stats.size == 0
    assert stats.high_watermark == 3
    assert stats.total_sent == 3
    assert stats.total_received == 3
    assert stats.open_senders == 1
    assert stats.open_receivers == 1
    assert not stats.closed


async def test_unbounded_channel_never_waits_to_send(open_channel: OpenChannel) -> None:
    tx, rx = await open_channel(None)
    await tx.send_batch(range(5000))
    await tx.flush()
    assert (await tx.stats()).capacity is None
    received: list[int] = []
    while len(received) < 5000:
        received.extend(await rx.recv_batch(5000, timeout=10))
    assert received == list(range(5000))
