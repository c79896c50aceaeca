"""The root of klaw-wire's exceptions, and the error of a message built against the rules.

They live below :mod:`klaw_wire.wire` (which raises :class:`InvalidMessageError`) and
:mod:`klaw_wire.errors` (which re-exports both, with the rest of the tree).
"""

from __future__ import annotations

from typing import Any

__all__ = ["InvalidMessageError", "KlawWireError"]


def _restore(cls: type[KlawWireError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class KlawWireError(Exception):
    """Base class of every exception klaw-wire raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The keyword-only constructors cannot be called with ``self.args``; restore the
        # attributes directly so the exception pickles (Ray ships exceptions by pickle).
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class InvalidMessageError(KlawWireError, ValueError):
    """A message was built with a value the wire protocol does not allow.

    Raised by ``build`` (and :func:`~klaw_wire.to_wire_error`) for any value a decoder
    would reject, so that a message which exists always decodes; and by every envelope
    constructor for a header whose kind is not the type's. Also a :class:`ValueError`:
    raised inside ``__post_init__`` while decoding, msgspec turns it into a
    :class:`msgspec.ValidationError` with the same message.

    Args:
        field: The offending field, as ``Type.field`` (``"Ack.header.seq"``).
        reason: What is wrong with its value.

    Attributes:
        field: The offending field.
        reason: What is wrong with its value.
    """

    def __init__(self, *, field: str = "", reason: str = "is not allowed") -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field} {reason}" if field else f"message {reason}")
