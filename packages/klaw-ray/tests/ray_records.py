"""Value types for the Ray tests, in an importable module (workers import them by name)."""

from __future__ import annotations

import msgspec

from klaw_types import PositiveInt


class Order(msgspec.Struct, frozen=True):
    """A small typed record like the ones services send."""

    order_id: int
    sku: str
    quantity: PositiveInt
    price: float = 0.0
