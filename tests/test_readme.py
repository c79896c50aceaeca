"""The README stays true: its set-up commands and its tour, run as a script."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_two_set_up_commands_come_first() -> None:
    commands = [
        line.split("#")[0].strip() for line in _blocks("bash")[0].splitlines() if line.strip()
    ]
    assert commands == ["uv run klaw demo", "uv run pytest"]


@pytest.mark.ray
@pytest.mark.slow
def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    script = tmp_path / "tour.py"
    script.write_text(_blocks("python")[0], encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.splitlines() == [
        "2000",
        "Order(order_id=1, sku='SKU-1', quantity=2)",
    ]
