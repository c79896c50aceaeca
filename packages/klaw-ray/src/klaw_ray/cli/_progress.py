"""What a ``klaw`` command is doing while it does it: status lines, progress bars, tables.

Any command of the application uses one :class:`Reporter`: status lines and progress go
to standard error as they happen, result tables to standard output. On a terminal a
progress bar is drawn live (with rich); when a stream is not a terminal (a pipe, a file,
CI) nothing but plain lines is written to it, with no control codes, so the output of
``klaw demo > out.txt`` is the status lines and the table and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

__all__ = ["Bar", "Reporter", "Step"]

_WIDEST = 1000
"""The widest a table printed to a plain stream may grow (columns) before it wraps."""


def _console(file: TextIO | None, *, stderr: bool) -> Console:
    # No markup, highlighting or emoji: status text such as "[3/10]" is printed as given.
    return Console(file=file, stderr=stderr, markup=False, highlight=False, emoji=False)


class Step:
    """One timed step of a command, as :meth:`Reporter.step` reports it.

    Attributes:
        seconds: How long the step took; set when it ends (0.0 until then).
    """

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0


class Bar:
    """A progress bar fed with real counts (see :meth:`Reporter.progress`).

    Not thread-safe: update it from the thread (or event loop) that opened it.
    """

    __slots__ = ("_completed", "_progress", "_reporter", "_task", "_total")

    def __init__(
        self, reporter: Reporter, progress: Progress | None, task: TaskID | None, total: int
    ) -> None:
        self._reporter = reporter
        self._progress = progress
        self._task = task
        self._total = total
        self._completed = 0

    @property
    def completed(self) -> int:
        """How much of the total is done, as last reported."""
        return self._completed

    def update(self, completed: int) -> None:
        """Show ``completed`` of the total as done (clamped to ``0 .. total``).

        Drawn on a terminal only; a plain stream gets no line per update.
        """
        self._completed = max(0, min(completed, self._total))
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self._completed)

    def advance(self, label: str) -> None:
        """Count one more unit done, ``label`` saying which (e.g. a finished comparison).

        On a terminal the bar moves on and shows ``label``; on a plain stream one line
        ``[n/total] label`` is printed, so a log shows each unit as it finishes.
        """
        self._completed = min(self._completed + 1, self._total)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self._completed, detail=label)
        else:
            self._reporter.status(f"[{self._completed}/{self._total}] {label}")


class Reporter:
    """Status lines and progress bars on standard error, tables on standard output.

    Args:
        err: Where status and progress go; ``sys.stderr`` when ``None``.
        out: Where tables go; ``sys.stdout`` when ``None``.

    Whether each stream is a terminal is decided by rich (``isatty``, and the
    ``NO_COLOR`` / ``FORCE_COLOR`` / ``TERM`` conventions). Not thread-safe: one command
    reports from one thread.
    """

    def __init__(self, err: TextIO | None = None, out: TextIO | None = None) -> None:
        self._err = _console(err, stderr=err is None)
        self._out = _console(out, stderr=False)

    @property
    def interactive(self) -> bool:
        """Whether status goes to a terminal (and progress bars are drawn live)."""
        return self._err.is_terminal

    def status(self, text: str) -> None:
        """Print one status line at once (flushed before this returns)."""
        self._err.print(text, soft_wrap=True)
        self._err.file.flush()

    @contextmanager
    def step(self, doing: str, done: str) -> Iterator[Step]:
        """Announce a step, time it, and report how long it took.

        Prints ``doing`` at once and, when the block ends normally, ``done in X.X s``.
        When the block raises (or is cancelled) nothing more is printed: the command's
        error report says what went wrong.

        Yields:
            The :class:`Step`, whose ``seconds`` are set when the block ends.
        """
        self.status(doing)
        step = Step()
        started = time.perf_counter()
        try:
            yield step
        finally:
            step.seconds = time.perf_counter() - started
        self.status(f"{done} in {step.seconds:.1f} s")

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Bar]:
        """Show a progress bar of ``total`` units while the block runs.

        On a terminal the bar (description, bar, done / total, percentage, elapsed time)
        is redrawn about ten times a second from the last :meth:`Bar.update` or
        :meth:`Bar.advance`, and stays on screen when the block ends, however it ends.
        On a plain stream nothing is drawn.

        Yields:
            The :class:`Bar` to feed.
        """
        if not self.interactive:
            yield Bar(self, None, None, total)
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[detail]}"),
        )
        with Progress(*columns, console=self._err, refresh_per_second=10) as progress:
            task = progress.add_task(description, total=total, detail="")
            yield Bar(self, progress, task, total)

    def table(self, table: Table) -> None:
        """Print ``table`` on standard output.

        On a terminal it fits the terminal's width; on a plain stream it is printed at
        its natural width (not cut to 80 columns), so that scripts see whole rows.
        """
        if self._out.is_terminal:
            self._out.print(table)
        else:
            natural = self._out.measure(table, options=self._out.options.update_width(_WIDEST))
            self._out.width = max(self._out.width, natural.maximum)  # print() caps at it
            self._out.print(table)
        self._out.file.flush()
