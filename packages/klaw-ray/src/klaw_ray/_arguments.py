"""Argument checks and defaults shared by the backends' public functions and methods."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any, Final

import msgspec

from klaw_types import ChannelCapacity, Identifier, Namespace

if TYPE_CHECKING:
    from klaw_config import KlawConfig

__all__ = [
    "UNBOUNDED",
    "check_abort_reason",
    "check_batch_args",
    "check_timeout",
    "resolve_arguments",
]

UNBOUNDED: Final = sys.maxsize
"""The capacity an unbounded channel keeps internally: no count of values reaches it."""


def check_timeout(timeout: float | None, argument: str = "timeout") -> None:
    """Check a timeout argument: ``None`` or a finite number of seconds, at least 0.

    Raises:
        TypeError: ``timeout`` is not a number (``bool`` included).
        ValueError: ``timeout`` is negative, NaN or infinite.
    """
    given: object = timeout  # callers may pass anything at run time
    if given is None:
        return
    if isinstance(given, bool) or not isinstance(given, int | float):
        raise TypeError(
            f"{argument} must be a number of seconds or None, not {type(given).__name__}"
        )
    if not math.isfinite(given) or given < 0:
        raise ValueError(f"{argument} must be a finite number >= 0 or None, got {given!r}")


def check_abort_reason(reason: object) -> None:
    """Check the ``reason`` of ``Sender.abort``.

    Raises:
        TypeError: ``reason`` is not a non-empty string.
    """
    if not isinstance(reason, str) or not reason:
        raise TypeError(f"abort needs a non-empty reason string, got {reason!r}")


def check_batch_args(max_items: int, timeout: float | None) -> None:
    """Check ``recv_batch``'s arguments.

    Raises:
        TypeError: ``max_items`` is not an int, or ``timeout`` not a number.
        ValueError: ``max_items < 1``, or ``timeout`` negative, NaN or infinite.
    """
    given: object = max_items  # callers may pass anything at run time
    if isinstance(given, bool) or not isinstance(given, int):
        raise TypeError(f"max_items must be an int, not {type(given).__name__}")
    if max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}")
    check_timeout(timeout)


def _validated(value: object, tp: Any, argument: str) -> Any:
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        # msgspec names the path `$`; the argument's name is what a caller can act on.
        reason = str(exc).replace(" - at `$`", "")
        raise ValueError(f"invalid {argument} {value!r}: {reason}") from exc


def resolve_arguments(
    capacity: int | None,
    *,
    name: str | None,
    namespace: str | None,
    unbounded: bool,
    config: KlawConfig | None,
) -> tuple[int | None, str | None, str | None, KlawConfig]:
    """Validate channel arguments and fill the defaults from the configuration.

    Returns:
        ``(capacity, name, namespace, config)``; ``capacity`` is ``None`` only when
        ``unbounded`` is true; ``namespace`` stays ``None`` when not given.

    Raises:
        ValueError: An argument is out of range, or ``unbounded`` came with a capacity.
        klaw_config.ConfigError: ``config`` was not given and loading it failed.
    """
    if unbounded and capacity is not None:
        raise ValueError("give either a capacity or unbounded=True, not both")
    if capacity is not None:
        capacity = _validated(capacity, ChannelCapacity, "capacity")
    if name is not None:
        name = _validated(name, Identifier, "channel name")
    if namespace is not None:
        namespace = _validated(namespace, Namespace, "namespace")
    if config is None:
        from klaw_config import load_config  # noqa: PLC0415 - only when no config is given

        config = load_config()
    if capacity is None and not unbounded:
        capacity = config.channels.capacity
    return capacity, name, namespace, config
