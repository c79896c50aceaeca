"""Argument checks shared by the backends' public methods."""

from __future__ import annotations

__all__ = ["check_batch_args"]


def check_batch_args(max_items: int, timeout: float | None) -> None:
    """Check ``recv_batch``'s arguments.

    Raises:
        TypeError: ``max_items`` is not an int.
        ValueError: ``max_items < 1`` or ``timeout < 0``.
    """
    given: object = max_items  # callers may pass anything at run time
    if isinstance(given, bool) or not isinstance(given, int):
        raise TypeError(f"max_items must be an int, not {type(given).__name__}")
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout}")
