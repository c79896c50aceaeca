"""CodecPool: encoding, typed decoding, buffer safety, threads and allocations."""

from __future__ import annotations

import sys
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
import pytest
from hypothesis import given

from klaw_wire import (
    Ack,
    BufferPool,
    CodecPool,
    DataMessage,
    Heartbeat,
    UnknownSchemaVersionError,
    WireEncodeError,
    WireValidationError,
    decode,
    encode,
    encode_frame,
    get_codec_pool,
)
from wire_strategies import WIRE_SETTINGS, Job, data_messages, envelopes, jobs


@pytest.fixture
def codec() -> CodecPool:
    return CodecPool()


def test_the_process_pool_is_a_singleton_used_by_the_shortcuts() -> None:
    assert get_codec_pool() is get_codec_pool()
    msg = Heartbeat.build(sender_id="w")
    assert encode(msg) == get_codec_pool().encode(msg)
    assert decode(encode(msg)) == msg


@WIRE_SETTINGS
@given(envelopes)
def test_encode_into_writes_what_encode_returns(msg: Any) -> None:
    codec = get_codec_pool()
    buf = bytearray(b"prefix")
    written = codec.encode_into(msg, buf, 6)
    assert bytes(buf) == b"prefix" + codec.encode(msg)
    assert written == len(buf) - 6


def test_encode_into_overwrites_from_the_offset_and_truncates(codec: CodecPool) -> None:
    buf = bytearray(b"x" * 100)
    written = codec.encode_into(Ack(), buf)
    assert bytes(buf) == codec.encode(Ack())
    assert written == len(buf)
    end = len(buf)
    written = codec.encode_into(Ack(acked_seq=1), buf, end)
    assert bytes(buf[end:]) == codec.encode(Ack(acked_seq=1))
    assert written == len(buf) - end


@pytest.mark.parametrize("offset", [-1, 4])
def test_encode_into_refuses_an_offset_outside_the_buffer(codec: CodecPool, offset: int) -> None:
    buf = bytearray(b"abc")
    with pytest.raises(ValueError, match="offset"):
        codec.encode_into(Ack(), buf, offset)
    assert buf == bytearray(b"abc")


def test_encode_into_needs_a_bytearray(codec: CodecPool) -> None:
    with pytest.raises(TypeError, match="bytearray"):
        codec.encode_into(Ack(), memoryview(bytearray(10)))  # type: ignore[arg-type]


def test_an_unencodable_payload_raises_wire_encode_error(codec: CodecPool) -> None:
    msg = DataMessage.build(object())
    for encode_it in (codec.encode, encode, lambda m: codec.encode_into(m, bytearray())):
        with pytest.raises(WireEncodeError) as info:
            encode_it(msg)
        assert str(info.value) == "Encoding objects of type object is unsupported"
        assert isinstance(info.value, msgspec.EncodeError)
        assert isinstance(info.value.__cause__, TypeError)


@pytest.mark.parametrize(
    ("payload", "raised"),
    [(2**64, OverflowError), (-(2**63) - 1, OverflowError), ("\ud800", UnicodeEncodeError)],
)
def test_a_value_msgpack_cannot_hold_is_msgspecs_error_from_encode_and_wrapped_elsewhere(
    codec: CodecPool, payload: object, raised: type[Exception]
) -> None:
    msg = DataMessage.build(payload)
    with pytest.raises(raised):
        codec.encode(msg)
    with pytest.raises(WireEncodeError) as info:
        codec.encode_into(msg, bytearray())
    assert isinstance(info.value.__cause__, raised)
    with pytest.raises(WireEncodeError):
        encode_frame(msg)


def test_encode_is_msgspecs_own_bound_method_with_nothing_in_between(codec: CodecPool) -> None:
    assert isinstance(codec.encode.__self__, msgspec.msgpack.Encoder)  # type: ignore[attr-defined]
    assert codec.encode(Ack()) == msgspec.msgpack.encode(Ack())


@WIRE_SETTINGS
@given(data_messages(jobs))
def test_decode_data_decodes_the_payload_type_in_one_pass(msg: DataMessage[Job]) -> None:
    codec = get_codec_pool()
    decoded = codec.decode_data(codec.encode(msg), Job)
    assert decoded == msg
    assert type(decoded.payload) is Job


@WIRE_SETTINGS
@given(data_messages(jobs))
def test_a_held_data_decoder_decodes_like_decode_data(msg: DataMessage[Job]) -> None:
    codec = get_codec_pool()
    data = codec.encode(msg)
    decode_job = codec.data_decoder(Job)
    assert decode_job(data) == codec.decode_data(data, Job) == msg
    assert decode_job(bytearray(data)) == msg


def test_a_held_data_decoder_keeps_the_error_contract(codec: CodecPool) -> None:
    decode_job = codec.data_decoder(Job)
    with pytest.raises(WireValidationError, match=r"at `\$\[0\]`"):
        decode_job(codec.encode(Ack()))
    with pytest.raises(UnknownSchemaVersionError):
        decode_job(msgspec.msgpack.encode([1, [2, 1, "", 0, 0], {"name": "a", "size": 1}]))
    assert codec.data_decoder(Job) is not decode_job  # a new function, the same decoder
    assert len(codec._data_decoders) == 1


@WIRE_SETTINGS
@given(data_messages(jobs))
def test_decode_then_decode_payload_equals_decode_data(msg: DataMessage[Job]) -> None:
    codec = get_codec_pool()
    envelope = codec.decode(codec.encode(msg))
    assert isinstance(envelope, DataMessage)
    assert codec.decode_payload(envelope.payload, Job) == msg.payload


def test_decode_payload_accepts_any_buffer_and_type_expression(codec: CodecPool) -> None:
    data = msgspec.msgpack.encode([1, 2, 3])
    for buf in (data, bytearray(data), memoryview(data), msgspec.Raw(data)):
        assert codec.decode_payload(buf, list[int]) == [1, 2, 3]
    assert codec.decode_payload(data, list[int] | None) == [1, 2, 3]
    with pytest.raises(WireValidationError, match=r"Expected `str`, got `int` - at `\$\[0\]`"):
        codec.decode_payload(data, list[str])


def test_decode_data_rejects_another_envelope_type(codec: CodecPool) -> None:
    with pytest.raises(WireValidationError):
        codec.decode_data(codec.encode(Ack()), Job)


def test_typed_decoders_are_built_once_per_type(codec: CodecPool) -> None:
    data = codec.encode(DataMessage.build(Job(name="a", size=1)))
    codec.decode_data(data, Job)
    codec.decode_payload(msgspec.msgpack.encode(Job(name="a", size=1)), Job)
    first = (dict(codec._data_decoders), dict(codec._payload_decoders))
    for _ in range(3):
        codec.decode_data(data, Job)
        codec.decode_payload(msgspec.msgpack.encode([1]), list[int])
        codec.decode_payload(msgspec.msgpack.encode([1]), list[int])
    assert codec._data_decoders == first[0]
    assert codec._data_decoders[Job] is first[0][Job]
    assert set(codec._payload_decoders) == {Job, list[int]}


def test_the_decoder_cache_is_bounded() -> None:
    codec = CodecPool(max_cached_types=2)
    for payload_type in (int, str, float, bool):
        codec.decode_payload(msgspec.msgpack.encode(payload_type()), payload_type)
    assert list(codec._payload_decoders) == [float, bool]
    with pytest.raises(ValueError, match="max_cached_types"):
        CodecPool(max_cached_types=0)


def test_an_unhashable_type_expression_is_decoded_without_caching(codec: CodecPool) -> None:
    annotated = Annotated[int, {"unhashable": "metadata"}]
    assert codec.decode_payload(b"\x07", annotated) == 7
    assert codec.decode_data(codec.encode(DataMessage.build(7)), annotated).payload == 7
    assert codec._payload_decoders == {}
    assert codec._data_decoders == {}


def test_an_unsupported_payload_type_is_a_type_error(codec: CodecPool) -> None:
    with pytest.raises(TypeError):
        codec.decode_payload(b"\xc0", threading.Lock)


def test_decoding_from_a_non_buffer_is_a_type_error(codec: CodecPool) -> None:
    with pytest.raises(TypeError):
        codec.decode("not bytes")  # type: ignore[arg-type]


# -- decoded envelopes do not depend on the caller's buffer ------------------------------


def _mutable_views(data: bytes) -> Iterator[tuple[bytearray, Any]]:
    buf = bytearray(data)
    yield buf, buf
    buf = bytearray(data)
    yield buf, memoryview(buf)
    buf = bytearray(b"\x00" * 7 + data)
    yield buf, memoryview(buf)[7:]


def test_a_decoded_envelope_survives_reuse_and_resizing_of_its_buffer(codec: CodecPool) -> None:
    msg = DataMessage.build({"k": "v" * 40}, channel_id="jobs", seq=3)
    data = codec.encode(msg)
    for buf, view in _mutable_views(data):
        decoded = codec.decode(view)
        assert isinstance(decoded, DataMessage)
        payload = bytes(decoded.payload)
        if isinstance(view, memoryview):
            view.release()
        buf[:] = b"\xff" * len(buf)  # reuse in place
        buf.extend(b"\x00" * 10_000)  # resize: would fail if anything still exported it
        assert decoded.header == msg.header
        assert bytes(decoded.payload) == payload == codec.encode(msg)[-len(payload) :]
        assert codec.decode_payload(decoded.payload, dict[str, str]) == {"k": "v" * 40}


def test_decode_data_with_a_raw_payload_survives_buffer_reuse(codec: CodecPool) -> None:
    data = codec.encode(DataMessage.build([1, 2, 3]))
    buf = bytearray(data)
    decoded = codec.decode_data(buf, msgspec.Raw)
    buf[:] = b"\x00" * len(buf)
    del buf[:]
    assert msgspec.msgpack.decode(decoded.payload) == [1, 2, 3]


def test_decode_accepts_a_non_contiguous_memoryview(codec: CodecPool) -> None:
    data = codec.encode(Ack(acked_seq=5))
    doubled = bytes(b for byte in data for b in (byte, 0))
    assert codec.decode(memoryview(doubled)[::2]) == Ack(acked_seq=5)


# -- threads -----------------------------------------------------------------------------


def test_many_threads_share_one_pool_without_mismatches() -> None:
    codec = CodecPool()
    threads_count, per_thread = 16, 300
    barrier = threading.Barrier(threads_count)
    failures: list[str] = []

    class Point(msgspec.Struct, frozen=True):
        x: int
        y: int

    def work(worker: int) -> None:
        barrier.wait()
        buf = bytearray()
        for seq in range(per_thread):
            channel = f"worker-{worker}"
            job = Job(name=channel, size=seq, tags=[str(worker)] * (seq % 5))
            point = Point(x=worker, y=seq)
            msgs: list[Any] = [
                DataMessage.build(job, channel_id=channel, seq=seq),
                DataMessage.build(point, channel_id=channel, seq=seq),
                Ack.build(acked_seq=seq, channel_id=channel, seq=seq),
            ]
            data = codec.encode(msgs[0])
            if codec.decode_data(data, Job) != msgs[0]:
                failures.append(f"decode_data mismatch in {channel} at {seq}")
            codec.encode_into(msgs[1], buf)
            if codec.decode_data(buf, Point) != msgs[1]:
                failures.append(f"encode_into mismatch in {channel} at {seq}")
            if codec.decode(codec.encode(msgs[2])) != msgs[2]:
                failures.append(f"envelope mismatch in {channel} at {seq}")
            envelope = codec.decode(data)
            assert isinstance(envelope, DataMessage)
            if codec.decode_payload(envelope.payload, Job) != job:
                failures.append(f"payload mismatch in {channel} at {seq}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert set(codec._data_decoders) == {Job, Point}


# -- allocations -------------------------------------------------------------------------


def _traced_growth(run: Any) -> tuple[int, int]:
    """Net and peak bytes allocated by ``run()`` while tracemalloc traces."""
    tracemalloc.start()
    try:
        run()  # warm up: caches, buffer capacity, interned objects
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        run()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return after - before, peak - before


def test_encode_into_a_pooled_buffer_allocates_nothing_in_steady_state() -> None:
    codec, pool = CodecPool(), BufferPool()
    msgs = [
        DataMessage.build(Job(name="job", size=n, tags=["a", "b"]), channel_id="jobs", seq=n)
        for n in range(10_000)
    ]

    held = pool.acquire()

    def one_buffer() -> None:
        for msg in msgs:
            codec.encode_into(msg, held)

    def buffer_per_message() -> None:
        for msg in msgs:
            with pool as buf:
                codec.encode_into(msg, buf)

    for run in (one_buffer, buffer_per_message):
        net, peak = _traced_growth(run)
        assert net < 1024, f"{run.__name__}: {net} bytes retained over 10,000 messages"
        assert peak < 1024, f"{run.__name__}: peak grew {peak} bytes over 10,000 messages"
    pool.release(held)


def test_encode_allocates_only_its_result() -> None:
    codec = CodecPool()
    msg = Ack.build(acked_seq=1)
    results: list[bytes] = []

    def run() -> None:
        results.clear()
        for _ in range(1000):
            results.append(codec.encode(msg))

    net, _ = _traced_growth(run)
    size_of_results = sum(sys.getsizeof(r) for r in results) + sys.getsizeof(results)
    assert net <= size_of_results + 1024
