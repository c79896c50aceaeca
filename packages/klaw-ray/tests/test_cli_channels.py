"""``klaw channels``, run as a subprocess against the session's Ray instance.

The channels live in this test process's driver; the command joins the same cluster by
its address, like an operator's terminal on another machine would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from channel_backends import receive_exactly, wait_for_stats
from klaw_config import KlawConfig
from klaw_ray import RaySender, channel, channel_stats, delete_channel, pause_channel

pytestmark = pytest.mark.anyio

KLAW = str(Path(sys.executable).with_name("klaw"))
TEST_NAMESPACE = "klaw-tests"
"""The namespace of the session's ``ray_config``."""


def _environment(**env: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KLAW_")}
    environment.update(env)
    return environment


async def _klaw(*args: str, **env: str) -> tuple[int, str, str]:
    """Run ``klaw ARGS`` without blocking the event loop; ``(status, stdout, stderr)``."""
    process = await asyncio.create_subprocess_exec(
        KLAW,
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_environment(**env),
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
async def names(ray_config: KlawConfig) -> AsyncIterator[list[str]]:
    """Names for channels a test creates; every one is deleted afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        with contextlib.suppress(LookupError):
            await delete_channel(name, config=ray_config)


def _new(names: list[str], prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    names.append(name)
    return name


async def _pump(tx: RaySender[int], rx: Any, stop: asyncio.Event) -> int:
    """Send and receive values until ``stop`` is set; return how many went through."""
    moved = 0
    while not stop.is_set():
        await tx.send_batch(range(10))
        await tx.flush()
        moved += len(await receive_exactly(rx, 10))
    return moved


async def test_json_lists_the_channels_with_their_figures(
    ray_cluster: str, ray_config: KlawConfig, names: list[str]
) -> None:
    quiet, busy = _new(names, "quiet"), _new(names, "busy")
    tx, _rx = await channel(16, backend="ray", value_type=int, name=quiet, config=ray_config)
    assert isinstance(tx, RaySender)
    await tx.send_batch(range(5))
    await tx.flush()
    await pause_channel(quiet, config=ray_config)
    btx, brx = await channel(64, backend="ray", value_type=int, name=busy, config=ray_config)
    assert isinstance(btx, RaySender)
    await btx.send_batch(range(10))  # the receiver has asked for values once: its node is known
    await btx.flush()
    assert len(await brx.recv_batch(10)) == 10
    stop = asyncio.Event()
    pump = asyncio.create_task(_pump(btx, brx, stop))
    try:
        status, out, err = await _klaw(
            "channels", "--json", "--address", ray_cluster, "--namespace", TEST_NAMESPACE
        )
    finally:
        stop.set()
        await pump
    assert status == 0, err
    document = json.loads(out)
    assert document["namespace"] == ray_config.ray.namespace == TEST_NAMESPACE
    rows = {row["name"]: row for row in document["channels"]}
    assert rows[quiet] == {
        "name": quiet,
        "capacity": 16,
        "depth": 5,
        "leased": 0,
        "sent_per_s": 0.0,
        "received_per_s": 0.0,
        "total_sent": 5,
        "total_received": 0,
        "senders": 1,
        "receivers": 1,
        "waiting_senders": 0,
        "waiting_receivers": 0,
        "readers_per_node": {},
        "paused": True,
        "closed": False,
        "error": "",
        "state": "paused",
    }
    assert rows[busy]["sent_per_s"] > 0
    assert rows[busy]["received_per_s"] > 0
    assert rows[busy]["state"] == "open"
    node_id = (await brx.stats()).readers[0].node_id
    assert rows[busy]["readers_per_node"] == {node_id: 1}


async def test_the_table_piped_is_plain_text(
    ray_cluster: str, ray_config: KlawConfig, names: list[str]
) -> None:
    name = _new(names, "tabled")
    await channel(8, backend="ray", value_type=int, name=name, config=ray_config)
    await pause_channel(name, config=ray_config)
    status, out, err = await _klaw(
        "channels", "--address", ray_cluster, "--namespace", TEST_NAMESPACE
    )
    assert status == 0, err
    assert "\x1b" not in out
    assert out.isascii()
    line = next(line for line in out.splitlines() if name in line)
    assert "0/8" in line
    assert "paused" in line


@pytest.mark.usefixtures("interruptible")
@pytest.mark.parametrize(
    ("stop", "status", "said"),
    [(signal.SIGINT, 130, "klaw: interrupted"), (signal.SIGTERM, 143, "klaw: terminated")],
)
async def test_watch_prints_a_table_per_period_until_interrupted(
    ray_cluster: str,
    ray_config: KlawConfig,
    names: list[str],
    stop: signal.Signals,
    status: int,
    said: str,
) -> None:
    name = _new(names, "watched")
    await channel(8, backend="ray", value_type=int, name=name, config=ray_config)
    process = await asyncio.create_subprocess_exec(
        KLAW,
        "channels",
        "--watch",
        "0.2",
        "--json",
        "--address",
        ray_cluster,
        "--namespace",
        TEST_NAMESPACE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_environment(),
    )
    assert process.stdout is not None
    documents = [json.loads(await asyncio.wait_for(process.stdout.readline(), 60)) for _ in "ab"]
    process.send_signal(stop)  # SIGTERM: klaw's handler, not the one Ray put in
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == status, err
    assert err.decode().splitlines()[-1] == said
    for document in documents:
        assert name in {row["name"] for row in document["channels"]}


async def test_the_actions_pause_resume_resize_and_close_a_channel(
    ray_cluster: str, ray_config: KlawConfig, names: list[str]
) -> None:
    name = _new(names, "acted")
    tx, rx = await channel(4, backend="ray", value_type=int, name=name, config=ray_config)
    where = ("--address", ray_cluster, "--namespace", TEST_NAMESPACE)

    async def act(*args: str) -> str:
        status, out, err = await _klaw("channels", *args, name, *where)
        assert status == 0, err
        return out.strip()

    assert await act("pause") == f"paused channel {name!r} (namespace {TEST_NAMESPACE!r})"
    assert (await channel_stats(name, config=ray_config)).paused
    await act("resume")
    assert not (await channel_stats(name, config=ray_config)).paused
    # Options after the action work too.
    status, out, err = await _klaw("channels", "resize", name, "9", *where)
    assert status == 0, err
    assert "capacity 9" in out
    assert (await channel_stats(name, config=ray_config)).capacity == 9
    await tx.send(1)
    await tx.flush()
    await act("close")
    assert [value async for value in rx] == [1]
    stats = await wait_for_stats(rx, lambda s: s.closed)
    assert stats.open_senders == 0


async def test_an_action_on_a_missing_channel_is_one_line(ray_cluster: str) -> None:
    status, _, err = await _klaw("channels", "pause", "no_such_channel", "--address", ray_cluster)
    assert status == 1
    assert "no channel named 'no_such_channel'" in _one_line(err)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "no Ray cluster address: pass --address"),
        (("--address", "127.0.0.1:{port}"), {}, "no Ray cluster at 127.0.0.1:{port}"),
        ((), {"KLAW_RAY_ADDRESS": "127.0.0.1:{port}"}, "no Ray cluster at 127.0.0.1:{port}"),
        (("--address", "nonsense"), {}, "expected host:port"),
    ],
)
async def test_no_reachable_cluster_is_one_line_and_starts_nothing(
    args: tuple[str, ...], env: dict[str, str], message: str, anyio_backend: str
) -> None:
    port = str(_closed_port())
    status, _, err = await _klaw(
        "channels",
        *(arg.format(port=port) for arg in args),
        **{key: value.format(port=port) for key, value in env.items()},
    )
    assert status == 1
    assert message.format(port=port) in _one_line(err)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resize", "x", "0"], "must be 1 to 1,000,000"),
        (["resize", "x"], "required"),
        (["--watch", "0"], "must be 0.1 to 3600"),
        (["explode"], "invalid choice"),
    ],
)
def test_usage_errors_are_status_2(args: list[str], message: str) -> None:
    completed = subprocess.run(
        [KLAW, "channels", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_environment(),
        check=False,
    )
    assert completed.returncode == 2
    assert message in _one_line(completed.stderr)
