"""Operator controls: pause, resume, resize and close through the wire protocol's control plane.

The first part drives ``RayChannelActor.control`` in-process with encoded messages, good
and hostile; the rest uses the session's real Ray instance through the public functions
(``pause_channel`` ...), with sends that really wait in the channel actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import ray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channel_backends import receive_exactly, wait_for_stats, wait_for_waiting
from klaw_config import ChannelDefaults, KlawConfig
from klaw_ray import (
    ChannelNotFoundError,
    RayReceiver,
    RaySender,
    channel,
    channel_stats,
    close_channel,
    delete_channel,
    get_channel,
    pause_channel,
    resize_channel,
    resume_channel,
)
from klaw_ray.ray._actor import RayChannelActor
from klaw_ray.ray._control_plane import UNSUPPORTED, WRONG_CHANNEL
from klaw_types import Err, Ok
from klaw_wire import (
    Ack,
    ChannelClosedError,
    ChannelFull,
    ControlMessage,
    Heartbeat,
    ResizeMetadata,
    WireError,
    decode,
    encode,
)

pytestmark = pytest.mark.anyio

Actor = RayChannelActor[Any]


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _settings(actor: Actor) -> tuple[int, bool, bool, int]:
    core = actor._core
    return core.capacity, core.paused, core.shut, len(core.handles)


async def _answer(actor: Actor, request: bytes) -> Ack | WireError:
    answer = decode(await actor.control(request))
    assert isinstance(answer, Ack | WireError)
    return answer


@pytest.fixture
async def actor(anyio_backend: str) -> AsyncIterator[Actor]:
    actor: Actor = RayChannelActor(8, int, "jobs", "", senders=["s"], receivers=["r"], process="p")
    yield actor
    await actor.close_all()


# --- the control plane in-process --------------------------------------------------------


async def test_each_action_is_acknowledged_with_the_messages_seq(actor: Actor) -> None:
    for seq, (action, metadata) in enumerate(
        [("pause", None), ("resize", ResizeMetadata(3)), ("resume", None)], start=40
    ):
        message = ControlMessage.build(action, metadata=metadata, channel_id="jobs", seq=seq)
        answer = await _answer(actor, encode(message))
        assert answer == Ack.build(acked_seq=seq, channel_id="jobs")
    assert _settings(actor) == (3, False, False, 2)
    stats = await actor.stats()
    assert (stats.capacity, stats.paused) == (3, False)


async def test_a_message_without_channel_id_means_this_channel(actor: Actor) -> None:
    answer = await _answer(actor, encode(ControlMessage.build("pause")))
    assert isinstance(answer, Ack)
    assert (await actor.stats()).paused


async def test_close_closes_every_sender_and_later_ones(actor: Actor) -> None:
    assert isinstance(await _answer(actor, encode(ControlMessage.build("close"))), Ack)
    stats = await actor.stats()
    assert (stats.open_senders, stats.open_receivers, stats.closed) == (0, 1, True)
    await actor.register("sender", "late", "p")
    assert (await actor.stats()).open_senders == 0


def _raw_control(action: object, metadata: object = None, channel_id: str = "jobs") -> bytes:
    """A control envelope as a foreign writer may encode it, unchecked."""
    return msgspec.msgpack.encode([2, [1, 2, channel_id, 9, 0], action, metadata])


@pytest.mark.parametrize(
    ("request_bytes", "code", "text"),
    [
        (b"", "wire.decode", ""),
        (b"\xc1", "wire.decode", ""),
        (_raw_control("explode"), "wire.decode", "explode"),
        (_raw_control("resize", {"capacity": 0}), "wire.decode", ">= 1"),
        (_raw_control("resize", {"capacity": 10**7}), "wire.decode", "<= 1000000"),
        (_raw_control("resize", {"capacity": "big"}), "wire.decode", "Expected `int`"),
        (_raw_control("resize", {}), "wire.decode", "capacity"),
        (_raw_control("resize"), "wire.decode", ""),
        (_raw_control("pause", {"now": True}), "wire.decode", "must be nil"),
        (_raw_control("create"), UNSUPPORTED, "exists already"),
        (encode(Heartbeat.build(sender_id="x")), UNSUPPORTED, "Heartbeat"),
        (_raw_control("pause", channel_id="other"), WRONG_CHANNEL, "'other'"),
    ],
)
async def test_a_bad_control_message_is_an_error_answer_and_changes_nothing(
    actor: Actor, request_bytes: bytes, code: str, text: str
) -> None:
    before = _settings(actor)
    answer = await _answer(actor, request_bytes)
    assert isinstance(answer, WireError)
    assert answer.code == code
    assert text in answer.message
    assert _settings(actor) == before


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.binary(max_size=64)
    | st.builds(
        _raw_control,
        st.sampled_from(["pause", "resume", "resize", "close", "create", "x"]),
        st.none()
        | st.dictionaries(
            st.text(max_size=8), st.integers(-(2**63), 2**64 - 1) | st.text(max_size=4)
        ),
        st.sampled_from(["jobs", "", "other"]),
    )
)
async def test_no_bytes_make_control_raise(actor: Actor, request_bytes: bytes) -> None:
    answer = await _answer(actor, request_bytes)
    if isinstance(answer, WireError):
        assert answer.code in {"wire.decode", UNSUPPORTED, WRONG_CHANNEL}
    await actor.control(encode(ControlMessage.build("resume")))
    await actor.control(encode(ControlMessage.build("resize", metadata=ResizeMetadata(8))))


# --- on a real Ray instance ----------------------------------------------------------------


@pytest.fixture
async def named(ray_config: KlawConfig) -> AsyncIterator[tuple[str, KlawConfig]]:
    name = _unique("operated")
    yield name, ray_config
    with contextlib.suppress(ChannelNotFoundError):
        await delete_channel(name, config=ray_config)


async def _open(name: str, config: KlawConfig, capacity: int) -> tuple[RaySender[int], Any]:
    tx, rx = await channel(capacity, backend="ray", value_type=int, name=name, config=config)
    assert isinstance(tx, RaySender)
    return tx, rx


async def _fill(tx: RaySender[int], values: range) -> None:
    for value in values:
        await tx.send(value)
    await tx.flush()


async def test_pause_makes_a_send_wait_while_queued_values_still_arrive(
    named: tuple[str, KlawConfig],
) -> None:
    name, config = named
    tx, rx = await _open(name, config, 2)
    await _fill(tx, range(2))
    blocked = asyncio.create_task(tx.send(2))
    await wait_for_waiting(tx, senders=1)
    await pause_channel(name, config=config)
    assert (await channel_stats(name, config=config)).paused
    assert await receive_exactly(rx, 2) == [0, 1]
    # Had the channel not been paused, taking the values would have granted the waiting
    # send their room before these statistics were taken.
    stats = await wait_for_stats(rx, lambda s: s.size == 0)
    assert (stats.waiting_senders, stats.total_sent, stats.paused) == (1, 2, True)
    assert not blocked.done()
    other, _ = await get_channel(name, config=config)
    match await other.try_send(9):
        case Err(ChannelFull()):
            pass
        case result:
            raise AssertionError(f"a paused channel accepted a try_send: {result}")
    await resume_channel(name, config=config)
    await asyncio.wait_for(blocked, 20)
    assert await receive_exactly(rx, 1) == [2]
    assert not (await channel_stats(name, config=config)).paused
    assert await other.try_send(3) == Ok(None)


async def test_resize_up_releases_waiting_senders(named: tuple[str, KlawConfig]) -> None:
    name, config = named
    tx, rx = await _open(name, config, 1)
    await _fill(tx, range(1))
    blocked = asyncio.create_task(_fill(tx, range(1, 3)))
    await wait_for_waiting(tx, senders=1)
    await resize_channel(name, 3, config=config)
    await asyncio.wait_for(blocked, 20)
    stats = await channel_stats(name, config=config)
    assert (stats.capacity, stats.size) == (3, 3)
    assert await receive_exactly(rx, 3) == [0, 1, 2]


async def test_resize_down_drops_nothing_and_refuses_until_drained(
    named: tuple[str, KlawConfig],
) -> None:
    name, config = named
    tx, rx = await _open(name, config, 8)
    other, _ = await get_channel(name, config=config)
    await _fill(tx, range(6))
    await tx.close()  # the room it was granted ahead goes back to the channel
    await resize_channel(name, 2, config=config)
    stats = await channel_stats(name, config=config)
    assert (stats.capacity, stats.size, stats.reserved) == (2, 6, 0)
    match await other.try_send(99):
        case Err(ChannelFull()):
            pass
        case result:
            raise AssertionError(f"a channel over its new capacity accepted: {result}")
    blocked = asyncio.create_task(other.send(6))
    await wait_for_waiting(other, senders=1)
    assert await receive_exactly(rx, 6) == list(range(6))
    await asyncio.wait_for(blocked, 20)
    assert await receive_exactly(rx, 1) == [6]


async def test_close_ends_the_stream_after_the_drain(named: tuple[str, KlawConfig]) -> None:
    name, config = named
    tx, rx = await _open(name, config, 8)
    await _fill(tx, range(3))
    await close_channel(name, config=config)
    with pytest.raises(ChannelClosedError, match="operator closed"):
        await _fill(tx, range(3, 4))
    late, _ = await get_channel(name, config=config)
    with pytest.raises(ChannelClosedError):
        await _fill(late, range(4, 5))
    assert [value async for value in rx] == [0, 1, 2]
    stats = await channel_stats(name, config=config)
    assert (stats.closed, stats.open_senders, stats.size, stats.leased) == (True, 0, 0, 0)


async def test_a_durable_channel_keeps_pause_and_capacity_across_a_restart(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    config = KlawConfig(ray=ray_config.ray, channels=ChannelDefaults(storage_dir=str(tmp_path)))
    name = _unique("durable_operated")
    tx, rx = await channel(4, backend="ray", value_type=int, name=name, durable=True, config=config)
    try:
        assert isinstance(tx, RaySender)
        assert isinstance(rx, RayReceiver)
        await _fill(tx, range(2))
        await resize_channel(name, 9, config=config)
        await pause_channel(name, config=config)
        old_pid = (await tx.stats()).extras["pid"]
        ray.kill(tx._actor, no_restart=False)
        stats = await wait_for_stats(tx, lambda s: s.extras["pid"] != old_pid, timeout=60)
        assert (stats.capacity, stats.paused, stats.size) == (9, True, 2)
        other, _ = await get_channel(name, config=config)
        match await other.try_send(5):
            case Err(ChannelFull()):
                pass
            case result:
                raise AssertionError(f"a restarted paused channel accepted: {result}")
        await resume_channel(name, config=config)
        await _fill(tx, range(2, 9))  # room for 9 in all: nothing waits
        assert await receive_exactly(rx, 9) == list(range(9))
    finally:
        await delete_channel(name, config=config)


async def test_control_on_ray_answers_hostile_bytes_and_changes_nothing(
    named: tuple[str, KlawConfig],
) -> None:
    name, config = named
    tx, _ = await _open(name, config, 5)
    before = await channel_stats(name, config=config)
    for request in (b"\x93\xff", _raw_control("explode", channel_id=name)):
        answer = decode(await tx._actor.control.remote(request))
        assert isinstance(answer, WireError)
        assert answer.code == "wire.decode"
    after = await channel_stats(name, config=config)
    assert (after.capacity, after.paused, after.open_senders) == (
        before.capacity,
        before.paused,
        before.open_senders,
    )


async def test_every_control_names_a_missing_channel(ray_config: KlawConfig) -> None:
    missing = _unique("missing")
    for call in (pause_channel, resume_channel, close_channel, channel_stats):
        with pytest.raises(ChannelNotFoundError, match=missing):
            await call(missing, config=ray_config)
    with pytest.raises(ChannelNotFoundError, match=missing):
        await resize_channel(missing, 4, config=ray_config)


@pytest.mark.parametrize(
    ("capacity", "error"), [(0, ValueError), (10**7, ValueError), (True, TypeError)]
)
async def test_a_bad_capacity_is_refused_before_anything_is_sent(
    capacity: Any, error: type[Exception], anyio_backend: str
) -> None:
    with pytest.raises(error, match="capacity"):
        await resize_channel("anything", capacity, config=KlawConfig())
