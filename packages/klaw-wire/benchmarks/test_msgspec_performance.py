"""klaw-wire codec benchmarks, each against a baseline measured in the same run.

Run with::

    uv run pytest packages/klaw-wire/benchmarks --benchmark-enable -q

The summary at the end prints, per group, each median as a ratio to the group's
baseline (see ``conftest.py``). Groups and baselines:

- ``envelope-encode`` / ``envelope-decode``: small control-plane envelopes; baseline a
  raw shared msgspec ``Encoder`` / ``Decoder`` of the same types.
- ``data-encode`` / ``data-decode``: a typed ``DataMessage[Order]``; baseline raw
  msgspec; also the codec pool (``encode``; ``decode_data``, and a held
  ``data_decoder(Order)``), a fresh ``Encoder`` per call, a codec with one encoder per
  thread (the design not chosen), pydantic v2 models of the same envelope (JSON encode,
  JSON validate) and pickle.
- ``overhead``: the codec pool against raw msgspec for the same calls, each pair timed
  in alternating short rounds (``interleaved_ratio``), the steadiest figure of a
  small overhead on a busy machine.
- ``kind-check``: the cost of the ``__post_init__`` kind check, against twin types
  without it.
- ``encode-into`` / ``encode-into-large``: ``encode`` (baseline) against ``encode_into``
  a held or pooled buffer, for a 205-byte and a 300 KB message.
- ``buffer-pool``: ``bytearray(4096)`` (baseline) against acquire/release.
- ``registry``: ``CodecPool.decode`` (baseline) against ``SchemaRegistry.decode``.
- ``large-payload``: full typed decode of a 2,000-item payload (baseline) against the
  envelope view.
- ``threads``: 4 threads encoding at once through the pool's shared encoder (baseline)
  against the per-thread design and raw per-thread encoders.
"""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any, Generic, TypeVar

import msgspec
import pydantic
import pytest

from klaw_wire import (
    Ack,
    BufferPool,
    CodecPool,
    DataMessage,
    Heartbeat,
    MessageKind,
    SchemaRegistry,
    WireEnvelope,
    WireHeader,
    decode_envelope_view,
)

T = TypeVar("T")


class Item(msgspec.Struct, frozen=True):
    sku: str
    qty: int
    price: float


class Order(msgspec.Struct, frozen=True):
    id: int
    customer: str
    items: list[Item]
    total: float
    tags: list[str]


ORDER = Order(
    id=1234,
    customer="ACME Corporation",
    items=[Item(sku=f"SKU-{n:04d}", qty=n + 1, price=9.99 + n) for n in range(3)],
    total=59.94,
    tags=["priority", "export"],
)
HEADER = WireHeader(channel_id="orders", seq=123_456, ts=1_700_000_000_000)
DATA_MESSAGE = DataMessage(header=HEADER, payload=ORDER)
ACK = Ack.build(acked_seq=123_456, channel_id="orders", seq=7, ts=1_700_000_000_000)
LARGE = DataMessage(
    header=HEADER,
    payload=[Order(id=n, customer="c", items=ORDER.items, total=1.0, tags=[]) for n in range(2000)],
)

CODEC = CodecPool()
RAW_ENCODER = msgspec.msgpack.Encoder()
ENVELOPE_DECODER = msgspec.msgpack.Decoder(WireEnvelope)
DATA_DECODER = msgspec.msgpack.Decoder(DataMessage[Order])
ACK_BYTES = RAW_ENCODER.encode(ACK)
DATA_BYTES = RAW_ENCODER.encode(DATA_MESSAGE)
LARGE_BYTES = RAW_ENCODER.encode(LARGE)


class _ThreadLocalCodec:
    """The design the codec pool did not choose: one encoder per thread, found per call."""

    def __init__(self) -> None:
        self._local = threading.local()

    def encode(self, msg: Any) -> bytes:
        try:
            encoder: msgspec.msgpack.Encoder = self._local.encoder
        except AttributeError:
            encoder = self._local.encoder = msgspec.msgpack.Encoder()
        try:
            return encoder.encode(msg)
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
            raise RuntimeError("same error handling as the pool") from exc


THREAD_LOCAL_CODEC = _ThreadLocalCodec()


def _baseline(benchmark: Any) -> None:
    benchmark.extra_info["baseline"] = True


def _measure(benchmark: Any, fn: Any, *args: Any, iterations: int = 2000) -> Any:
    """Time ``fn(*args)`` over fixed batches: a sub-microsecond call timed alone is mostly
    timer overhead, which would flatten every ratio towards 1."""
    return benchmark.pedantic(fn, args=args, iterations=iterations, rounds=30, warmup_rounds=2)


def _interleaved(
    benchmark: Any, candidate: Any, baseline: Any, *args: Any, extra: tuple[Any, ...] = ()
) -> Any:
    """Record ``candidate`` / ``baseline`` timed in alternating rounds, then time the candidate.

    Each of 300 rounds times 200 calls of the baseline, ``baseline(*args)``, then 200 of
    the candidate, ``candidate(*args, *extra)``; the ratio of their fastest rounds is
    stored as ``interleaved_ratio``. Both see the same load, which separate benchmarks on
    a shared machine do not.
    """
    candidate_args = (*args, *extra)
    if not benchmark.disabled:
        best_candidate = best_baseline = float("inf")
        for _ in range(300):
            start = time.perf_counter_ns()
            for _ in range(200):
                baseline(*args)
            middle = time.perf_counter_ns()
            for _ in range(200):
                candidate(*candidate_args)
            end = time.perf_counter_ns()
            best_baseline = min(best_baseline, middle - start)
            best_candidate = min(best_candidate, end - middle)
        benchmark.extra_info["interleaved_ratio"] = best_candidate / best_baseline
    return _measure(benchmark, candidate, *candidate_args, iterations=200)


# -- pydantic v2 models of the same envelope ----------------------------------------------


class PydItem(pydantic.BaseModel):
    sku: str
    qty: int
    price: float


class PydOrder(pydantic.BaseModel):
    id: int
    customer: str
    items: list[PydItem]
    total: float
    tags: list[str]


class PydHeader(pydantic.BaseModel):
    version: int = 1
    kind: MessageKind = MessageKind.DATA
    channel_id: str = ""
    seq: int = 0
    ts: int = 0


class PydDataMessage(pydantic.BaseModel, Generic[T]):
    header: PydHeader
    payload: T


PYD_MESSAGE = PydDataMessage[PydOrder].model_validate(
    {
        "header": msgspec.structs.asdict(HEADER),
        "payload": msgspec.to_builtins(ORDER),
    }
)
PYD_TYPE = PydDataMessage[PydOrder]
PYD_JSON = PYD_MESSAGE.model_dump_json()
PICKLED = pickle.dumps(DATA_MESSAGE, protocol=pickle.HIGHEST_PROTOCOL)


def test_the_baselines_describe_the_same_message() -> None:
    header = PYD_MESSAGE.header
    assert (header.channel_id, header.seq, header.ts) == (HEADER.channel_id, HEADER.seq, HEADER.ts)
    assert PYD_MESSAGE.payload.model_dump() == msgspec.to_builtins(ORDER)
    assert pickle.loads(PICKLED) == DATA_MESSAGE
    assert CODEC.decode_data(DATA_BYTES, Order) == DATA_MESSAGE


# -- envelope encode / decode ---------------------------------------------------------------


@pytest.mark.benchmark(group="envelope-encode")
def test_envelope_encode_raw_msgspec(benchmark: Any) -> None:
    _baseline(benchmark)
    assert _measure(benchmark, RAW_ENCODER.encode, ACK) == ACK_BYTES


@pytest.mark.benchmark(group="envelope-encode")
def test_envelope_encode_pool(benchmark: Any) -> None:
    assert _measure(benchmark, CODEC.encode, ACK) == ACK_BYTES


@pytest.mark.benchmark(group="envelope-encode")
def test_envelope_encode_fresh_encoder_per_call(benchmark: Any) -> None:
    assert _measure(benchmark, lambda: msgspec.msgpack.Encoder().encode(ACK)) == ACK_BYTES


@pytest.mark.benchmark(group="envelope-decode")
def test_envelope_decode_raw_msgspec(benchmark: Any) -> None:
    _baseline(benchmark)
    assert _measure(benchmark, ENVELOPE_DECODER.decode, ACK_BYTES) == ACK


@pytest.mark.benchmark(group="envelope-decode")
def test_envelope_decode_pool(benchmark: Any) -> None:
    assert _measure(benchmark, CODEC.decode, ACK_BYTES) == ACK


@pytest.mark.benchmark(group="envelope-decode")
def test_envelope_decode_pool_from_bytearray(benchmark: Any) -> None:
    buf = bytearray(ACK_BYTES)
    assert _measure(benchmark, CODEC.decode, buf) == ACK


# -- typed DataMessage encode / decode -------------------------------------------------------


@pytest.mark.benchmark(group="data-encode")
def test_data_encode_raw_msgspec(benchmark: Any) -> None:
    _baseline(benchmark)
    assert _measure(benchmark, RAW_ENCODER.encode, DATA_MESSAGE) == DATA_BYTES


@pytest.mark.benchmark(group="data-encode")
def test_data_encode_pool(benchmark: Any) -> None:
    assert _measure(benchmark, CODEC.encode, DATA_MESSAGE) == DATA_BYTES


@pytest.mark.benchmark(group="data-encode")
def test_data_encode_pool_encode_into(benchmark: Any) -> None:
    buf = bytearray(4096)
    _measure(benchmark, CODEC.encode_into, DATA_MESSAGE, buf)
    assert bytes(buf) == DATA_BYTES


@pytest.mark.benchmark(group="data-encode")
def test_data_encode_fresh_encoder_per_call(benchmark: Any) -> None:
    assert _measure(benchmark, lambda: msgspec.msgpack.Encoder().encode(DATA_MESSAGE)) == DATA_BYTES


@pytest.mark.benchmark(group="data-encode")
def test_data_encode_thread_local_codec(benchmark: Any) -> None:
    assert _measure(benchmark, THREAD_LOCAL_CODEC.encode, DATA_MESSAGE) == DATA_BYTES


@pytest.mark.benchmark(group="data-encode")
def test_data_encode_pydantic_json(benchmark: Any) -> None:
    assert _measure(benchmark, PYD_MESSAGE.model_dump_json) == PYD_JSON


@pytest.mark.benchmark(group="data-encode")
def test_data_encode_pickle(benchmark: Any) -> None:
    assert _measure(benchmark, pickle.dumps, DATA_MESSAGE, pickle.HIGHEST_PROTOCOL) == PICKLED


@pytest.mark.benchmark(group="data-decode")
def test_data_decode_raw_msgspec(benchmark: Any) -> None:
    _baseline(benchmark)
    assert _measure(benchmark, DATA_DECODER.decode, DATA_BYTES) == DATA_MESSAGE


@pytest.mark.benchmark(group="data-decode")
def test_data_decode_pool_decode_data(benchmark: Any) -> None:
    assert _measure(benchmark, CODEC.decode_data, DATA_BYTES, Order) == DATA_MESSAGE


@pytest.mark.benchmark(group="data-decode")
def test_data_decode_pool_held_data_decoder(benchmark: Any) -> None:
    assert _measure(benchmark, CODEC.data_decoder(Order), DATA_BYTES) == DATA_MESSAGE


@pytest.mark.benchmark(group="data-decode")
def test_data_decode_pool_decode_then_decode_payload(benchmark: Any) -> None:
    def two_pass() -> Order:
        envelope = CODEC.decode(DATA_BYTES)
        assert isinstance(envelope, DataMessage)
        order: Order = CODEC.decode_payload(envelope.payload, Order)
        return order

    assert _measure(benchmark, two_pass) == ORDER


@pytest.mark.benchmark(group="data-decode")
def test_data_decode_pydantic_validate_json(benchmark: Any) -> None:
    assert _measure(benchmark, PYD_TYPE.model_validate_json, PYD_JSON) == PYD_MESSAGE


@pytest.mark.benchmark(group="data-decode")
def test_data_decode_pickle(benchmark: Any) -> None:
    assert _measure(benchmark, pickle.loads, PICKLED) == DATA_MESSAGE


# -- overhead of the pool over raw msgspec, interleaved ---------------------------------------


@pytest.mark.benchmark(group="overhead")
def test_overhead_encode_data_message(benchmark: Any) -> None:
    assert _interleaved(benchmark, CODEC.encode, RAW_ENCODER.encode, DATA_MESSAGE) == DATA_BYTES


@pytest.mark.benchmark(group="overhead")
def test_overhead_decode_data_typed(benchmark: Any) -> None:
    decoded = _interleaved(
        benchmark, CODEC.decode_data, DATA_DECODER.decode, DATA_BYTES, extra=(Order,)
    )
    assert decoded == DATA_MESSAGE


@pytest.mark.benchmark(group="overhead")
def test_overhead_decode_data_held_decoder(benchmark: Any) -> None:
    held = CODEC.data_decoder(Order)
    assert _interleaved(benchmark, held, DATA_DECODER.decode, DATA_BYTES) == DATA_MESSAGE


@pytest.mark.benchmark(group="overhead")
def test_overhead_encode_ack(benchmark: Any) -> None:
    assert _interleaved(benchmark, CODEC.encode, RAW_ENCODER.encode, ACK) == ACK_BYTES


@pytest.mark.benchmark(group="overhead")
def test_overhead_decode_envelope(benchmark: Any) -> None:
    assert _interleaved(benchmark, CODEC.decode, ENVELOPE_DECODER.decode, ACK_BYTES) == ACK


# -- cost of the kind check in __post_init__ --------------------------------------------------


class _HookFreeAck(msgspec.Struct, array_like=True, frozen=True, gc=False, tag=4, kw_only=True):
    header: WireHeader = WireHeader(kind=MessageKind.ACK)
    acked_seq: int = 0
    status: str = "ok"


class _HookFreeData(
    msgspec.Struct, Generic[T], array_like=True, frozen=True, gc=False, tag=1, kw_only=True
):
    header: WireHeader = WireHeader()
    payload: T


@pytest.mark.benchmark(group="kind-check")
def test_kind_check_ack_without_hook(benchmark: Any) -> None:
    _baseline(benchmark)
    decoder = msgspec.msgpack.Decoder(_HookFreeAck)
    _measure(benchmark, decoder.decode, ACK_BYTES)


@pytest.mark.benchmark(group="kind-check")
def test_kind_check_ack_with_hook(benchmark: Any) -> None:
    decoder = msgspec.msgpack.Decoder(Ack)
    assert _measure(benchmark, decoder.decode, ACK_BYTES) == ACK


@pytest.mark.benchmark(group="kind-check")
def test_kind_check_data_without_hook(benchmark: Any) -> None:
    decoder = msgspec.msgpack.Decoder(_HookFreeData[Order])
    _measure(benchmark, decoder.decode, DATA_BYTES)


@pytest.mark.benchmark(group="kind-check")
def test_kind_check_data_with_hook(benchmark: Any) -> None:
    assert _measure(benchmark, DATA_DECODER.decode, DATA_BYTES) == DATA_MESSAGE


# -- encode_into, buffer pool, registry, views --------------------------------------------


@pytest.mark.benchmark(group="encode-into")
def test_encode_into_baseline_encode(benchmark: Any) -> None:
    _baseline(benchmark)
    _measure(benchmark, CODEC.encode, DATA_MESSAGE)


@pytest.mark.benchmark(group="encode-into")
def test_encode_into_pooled_buffer_acquire_release(benchmark: Any) -> None:
    pool = BufferPool()

    def encode_into_pooled() -> int:
        buf = pool.acquire()
        try:
            return CODEC.encode_into(DATA_MESSAGE, buf)
        finally:
            pool.release(buf)

    assert _measure(benchmark, encode_into_pooled) == len(DATA_BYTES)


@pytest.mark.benchmark(group="encode-into")
def test_encode_into_pooled_buffer_with_statement(benchmark: Any) -> None:
    pool = BufferPool()

    def encode_into_pooled() -> int:
        with pool as buf:
            return CODEC.encode_into(DATA_MESSAGE, buf)

    assert _measure(benchmark, encode_into_pooled) == len(DATA_BYTES)


@pytest.mark.benchmark(group="encode-into")
def test_encode_into_held_buffer(benchmark: Any) -> None:
    buf = bytearray(4096)
    assert _measure(benchmark, CODEC.encode_into, DATA_MESSAGE, buf) == len(DATA_BYTES)


@pytest.mark.benchmark(group="buffer-pool")
def test_buffer_pool_baseline_new_bytearray(benchmark: Any) -> None:
    _baseline(benchmark)
    _measure(benchmark, bytearray, 4096)


@pytest.mark.benchmark(group="buffer-pool")
def test_buffer_pool_acquire_release(benchmark: Any) -> None:
    pool = BufferPool()

    def cycle() -> None:
        pool.release(pool.acquire())

    _measure(benchmark, cycle)


@pytest.mark.benchmark(group="buffer-pool")
def test_buffer_pool_context_manager(benchmark: Any) -> None:
    pool = BufferPool()

    def cycle() -> None:
        with pool:
            pass

    _measure(benchmark, cycle)


@pytest.mark.benchmark(group="registry")
def test_registry_baseline_direct_decode(benchmark: Any) -> None:
    _baseline(benchmark)
    assert _measure(benchmark, CODEC.decode, ACK_BYTES) == ACK


@pytest.mark.benchmark(group="registry")
def test_registry_decode(benchmark: Any) -> None:
    registry = SchemaRegistry()
    assert _measure(benchmark, registry.decode, ACK_BYTES) == ACK


@pytest.mark.benchmark(group="large-payload")
def test_large_payload_full_typed_decode(benchmark: Any) -> None:
    _baseline(benchmark)
    assert _measure(benchmark, CODEC.decode_data, LARGE_BYTES, list[Order], iterations=5) == LARGE


@pytest.mark.benchmark(group="large-payload")
def test_large_payload_envelope_view(benchmark: Any) -> None:
    assert _measure(benchmark, decode_envelope_view, LARGE_BYTES, iterations=5).header == HEADER


@pytest.mark.benchmark(group="large-payload")
def test_large_payload_envelope_with_raw_payload(benchmark: Any) -> None:
    assert _measure(benchmark, CODEC.decode, LARGE_BYTES, iterations=5).header == HEADER


# -- threads: one shared encoder against one encoder per thread ------------------------------

THREADS, PER_THREAD = 4, 5000


def _encode_in_threads(encode_for_thread: Any) -> None:
    def work() -> None:
        encode = encode_for_thread()
        for _ in range(PER_THREAD):
            encode(DATA_MESSAGE)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.benchmark(group="threads")
def test_threads_shared_pool_encoder(benchmark: Any) -> None:
    _baseline(benchmark)
    benchmark.pedantic(_encode_in_threads, args=(lambda: CODEC.encode,), rounds=40)


@pytest.mark.benchmark(group="threads")
def test_threads_thread_local_codec(benchmark: Any) -> None:
    benchmark.pedantic(_encode_in_threads, args=(lambda: THREAD_LOCAL_CODEC.encode,), rounds=40)


@pytest.mark.benchmark(group="threads")
def test_threads_raw_encoder_per_thread(benchmark: Any) -> None:
    benchmark.pedantic(
        _encode_in_threads, args=(lambda: msgspec.msgpack.Encoder().encode,), rounds=40
    )


# -- large messages: encode against encode_into a retained buffer ----------------------------


@pytest.mark.benchmark(group="encode-into-large")
def test_encode_into_large_baseline_encode(benchmark: Any) -> None:
    _baseline(benchmark)
    assert _measure(benchmark, CODEC.encode, LARGE, iterations=20) == LARGE_BYTES


@pytest.mark.benchmark(group="encode-into-large")
def test_encode_into_large_held_buffer(benchmark: Any) -> None:
    buf = bytearray()
    assert _measure(benchmark, CODEC.encode_into, LARGE, buf, iterations=20) == len(LARGE_BYTES)


def test_heartbeat_is_tiny() -> None:
    assert len(RAW_ENCODER.encode(Heartbeat())) < 16
