"""``Option``: a value that may be missing (``Some`` or ``Nothing``), for in-process use.

``Option[T]`` is ``Some[T] | Nothing``. Both variants are frozen, ``gc=False`` msgspec
structs and work with structural pattern matching::

    match lookup(key):
        case Some(value):
            ...
        case Nothing():
            ...

Like :mod:`klaw_types.result`, these types are for control flow inside one process.
Messages that cross a process or network boundary use klaw-wire's envelope types.
``Some``'s type parameter is covariant: a ``Some[bool]`` is a ``Some[int]``.

Example:
    >>> from klaw_types import Nothing, Some
    >>> Some(3).map(lambda n: n * 2).unwrap_or(0)
    6
    >>> Nothing().map(lambda n: n * 2).unwrap_or(0)
    0
"""

from __future__ import annotations

from klaw_types._variants import Nothing, Option, Some

__all__ = ["Nothing", "Option", "Some"]
