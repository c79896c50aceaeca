"""The variants of ``Result`` and ``Option``, in one module because each converts to the other.

The public modules :mod:`klaw_types.result` and :mod:`klaw_types.option` document and
re-export them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Literal, Never, NoReturn, TypeAlias, TypeVar, Union

import msgspec

from klaw_types.errors import UnwrapError

__all__ = ["Err", "Nothing", "Ok", "Option", "Result", "Some"]

T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
F = TypeVar("F")


class Ok(msgspec.Struct, Generic[T_co], frozen=True, gc=False, tag="ok"):
    """The success variant of :data:`Result`, holding ``value``.

    Attributes:
        value: The successful value.
    """

    value: T_co
    """The successful value."""

    def is_ok(self) -> Literal[True]:
        """Return ``True``: this is the success variant."""
        return True

    def is_err(self) -> Literal[False]:
        """Return ``False``: this is not the error variant."""
        return False

    def ok(self) -> Some[T_co]:
        """Return the value as ``Some(value)``."""
        return Some(self.value)

    def err(self) -> Nothing:
        """Return ``Nothing``: there is no error."""
        return Nothing()

    def unwrap(self) -> T_co:
        """Return the value."""
        return self.value

    def unwrap_err(self) -> NoReturn:
        """Raise: an ``Ok`` has no error.

        Raises:
            UnwrapError: Always, showing this ``Ok``.
        """
        raise UnwrapError("unwrap_err", self)

    def expect(self, message: str) -> T_co:
        """Return the value; ``message`` is used only by ``Err.expect``.

        Args:
            message: What the caller expected, used in the error on an ``Err``.

        Returns:
            The value.
        """
        return self.value

    def unwrap_or(self, default: object) -> T_co:
        """Return the value, ignoring ``default``.

        Args:
            default: The fallback an ``Err`` would return.

        Returns:
            The value.
        """
        return self.value

    def unwrap_or_else(self, op: Callable[[Never], object]) -> T_co:
        """Return the value without calling ``op``.

        Args:
            op: The fallback an ``Err`` would call with its error.

        Returns:
            The value.
        """
        return self.value

    def map(self, op: Callable[[T_co], U]) -> Ok[U]:
        """Apply ``op`` to the value.

        Args:
            op: A function of the value.

        Returns:
            ``Ok(op(value))``.
        """
        return Ok(op(self.value))

    def map_err(self, op: Callable[[Never], object]) -> Ok[T_co]:
        """Return this ``Ok`` unchanged: there is no error to map.

        Args:
            op: The function an ``Err`` would apply to its error.

        Returns:
            This ``Ok``.
        """
        return self

    def and_then(self, op: Callable[[T_co], Result[U, F]]) -> Result[U, F]:
        """Chain a computation that can fail, passing it the value.

        Args:
            op: A function of the value returning a new ``Result``.

        Returns:
            What ``op(value)`` returns.
        """
        return op(self.value)

    def or_else(self, op: Callable[[Never], object]) -> Ok[T_co]:
        """Return this ``Ok`` unchanged without calling ``op``.

        Args:
            op: The recovery an ``Err`` would call with its error.

        Returns:
            This ``Ok``.
        """
        return self


class Err(msgspec.Struct, Generic[E_co], frozen=True, gc=False, tag="err"):
    """The failure variant of :data:`Result`, holding ``error``.

    Attributes:
        error: What went wrong: an exception, an error struct, or any value.
    """

    error: E_co
    """What went wrong."""

    def is_ok(self) -> Literal[False]:
        """Return ``False``: this is not the success variant."""
        return False

    def is_err(self) -> Literal[True]:
        """Return ``True``: this is the error variant."""
        return True

    def ok(self) -> Nothing:
        """Return ``Nothing``: there is no value."""
        return Nothing()

    def err(self) -> Some[E_co]:
        """Return the error as ``Some(error)``."""
        return Some(self.error)

    def unwrap(self) -> NoReturn:
        """Raise: an ``Err`` has no value.

        Raises:
            UnwrapError: Always, showing this ``Err``; chained to the error when the
                error is an exception.
        """
        raise UnwrapError("unwrap", self) from _as_cause(self.error)

    def unwrap_err(self) -> E_co:
        """Return the error."""
        return self.error

    def expect(self, message: str) -> NoReturn:
        """Raise with the caller's ``message``: an ``Err`` has no value.

        Args:
            message: What the caller expected, put first in the error message.

        Raises:
            UnwrapError: Always, with ``message`` and this ``Err``.
        """
        raise UnwrapError("expect", self, message) from _as_cause(self.error)

    def unwrap_or(self, default: U) -> U:
        """Return ``default``.

        Args:
            default: The value to use instead of the missing one.

        Returns:
            ``default``.
        """
        return default

    def unwrap_or_else(self, op: Callable[[E_co], U]) -> U:
        """Compute a fallback from the error.

        Args:
            op: A function of the error.

        Returns:
            ``op(error)``.
        """
        return op(self.error)

    def map(self, op: Callable[[Never], object]) -> Err[E_co]:
        """Return this ``Err`` unchanged: there is no value to map.

        Args:
            op: The function an ``Ok`` would apply to its value.

        Returns:
            This ``Err``.
        """
        return self

    def map_err(self, op: Callable[[E_co], F]) -> Err[F]:
        """Apply ``op`` to the error.

        Args:
            op: A function of the error.

        Returns:
            ``Err(op(error))``.
        """
        return Err(op(self.error))

    def and_then(self, op: Callable[[Never], object]) -> Err[E_co]:
        """Return this ``Err`` unchanged without calling ``op``.

        Args:
            op: The computation an ``Ok`` would chain.

        Returns:
            This ``Err``.
        """
        return self

    def or_else(self, op: Callable[[E_co], Result[U, F]]) -> Result[U, F]:
        """Recover from the error with a computation that can itself fail.

        Args:
            op: A function of the error returning a new ``Result``.

        Returns:
            What ``op(error)`` returns.
        """
        return op(self.error)


def _as_cause(error: object) -> BaseException | None:
    return error if isinstance(error, BaseException) else None


Result: TypeAlias = Union[Ok[T], Err[E]]  # noqa: UP007 - a generic alias needs Union[...]
"""``Ok[T] | Err[E]``: the outcome of an operation that can fail."""


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

    def ok_or(self, error: object) -> Ok[T_co]:
        """Turn the value into a :data:`~klaw_types.result.Result`.

        Args:
            error: The error ``Nothing`` would wrap.

        Returns:
            ``Ok(value)``.
        """
        return Ok(self.value)


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

    def ok_or(self, error: E) -> Err[E]:
        """Turn the absence into an error.

        Args:
            error: The error to wrap.

        Returns:
            ``Err(error)``.
        """
        return Err(error)


Option: TypeAlias = Union[Some[T], Nothing]  # noqa: UP007 - a generic alias needs Union[...]
"""``Some[T] | Nothing``: a value that may be missing."""
