"""Types flow through stages, checked by mypy in CI (see test_typing.py for the method).

A stage from a ``Receiver[Order]`` with ``fn: Order -> Invoice`` into a
``Sender[Invoice]`` type-checks; each ``type: ignore[arg-type]`` line below is a
mismatch that must stay an error (strict mypy reports an ignore that is not needed).
The well-typed pipeline also runs, on the local backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import assert_type

import pytest

from klaw_ray import DeadLetter, LocalReceiver, LocalSender, Stage, local_channel, stage
from ray_records import Order
from stage_functions import Invoice, Receipt, price

pytestmark = pytest.mark.anyio


def _channels() -> tuple[
    LocalSender[Order], LocalReceiver[Order], LocalSender[Invoice], LocalReceiver[Invoice]
]:
    orders: tuple[LocalSender[Order], LocalReceiver[Order]] = local_channel(8)
    invoices: tuple[LocalSender[Invoice], LocalReceiver[Invoice]] = local_channel(8)
    return orders[0], orders[1], invoices[0], invoices[1]


async def test_a_well_typed_pipeline_checks_and_runs() -> None:
    orders_tx, orders_rx, invoices_tx, invoices_rx = _channels()
    dead: tuple[LocalSender[DeadLetter[Order]], LocalReceiver[DeadLetter[Order]]]
    dead = local_channel(8)
    running = stage(price, orders_rx, invoices_tx, workers=1, dead_letter=dead[0])
    assert_type(running, Stage)
    async with orders_tx:
        await orders_tx.send(Order(1, "SKU", 2, 1.5))
    assert [invoice async for invoice in invoices_rx] == [Invoice(1, 3.0)]
    await running.wait()
    await dead[1].close()


async def _price_async(order: Order) -> Invoice:
    return price(order)


def _split(order: Order) -> Iterator[Invoice]:
    yield price(order)


async def _split_async(order: Order) -> AsyncIterator[Invoice]:
    yield price(order)


def _only_checked_by_mypy() -> None:
    """Never called: mypy checks these calls; running them would start stages."""
    orders_tx, orders_rx, invoices_tx, _ = _channels()
    receipts: tuple[LocalSender[Receipt], LocalReceiver[Receipt]] = local_channel(8)
    wrong_dead: tuple[LocalSender[DeadLetter[Invoice]], LocalReceiver[DeadLetter[Invoice]]]
    wrong_dead = local_channel(8)
    # Every shape of function matches its sink:
    stage(_price_async, orders_rx, invoices_tx)
    stage(_split, orders_rx, invoices_tx)
    stage(_split_async, orders_rx, invoices_tx)
    stage(price, orders_rx)
    # A result type the sink does not take:
    stage(price, orders_rx, receipts[0])  # type: ignore[arg-type]
    stage(_price_async, orders_rx, receipts[0])  # type: ignore[arg-type]
    stage(_split, orders_rx, receipts[0])  # type: ignore[arg-type]
    # A function that does not take the source's values:
    stage(price, invoices_tx_as_receiver(), invoices_tx)  # type: ignore[arg-type]
    # A dead-letter channel of the wrong record type:
    stage(price, orders_rx, invoices_tx, dead_letter=wrong_dead[0])  # type: ignore[arg-type, misc]
    del orders_tx


def invoices_tx_as_receiver() -> LocalReceiver[Invoice]:
    """A receiver of invoices (for the mismatch above)."""
    return local_channel(1)[1]
