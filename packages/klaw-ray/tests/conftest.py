"""Fixtures shared by the klaw-ray tests.

One local Ray instance serves the whole test session (``ray_cluster``): starting Ray
takes seconds, so it starts once, lazily, the first time a test needs it, bound to
127.0.0.1 only.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channel_backends import OpenChannel
from klaw_config import KlawConfig, RayConfig
from klaw_ray import Receiver, Sender, channel

TEST_NAMESPACE = "klaw-tests"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the session's Ray instance ``ray`` (see ``-m``)."""
    for item in items:
        if "ray_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)


@pytest.fixture
def anyio_backend() -> str:
    """Run ``pytest.mark.anyio`` tests on asyncio only: the backends are asyncio-based."""
    return "asyncio"


@pytest.fixture
def interruptible() -> Iterator[None]:
    """Let the subprocesses a test starts receive SIGINT, whoever started the test run.

    A shell without job control starts background commands with SIGINT ignored, and a
    child inherits an ignored signal across ``exec``: a ``klaw`` started from such a
    test run would rightly ignore the Ctrl-C the test sends it. While this fixture is
    active the test process handles SIGINT as Python does by default, so its children
    start with the default disposition; the previous handler comes back afterwards.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """Start one local Ray instance for the session; yield its address."""
    import ray

    from klaw_ray.ray._runtime import start_embedded_ray

    # Workers import the tests' record types by name, like a service's own modules.
    tests_dir = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [tests_dir, os.environ.get("PYTHONPATH", "")])
    )
    start_embedded_ray(TEST_NAMESPACE, num_cpus=2)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture
def ray_config(ray_cluster: str) -> KlawConfig:
    """A configuration naming the test namespace (Ray is already running)."""
    return KlawConfig(ray=RayConfig(namespace=TEST_NAMESPACE))


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def open_channel(request: pytest.FixtureRequest) -> OpenChannel:
    """A factory opening a fresh channel on each backend under test."""
    backend: str = request.param
    config = request.getfixturevalue("ray_config") if backend == "ray" else KlawConfig()

    async def open_(capacity: int | None) -> tuple[Sender[Any], Receiver[Any]]:
        return await channel(
            capacity,
            backend="ray" if backend == "ray" else "local",
            unbounded=capacity is None,
            config=config,
        )

    return open_
