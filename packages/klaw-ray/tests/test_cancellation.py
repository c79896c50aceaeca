"""``run_to_completion``: closing work that a cancelled caller must not cut short."""

from __future__ import annotations

import asyncio

import pytest

from klaw_ray._cancellation import run_to_completion

pytestmark = pytest.mark.anyio


async def test_a_cancelled_caller_waits_for_the_operation_then_sees_its_cancellation() -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def closing() -> None:
        await release.wait()
        finished.append("closed")

    caller = asyncio.ensure_future(run_to_completion(closing()))
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.sleep(0)
    caller.cancel()  # a second cancellation changes nothing either
    await asyncio.sleep(0)
    assert not caller.done()  # still waiting for the operation
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert finished == ["closed"]


async def test_the_result_and_the_failure_of_the_operation_reach_the_caller() -> None:
    async def answer() -> int:
        return 42

    async def failing() -> None:
        raise ValueError("broken")

    assert await run_to_completion(answer()) == 42
    with pytest.raises(ValueError, match="broken"):
        await run_to_completion(failing())
