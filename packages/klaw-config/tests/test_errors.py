"""ConfigError carries its source, field path and reason, and builds its message from them."""

from __future__ import annotations

import pickle

import pytest

from klaw_config import ConfigError


def test_message_names_source_path_and_reason() -> None:
    error = ConfigError("/etc/klaw.toml", "Expected `int` >= 1", "channels.capacity")
    assert str(error) == "/etc/klaw.toml: channels.capacity: Expected `int` >= 1"
    assert (error.source, error.path, error.reason) == (
        "/etc/klaw.toml",
        "channels.capacity",
        "Expected `int` >= 1",
    )


def test_message_without_a_field_path_names_the_source_only() -> None:
    error = ConfigError("klaw.toml", "cannot read the file: Permission denied")
    assert error.path is None
    assert str(error) == "klaw.toml: cannot read the file: Permission denied"


def test_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad"):
        raise ConfigError("klaw.toml", "bad")


def test_survives_pickling_with_its_attributes() -> None:
    error = ConfigError("environment variable KLAW_X", "Expected `int`", "a.b")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ConfigError
    assert (copy.source, copy.reason, copy.path) == (error.source, error.reason, error.path)
    assert str(copy) == str(error)
