"""``RayChannelActor`` as a plain object: ordering, withdrawal, hostile requests.

The actor's logic runs here in-process, without Ray, so the orderings that a real Ray
instance produces only by chance can be produced on purpose.
"""

from __future__ import annotations

import asyncio
import typing
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from klaw_ray import BatchResult, GetRequest, PutRequest, RayChannelActor, SingleResult, Status
from klaw_ray.ray._messages import (
    decode_batch_result,
    decode_single_result,
    encode_answer_or_request,
)
from klaw_wire import DataMessage, WireHeader, get_codec_pool
from ray_records import Order

pytestmark = pytest.mark.anyio

SENDER, RECEIVER, WRITER, READER = "s", "r", "w", "rd"


def _actor(capacity: int | None = 8, value_type: Any = int) -> RayChannelActor[Any]:
    return RayChannelActor(capacity, value_type, "test", "", [SENDER], [RECEIVER])


async def _until_waiting(
    actor: RayChannelActor[Any], *, senders: int = 0, receivers: int = 0
) -> None:
    """Let the event loop run until the actor counts these waiting calls."""
    for _ in range(10_000):
        stats = await actor.stats()
        if (stats.waiting_senders, stats.waiting_receivers) == (senders, receivers):
            return
        await asyncio.sleep(0)
    pytest.fail(f"never {senders} waiting senders and {receivers} waiting receivers")


def _put_request(payload: Any, seq: int, *, block: bool = True, handle: str = SENDER) -> bytes:
    envelope = get_codec_pool().encode(
        DataMessage(header=WireHeader(channel_id="test", seq=seq), payload=payload)
    )
    return encode_answer_or_request(PutRequest(handle, WRITER, block, msgspec.Raw(envelope)))


def _get_request(request: int = 0, max_items: int = 100, wait: float | None = 0) -> bytes:
    return encode_answer_or_request(GetRequest(RECEIVER, READER, "node", request, max_items, wait))


def _single(answer: Any) -> SingleResult[Any]:
    result: SingleResult[Any] = decode_single_result(answer)
    return result


def _batch(answer: Any) -> BatchResult[Any]:
    result: BatchResult[Any] = decode_batch_result(answer)
    return result


async def _drain(actor: RayChannelActor[Any]) -> list[Any]:
    answer = _batch(await actor.get(_get_request()))
    if answer.status != "ok":
        return []
    return list(get_codec_pool().decode_data(answer.data, list[Any]).payload)


async def test_calls_of_one_writer_are_queued_in_seq_order_whatever_their_arrival() -> None:
    actor = _actor()
    arrivals = [3, 1, 4, 0, 2]
    results = await asyncio.gather(*(actor.put_one(_put_request(seq, seq)) for seq in arrivals))
    assert {_single(r).status for r in results} == {"ok"}
    assert await _drain(actor) == [0, 1, 2, 3, 4]


async def test_a_withdrawn_call_queues_nothing_and_later_calls_proceed() -> None:
    actor = _actor()
    assert await actor.withdraw(WRITER, 0) is True  # withdrawn before it arrived
    first = _single(await actor.put_one(_put_request(10, 0)))
    second = _single(await actor.put_one(_put_request(11, 1)))
    assert (first.status, second.status) == ("withdrawn", "ok")
    assert await actor.withdraw(WRITER, 1) is False  # already answered
    assert await _drain(actor) == [11]


async def test_a_put_waiting_for_room_can_be_withdrawn() -> None:
    actor = _actor(capacity=1)
    await actor.put_one(_put_request(1, 0))
    waiting = asyncio.ensure_future(actor.put_one(_put_request(2, 1)))
    await _until_waiting(actor, senders=1)
    assert not waiting.done()
    assert await actor.withdraw(WRITER, 1) is True
    assert _single(await waiting).status == "withdrawn"
    assert await _drain(actor) == [1]


async def test_a_full_channel_answers_full_without_blocking() -> None:
    actor = _actor(capacity=1)
    await actor.put_one(_put_request(1, 0))
    answer = _single(await actor.put_one(_put_request(2, 1, block=False)))
    assert answer.status == "full"
    assert (await actor.stats()).size == 1


async def test_an_abandoned_get_returns_and_requeued_values_come_first() -> None:
    actor = _actor()
    waiting = asyncio.ensure_future(actor.get(_get_request(request=7, wait=None)))
    await _until_waiting(actor, receivers=1)
    await actor.abandon(READER, 7)
    assert _batch(await waiting).status == "withdrawn"
    await actor.put(_put_request([1, 2, 3], 0))
    taken = _batch(await actor.get(_get_request(request=8, max_items=2)))
    await actor.requeue(READER, taken)
    assert await _drain(actor) == [1, 2, 3]
    assert (await actor.stats()).total_received == 3


@pytest.mark.parametrize("method", ["put", "put_one", "get", "get_one"])
@settings(max_examples=60, deadline=None)
@given(garbage=st.binary(max_size=64))
async def test_hostile_request_bytes_are_answered_invalid_and_queue_nothing(
    method: str, garbage: bytes
) -> None:
    actor = _actor()
    answer = await getattr(actor, method)(garbage)
    decoded = _single(answer) if method.endswith("one") else _batch(answer)
    assert decoded.status in {"invalid", "empty"}  # a short garbage get may still parse
    assert (await actor.stats()).size == 0


async def test_a_wrong_typed_value_is_rejected_naming_its_field() -> None:
    actor = _actor(value_type=Order)
    bad = {"order_id": 1, "sku": "a", "quantity": 0}
    answer = _batch(await actor.put(_put_request([Order(order_id=0, sku="a", quantity=1), bad], 0)))
    assert answer.status == "invalid"
    assert "quantity" in answer.error
    assert (await actor.stats()).size == 0


async def test_checkpoints_round_trip_in_process() -> None:
    actor = _actor()
    await actor.put(_put_request([5, 6, 7], 0))
    saved = await actor.get_checkpoint_state()
    fresh = _actor()
    assert await fresh.apply_checkpoint_state(saved) == 3
    assert await _drain(fresh) == [5, 6, 7]
    with pytest.raises(msgspec.DecodeError):
        await fresh.apply_checkpoint_state(b"\x00garbage")


@given(
    request=st.builds(
        GetRequest,
        st.text(max_size=8),
        st.text(max_size=8),
        st.text(max_size=8),
        st.integers(min_value=0, max_value=2**32),
        st.integers(min_value=1, max_value=10**6),
        st.none() | st.floats(min_value=0, max_value=1e6),
    )
)
def test_get_requests_round_trip(request: GetRequest) -> None:
    decoded = msgspec.msgpack.decode(encode_answer_or_request(request), type=GetRequest)
    assert decoded == request


@given(
    status=st.sampled_from(list(typing.get_args(Status))),
    count=st.integers(min_value=0, max_value=10**6),
    data=st.binary(max_size=32),
    error=st.text(max_size=16),
)
def test_results_round_trip(status: Any, count: int, data: bytes, error: str) -> None:
    batch = BatchResult[Any](status=status, count=count, data=data, error=error)
    single = SingleResult[Any](status=status, data=data, error=error)
    assert decode_batch_result(encode_answer_or_request(batch)) == batch
    assert decode_single_result(encode_answer_or_request(single)) == single


async def test_gets_that_time_out_leave_no_waiter_to_swallow_a_later_wake_up() -> None:
    actor = RayChannelActor(8, int, "test", "", [SENDER], [RECEIVER], poll_seconds=3600)
    for request in range(5):
        answer = _batch(await actor.get(_get_request(request=request, wait=0.001)))
        assert answer.status == "empty"
    assert (await actor.stats()).waiting_receivers == 0
    waiting = asyncio.ensure_future(actor.get(_get_request(request=9, wait=None)))
    await _until_waiting(actor, receivers=1)
    await actor.put(_put_request([5], 0))
    # A stale waiter would take this wake-up and leave the real get asleep for an hour.
    answer = _batch(await asyncio.wait_for(waiting, 30))
    assert get_codec_pool().decode_data(answer.data, list[int]).payload == [5]
    assert (await actor.stats()).waiting_receivers == 0


async def test_an_abandoned_put_leaves_no_waiter_behind() -> None:
    actor = _actor(capacity=1)
    await actor.put_one(_put_request(1, 0))
    waiting = asyncio.ensure_future(actor.put_one(_put_request(2, 1)))
    await _until_waiting(actor, senders=1)
    assert await actor.withdraw(WRITER, 1) is True
    assert _single(await waiting).status == "withdrawn"
    assert (await actor.stats()).waiting_senders == 0
