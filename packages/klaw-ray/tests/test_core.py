"""``ChannelCore`` against a model, through every interleaving a channel actor can see.

A Hypothesis state machine drives one core with reserves, puts, gets, acknowledgements,
give-backs, closes, process deaths, lease expiries, withdrawals, cancellations and
timeouts, and after every step compares it with a plain model of the rules in the
core's module docstring. The core runs on an event loop the test steps itself, whose
clock moves only when a rule moves it: a timeout happens because the test says so,
never because time passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from klaw_ray.ray import _core
from klaw_ray.ray._core import ChannelCore, Entry, Problem

PROCESSES = ("p0", "p1", "p2", "p3")
_TURNS = 32
"""Event loop turns that let every call resume after a step (a timeout takes about six)."""

Answer = tuple[Any, Problem | None]
Kind = Literal["sender", "receiver"]


def _writer(sender: str) -> str:
    return f"w-{sender}"


class _ManualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when the test moves it."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def time(self) -> float:
        return self.now


async def _turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


class _Driver:
    """A core on a loop of its own: calls start as tasks; ``settle`` lets them resume.

    The core reads its clock (lease deadlines) from the loop's clock too, so that what
    expires at a given time is the same in every run.
    """

    def __init__(self, core: ChannelCore) -> None:
        self.core = core
        self.loop = _ManualClockLoop()
        self.requests = 0
        self.handles: dict[str, tuple[Kind, str]] = {}  # in the order they registered
        self._clock = pytest.MonkeyPatch()
        self._clock.setattr(_core, "time", self)

    def monotonic(self) -> float:
        return self.loop.now

    def time(self) -> float:
        return self.loop.now

    def register(self, kind: Kind, process: str) -> str:
        """Open one more handle of ``kind``, held by ``process``; return its id."""
        handle = f"{kind[0]}{sum(1 for k, _ in self.handles.values() if k == kind)}"
        self.core.register(kind, handle, process)
        self.handles[handle] = (kind, process)
        return handle

    def of(self, kind: Kind) -> list[str]:
        return [handle for handle, (k, _) in self.handles.items() if k == kind]

    def settle(self) -> None:
        # Only ``sleep(0)`` steps run here, so the loop always has a callback ready and
        # never blocks in ``select`` waiting for a timer of its (frozen) clock.
        self.loop.run_until_complete(_turns(_TURNS))

    def get(
        self,
        receiver: str,
        max_items: int = 10,
        wait: float | None = 0,
        acked: tuple[int, ...] = (),
    ) -> tuple[asyncio.Task[Answer], int]:
        """Start a get as the actor makes it (refused if closed, else ``acked`` first)."""
        self.requests += 1
        request = self.requests

        async def call() -> Answer:
            process = self.handles[receiver][1]
            problem = self.core.receiver_problem(receiver, process)
            if problem:
                return [], problem
            self.core.ack(receiver, list(acked))
            return await self.core.get(receiver, process, request, max_items, wait)

        return self.loop.create_task(call()), request

    def reserve(
        self, sender: str, need: int, ahead: int = 0, *, wait: bool = True
    ) -> tuple[asyncio.Task[Answer], int]:
        self.requests += 1
        coro = self.core.reserve(
            _writer(sender), sender, self.handles[sender][1], self.requests, need, ahead, wait
        )
        return self.loop.create_task(coro), self.requests

    def put(self, sender: str, items: list[Any], need: int = 0, ahead: int = 0) -> int:
        """Accept ``items`` as the actor's put does, then grant credit; return the grant."""
        core = self.core
        writer = core.writer(_writer(sender), sender)
        core.accept(writer, items)
        writer.need = need
        return core.grant(writer, need, ahead) if not core.waiting_senders else 0

    def close(self) -> None:
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.settle()
        self.loop.close()
        self._clock.undo()


def _new_core(capacity: int, *, at_least_once: bool = True, waiting_limit: int = 64) -> _Driver:
    """A core with senders s0 (in process p0) and s1 (p1), receivers r0 (p0), r1 (p1), r2 (p2)."""
    core = ChannelCore(capacity, at_least_once=at_least_once, waiting_limit=waiting_limit)
    driver = _Driver(core)
    for process in ("p0", "p1"):
        driver.register("sender", process)
    for process in ("p0", "p1", "p2"):
        driver.register("receiver", process)
    return driver


def _ids(answer: Answer) -> list[int]:
    return [entry.id for entry in answer[0]]


def _status(answer: Answer) -> str:
    return "ok" if answer[1] is None else answer[1][0]


# --- the model ---------------------------------------------------------------------------


@dataclass
class _Call:
    """A get or reserve as the model sees it: pending until the model resolves it."""

    kind: Literal["get", "reserve"]
    handle: str
    request: int
    size: int  # max_items of a get; the need a reserve waits for
    task: asyncio.Task[Answer]
    deadline: float | None = None
    abandoned: bool = False
    outcome: list[int] | int | None = None  # entry ids taken / credit granted
    status: str | None = None  # fixed when answered at once; else derived on resuming


@dataclass
class _Model:
    capacity: int
    at_least_once: bool
    waiting_limit: int
    queue: list[int] = field(default_factory=list)
    leases: dict[int, str] = field(default_factory=dict)
    deliveries: dict[int, int] = field(default_factory=dict)
    values: dict[int, tuple[str, int]] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)
    credit: dict[str, int] = field(default_factory=dict)
    need: dict[str, int] = field(default_factory=dict)
    open_senders: set[str] = field(default_factory=lambda: {"s0", "s1"})
    open_receivers: set[str] = field(default_factory=lambda: {"r0", "r1", "r2"})
    lost_senders: list[str] = field(default_factory=list)
    gets: list[_Call] = field(default_factory=list)
    reserves: list[_Call] = field(default_factory=list)
    resolved: list[_Call] = field(default_factory=list)
    next_id: int = 0
    total_received: int = 0
    redelivered: int = 0
    over: bool = False  # values that came back (or a resize) hold the queue over capacity
    paused: bool = False

    def free(self) -> int:
        """Room not queued or granted: leases are bounded by what receivers ask for."""
        return self.capacity - len(self.queue) - sum(self.credit.values())

    def end_status(self) -> str | None:
        if self.open_senders or self.queue or self.leases:
            return None
        return "sender_lost" if self.lost_senders else "ended"

    def sender_problem(self, sender: str) -> str | None:
        if sender not in self.open_senders:
            return "handle_closed"
        if not self.open_receivers:
            return "peer_closed"
        return None

    def waiting(self) -> int:
        return len(self.gets) + len(self.reserves)

    def final_status(self, call: _Call) -> str:
        """The status a call that waited answers with, derived when it resumes."""
        if call.status is not None:
            return call.status
        if call.outcome:
            return "ok"
        if call.kind == "reserve":
            return self.sender_problem(call.handle) or "withdrawn"
        if call.handle not in self.open_receivers:
            return "handle_closed"
        return self.end_status() or ("withdrawn" if call.abandoned else "empty")

    def _resolve(self, call: _Call, outcome: list[int] | int) -> None:
        call.outcome = outcome
        self.resolved.append(call)

    # --- sending ---

    def grant(self, writer: str, need: int, ahead: int) -> int:
        if self.paused:
            return 0
        free = max(0, self.free())  # a queue held over the capacity grants nothing
        granted = min(max(need, 0), free)
        spare = self.capacity * 3 // 4 - sum(
            max(0, self.credit[name] - self.need[name]) for name in self.credit
        )
        granted += max(0, min(ahead, free - granted, spare))
        self.credit[writer] += granted
        return granted

    def accept(self, sender: str, numbers: list[int]) -> None:
        writer = _writer(sender)
        self.credit[writer] -= len(numbers)
        for number in numbers:
            self.values[self.next_id] = (writer, number)
            self.deliveries[self.next_id] = 0
            self.queue.append(self.next_id)
            self.next_id += 1
        self.serve_getters()

    def serve_reservers(self) -> None:
        while self.reserves and not self.paused:
            call = self.reserves[0]
            writer = _writer(call.handle)
            if writer not in self.credit:
                self._resolve(self.reserves.pop(0), 0)
                continue
            granted = min(call.size, max(0, self.free()))
            if not granted:
                return
            self.credit[writer] += granted
            self._resolve(self.reserves.pop(0), granted)

    def wake_reservers(self) -> None:
        while self.reserves:
            self._resolve(self.reserves.pop(0), 0)

    # --- receiving ---

    def take(self, receiver: str, count: int) -> list[int]:
        taken, self.queue = self.queue[:count], self.queue[count:]
        for entry_id in taken:
            if self.deliveries[entry_id]:
                self.redelivered += 1
            self.deliveries[entry_id] += 1
            self.leases[entry_id] = receiver
        self.total_received += len(taken)
        if taken:
            self.serve_reservers()  # the values left the queue: their room is free
        return taken

    def requeue(self, ids: list[int]) -> None:
        if ids:
            self.queue = sorted(ids) + self.queue
            self.over = self.over or self.free() < 0
            self.serve_getters()

    def serve_getters(self) -> None:
        while self.queue and self.gets:
            call = self.gets.pop(0)
            self._resolve(call, self.take(call.handle, call.size))

    def wake_getters(self) -> None:
        while self.gets:
            self._resolve(self.gets.pop(0), [])

    def wake_getters_if_ended(self) -> None:
        if self.end_status():
            self.wake_getters()

    def ack(self, receiver: str, ids: list[int]) -> int:
        mine = [i for i in dict.fromkeys(ids) if self.leases.get(i) == receiver]
        for entry_id in mine:
            del self.leases[entry_id]
            self.acked.add(entry_id)
        if mine:
            self.serve_reservers()
            self.wake_getters_if_ended()
        return len(mine)

    def give_back(self, receiver: str, ids: list[int]) -> None:
        mine = [i for i in dict.fromkeys(ids) if self.leases.get(i) == receiver]
        for entry_id in mine:
            del self.leases[entry_id]
            if self.deliveries[entry_id] > 1:
                self.redelivered -= 1
            self.deliveries[entry_id] -= 1
            self.total_received -= 1
        self.requeue(mine)

    # --- handles ---

    def close_sender(self, sender: str, *, lost: bool) -> None:
        if sender not in self.open_senders:
            return
        self.open_senders.remove(sender)
        writer = _writer(sender)
        self.credit.pop(writer, None)
        self.need.pop(writer, None)
        for call in [c for c in self.reserves if c.handle == sender]:
            self.reserves.remove(call)
            self._resolve(call, 0)
        if lost:
            self.lost_senders.append(sender)
        self.serve_reservers()
        if not self.open_senders:
            self.wake_getters()

    def close_receiver(self, receiver: str, *, lost: bool) -> None:
        if receiver not in self.open_receivers:
            return
        self.open_receivers.remove(receiver)
        for call in [c for c in self.gets if c.handle == receiver]:
            self.gets.remove(call)
            self._resolve(call, [])
        mine = [i for i, holder in self.leases.items() if holder == receiver]
        for entry_id in mine:
            del self.leases[entry_id]
        if lost and not self.at_least_once:
            self.lost.update(mine)
        else:
            self.requeue(mine)
        self.serve_reservers()
        if not self.open_receivers:
            self.wake_reservers()
        self.wake_getters_if_ended()


# --- the state machine -------------------------------------------------------------------

_small = st.integers(min_value=0, max_value=4)
_index = st.integers(min_value=0, max_value=7)
_MOST_HANDLES = 9


class CoreMachine(RuleBasedStateMachine):
    """One channel core against :class:`_Model`; ``at_least_once`` is set per subclass."""

    at_least_once = True

    def __init__(self) -> None:
        super().__init__()
        self.driver = _new_core(1)
        self.model = _Model(1, self.at_least_once, 64)
        self.seen: set[int] = set()
        self.fresh: dict[str, list[tuple[str, int]]] = {}
        self.sent: dict[str, int] = {}

    @initialize(capacity=st.integers(min_value=1, max_value=4), limit=st.integers(2, 6))
    def channel(self, capacity: int, limit: int) -> None:
        self.driver.close()
        self.driver = _new_core(capacity, at_least_once=self.at_least_once, waiting_limit=limit)
        self.model = _Model(capacity, self.at_least_once, limit)

    def teardown(self) -> None:
        self.driver.close()

    @property
    def core(self) -> ChannelCore:
        return self.driver.core

    def _pick(self, kind: Kind, index: int, among: list[str] | None = None) -> str:
        """A handle of ``kind``: one of ``among`` if any, else any (closed ones too)."""
        handles = among or self.driver.of(kind)
        return handles[index % len(handles)]

    # --- stepping and checking the answers ---

    def _step(self) -> None:
        """Let every call resume, then check each one the model resolved or still waits."""
        self.driver.settle()
        model = self.model
        for call in model.resolved:
            assert call.task.done(), f"{call.kind} {call.request} should have answered"
            answer = call.task.result()
            status = model.final_status(call)
            if call.kind == "get":
                assert (_ids(answer), _status(answer)) == (call.outcome or [], status)
                self._received(call.handle, answer[0])
            else:
                assert (answer[0], _status(answer)) == (call.outcome or 0, status)
        model.resolved.clear()
        for call in [*model.gets, *model.reserves]:
            assert not call.task.done(), f"{call.kind} {call.request} answered {call.task}"

    def _received(self, receiver: str, entries: list[Entry]) -> None:
        for entry in entries:
            if entry.id not in self.seen:
                self.seen.add(entry.id)
                self.fresh.setdefault(receiver, []).append(entry.item)

    def _answered_at_once(self, call: _Call, outcome: list[int] | int, status: str) -> None:
        call.status = status
        self.model._resolve(call, outcome)

    # --- sending ---

    @rule(index=_index, need=_small, ahead=_small, wait=st.booleans())
    def reserve(self, index: int, need: int, ahead: int, wait: bool) -> None:
        self._reserve(self._pick("sender", index), need, ahead, wait=wait)

    def _reserve(self, sender: str, need: int, ahead: int, *, wait: bool) -> None:
        model, writer = self.model, _writer(sender)
        task, request = self.driver.reserve(sender, need, ahead, wait=wait)
        call = _Call("reserve", sender, request, max(need, 1), task)
        problem = model.sender_problem(sender)
        if problem:
            self._answered_at_once(call, 0, problem)
            self._step()
            return
        model.credit.setdefault(writer, 0)
        model.need[writer] = need
        if need <= 0 and ahead <= 0:
            self._answered_at_once(call, 0, "ok")
        elif not model.reserves and (granted := model.grant(writer, need, ahead)):
            self._answered_at_once(call, granted, "ok")
        elif not wait or need <= 0:  # credit ahead alone is never waited for
            self._answered_at_once(call, 0, "full")
        elif model.waiting() >= model.waiting_limit:
            self._answered_at_once(call, 0, "busy")
        else:
            model.reserves.append(call)
        self._step()

    @rule(
        index=_index,
        count=st.integers(1, 4),
        need=_small,
        ahead=_small,
        beyond=st.sampled_from([False] * 5 + [True]),
    )
    def put(self, index: int, count: int, need: int, ahead: int, beyond: bool) -> None:
        """Ship values a sender holds credit for, as the actor's ``put`` applies them.

        A sender without credit first asks for it (a reserve that does not wait).
        ``beyond``: ship more than the credit instead, which is refused whole.
        Senders with credit go first, as a sender ships once it has credit.
        """
        model = self.model
        with_credit = sorted(s for s in model.open_senders if model.credit.get(_writer(s)))
        sender = self._pick("sender", index, None if beyond else with_credit)
        writer = _writer(sender)
        if not beyond and not model.credit.get(writer):
            self._reserve(sender, count, ahead, wait=False)
        problem = self.core.sender_problem(sender, self.driver.handles[sender][1])
        assert (problem[0] if problem else None) == model.sender_problem(sender)
        if problem:
            return
        model.credit.setdefault(writer, 0)
        model.need.setdefault(writer, 0)
        if beyond:
            state = self.core.writer(writer, sender)
            before = (list(self.core.queue), state.credit, self.core.credit_total)
            with pytest.raises(ValueError, match="exceeds its credit"):
                self.core.accept(state, [("beyond", n) for n in range(state.credit + count)])
            assert (list(self.core.queue), state.credit, self.core.credit_total) == before
            return
        count = min(count, model.credit[writer])
        if count <= 0:
            return  # no credit
        first = self.sent.get(writer, 0)
        numbers = list(range(first, first + count))
        self.sent[writer] = first + count
        granted = self.driver.put(sender, [(writer, n) for n in numbers], need, ahead)
        model.accept(sender, numbers)
        model.need[writer] = need
        assert granted == (model.grant(writer, need, ahead) if not model.reserves else 0)
        self._step()

    @precondition(lambda self: any(self.model.credit.values()))
    @rule(index=_index, count=st.integers(1, 4))
    def a_put_is_refused(self, index: int, count: int) -> None:
        """A sender ships values it holds credit for in a batch refused whole (a value of
        the wrong type): the credit is spent, and the room goes to waiting reserves."""
        model = self.model
        with_credit = sorted(s for s in model.open_senders if model.credit.get(_writer(s)))
        if not with_credit:
            return
        sender = self._pick("sender", index, with_credit)
        writer = _writer(sender)
        count = min(count, model.credit[writer])
        self.core.refuse(self.core.writer(writer, sender), count)
        model.credit[writer] -= count
        model.serve_reservers()
        self._step()

    # --- receiving ---

    @rule(
        index=_index,
        max_items=st.integers(1, 3),
        wait=st.sampled_from([0.0, None, 1.0, 2.0]),
        acks=st.sampled_from(["all", "all", "oldest", "none"]),
    )
    def get(self, index: int, max_items: int, wait: float | None, acks: str) -> None:
        """Get, acknowledging first what the receiver holds (all of it, one, or none)."""
        model, receiver = self.model, self._pick("receiver", index)
        held = sorted(i for i, r in model.leases.items() if r == receiver)
        acked = {"all": held, "oldest": held[:1], "none": []}[acks]
        task, request = self.driver.get(receiver, max_items, wait, tuple(acked))
        call = _Call("get", receiver, request, max_items, task)
        if receiver in model.open_receivers:
            model.ack(receiver, acked)
        ended = model.end_status()
        if receiver not in model.open_receivers:
            self._answered_at_once(call, [], "handle_closed")
        elif model.queue:
            self._answered_at_once(call, model.take(receiver, max_items), "ok")
        elif ended:
            self._answered_at_once(call, [], ended)
        elif wait == 0:
            self._answered_at_once(call, [], "empty")
        elif model.waiting() >= model.waiting_limit:
            self._answered_at_once(call, [], "busy")
        else:
            call.deadline = None if wait is None else self.driver.loop.now + wait
            model.gets.append(call)
        self._step()

    @rule(
        index=_index,
        how=st.sampled_from(["ack", "give_back"]),
        skip=st.integers(0, 2),
        count=st.integers(1, 3),
        reverse=st.booleans(),
    )
    def settle_leases(self, index: int, how: str, skip: int, count: int, reverse: bool) -> None:
        """Acknowledge, or give back unread, some of a receiver's leases (in any order).

        The ids also name a lease of another receiver and one that never existed: both
        are ignored.
        """
        model = self.model
        receiver = self._pick("receiver", index, sorted(set(model.leases.values())))
        mine = sorted(i for i, r in model.leases.items() if r == receiver)
        start = skip % len(mine) if mine else 0
        ids = mine[start : start + count]
        if reverse:
            ids.reverse()
        ids += [i for i, r in model.leases.items() if r != receiver][:1]
        ids.append(model.next_id + 100)
        if how == "ack":
            assert self.core.ack(receiver, ids) == model.ack(receiver, ids)
        else:
            self.core.give_back(receiver, ids)
            model.give_back(receiver, ids)
        self._step()

    # --- handles, processes, leases and time ---

    @rule(
        how=st.sampled_from(["clone", "clone", "close", "process_dies"]),
        index=st.integers(0, 15),
        process=st.sampled_from(PROCESSES),
    )
    def handles_come_and_go(self, how: str, index: int, process: str) -> None:
        """Clone a handle, close one, or let the process holding one die (with the rest).

        A clone is registered in ``process``, and only of an open handle, as ``clone()``.
        """
        model, handles = self.model, self.driver.handles
        handle = sorted(handles)[index % len(handles)]
        kind = handles[handle][0]
        if how == "clone":
            if handle in model.open_senders | model.open_receivers and len(handles) < _MOST_HANDLES:
                clone = self.driver.register(kind, process)
                (model.open_senders if kind == "sender" else model.open_receivers).add(clone)
            return
        process = handles[handle][1]
        held = [handle] if how == "close" else [h for h, (_, p) in handles.items() if p == process]
        if how == "close":
            self.core.close_handle(handle)
        else:
            opened = model.open_senders | model.open_receivers
            assert self.core.process_died(process) == [h for h in held if h in opened]
        for name in held:  # the core closes a process's handles in the order they registered
            if handles[name][0] == "sender":
                model.close_sender(name, lost=how != "close")
            else:
                model.close_receiver(name, lost=how != "close")
        self._step()

    @precondition(lambda self: bool(self.model.leases))
    @rule(index=_index, before_all=st.booleans())
    def leases_expire(self, index: int, before_all: bool) -> None:
        """Expire leases at a chosen deadline (``before_all``: earlier than every one)."""
        deadline = {i: lease.deadline for i, lease in self.core.leases.items()}
        deadlines = sorted(deadline.values())
        now = deadlines[0] - 1.0 if before_all else deadlines[index % len(deadlines)]
        expired = [i for i in self.model.leases if deadline[i] <= now]
        if not self.at_least_once:
            expired = []  # at most once, a leased value is never handed to anyone else
        assert self.core.expire_leases(now=now) == len(expired)
        for entry_id in expired:
            del self.model.leases[entry_id]
        self.model.requeue(expired)
        self._step()

    @precondition(lambda self: bool(self.model.gets))
    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5]))
    def time_passes(self, seconds: float) -> None:
        """Move the loop's clock: waiting gets whose timeout passed answer."""
        loop, model = self.driver.loop, self.model
        loop.now += seconds
        for call in [c for c in model.gets if c.deadline is not None and c.deadline <= loop.now]:
            model.gets.remove(call)
            model._resolve(call, [])
        self._step()

    # --- an operator ---

    @rule(paused=st.booleans())
    def pause_or_resume(self, paused: bool) -> None:
        """An operator pauses the channel (no credit granted) or resumes it."""
        if paused:
            self.core.pause()
        else:
            self.core.resume()
        self.model.paused = paused
        self.model.serve_reservers()
        self._step()

    @rule(capacity=st.integers(min_value=1, max_value=5))
    def resize(self, capacity: int) -> None:
        """An operator resizes the channel: nothing queued is dropped."""
        self.core.resize(capacity)
        self.model.capacity = capacity
        self.model.over = self.model.over or self.model.free() < 0
        self.model.serve_reservers()
        self._step()

    # --- callers giving up ---

    @precondition(lambda self: bool(self.model.gets or self.model.reserves))
    @rule(how=st.sampled_from(["abandon", "withdraw", "cancel"]), index=_index)
    def a_caller_gives_up(self, how: str, index: int) -> None:
        """Abandon a waiting get, withdraw a waiting reserve, or cancel either call.

        Abandoning and withdrawing requests that no longer wait changes nothing.
        """
        model = self.model
        for stale in (-1, self.driver.requests + 1):
            self.core.abandon("r0", stale)
            self.core.withdraw_reserve(_writer("s0"), stale)
        calls = {"abandon": model.gets, "withdraw": model.reserves}.get(how, [])
        calls = calls or [*model.gets, *model.reserves]
        call = calls[index % len(calls)]
        how = {"get": "abandon", "reserve": "withdraw"}[call.kind] if how != "cancel" else how
        (model.gets if call.kind == "get" else model.reserves).remove(call)
        if how == "abandon":
            self.core.abandon(call.handle, call.request)
            call.abandoned = True
            model._resolve(call, [])
        elif how == "withdraw":
            self.core.withdraw_reserve(_writer(call.handle), call.request)
            model._resolve(call, 0)
        else:
            call.task.cancel()
        self._step()
        if how == "cancel":
            assert call.task.cancelled()

    @precondition(lambda self: bool(self.model.reserves and self.model.queue))
    @rule(index=_index, max_items=st.integers(1, 3), which=_index)
    def a_reserve_is_cancelled_as_room_frees(self, index: int, max_items: int, which: int) -> None:
        """A receiver takes values, which grants room to waiting reserves; one of them is
        cancelled before it resumes with its grant, whose credit then goes back."""
        model = self.model
        receiver = self._pick("receiver", index, sorted(model.open_receivers))
        if receiver not in model.open_receivers:
            return
        taken = self.core.take(receiver, max_items)
        assert [entry.id for entry in taken] == model.take(receiver, max_items)
        self._received(receiver, taken)
        granted = [c for c in model.resolved if c.kind == "reserve" and c.outcome]
        if granted:
            call = granted[which % len(granted)]
            assert isinstance(call.outcome, int)
            model.resolved.remove(call)
            call.task.cancel()
            model.credit[_writer(call.handle)] -= call.outcome
            model.serve_reservers()
        self._step()
        if granted:
            assert call.task.cancelled()

    @precondition(lambda self: bool(self.model.gets) and any(self.model.credit.values()))
    @rule(index=_index, count=st.integers(1, 4), which=_index)
    def a_get_is_cancelled_as_values_arrive(self, index: int, count: int, which: int) -> None:
        """A put hands values to waiting gets; one of them is cancelled before it resumes
        with them, and they go back to the head of the queue, never handed out.

        Only a get without a timeout is cancelled: one with a timeout waits in
        ``asyncio.wait_for``, which (Python 3.11) answers with a result that arrived
        before the cancellation instead of raising it.
        """
        model = self.model
        with_credit = sorted(s for s in model.open_senders if model.credit.get(_writer(s)))
        if not with_credit:
            return
        sender = self._pick("sender", index, with_credit)
        writer = _writer(sender)
        first = self.sent.get(writer, 0)
        numbers = list(range(first, first + min(count, model.credit[writer])))
        self.sent[writer] = numbers[-1] + 1
        self.core.accept(self.core.writer(writer, sender), [(writer, n) for n in numbers])
        model.accept(sender, numbers)
        handed = [c for c in model.resolved if c.kind == "get" and c.outcome and c.deadline is None]
        if handed:
            call = handed[which % len(handed)]
            assert isinstance(call.outcome, list)
            model.resolved.remove(call)
            call.task.cancel()
            model.give_back(call.handle, call.outcome)
            # Fetched, then given back unread, as by a receiver's close: no longer new,
            # they may reach another receiver after values put later.
            self.seen.update(call.outcome)
        self._step()
        if handed:
            assert call.task.cancelled()

    # --- invariants ---

    @invariant()
    def capacity_bounds_queued_and_granted(self) -> None:
        core, model = self.core, self.model
        # Values given back, or a smaller capacity, may hold the queue over the capacity;
        # no credit is granted then, so it is only ever over by what was there.
        assert len(core.queue) + core.credit_total <= core.capacity or model.over
        if model.free() >= 0:
            model.over = False
        assert core.free() == model.free()
        assert all(writer.credit >= 0 for writer in core.writers.values())
        assert core.credit_total == sum(self.model.credit.values())
        assert {name: w.credit for name, w in core.writers.items()} == self.model.credit

    @invariant()
    def every_value_is_in_exactly_one_place(self) -> None:
        core, model = self.core, self.model
        queued = [entry.id for entry in core.queue]
        assert queued == model.queue
        assert {i: lease.receiver for i, lease in core.leases.items()} == model.leases
        places = [*queued, *core.leases, *model.acked, *model.lost]
        assert sorted(places) == list(range(model.next_id))
        held = [*core.queue, *(lease.entry for lease in core.leases.values())]
        assert {e.id: e.deliveries for e in held} == {
            i: model.deliveries[i] for i in [*model.queue, *model.leases]
        }
        assert {e.id: e.item for e in held} == {
            i: model.values[i] for i in [*model.queue, *model.leases]
        }
        assert (core.lost, core.total_acked) == (len(model.lost), len(model.acked))
        assert (core.total_sent, core.total_received) == (model.next_id, model.total_received)
        assert core.redelivered == model.redelivered

    @invariant()
    def no_get_waits_while_values_are_queued(self) -> None:
        if self.core.waiting_receivers:
            assert not self.core.queue
        if self.core.waiting_senders:
            assert self.core.free() <= 0 or self.core.paused

    @invariant()
    def no_waiter_outlives_its_call(self) -> None:
        core, model = self.core, self.model
        assert core.waiting_receivers == len(model.gets) == len(core._getters)
        assert core.waiting_senders == len(model.reserves) == len(core._reservers)

    @invariant()
    def each_receiver_gets_a_writers_new_values_in_order(self) -> None:
        for items in self.fresh.values():
            for writer in {writer for writer, _ in items}:
                numbers = [n for w, n in items if w == writer]
                assert numbers == sorted(numbers)

    @invariant()
    def the_stream_ends_only_when_every_sender_closed_and_nothing_is_held(self) -> None:
        core, model = self.core, self.model
        ended = core.end_status()
        assert (ended[0] if ended else None) == model.end_status()
        if ended:
            assert not core.queue
            assert not core.leases
            assert core.senders_done()
        assert core.lost_senders == model.lost_senders
        assert core.receivers_done() == (not model.open_receivers)


class AtMostOnceMachine(CoreMachine):
    at_least_once = False


_MACHINE_SETTINGS = settings(
    max_examples=150,
    stateful_step_count=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_the_core_against_a_model_at_least_once() -> None:
    run_state_machine_as_test(CoreMachine, settings=_MACHINE_SETTINGS)


def test_the_core_against_a_model_at_most_once() -> None:
    run_state_machine_as_test(AtMostOnceMachine, settings=_MACHINE_SETTINGS)


# --- single orderings ----------------------------------------------------------------------


@pytest.fixture
def driver() -> Iterator[_Driver]:
    driver = _new_core(4)
    yield driver
    driver.close()


def _fill(driver: _Driver, count: int, sender: str = "s0") -> None:
    task, _ = driver.reserve(sender, count, wait=False)
    driver.settle()
    assert task.result() == (count, None)
    driver.put(sender, list(range(count)))


def test_a_dead_receivers_leases_go_back_to_the_head_in_id_order(driver: _Driver) -> None:
    _fill(driver, 4)
    first, _ = driver.get("r0", 2)
    second, _ = driver.get("r1", 1)
    driver.settle()
    assert (_ids(first.result()), _ids(second.result())) == ([0, 1], [2])
    assert driver.core.process_died("p0") == ["s0", "r0"]
    again, _ = driver.get("r2", 10)
    driver.settle()
    answer = again.result()
    assert [(e.id, e.deliveries) for e in answer[0]] == [(0, 2), (1, 2), (3, 1)]
    assert driver.core.redelivered == 2


def test_a_dead_receivers_leases_are_lost_at_most_once() -> None:
    driver = _new_core(4, at_least_once=False)
    try:
        _fill(driver, 3)
        taken, _ = driver.get("r0", 2)
        driver.settle()
        assert _ids(taken.result()) == [0, 1]
        driver.core.process_died("p0")
        assert (driver.core.lost, driver.core.free()) == (2, 3)
        rest, _ = driver.get("r1", 10)
        driver.settle()
        assert _ids(rest.result()) == [2]
    finally:
        driver.close()


def test_a_get_that_times_out_leaves_no_waiter_and_the_next_get_is_served(
    driver: _Driver,
) -> None:
    timed, _ = driver.get("r0", wait=1.0)
    driver.settle()
    driver.loop.now += 1.0
    driver.settle()
    assert _status(timed.result()) == "empty"
    assert (driver.core.waiting_receivers, len(driver.core._getters)) == (0, 0)
    waiting, _ = driver.get("r1", wait=None)
    driver.settle()
    _fill(driver, 1)
    driver.settle()
    assert _ids(waiting.result()) == [0]


def test_the_last_sender_dying_ends_the_stream_as_sender_lost(driver: _Driver) -> None:
    _fill(driver, 1)
    driver.core.close_handle("s1")
    driver.core.process_died("p0")
    first, _ = driver.get("r2")
    driver.settle()
    assert (_ids(first.result()), _status(first.result())) == ([0], "ok")
    waiting, _ = driver.get("r2", wait=None)
    driver.settle()
    assert not waiting.done()  # the value is leased: it may still come back
    driver.core.ack("r2", [0])
    driver.settle()
    assert waiting.result() == ([], ("sender_lost", "a sender died without closing"))


@pytest.mark.parametrize("death", [True, False])
def test_a_closing_receivers_leases_never_go_back_to_its_own_waiting_get(
    driver: _Driver, death: bool
) -> None:
    _fill(driver, 2)
    taken, _ = driver.get("r0", 2)
    driver.settle()
    assert _ids(taken.result()) == [0, 1]
    own, _ = driver.get("r0", 10, wait=None)  # a prefetch, waiting in the actor
    other, _ = driver.get("r1", 10, wait=None)
    driver.settle()
    if death:
        driver.core.process_died("p0")
    else:
        driver.core.close_handle("r0")
    driver.settle()
    assert _status(own.result()) == "handle_closed"
    assert own.result()[0] == []
    assert _ids(other.result()) == [0, 1]


def test_a_get_served_just_before_its_receiver_closes_answers_nothing(driver: _Driver) -> None:
    waiting, _ = driver.get("r0", 10, wait=None)
    driver.settle()
    _fill(driver, 1)  # hands the value to the waiting get (which has not resumed yet)
    driver.core.close_handle("r0")  # e.g. a pickled copy of the handle, elsewhere
    driver.settle()
    assert [entry.id for entry in driver.core.queue] == [0]
    assert waiting.result()[0] == []


def test_a_reserve_cancelled_after_its_grant_returns_the_credit() -> None:
    driver = _new_core(1)
    try:
        _fill(driver, 1)
        waiting, _ = driver.reserve("s1", 1)
        driver.settle()
        assert not waiting.done()
        assert driver.core.take("r0", 1)  # the value leaves the queue: its room goes to s1
        waiting.cancel()  # before the reserve resumes with its grant
        driver.settle()
        assert waiting.cancelled()
        assert (driver.core.credit_total, driver.core.free()) == (0, 1)
    finally:
        driver.close()


def test_credit_is_never_negative_after_a_restore_beyond_capacity() -> None:
    driver = _new_core(2)
    try:
        driver.core.restore(["a", "b", "c"])
        task, _ = driver.reserve("s0", 1, wait=False)
        driver.settle()
        granted, problem = task.result()
        assert granted >= 0
        assert driver.core.credit_total >= 0
        assert problem == ("full", "the channel is full")
    finally:
        driver.close()


@pytest.mark.parametrize("how", ["expiry", "death", "give_back"])
def test_credit_is_never_negative_when_leases_come_back_to_a_full_queue(how: str) -> None:
    driver = _new_core(1)
    try:
        _fill(driver, 1)
        taken, _ = driver.get("r2")
        driver.settle()
        _fill(driver, 1)  # the lease does not count against the capacity: room for one
        if how == "expiry":
            driver.core.expire_leases(now=driver.core.leases[0].deadline)
        elif how == "death":
            driver.core.process_died("p2")
        else:
            driver.core.give_back("r2", _ids(taken.result()))
        assert len(driver.core.queue) == 2
        task, _ = driver.reserve("s1", 1, wait=False)
        driver.settle()
        assert task.result() == (0, ("full", "the channel is full"))
        assert driver.core.credit_total >= 0
    finally:
        driver.close()


def test_a_value_given_back_unread_is_not_counted_as_redelivered_twice(
    driver: _Driver,
) -> None:
    _fill(driver, 1)
    first, _ = driver.get("r0")
    driver.settle()
    assert first.result()[0][0].deliveries == 1
    driver.core.process_died("p0")
    second, _ = driver.get("r1")
    driver.settle()
    assert second.result()[0][0].deliveries == 2
    driver.core.give_back("r1", [0])  # r1 closes without handing it out
    third, _ = driver.get("r2")
    driver.settle()
    assert third.result()[0][0].deliveries == 2
    assert driver.core.redelivered == 1


@pytest.mark.parametrize("at_least_once", [True, False])
def test_an_expired_lease_goes_to_another_receiver_only_at_least_once(
    at_least_once: bool,
) -> None:
    driver = _new_core(4, at_least_once=at_least_once)
    try:
        _fill(driver, 1)
        first, _ = driver.get("r0")
        driver.settle()
        assert _ids(first.result()) == [0]
        deadline = driver.core.leases[0].deadline
        assert driver.core.expire_leases(now=deadline - 0.5) == 0
        assert driver.core.expire_leases(now=deadline) == (1 if at_least_once else 0)
        again, _ = driver.get("r1")
        driver.settle()
        redelivered = [(e.id, e.deliveries) for e in again.result()[0]]
        assert redelivered == ([(0, 2)] if at_least_once else [])
        assert driver.core.redelivered == (1 if at_least_once else 0)
    finally:
        driver.close()


def test_a_reserve_for_ahead_credit_only_never_waits_while_there_is_room() -> None:
    driver = _new_core(1)
    try:
        ahead_only, _ = driver.reserve("s0", 0, 1, wait=True)
        driver.settle()
        assert ahead_only.result() == (0, ("full", "the channel is full"))
        assert driver.core.waiting_senders == 0
        needing, _ = driver.reserve("s1", 1, wait=True)
        driver.settle()
        assert needing.result() == (1, None)
    finally:
        driver.close()


def test_a_put_that_skips_a_gap_after_the_patience_lets_its_retry_answer_at_once() -> None:
    driver = _new_core(4)
    try:
        core, loop = driver.core, driver.loop
        writer = core.writer(_writer("s0"), "s0")
        first = loop.create_task(core.take_turn(writer, 1))  # seq 0 never comes
        driver.settle()
        loop.now += _core._TURN_PATIENCE / 3
        retried = loop.create_task(core.take_turn(writer, 1))
        driver.settle()
        assert list(writer.turns) == [1]  # one turn for both
        loop.now += _core._TURN_PATIENCE * 2 / 3
        driver.settle()
        assert first.result() is True  # the gap is skipped: seq 1 goes ahead
        assert not retried.done()
        core.end_turn(writer, 1)
        driver.settle()
        assert retried.result() is False  # applied before: a duplicate, not a second wait
        assert writer.turns == {}
        late = loop.create_task(core.take_turn(writer, 0))
        driver.settle()
        assert late.result() is False
    finally:
        driver.close()


def test_a_core_remembers_only_the_latest_closed_handles(driver: _Driver) -> None:
    core, kept = driver.core, _core._CLOSED_KEPT
    core.close_handle("r2")
    for number in range(kept + 100):
        handle = f"old{number}"
        core.register("receiver" if number % 2 else "sender", handle, "p3")
        if number == 150:
            core.process_died("p3")  # closes the open ones as lost
        else:
            core.close_handle(handle)
    core.close_handle("r2")  # closing again: the latest now
    assert len(core.closed) == kept
    assert [f"old{number}" in core.closed for number in (0, 100, 101)] == [False, False, True]
    assert core.receiver_problem("r2", "p2") == ("handle_closed", "this receiver is closed")
    latest = f"old{kept + 98}"
    assert core.sender_problem(latest, "p3") == ("handle_closed", "this sender is closed")
    assert core.sender_problem("old150", "p3") == (
        "handle_closed",
        "this sender's process was reported dead",
    )
    # The channel's own handles are untouched; a forgotten id counts as a new handle.
    assert sorted(core.handles) == ["r0", "r1", "s0", "s1"]
    core.register("receiver", "old0", "p3")
    assert "old0" in core.handles


@pytest.mark.parametrize("at_least_once", [True, False])
def test_a_get_cancelled_after_values_were_handed_to_it_gives_them_back(
    at_least_once: bool,
) -> None:
    driver = _new_core(4, at_least_once=at_least_once)
    try:
        waiting, _ = driver.get("r0", wait=None)
        driver.settle()
        _fill(driver, 2)  # hands both values to the waiting get (not resumed yet)
        assert driver.core.leases
        waiting.cancel()
        driver.settle()
        assert waiting.cancelled()
        core = driver.core
        assert ([e.id for e in core.queue], core.leases, core.total_received) == ([0, 1], {}, 0)
        again, _ = driver.get("r1")
        driver.settle()
        assert [(e.id, e.deliveries) for e in again.result()[0]] == [(0, 1), (1, 1)]
        assert driver.core.redelivered == 0
    finally:
        driver.close()
