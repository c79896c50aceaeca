"""Errors raised by klaw-types."""

from __future__ import annotations

__all__ = ["KlawTypesError", "UnwrapError"]


class KlawTypesError(Exception):
    """Base class of every exception klaw-types raises."""


class UnwrapError(KlawTypesError):
    """A ``Result`` or ``Option`` was unwrapped as the variant it is not.

    Raised by ``Err.unwrap()``, ``Ok.unwrap_err()``, ``Nothing.unwrap()`` and the
    ``expect`` methods. The message shows the value that was found instead.

    Attributes:
        method: The method that was called, e.g. ``"unwrap"``.
        found: The variant that was found (an ``Err``, ``Ok`` or ``Nothing``).
        reason: The caller's message when raised by ``expect``, else ``None``.
    """

    def __init__(self, method: str, found: object, reason: str | None = None) -> None:
        self.method = method
        self.found = found
        self.reason = reason
        if reason is None:
            text = f"called `{method}()` on {found!r}"
        else:
            text = f"{reason}: found {found!r}"
        super().__init__(text)
