"""KLAW_<SECTION>_<FIELD> variables: the generated table, parsing, overrides and errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

import klaw_config.env
from config_strategies import env_text, field_type, invalid_values, numeric_fields, valid_values
from klaw_config import (
    CONFIG_FILE_VARIABLE,
    ConfigError,
    EnvVar,
    KlawConfig,
    apply_environment,
    environment_variables,
    load_config,
)

VARIABLES = environment_variables()

# One non-default value per variable: (as spelt in the environment, as loaded).
EXAMPLES: dict[str, tuple[str, object]] = {
    "KLAW_RAY_NAMESPACE": ("prod-2", "prod-2"),
    "KLAW_RAY_ADDRESS": ("ray://head:10001", "ray://head:10001"),
    "KLAW_RAY_MAX_CONCURRENCY": ("5", 5),
    "KLAW_CHANNELS_CAPACITY": ("128", 128),
    "KLAW_CHANNELS_TIMEOUT": ("2.5", 2.5),
    "KLAW_CHANNELS_DELIVERY": ("at_most_once", "at_most_once"),
    "KLAW_CHANNELS_LEASE_SECONDS": ("60", 60.0),
    "KLAW_CHANNELS_DURABLE": ("yes", True),
    "KLAW_CHANNELS_STORAGE_DIR": ("/var/lib/klaw", "/var/lib/klaw"),
    "KLAW_CHANNELS_COALESCE": ("0", False),
    "KLAW_CHANNELS_PREFETCH": ("16", 16),
    "KLAW_EXECUTOR_MAX_WORKERS": ("16", 16),
    "KLAW_EXECUTOR_TASK_TIMEOUT": ("0", 0.0),
    "KLAW_TELEMETRY_ENABLED": ("false", False),
    "KLAW_TELEMETRY_METRICS_PORT": ("9100", 9100),
    "KLAW_TELEMETRY_TRACE_SAMPLE_RATE": ("1", 1.0),
}


def _value(config: KlawConfig, var: EnvVar) -> Any:
    return getattr(getattr(config, var.section), var.field)


def test_no_klaw_variable_from_the_host_reaches_the_tests() -> None:
    assert [name for name in os.environ if name.startswith("KLAW_")] == []


def test_table_has_one_variable_per_field_named_after_section_and_field() -> None:
    expected = [
        (f"KLAW_{section.name.upper()}_{field.name.upper()}", f"{section.name}.{field.name}")
        for section in msgspec.structs.fields(KlawConfig)
        for field in msgspec.structs.fields(section.type)
    ]
    assert [(var.name, var.path) for var in VARIABLES] == expected
    names = [var.name for var in VARIABLES]
    assert len(set(names)) == len(names)
    assert CONFIG_FILE_VARIABLE not in names


def test_table_carries_each_fields_default_type_and_description() -> None:
    by_name = {var.name: var for var in VARIABLES}
    assert by_name["KLAW_CHANNELS_CAPACITY"].default == 1024
    assert by_name["KLAW_CHANNELS_CAPACITY"].value_type == "integer, 1 to 1000000"
    assert by_name["KLAW_CHANNELS_TIMEOUT"].value_type == "number, 0.0 to 86400.0"
    assert by_name["KLAW_TELEMETRY_ENABLED"].value_type == "boolean"
    assert by_name["KLAW_RAY_ADDRESS"].default is None
    assert by_name["KLAW_RAY_ADDRESS"].value_type == "string, at least 1 character; or not set"
    assert by_name["KLAW_RAY_NAMESPACE"].value_type == (
        r"string, 1 to 63 characters, matching ^[a-z][a-z0-9-]*\Z"
    )
    assert by_name["KLAW_CHANNELS_DELIVERY"].default == "at_least_once"
    assert by_name["KLAW_CHANNELS_DELIVERY"].value_type == (
        "one of 'at_least_once', 'at_most_once'"
    )
    assert by_name["KLAW_CHANNELS_LEASE_SECONDS"].value_type == "number, 1.0 to 86400.0"
    assert by_name["KLAW_CHANNELS_DURABLE"].default is False
    assert by_name["KLAW_CHANNELS_STORAGE_DIR"].default is None
    assert by_name["KLAW_CHANNELS_STORAGE_DIR"].value_type == (
        "string, at least 1 character; or not set"
    )
    assert by_name["KLAW_CHANNELS_COALESCE"].default is True
    assert by_name["KLAW_CHANNELS_PREFETCH"].value_type == "integer, 1 to 100000"
    for var in VARIABLES:
        assert var.description, var.name
        assert var.default == getattr(getattr(KlawConfig(), var.section), var.field)


def test_module_documentation_lists_exactly_the_generated_variables() -> None:
    doc = klaw_config.env.__doc__ or ""
    rows = [line.split(maxsplit=2) for line in doc.splitlines() if line.startswith("KLAW_")]
    expected = [
        [
            var.name,
            var.path,
            "not set" if var.default is None else f"``{tomli_w.dumps({'v': var.default})[4:-1]}``",
        ]
        for var in VARIABLES
    ]
    assert rows == expected


def test_examples_cover_every_variable_with_a_value_other_than_the_default() -> None:
    assert set(EXAMPLES) == {var.name for var in VARIABLES}
    for var in VARIABLES:
        assert EXAMPLES[var.name][1] != var.default, var.name


@pytest.mark.parametrize("var", VARIABLES, ids=lambda var: var.name)
def test_every_variable_overrides_its_field_when_loading(
    var: EnvVar, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, expected = EXAMPLES[var.name]
    monkeypatch.setenv(var.name, text)
    config = load_config()
    assert _value(config, var) == expected
    others = [other for other in VARIABLES if other is not var]
    assert all(_value(config, other) == other.default for other in others)


@pytest.mark.parametrize("var", VARIABLES, ids=lambda var: var.name)
def test_environment_wins_over_the_file(
    var: EnvVar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, expected = EXAMPLES[var.name]
    file = tmp_path / "klaw.toml"
    file.write_text(tomli_w.dumps({var.section: {var.field: _file_value(var)}}), "utf-8")
    monkeypatch.setenv(var.name, text)
    assert _value(load_config(file), var) == expected


def _file_value(var: EnvVar) -> object:
    """A valid value for the file that differs from the example.

    It differs from the default too, except where the field has only two values (the
    booleans and ``channels.delivery``): then it is the default, and the environment's
    value still has to win over it.
    """
    candidates: dict[str, object] = {
        "KLAW_RAY_NAMESPACE": "from-file",
        "KLAW_RAY_ADDRESS": "auto",
        "KLAW_CHANNELS_DELIVERY": "at_least_once",
        "KLAW_CHANNELS_DURABLE": False,
        "KLAW_CHANNELS_STORAGE_DIR": "/srv/klaw",
        "KLAW_CHANNELS_COALESCE": True,
        "KLAW_TELEMETRY_ENABLED": True,
        "KLAW_TELEMETRY_METRICS_PORT": 9200,
        "KLAW_TELEMETRY_TRACE_SAMPLE_RATE": 0.5,
    }
    return candidates.get(var.name, 3)


@given(st.sampled_from(VARIABLES).flatmap(lambda var: st.tuples(st.just(var), _spelt(var))))
def test_any_valid_value_spelt_for_the_environment_overrides_its_field(
    case: tuple[EnvVar, tuple[str, object]],
) -> None:
    var, (text, value) = case
    config = apply_environment(KlawConfig(), {var.name: text})
    assert _value(config, var) == value


def _spelt(var: EnvVar) -> st.SearchStrategy[tuple[str, object]]:
    return valid_values(field_type(var)).flatmap(
        lambda value: env_text(value).map(lambda text: (text, value))
    )


@pytest.mark.parametrize(
    ("name", "text", "explanation"),
    [
        ("KLAW_CHANNELS_CAPACITY", "abc", "Expected `int`, got `str`"),
        ("KLAW_CHANNELS_CAPACITY", "0", "Expected `int` >= 1"),
        ("KLAW_CHANNELS_CAPACITY", "1000001", "Expected `int` <= 1000000"),
        ("KLAW_CHANNELS_CAPACITY", "", "Expected `int`, got `str`"),
        ("KLAW_EXECUTOR_MAX_WORKERS", " 8", "Expected `int`, got `str`"),
        ("KLAW_EXECUTOR_MAX_WORKERS", "2.5", "Expected `int`, got `str`"),
        ("KLAW_TELEMETRY_METRICS_PORT", "80", "Expected `int` >= 1024"),
        ("KLAW_TELEMETRY_TRACE_SAMPLE_RATE", "1.5", "Expected `float` <= 1.0"),
        ("KLAW_CHANNELS_TIMEOUT", "nan", "Expected `float` >= 0.0"),
        ("KLAW_CHANNELS_TIMEOUT", "-1", "Expected `float` >= 0.0"),
        ("KLAW_CHANNELS_DELIVERY", "exactly_once", "Invalid enum value 'exactly_once'"),
        ("KLAW_CHANNELS_DELIVERY", "AT_MOST_ONCE", "Invalid enum value 'AT_MOST_ONCE'"),
        ("KLAW_CHANNELS_DELIVERY", "", "Invalid enum value ''"),
        ("KLAW_CHANNELS_LEASE_SECONDS", "0.5", "Expected `float` >= 1.0"),
        ("KLAW_CHANNELS_LEASE_SECONDS", "inf", "Expected `float` <= 86400.0"),
        ("KLAW_CHANNELS_DURABLE", "sometimes", "Expected true, false, 1, 0, yes or no"),
        ("KLAW_CHANNELS_COALESCE", "", "Expected true, false, 1, 0, yes or no"),
        ("KLAW_CHANNELS_PREFETCH", "0", "Expected `int` >= 1"),
        ("KLAW_CHANNELS_PREFETCH", "100001", "Expected `int` <= 100000"),
        ("KLAW_RAY_NAMESPACE", "", "Expected `str` of length >= 1"),
        ("KLAW_RAY_NAMESPACE", "Prod", "Expected `str` matching regex"),
        ("KLAW_TELEMETRY_ENABLED", "maybe", "Expected true, false, 1, 0, yes or no"),
        ("KLAW_TELEMETRY_ENABLED", "", "Expected true, false, 1, 0, yes or no"),
        ("KLAW_TELEMETRY_ENABLED", "on", "Expected true, false, 1, 0, yes or no"),
    ],
)
def test_an_invalid_value_is_reported_by_variable_and_field(
    name: str, text: str, explanation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    var = next(var for var in VARIABLES if var.name == name)
    monkeypatch.setenv(name, text)
    with pytest.raises(ConfigError) as caught:
        load_config()
    error = caught.value
    assert error.source == f"environment variable {name}"
    assert error.path == var.path
    assert explanation in error.reason
    assert repr(text) in error.reason
    assert str(error).startswith(f"environment variable {name}: {var.path}: ")
    if not isinstance(field_type(var), msgspec.inspect.BoolType):
        assert isinstance(error.__cause__, msgspec.ValidationError)


@given(st.sampled_from(numeric_fields()).flatmap(lambda v: st.tuples(st.just(v), _outside(v))))
def test_out_of_range_numbers_in_the_environment_are_rejected_naming_the_field(
    case: tuple[EnvVar, object],
) -> None:
    var, value = case
    text = repr(value) if isinstance(value, float) else str(value)
    with pytest.raises(ConfigError) as caught:
        apply_environment(KlawConfig(), {var.name: text})
    assert caught.value.source == f"environment variable {var.name}"
    assert caught.value.path == var.path
    assert re.match(r"Expected `(int|float)` (>=|<=) ", caught.value.reason)


def _outside(var: EnvVar) -> st.SearchStrategy[object]:
    return invalid_values(field_type(var))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("YES", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("No", False),
    ],
)
def test_booleans_accept_true_false_one_zero_yes_no_in_any_case(
    text: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAW_TELEMETRY_ENABLED", text)
    assert load_config().telemetry.enabled is expected


def test_an_empty_value_unsets_an_optional_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "klaw.toml"
    file.write_text('[ray]\naddress = "auto"\n[channels]\nstorage_dir = "/srv"\n', "utf-8")
    loaded = load_config(file)
    assert (loaded.ray.address, loaded.channels.storage_dir) == ("auto", "/srv")
    monkeypatch.setenv("KLAW_RAY_ADDRESS", "")
    monkeypatch.setenv("KLAW_CHANNELS_STORAGE_DIR", "")
    unset = load_config(file)
    assert (unset.ray.address, unset.channels.storage_dir) == (None, None)


def test_string_values_are_used_exactly_as_given() -> None:
    config = apply_environment(KlawConfig(), {"KLAW_RAY_ADDRESS": " auto "})
    assert config.ray.address == " auto "


def test_apply_environment_returns_a_new_config_and_leaves_the_old_alone() -> None:
    base = KlawConfig()
    changed = apply_environment(base, {"KLAW_CHANNELS_CAPACITY": "7", "KLAW_CHANNELS_TIMEOUT": "1"})
    assert base == KlawConfig()
    assert changed.channels.capacity == 7
    assert changed.channels.timeout == 1.0
    assert changed.ray is base.ray


def test_apply_environment_without_variables_returns_the_same_config() -> None:
    base = KlawConfig()
    assert apply_environment(base, {}) is base


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("KLAW_CHANELS_CAPACITY", "KLAW_CHANNELS_CAPACITY"),  # a section misspelt
        ("KLAW_CHANNEL_CAPACITY", "KLAW_CHANNELS_CAPACITY"),
        ("KLAW_EXECUTER_MAX_WORKERS", "KLAW_EXECUTOR_MAX_WORKERS"),
        ("KLAW_RAY_ADRESS", "KLAW_RAY_ADDRESS"),  # a field misspelt
        ("KLAW_CHANNELS__CAPACITY", "KLAW_CHANNELS_CAPACITY"),  # a doubled underscore
        ("KLAW_CHANNELS_CAPACITYX", "KLAW_CHANNELS_CAPACITY"),
        ("KLAW_TELEMETRY", "KLAW_TELEMETRY_ENABLED"),  # a section alone
        ("KLAW_TELEMETRY_PORT", "KLAW_TELEMETRY_METRICS_PORT"),
        ("KLAW_CAPACITY", "KLAW_CHANNELS_CAPACITY"),  # a field without its section
        ("KLAW_PREFETCH", "KLAW_CHANNELS_PREFETCH"),
        ("KLAW_CONFG", "KLAW_CONFIG"),  # the file's variable misspelt
        ("KLAW_CONFIG_FILE", "KLAW_CONFIG"),
        ("KLAW_CONFIG_PATH", "KLAW_CONFIG"),
        ("KLAW_CFG", "KLAW_CONFIG"),
        ("KLAW_NAMESPACE", "KLAW_RAY_NAMESPACE"),  # near a variable as a whole
        ("KLAW_CHANNELSCAPACITY", "KLAW_CHANNELS_CAPACITY"),
        ("klaw_ray_namespace", "KLAW_RAY_NAMESPACE"),  # the wrong case
        ("klaw_config", "KLAW_CONFIG"),
    ],
)
def test_a_misspelt_variable_is_an_error_naming_the_closest_real_one(
    name: str, meant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, "5")
    with pytest.raises(ConfigError) as caught:
        load_config()
    error = caught.value
    assert (error.source, error.path) == (f"environment variable {name}", None)
    assert error.reason == f"unknown variable; did you mean {meant}?"
    assert str(error) == f"environment variable {name}: unknown variable; did you mean {meant}?"
    with pytest.raises(ConfigError, match=f"did you mean {meant}"):
        apply_environment(KlawConfig(), {name: "5"})


@pytest.mark.parametrize(
    "name",
    [
        "KLAW_REQUIRE_INTEROP",
        "KLAW_HOME",
        "KLAW_NOPE",
        "KLAW_LOG_LEVEL",
        "KLAW_DEBUG",
        "KLAW_TEST_RAY",
        "KLAW_",
        "KLAWS_CHANNELS_CAPACITY",
        "XKLAW_RAY_NAMESPACE",
        "RAY_ADDRESS",
    ],
)
def test_a_variable_that_does_not_look_like_configuration_is_left_alone(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, "0")
    assert load_config() == KlawConfig()
    assert apply_environment(KlawConfig(), {name: "0"}) == KlawConfig()


def test_klaw_config_is_not_an_unknown_variable(tmp_path: Path) -> None:
    file = tmp_path / "klaw.toml"
    file.write_text("", "utf-8")
    assert apply_environment(KlawConfig(), {CONFIG_FILE_VARIABLE: str(file)}) == KlawConfig()
    assert apply_environment(KlawConfig(), {CONFIG_FILE_VARIABLE: ""}) == KlawConfig()


def _slips(name: str) -> st.SearchStrategy[str]:
    """``name`` with one slip of the finger after ``KLAW_``: a letter left out, doubled,
    replaced by another, or swapped with the next."""
    start = len("KLAW_")
    letters = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
    return st.integers(start, len(name) - 2).flatmap(
        lambda i: (
            st.sampled_from(
                [
                    name[:i] + name[i + 1 :],
                    name[:i] + name[i] + name[i:],
                    name[:i] + name[i + 1] + name[i] + name[i + 2 :],
                ]
            )
            | letters.map(lambda letter: name[:i] + letter + name[i + 1 :])
        )
    )


@given(st.sampled_from([*(var.name for var in VARIABLES), CONFIG_FILE_VARIABLE]).flatmap(_slips))
def test_any_one_slip_in_a_real_variable_is_reported(name: str) -> None:
    real = [*(var.name for var in VARIABLES), CONFIG_FILE_VARIABLE]
    if name in real:  # the slip made another real variable, or changed nothing
        return
    with pytest.raises(ConfigError) as caught:
        apply_environment(KlawConfig(), {name: "1"})
    assert caught.value.source == f"environment variable {name}"
    suggestion = caught.value.reason.removeprefix("unknown variable; did you mean ")
    assert suggestion.removesuffix("?") in real


def test_a_misspelt_variable_sets_nothing_even_beside_a_valid_one() -> None:
    environ = {"KLAW_CHANNELS_CAPACITY": "7", "KLAW_CHANELS_TIMEOUT": "1"}
    with pytest.raises(ConfigError, match="KLAW_CHANELS_TIMEOUT"):
        apply_environment(KlawConfig(), environ)


def test_apply_environment_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLAW_EXECUTOR_MAX_WORKERS", "3")
    assert apply_environment(KlawConfig()).executor.max_workers == 3


def test_an_invalid_variable_reports_the_first_in_table_order() -> None:
    environ = {"KLAW_TELEMETRY_METRICS_PORT": "1", "KLAW_RAY_NAMESPACE": "-bad"}
    with pytest.raises(ConfigError, match="KLAW_RAY_NAMESPACE"):
        apply_environment(KlawConfig(), environ)


def test_every_problem_of_the_environment_is_listed_invalid_values_first() -> None:
    environ = {
        "KLAW_TELEMETRY_METRICS_PORT": "1",
        "KLAW_RAY_NAMESPACE": "-bad",
        "KLAW_RAY_ADRESS": "auto",
        "KLAW_CONFG": "klaw.toml",
        "KLAW_CHANNELS_CAPACITY": "8",
        "KLAW_REQUIRE_INTEROP": "1",
    }
    problems = klaw_config.env._environment_problems(environ)
    assert [(error.source, error.path) for error in problems] == [
        ("environment variable KLAW_RAY_NAMESPACE", "ray.namespace"),
        ("environment variable KLAW_TELEMETRY_METRICS_PORT", "telemetry.metrics_port"),
        ("environment variable KLAW_CONFG", None),
        ("environment variable KLAW_RAY_ADRESS", None),
    ]
    with pytest.raises(ConfigError) as caught:
        apply_environment(KlawConfig(), environ)
    assert str(caught.value) == str(problems[0])
    assert klaw_config.env._environment_problems({"KLAW_CHANNELS_CAPACITY": "8"}) == []
