"""The cost of validation: a struct of constrained fields against the same struct without.

Run with ``uv run pytest packages/klaw-types/benchmarks --benchmark-enable``. Both decodes
run in the same session on the same bytes, so their ratio is the figure that matters; the
``ratio`` test prints it (``-s`` to see it).
"""

from __future__ import annotations

import timeit
from typing import Any

import msgspec
from pytest_benchmark.fixture import BenchmarkFixture

from klaw_types import (
    ChannelCapacity,
    ConcurrencyLimit,
    Identifier,
    Namespace,
    Port,
    PositiveInt,
    SampleRate,
    TimeoutSeconds,
)


class Constrained(msgspec.Struct):
    name: Identifier
    namespace: Namespace
    capacity: ChannelCapacity
    timeout: TimeoutSeconds
    workers: ConcurrencyLimit
    port: Port
    sample_rate: SampleRate
    batch: PositiveInt


class Plain(msgspec.Struct):
    name: str
    namespace: str
    capacity: int
    timeout: float
    workers: int
    port: int
    sample_rate: float
    batch: int


RECORDS = [
    {
        "name": f"channel_{i}",
        "namespace": "klaw-bench",
        "capacity": 1024 + i,
        "timeout": 30.0,
        "workers": 64,
        "port": 9000 + i % 100,
        "sample_rate": 0.25,
        "batch": 128,
    }
    for i in range(1000)
]


class NumbersConstrained(msgspec.Struct):
    """Only the numeric constraints: strings stay plain ``str``."""

    name: str
    namespace: str
    capacity: ChannelCapacity
    timeout: TimeoutSeconds
    workers: ConcurrencyLimit
    port: Port
    sample_rate: SampleRate
    batch: PositiveInt


PAYLOAD = msgspec.msgpack.encode(RECORDS)
CONSTRAINED = msgspec.msgpack.Decoder(list[Constrained])
NUMBERS_CONSTRAINED = msgspec.msgpack.Decoder(list[NumbersConstrained])
PLAIN = msgspec.msgpack.Decoder(list[Plain])


def test_decode_constrained(benchmark: BenchmarkFixture) -> None:
    decoded = benchmark(CONSTRAINED.decode, PAYLOAD)
    assert len(decoded) == len(RECORDS)


def test_decode_unconstrained(benchmark: BenchmarkFixture) -> None:
    decoded = benchmark(PLAIN.decode, PAYLOAD)
    assert len(decoded) == len(RECORDS)


def test_decode_numbers_constrained(benchmark: BenchmarkFixture) -> None:
    decoded = benchmark(NUMBERS_CONSTRAINED.decode, PAYLOAD)
    assert len(decoded) == len(RECORDS)


def _best(decoder: msgspec.msgpack.Decoder[list[Any]]) -> float:
    return min(timeit.repeat(lambda: decoder.decode(PAYLOAD), number=200, repeat=5))


def test_validation_cost_ratio() -> None:
    plain = _best(PLAIN)
    everything = _best(CONSTRAINED) / plain
    numbers = _best(NUMBERS_CONSTRAINED) / plain
    print(
        f"\nvalidation cost vs unconstrained decode: all constraints {everything:.2f}x, "
        f"numeric constraints only {numbers:.2f}x (the rest is the two regex patterns)"
    )
    assert CONSTRAINED.decode(PAYLOAD) == CONSTRAINED.decode(PAYLOAD)
    assert NUMBERS_CONSTRAINED.decode(PAYLOAD)[0].capacity == RECORDS[0]["capacity"]
