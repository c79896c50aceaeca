"""The record the Ray benchmarks move, in an importable module.

Ray workers (the klaw channel actor, ``ray.util.queue``'s actor) import it by name, as a
service's own modules would be imported: the benchmarks' ``conftest.py`` puts this folder
on ``PYTHONPATH`` before Ray starts.
"""

from __future__ import annotations

import msgspec

from klaw_types import PositiveInt

__all__ = ["Order", "OrderRow", "make_orders"]


class Order(msgspec.Struct, frozen=True):
    """A small order record, typical of what services send each other."""

    id: int
    sku: str
    quantity: PositiveInt
    price: float


class OrderRow(msgspec.Struct, frozen=True, array_like=True):
    """:class:`Order` encoded as an array (no field names on the wire), for size comparisons."""

    id: int
    sku: str
    quantity: PositiveInt
    price: float


def make_orders(count: int, start: int = 0) -> list[Order]:
    """Return ``count`` distinct orders, numbered from ``start``."""
    return [
        Order(id=i, sku=f"SKU-{i % 9973:05d}", quantity=1 + i % 50, price=round(0.99 + i % 500, 2))
        for i in range(start, start + count)
    ]
