"""The Ray side of stages: each worker is a Ray actor running the stage's loop.

A worker actor gets the stage's function and clones of its handles (the sink and
dead-letter clones *supervised*: when the worker's process dies, the channel closes them
normally, since the stage replaces the worker and keeps its own sink handle open
meanwhile). The driver's :class:`~klaw_ray.stages.Stage` watches each worker's ``run``
call: it returns the worker's final figures, raises the value failure that stopped it,
or fails with the actor's death.

Stopping a worker ends its process (``ray.kill``); then the stage closes the worker's
clones itself, so that the source channel gives the values leased to it to the other
receivers at once, and the sink does not wait for a sender that will never close (a
worker that died before its first call on a channel is invisible to that channel's
liveness watch).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError

from klaw_ray._cancellation import run_to_completion
from klaw_ray.ray._exporter import register_stage_worker, retire_stage_worker
from klaw_ray.ray._handle import RayHandle
from klaw_ray.ray._receiver import RayReceiver
from klaw_ray.ray._sender import RaySender
from klaw_ray.stages._apply import Applier
from klaw_ray.stages._loop import WorkerCounters, run_worker
from klaw_ray.stages._records import WorkerDiedError, WorkerStats
from klaw_wire import ChannelError

if TYPE_CHECKING:
    from klaw_ray.stages._stage import Stage

__all__ = ["RayWorkerRunner"]


class _StageWorker:
    """A stage worker: one Ray actor process, one loop over the source."""

    def __init__(
        self,
        name: str,
        index: int,
        fn: Callable[[Any], Any],
        timeout: float | None,
        handles: tuple[RayReceiver[Any], RaySender[Any] | None, RaySender[Any] | None],
        batch_size: int,
    ) -> None:
        self._name = name
        self._fn = fn
        self._timeout = timeout
        self._source, self._sink, self._dead_letter = handles
        self._batch_size = batch_size
        self._counters = WorkerCounters(index)
        self._node_id = ray.get_runtime_context().get_node_id()
        self._running = False

    async def run(self) -> WorkerStats:
        """Process the source until it ends; close the clones; return the figures.

        A failure leaves the handles open: the stage ends this process, so the values
        leased to it go back to the source channel.
        """
        self._running = True
        applier = Applier(self._fn, self._timeout)
        try:
            await run_worker(
                name=self._name,
                applier=applier,
                source=self._source,
                sink=self._sink,
                dead_letter=self._dead_letter,
                counters=self._counters,
                batch_size=self._batch_size,
            )
        finally:
            applier.close()
        for handle in (self._sink, self._dead_letter, self._source):
            if handle is not None:
                await handle.close()  # the source's close acknowledges the last chunk
        self._running = False
        return self._counters.snapshot(alive=False, node_id=self._node_id)

    async def stats(self) -> WorkerStats:
        """The worker's figures now."""
        return self._counters.snapshot(alive=self._running, node_id=self._node_id)


_RemoteWorker = ray.remote(_StageWorker)


class _RayWorker:
    """The driver's view of one worker actor."""

    def __init__(self, actor: Any, stage: str, handles: tuple[RayHandle | None, ...]) -> None:
        self._actor = actor
        self._stage = stage
        self._handles = handles
        self._key = uuid.uuid4().hex
        self._finished = asyncio.ensure_future(self._run())

    async def _run(self) -> WorkerStats:
        try:
            figures: WorkerStats = await self._actor.run.remote()
        except RayTaskError as exc:  # the loop raised: a value failure or a channel error
            cause = exc.cause
            if isinstance(cause, Exception) and not isinstance(cause, RayError):
                raise cause from exc
            raise
        except RayActorError as exc:
            await self._release()
            started = not getattr(exc, "actor_init_failed", False)
            raise WorkerDiedError(self._stage, str(exc), started=started) from exc
        retire_stage_worker(self._key, figures)
        return figures

    async def _release(self) -> None:
        """Close the dead worker's clones from here.

        A worker that died before its first call on a channel (it never started, or it
        died on its first chunk) is known to that channel only through the registration
        this process made, so the channel cannot see it die: without this close its
        sink clone would keep the stream open forever and its source clone would hold
        its leases until they expire. Closing a clone the channel already closed (it saw
        the death) changes nothing.
        """
        for handle in self._handles:
            if handle is not None:
                with contextlib.suppress(ChannelError):
                    await handle.close()

    @property
    def key(self) -> str:
        """The worker's unique key (how the metrics exporter knows it)."""
        return self._key

    @property
    def finished(self) -> asyncio.Future[WorkerStats]:
        return self._finished

    async def stats(self) -> WorkerStats | None:
        try:
            figures: WorkerStats = await self._actor.stats.remote()
        except RayError:
            return None
        return figures

    async def stop(self) -> None:
        with contextlib.suppress(RayError, ValueError):
            ray.kill(self._actor, no_restart=True)
        with contextlib.suppress(BaseException):
            await self._finished
        await self._release()


async def _close_all(handles: tuple[RayHandle | None, ...]) -> None:
    """Close the clones of a worker that never started."""
    for handle in handles:
        if handle is not None:
            with contextlib.suppress(ChannelError):
                await handle.close()


class RayWorkerRunner:
    """Starts a stage's workers as Ray actors (``num_cpus=0`` unless told otherwise).

    Args:
        stage: The stage the workers serve.
        fn: The stage's function (shipped to each worker by Ray's pickling).
        timeout: Seconds one value may take; ``None`` for no limit.
        ray_options: Extra Ray actor options.

    Raises:
        TypeError: The stage's handles are not Ray channel handles.
    """

    def __init__(
        self,
        stage: Stage,
        fn: Callable[[Any], Any],
        timeout: float | None,
        ray_options: dict[str, Any],
    ) -> None:
        if not isinstance(stage._source, RayReceiver):
            raise TypeError(
                f"a stage's source must be a RayReceiver or a LocalReceiver, "
                f"got {type(stage._source).__name__}"
            )
        for handle in (stage._sink, stage._dead_letter):
            if handle is not None and not isinstance(handle, RaySender):
                raise TypeError(
                    f"a stage's sink and dead_letter must be Ray senders with a Ray source, "
                    f"got {type(handle).__name__}"
                )
        self._stage = stage
        self._source: RayReceiver[Any] = stage._source
        self._sink = cast("RaySender[Any] | None", stage._sink)
        self._dead_letter = cast("RaySender[Any] | None", stage._dead_letter)
        self._fn = fn
        self._timeout = timeout
        self._options = {"num_cpus": 0, **ray_options}

    async def start(self, index: int) -> _RayWorker:
        """Start the worker of slot ``index``, its clones registered before it runs.

        Cancelled (the stage is being cancelled) or failing half-way, it undoes what it
        did: the worker started is ended and the clones made are closed, so that no
        clone keeps the sink's stream open or the source's receivers counted.
        """
        stage = self._stage
        source = self._source.clone()
        sink = None if self._sink is None else self._sink._supervised_clone()
        dead = None if self._dead_letter is None else self._dead_letter._supervised_clone()
        handles = (source, sink, dead)
        worker: _RayWorker | None = None
        try:
            for handle in handles:
                if handle is not None:  # counted (and supervised) before the worker's first call
                    await handle._ensure_registered()
            actor = _RemoteWorker.options(**self._options).remote(
                stage.name, index, self._fn, self._timeout, handles, stage._batch_size
            )
            worker = _RayWorker(actor, stage.name, handles)
            await register_stage_worker(worker.key, stage.name, actor)
        except BaseException:
            await run_to_completion(worker.stop() if worker is not None else _close_all(handles))
            raise
        return worker
