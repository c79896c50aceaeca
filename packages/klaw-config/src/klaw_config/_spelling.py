"""Near spellings: which names a mistyped name was probably meant to be.

Similarity is :class:`difflib.SequenceMatcher`'s ratio, twice the number of matching
characters over the total length of both names: 1.0 for the same name, about 0.9 for a
letter left out, doubled or swapped in a ten-letter name.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Final

NEAR: Final = 0.8
"""Least similarity at which two names count as spellings of one another."""


def similarity(name: str, other: str) -> float:
    """How alike two names are, from 0.0 (nothing in common) to 1.0 (equal)."""
    return SequenceMatcher(None, name, other).ratio()


def is_near(name: str, other: str) -> bool:
    """Whether ``name`` is ``other`` or a near spelling of it."""
    return similarity(name, other) >= NEAR


def closest(name: str, candidates: Iterable[str]) -> str:
    """The candidate most like ``name``; the first of equals, in the candidates' order.

    Raises:
        ValueError: There are no candidates.
    """
    return max(candidates, key=lambda candidate: similarity(name, candidate))


def near_match(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` when it is a near spelling of it, else ``None``."""
    best = closest(name, candidates)
    return best if is_near(name, best) else None
