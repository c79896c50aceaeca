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

from collections.abc import Callable
from typing import Generic, Literal, Never, NoReturn, TypeAlias, TypeVar, Union

import msgspec

from klaw_types import option as _option
from klaw_types.errors import UnwrapError

__all__ = ["Err", "Ok", "Result"]

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

    def ok(self) -> _option.Some[T_co]:
        """Return the value as ``Some(value)``."""
        return _option.Some(self.value)

    def err(self) -> _option.Nothing:
        """Return ``Nothing``: there is no error."""
        return _option.Nothing()

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

    def ok(self) -> _option.Nothing:
        """Return ``Nothing``: there is no value."""
        return _option.Nothing()

    def err(self) -> _option.Some[E_co]:
        """Return the error as ``Some(error)``."""
        return _option.Some(self.error)

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
