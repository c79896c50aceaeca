"""Functions the stage tests run, in an importable module (Ray workers import them by name).

Functions that must behave differently once (die on the first try, then work) keep
their state in a file named by the value they are given, since each worker is its own
process.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from ray_records import Order

__all__ = [
    "RELEASE",
    "Invoice",
    "Order",
    "Receipt",
    "die_always_at",
    "die_once_at",
    "double",
    "double_async",
    "explode",
    "explode_async",
    "fail_on_sevens",
    "fail_one_percent",
    "price",
    "sleep_on_thirteen",
    "slow_double",
    "stall_on_thirteen",
    "stall_on_thirteen_async",
    "wrong_result",
]


class Invoice(msgspec.Struct, frozen=True):
    """What pricing an order gives."""

    order_id: int
    total: float


class Receipt(msgspec.Struct, frozen=True):
    """Another record type, for type mismatches."""

    order_id: int


def price(order: Order) -> Invoice:
    """Price an order (a trivial one-to-one function)."""
    return Invoice(order.order_id, order.quantity * order.price)


def double(value: int) -> int:
    """Twice the value."""
    return 2 * value


async def double_async(value: int) -> int:
    """Twice the value, awaited."""
    await asyncio.sleep(0)
    return 2 * value


def fail_on_sevens(value: int) -> int:
    """Twice the value; raises ValueError for values ending in 7."""
    if value % 10 == 7:
        raise ValueError(f"no sevens: {value}")
    return 2 * value


def fail_one_percent(value: int) -> int:
    """Twice the value; raises ValueError for 1 value in 100 (those ending in 37)."""
    if value % 100 == 37:
        raise ValueError(f"unlucky: {value}")
    return 2 * value


def explode(value: int) -> Iterator[int]:
    """One value in, ``value % 4`` values out (none for multiples of 4)."""
    for part in range(value % 4):
        yield value * 10 + part


async def explode_async(value: int) -> AsyncIterator[int]:
    """As :func:`explode`, as an async generator."""
    for part in range(value % 4):
        await asyncio.sleep(0)
        yield value * 10 + part


RELEASE = threading.Event()
"""Set to let :func:`stall_on_thirteen` return (local stages only: one process)."""


def stall_on_thirteen(value: int) -> int:
    """Twice the value; 13 blocks until :data:`RELEASE` is set (or 60 s)."""
    if value == 13:
        RELEASE.wait(60)
    return 2 * value


async def stall_on_thirteen_async(value: int) -> int:
    """Twice the value; 13 never finishes in time (it sleeps an hour)."""
    if value == 13:
        await asyncio.sleep(3600)
    return 2 * value


def wrong_result(value: int) -> Any:
    """A string for 5, an int otherwise: the sink refuses the string."""
    return "five" if value == 5 else value


def slow_double(value: int) -> int:
    """Twice the value, after a millisecond (a slow stage)."""
    time.sleep(0.001)
    return 2 * value


def die_once_at(marker: str, at: int) -> Callable[[int], int]:
    """A function that ends its worker process the first time it meets ``at``.

    ``marker`` is a file path: it is created just before the death, so the value works
    on its redelivery.
    """

    def run(value: int) -> int:
        if value == at and not os.path.exists(marker):
            Path(marker).write_text(str(os.getpid()))
            os._exit(1)
        return 2 * value

    return run


def die_always_at(at: int) -> Callable[[int], int]:
    """A function that ends its worker process every time it meets ``at`` (a poison value)."""

    def run(value: int) -> int:
        if value == at:
            os._exit(1)
        return 2 * value

    return run


def sleep_on_thirteen(value: int) -> int:
    """Twice the value; 13 sleeps 30 s (its thread is abandoned at the stage's timeout)."""
    if value == 13:
        time.sleep(30)
    return 2 * value
