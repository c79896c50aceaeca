"""SIGTERM for ``klaw`` commands: it ends a command the way Ctrl-C does.

A supervisor (systemd, Kubernetes, ``kill PID``) stops a process with SIGTERM, and a
command started in the background by a shell without job control cannot get SIGINT at
all (it inherits it ignored). So the commands that run an event loop do so through
:func:`run`: the first SIGTERM cancels the command's main task, which then closes its
handles and shuts down the Ray instance it started, exactly as on Ctrl-C, and the
command exits with status 143 (128 + SIGTERM) after one line on standard error. A
second SIGTERM ends the process at once.

Ray installs handlers of its own when a process connects to it (one of them prints a
stack and may abort the process); :func:`rearm` puts this one back after that.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

__all__ = ["rearm", "run", "terminated"]

T = TypeVar("T")


class _Armed:
    """The command's main task while :func:`run` runs it, and whether SIGTERM came."""

    task: asyncio.Task[Any] | None = None
    terminated = False


_ARMED = _Armed()


def terminated() -> bool:
    """Whether the last :func:`run` was ended by SIGTERM."""
    return _ARMED.terminated


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _ARMED.terminated:  # the second one: at once
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    _ARMED.terminated = True
    task = _ARMED.task
    if task is None or task.done():
        return  # the command is ending anyway: let it finish its clean-up
    task.cancel()  # as asyncio's own Ctrl-C handler does, from the signal handler
    task.get_loop().call_soon_threadsafe(lambda: None)  # wake the loop to run it


def rearm() -> None:
    """Install the SIGTERM handler again (after Ray put in its own).

    Only from the main thread, inside :func:`run`: elsewhere it does nothing.
    """
    if _ARMED.task is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with SIGTERM cancelling ``main`` as Ctrl-C does.

    The handler there before is put back when this returns. Off the main thread (where
    signals cannot be handled), or with SIGTERM ignored (as whoever started the process
    chose), this is plain ``asyncio.run``.

    Raises:
        asyncio.CancelledError: SIGTERM cancelled ``main`` (:func:`terminated` is then
            true), or ``main`` was cancelled otherwise.
        KeyboardInterrupt: Ctrl-C.
    """
    if _ARMED.task is not None:  # inside a run() already: asyncio.run refuses, as it should
        return asyncio.run(main)
    _ARMED.terminated = False
    previous = signal.getsignal(signal.SIGTERM)  # None: set outside Python (then default)
    if threading.current_thread() is not threading.main_thread() or previous == signal.SIG_IGN:
        return asyncio.run(main)  # (SIGTERM ignored by whoever started us: it stays so)

    async def guarded() -> T:
        _ARMED.task = asyncio.current_task()
        rearm()
        return await main

    try:
        return asyncio.run(guarded())
    finally:
        _ARMED.task = None
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
