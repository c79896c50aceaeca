"""``batch_size``: the number of values of an encoded batch, whatever the values are."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from klaw_ray.ray._batch_size import batch_size
from klaw_wire import DataMessage, WireHeader, get_codec_pool

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.binary(max_size=300)  # bin 8 and bin 16
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=18) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=24,
)
_headers = st.builds(
    WireHeader,
    channel_id=st.text(max_size=40),
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    ts=st.integers(min_value=0, max_value=2**63 - 1),
)
_SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None)


def _envelope(payload: Any, header: WireHeader | None = None) -> bytes:
    return get_codec_pool().encode(DataMessage(header=header or WireHeader(), payload=payload))


@_SETTINGS
@given(items=st.lists(_values, max_size=20), header=_headers)
def test_the_size_of_a_batch_is_its_number_of_values(items: list[Any], header: WireHeader) -> None:
    assert batch_size(_envelope(items, header)) == len(items)


def test_the_size_of_a_large_batch_is_read_from_its_wide_length() -> None:
    for count in (15, 16, 2**16 - 1, 2**16, 70_000):
        assert batch_size(_envelope(list(range(count)))) == count


def test_a_value_nested_deeper_than_any_decoder_follows_is_counted_once() -> None:
    deep = msgspec.Raw(b"\x91" * 1_000_000 + b"\xc0")
    assert batch_size(_envelope([1, deep, 2])) == 3


@_SETTINGS
@given(items=st.lists(_values, min_size=1, max_size=4), cut=st.integers(min_value=0))
def test_a_cut_envelope_counts_all_its_values_or_none(items: list[Any], cut: int) -> None:
    envelope = _envelope(items)
    assert batch_size(envelope[: cut % len(envelope)]) in (0, len(items))


@_SETTINGS
@given(payload=_scalars | st.dictionaries(st.text(max_size=4), _scalars, min_size=1))
def test_a_payload_that_is_no_list_counts_zero(payload: Any) -> None:
    assert batch_size(_envelope(payload)) == 0


@_SETTINGS
@given(data=st.binary(max_size=64))
def test_any_bytes_are_counted_without_raising(data: bytes) -> None:
    assert batch_size(data) >= 0
