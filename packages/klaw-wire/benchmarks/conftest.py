"""Report each benchmark as a ratio to the baseline of its group, measured in the same run.

A benchmark marks itself as its group's baseline with ``benchmark.extra_info["baseline"]
= True``. With ``--benchmark-enable`` the terminal summary then lists every group's
medians and ratios (``1.00`` is the baseline; lower is faster). Ratios, not absolute
times, are the figures to compare across these noisy machines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

_RESULTS: dict[str, list[tuple[str, float, bool]]] = defaultdict(list)


@pytest.fixture(autouse=True)
def _record_benchmark(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    bench: Any = request.node.funcargs.get("benchmark")
    stats = getattr(bench, "stats", None)
    if bench is None or stats is None:  # benchmarks disabled: ran once as a smoke test
        return
    group = bench.group or "ungrouped"
    baseline = bool(bench.extra_info.get("baseline"))
    _RESULTS[group].append((request.node.name, stats.stats.median, baseline))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    write = terminalreporter.write_line
    write("")
    write("klaw-wire benchmark ratios (median / baseline median of the group)")
    for group in sorted(_RESULTS):
        rows = _RESULTS[group]
        base = next((median for _, median, is_base in rows if is_base), None)
        write(f"[{group}]")
        for name, median, is_base in sorted(rows, key=lambda row: row[1]):
            ratio = f"{median / base:6.2f}x" if base else "   n/a"
            mark = "  (baseline)" if is_base else ""
            write(f"  {ratio}  {median * 1e6:10.3f} us  {name}{mark}")
