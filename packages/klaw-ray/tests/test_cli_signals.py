"""``klaw_ray.cli._signals``: SIGTERM cancels the command's main task, in this process."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from klaw_ray.cli._signals import rearm, run, terminated


@pytest.fixture
def sigterm_restored() -> Iterator[None]:
    """Whatever a test does to SIGTERM's handler, the session gets its own back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, signal.SIG_DFL if before is None else before)


@pytest.mark.usefixtures("sigterm_restored")
def test_sigterm_cancels_the_main_task_which_cleans_up_first() -> None:
    cleaned: list[str] = []

    async def main() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(60)  # cancelled long before
        finally:
            cleaned.append("closed")

    with pytest.raises(asyncio.CancelledError):
        run(main())
    assert cleaned == ["closed"]
    assert terminated()


@pytest.mark.usefixtures("sigterm_restored")
def test_the_handler_before_comes_back_and_a_normal_run_is_not_terminated() -> None:
    def mine(signum: int, frame: object) -> None:
        raise AssertionError("not while run() runs")

    signal.signal(signal.SIGTERM, mine)

    async def main() -> int:
        assert signal.getsignal(signal.SIGTERM) is not mine
        return 7

    assert run(main()) == 7
    assert not terminated()
    assert signal.getsignal(signal.SIGTERM) is mine


@pytest.mark.usefixtures("sigterm_restored")
def test_rearm_puts_the_handler_back_after_someone_else_replaced_it() -> None:
    seen: list[int] = []

    async def main() -> None:
        signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))  # as Ray does
        rearm()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(60)

    with pytest.raises(asyncio.CancelledError):
        run(main())
    assert seen == []  # klaw's handler took it, not the one put in meanwhile
    assert terminated()


@pytest.mark.usefixtures("sigterm_restored")
def test_an_ignored_sigterm_stays_ignored() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    async def main() -> str:
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGTERM)  # ignored: nothing happens
        await asyncio.sleep(0)
        return "ran"

    assert run(main()) == "ran"
    assert not terminated()


def test_off_the_main_thread_it_is_plain_asyncio_run() -> None:
    results: list[object] = []

    async def main() -> str:
        return "plain"

    def in_thread() -> None:
        results.append(run(main()))
        rearm()  # outside run(), and off the main thread: nothing to do

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(timeout=30)
    assert results == ["plain"]


@pytest.mark.usefixtures("sigterm_restored")
def test_a_run_inside_a_run_is_refused_and_sigterm_still_ends_the_outer_one() -> None:
    async def inner() -> int:
        return 1

    async def main() -> None:
        coroutine = inner()
        with pytest.raises(RuntimeError, match="running event loop"):
            run(coroutine)
        coroutine.close()  # never started
        os.kill(os.getpid(), signal.SIGTERM)  # the outer run's handler is still there
        await asyncio.sleep(60)  # cancelled long before

    with pytest.raises(asyncio.CancelledError):
        run(main())
    assert terminated()
