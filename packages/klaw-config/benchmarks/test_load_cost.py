"""The cost of load_config over the bare decode it is built on.

Run with ``uv run pytest packages/klaw-config/benchmarks --benchmark-enable -q``. Both
sides read the same file with every field set: the baseline is ``tomllib.loads`` of the
file's text then ``msgspec.convert(..., KlawConfig, strict=False)``; ``load_config`` adds
the path handling, the error wrapping and the scan of the ``KLAW_*`` variables. Their
ratio, printed by the ``ratio`` test, is the figure that matters on a noisy machine.
"""

from __future__ import annotations

import os
import timeit
import tomllib
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from klaw_config import KlawConfig, load_config

FULL_FILE = """\
[ray]
namespace = "bench"
address = "ray://head:10001"
max_concurrency = 32

[channels]
capacity = 4096
timeout = 12.5
delivery = "at_most_once"
lease_seconds = 60.0
durable = true
storage_dir = "/var/lib/klaw/channels"
coalesce = false
prefetch = 256

[executor]
max_workers = 16
task_timeout = 600.0

[telemetry]
enabled = false
metrics_port = 9100
trace_sample_rate = 0.5
"""


@pytest.fixture(autouse=True)
def _no_klaw_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KLAW_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "klaw.toml"
    path.write_text(FULL_FILE, encoding="utf-8")
    return path


def _baseline(path: Path) -> KlawConfig:
    return msgspec.convert(tomllib.loads(path.read_text("utf-8")), KlawConfig, strict=False)


def test_raw_tomllib_and_convert(benchmark: BenchmarkFixture, config_file: Path) -> None:
    config = benchmark(_baseline, config_file)
    assert config.channels.capacity == 4096


def test_load_config_of_a_full_file(benchmark: BenchmarkFixture, config_file: Path) -> None:
    config = benchmark(load_config, config_file)
    assert config == _baseline(config_file)


def _best(call: Callable[[], object]) -> float:
    return min(timeit.repeat(call, number=200, repeat=5))


def test_load_config_ratio_to_raw_decode(
    config_file: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_config(config_file) == _baseline(config_file)
    raw = _best(lambda: _baseline(config_file))
    ours = _best(lambda: load_config(config_file))
    if request.config.getoption("benchmark_enable"):
        with capsys.disabled():
            print(
                f"\nload_config vs tomllib.loads + msgspec.convert of the same file: "
                f"{ours / raw:.2f}x ({ours / 200 * 1e6:.1f} us vs {raw / 200 * 1e6:.1f} us)"
            )
