"""The command line's reporter: plain lines on a pipe or file, live bars on a terminal."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator

import pytest
from rich.table import Table

from klaw_config import KlawConfig
from klaw_ray.cli._demo import DemoOptions, run_demo
from klaw_ray.cli._progress import Reporter


class _Terminal:
    """A real pseudo-terminal; a thread reads back what is written to it, as a terminal would.

    Draining it all the time keeps a writer from blocking on a full terminal buffer.
    """

    def __init__(self) -> None:
        self._master, slave = os.openpty()
        self.stream = io.TextIOWrapper(os.fdopen(slave, "wb"), encoding="utf-8")
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # the slave side closed
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    def output(self) -> str:
        """Everything written so far (closes the terminal: call it once, at the end)."""
        self.stream.close()
        self._reader.join(timeout=30)
        return b"".join(self._chunks).decode("utf-8", "replace")

    def close(self) -> None:
        if not self.stream.closed:
            self.stream.close()
        self._reader.join(timeout=30)
        os.close(self._master)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Terminal]:
    for variable in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    opened = _Terminal()
    try:
        yield opened
    finally:
        opened.close()


def _wide_table() -> Table:
    table = Table()
    table.add_column("measurement")
    table.add_column("ratio")
    table.add_row("x" * 150, "1.00x")
    return table


def test_status_lines_and_steps_are_plain_lines_on_a_stream() -> None:
    err, out = io.StringIO(), io.StringIO()
    reporter = Reporter(err=err, out=out)
    assert not reporter.interactive
    reporter.status("[a] not markup")
    with reporter.step("starting ...", "started") as step:
        pass
    assert step.seconds >= 0.0
    lines = err.getvalue().splitlines()
    assert lines[:2] == ["[a] not markup", "starting ..."]
    assert lines[2].startswith("started in ")
    assert lines[2].endswith(" s")
    assert out.getvalue() == ""


def test_a_step_that_fails_reports_no_time() -> None:
    err = io.StringIO()
    reporter = Reporter(err=err, out=io.StringIO())
    with pytest.raises(RuntimeError, match="boom"), reporter.step("trying ...", "done"):
        raise RuntimeError("boom")
    assert err.getvalue().splitlines() == ["trying ..."]


def test_a_bar_on_a_stream_prints_a_line_per_unit_and_nothing_per_update() -> None:
    err = io.StringIO()
    reporter = Reporter(err=err, out=io.StringIO())
    with reporter.progress("comparisons", 2) as bar:
        bar.update(1)
        bar.update(5)
        assert bar.completed == 2  # clamped to the total
        bar.update(0)
        bar.advance("codec")
        bar.advance("channel")
    assert err.getvalue().splitlines() == ["[1/2] codec", "[2/2] channel"]
    assert "\x1b[" not in err.getvalue()


def test_a_table_on_a_stream_is_whole_rows_without_control_codes() -> None:
    out = io.StringIO()
    Reporter(err=io.StringIO(), out=out).table(_wide_table())
    text = out.getvalue()
    assert "\x1b[" not in text
    assert any("x" * 150 in line and "1.00x" in line for line in text.splitlines())


def test_a_bar_on_a_terminal_is_drawn_live_from_the_counts_given(terminal: _Terminal) -> None:
    reporter = Reporter(err=terminal.stream, out=io.StringIO())
    assert reporter.interactive
    with reporter.progress("orders received", 40) as bar:
        bar.update(17)
    output = terminal.output()
    assert "\x1b[" in output  # drawn with control codes
    assert "orders received" in output
    assert "17/40" in output


@pytest.mark.anyio
async def test_the_demo_bar_counts_what_the_channel_received(terminal: _Terminal) -> None:
    reporter = Reporter(err=terminal.stream, out=io.StringIO())
    options = DemoOptions(backend="local", messages=2_000, producers=2, consumers=2)
    report = await run_demo(options, KlawConfig(), reporter)
    assert report.exactly_once
    output = terminal.output()
    assert "2000/2000" in output  # the last count the channel's statistics gave
    assert "moved 2,000 orders in " in output
    assert [name for name, _ in report.phases] == ["moving"]
