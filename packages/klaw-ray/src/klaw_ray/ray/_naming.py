"""How a channel's Ray actor is named, and the clock its envelopes are stamped with."""

from __future__ import annotations

import time
from typing import Final

__all__ = ["CHANNEL_ACTOR_PREFIX", "actor_name", "now_ms"]

CHANNEL_ACTOR_PREFIX: Final = "klaw-channel/"
"""Prefix of a named channel's actor name; what :func:`list_channels` looks for."""


def actor_name(channel_name: str) -> str:
    """The Ray actor name of the channel called ``channel_name`` (``""`` stays ``""``)."""
    return f"{CHANNEL_ACTOR_PREFIX}{channel_name}" if channel_name else ""


def now_ms() -> int:
    """Unix time in whole milliseconds (UTC), as envelope headers carry it."""
    return time.time_ns() // 1_000_000
