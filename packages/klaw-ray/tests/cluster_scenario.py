"""A three-node scenario for ``test_cluster.py``, run in a process of its own.

It starts a ``ray.cluster_utils.Cluster`` on this machine (a head and two worker nodes,
all on 127.0.0.1), pins the channel actor to the head, runs producers on one worker node
and consumers on both, and prints one JSON line describing what happened.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import ray
from ray.cluster_utils import Cluster

from klaw_config import KlawConfig, RayConfig
from klaw_ray import RayReceiver, RaySender
from klaw_ray.ray import ray_channel
from klaw_ray.ray._runtime import use_loopback_only

PRODUCERS, CONSUMERS, PER_PRODUCER = 2, 2, 300


@ray.remote(num_cpus=0, resources={"node_a": 0.01})
def produce(sender: RaySender[int], producer: int) -> str:
    async def run() -> None:
        async with sender:
            for start in range(0, PER_PRODUCER, 50):
                await sender.send_batch(
                    range(producer * 10_000 + start, producer * 10_000 + start + 50)
                )

    asyncio.run(run())
    return ray.get_runtime_context().get_node_id()


@ray.remote(num_cpus=0)
def consume(receiver: RayReceiver[int]) -> tuple[str, list[int]]:
    async def run() -> list[int]:
        async with receiver:
            early = await receiver.recv_batch(1, timeout=0)  # a first get names this node
            while len((await receiver.stats()).readers_per_node) < CONSUMERS:
                await asyncio.sleep(0.05)  # until the other consumer's node is known too
            return [*early, *[value async for value in receiver]]

    return ray.get_runtime_context().get_node_id(), asyncio.run(run())


async def scenario() -> dict[str, Any]:
    config = KlawConfig(ray=RayConfig(namespace="klaw-cluster"))
    tx, rx = await ray_channel(
        64,
        value_type=int,
        namespace="klaw-cluster",
        config=config,
        actor_options={"resources": {"head": 0.01}},
    )
    consumers = [
        consume.options(resources={node: 0.01}).remote(rx.clone()) for node in ("node_a", "node_b")
    ]
    producers = [produce.remote(tx.clone(), p) for p in range(PRODUCERS)]
    await tx.close()
    await rx.close()  # the consumers hold their clones; only they are readers now
    stats = await rx.stats()
    while len(stats.readers_per_node) < len(consumers):
        await asyncio.sleep(0.05)
        stats = await rx.stats()  # each consumer names its node, then waits for the other
    producer_nodes = await asyncio.gather(*producers)
    consumed = await asyncio.gather(*consumers)
    received = sorted(value for _, values in consumed for value in values)
    return {
        "exactly_once": received
        == sorted(p * 10_000 + i for p in range(PRODUCERS) for i in range(PER_PRODUCER)),
        "producer_nodes": sorted(set(producer_nodes)),
        "consumer_nodes": sorted(node for node, _ in consumed),
        "readers_per_node": stats.readers_per_node,
        "actor_pid": stats.extras["pid"],
        "head_node": ray.get_runtime_context().get_node_id(),
    }


def main() -> None:
    use_loopback_only()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
            "resources": {"head": 1},
        },
    )
    try:
        for resource in ("node_a", "node_b"):
            cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1", resources={resource: 1})
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        print(json.dumps(asyncio.run(scenario())))
    finally:
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
