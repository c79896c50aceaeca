"""The function the stage benchmark runs, importable by Ray workers by name."""

from __future__ import annotations

import asyncio

import msgspec

from bench_records import Order
from klaw_ray import RayReceiver, RaySender


class Priced(msgspec.Struct, frozen=True, gc=False):
    """An order's total."""

    id: int
    total: float


def price(order: Order) -> Priced:
    """A trivial one-to-one function: the stage's cost, not the function's, is measured."""
    return Priced(order.id, order.quantity * order.price)


def hand_written_worker(source: RayReceiver[Order], sink: RaySender[Priced]) -> int:
    """The consumer loop a stage replaces: receive, apply, send on; close at the end."""

    async def run() -> int:
        count = 0
        async with source, sink:
            async for order in source:
                await sink.send(price(order))
                count += 1
        return count

    return asyncio.run(run())
