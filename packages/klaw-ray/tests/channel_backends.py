"""How the conformance suite opens a channel on each backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from klaw_ray import Receiver, Sender

OpenChannel: TypeAlias = Callable[[int | None], Awaitable[tuple[Sender[Any], Receiver[Any]]]]
"""``await open_channel(capacity)`` returns a fresh ``(sender, receiver)``."""
