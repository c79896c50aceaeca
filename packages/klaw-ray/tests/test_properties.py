"""Property-based checks of both backends: what goes in comes out, in order, unchanged."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channel_backends import receive_exactly
from klaw_config import KlawConfig, RayConfig
from klaw_ray import LocalReceiver, LocalSender, RayReceiver, RaySender, channel, local_channel
from klaw_types import Err, Ok

# Values msgspec round-trips exactly through MessagePack (no tuples, no NaN).
plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# An operation: ("send", value) or ("recv", None).
operations = st.lists(
    st.one_of(st.tuples(st.just("send"), st.integers()), st.tuples(st.just("recv"), st.none())),
    max_size=60,
)


@given(capacity=st.integers(min_value=1, max_value=8), ops=operations)
def test_local_channel_behaves_like_a_bounded_fifo(
    capacity: int, ops: list[tuple[str, int | None]]
) -> None:
    async def run() -> None:
        pair: tuple[LocalSender[int | None], LocalReceiver[int | None]] = local_channel(capacity)
        tx, rx = pair
        model: deque[int | None] = deque()
        for op, value in ops:
            if op == "send":
                outcome = await tx.try_send(value)
                if len(model) < capacity:
                    assert outcome == Ok(None)
                    model.append(value)
                else:
                    assert isinstance(outcome, Err)
            else:
                received = await rx.try_recv()
                if model:
                    assert received == Ok(model.popleft())
                else:
                    assert isinstance(received, Err)
        assert (await tx.stats()).size == len(model)

    asyncio.run(run())


@pytest.fixture(scope="module")
def shared_ray_channel(ray_cluster: str) -> tuple[RaySender[Any], RayReceiver[Any]]:
    """One untyped Ray channel reused by every example (an actor per example is slow)."""
    config = KlawConfig(ray=RayConfig(namespace="klaw-tests"))
    return asyncio.run(channel(64, backend="ray", config=config))


@settings(max_examples=40, deadline=None)
@given(values=st.lists(plain_values, min_size=1, max_size=30))
def test_any_encodable_values_cross_a_ray_channel_unchanged(
    shared_ray_channel: tuple[RaySender[Any], RayReceiver[Any]], values: list[Any]
) -> None:
    tx, rx = shared_ray_channel

    async def run() -> list[Any]:
        await tx.send_batch(values)
        return await receive_exactly(rx, len(values))

    assert asyncio.run(run()) == values
