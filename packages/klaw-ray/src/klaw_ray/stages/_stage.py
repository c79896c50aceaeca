"""``stage()``: run a typed function over a channel on a pool of workers; the ``Stage`` handle.

A stage owns three handles: its ``source`` receiver, its ``sink`` sender and its
``dead_letter`` sender. Each worker gets clones of them; the stage keeps the originals
open while it runs, so that a worker that dies and is replaced neither ends the sink's
stream nor makes the source's senders see every receiver gone.

How a stage ends:

- **Normally:** the source ends (every sender closed, drained); each worker sends its
  last results, closes its clones and stops; the stage closes its own handles, so the
  sink's receivers see the end of the stream once they drain it. :meth:`Stage.wait`
  returns the final statistics.
- **Failed:** a value failed and there is no dead-letter channel, more workers died than
  ``max_restarts`` allows, or a channel failed. The stage stops every worker and
  *aborts* its sink: downstream receivers get :class:`~klaw_wire.SenderLostError` saying
  why, not the end of the stream. :meth:`Stage.wait` raises :class:`StageFailedError`.
- **Cancelled** (:meth:`Stage.cancel`): as failed, with :class:`StageCancelledError`.

On Ray with acknowledged receiving, values a stopped or dead worker had received and not
finished go back to the source channel for the other workers (or for whoever reads the
source next): the stage loses nothing it did not report, and processes again only what
a dead worker left unfinished.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

import msgspec

from klaw_config import KlawConfig, load_config
from klaw_ray._cancellation import run_to_completion
from klaw_ray.local import LocalReceiver, LocalSender
from klaw_ray.protocols import Receiver, Sender
from klaw_ray.stages._apply import Applier, function_shape
from klaw_ray.stages._loop import ValueFailedError, WorkerCounters, run_worker
from klaw_ray.stages._records import (
    DeadLetter,
    StageCancelledError,
    StageFailedError,
    StageState,
    StageStats,
    WorkerDiedError,
    WorkerStats,
    worker_totals,
)
from klaw_wire import ChannelError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Stage", "WorkerRunner", "stage"]

T = TypeVar("T")
U = TypeVar("U")

_DEFAULT_BATCH = 256
"""Values one worker receives at once (a chunk): its results are flushed per chunk."""


class _Worker(Protocol):
    """One running worker, as the stage supervises it."""

    @property
    def finished(self) -> asyncio.Future[WorkerStats]:
        """Its final figures; or raises ValueFailedError, WorkerDiedError, a channel error."""
        ...

    async def stats(self) -> WorkerStats | None:
        """Its figures now; ``None`` when it cannot answer (it died)."""
        ...

    async def stop(self) -> None:
        """Stop it at once (on Ray: end its process, so its leased values go back)."""
        ...


class WorkerRunner(Protocol):
    """Starts the workers of one stage (one implementation per backend)."""

    async def start(self, index: int) -> _Worker:
        """Start the worker of slot ``index`` with fresh clones of the stage's handles."""
        ...


class _LocalWorker:
    """A worker that is a task of the running event loop."""

    def __init__(self, run: Callable[[WorkerCounters], Awaitable[None]], index: int) -> None:
        self._counters = WorkerCounters(index)
        self._done = False
        self._task = asyncio.ensure_future(self._run(run))

    async def _run(self, run: Callable[[WorkerCounters], Awaitable[None]]) -> WorkerStats:
        try:
            await run(self._counters)
        finally:
            self._done = True
        return self._counters.snapshot(alive=False)

    @property
    def finished(self) -> asyncio.Future[WorkerStats]:
        return self._task

    async def stats(self) -> WorkerStats | None:
        return self._counters.snapshot(alive=not self._done)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task


class _LocalRunner:
    """Runs a stage's workers as tasks of this event loop (local channels)."""

    def __init__(self, stage: Stage, fn: Callable[[Any], Any], timeout: float | None) -> None:
        self._stage = stage
        self._fn = fn
        self._timeout = timeout

    async def start(self, index: int) -> _Worker:
        stage = self._stage
        source = stage._source.clone()
        sink = None if stage._sink is None else stage._sink.clone()
        dead = None if stage._dead_letter is None else stage._dead_letter.clone()

        async def run(counters: WorkerCounters) -> None:
            applier = Applier(self._fn, self._timeout)
            try:
                await run_worker(
                    name=stage.name,
                    applier=applier,
                    source=source,
                    sink=sink,
                    dead_letter=dead,
                    counters=counters,
                    batch_size=stage._batch_size,
                )
            finally:
                applier.close()
                for handle in (sink, dead, source):
                    if handle is not None:
                        await handle.close()

        return _LocalWorker(run, index)


class Stage:
    """A running stage: wait for it, read its statistics, cancel it.

    Made by :func:`stage`. Its methods are safe to call from any task of the event loop
    it was made on, at the same time.
    """

    def __init__(
        self,
        *,
        name: str,
        source: Receiver[Any],
        sink: Sender[Any] | None,
        dead_letter: Sender[Any] | None,
        workers: int,
        max_restarts: int,
        batch_size: int,
    ) -> None:
        self._name = name
        self._source = source
        self._sink = sink
        self._dead_letter = dead_letter
        self._workers = workers
        self._max_restarts = max_restarts
        self._batch_size = batch_size
        self._state: StageState = "running"
        self._slots: dict[int, _Worker] = {}
        self._last: dict[int, WorkerStats] = {}
        self._retired: list[WorkerStats] = []
        self._replaced = 0
        self._task: asyncio.Task[StageStats] | None = None

    def _start(self, runner: WorkerRunner) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._supervise(runner), name=f"klaw stage {self._name}"
        )

    @property
    def name(self) -> str:
        """The stage's name (its function's name unless given)."""
        return self._name

    @property
    def state(self) -> StageState:
        """Where the stage is now."""
        return self._state

    def done(self) -> bool:
        """Whether the stage has ended (finished, failed or cancelled)."""
        return self._state != "running"

    async def wait(self) -> StageStats:
        """Wait until the stage ends; return its final statistics.

        Cancelling the caller stops the wait, not the stage (use :meth:`cancel`).

        Raises:
            StageFailedError: The stage failed (its ``__cause__`` says why).
            StageCancelledError: The stage was cancelled.
        """
        assert self._task is not None
        try:
            return await asyncio.shield(self._task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._task.cancelled() and not (current is not None and current.cancelling()):
                raise StageCancelledError(self._name) from None
            raise  # the caller itself is cancelled

    async def cancel(self) -> None:
        """Stop the stage: its workers stop, its sink is aborted. Idempotent.

        Returns once the workers are stopped and the handles closed; :meth:`wait` then
        raises :class:`StageCancelledError`. A stage that already ended stays as it is.
        Runs to the end even if the caller is cancelled meanwhile, and then raises the
        caller's ``CancelledError``.
        """
        task = self._task
        assert task is not None
        if not task.done():
            task.cancel()

        async def ended() -> None:
            with contextlib.suppress(BaseException):  # how the stage ended: wait() says
                await task

        await run_to_completion(ended())

    async def stats(self) -> StageStats:
        """A snapshot of the stage's figures (asks each running worker once).

        A worker that cannot answer (it is dying) counts with what it last reported.
        """
        for index, worker in list(self._slots.items()):
            figures = await worker.stats()
            if figures is not None and self._slots.get(index) is worker:
                self._last[index] = figures
        return self._snapshot()

    def _snapshot(self) -> StageStats:
        current = [self._last[index] for index in sorted(self._last)]
        totals = worker_totals([*self._retired, *current])
        return StageStats(
            name=self._name,
            state=self._state,
            values_in=totals.values_in,
            values_out=totals.values_out,
            failed=totals.failed,
            dead_lettered=totals.dead_lettered,
            busy_seconds=totals.busy_seconds,
            workers_replaced=self._replaced,
            workers=tuple(current),
        )

    # --- supervision -------------------------------------------------------------------

    async def _supervise(self, runner: WorkerRunner) -> StageStats:
        try:
            for index in range(self._workers):
                await self._launch(runner, index)
            while self._slots:
                waiting = {worker.finished: index for index, worker in self._slots.items()}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    await self._settle(runner, waiting[future], future)
        except asyncio.CancelledError:
            # The task ends cancelled, as a cancelled task should: an event loop shutting
            # down (asyncio.run after SystemExit) then reports nothing, and wait() tells
            # its callers StageCancelledError.
            await self._stop(f"stage {self._name!r} was cancelled", "cancelled")
            raise
        except (ValueFailedError, WorkerDiedError, ChannelError) as exc:
            reason = f"stage {self._name!r} failed: {exc}"
            await self._stop(reason, "failed")
            raise StageFailedError(self._name, str(exc)) from exc
        except BaseException as exc:
            await self._stop(f"stage {self._name!r} failed: {exc!r}", "failed")
            raise
        await self._close_handles()
        self._state = "done"
        return self._snapshot()

    async def _launch(self, runner: WorkerRunner, index: int) -> None:
        self._slots[index] = await runner.start(index)
        self._last[index] = WorkerStats(index=index)

    async def _settle(
        self, runner: WorkerRunner, index: int, future: asyncio.Future[WorkerStats]
    ) -> None:
        """One worker ended: keep its figures; replace it if it died."""
        worker = self._slots.pop(index)
        try:
            final = future.result()
        except WorkerDiedError as died:
            if not died.started:
                raise
            self._retired.append(msgspec.structs.replace(self._last.pop(index), alive=False))
            self._replaced += 1
            if self._replaced > self._max_restarts:
                raise WorkerDiedError(
                    self._name,
                    f"{self._replaced} workers died, more than max_restarts={self._max_restarts}",
                ) from None
            await self._launch(runner, index)
            return
        except BaseException:
            await worker.stop()  # it stopped on a failure: end it, so its leases go back
            raise
        self._last[index] = final
        await worker.stop()  # it finished: end its process now rather than when collected

    async def _stop(self, reason: str, state: StageState) -> None:
        """Stop every worker, abort the sink, close the rest; shielded from cancellation."""

        async def stop() -> None:
            workers, self._slots = list(self._slots.values()), {}
            await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)
            if self._sink is not None:
                with contextlib.suppress(ChannelError):
                    await self._sink.abort(reason)
            for handle in (self._dead_letter, self._source):
                if handle is not None:
                    with contextlib.suppress(ChannelError):
                        await handle.close()
            for index, figures in list(self._last.items()):
                self._last[index] = msgspec.structs.replace(figures, alive=False)
            self._state = state

        await run_to_completion(stop())

    async def _close_handles(self) -> None:
        for handle in (self._sink, self._dead_letter, self._source):
            if handle is not None:
                await handle.close()


@overload
def stage(
    fn: Callable[[T], AsyncIterator[U]],
    source: Receiver[T],
    sink: Sender[U] | None = None,
    *,
    workers: int | None = None,
    task_timeout: float | None = None,
    dead_letter: Sender[DeadLetter[T]] | None = None,
    name: str | None = None,
    max_restarts: int | None = None,
    batch_size: int = _DEFAULT_BATCH,
    ray_options: Mapping[str, Any] | None = None,
    config: KlawConfig | None = None,
) -> Stage: ...


@overload
def stage(
    fn: Callable[[T], Awaitable[U]],
    source: Receiver[T],
    sink: Sender[U] | None = None,
    *,
    workers: int | None = None,
    task_timeout: float | None = None,
    dead_letter: Sender[DeadLetter[T]] | None = None,
    name: str | None = None,
    max_restarts: int | None = None,
    batch_size: int = _DEFAULT_BATCH,
    ray_options: Mapping[str, Any] | None = None,
    config: KlawConfig | None = None,
) -> Stage: ...


@overload
def stage(
    fn: Callable[[T], Iterator[U]],
    source: Receiver[T],
    sink: Sender[U] | None = None,
    *,
    workers: int | None = None,
    task_timeout: float | None = None,
    dead_letter: Sender[DeadLetter[T]] | None = None,
    name: str | None = None,
    max_restarts: int | None = None,
    batch_size: int = _DEFAULT_BATCH,
    ray_options: Mapping[str, Any] | None = None,
    config: KlawConfig | None = None,
) -> Stage: ...


@overload
def stage(
    fn: Callable[[T], U],
    source: Receiver[T],
    sink: Sender[U] | None = None,
    *,
    workers: int | None = None,
    task_timeout: float | None = None,
    dead_letter: Sender[DeadLetter[T]] | None = None,
    name: str | None = None,
    max_restarts: int | None = None,
    batch_size: int = _DEFAULT_BATCH,
    ray_options: Mapping[str, Any] | None = None,
    config: KlawConfig | None = None,
) -> Stage: ...


def stage(
    fn: Callable[[Any], Any],
    source: Receiver[Any],
    sink: Sender[Any] | None = None,
    *,
    workers: int | None = None,
    task_timeout: float | None = None,
    dead_letter: Sender[Any] | None = None,
    name: str | None = None,
    max_restarts: int | None = None,
    batch_size: int = _DEFAULT_BATCH,
    ray_options: Mapping[str, Any] | None = None,
    config: KlawConfig | None = None,
) -> Stage:
    """Run ``fn`` over every value of ``source`` on a pool of workers; results go to ``sink``.

    ``fn`` is sync or async, and returns one result per value (``T -> U``) or, when it
    returns an iterator or is a generator (``T -> Iterator[U]``, ``AsyncIterator[U]``),
    any number of them. Synchronous functions run in a thread of their worker; see
    :mod:`klaw_ray.stages` for the details. On Ray channels (``RayReceiver``) the
    workers are Ray actors, one process each; on local channels they are tasks of the
    running event loop, for tests and single-process pipelines.

    The stage takes ownership of ``source``, ``sink`` and ``dead_letter``: it closes
    them when it ends (clone them first to keep a handle of your own). It starts at once
    and runs in the background of the running event loop; keep the returned
    :class:`Stage` and ``await stage.wait()``.

    Backpressure: each worker holds at most ``batch_size`` values at once and sends its
    results before it takes more, so a slow stage fills its source channel and its
    producers wait; a full sink slows the stage the same way.

    Args:
        fn: The function, ``T -> U`` (or an iterator of ``U``), sync or async.
        source: The receiver the stage reads.
        sink: The sender the results go to; ``None`` to run ``fn`` for its effect only.
        workers: Workers in the pool; default ``executor.max_workers``.
        task_timeout: Seconds one value may take in ``fn`` before it counts as failed;
            default ``executor.task_timeout``; ``0`` for no limit.
        dead_letter: Where failed values go, as :class:`DeadLetter` records. Without
            one, the first failed value fails the stage.
        name: The stage's name in statistics and errors; default ``fn``'s name.
        max_restarts: How many dead workers the stage replaces before it fails;
            default three per worker.
        batch_size: Most values one worker takes at once.
        ray_options: Ray actor options for the workers (Ray only; e.g. ``num_cpus``,
            ``resources``); the default is ``num_cpus=0``, as a worker mostly waits.
        config: The configuration for the defaults; default :func:`load_config`.

    Returns:
        The running stage.

    Raises:
        TypeError: ``fn`` is not callable; a handle is of the wrong kind; the handles
            mix backends.
        ValueError: ``workers`` or ``batch_size`` below 1, ``max_restarts`` below 0,
            or ``task_timeout`` negative.
        RuntimeError: No event loop is running.
    """
    asyncio.get_running_loop()  # RuntimeError here, not inside a background task
    function_shape(fn)  # TypeError for a non-callable
    settings = config if config is not None else load_config()
    count = settings.executor.max_workers if workers is None else workers
    timeout = settings.executor.task_timeout if task_timeout is None else task_timeout
    _check_int("workers", count, 1)
    _check_int("batch_size", batch_size, 1)
    restarts = 3 * count if max_restarts is None else max_restarts
    _check_int("max_restarts", restarts, 0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"task_timeout must be a number of seconds, got {timeout!r}")
    if not timeout >= 0:
        raise ValueError(f"task_timeout must be >= 0 seconds, got {timeout!r}")
    if not isinstance(source, Receiver):
        raise TypeError(f"a stage's source must be a Receiver, got {type(source).__name__}")
    for label, handle in (("sink", sink), ("dead_letter", dead_letter)):
        if handle is not None and not isinstance(handle, Sender):
            raise TypeError(f"a stage's {label} must be a Sender, got {type(handle).__name__}")
    running = Stage(
        name=name or str(getattr(fn, "__name__", type(fn).__name__)),
        source=source,
        sink=sink,
        dead_letter=dead_letter,
        workers=count,
        max_restarts=restarts,
        batch_size=batch_size,
    )
    limit = float(timeout) if timeout > 0 else None
    runner: WorkerRunner
    if isinstance(source, LocalReceiver):
        _same_backend(sink, dead_letter, local=True)
        runner = _LocalRunner(running, fn, limit)
    else:
        _same_backend(sink, dead_letter, local=False)
        from klaw_ray.ray._stage import RayWorkerRunner  # noqa: PLC0415 - imports Ray

        runner = RayWorkerRunner(running, fn, limit, dict(ray_options or {}))
    running._start(runner)
    return running


def _check_int(label: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{label} must be an int, got {value!r}")
    if value < least:
        raise ValueError(f"{label} must be at least {least}, got {value}")


def _same_backend(*handles: Sender[Any] | None, local: bool) -> None:
    for handle in handles:
        if handle is not None and isinstance(handle, LocalSender) != local:
            where = "local" if local else "Ray"
            raise TypeError(f"a stage's handles must all be {where} channel handles")
