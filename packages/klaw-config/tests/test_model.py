"""The configuration structs: defaults, immutability, documentation, strictness."""

from __future__ import annotations

import msgspec
import pytest

from klaw_config import (
    ChannelDefaults,
    ExecutorConfig,
    KlawConfig,
    RayConfig,
    TelemetryConfig,
)

SECTIONS: list[type[msgspec.Struct]] = [RayConfig, ChannelDefaults, ExecutorConfig, TelemetryConfig]


def test_default_instantiation_has_the_documented_values() -> None:
    config = KlawConfig()
    assert config.ray == RayConfig(namespace="klaw", address=None, max_concurrency=64)
    assert config.channels == ChannelDefaults(
        capacity=1024,
        timeout=30.0,
        delivery="at_least_once",
        lease_seconds=300.0,
        durable=False,
        storage_dir=None,
        coalesce=True,
        prefetch=1024,
    )
    assert config.executor == ExecutorConfig(max_workers=8, task_timeout=300.0)
    assert config.telemetry == TelemetryConfig(
        enabled=True, metrics_port=9464, trace_sample_rate=0.1
    )


def test_defaults_satisfy_their_own_constraints() -> None:
    for section in SECTIONS:
        defaults = {f.name: f.default for f in msgspec.structs.fields(section)}
        assert msgspec.convert(defaults, section) == section()


def test_configuration_is_frozen() -> None:
    config = KlawConfig()
    with pytest.raises(AttributeError):
        config.channels = ChannelDefaults(capacity=1)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.channels.capacity = 1  # type: ignore[misc]


def test_sections_default_to_their_own_defaults() -> None:
    config = KlawConfig()
    for field in msgspec.structs.fields(KlawConfig):
        assert getattr(config, field.name) == field.type()


@pytest.mark.parametrize("struct", [KlawConfig, *SECTIONS], ids=lambda s: s.__name__)
def test_every_struct_forbids_unknown_fields_and_omits_defaults(
    struct: type[msgspec.Struct],
) -> None:
    config = struct.__struct_config__
    assert config.forbid_unknown_fields
    assert config.omit_defaults
    assert config.frozen
    with pytest.raises(msgspec.ValidationError, match="unknown field `surplus`"):
        msgspec.convert({"surplus": 1}, struct)


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.__name__)
def test_every_field_has_a_description(section: type[msgspec.Struct]) -> None:
    schema = msgspec.json.schema(section)
    properties = schema["$defs"][section.__name__]["properties"]
    assert set(properties) == {f.name for f in msgspec.structs.fields(section)}
    undocumented = [name for name, spec in properties.items() if not spec.get("description")]
    assert undocumented == []


def test_an_empty_ray_address_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"length >= 1 - at `\$.address`"):
        msgspec.convert({"address": ""}, RayConfig)
