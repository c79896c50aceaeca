"""load_config and save_config against real files, and every way loading can fail."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import msgspec
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config_strategies import configs, field_type, invalid_values, numeric_fields
from klaw_config import (
    ChannelDefaults,
    ConfigError,
    EnvVar,
    KlawConfig,
    RayConfig,
    TelemetryConfig,
    environment_variables,
    load_config,
    load_config_with_sources,
    save_config,
)
from klaw_config._files import MAX_FILE_BYTES
from klaw_config.loader import _problems as loader_problems

FULL_FILE = """\
[ray]
namespace = "prod"
address = "ray://head:10001"
max_concurrency = 32

[channels]
capacity = 256
timeout = 5.5
delivery = "at_most_once"
lease_seconds = 45.0
durable = true
storage_dir = "/var/lib/klaw/channels"
coalesce = false
prefetch = 32

[executor]
max_workers = 4
task_timeout = 60.0

[telemetry]
enabled = false
metrics_port = 9100
trace_sample_rate = 0.25
"""

_NAMESPACE = next(var for var in environment_variables() if var.name == "KLAW_RAY_NAMESPACE")

# A function-scoped tmp_path is fine for these Hypothesis tests: every example writes the
# file it reads before reading it.
_scratch = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


def _problems(path: Path) -> tuple[ConfigError, list[ConfigError]]:
    """What load_config raises for ``path``, and every problem found in it."""
    return _load_error(path), loader_problems(path, {})


def _loads_or_names_the_file(file: Path) -> None:
    """Load ``file``: it is valid, or the error is a ConfigError naming it."""
    error: ConfigError | None = None
    try:
        load_config(file)
    except ConfigError as exc:
        error = exc
    assert error is None or error.source == str(file)


def test_loads_every_field_from_a_real_file(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path / "klaw.toml", FULL_FILE))
    assert config.ray == RayConfig(namespace="prod", address="ray://head:10001", max_concurrency=32)
    assert config.channels == ChannelDefaults(
        capacity=256,
        timeout=5.5,
        delivery="at_most_once",
        lease_seconds=45.0,
        durable=True,
        storage_dir="/var/lib/klaw/channels",
        coalesce=False,
        prefetch=32,
    )
    assert config.executor.max_workers == 4
    assert config.executor.task_timeout == 60.0
    assert config.telemetry == TelemetryConfig(
        enabled=False, metrics_port=9100, trace_sample_rate=0.25
    )


def test_accepts_a_str_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "klaw.toml", "[channels]\ncapacity = 9\n")
    assert load_config(str(path)).channels.capacity == 9


def test_sections_and_keys_left_out_keep_their_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path / "klaw.toml", "[channels]\ncapacity = 9\n"))
    assert config == KlawConfig(channels=ChannelDefaults(capacity=9))


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path / "klaw.toml", "")) == KlawConfig()


def test_no_path_and_no_klaw_config_gives_the_defaults() -> None:
    assert load_config() == KlawConfig()


def test_klaw_config_names_the_file_when_no_path_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "klaw.toml", "[executor]\nmax_workers = 2\n")
    monkeypatch.setenv("KLAW_CONFIG", str(path))
    assert load_config().executor.max_workers == 2


def test_an_empty_klaw_config_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLAW_CONFIG", "")
    assert load_config() == KlawConfig()


def test_the_path_argument_wins_over_klaw_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAW_CONFIG", str(_write(tmp_path / "a.toml", "[ray]\nnamespace = 'a'\n")))
    chosen = _write(tmp_path / "b.toml", "[ray]\nnamespace = 'b'\n")
    assert load_config(chosen).ray.namespace == "b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[channels]\ncapacity = "128"\n', ChannelDefaults(capacity=128)),
        ('[channels]\ntimeout = "2.5"\n', ChannelDefaults(timeout=2.5)),
        ("[channels]\ntimeout = 2\n", ChannelDefaults(timeout=2.0)),
        ("[channels]\ncapacity = 12.0\n", ChannelDefaults(capacity=12)),
    ],
)
def test_numbers_convert_laxly_from_toml(tmp_path: Path, text: str, expected: object) -> None:
    config = load_config(_write(tmp_path / "klaw.toml", text))
    assert config.channels == expected
    assert type(config.channels.capacity) is int
    assert type(config.channels.timeout) is float


def test_booleans_convert_laxly_from_toml_strings(tmp_path: Path) -> None:
    path = _write(tmp_path / "klaw.toml", '[telemetry]\nenabled = "false"\n')
    assert load_config(path).telemetry.enabled is False


def test_an_inline_table_section_is_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path / "klaw.toml", "ray = { namespace = 'inline' }\n")
    assert load_config(path).ray.namespace == "inline"


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "klaw.toml"
    path.write_bytes(b"\xef\xbb\xbf[ray]\nnamespace = 'bom'\n")
    assert load_config(path).ray.namespace == "bom"


def test_an_unknown_key_is_rejected_with_its_name_and_section(tmp_path: Path) -> None:
    path = _write(tmp_path / "klaw.toml", "[channels]\ncapacity = 3\ncapacty = 4\n")
    error = _load_error(path)
    assert error.source == str(path)
    assert error.path == "channels.capacty"
    assert error.reason == (
        "unknown key in [channels]; did you mean capacity? known keys: capacity, timeout, "
        "delivery, lease_seconds, durable, storage_dir, coalesce, prefetch"
    )
    assert str(error) == f"{path}: channels.capacty: {error.reason}"
    assert isinstance(error.__cause__, msgspec.ValidationError)


def test_an_unknown_key_like_no_known_one_is_rejected_without_a_guess(tmp_path: Path) -> None:
    error = _load_error(_write(tmp_path / "klaw.toml", "[telemetry]\nverbosity = 3\n"))
    assert error.path == "telemetry.verbosity"
    assert error.reason == (
        "unknown key in [telemetry]; known keys: enabled, metrics_port, trace_sample_rate"
    )


def test_an_unknown_section_is_rejected_with_its_name(tmp_path: Path) -> None:
    error = _load_error(_write(tmp_path / "klaw.toml", "[channel]\ncapacity = 3\n"))
    assert error.path == "channel"
    assert error.reason == (
        "unknown section; did you mean channels? known sections: ray, channels, executor, telemetry"
    )


def test_an_unknown_section_is_one_error_however_many_keys_it_has(tmp_path: Path) -> None:
    text = "[logging]\nlevel = 'debug'\nfile = 'x.log'\n"
    _, problems = _problems(_write(tmp_path / "klaw.toml", text))
    assert [(error.path, error.reason) for error in problems] == [
        ("logging", "unknown section; known sections: ray, channels, executor, telemetry")
    ]


def test_an_unknown_top_level_key_is_rejected_as_an_unknown_section(tmp_path: Path) -> None:
    error = _load_error(_write(tmp_path / "klaw.toml", "capacity = 3\n"))
    assert error.path == "capacity"
    assert error.reason.startswith("unknown section")


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ("[channels]\ncapacity = 0\n", "channels.capacity", "Expected `int` >= 1"),
        ("[channels]\ncapacity = 1.5\n", "channels.capacity", "Expected `int`, got `float`"),
        ("[channels]\ncapacity = 'many'\n", "channels.capacity", "Expected `int`, got `str`"),
        ("[channels]\ncapacity = [1]\n", "channels.capacity", "Expected `int`, got `array`"),
        ("[ray]\nnamespace = 7\n", "ray.namespace", "Expected `str`, got `int`"),
        ("[ray]\naddress = ''\n", "ray.address", "Expected `str` of length >= 1"),
        (
            "[channels]\ndelivery = 'exactly_once'\n",
            "channels.delivery",
            "Invalid enum value 'exactly_once'",
        ),
        ("[channels]\ndelivery = 1\n", "channels.delivery", "Expected `str`, got `int`"),
        ("[channels]\nlease_seconds = 0.5\n", "channels.lease_seconds", "Expected `float` >= 1.0"),
        ("[channels]\ndurable = 'often'\n", "channels.durable", "Expected `bool`, got `str`"),
        ("[channels]\nstorage_dir = ''\n", "channels.storage_dir", "Expected `str` of length >= 1"),
        ("[channels]\nprefetch = 0\n", "channels.prefetch", "Expected `int` >= 1"),
        ("[telemetry]\nenabled = 'maybe'\n", "telemetry.enabled", "Expected `bool`, got `str`"),
        (
            "[telemetry]\nmetrics_port = 1979-05-27\n",
            "telemetry.metrics_port",
            "Expected `int`, got `date`",
        ),
        ("ray = 5\n", "ray", "Expected `object`, got `int`"),
        ("telemetry = [1, 2]\n", "telemetry", "Expected `object`, got `array`"),
    ],
)
def test_a_value_of_the_wrong_type_or_range_names_file_and_field(
    tmp_path: Path, text: str, path: str, reason: str
) -> None:
    file = _write(tmp_path / "klaw.toml", text)
    error = _load_error(file)
    assert (error.source, error.path, error.reason) == (str(file), path, reason)


@_scratch
@given(
    st.sampled_from([*numeric_fields(), _NAMESPACE]).flatmap(
        lambda var: st.tuples(st.just(var), invalid_values(field_type(var)))
    )
)
def test_out_of_range_values_in_a_file_are_rejected_naming_file_and_field(
    tmp_path: Path, case: tuple[EnvVar, object]
) -> None:
    var, value = case
    file = _write(tmp_path / "klaw.toml", tomli_w.dumps({var.section: {var.field: value}}))
    error = _load_error(file)
    assert error.source == str(file)
    assert error.path == var.path
    assert error.reason.startswith("Expected `")
    assert str(error).startswith(f"{file}: {var.path}: Expected `")


BAD_FILE = """\
telemetry = 7

[channels]
capacity = 0
capasity = 5
timeout = "soon"

[logging]
level = "debug"

[ray]
namespace = "Prod"
max_concurrency = 64
"""


def test_every_problem_of_a_file_is_found_in_the_order_of_the_file(tmp_path: Path) -> None:
    file = _write(tmp_path / "klaw.toml", BAD_FILE)
    raised, problems = _problems(file)
    assert [(error.source, error.path) for error in problems] == [
        (str(file), "telemetry"),
        (str(file), "channels.capacity"),
        (str(file), "channels.capasity"),
        (str(file), "channels.timeout"),
        (str(file), "logging"),
        (str(file), "ray.namespace"),
    ]
    assert [error.reason.split(";")[0] for error in problems] == [
        "Expected `object`, got `int`",
        "Expected `int` >= 1",
        "unknown key in [channels]",
        "Expected `float`, got `str`",
        "unknown section",
        "Expected `str` matching regex '^[a-z][a-z0-9-]*\\\\Z'",
    ]
    assert all(isinstance(error.__cause__, msgspec.ValidationError) for error in problems)
    assert str(raised) == str(problems[0])


def test_a_valid_file_has_no_problems(tmp_path: Path) -> None:
    assert loader_problems(_write(tmp_path / "klaw.toml", FULL_FILE), {}) == []


def test_problems_of_the_file_come_before_those_of_the_environment(tmp_path: Path) -> None:
    file = _write(tmp_path / "klaw.toml", "[channels]\ncapacity = 0\n")
    environ = {"KLAW_CHANELS_CAPACITY": "5", "KLAW_TELEMETRY_ENABLED": "maybe"}
    assert [error.source for error in loader_problems(file, environ)] == [
        str(file),
        "environment variable KLAW_TELEMETRY_ENABLED",
        "environment variable KLAW_CHANELS_CAPACITY",
    ]


def test_a_file_that_cannot_be_read_is_one_problem_and_the_environment_still_counts(
    tmp_path: Path,
) -> None:
    problems = loader_problems(None, {"KLAW_CONFIG": str(tmp_path), "KLAW_RAY_ADRESS": "auto"})
    assert [str(error) for error in problems] == [
        f"{tmp_path}: not a regular file: it is a directory (from KLAW_CONFIG)",
        "environment variable KLAW_RAY_ADRESS: unknown variable; did you mean KLAW_RAY_ADDRESS?",
    ]


def test_malformed_toml_is_one_problem(tmp_path: Path) -> None:
    raised, problems = _problems(_write(tmp_path / "klaw.toml", "[ray]\nx = \n[channels\n"))
    assert len(problems) == 1
    assert problems[0].reason.startswith("invalid TOML: ")
    assert str(problems[0]) == str(raised)
    assert isinstance(problems[0].__cause__, msgspec.DecodeError)


@_scratch
@given(
    st.lists(
        st.sampled_from([*numeric_fields(), _NAMESPACE]).flatmap(
            lambda var: st.tuples(st.just(var), invalid_values(field_type(var)))
        ),
        min_size=1,
        unique_by=lambda case: case[0].name,
    )
)
def test_every_invalid_value_of_a_file_is_a_problem_of_its_own(
    tmp_path: Path, cases: list[tuple[EnvVar, object]]
) -> None:
    document: dict[str, dict[str, object]] = {}
    for var, value in cases:
        document.setdefault(var.section, {})[var.field] = value
    file = _write(tmp_path / "klaw.toml", tomli_w.dumps(document))
    raised, problems = _problems(file)
    expected = [f"{section}.{field}" for section, table in document.items() for field in table]
    assert [error.path for error in problems] == expected
    assert (raised.path, raised.reason) == (problems[0].path, problems[0].reason)


def test_malformed_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    file = _write(tmp_path / "klaw.toml", "[channels\ncapacity = 3\n")
    error = _load_error(file)
    assert error.source == str(file)
    assert error.path is None
    assert error.reason.startswith("invalid TOML: ")
    assert "line 1" in error.reason
    assert isinstance(error.__cause__, msgspec.DecodeError)


def test_a_duplicate_key_is_malformed_toml(tmp_path: Path) -> None:
    error = _load_error(_write(tmp_path / "klaw.toml", "[ray]\nnamespace = 'a'\nnamespace = 'b'\n"))
    assert error.reason.startswith("invalid TOML: ")


def test_deeply_nested_toml_is_reported_not_crashed_on(tmp_path: Path) -> None:
    depth = sys.getrecursionlimit() * 2
    error = _load_error(_write(tmp_path / "klaw.toml", "x = " + "[" * depth + "]" * depth))
    assert error.reason.startswith("invalid TOML: ")


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    error = _load_error(tmp_path / "absent.toml")
    assert (error.source, error.path, error.reason) == (
        str(tmp_path / "absent.toml"),
        None,
        "no such file",
    )
    assert isinstance(error.__cause__, FileNotFoundError)
    assert _load_error(tmp_path / "no-such-dir" / "klaw.toml").reason == "no such file"


def test_a_missing_klaw_config_file_is_an_error_naming_it_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAW_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(caught.value) == f"{tmp_path / 'absent.toml'}: no such file (from KLAW_CONFIG)"


def test_a_dangling_symbolic_link_is_a_missing_file(tmp_path: Path) -> None:
    link = tmp_path / "klaw.toml"
    link.symlink_to(tmp_path / "gone.toml")
    assert _load_error(link).reason == "no such file"


def test_a_symbolic_link_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    link = tmp_path / "klaw.toml"
    link.symlink_to(_write(tmp_path / "real.toml", "[channels]\ncapacity = 6\n"))
    assert load_config(link).channels.capacity == 6


def test_a_directory_is_not_a_regular_file(tmp_path: Path) -> None:
    error = _load_error(tmp_path)
    assert error.source == str(tmp_path)
    assert error.path is None
    assert error.reason == "not a regular file: it is a directory"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("through_a_link", [False, True], ids=["fifo", "link-to-fifo"])
def test_a_fifo_is_refused_without_opening_it(tmp_path: Path, through_a_link: bool) -> None:
    fifo = tmp_path / "klaw.fifo"
    os.mkfifo(fifo)
    target = fifo
    if through_a_link:
        target = tmp_path / "klaw.toml"
        target.symlink_to(fifo)
    # No process writes to the FIFO: a blocking open for reading would never return.
    error = _load_error(target)
    assert (error.source, error.reason) == (str(target), "not a regular file: it is a FIFO")
    _assert_nobody_reads(fifo)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_klaw_config_fifo_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "klaw.fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv("KLAW_CONFIG", str(fifo))
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.reason == "not a regular file: it is a FIFO (from KLAW_CONFIG)"
    _assert_nobody_reads(fifo)


def _assert_nobody_reads(fifo: Path) -> None:
    """Opening a FIFO for writing without blocking fails while no process has it open."""
    with pytest.raises(OSError, match="No such device or address"):
        os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_dev_zero_is_refused_without_reading_it() -> None:
    error = _load_error(Path("/dev/zero"))
    assert (error.source, error.reason) == (
        "/dev/zero",
        "not a regular file: it is a character device",
    )


def test_a_file_at_the_size_limit_loads(tmp_path: Path) -> None:
    comment = "#" * (MAX_FILE_BYTES - len("\n[channels]\ncapacity = 7\n")) + "\n"
    path = _write(tmp_path / "klaw.toml", comment + "[channels]\ncapacity = 7\n")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert load_config(path).channels.capacity == 7


def test_a_file_larger_than_the_limit_is_refused_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "klaw.toml"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # a sparse file of NUL bytes
    opened: list[str] = []
    real_open = os.open

    def recording_open(file: str, flags: int, *args: int) -> int:
        opened.append(os.fspath(file))
        return real_open(file, flags, *args)

    monkeypatch.setattr(os, "open", recording_open)
    error = _load_error(path)
    assert error.reason == f"too large: {MAX_FILE_BYTES + 1} bytes, more than {MAX_FILE_BYTES}"
    assert str(path) not in opened


def test_a_file_that_grows_past_the_limit_after_the_stat_is_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "klaw.toml", "#" * (MAX_FILE_BYTES + 1))
    real_stat, real_fstat = os.stat, os.fstat

    def looks_empty(status: os.stat_result) -> os.stat_result:
        fields = list(status)
        fields[stat.ST_SIZE] = 0  # as it was when checked, before it grew
        return os.stat_result(fields)

    monkeypatch.setattr(os, "stat", lambda file, **kw: looks_empty(real_stat(file, **kw)))
    monkeypatch.setattr(os, "fstat", lambda fd: looks_empty(real_fstat(fd)))
    error = _load_error(path)
    assert error.reason == f"too large: more than {MAX_FILE_BYTES} bytes"


def test_a_path_through_a_file_is_reported_as_unreadable(tmp_path: Path) -> None:
    error = _load_error(_write(tmp_path / "klaw.toml", "") / "inner.toml")
    assert error.reason == "cannot read the file: Not a directory"


def test_a_path_with_a_nul_byte_is_reported_as_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the file: .*null byte"):
        load_config(f"{tmp_path}/kl\0aw.toml")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads unreadable files"
)
def test_a_file_without_read_permission_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "klaw.toml", "")
    path.chmod(0)
    error = _load_error(path)
    assert error.reason == "cannot read the file: Permission denied"


def test_permission_denied_is_reported_as_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "klaw.toml", "")
    real_open = os.open

    def refuse(file: str, flags: int, *args: int) -> int:
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied", file)
        return real_open(file, flags, *args)

    monkeypatch.setattr(os, "open", refuse)
    error = _load_error(path)
    assert error.reason == "cannot read the file: Permission denied"
    assert isinstance(error.__cause__, PermissionError)


def test_bytes_that_are_not_utf8_are_reported_with_their_offset(tmp_path: Path) -> None:
    path = tmp_path / "klaw.toml"
    path.write_bytes(b"[ray]\nnamespace = '\xff'\n")
    error = _load_error(path)
    assert error.reason == "not UTF-8 text: byte 0xff at offset 19"
    assert isinstance(error.__cause__, UnicodeDecodeError)


@_scratch
@given(st.text(st.sampled_from("[]{}=.,'\"\\\n #abcdefrytnlu0123456789-_+:eE")))
def test_no_text_makes_load_config_raise_anything_but_config_error(
    tmp_path: Path, text: str
) -> None:
    file = _write(tmp_path / "klaw.toml", text)
    _loads_or_names_the_file(file)


@_scratch
@given(st.binary(max_size=64))
def test_no_bytes_make_load_config_raise_anything_but_config_error(
    tmp_path: Path, data: bytes
) -> None:
    file = tmp_path / "klaw.toml"
    file.write_bytes(data)
    _loads_or_names_the_file(file)


@_scratch
@given(configs())
def test_save_then_load_gives_an_equal_config(tmp_path: Path, config: KlawConfig) -> None:
    path = tmp_path / "klaw.toml"
    save_config(config, path)
    assert load_config(path) == config


def test_a_default_config_saves_to_comments_only(tmp_path: Path) -> None:
    path = tmp_path / "klaw.toml"
    save_config(KlawConfig(), path)
    lines = path.read_text("utf-8").splitlines()
    assert lines
    assert all(line.startswith("#") for line in lines)
    assert load_config(path) == KlawConfig()


def test_save_writes_only_what_differs_from_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "klaw.toml"
    save_config(KlawConfig(channels=ChannelDefaults(capacity=5)), path)
    body = [line for line in path.read_text("utf-8").splitlines() if not line.startswith("#")]
    assert [line for line in body if line] == ["[channels]", "capacity = 5"]


def test_save_leaves_an_unset_address_out_and_writes_a_set_one(tmp_path: Path) -> None:
    path = tmp_path / "klaw.toml"
    save_config(KlawConfig(ray=RayConfig(namespace="x")), path)
    assert "address" not in path.read_text("utf-8")
    save_config(KlawConfig(ray=RayConfig(address="auto")), path)
    assert 'address = "auto"' in path.read_text("utf-8")


@pytest.mark.parametrize(
    ("config", "path"),
    [
        (KlawConfig(channels=ChannelDefaults(capacity=0)), "channels.capacity"),
        (KlawConfig(ray=RayConfig(address="")), "ray.address"),
        (KlawConfig(telemetry=TelemetryConfig(trace_sample_rate=float("nan"))), None),
    ],
)
def test_save_refuses_an_invalid_config_and_writes_nothing(
    tmp_path: Path, config: KlawConfig, path: str | None
) -> None:
    file = tmp_path / "klaw.toml"
    with pytest.raises(ConfigError, match="refusing to save") as caught:
        save_config(config, file)
    assert caught.value.source == str(file)
    assert caught.value.path == (path or "telemetry.trace_sample_rate")
    assert not file.exists()
    assert list(tmp_path.iterdir()) == []


def test_save_replaces_an_existing_file_keeping_its_permissions(tmp_path: Path) -> None:
    path = _write(tmp_path / "klaw.toml", "[ray]\nnamespace = 'old'\n")
    path.chmod(0o640)
    save_config(KlawConfig(ray=RayConfig(namespace="new")), path)
    assert load_config(path).ray.namespace == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["klaw.toml"]


def test_save_follows_a_symbolic_link(tmp_path: Path) -> None:
    real = _write(tmp_path / "real.toml", "")
    link = tmp_path / "klaw.toml"
    link.symlink_to(real)
    save_config(KlawConfig(channels=ChannelDefaults(capacity=3)), link)
    assert link.is_symlink()
    assert load_config(real).channels.capacity == 3


def test_save_to_a_directory_raises_os_error_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "klaw.toml"
    target.mkdir()
    with pytest.raises(OSError, match="directory"):
        save_config(KlawConfig(channels=ChannelDefaults(capacity=3)), target)
    assert [p.name for p in tmp_path.iterdir()] == ["klaw.toml"]


def test_sources_say_where_each_value_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "klaw.toml", "[channels]\ncapacity = 9\ntimeout = 1\n")
    monkeypatch.setenv("KLAW_CHANNELS_TIMEOUT", "2")
    config, sources = load_config_with_sources(path)
    assert config == load_config(path)
    assert sources.file == str(path)
    assert sources.from_file == {"channels.capacity", "channels.timeout"}
    assert sources.from_environment == {"channels.timeout": "KLAW_CHANNELS_TIMEOUT"}
    assert sources.origin("channels.capacity") == "file"
    assert sources.origin("channels.timeout") == "environment variable KLAW_CHANNELS_TIMEOUT"
    assert sources.origin("ray.namespace") == "default"


def test_sources_of_no_file() -> None:
    _, none = load_config_with_sources()
    assert (none.file, none.from_file, none.from_environment) == (None, frozenset(), {})
