"""Report each benchmark as a ratio to the baseline of its group, measured in the same run.

A benchmark marks itself as its group's baseline with ``benchmark.extra_info["baseline"]
= True``. With ``--benchmark-enable`` the terminal summary then lists every group's
medians and two ratios to the baseline (``1.00`` is the baseline; lower is faster): of the
medians, and of the fastest rounds. On a busy machine other work only ever adds time, so
the ratio of the fastest rounds is the steadier estimate of a small overhead. Ratios, not
absolute times, are the figures to compare across these noisy machines.

A benchmark may also record ``benchmark.extra_info["interleaved_ratio"]``: a ratio it
measured itself, timing the candidate and its baseline in alternating short rounds, so
that both see the same load; the summary lists those under ``[interleaved]``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

_RESULTS: dict[str, list[tuple[str, float, float, bool]]] = defaultdict(list)
_INTERLEAVED: list[tuple[str, float]] = []


@pytest.fixture(autouse=True)
def _record_benchmark(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    bench: Any = request.node.funcargs.get("benchmark")
    stats = getattr(bench, "stats", None)
    if bench is None or stats is None:  # benchmarks disabled: ran once as a smoke test
        return
    group = bench.group or "ungrouped"
    baseline = bool(bench.extra_info.get("baseline"))
    if (interleaved := bench.extra_info.get("interleaved_ratio")) is not None:
        _INTERLEAVED.append((request.node.name, interleaved))
    _RESULTS[group].append((request.node.name, stats.stats.median, stats.stats.min, baseline))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    write = terminalreporter.write_line
    write("")
    write("klaw-wire benchmark ratios to the baseline of the group: of medians, of minimums")
    for group in sorted(_RESULTS):
        rows = _RESULTS[group]
        base = next(((median, low) for _, median, low, is_base in rows if is_base), None)
        write(f"[{group}]")
        for name, median, low, is_base in sorted(rows, key=lambda row: row[1]):
            ratios = f"{median / base[0]:6.2f}x {low / base[1]:6.2f}x" if base else "   n/a"
            mark = "  (baseline)" if is_base else ""
            write(f"  {ratios}  {median * 1e6:10.3f} us  {name}{mark}")
    if _INTERLEAVED:
        write("[interleaved] (fastest round / fastest round of the baseline, alternating)")
        for name, ratio in _INTERLEAVED:
            write(f"  {ratio:6.2f}x  {name}")
