"""The TOML the command line prints and writes: it loads back, and it says enough."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from config_strategies import configs
from klaw_config import (
    ChannelDefaults,
    ConfigSources,
    KlawConfig,
    environment_variables,
    load_config,
    load_config_with_sources,
)
from klaw_config._render import render_effective, render_starter

_KEY_LINE = re.compile(r"# (?P<key>\w+) = (?P<value>.*)")


def _no_sources() -> ConfigSources:
    return ConfigSources(file=None, from_file=frozenset(), from_environment={})


def test_starter_loads_back_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "klaw.toml"
    path.write_text(render_starter(), "utf-8")
    assert load_config(path) == KlawConfig()


def test_starter_with_every_key_uncommented_still_gives_the_defaults(tmp_path: Path) -> None:
    uncommented = [
        line[2:] if _KEY_LINE.fullmatch(line) else line for line in render_starter().splitlines()
    ]
    keys = [line.split(" = ")[0] for line in uncommented if " = " in line and line[0] != "#"]
    expected = [var.field for var in environment_variables() if var.default is not None]
    assert keys == expected
    path = tmp_path / "klaw.toml"
    path.write_text("\n".join(uncommented), "utf-8")
    config, sources = load_config_with_sources(path)
    assert config == KlawConfig()
    assert sources.from_file == {
        var.path for var in environment_variables() if var.default is not None
    }


def test_starter_documents_every_field_with_its_variable_and_type() -> None:
    text = render_starter()
    for var in environment_variables():
        assert f"# Environment variable: {var.name}\n" in text
        assert var.description.split()[0] in text
        assert var.value_type.split(",")[0] in text
    assert "# (address is not set by default)" in text
    assert "# (storage_dir is not set by default)" in text
    assert "# Type: one of 'at_least_once', 'at_most_once'.\n" in text
    assert all(len(line) <= 88 for line in text.splitlines())


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(configs())
def test_effective_text_loads_back_to_the_config(tmp_path: Path, config: KlawConfig) -> None:
    path = tmp_path / "shown.toml"
    path.write_text(render_effective(config, _no_sources()), "utf-8")
    assert load_config(path) == config


def test_effective_text_names_the_origin_of_every_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "klaw.toml"
    path.write_text("[channels]\ncapacity = 9\n[ray]\naddress = 'auto'\n", "utf-8")
    monkeypatch.setenv("KLAW_CHANNELS_TIMEOUT", "2")
    monkeypatch.setenv("KLAW_RAY_ADDRESS", "")
    text = render_effective(*load_config_with_sources(path))
    lines = text.splitlines()
    assert f"# File: {path}" in lines
    assert "capacity = 9  # file" in lines
    assert "timeout = 2.0  # environment variable KLAW_CHANNELS_TIMEOUT" in lines
    assert "# address: not set  # environment variable KLAW_RAY_ADDRESS" in lines
    assert 'namespace = "klaw"  # default' in lines
    assert "enabled = true  # default" in lines
    assert [line for line in lines if line.startswith("[")] == [
        "[ray]",
        "[channels]",
        "[executor]",
        "[telemetry]",
    ]


def test_effective_text_says_when_there_is_no_file() -> None:
    config = KlawConfig(channels=ChannelDefaults(capacity=2))
    assert (
        "# File: none (no file given and KLAW_CONFIG is not set)"
        in render_effective(config, _no_sources()).splitlines()
    )
