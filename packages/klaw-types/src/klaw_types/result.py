"""``Result``: a value (``Ok``) or an error (``Err``), for in-process control flow.

``Result[T, E]`` is ``Ok[T] | Err[E]``. Both variants are frozen, ``gc=False`` msgspec
structs, so they are cheap to build, hashable when their contents are, and usable with
structural pattern matching::

    match await sender.try_send(item):
        case Ok(_):
            ...
        case Err(ChannelFull()):
            ...

These types are for control flow inside one process: returning an outcome without
raising. Messages that cross a process or network boundary use klaw-wire's envelope
types (``DataMessage``, ``WireError``, ...), which carry a versioned header.

Because the variants are immutable, their type parameters are covariant: an
``Ok[bool]`` is an ``Ok[int]``, and ``Result[bool, ValueError]`` is a
``Result[int, Exception]``.

Example:
    >>> from klaw_types import Err, Ok
    >>> def parse(text: str) -> Result[int, str]:
    ...     return Ok(int(text)) if text.isdigit() else Err(f"not a number: {text!r}")
    >>> parse("41").map(lambda n: n + 1)
    Ok(value=42)
    >>> parse("x").unwrap_or(0)
    0
"""

from __future__ import annotations

from klaw_types._variants import Err, Ok, Result

__all__ = ["Err", "Ok", "Result"]
