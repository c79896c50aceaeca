"""Named channels: detached actors found by name, listed, deleted; checkpoints."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import ray

from channel_backends import wait_for_waiting
from klaw_config import KlawConfig
from klaw_ray import (
    ChannelNotFoundError,
    RayReceiver,
    channel,
    delete_channel,
    get_channel,
    list_channels,
)
from klaw_wire import ChannelBackendError, ChannelClosedError
from ray_records import Order

pytestmark = pytest.mark.anyio


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def test_a_named_channel_is_found_listed_and_deleted(ray_config: KlawConfig) -> None:
    name = _unique("orders")
    tx, rx = await channel(32, backend="ray", value_type=Order, name=name, config=ray_config)
    assert name in await list_channels(config=ray_config)
    tx2, rx2 = await get_channel(name, config=ray_config)
    order = Order(order_id=1, sku="a", quantity=2)
    await tx2.send(order)
    assert await rx.recv() == order
    stats = await rx2.stats()
    assert stats.capacity == 32
    assert stats.open_senders == 2
    waiting = asyncio.create_task(rx2.recv())
    await wait_for_waiting(rx2, receivers=1)
    await delete_channel(name, config=ray_config)
    with pytest.raises(ChannelClosedError):
        await asyncio.wait_for(waiting, 10)
    assert name not in await list_channels(config=ray_config)
    with pytest.raises(ChannelNotFoundError, match=name):
        await get_channel(name, config=ray_config)
    for handle in (tx, rx, tx2, rx2):
        await handle.close()


async def test_opening_an_existing_name_attaches_to_it(ray_config: KlawConfig) -> None:
    name = _unique("shared")
    _tx, rx = await channel(8, backend="ray", value_type=int, name=name, config=ray_config)
    tx2, _rx2 = await channel(8, backend="ray", value_type=int, name=name, config=ray_config)
    await tx2.send(7)
    assert await rx.recv() == 7
    with pytest.raises(ValueError, match="already exists"):
        await channel(9, backend="ray", value_type=int, name=name, config=ray_config)
    await delete_channel(name, config=ray_config)


async def test_names_and_namespaces_are_validated(ray_config: KlawConfig) -> None:
    with pytest.raises(ValueError, match="channel name"):
        await channel(4, backend="ray", name="not a name", config=ray_config)
    with pytest.raises(ValueError, match="namespace"):
        await channel(4, backend="ray", name="ok", namespace="Bad_NS", config=ray_config)
    with pytest.raises(ValueError, match="channel name"):
        await get_channel("9lives", config=ray_config)
    with pytest.raises(ValueError, match="namespace"):
        await list_channels("UPPER", config=ray_config)


async def test_channels_are_listed_per_namespace(ray_config: KlawConfig) -> None:
    name = _unique("elsewhere")
    await channel(4, backend="ray", name=name, namespace="klaw-other", config=ray_config)
    assert name in await list_channels("klaw-other", config=ray_config)
    assert name not in await list_channels(config=ray_config)
    await delete_channel(name, "klaw-other", config=ray_config)


async def test_checkpoint_kill_recreate_restore_brings_the_values_back(
    ray_config: KlawConfig,
) -> None:
    name = _unique("durable")
    tx, rx = await channel(16, backend="ray", value_type=Order, name=name, config=ray_config)
    orders = [Order(order_id=i, sku=f"s{i}", quantity=1) for i in range(5)]
    await tx.send_batch(orders)
    await tx.flush()
    assert await rx.recv_batch(1) == orders[:1]
    await rx.ack()  # a checkpoint keeps what is unacknowledged, like the channel
    checkpoint = await tx.checkpoint()
    ray.kill(tx._actor, no_restart=True)
    await _until_unreachable(rx)
    with pytest.raises(ChannelBackendError):
        await asyncio.wait_for(rx.recv(), 20)
    tx2, rx2 = await channel(16, backend="ray", value_type=Order, name=name, config=ray_config)
    assert await tx2.restore(checkpoint) == 4
    stats = await rx2.stats()
    assert stats.total_sent == 5
    assert stats.open_senders == 1  # the lost actor's handles are not brought back
    await tx2.close()
    assert [order async for order in rx2] == orders[1:]  # and the stream still ends
    await delete_channel(name, config=ray_config)


async def _until_unreachable(rx: RayReceiver[Any]) -> None:
    """Wait until calls fail: ``ray.kill`` returns before the actor is gone."""
    for _ in range(200):
        try:
            await rx.stats()
        except ChannelBackendError:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the killed actor still answers")


async def test_a_bad_checkpoint_is_rejected(ray_config: KlawConfig) -> None:
    tx, _rx = await channel(4, backend="ray", value_type=int, config=ray_config)
    with pytest.raises(ChannelBackendError, match=r"DecodeError|ValidationError"):
        await tx.restore(b"\x93not a checkpoint")


async def test_a_second_driver_reaches_a_named_channel(
    ray_config: KlawConfig, ray_cluster: str, tmp_path: Path
) -> None:
    name = _unique("crossdriver")
    tx, rx = await channel(16, backend="ray", value_type=Order, name=name, config=ray_config)
    script = tmp_path / "second_driver.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio
            import ray
            from klaw_config import KlawConfig, RayConfig
            from klaw_ray import get_channel
            from klaw_ray.ray._runtime import use_loopback_only
            from ray_records import Order

            async def main() -> None:
                config = KlawConfig(ray=RayConfig(namespace="klaw-tests"))
                tx, rx = await get_channel({name!r}, config=config)
                first = await rx.recv()
                async with tx:
                    await tx.send(Order(order_id=first.order_id + 1, sku="reply", quantity=1))
                await rx.close()

            use_loopback_only()
            ray.init(
                address={ray_cluster!r},
                namespace="klaw-tests",
                _node_ip_address="127.0.0.1",
                log_to_driver=False,
            )
            asyncio.run(main())
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    process = await asyncio.create_subprocess_exec(sys.executable, str(script), env=env)
    await tx.send(Order(order_id=41, sku="ask", quantity=1))
    assert await asyncio.wait_for(process.wait(), 120) == 0
    reply = await asyncio.wait_for(rx.recv(), 30)
    assert reply == Order(order_id=42, sku="reply", quantity=1)
    await delete_channel(name, config=ray_config)
