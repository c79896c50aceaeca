"""Fixtures for the klaw-ray benchmarks.

Run with ``uv run pytest packages/klaw-ray/benchmarks --benchmark-enable -q -s``. Each
file compares klaw against its baseline in the same run; the ``ratio`` tests print the
figures that matter (ratios, not absolute times, on these noisy machines), and every
ratio printed is repeated in a summary at the end of the run.

One local Ray instance (``ray_config``) serves the whole session, bound to 127.0.0.1
only, started as the klaw-ray tests start theirs (``start_embedded_ray``); the fixture
checks that Ray really advertises a loopback address.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from klaw_config import KlawConfig, RayConfig, load_config

BENCH_NAMESPACE = "klaw-bench"
BENCHMARKS_DIR = str(Path(__file__).resolve().parent)

# Test modules import ``bench_records`` by name (pytest runs with --import-mode=importlib,
# which does not put this folder on sys.path); Ray workers get it through PYTHONPATH.
if BENCHMARKS_DIR not in sys.path:
    sys.path.insert(0, BENCHMARKS_DIR)

_RATIOS = pytest.StashKey[list[str]]()


@pytest.fixture
def report(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> Callable[[str], None]:
    """Print a result line now (even without ``-s``) and again in the closing summary."""
    lines = request.config.stash.setdefault(_RATIOS, [])

    def report_(line: str) -> None:
        lines.append(line)
        with capsys.disabled():
            print(line, flush=True)

    return report_


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Repeat every reported ratio in one block at the end of the run."""
    lines = config.stash.get(_RATIOS, [])
    if lines:
        terminalreporter.section("klaw-ray benchmark ratios")
        for line in lines:
            terminalreporter.write_line(line.lstrip("\n"))


@pytest.fixture(scope="session")
def ray_config() -> Iterator[KlawConfig]:
    """Start one local Ray instance (2 CPUs, no dashboard, loopback only) for the session.

    Yields:
        A configuration naming the benchmarks' namespace, for ``channel(...)``.
    """
    import ray

    from klaw_ray.ray._runtime import start_embedded_ray

    if ray.is_initialized():
        pytest.fail(
            "Ray is already running in this process (started by another folder's fixtures), "
            "without this folder on its workers' PYTHONPATH: run packages/klaw-ray/benchmarks "
            "in a pytest session of its own"
        )
    # Workers import the benchmarks' record type by name, like a service's own modules.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [BENCHMARKS_DIR, os.environ.get("PYTHONPATH", "")])
    )
    start_embedded_ray(BENCH_NAMESPACE, num_cpus=2)
    try:
        gcs_address = ray.get_runtime_context().gcs_address
        assert gcs_address.startswith("127.0.0.1:"), (
            f"Ray advertises {gcs_address}, not a loopback address"
        )
        # Tracing as the environment says (KLAW_TELEMETRY_TRACE_SAMPLE_RATE=0 measures
        # without it); no exporter: this fixture starts Ray itself.
        telemetry = load_config().telemetry
        yield KlawConfig(ray=RayConfig(namespace=BENCH_NAMESPACE), telemetry=telemetry)
    finally:
        ray.shutdown()
