"""``batch_size``: how many values an encoded batch carries, read without decoding them.

A put the actor refuses still spent its sender's credit, one per value, and the actor
must know how much. Decoding tells it, except when decoding is what failed: msgspec
walks nested values recursively, so a value nested deeper than the decoder can follow
fails the count as it failed the check. This module reads only the MessagePack
headers in front of the values, in a loop without recursion, so the count never
depends on how deep (or how valid) the values are.
"""

from __future__ import annotations

__all__ = ["batch_size"]

# Bytes of the length that follows a type byte, for types whose length is given there.
_SIZED = {
    0xC4: 1,  # bin 8
    0xC5: 2,  # bin 16
    0xC6: 4,  # bin 32
    0xD9: 1,  # str 8
    0xDA: 2,  # str 16
    0xDB: 4,  # str 32
}
_EXT = {0xC7: 1, 0xC8: 2, 0xC9: 4}  # ext 8/16/32: a length, a type byte, the data
_FIXED = {  # bytes that follow a type byte of a fixed size
    0xC0: 0,
    0xC2: 0,
    0xC3: 0,
    0xCA: 4,
    0xCB: 8,
    0xCC: 1,
    0xCD: 2,
    0xCE: 4,
    0xCF: 8,
    0xD0: 1,
    0xD1: 2,
    0xD2: 4,
    0xD3: 8,
    0xD4: 2,
    0xD5: 3,
    0xD6: 5,
    0xD7: 9,
    0xD8: 17,
}
_ARRAY = {0xDC: 2, 0xDD: 4}
_MAP = {0xDE: 2, 0xDF: 4}


def batch_size(envelope: bytes) -> int:
    """Return how many values the encoded ``DataMessage[list[T]]`` ``envelope`` carries.

    Only the envelope's own structure is read (``[tag, header, payload]``, then the
    payload's array length); the values are never looked at. Pure and thread-safe.

    Returns:
        The length of the payload array; 0 when the envelope is not a data message
        with an array payload, or is cut short before the payload's length.
    """
    try:
        fields, pos = _container(envelope, 0, _ARRAY, 0x90)
        if fields < 3:
            return 0
        pos = _skip(envelope, pos, 2)  # the tag and the header
        count, _ = _container(envelope, pos, _ARRAY, 0x90)
    except (IndexError, ValueError):
        return 0
    return count


def _container(buf: bytes, pos: int, wide: dict[int, int], fix: int) -> tuple[int, int]:
    """Read the length of the array (or map) at ``pos``; return it and where it ends.

    Raises:
        ValueError: The value at ``pos`` is not such a container.
        IndexError: ``buf`` ends inside the length.
    """
    kind = buf[pos]
    if fix <= kind <= fix + 0x0F:
        return kind & 0x0F, pos + 1
    width = wide.get(kind)
    if width is None:
        raise ValueError(f"no container at byte {pos}")
    if pos + 1 + width > len(buf):
        raise IndexError(pos)
    return int.from_bytes(buf[pos + 1 : pos + 1 + width], "big"), pos + 1 + width


def _skip(buf: bytes, pos: int, count: int) -> int:
    """Skip ``count`` whole values from ``pos``; return where they end.

    Containers add their members to the count instead of being entered, so nesting
    costs no stack.

    Raises:
        ValueError: A byte that starts no MessagePack value.
        IndexError: ``buf`` ends inside a value.
    """
    while count:
        count -= 1
        kind = buf[pos]
        if kind <= 0x7F or kind >= 0xE0:  # positive and negative fixint
            pos += 1
        elif kind <= 0x8F:  # fixmap
            count += 2 * (kind & 0x0F)
            pos += 1
        elif kind <= 0x9F:  # fixarray
            count += kind & 0x0F
            pos += 1
        elif kind <= 0xBF:  # fixstr
            pos += 1 + (kind & 0x1F)
        elif kind in _FIXED:
            pos += 1 + _FIXED[kind]
        elif kind in _SIZED:
            width = _SIZED[kind]
            pos += 1 + width + int.from_bytes(buf[pos + 1 : pos + 1 + width], "big")
        elif kind in _EXT:
            width = _EXT[kind]
            pos += 2 + width + int.from_bytes(buf[pos + 1 : pos + 1 + width], "big")
        elif kind in _ARRAY:
            members, pos = _container(buf, pos, _ARRAY, 0x90)
            count += members
        elif kind in _MAP:
            members, pos = _container(buf, pos, _MAP, 0x80)
            count += 2 * members
        else:  # 0xC1, never used
            raise ValueError(f"byte {kind:#x} at {pos} starts no MessagePack value")
        if pos > len(buf):
            raise IndexError(pos)
    return pos
