"""Applying a stage's function to values: sync or async, one-to-one or one-to-many, timed.

A stage's function comes in one of four shapes, told apart once, when the stage starts:

- ``async def fn(value) -> U``: awaited on the worker's event loop;
- ``async def fn(value)`` with ``yield``: one value in, any number out;
- ``def fn(value) -> U``: run in a thread of the worker, so that a slow function never
  blocks the worker's channel traffic;
- ``def fn(value)`` returning an iterator (a generator function, ``iter(...)``): one
  value in, the iterator's values out. A function returning a list returns *one* value,
  the list; return ``iter(items)`` to fan out.

Synchronous functions run over a whole chunk of values in one hop to the thread (a hop
costs tens of microseconds; a chunk is what one receive handed out). The event loop
watches the value the thread is on: one that runs past the timeout is reported as
timed out and the rest of the chunk goes on in a fresh thread. A thread cannot be
interrupted, so the abandoned one runs its value to the end and its result is dropped.

Async functions are awaited under :func:`asyncio.timeout`; one that runs past it is
cancelled. Every exception of the function (``Exception``, not ``BaseException``:
``KeyboardInterrupt`` and ``SystemExit`` propagate) becomes that value's failure.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Applier", "Outcome", "Shape", "function_shape"]

Shape = Literal["async", "async_generator", "sync"]
"""How a stage's function is called (see the module documentation)."""


def function_shape(fn: Callable[..., Any]) -> Shape:
    """Tell how ``fn`` must be called: ``"async"``, ``"async_generator"`` or ``"sync"``.

    Callable objects are judged by their ``__call__``; ``functools.partial`` by the
    function it wraps.

    Raises:
        TypeError: ``fn`` is not callable.
    """
    if not callable(fn):
        raise TypeError(f"a stage needs a callable, got {type(fn).__name__}")
    call = getattr(fn, "__call__", None)  # noqa: B004 - callable objects have one
    for candidate in (fn, call):
        if candidate is None:
            continue
        if inspect.isasyncgenfunction(candidate):
            return "async_generator"
        if inspect.iscoroutinefunction(candidate):
            return "async"
    return "sync"


@dataclass(slots=True)
class Outcome:
    """What applying the function to one value gave.

    Attributes:
        results: The values to send on (one, or any number for one-to-many).
        error: The exception the function raised, or a :class:`TimeoutError` saying
            that it ran past the timeout; ``None`` on success.
    """

    results: list[Any] = field(default_factory=list)
    error: BaseException | None = None


def _timed_out(timeout: float) -> TimeoutError:
    return TimeoutError(f"the stage's function ran past its task_timeout of {timeout:g} s")


def _call_sync(fn: Callable[[Any], Any], value: Any) -> Outcome:
    try:
        result = fn(value)
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()  # a coroutine never awaited: close it quietly
            raise TypeError(
                "the stage's function returned an awaitable from a plain call: "
                "declare it with 'async def' so the stage awaits it"
            )
        if isinstance(result, Iterator):
            return Outcome(list(result))
        return Outcome([result])
    except Exception as exc:
        return Outcome(error=exc)


class _ThreadRun:
    """Runs the function over a chunk in one thread; the loop watches its progress."""

    __slots__ = ("abandoned", "fn", "index", "lock", "outcomes", "started", "values")

    def __init__(self, fn: Callable[[Any], Any], values: Sequence[Any]) -> None:
        self.fn = fn
        self.values = values
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.index = 0
        self.started = time.monotonic()
        self.abandoned = False

    def __call__(self) -> None:
        for index, value in enumerate(self.values):
            if not self._begin(index):
                return
            if not self._keep(_call_sync(self.fn, value)):
                return  # timed out meanwhile: its outcome is already told

    def _begin(self, index: int) -> bool:
        with self.lock:
            if self.abandoned:
                return False
            self.index, self.started = index, time.monotonic()
            return True

    def _keep(self, outcome: Outcome) -> bool:
        with self.lock:
            if self.abandoned:
                return False
            self.outcomes.append(outcome)
            return True


class Applier:
    """Applies one stage function to chunks of values, with a per-value timeout.

    One applier serves one worker: chunks are applied one after another, never at
    once. Cancelling :meth:`apply` stops a synchronous chunk after the value its
    thread is on (which runs to its end) and cancels an async function's value.

    Args:
        fn: The stage's function.
        timeout: Seconds one value may take; ``None`` for no limit.
    """

    def __init__(self, fn: Callable[[Any], Any], timeout: float | None) -> None:
        self._fn = fn
        self._timeout = timeout
        self._shape = function_shape(fn)
        self._executor: ThreadPoolExecutor | None = None

    @property
    def shape(self) -> Shape:
        """How the function is called."""
        return self._shape

    def close(self) -> None:
        """Let go of the worker thread (a value still running in it runs to its end)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def apply(self, values: Sequence[Any]) -> list[Outcome]:
        """Apply the function to each value, in order; one :class:`Outcome` per value."""
        if self._shape == "sync":
            return await self._apply_sync(values)
        return [await self._apply_async(value) for value in values]

    async def _apply_async(self, value: Any) -> Outcome:
        try:
            async with asyncio.timeout(self._timeout):
                if self._shape == "async_generator":
                    stream: AsyncIterator[Any] = self._fn(value)
                    return Outcome([item async for item in stream])
                return Outcome([await self._fn(value)])
        except TimeoutError as exc:
            assert self._timeout is not None
            return Outcome(error=_timed_out(self._timeout).with_traceback(exc.__traceback__))
        except Exception as exc:
            return Outcome(error=exc)

    async def _apply_sync(self, values: Sequence[Any]) -> list[Outcome]:
        loop = asyncio.get_running_loop()
        outcomes: list[Outcome] = []
        rest = values
        while rest:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="klaw-stage")
            run = _ThreadRun(self._fn, rest)
            future = loop.run_in_executor(self._executor, run)
            try:
                rest = await self._watch(run, future)
            except BaseException:
                with run.lock:
                    run.abandoned = True
                raise
            outcomes.extend(run.outcomes)
            if rest:  # the value the thread was on timed out
                assert self._timeout is not None
                outcomes.append(Outcome(error=_timed_out(self._timeout)))
                rest = rest[1:]
        return outcomes

    async def _watch(self, run: _ThreadRun, future: asyncio.Future[None]) -> Sequence[Any]:
        """Wait for a chunk; on a timeout, abandon the thread; what is left, from the late one."""
        while True:
            if self._timeout is None:
                await future
                return ()
            with run.lock:
                index, started = run.index, run.started
            remaining = started + self._timeout - time.monotonic()
            done, _ = await asyncio.wait({future}, timeout=max(remaining, 0.0))
            if done:
                future.result()
                return ()
            with run.lock:
                if run.index == index and len(run.outcomes) == index:  # still on that value
                    run.abandoned = True
                    self._executor_abandoned()
                    return run.values[index:]

    def _executor_abandoned(self) -> None:
        """The thread is stuck on a value: later chunks get a fresh one."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
