"""The ``klaw`` command line, run as a subprocess like a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from klaw_wire import Ack, DataMessage, encode_frame

KLAW = [str(Path(sys.executable).with_name("klaw"))]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(**env: str) -> dict[str, str]:
    """This process's environment without its ``KLAW_*`` variables, plus ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KLAW_")}
    environment.update(env)
    return environment


def _run(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KLAW, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(**env),
        check=False,
    )


def _start(*args: str, **env: str) -> subprocess.Popen[str]:
    """``klaw *args`` started in the background, its output piped (to signal it)."""
    return subprocess.Popen(
        [*KLAW, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(**env),
    )


def _one_line_error(completed: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    return lines[0]


def test_help_lists_every_subcommand() -> None:
    completed = _run("--help")
    assert completed.returncode == 0
    for command in ("demo", "bench", "config", "wire"):
        assert command in completed.stdout


@pytest.mark.parametrize("command", ["demo", "bench", "config", "wire"])
def test_every_subcommand_has_help(command: str) -> None:
    completed = _run(command, "--help")
    assert completed.returncode == 0, completed.stderr
    assert "usage:" in completed.stdout.lower()


def test_python_dash_m_runs_the_same_command_line() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "klaw_ray", "--help"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert "demo" in completed.stdout


def _assert_plain(text: str) -> None:
    """Output to a pipe: no control codes (colours, cursor moves, redrawn bars)."""
    assert "\x1b[" not in text, text
    assert "\r" not in text, text


@pytest.mark.slow
def test_demo_on_the_local_backend_reports_plainly_to_a_pipe() -> None:
    completed = _run("demo", "--backend", "local", "--messages", "3000", "--producers", "3")
    assert completed.returncode == 0, completed.stderr
    _assert_plain(completed.stdout)
    _assert_plain(completed.stderr)
    assert "every message received exactly once" in completed.stdout
    assert "3,000" in completed.stdout
    for row in (
        "throughput",
        "wire bytes / message",
        "pickle bytes / message",
        "p99",
        "phases",
        "stage price",
        "stage total",
    ):
        assert row in completed.stdout
    status = completed.stderr.splitlines()
    assert status[0] == (
        "klaw demo: moving 3,000 orders through a local pipeline "
        "(3 producers, 2 stages of 1 workers, 1 consumers)"
    )
    assert status[1] == "moving 3,000 orders ..."
    assert status[2].startswith("moved 3,000 orders in ")


@pytest.mark.ray
@pytest.mark.slow
def test_demo_on_an_embedded_ray_instance_reports_each_phase() -> None:
    # Its metrics on a port of its own: other programs on this machine may hold 9464.
    port = str(_free_port())
    completed = _run("demo", "--messages", "600", timeout=240, KLAW_TELEMETRY_METRICS_PORT=port)
    assert completed.returncode == 0, completed.stderr[-3000:]
    _assert_plain(completed.stdout)
    _assert_plain(completed.stderr)
    assert "ray (2 producers, 1 workers per stage, 1 consumers)" in completed.stdout
    assert "stage price" in completed.stdout
    assert "stage total" in completed.stdout
    assert "every message received exactly once" in completed.stdout
    status = completed.stderr.splitlines()
    assert status[1] == "starting Ray on 127.0.0.1 ..."  # right after the first line
    timed = [line.split(" in ")[0] for line in status if line.endswith(" s")]
    assert timed == ["Ray ready", "workers ready", "moved 600 orders", "Ray shut down"], status
    for phase in ("Ray start", "workers ready", "moving", "shutdown"):
        assert phase in completed.stdout  # the table's phases row


@pytest.mark.slow
@pytest.mark.usefixtures("interruptible")
def test_demo_stops_cleanly_on_ctrl_c() -> None:
    process = _start("demo", "--backend", "local", "--messages", "50000000")
    assert process.stderr is not None
    status = process.stderr.readline()  # printed once the demo is running
    assert status.startswith("klaw demo: moving"), status
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert "interrupted" in stderr


def _started(process: subprocess.Popen[str], line: str) -> list[str]:
    """Standard-error lines of ``process`` up to the first that starts with ``line``."""
    assert process.stderr is not None
    seen: list[str] = []
    while not seen or not seen[-1].startswith(line):
        status = process.stderr.readline()
        assert status, f"ended before {line!r}: {seen}"
        seen.append(status.rstrip("\n"))
    return seen


@pytest.mark.slow
def test_sigterm_ends_the_demo_as_ctrl_c_does_with_status_143() -> None:
    process = _start("demo", "--backend", "local", "--messages", "50000000")
    _started(process, "moving 50,000,000 orders")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == "klaw: terminated"


@pytest.mark.ray
@pytest.mark.slow
def test_sigterm_shuts_down_the_demos_embedded_ray_first() -> None:
    # Ray puts in SIGTERM handlers of its own when the demo starts it (one prints a stack
    # and may abort the process): klaw's must be back in place after that.
    port = str(_free_port())
    process = _start("demo", "--messages", "3000000", KLAW_TELEMETRY_METRICS_PORT=port)
    try:
        _started(process, "moving 3,000,000 orders")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 143, stderr[-3000:]
    assert "Traceback" not in stderr
    assert "SIGTERM received" not in stderr  # Ray's handler never ran
    lines = stderr.splitlines()
    assert lines[-3:-1] == ["shutting Ray down ...", lines[-2]]
    assert lines[-2].startswith("Ray shut down in ")
    assert lines[-1] == "klaw: terminated"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--messages", "0"], "must be at least 1"),
        (["demo", "--backend", "pigeon"], "invalid choice"),
        (["bogus"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    completed = _run(*args)
    assert completed.returncode == 2
    assert message in _one_line_error(completed)


def test_a_bad_configuration_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "klaw.toml"
    config.write_text("[channels]\ncapacity = 0\n")
    completed = _run("demo", "--backend", "local", KLAW_CONFIG=str(config))
    assert completed.returncode == 1
    assert "channels.capacity" in _one_line_error(completed)


@pytest.mark.slow
def test_bench_quick_reports_each_comparison_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    completed = _run("bench", "--quick", "--no-ray", "--json", str(out))
    assert completed.returncode == 0, completed.stderr
    _assert_plain(completed.stdout)
    _assert_plain(completed.stderr)
    assert "asyncio.Queue" in completed.stdout
    assert "raw msgspec" in completed.stdout
    report = json.loads(out.read_text())
    assert report["machine"]["python"]
    assert {c["baseline"] for c in report["comparisons"]} >= {"raw msgspec", "asyncio.Queue"}
    assert all(c["ratio"] is None or c["ratio"] > 0 for c in report["comparisons"])
    total = len(report["comparisons"])
    progress = [line for line in completed.stderr.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in progress] == [
        f"[{n}/{total}" for n in range(1, total + 1)
    ]
    assert progress[-1].endswith("vs asyncio.Queue")
    for comparison in report["comparisons"]:  # one table row each, whole (not wrapped)
        assert any(
            comparison["name"] in line and comparison["baseline"] in line
            for line in completed.stdout.splitlines()
        ), comparison


def test_config_subcommand_is_klaw_configs_command_line(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[channels]\ncapacity = 64\n")
    assert _run("config", "check", str(good)).returncode == 0
    shown = _run("config", "show", str(good))
    assert "capacity = 64" in shown.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[channels]\ncapacity = -1\n")
    completed = _run("config", "check", str(bad))
    assert completed.returncode == 1
    assert "channels.capacity" in _one_line_error(completed)


def test_wire_subcommand_inspects_frames(tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    capture.write_bytes(
        encode_frame(DataMessage.build({"x": 1}, channel_id="c", seq=3))
        + encode_frame(Ack.build(acked_seq=3))
    )
    completed = _run("wire", "inspect", str(capture))
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert len(lines) == 2
    capture.write_bytes(b"\x00\x00\x00\x05\x01")
    broken = _run("wire", "inspect", str(capture))
    assert broken.returncode == 1
    _one_line_error(broken)
