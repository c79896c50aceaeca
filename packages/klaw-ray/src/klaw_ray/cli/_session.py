"""Ray for one ``klaw`` command: started (or joined) and shut down, each step announced."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from klaw_config import KlawConfig
from klaw_ray.cli._progress import Reporter
from klaw_ray.cli._signals import rearm

__all__ = ["ray_session"]


@contextmanager
def ray_session(
    reporter: Reporter, config: KlawConfig, phases: list[tuple[str, float]] | None = None
) -> Iterator[None]:
    """Connect to Ray for the block unless this process already is; disconnect after.

    With ``ray.address`` unset an embedded instance is started on 127.0.0.1 only,
    otherwise the cluster at that address is joined; either is announced on ``reporter``
    and timed ("Ray ready in X s"), and shut down when the block ends, however it ends
    (an exception, Ctrl-C or SIGTERM included), also timed. A Ray that was running before is
    left alone and nothing is printed for it.

    Args:
        reporter: Where the status lines go.
        config: The configuration (``ray.address``, ``ray.namespace``).
        phases: When given, ``("Ray start", s)`` and ``("shutdown", s)`` are appended.

    Raises:
        ChannelBackendError: Ray could not be started or reached.
    """
    import ray  # noqa: PLC0415 - Ray is imported only by the commands that use it

    from klaw_ray.ray._runtime import ensure_ray  # noqa: PLC0415

    if ray.is_initialized():
        yield
        return
    address = config.ray.address
    doing = "starting Ray on 127.0.0.1 ..." if address is None else f"joining Ray at {address} ..."
    with reporter.step(doing, "Ray ready") as step:
        ensure_ray(config)
    rearm()  # Ray installed SIGTERM handlers of its own: SIGTERM ends the command again
    if phases is not None:
        phases.append(("Ray start", step.seconds))
    try:
        yield
    finally:
        with reporter.step("shutting Ray down ...", "Ray shut down") as step:
            ray.shutdown()
        if phases is not None:
            phases.append(("shutdown", step.seconds))
