"""``python -m klaw_config check | show | init``: as subprocesses, and through ``main``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from klaw_config import ChannelDefaults, ExecutorConfig, KlawConfig, load_config, main

GOOD = "[channels]\ncapacity = 64\n"


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "klaw_config", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


BAD = """\
[channels]
capacity = 0
capasity = 5
delivery = "exactly_once"

[chanels]
timeout = 1

[telemetry]
metrics_port = 80
"""

BAD_LINES = [
    "error: bad.toml: channels.capacity: Expected `int` >= 1",
    "error: bad.toml: channels.capasity: unknown key in [channels]; did you mean capacity? "
    "known keys: capacity, timeout, delivery, lease_seconds, durable, storage_dir, coalesce, "
    "prefetch",
    "error: bad.toml: channels.delivery: Invalid enum value 'exactly_once'",
    "error: bad.toml: chanels: unknown section; did you mean channels? known sections: ray, "
    "channels, executor, telemetry",
    "error: bad.toml: telemetry.metrics_port: Expected `int` >= 1024",
]


def test_check_subprocess_accepts_a_valid_file(tmp_path: Path) -> None:
    (tmp_path / "klaw.toml").write_text(GOOD, "utf-8")
    result = _run("check", "klaw.toml", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "valid: klaw.toml\n", "")


def test_check_subprocess_rejects_an_invalid_file_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "klaw.toml").write_text("[channels]\ncapacity = 0\n", "utf-8")
    result = _run("check", "klaw.toml", cwd=tmp_path)
    _assert_one_line_error(result, "klaw.toml: channels.capacity: Expected `int` >= 1")


def test_check_subprocess_reports_every_error_of_a_file_one_per_line(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(BAD, "utf-8")
    result = _run("check", "bad.toml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == BAD_LINES


def test_check_reports_the_files_errors_then_the_environments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text(BAD, "utf-8")
    monkeypatch.setenv("KLAW_CONFIG", "bad.toml")
    monkeypatch.setenv("KLAW_RAY_ADRESS", "auto")
    monkeypatch.setenv("KLAW_CHANNELS_PREFETCH", "0")
    assert main(["check"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        *BAD_LINES,
        "error: environment variable KLAW_CHANNELS_PREFETCH: channels.prefetch: "
        "Expected `int` >= 1 (value '0')",
        "error: environment variable KLAW_RAY_ADRESS: unknown variable; "
        "did you mean KLAW_RAY_ADDRESS?",
    ]


def test_show_reports_every_error_as_check_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text(BAD, "utf-8")
    assert main(["show", "bad.toml"]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err.splitlines()) == ("", BAD_LINES)


def test_check_subprocess_reports_a_misspelt_variable(tmp_path: Path) -> None:
    result = _run("check", cwd=tmp_path, env={"KLAW_CHANELS_CAPACITY": "64"})
    _assert_one_line_error(
        result,
        "error: environment variable KLAW_CHANELS_CAPACITY: unknown variable; "
        "did you mean KLAW_CHANNELS_CAPACITY?",
    )


def test_check_subprocess_reports_a_missing_klaw_config_file(tmp_path: Path) -> None:
    result = _run("check", cwd=tmp_path, env={"KLAW_CONFIG": "absent.toml"})
    _assert_one_line_error(result, "error: absent.toml: no such file (from KLAW_CONFIG)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_check_subprocess_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "klaw.toml")
    result = _run("check", cwd=tmp_path, env={"KLAW_CONFIG": "klaw.toml"})
    _assert_one_line_error(
        result, "error: klaw.toml: not a regular file: it is a FIFO (from KLAW_CONFIG)"
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_check_subprocess_refuses_dev_zero_at_once(tmp_path: Path) -> None:
    result = _run("check", cwd=tmp_path, env={"KLAW_CONFIG": "/dev/zero"})
    _assert_one_line_error(
        result, "error: /dev/zero: not a regular file: it is a character device (from KLAW_CONFIG)"
    )


def test_check_subprocess_reports_a_bad_environment_variable(tmp_path: Path) -> None:
    result = _run("check", cwd=tmp_path, env={"KLAW_TELEMETRY_ENABLED": "maybe"})
    _assert_one_line_error(
        result, "environment variable KLAW_TELEMETRY_ENABLED: telemetry.enabled:", "'maybe'"
    )


def test_show_subprocess_prints_values_with_their_sources(tmp_path: Path) -> None:
    (tmp_path / "klaw.toml").write_text(GOOD, "utf-8")
    result = _run(
        "show", cwd=tmp_path, env={"KLAW_CONFIG": "klaw.toml", "KLAW_EXECUTOR_MAX_WORKERS": "3"}
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "# File: klaw.toml" in lines
    assert "capacity = 64  # file" in lines
    assert "max_workers = 3  # environment variable KLAW_EXECUTOR_MAX_WORKERS" in lines
    assert "timeout = 30.0  # default" in lines
    shown = tmp_path / "shown.toml"
    shown.write_text(result.stdout, "utf-8")
    expected = KlawConfig(
        channels=ChannelDefaults(capacity=64), executor=ExecutorConfig(max_workers=3)
    )
    assert load_config(shown) == expected


def test_show_subprocess_reports_malformed_toml_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "klaw.toml").write_text("[channels\n", "utf-8")
    _assert_one_line_error(_run("show", "klaw.toml", cwd=tmp_path), "klaw.toml: invalid TOML")


def test_init_subprocess_writes_a_starter_that_loads_to_the_defaults(tmp_path: Path) -> None:
    result = _run("init", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "wrote klaw.toml\n", "")
    assert load_config(tmp_path / "klaw.toml") == KlawConfig()
    assert _run("check", "klaw.toml", cwd=tmp_path).returncode == 0


def test_init_subprocess_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "mine.toml"
    target.write_text(GOOD, "utf-8")
    _assert_one_line_error(
        _run("init", "mine.toml", cwd=tmp_path), "mine.toml already exists", "--force"
    )
    assert target.read_text("utf-8") == GOOD
    result = _run("init", "mine.toml", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert load_config(target) == KlawConfig()


def test_check_of_a_missing_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path / "absent.toml")]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        f"error: {tmp_path / 'absent.toml'}: no such file\n",
    )


def test_check_without_a_file_names_the_overriding_variables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAW_RAY_NAMESPACE", "abc")
    monkeypatch.setenv("KLAW_CHANNELS_CAPACITY", "4")
    assert main(["check"]) == 0
    assert capsys.readouterr().out == (
        "valid: no configuration file, the defaults apply; "
        "overridden by KLAW_CHANNELS_CAPACITY, KLAW_RAY_NAMESPACE\n"
    )


def test_init_writes_to_klaw_config_when_no_file_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "from-env.toml"
    monkeypatch.setenv("KLAW_CONFIG", str(target))
    assert main(["init"]) == 0
    assert capsys.readouterr().out == f"wrote {target}\n"
    assert load_config() == KlawConfig()


def test_init_into_a_missing_directory_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "klaw.toml"
    assert main(["init", str(target)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: cannot write {target}: No such file or directory\n"


def test_init_force_onto_a_directory_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path), "--force"]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot write {tmp_path}: ")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "the following arguments are required"),
        (["frob"], "invalid choice: 'frob'"),
        (["check", "a.toml", "b.toml"], "unrecognized arguments: b.toml"),
        (["show", "--force"], "unrecognized arguments: --force"),
    ],
)
def test_usage_mistakes_are_one_line_errors_with_status_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, prog="klaw config") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("error: ")
    assert fragment in captured.err
    assert "(see klaw config --help)" in captured.err


def test_help_exits_0_and_uses_the_given_program_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"], prog="klaw config") == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: klaw config ")
    assert "check" in out
    assert "init" in out


def test_an_error_message_with_a_newline_stays_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "two\nlines.toml"
    odd.write_text("[channels]\ncapacity = 0\n", "utf-8")
    assert main(["check", str(odd)]) == 1
    assert capsys.readouterr().err.count("\n") == 1
