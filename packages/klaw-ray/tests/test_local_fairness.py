"""The local backend hands values over: fairness, FIFO waiters, cancellation, closing.

A value sent while receivers wait belongs to the longest-waiting one from that moment;
room freed while senders wait belongs to the longest-waiting one. These tests call
``try_send`` / ``try_recv`` from the test task right after such a hand-off, before the
woken task has run, to check that nothing barges in; they synchronise on the channel's
waiting counts and on task states, never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channel_backends import wait_for_waiting
from klaw_ray import LocalReceiver, LocalSender, local_channel
from klaw_types import Err, Ok, Result
from klaw_wire import (
    ChannelEmpty,
    ChannelFull,
    EndOfStream,
    EndOfStreamError,
    HandleClosed,
    HandleClosedError,
    PeerClosedError,
)

pytestmark = pytest.mark.anyio


def _open(capacity: int | None) -> tuple[LocalSender[int], LocalReceiver[int]]:
    return local_channel(capacity)


def _is_empty(result: Result[int, Any]) -> bool:
    return isinstance(result, Err) and isinstance(result.error, ChannelEmpty)


def _is_full(result: Result[None, Any]) -> bool:
    return isinstance(result, Err) and isinstance(result.error, ChannelFull)


async def _started(
    coroutine: Coroutine[Any, Any, Any], handle: LocalSender[int] | LocalReceiver[int]
) -> asyncio.Task[Any]:
    """Start ``coroutine`` in a task and wait until it waits in the channel."""
    before = await handle.stats()
    task = asyncio.create_task(coroutine)
    await wait_for_waiting(
        handle,
        senders=before.waiting_senders + isinstance(handle, LocalSender),
        receivers=before.waiting_receivers + isinstance(handle, LocalReceiver),
    )
    return task


async def _waits_for_cancellation(sent: list[int], tx: LocalSender[int], value: int) -> None:
    """Send ``value``, note that the send returned, then wait to be cancelled."""
    await tx.send(value)
    sent.append(value)
    await asyncio.Event().wait()  # a re-armed cancellation raises here


# --- hand-off: nothing barges in ---------------------------------------------------------


async def test_try_recv_cannot_take_a_value_handed_to_a_waiting_receiver() -> None:
    tx, rx = _open(4)
    receiving = await _started(rx.recv(), rx)
    await tx.send(1)
    assert not receiving.done()  # woken, not yet run
    assert _is_empty(await rx.try_recv())
    assert (await rx.stats()).size == 0
    await tx.send(2)  # queued behind nothing: the first value is already given away
    assert await rx.try_recv() == Ok(2)
    assert await receiving == 1


async def test_try_send_cannot_take_room_owed_to_a_waiting_sender() -> None:
    tx, rx = _open(1)
    await tx.send(0)
    sending = await _started(tx.send(1), tx)
    assert await rx.try_recv() == Ok(0)
    assert not sending.done()  # its value is in the channel, the task has not run
    assert _is_full(await tx.try_send(2))
    stats = await tx.stats()
    assert (stats.size, stats.waiting_senders, stats.total_sent) == (1, 0, 2)
    await sending
    assert await rx.try_recv() == Ok(1)
    assert _is_empty(await rx.try_recv())


async def test_a_receiver_that_finds_receivers_waiting_waits_behind_them() -> None:
    tx, rx = _open(4)
    first = await _started(rx.recv(), rx)
    second = await _started(rx.clone().recv(), rx)
    await tx.send_batch([1, 2])
    third = asyncio.create_task(rx.recv())
    await wait_for_waiting(rx, receivers=1)
    assert (await first, await second) == (1, 2)
    assert not third.done()
    await tx.send(3)
    assert await third == 3


# --- FIFO waiters ----------------------------------------------------------------------


async def test_waiting_receivers_are_served_in_the_order_they_started_waiting() -> None:
    tx, rx = _open(2)
    handles = [rx, rx.clone(), rx, rx.clone(), rx]
    receiving = [await _started(handle.recv(), rx) for handle in handles]
    await tx.send_batch(range(5))
    assert [await task for task in receiving] == [0, 1, 2, 3, 4]


async def test_waiting_senders_are_served_in_the_order_they_started_waiting() -> None:
    tx, rx = _open(1)
    await tx.send(0)
    handles = [tx, tx.clone(), tx, tx.clone()]
    sending = [await _started(handle.send(i), tx) for i, handle in enumerate(handles, 1)]
    assert [await rx.recv() for _ in range(5)] == [0, 1, 2, 3, 4]
    await asyncio.gather(*sending)
    assert _is_empty(await rx.try_recv())


async def test_a_recv_batch_waiting_first_gets_the_first_value_and_what_is_queued() -> None:
    tx, rx = _open(8)
    batch = await _started(rx.recv_batch(3, timeout=30), rx)
    single = await _started(rx.recv(), rx)
    await tx.send_batch([1, 2, 3, 4, 5])
    assert await single == 2
    assert await batch == [1, 3, 4]
    assert await rx.try_recv() == Ok(5)


# --- cancellation ------------------------------------------------------------------------


async def test_a_handed_receiver_cancelled_before_it_runs_passes_the_value_on() -> None:
    tx, rx = _open(4)
    first = await _started(rx.recv(), rx)
    second = await _started(rx.clone().recv(), rx)
    await tx.send(7)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second == 7
    stats = await rx.stats()
    assert (stats.total_sent, stats.total_received, stats.size) == (1, 1, 0)


async def test_a_value_given_back_by_a_cancelled_receiver_is_received_next() -> None:
    tx, rx = _open(1)
    receiving = await _started(rx.recv(), rx)
    await tx.send(1)  # handed to the waiting receiver
    await tx.send(2)  # queued: the channel is full
    receiving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await receiving
    stats = await rx.stats()
    assert (stats.size, stats.total_received) == (2, 0)  # one over capacity, briefly
    assert _is_full(await tx.try_send(3))
    assert [await rx.recv(), await rx.recv()] == [1, 2]
    assert _is_empty(await rx.try_recv())


async def test_a_handed_recv_batch_cancelled_before_it_runs_gives_the_value_back() -> None:
    tx, rx = _open(4)
    batch = await _started(rx.recv_batch(4), rx)
    await tx.send(1)
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert await rx.try_recv() == Ok(1)


async def test_a_sender_whose_value_was_accepted_returns_and_is_cancelled_after() -> None:
    tx, rx = _open(1)
    await tx.send(0)
    sent: list[int] = []
    sender = await _started(_waits_for_cancellation(sent, tx, 1), tx)
    assert await rx.try_recv() == Ok(0)  # 1 moves in on the sender's behalf
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender
    assert sent == [1]  # send returned normally; the task's next await raised
    assert await rx.try_recv() == Ok(1)
    assert _is_empty(await rx.try_recv())
    assert (await tx.stats()).total_sent == 2


async def test_a_sender_cancelled_while_waiting_sends_nothing_and_keeps_the_order() -> None:
    tx, rx = _open(1)
    await tx.send(0)
    sending = [await _started(tx.send(i), tx) for i in (1, 2, 3)]
    sending[1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending[1]
    assert (await tx.stats()).waiting_senders == 2
    assert [await rx.recv() for _ in range(3)] == [0, 1, 3]
    await asyncio.gather(sending[0], sending[2])
    assert _is_empty(await rx.try_recv())


async def test_send_batch_cancelled_after_its_value_was_accepted_sent_that_far() -> None:
    tx, rx = _open(1)
    await tx.send(0)
    batch = await _started(tx.send_batch([1, 2, 3]), tx)
    assert await rx.try_recv() == Ok(0)
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert await rx.try_recv() == Ok(1)
    assert _is_empty(await rx.try_recv())
    stats = await tx.stats()
    assert (stats.total_sent, stats.waiting_senders) == (2, 0)


async def test_a_cancelled_waiter_is_not_counted_as_waiting() -> None:
    tx, rx = _open(1)
    receiving = await _started(rx.recv(), rx)
    receiving.cancel()  # the task has not run yet
    assert (await rx.stats()).waiting_receivers == 0
    await tx.send(1)  # goes past the cancelled receiver, into the buffer
    with pytest.raises(asyncio.CancelledError):
        await receiving
    assert await rx.try_recv() == Ok(1)


# --- closing while waiting ---------------------------------------------------------------


async def test_closing_the_last_sender_ends_every_waiting_receive() -> None:
    tx, rx = _open(4)
    other = rx.clone()
    waiting = [
        await _started(rx.recv(), rx),
        await _started(other.recv(), rx),
        await _started(rx.recv_batch(4, timeout=30), rx),
    ]
    clone = tx.clone()
    await tx.close()
    assert (await rx.stats()).waiting_receivers == 3  # a sender is still open
    await clone.close()
    for task in waiting:
        with pytest.raises(EndOfStreamError):
            await task


async def test_closing_a_receiver_fails_only_its_own_waiting_receives() -> None:
    tx, rx = _open(4)
    other = rx.clone()
    mine = [await _started(rx.recv(), rx), await _started(rx.recv(), rx)]
    theirs = await _started(other.recv(), rx)
    await rx.close()
    for task in mine:
        with pytest.raises(HandleClosedError):
            await task
    assert (await other.stats()).waiting_receivers == 1
    await tx.send(5)
    assert await theirs == 5


async def test_closing_the_last_receiver_fails_every_waiting_send() -> None:
    tx, rx = _open(1)
    await tx.send(0)
    waiting = [await _started(tx.send(1), tx), await _started(tx.clone().send(2), tx)]
    await rx.close()
    for task in waiting:
        with pytest.raises(PeerClosedError):
            await task
    stats = await tx.stats()
    assert (stats.total_sent, stats.waiting_senders) == (1, 0)


async def test_closing_a_sender_fails_only_its_own_waiting_sends() -> None:
    tx, rx = _open(1)
    other = tx.clone()
    await tx.send(0)
    mine = await _started(tx.send(1), tx)
    theirs = await _started(other.send(2), tx)
    await tx.close()
    with pytest.raises(HandleClosedError):
        await mine
    assert [await rx.recv(), await rx.recv()] == [0, 2]
    await theirs
    assert not (await rx.stats()).closed


async def test_send_batch_stops_when_its_sender_closes_after_a_value_was_accepted() -> None:
    tx, rx = _open(1)
    await tx.send(0)
    batch = await _started(tx.send_batch([1, 2, 3]), tx)
    assert await rx.try_recv() == Ok(0)  # 1 moves in on the batch's behalf
    await tx.close()  # before the batch runs again
    with pytest.raises(HandleClosedError):
        await batch
    assert [value async for value in rx] == [1]


async def test_a_value_handed_over_before_a_close_is_still_received() -> None:
    tx, rx = _open(4)
    first = await _started(rx.recv(), rx)
    second = await _started(rx.recv(), rx)
    await tx.send(1)
    await tx.close()  # the second receiver's wait ends; the first already has its value
    assert await first == 1
    with pytest.raises(EndOfStreamError):
        await second
    match await rx.try_recv():
        case Err(EndOfStream()):
            pass
        case other:
            pytest.fail(f"expected Err(EndOfStream), got {other!r}")


async def test_a_receiver_closed_after_it_was_handed_a_value_still_returns_it() -> None:
    tx, rx = _open(4)
    receiving = await _started(rx.recv(), rx)
    await tx.send(1)
    await rx.close()
    assert await receiving == 1
    match await rx.try_recv():
        case Err(HandleClosed()):
            pass
        case other:
            pytest.fail(f"expected Err(HandleClosed), got {other!r}")


# --- a model of the channel, against interleavings ---------------------------------------

Operation = Literal[
    "recv", "send", "try_send", "try_recv", "cancel", "send_to_cancelled", "recv_from_cancelled"
]
Ending = Literal["cancel", "close_sender", "close_receiver"]


@dataclass
class _Model:
    """Trio's memory channel, plus the rule for a value given back by a cancelled receive.

    Tasks are numbered; ``received`` and ``accepted`` say how each task ended so far.
    """

    capacity: int
    buffer: deque[int] = field(default_factory=deque)
    getters: list[int] = field(default_factory=list)  # longest waiting first
    putters: list[tuple[int, int]] = field(default_factory=list)  # (task, value)
    received: dict[int, int] = field(default_factory=dict)
    accepted: set[int] = field(default_factory=set)
    cancelled: set[int] = field(default_factory=set)

    def send(self, value: int, task: int | None) -> bool:
        """Whether ``value`` is accepted now; if not and ``task`` is given, it waits."""
        if self.getters:
            self.received[self.getters.pop(0)] = value
        elif len(self.buffer) < self.capacity:
            self.buffer.append(value)
        else:
            if task is not None:
                self.putters.append((task, value))
            return False
        if task is not None:
            self.accepted.add(task)
        return True

    def recv(self, task: int | None) -> int | None:
        """The value received now, or ``None``; if none and ``task`` is given, it waits."""
        if not self.buffer:
            if task is not None:
                self.getters.append(task)
            return None
        value = self.buffer.popleft()
        if self.putters:
            putter, moved = self.putters.pop(0)
            self.buffer.append(moved)
            self.accepted.add(putter)
        if task is not None:
            self.received[task] = value
        return value

    def cancel_waiting(self, task: int) -> None:
        self.cancelled.add(task)
        self.getters = [number for number in self.getters if number != task]
        self.putters = [(number, value) for number, value in self.putters if number != task]

    def give_back(self, task: int) -> None:
        """``task`` was handed a value and cancelled before it ran."""
        value = self.received.pop(task)
        self.cancelled.add(task)
        if self.getters:
            self.received[self.getters.pop(0)] = value
        else:
            self.buffer.appendleft(value)


@dataclass
class _Run:
    """The real channel, driven step by step alongside the model."""

    model: _Model
    tx: LocalSender[int]
    rx: LocalReceiver[int]
    receives: dict[int, asyncio.Task[int]] = field(default_factory=dict)
    sends: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    values: dict[int, int] = field(default_factory=dict)  # send task -> its value
    sent: list[int] = field(default_factory=list)  # values whose send returned, or try_sent
    got: list[int] = field(default_factory=list)  # every value received, in order
    last: int = 0  # values are numbered 1, 2, 3 ... in the order of the calls

    def fresh_value(self) -> int:
        self.last += 1
        return self.last

    async def receive(self) -> int:
        value = await self.rx.recv()
        self.got.append(value)
        return value

    async def send(self, value: int) -> None:
        await self.tx.send(value)
        self.sent.append(value)

    async def settle(self) -> None:
        """Wait until the waiting counts and the tasks are where the model says; check."""
        model = self.model

        async def as_modelled() -> bool:
            stats = await self.rx.stats()
            if (stats.waiting_senders, stats.waiting_receivers) != (
                len(model.putters),
                len(model.getters),
            ):
                return False
            waiting = {*model.getters, *(number for number, _ in model.putters)}
            tasks: dict[int, asyncio.Task[Any]] = {**self.receives, **self.sends}
            return all(task.done() for number, task in tasks.items() if number not in waiting)

        with anyio.fail_after(10):
            while not await as_modelled():
                await anyio.lowlevel.checkpoint()
        assert (await self.rx.stats()).size == len(model.buffer)
        for number, receive in self.receives.items():
            if number in model.cancelled:
                assert receive.cancelled(), number
            elif number in model.received:
                assert receive.result() == model.received[number], number
        for number, send in self.sends.items():
            if number in model.cancelled:
                assert send.cancelled(), number
            elif number in model.accepted:
                assert send.result() is None, number
        accepted_sends = sorted(self.values[number] for number in model.accepted)
        assert sorted(set(self.sent) & set(self.values.values())) == accepted_sends

    async def step(self, operation: Operation, pick: int) -> None:
        model, tx, rx = self.model, self.tx, self.rx
        number = len(self.receives) + len(self.sends) + 1
        if operation == "recv":
            model.recv(number)
            self.receives[number] = asyncio.create_task(self.receive())
        elif operation == "send":
            value = self.values[number] = self.fresh_value()
            model.send(value, number)
            self.sends[number] = asyncio.create_task(self.send(value))
        elif operation == "try_send":
            value = self.fresh_value()
            accepted = model.send(value, None)
            assert (await tx.try_send(value) == Ok(None)) is accepted
            if accepted:
                self.sent.append(value)
        elif operation == "try_recv":
            expected = model.recv(None)
            result = await rx.try_recv()
            if expected is None:
                assert _is_empty(result)
            else:
                assert result == Ok(expected)
                self.got.append(expected)
        elif operation == "cancel":
            waiting = [*model.getters, *(task for task, _ in model.putters)]
            if waiting:
                chosen = waiting[pick % len(waiting)]
                model.cancel_waiting(chosen)
                {**self.receives, **self.sends}[chosen].cancel()
        elif operation == "send_to_cancelled" and model.getters:
            # Hand a value to the longest-waiting receive, then cancel it before it runs.
            head, value = model.getters[0], self.fresh_value()
            model.send(value, None)
            assert await tx.try_send(value) == Ok(None)
            self.sent.append(value)
            assert _is_empty(await rx.try_recv())  # the value is that receive's
            self.receives[head].cancel()
            model.give_back(head)
        elif operation == "recv_from_cancelled" and model.putters:
            # Free room for the longest-waiting send, then cancel it before it runs.
            head = model.putters[0][0]
            expected = model.recv(None)
            assert expected is not None
            assert await rx.try_recv() == Ok(expected)
            self.got.append(expected)
            assert _is_full(await tx.try_send(0))  # the room went to the waiting send
            self.sends[head].cancel()
            model.cancelled.add(head)  # its value stays accepted; its task ends cancelled
        await self.settle()

    async def end(self, ending: Ending) -> list[int]:
        """Stop every waiting task as ``ending`` says; return the values left unreceived."""
        model = self.model
        receives = [self.receives[number] for number in model.getters]
        sends = [self.sends[number] for number, _ in model.putters]
        if ending == "close_receiver":
            await self.rx.close()
            for receive in receives:
                with pytest.raises(HandleClosedError):
                    await receive
            for send in sends:
                with pytest.raises(PeerClosedError):
                    await send
            assert (await self.tx.stats()).size == len(model.buffer)
            return list(model.buffer)  # nobody can receive these any more
        if ending == "close_sender":
            await self.tx.close()
            for receive in receives:
                with pytest.raises(EndOfStreamError):
                    await receive
            for send in sends:
                with pytest.raises(HandleClosedError):
                    await send
            self.got.extend([value async for value in self.rx])
            return []
        for task in (*receives, *sends):
            task.cancel()
        await asyncio.gather(*receives, *sends, return_exceptions=True)
        assert all(task.cancelled() for task in (*receives, *sends))
        while isinstance(result := await self.rx.try_recv(), Ok):
            self.got.append(result.value)
        return []


_OPERATIONS: list[Operation] = [
    "recv",
    "send",
    "try_send",
    "try_recv",
    "cancel",
    "send_to_cancelled",
    "recv_from_cancelled",
]


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    capacity=st.integers(min_value=1, max_value=3),
    steps=st.lists(
        st.tuples(st.sampled_from(_OPERATIONS), st.integers(min_value=0, max_value=7)),
        max_size=40,
    ),
    ending=st.sampled_from(["cancel", "close_sender", "close_receiver"]),
)
async def test_interleavings_lose_nothing_duplicate_nothing_and_keep_fifo(
    capacity: int, steps: list[tuple[Operation, int]], ending: Ending
) -> None:
    tx, rx = _open(capacity)
    run = _Run(_Model(capacity), tx, rx)
    for operation, pick in steps:
        await run.step(operation, pick)
    left = await run.end(ending)
    # Every value accepted is received, or left when every receiver closed, exactly once.
    assert sorted(run.got + left) == sorted(run.sent)
    assert len(set(run.sent)) == len(run.sent) == (await tx.stats()).total_sent
    # No operation here lets a value overtake another: they arrive in the order sent.
    assert run.got + left == sorted(run.got + left)
