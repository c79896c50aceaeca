"""The Ray backend beyond the shared conformance suite: types, tasks, ordering, stats."""

from __future__ import annotations

import asyncio
import os
import sys
import types
from typing import Any

import msgspec
import pytest
import ray
from ray.exceptions import RayError

from channel_backends import receive_exactly, wait_for_waiting
from klaw_config import KlawConfig
from klaw_ray import (
    RayReceiver,
    RaySender,
    UnshippableTypeError,
    channel,
)
from klaw_wire import (
    ChannelBackendError,
    ChannelRestartedError,
    EndOfStreamError,
    SenderLostError,
)
from ray_records import Order

pytestmark = pytest.mark.anyio


async def _order_channel(config: KlawConfig, capacity: int = 64) -> tuple[Any, Any]:
    return await channel(capacity, backend="ray", value_type=Order, config=config)


async def test_typed_values_round_trip(ray_config: KlawConfig) -> None:
    tx, rx = await _order_channel(ray_config)
    orders = [Order(order_id=i, sku=f"sku-{i}", quantity=i + 1, price=1.5 * i) for i in range(20)]
    await tx.send(orders[0])
    await tx.send_batch(orders[1:])
    assert await rx.recv() == orders[0]
    assert await receive_exactly(rx, len(orders) - 1) == orders[1:]


async def test_wrong_typed_value_is_rejected_naming_the_field(ray_config: KlawConfig) -> None:
    tx, _rx = await _order_channel(ray_config)
    with pytest.raises(TypeError, match=r"quantity"):
        await tx.send(Order(order_id=1, sku="a", quantity=0))  # violates PositiveInt
    with pytest.raises(TypeError, match=r"Expected `str`"):
        await tx.send({"order_id": 1, "sku": 5, "quantity": 1})
    assert (await tx.stats()).size == 0


async def test_a_batch_with_one_bad_value_is_rejected_whole(ray_config: KlawConfig) -> None:
    tx, rx = await _order_channel(ray_config)
    good = [Order(order_id=i, sku="ok", quantity=1) for i in range(5)]
    bad = Order(order_id=99, sku="bad", quantity=-3)
    with pytest.raises(TypeError, match=r"\$\[5\]\.quantity|quantity"):
        await tx.send_batch([*good, bad])
    stats = await tx.stats()
    assert stats.size == 0
    assert stats.total_sent == 0
    await tx.send_batch(good)
    assert await rx.recv_batch(10) == good


async def test_unencodable_value_is_a_type_error(ray_config: KlawConfig) -> None:
    tx, _rx = await channel(4, backend="ray", config=ray_config)
    with pytest.raises(TypeError, match="not encodable"):
        await tx.send(object())


async def test_pipelined_sends_from_one_handle_arrive_in_order(ray_config: KlawConfig) -> None:
    tx, rx = await channel(1000, backend="ray", value_type=int, config=ray_config)
    # 50 calls in flight at once: fewer than the actor serves at once (ray.max_concurrency
    # is 64), as the channel documentation asks of pipelining callers.
    await asyncio.gather(*(tx.send(i) for i in range(50)))
    await asyncio.gather(*(tx.send_batch([i]) for i in range(50, 100)))
    await tx.flush()
    received: list[int] = []
    while len(received) < 100:
        received.extend(await rx.recv_batch(1000, timeout=10))
    assert received == list(range(100))


async def test_batches_larger_than_capacity_are_split_in_order(ray_config: KlawConfig) -> None:
    tx, rx = await channel(10, backend="ray", value_type=int, config=ray_config)

    async def drain() -> list[int]:
        received: list[int] = []
        async for value in rx:
            received.append(value)
        return received

    draining = asyncio.create_task(drain())
    async with tx:
        await tx.send_batch(range(95))
    assert await asyncio.wait_for(draining, 30) == list(range(95))


@ray.remote(num_cpus=0)
def _produce(sender: RaySender[int], producer: int, count: int) -> int:
    async def run() -> int:
        async with sender:
            for start in range(0, count, 10):
                if (start // 10) % 2:
                    await sender.send_batch(
                        [producer * 100_000 + i for i in range(start, start + 10)]
                    )
                else:
                    for i in range(start, start + 10):
                        await sender.send(producer * 100_000 + i)
        return count

    return asyncio.run(run())


@ray.remote(num_cpus=0)
def _consume(receiver: RayReceiver[int]) -> list[int]:
    async def run() -> list[int]:
        received: list[int] = []
        async with receiver:
            while True:
                try:
                    received.extend(await receiver.recv_batch(25, timeout=10))
                except EndOfStreamError:
                    return received

    return asyncio.run(run())


async def test_every_value_is_received_exactly_once_across_tasks(ray_config: KlawConfig) -> None:
    tx, rx = await channel(64, backend="ray", value_type=int, config=ray_config)
    producers, consumers, per_producer = 3, 2, 200
    produced = [_produce.remote(tx.clone(), p, per_producer) for p in range(producers)]
    consumed = [_consume.remote(rx.clone()) for _ in range(consumers)]
    await tx.close()
    await rx.close()
    assert sum(await asyncio.gather(*produced)) == producers * per_producer
    batches: list[list[int]] = await asyncio.gather(*consumed)
    received = [value for batch in batches for value in batch]
    expected = [p * 100_000 + i for p in range(producers) for i in range(per_producer)]
    assert sorted(received) == expected
    for batch in batches:  # each producer's values stay in order within each consumer
        for p in range(producers):
            mine = [v for v in batch if v // 100_000 == p]
            assert mine == sorted(mine)


async def test_stats_count_readers_per_node(ray_config: KlawConfig) -> None:
    tx, rx = await channel(16, backend="ray", value_type=int, config=ray_config)
    rx2 = rx.clone()
    await tx.send_batch([1, 2, 3])
    await tx.flush()
    assert len(await rx.recv_batch(1)) == 1  # recv_batch fetches what it asks for, no more
    assert len(await rx2.recv_batch(1)) == 1
    stats = await rx.stats()
    node = ray.get_runtime_context().get_node_id()
    assert stats.backend == "ray"
    assert stats.readers_per_node == {node: 2}
    assert sorted(r.total_received for r in stats.readers) == [1, 1]
    assert stats.open_receivers == 2
    assert stats.size == 1


def _local_struct_type() -> type[msgspec.Struct]:
    class Point(msgspec.Struct, frozen=True):
        x: int
        y: int = 0

        def norm1(self) -> int:
            return abs(self.x) + abs(self.y)

    return Point


@ray.remote(num_cpus=0)
def _echo_points(receiver: RayReceiver[Any], sender: RaySender[Any]) -> list[int]:
    async def run() -> list[int]:
        points = await receiver.recv_batch(10, timeout=10)
        assert all(type(p).__struct_fields__ == ("x", "y") for p in points)
        await sender.send_batch([type(points[0])(x=p.x * 10, y=p.y) for p in points])
        return [p.norm1() for p in points]

    return asyncio.run(run())


async def test_a_struct_defined_at_run_time_works_in_a_worker(ray_config: KlawConfig) -> None:
    point = _local_struct_type()  # not importable by name: Ray ships it by value
    tx, rx = await channel(16, backend="ray", value_type=point, config=ray_config)
    back_tx, back_rx = await channel(16, backend="ray", value_type=point, config=ray_config)
    await tx.send_batch([point(x=1, y=-2), point(x=3)])
    norms = await _echo_points.remote(rx, back_tx)
    assert norms == [3, 3]
    assert await back_rx.recv_batch(10) == [point(x=10, y=-2), point(x=30)]


def _recursive_struct_type() -> Any:
    """A self-referencing struct in a module workers cannot import (so shipped by value)."""
    module = types.ModuleType("klaw_dynamic_records")
    sys.modules[module.__name__] = module
    exec(
        "import msgspec\n"
        "class Node(msgspec.Struct):\n"
        "    value: int\n"
        "    children: 'list[Node]' = []\n",
        module.__dict__,
    )
    ray.cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
    return module.Node


async def test_an_unshippable_type_fails_at_creation_saying_how_to_fix_it(
    ray_config: KlawConfig,
) -> None:
    with pytest.raises(UnshippableTypeError, match="importable module"):
        await channel(4, backend="ray", value_type=_recursive_struct_type(), config=ray_config)


async def test_killed_actor_surfaces_as_backend_error_promptly(ray_config: KlawConfig) -> None:
    tx, rx = await channel(1, backend="ray", value_type=int, config=ray_config)
    await tx.send(1)
    waiting_send = asyncio.create_task(tx.send(2))
    rx2 = rx.clone()
    await rx2.recv()
    await rx2.recv()  # takes 2; the next recv waits
    waiting_recv = asyncio.create_task(rx2.recv())
    await wait_for_waiting(rx2, receivers=1)
    ray.kill(tx._actor, no_restart=True)
    with pytest.raises(ChannelBackendError) as info:
        await asyncio.wait_for(waiting_recv, 20)
    assert info.value.backend == "ray"
    await asyncio.wait_for(waiting_send, 20)
    with pytest.raises(ChannelBackendError):
        await asyncio.wait_for(tx.send(3), 20)
    with pytest.raises(ChannelBackendError):
        await asyncio.wait_for(rx.try_recv(), 20)
    await tx.close()  # closing a dead channel is quiet


async def test_a_restart_that_lost_values_is_raised_by_every_handle(
    ray_config: KlawConfig,
) -> None:
    tx, rx = await channel(8, backend="ray", value_type=int, config=ray_config)
    await tx.send_batch([1, 2, 3])
    await tx.flush()
    await _kill_and_await_restart(tx)
    with pytest.raises(ChannelRestartedError) as raised:
        await _send_and_flush(tx, 4)
    assert raised.value.incarnation != 0
    with pytest.raises(ChannelRestartedError):
        await tx.send(5)  # and keeps raising: the handle belongs to the lost incarnation
    with pytest.raises(ChannelRestartedError):
        await rx.recv()  # never the values sent after the restart, with a hole before them


@ray.remote(num_cpus=0, max_retries=0)
def _produce_then_die(sender: RaySender[int], count: int) -> None:
    async def run() -> None:
        for i in range(count):
            await sender.send(i)
        await sender.flush()  # what a coalescing sender buffered dies with its process

    asyncio.run(run())
    os._exit(1)  # dies without closing its handle


async def test_a_producer_that_dies_mid_stream_is_reported_after_everything_it_sent(
    ray_config: KlawConfig,
) -> None:
    tx, rx = await channel(100, backend="ray", value_type=int, config=ray_config)
    lost = tx.clone()
    with pytest.raises(RayError):
        await _produce_then_die.remote(lost, 30)
    await tx.close()
    received: list[int] = []
    with pytest.raises(SenderLostError) as raised:
        await _receive_all(rx, received)
    assert received == list(range(30))
    assert raised.value.sender_id == lost.handle_id
    assert (await rx.stats()).lost_senders == 1


async def test_the_stream_never_ends_early_after_a_restart(ray_config: KlawConfig) -> None:
    tx, rx = await channel(8, backend="ray", value_type=int, config=ray_config)
    survivor = tx.clone()
    await survivor.send(1)
    await survivor.flush()
    await tx.close()
    await _kill_and_await_restart(rx)
    with pytest.raises(ChannelRestartedError):
        await rx.recv()  # not the end of the stream: the values were lost
    await survivor.close()  # closing a handle of a lost incarnation is quiet


async def _send_and_flush(tx: RaySender[int], value: int) -> None:
    await tx.send(value)
    await tx.flush()


async def _receive_all(rx: RayReceiver[int], into: list[int]) -> None:
    while True:
        into.extend(await asyncio.wait_for(rx.recv_batch(100), 30))


async def _kill_and_await_restart(handle: RaySender[Any] | RayReceiver[Any]) -> None:
    """Kill the channel actor (restart allowed) and wait until its new process answers."""
    old_pid = (await handle.stats()).extras["pid"]
    ray.kill(handle._actor, no_restart=False)
    for _ in range(150):
        try:
            if (await handle.stats()).extras["pid"] != old_pid:
                return
        except ChannelBackendError:
            pass  # calls fail while the actor restarts
        await asyncio.sleep(0.2)
    pytest.fail("the actor did not come back")
