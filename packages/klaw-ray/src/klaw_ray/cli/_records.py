"""The records the ``klaw`` application's demo and benchmarks move through channels."""

from __future__ import annotations

import msgspec

from klaw_types import NonNegativeInt, PositiveInt

__all__ = ["Order"]


class Order(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One order record, as a service would send it.

    ``array_like``: encoded as a MessagePack array of its field values, without field
    names, which roughly halves its size on the wire.

    Attributes:
        order_id: Unique id, 0 to messages - 1.
        customer: Who placed it.
        sku: What was ordered.
        quantity: How many (at least 1).
        unit_price: Price of one item.
        created_ns: When the producer sent it (``time.time_ns()``), for latency.
    """

    order_id: NonNegativeInt
    customer: str
    sku: str
    quantity: PositiveInt
    unit_price: float
    created_ns: int = 0
