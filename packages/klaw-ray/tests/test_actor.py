"""``RayChannelActor`` in-process: its protocol, bad requests, orderings, deaths, checkpoints.

The actor is a plain object outside Ray: each test awaits its methods with encoded
requests, as handles send them, so orderings that a Ray cluster produces only by chance
are produced here on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import typing
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from klaw_ray.ray._actor import RayChannelActor
from klaw_ray.ray._messages import (
    AckRequest,
    ChannelMetadata,
    CloseRequest,
    GetAnswer,
    GetRequest,
    PutRequest,
    ReserveRequest,
    SendAnswer,
    Status,
    decode_get_answer,
    decode_send_answer,
    encode_message,
)
from klaw_wire import DataMessage, Heartbeat, WireHeader, get_codec_pool

pytestmark = pytest.mark.anyio

S, R, W, P = "s", "r", "w", "p"
"""The channel's sender handle, receiver handle, the sender's writer, and their process."""

_FEW = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Actor = RayChannelActor[Any]


@contextlib.asynccontextmanager
async def _channel(
    capacity: int | None = 8, value_type: Any = int, **options: Any
) -> AsyncIterator[Actor]:
    """A channel actor with sender ``S`` and receiver ``R``, both held by process ``P``."""
    actor: Actor = RayChannelActor(
        capacity, value_type, "test", "", senders=[S], receivers=[R], process=P, **options
    )
    try:
        yield actor
    finally:
        await actor.close_all()  # ends every waiting call
        expiry = actor._expiry
        if expiry is not None:
            expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await expiry


@pytest.fixture
async def actor(anyio_backend: str) -> AsyncIterator[Actor]:
    async with _channel() as actor:
        yield actor


# --- requests and answers ----------------------------------------------------------------


def _envelope(items: list[Any]) -> msgspec.Raw:
    message = DataMessage(header=WireHeader(channel_id="test"), payload=items)
    return msgspec.Raw(get_codec_pool().encode(message))


def _put(
    seq: int,
    items: list[Any],
    *,
    need: int = 0,
    ahead: int = 0,
    writer: str = W,
    handle: str = S,
    process: str = P,
) -> bytes:
    return encode_message(
        PutRequest(handle, writer, process, seq, 0, need, ahead, _envelope(items))
    )


def _reserve(
    need: int,
    *,
    ahead: int = 0,
    wait: bool = False,
    request: int = 0,
    writer: str = W,
    handle: str = S,
    process: str = P,
) -> bytes:
    return encode_message(ReserveRequest(handle, writer, process, 0, need, ahead, wait, request))


def _get(
    request: int = 0,
    *,
    max_items: int = 10,
    wait: float | None = 0.0,
    acked: list[int] | None = None,
    held: list[int] | None = None,
    handle: str = R,
    process: str = P,
) -> bytes:
    return encode_message(
        GetRequest(handle, process, "node", request, 0, max_items, wait, acked or [], held)
    )


def _ack(ids: list[int], *, handle: str = R, process: str = P) -> bytes:
    return encode_message(AckRequest(handle, process, 0, ids))


def _close(handle: str, acked: list[int] | None = None, unread: list[int] | None = None) -> bytes:
    return encode_message(CloseRequest(handle, P, 0, acked or [], unread or []))


def _got(answer: bytes | GetAnswer) -> GetAnswer:
    decoded: GetAnswer = decode_get_answer(answer)
    return decoded


def _values(answer: GetAnswer) -> list[Any]:
    values: list[Any] = get_codec_pool().decode_data(answer.data, list[Any]).payload
    return values


async def _credit(actor: Actor, count: int, **fields: Any) -> None:
    answer = decode_send_answer(await actor.reserve(_reserve(count, **fields)))
    assert (answer.status, answer.granted) == ("ok", count)


async def _send(actor: Actor, items: list[Any], seq: int = 0, **fields: Any) -> None:
    """Reserve credit for ``items`` and put them, as a sender handle does."""
    await _credit(actor, len(items), **fields)
    answer = decode_send_answer(await actor.put(_put(seq, items, **fields)))
    assert (answer.status, answer.accepted) == ("ok", len(items))


async def _take(actor: Actor, **fields: Any) -> GetAnswer:
    answer = _got(await actor.get(_get(**fields)))
    assert answer.status == "ok", answer
    return answer


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Let the event loop run until ``condition`` holds (a bounded number of turns)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    pytest.fail(f"never {what}")


async def _until_waiting(actor: Actor, *, senders: int = 0, receivers: int = 0) -> None:
    core = actor._core
    await _until(
        lambda: (core.waiting_senders, core.waiting_receivers) == (senders, receivers),
        f"{senders} waiting senders and {receivers} waiting receivers",
    )


async def _turns(count: int = 100) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


# --- round trips ---------------------------------------------------------------------------

_names = st.text(max_size=8)
_ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_id_lists = st.lists(st.integers(min_value=0, max_value=2**40), max_size=6)
_statuses = st.sampled_from(typing.get_args(Status))
_raw_values = st.one_of(st.none(), _ints, st.text(max_size=8)).map(
    lambda value: msgspec.Raw(msgspec.msgpack.encode(value))
)
_messages = st.one_of(
    st.builds(PutRequest, _names, _names, _names, _ints, _ints, _ints, _ints, _raw_values),
    st.builds(ReserveRequest, _names, _names, _names, _ints, _ints, _ints, st.booleans(), _ints),
    st.builds(
        GetRequest,
        _names,
        _names,
        _names,
        _ints,
        _ints,
        _ints,
        st.none() | st.floats(allow_nan=False),
        _id_lists,
        st.none() | _id_lists,
    ),
    st.builds(AckRequest, _names, _names, _ints, _id_lists),
    st.builds(CloseRequest, _names, _names, _ints, _id_lists, _id_lists),
    st.builds(
        SendAnswer,
        status=_statuses,
        incarnation=_ints,
        accepted=_ints,
        granted=_ints,
        duplicate=st.booleans(),
        error=_names,
        lost_sender=_names,
    ),
    st.builds(
        GetAnswer,
        status=_statuses,
        incarnation=_ints,
        ids=_id_lists,
        deliveries=_id_lists,
        data=st.binary(max_size=16),
        error=_names,
        lost_sender=_names,
    ),
    st.builds(
        ChannelMetadata,
        name=_names,
        capacity=st.none() | st.integers(1, 10**6),
        by_reference=st.booleans(),
        delivery=st.sampled_from(["at_least_once", "at_most_once"]),
        lease_seconds=st.floats(0, 1e6),
        incarnation=_ints,
        key=_names,
    ),
)


@_FEW
@given(message=_messages)
def test_every_request_and_answer_round_trips(message: msgspec.Struct) -> None:
    encoded = encode_message(message)
    assert msgspec.msgpack.decode(encoded, type=type(message)) == message
    if isinstance(message, SendAnswer):
        assert decode_send_answer(encoded) == message
    if isinstance(message, GetAnswer):
        assert decode_get_answer(encoded) == message


@_FEW
@given(
    handle=_names.filter(lambda name: name not in (S, R)),
    writer=_names,
    process=_names,
    items=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=20),
    need=st.integers(-3, 30),
    ahead=st.integers(-3, 30),
)
async def test_any_well_formed_put_is_answered_and_its_values_arrive_in_order(
    handle: str, writer: str, process: str, items: list[int], need: int, ahead: int
) -> None:
    async with _channel(None) as actor:
        incarnation = (await actor.metadata()).incarnation
        fields: dict[str, Any] = {"handle": handle, "writer": writer, "process": process}
        await _credit(actor, len(items), **fields)
        put = _put(0, items, need=need, ahead=ahead, **fields)
        answer = decode_send_answer(await actor.put(put))
        assert (answer.status, answer.accepted, answer.duplicate) == ("ok", len(items), False)
        assert answer.incarnation == incarnation
        assert max(need, 0) <= answer.granted <= max(need, 0) + max(ahead, 0)
        taken = await _take(actor, max_items=len(items))
        assert (_values(taken), taken.ids) == (items, list(range(len(items))))
        assert (taken.deliveries, taken.incarnation) == ([], incarnation)


@_FEW
@given(
    request=st.builds(
        GetRequest,
        st.just(R),
        _names,
        _names,
        _ints,
        _ints,
        st.integers(-5, 5),
        st.none() | st.floats(allow_nan=False, allow_infinity=True),
        _id_lists,
        st.none() | _id_lists,
    )
)
async def test_any_well_formed_get_is_answered_and_leaves_no_waiter(request: GetRequest) -> None:
    async with _channel(poll_seconds=0.0) as actor:
        await _send(actor, [1, 2])
        answer = _got(await actor.get(encode_message(request)))
        assert answer.status == "ok"
        assert answer.ids == [0, 1][: max(1, request.max_items)]
        assert answer.incarnation == (await actor.metadata()).incarnation
        assert (await actor.stats()).waiting_receivers == 0


# --- hostile requests --------------------------------------------------------------------

_VALID = {
    "put": _put(1, [3]),
    "reserve": _reserve(1, wait=True),
    "get": _get(),
    "ack": _ack([0]),
    "close_sender": _close(S),
    "close_receiver": _close(R, [0], [1]),
}
_DECODERS: dict[str, type[msgspec.Struct]] = {
    "put": PutRequest,
    "reserve": ReserveRequest,
    "get": GetRequest,
    "ack": AckRequest,
    "close_sender": CloseRequest,
    "close_receiver": CloseRequest,
}
_msgpack_values = st.recursive(
    st.none() | st.booleans() | _ints | st.floats() | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=9) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _invalid_utf8(valid: bytes) -> bytes:
    """``valid`` with the one-letter handle id's byte replaced by one that is not UTF-8."""
    for handle in (S, R):
        marker = b"\xa1" + handle.encode()
        if marker in valid:
            return valid.replace(marker, b"\xa1\xff", 1)
    raise AssertionError("no handle id in the request")


def _with_deep_field(valid: bytes) -> bytes:
    """``valid`` with one more array element: a value nested 50 000 deep."""
    assert 0x90 <= valid[0] < 0x9F  # a short array: array_like structs
    return bytes([valid[0] + 1]) + valid[1:] + b"\x91" * 50_000 + b"\xc0"


def _hostile(method: str) -> st.SearchStrategy[bytes]:
    valid = _VALID[method]
    return st.one_of(
        st.binary(max_size=64),
        st.integers(0, len(valid) - 1).map(lambda size: valid[:size]),
        _msgpack_values.map(msgspec.msgpack.encode),
        st.just(_invalid_utf8(valid)),
        st.just(_with_deep_field(valid)),
        st.just(b"\x91" * 50_000 + b"\xc0"),
    )


def _is_request(method: str, data: bytes) -> bool:
    try:
        msgspec.msgpack.decode(data, type=_DECODERS[method])
    except (ValueError, RecursionError):
        return False
    return True


def _state(actor: Actor) -> tuple[Any, ...]:
    core = actor._core
    return (
        [(entry.id, entry.deliveries) for entry in core.queue],
        {entry_id: lease.receiver for entry_id, lease in core.leases.items()},
        {name: (w.credit, w.last_seq) for name, w in core.writers.items()},
        core.credit_total,
        sorted(core.handles),
        dict(core.closed),
        (core.total_sent, core.total_received, core.total_acked),
    )


@contextlib.asynccontextmanager
async def _busy_channel() -> AsyncIterator[Actor]:
    """A channel with a queued value, a leased one and credit left."""
    async with _channel() as actor:
        await _credit(actor, 3)
        assert decode_send_answer(await actor.put(_put(0, [1, 2]))).accepted == 2
        await _take(actor, max_items=1)
        yield actor


@pytest.mark.parametrize("method", sorted(_VALID))
@settings(_FEW, max_examples=30)
@given(data=st.data())
async def test_hostile_request_bytes_are_answered_invalid_and_change_nothing(
    method: str, data: st.DataObject
) -> None:
    garbage = data.draw(_hostile(method))
    assume(not _is_request(method, garbage))
    async with _busy_channel() as actor:
        before = _state(actor)
        answer = await getattr(actor, method)(garbage)
        if method.startswith("close"):
            assert answer is None
        else:
            decoded = _got(answer) if method == "get" else decode_send_answer(answer)
            assert decoded.status == "invalid"
            assert decoded.error.startswith(f"malformed {method} request")
        assert _state(actor) == before


@pytest.mark.parametrize(
    "envelope",
    [
        pytest.param(msgspec.Raw(b"\xc1"), id="not-msgpack"),
        pytest.param(msgspec.Raw(msgspec.msgpack.encode([1, 2, 3])), id="not-an-envelope"),
        pytest.param(
            msgspec.Raw(get_codec_pool().encode(Heartbeat(sender_id="x"))),
            id="another-envelope",
        ),
        pytest.param(_envelope([1, "two", 3]), id="a-wrong-typed-value"),
    ],
)
async def test_a_put_whose_envelope_is_not_a_batch_of_the_value_type_queues_nothing(
    actor: Actor, envelope: msgspec.Raw
) -> None:
    await _credit(actor, 3)
    answer = decode_send_answer(
        await actor.put(encode_message(PutRequest(S, W, P, 0, 0, 0, 0, envelope)))
    )
    assert (answer.status, answer.accepted) == ("invalid", 0)
    assert (await actor.stats()).size == 0


async def test_a_wrong_typed_value_is_refused_naming_where_it_is(actor: Actor) -> None:
    await _credit(actor, 3)
    answer = decode_send_answer(await actor.put(_put(0, [1, "two", 3])))
    assert answer.status == "invalid"
    assert "Expected `int`, got `str` - at `$[2][1]`" in answer.error  # the second value


async def test_a_put_beyond_its_credit_is_refused_whole(actor: Actor) -> None:
    await _credit(actor, 1)
    answer = decode_send_answer(await actor.put(_put(0, [1, 2])))
    assert (answer.status, answer.accepted) == ("invalid", 0)
    assert "exceeds its credit" in answer.error
    assert (await actor.stats()).size == 0


def _deep(depth: int) -> msgspec.Raw:
    return msgspec.Raw(b"\x91" * depth + b"\xc0")


def _undecodable_depth() -> int:
    """The least nesting that a receiver's decoder refuses, called from here."""
    low, high = 1, 100_000  # decodable, refused
    while high - low > 1:
        middle = (low + high) // 2
        try:
            get_codec_pool().decode_data(bytes(_envelope([_deep(middle)])), list[Any])
        except (ValueError, RecursionError):
            high = middle
        else:
            low = middle
    return high


@pytest.mark.parametrize("value_type", [None, Any, list[Any]])
async def test_a_value_too_deep_for_receivers_is_refused_with_its_whole_batch(
    value_type: Any,
) -> None:
    depth = _undecodable_depth()
    for nesting in range(depth - 8, depth + 8):
        async with _channel(value_type=value_type) as actor:
            await _credit(actor, 3)
            answer = decode_send_answer(await actor.put(_put(0, [1, _deep(nesting), 2])))
            stats = await actor.stats()
            if answer.status == "invalid":
                assert stats.size == 0
                continue
            # Accepted: then a receiver can decode it.
            assert nesting < depth
            assert len(_values(await _take(actor))) == 3
    async with _channel(value_type=value_type) as actor:
        await _credit(actor, 3)
        answer = decode_send_answer(await actor.put(_put(0, [1, _deep(depth), 2])))
        assert (answer.status, (await actor.stats()).size) == ("invalid", 0)


async def _deepest_readable_request(actor: Actor) -> int:
    """The deepest nesting of a value with which a put request still decodes."""
    for nesting in range(_undecodable_depth() + 16, 0, -1):
        answer = decode_send_answer(await actor.put(_put(-1, [_deep(nesting)])))
        if answer.duplicate:  # decoded; seq -1 counts as applied before, so nothing else ran
            return nesting
    pytest.fail("no nesting decodes as a request")


async def test_a_batch_refused_for_a_value_too_deep_to_split_spends_its_credit() -> None:
    async with _channel(None, value_type=None) as actor:
        readable = await _deepest_readable_request(actor)
        for seq, nesting in enumerate(range(readable, readable - 16, -1)):
            await _credit(actor, 3)
            before = (await actor.stats()).reserved
            answer = decode_send_answer(await actor.put(_put(seq, [1, _deep(nesting), 2])))
            if answer.status == "invalid":
                break
        else:
            pytest.fail("every batch whose request was read was accepted")
        assert not answer.error.startswith("malformed")
        assert (await actor.stats()).reserved == before - 3


async def test_a_batch_refused_for_a_wrong_typed_value_spends_its_credit(actor: Actor) -> None:
    await _credit(actor, 3)
    answer = decode_send_answer(await actor.put(_put(0, [1, "two", 3])))
    assert answer.status == "invalid"
    assert (await actor.stats()).reserved == 0


async def test_the_credit_of_a_refused_batch_reaches_a_waiting_reserve() -> None:
    async with _channel(capacity=2) as actor:
        await _credit(actor, 2)
        waiting = asyncio.ensure_future(actor.reserve(_reserve(1, wait=True, writer="w2")))
        await _until_waiting(actor, senders=1)
        refused = decode_send_answer(await actor.put(_put(0, ["x", "y"])))
        assert refused.status == "invalid"
        await _turns()
        assert waiting.done()
        assert decode_send_answer(waiting.result()).granted == 1


# --- ordering ------------------------------------------------------------------------------


async def test_a_put_of_a_seq_applied_before_is_a_duplicate_and_adds_nothing(
    actor: Actor,
) -> None:
    await _credit(actor, 2)
    first = decode_send_answer(await actor.put(_put(0, [1])))
    again = decode_send_answer(await actor.put(_put(0, [1])))
    assert (first.accepted, first.duplicate) == (1, False)
    assert (again.status, again.accepted, again.duplicate) == ("ok", 0, True)
    stats = await actor.stats()
    assert (stats.size, stats.total_sent, stats.reserved) == (1, 1, 1)


@_FEW
@given(order=st.permutations(range(5)))
async def test_puts_arriving_out_of_seq_order_are_applied_in_seq_order(order: list[int]) -> None:
    async with _channel() as actor:
        await _credit(actor, 5)
        answers = await asyncio.wait_for(
            asyncio.gather(*(actor.put(_put(seq, [seq])) for seq in order)), 30
        )
        assert {decode_send_answer(answer).status for answer in answers} == {"ok"}
        assert _values(await _take(actor)) == [0, 1, 2, 3, 4]


def _durable(storage: Path) -> Actor:
    """A durable channel's actor on ``storage``: call it again for its restarted process."""
    return RayChannelActor(
        8, int, "test", "ns", [S], [R], P, durable=True, storage_dir=str(storage)
    )


async def _stop(actor: Actor) -> None:
    """End a durable actor as its process's death would: its database closed, no task left."""
    grace = actor._grace
    if grace is not None:
        grace.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await grace
    assert actor._durable is not None
    actor._durable.close()


async def test_a_durable_channel_refuses_a_handle_closed_before_its_actor_restarted(
    tmp_path: Path,
) -> None:
    first = _durable(tmp_path)
    await first.close_receiver(_close(R))
    await _stop(first)
    restarted = _durable(tmp_path)
    try:
        assert R in restarted._core.closed
        answer = _got(await restarted.get(_get()))
        assert (answer.status, answer.error) == ("handle_closed", "this receiver is closed")
    finally:
        await _stop(restarted)


async def test_a_durable_channel_reports_an_aborted_senders_reason_after_its_actor_restarted(
    tmp_path: Path,
) -> None:
    first = _durable(tmp_path)
    await first.close_sender(encode_message(CloseRequest(S, P, 0, abort="value 3 failed")))
    before = _got(await first.get(_get()))
    await _stop(first)
    restarted = _durable(tmp_path)
    try:
        after = _got(await restarted.get(_get()))
        seen = (after.status, after.error, after.lost_sender)
        assert seen == ("sender_lost", "value 3 failed", S)
        assert seen == (before.status, before.error, before.lost_sender)  # as before it
    finally:
        await _stop(restarted)


async def test_a_supervised_clone_whose_process_dies_after_a_durable_restart_closes_normally(
    tmp_path: Path,
) -> None:
    first = _durable(tmp_path)
    await first.register("sender", "sink", "worker", supervised=True)  # a stage worker's
    await _stop(first)
    restarted = _durable(tmp_path)
    try:
        assert restarted.process_died("worker") == ["sink"]  # the stage replaces it
        assert restarted._core.closed["sink"] == "closed"
        await restarted.close_sender(encode_message(CloseRequest(S, P, 0)))  # the stage's own
        end = _got(await restarted.get(_get()))
        assert (end.status, end.lost_sender) == ("ended", "")
        assert (await restarted.stats()).lost_senders == 0
    finally:
        await _stop(restarted)


@pytest.mark.parametrize("first_gives_up", [False, True])
async def test_a_put_retried_while_it_waits_for_its_turn_is_applied_once_without_stalling(
    first_gives_up: bool,
) -> None:
    async with _channel() as actor:
        await _credit(actor, 2)
        first = asyncio.ensure_future(actor.put(_put(1, [1])))
        retried = asyncio.ensure_future(actor.put(_put(1, [1])))  # e.g. after a lost reply
        await _turns()
        assert (first.done(), retried.done()) == (False, False)  # both wait for seq 0
        if first_gives_up:
            first.cancel()
            await _turns()
            assert first.cancelled()
        assert decode_send_answer(await actor.put(_put(0, [0]))).accepted == 1
        await _turns()  # far less than the turn patience of 30 s, on no clock at all
        assert retried.done()
        answers = [decode_send_answer(retried.result())]
        if not first_gives_up:
            assert first.done()
            answers.append(decode_send_answer(first.result()))
        assert sorted((a.accepted, a.duplicate) for a in answers) == (
            [(1, False)] if first_gives_up else [(0, True), (1, False)]
        )
        assert _values(await _take(actor)) == [0, 1]
        assert actor._core.writers[W].turns == {}


async def test_a_get_that_timed_out_leaves_no_waiter_and_the_next_get_is_served_at_once() -> None:
    async with _channel(poll_seconds=3600) as actor:
        for request in range(5):
            answer = _got(await actor.get(_get(request, wait=0.001)))
            assert answer.status == "empty"
        assert (await actor.stats()).waiting_receivers == 0
        waiting = asyncio.ensure_future(actor.get(_get(9, wait=None)))
        await _until_waiting(actor, receivers=1)
        await _send(actor, [5])
        # A waiter left behind would take this value and leave the real get asleep.
        assert _values(_got(await asyncio.wait_for(waiting, 30))) == [5]
        assert (await actor.stats()).waiting_receivers == 0


async def test_an_abandoned_get_answers_withdrawn_and_takes_nothing(actor: Actor) -> None:
    waiting = asyncio.ensure_future(actor.get(_get(7, wait=None)))
    await _until_waiting(actor, receivers=1)
    await actor.abandon(R, 7)
    assert _got(await asyncio.wait_for(waiting, 30)).status == "withdrawn"
    await _send(actor, [1])
    assert _values(await _take(actor)) == [1]


async def test_a_withdrawn_reserve_answers_withdrawn_and_holds_no_credit() -> None:
    async with _channel(capacity=1) as actor:
        await _credit(actor, 1)
        waiting = asyncio.ensure_future(actor.reserve(_reserve(1, wait=True, request=3)))
        await _until_waiting(actor, senders=1)
        await actor.withdraw(W, 3)
        answer = decode_send_answer(await asyncio.wait_for(waiting, 30))
        assert (answer.status, answer.granted) == ("withdrawn", 0)
        stats = await actor.stats()
        assert (stats.waiting_senders, stats.reserved) == (0, 1)


# --- acknowledgements ----------------------------------------------------------------------


async def test_a_get_acknowledges_what_it_carries_before_it_takes(actor: Actor) -> None:
    await _send(actor, [1, 2])
    first = await _take(actor, max_items=1)
    second = await _take(actor, max_items=1, acked=first.ids)
    assert (first.ids, second.ids) == ([0], [1])
    assert (await actor.stats()).leased == 1


async def test_an_ack_ends_only_the_callers_own_leases(actor: Actor) -> None:
    await actor.register("receiver", "r2", P)
    await _send(actor, [1, 2])
    await _take(actor, max_items=1)
    await _take(actor, max_items=1, handle="r2")
    answer = decode_send_answer(await actor.ack(_ack([0, 1, 99])))
    assert (answer.status, answer.accepted) == ("ok", 1)
    assert (await actor.stats()).leased == 1


async def test_closing_a_receiver_acknowledges_handed_values_and_gives_back_unread(
    actor: Actor,
) -> None:
    await actor.register("receiver", "r2", P)
    await _send(actor, [1, 2, 3, 4])
    assert (await _take(actor)).ids == [0, 1, 2, 3]
    await actor.close_receiver(_close(R, acked=[0], unread=[3, 1, 2]))
    again = await _take(actor, handle="r2")
    assert (_values(again), again.deliveries) == ([2, 3, 4], [])  # first deliveries still
    stats = await actor.stats()
    assert (stats.leased, stats.redelivered, stats.total_received) == (3, 0, 4)


async def test_a_get_carrying_held_ids_gets_back_the_leases_whose_answer_was_lost(
    actor: Actor,
) -> None:
    await _send(actor, [1, 2, 3])
    assert (await _take(actor)).ids == [0, 1, 2]
    again = await _take(actor, held=[1])
    assert (again.ids, _values(again), again.deliveries) == ([0, 2], [1, 3], [])


# --- closes and deaths ---------------------------------------------------------------------


async def test_closed_handles_and_closed_peers_are_answered_by_status(actor: Actor) -> None:
    await _credit(actor, 2)
    await actor.close_receiver(_close(R))
    refused = decode_send_answer(await actor.put(_put(0, [1])))
    assert refused.status == "peer_closed"
    assert _got(await actor.get(_get())).status == "handle_closed"
    await actor.close_sender(_close(S))
    assert decode_send_answer(await actor.put(_put(1, [1]))).status == "handle_closed"
    assert decode_send_answer(await actor.reserve(_reserve(1))).status == "handle_closed"


async def test_a_dead_receivers_leases_go_back_to_the_head_in_order(actor: Actor) -> None:
    await actor.register("receiver", "r2", "q")
    await _send(actor, [1, 2, 3])
    assert (await _take(actor, max_items=2, process="pr")).ids == [0, 1]
    assert actor.process_died("pr") == [R]
    again = await _take(actor, handle="r2", process="q")
    assert (_values(again), again.deliveries) == ([1, 2, 3], [2, 2, 1])
    assert (await actor.stats()).redelivered == 2
    closed = _got(await actor.get(_get(process="pr")))
    assert (closed.status, closed.error) == (
        "handle_closed",
        "this receiver's process was reported dead",
    )


async def test_a_dead_receivers_waiting_get_is_withdrawn(actor: Actor) -> None:
    waiting = asyncio.ensure_future(actor.get(_get(wait=None, process="pr")))
    await _until_waiting(actor, receivers=1)
    assert actor.process_died("pr") == [R]
    assert _got(await asyncio.wait_for(waiting, 30)).status == "handle_closed"
    assert (await actor.stats()).waiting_receivers == 0


async def test_a_dead_receivers_leases_reach_the_live_receiver_not_its_own_waiting_get(
    actor: Actor,
) -> None:
    await actor.register("receiver", "r2", "q")
    await _send(actor, [1, 2])
    await _take(actor, process="pr")
    own = asyncio.ensure_future(actor.get(_get(1, wait=None, process="pr")))
    await _until_waiting(actor, receivers=1)
    other = asyncio.ensure_future(actor.get(_get(2, wait=None, handle="r2", process="q")))
    await _until_waiting(actor, receivers=2)
    actor.process_died("pr")
    assert _got(await asyncio.wait_for(own, 30)).status == "handle_closed"
    assert _values(_got(await asyncio.wait_for(other, 30))) == [1, 2]


async def test_a_dead_senders_credit_returns_and_receivers_see_sender_lost_once_drained(
    actor: Actor,
) -> None:
    await _credit(actor, 4, process="ps")
    put = decode_send_answer(await actor.put(_put(0, [7], process="ps")))
    assert put.accepted == 1
    assert (await actor.stats()).reserved == 3
    assert actor.process_died("ps") == [S]
    stats = await actor.stats()
    assert (stats.reserved, stats.lost_senders, stats.open_senders) == (0, 1, 0)
    drained = await _take(actor)
    assert _values(drained) == [7]
    end = _got(await actor.get(_get(acked=drained.ids)))
    assert (end.status, end.lost_sender) == ("sender_lost", S)
    assert decode_send_answer(await actor.put(_put(1, [8], process="ps"))).status == (
        "handle_closed"
    )


@pytest.mark.parametrize("delivery", ["at_least_once", "at_most_once"])
async def test_stats_count_redeliveries_and_losses(delivery: Any) -> None:
    async with _channel(delivery=delivery) as actor:
        await actor.register("receiver", "r2", "q")
        await _send(actor, [1, 2, 3])
        await _take(actor, max_items=2, process="pr")
        actor.process_died("pr")
        rest = await _take(actor, handle="r2", process="q")
        stats = await actor.stats()
        if delivery == "at_least_once":
            assert (_values(rest), stats.redelivered, stats.lost) == ([1, 2, 3], 2, 0)
        else:
            assert (_values(rest), stats.redelivered, stats.lost) == ([3], 0, 2)


async def test_stats_count_waiting_calls_credit_and_leases() -> None:
    async with _channel(capacity=2) as actor:
        await _credit(actor, 2)
        reserving = asyncio.ensure_future(actor.reserve(_reserve(1, wait=True, writer="w2")))
        getting = asyncio.ensure_future(actor.get(_get(wait=None, max_items=1)))
        await _until_waiting(actor, senders=1, receivers=1)
        stats = await actor.stats()
        assert (stats.waiting_senders, stats.waiting_receivers, stats.reserved) == (1, 1, 2)
        assert decode_send_answer(await actor.put(_put(0, [1, 2]))).accepted == 2
        got = _got(await asyncio.wait_for(getting, 30))
        # The value the get took left the queue: its room went to the waiting reserve.
        reserved = decode_send_answer(await asyncio.wait_for(reserving, 30))
        assert (reserved.status, reserved.granted) == ("ok", 1)
        stats = await actor.stats()
        assert (stats.size, stats.leased, stats.reserved) == (1, 1, 1)
        assert (stats.waiting_senders, stats.waiting_receivers) == (0, 0)
        assert decode_send_answer(await actor.ack(_ack(got.ids))).accepted == 1
        stats = await actor.stats()
        assert (stats.size, stats.leased, stats.reserved) == (1, 0, 1)


async def test_calls_beyond_the_waiting_limit_are_answered_busy_and_others_get_through() -> None:
    async with _channel(capacity=1, waiting_limit=2, poll_seconds=3600) as actor:
        await _credit(actor, 1)
        waiting = [asyncio.ensure_future(actor.get(_get(n, wait=None))) for n in (1, 2)]
        await _until_waiting(actor, receivers=2)
        busy = _got(await actor.get(_get(3, wait=None)))
        assert busy.status == "busy"
        assert "ray.max_concurrency" in busy.error
        reserve = decode_send_answer(await actor.reserve(_reserve(1, wait=True, writer="w2")))
        assert reserve.status == "busy"
        assert _got(await actor.get(_get(4, wait=0))).status == "empty"
        assert (await actor.stats()).waiting_receivers == 2
        assert decode_send_answer(await actor.put(_put(0, [9]))).accepted == 1
        assert _values(_got(await asyncio.wait_for(waiting[0], 30))) == [9]
        await actor.abandon(R, 2)
        assert _got(await asyncio.wait_for(waiting[1], 30)).status == "withdrawn"


# --- checkpoints ---------------------------------------------------------------------------


async def test_a_checkpoint_restores_queued_and_leased_values_ahead_of_new_ones(
    actor: Actor,
) -> None:
    await _send(actor, [5, 6, 7])
    await _take(actor, max_items=1)  # 5 is leased: it is in the checkpoint too
    checkpoint = await actor.get_checkpoint_state()
    async with _channel() as fresh:
        await _send(fresh, [9])
        assert await fresh.apply_checkpoint_state(checkpoint) == 3
        stats = await fresh.stats()
        assert (stats.size, stats.total_sent, stats.total_received) == (4, 3, 0)
        assert _values(await _take(fresh)) == [5, 6, 7, 9]
        with pytest.raises(msgspec.DecodeError):
            await fresh.apply_checkpoint_state(b"\x00garbage")


async def test_a_reference_channel_cannot_be_checkpointed() -> None:
    async with _channel(by_reference=True) as actor:
        with pytest.raises(TypeError, match="reference channel"):
            await actor.get_checkpoint_state()


async def test_a_reserve_after_a_checkpoint_beyond_capacity_is_full_not_negative() -> None:
    async with _channel() as source:
        await _send(source, [1, 2, 3])
        checkpoint = await source.get_checkpoint_state()
    async with _channel(capacity=2) as actor:
        await actor.apply_checkpoint_state(checkpoint)
        answer = decode_send_answer(await actor.reserve(_reserve(1)))
        assert (answer.status, answer.granted) == ("full", 0)
