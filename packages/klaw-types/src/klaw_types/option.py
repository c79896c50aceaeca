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

from collections.abc import Callable
from typing import Generic, Literal, Never, NoReturn, TypeAlias, TypeVar, Union

import msgspec

from klaw_types import result as _result
from klaw_types.errors import UnwrapError

__all__ = ["Nothing", "Option", "Some"]

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")
U = TypeVar("U")
E = TypeVar("E")


class Some(msgspec.Struct, Generic[T_co], frozen=True, gc=False, tag="some"):
    """The present variant of :data:`Option`, holding ``value``.

    Attributes:
        value: The value that is present.
    """

    value: T_co
    """The value that is present."""

    def is_some(self) -> Literal[True]:
        """Return ``True``: a value is present."""
        return True

    def is_none(self) -> Literal[False]:
        """Return ``False``: a value is present."""
        return False

    def unwrap(self) -> T_co:
        """Return the value."""
        return self.value

    def expect(self, message: str) -> T_co:
        """Return the value; ``message`` is used only by ``Nothing.expect``.

        Args:
            message: What the caller expected, used in the error on ``Nothing``.

        Returns:
            The value.
        """
        return self.value

    def unwrap_or(self, default: object) -> T_co:
        """Return the value, ignoring ``default``.

        Args:
            default: The fallback ``Nothing`` would return.

        Returns:
            The value.
        """
        return self.value

    def unwrap_or_else(self, op: Callable[[], object]) -> T_co:
        """Return the value without calling ``op``.

        Args:
            op: The fallback ``Nothing`` would call.

        Returns:
            The value.
        """
        return self.value

    def map(self, op: Callable[[T_co], U]) -> Some[U]:
        """Apply ``op`` to the value.

        Args:
            op: A function of the value.

        Returns:
            ``Some(op(value))``.
        """
        return Some(op(self.value))

    def and_then(self, op: Callable[[T_co], Option[U]]) -> Option[U]:
        """Chain a computation that may find nothing, passing it the value.

        Args:
            op: A function of the value returning a new ``Option``.

        Returns:
            What ``op(value)`` returns.
        """
        return op(self.value)

    def filter(self, predicate: Callable[[T_co], object]) -> Some[T_co] | Nothing:
        """Keep the value only when ``predicate`` holds for it.

        Args:
            predicate: A test of the value; its truthiness decides.

        Returns:
            This ``Some`` when ``predicate(value)`` is true, else ``Nothing()``.
        """
        return self if predicate(self.value) else Nothing()

    def ok_or(self, error: object) -> _result.Ok[T_co]:
        """Turn the value into a :data:`~klaw_types.result.Result`.

        Args:
            error: The error ``Nothing`` would wrap.

        Returns:
            ``Ok(value)``.
        """
        return _result.Ok(self.value)


class Nothing(msgspec.Struct, frozen=True, gc=False, tag="nothing"):
    """The absent variant of :data:`Option`. All ``Nothing()`` instances are equal."""

    def is_some(self) -> Literal[False]:
        """Return ``False``: no value is present."""
        return False

    def is_none(self) -> Literal[True]:
        """Return ``True``: no value is present."""
        return True

    def unwrap(self) -> NoReturn:
        """Raise: there is no value.

        Raises:
            UnwrapError: Always, showing ``Nothing()``.
        """
        raise UnwrapError("unwrap", self)

    def expect(self, message: str) -> NoReturn:
        """Raise with the caller's ``message``: there is no value.

        Args:
            message: What the caller expected, put first in the error message.

        Raises:
            UnwrapError: Always, with ``message``.
        """
        raise UnwrapError("expect", self, message)

    def unwrap_or(self, default: U) -> U:
        """Return ``default``.

        Args:
            default: The value to use instead of the missing one.

        Returns:
            ``default``.
        """
        return default

    def unwrap_or_else(self, op: Callable[[], U]) -> U:
        """Compute a fallback.

        Args:
            op: A function of no arguments.

        Returns:
            ``op()``.
        """
        return op()

    def map(self, op: Callable[[Never], object]) -> Nothing:
        """Return ``Nothing``: there is no value to map.

        Args:
            op: The function ``Some`` would apply.

        Returns:
            This ``Nothing``.
        """
        return self

    def and_then(self, op: Callable[[Never], object]) -> Nothing:
        """Return ``Nothing`` without calling ``op``.

        Args:
            op: The computation ``Some`` would chain.

        Returns:
            This ``Nothing``.
        """
        return self

    def filter(self, predicate: Callable[[Never], object]) -> Nothing:
        """Return ``Nothing`` without calling ``predicate``.

        Args:
            predicate: The test ``Some`` would apply.

        Returns:
            This ``Nothing``.
        """
        return self

    def ok_or(self, error: E) -> _result.Err[E]:
        """Turn the absence into an error.

        Args:
            error: The error to wrap.

        Returns:
            ``Err(error)``.
        """
        return _result.Err(error)


Option: TypeAlias = Union[Some[T], Nothing]  # noqa: UP007 - a generic alias needs Union[...]
"""``Some[T] | Nothing``: a value that may be missing."""
