"""klaw-wire. Its public API arrives with its issue; nothing is exported yet."""

from __future__ import annotations

__all__: list[str] = []
