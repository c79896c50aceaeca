"""``_TypeValidator``: checks encoded values against a channel's value type."""

from __future__ import annotations

from typing import Any, TypeAlias

import msgspec

from klaw_wire import WireHeader, get_codec_pool

__all__ = ["RawItems", "_TypeValidator"]

RawItems: TypeAlias = list[msgspec.Raw]
"""Values still encoded: one ``msgspec.Raw`` (MessagePack bytes) each."""


class _TypeValidator:
    """Checks encoded batches against a channel's value type; built lazily, cached per type."""

    __slots__ = ("_batch_type", "value_type")

    _cache: dict[Any, _TypeValidator] = {}  # noqa: RUF012 - a class-wide cache by design

    def __init__(self, value_type: Any) -> None:
        self.value_type = value_type
        self._batch_type: Any = None if value_type is None else list[value_type]

    @classmethod
    def for_type(cls, value_type: Any) -> _TypeValidator:
        """Return the validator of ``value_type``, building it on first use."""
        try:
            return cls._cache[value_type]
        except KeyError:
            validator = cls._cache[value_type] = cls(value_type)
            return validator
        except TypeError:  # an unhashable type annotation: build without caching
            return cls(value_type)

    def split(self, blob: bytes) -> tuple[WireHeader, RawItems]:
        """Validate a ``DataMessage[list[T]]`` and split it into one encoded item each.

        The whole batch is checked before anything is returned, so a batch with one bad
        item is rejected whole.

        Raises:
            msgspec.DecodeError: The envelope is malformed, or an item does not match the
                value type (``msgspec.ValidationError``, naming the item's index and field).
        """
        pool = get_codec_pool()
        if self._batch_type is not None:
            pool.decode_data(blob, self._batch_type)
        message = pool.decode_data(blob, RawItems)
        return message.header, message.payload

    def split_one(self, blob: bytes) -> tuple[WireHeader, msgspec.Raw]:
        """Validate a ``DataMessage[T]`` and return its header and encoded value.

        Raises:
            msgspec.DecodeError: As for :meth:`split`.
        """
        pool = get_codec_pool()
        if self.value_type is not None:
            pool.decode_data(blob, self.value_type)
        message = pool.decode_data(blob, msgspec.Raw)
        return message.header, message.payload
