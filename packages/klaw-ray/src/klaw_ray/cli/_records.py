"""The records the ``klaw`` application's demo and benchmarks move; the demo's stages."""

from __future__ import annotations

import msgspec

from klaw_types import NonNegativeInt, PositiveInt

__all__ = ["TAX_RATE", "Invoice", "Order", "PricedOrder", "price", "total"]


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


class PricedOrder(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An order with its subtotal: what the demo's ``price`` stage sends on.

    Attributes:
        order_id: The order's id.
        customer: Who placed it.
        subtotal: quantity * unit_price.
        created_ns: When the producer sent the order (carried through, for latency).
    """

    order_id: NonNegativeInt
    customer: str
    subtotal: float
    created_ns: int = 0


class Invoice(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An order's total with tax: what the demo's ``total`` stage sends on.

    Attributes:
        order_id: The order's id.
        customer: Who placed it.
        total: The subtotal with tax, rounded to cents.
        created_ns: When the producer sent the order.
    """

    order_id: NonNegativeInt
    customer: str
    total: float
    created_ns: int = 0


TAX_RATE = 0.08
"""The tax the demo's ``total`` stage adds."""


def price(order: Order) -> PricedOrder:
    """The demo's first stage: an order's subtotal."""
    return PricedOrder(
        order.order_id, order.customer, order.quantity * order.unit_price, order.created_ns
    )


def total(priced: PricedOrder) -> Invoice:
    """The demo's second stage: the subtotal with tax."""
    return Invoice(
        priced.order_id,
        priced.customer,
        round(priced.subtotal * (1 + TAX_RATE), 2),
        priced.created_ns,
    )
