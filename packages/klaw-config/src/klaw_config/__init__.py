"""klaw-config: one validated configuration for every klaw process.

The configuration is assembled from the defaults of :class:`KlawConfig`, a TOML file and
``KLAW_<SECTION>_<FIELD>`` environment variables, in that order, and checked against the
klaw-types constraints as it loads. Anything wrong is a :class:`ConfigError` naming the
file or variable and the field.

Example:
    >>> from klaw_config import load_config
    >>> config = load_config("klaw.toml")  # doctest: +SKIP
    >>> config.channels.capacity  # doctest: +SKIP
    1024

``python -m klaw_config check | show | init`` checks a file, shows the effective
configuration with the source of each value, and writes a commented starter file.
"""

from __future__ import annotations

from klaw_config.cli import main
from klaw_config.env import (
    CONFIG_FILE_VARIABLE,
    ENV_PREFIX,
    EnvVar,
    apply_environment,
    environment_variables,
)
from klaw_config.errors import ConfigError
from klaw_config.loader import (
    ConfigSources,
    load_config,
    load_config_with_sources,
    save_config,
)
from klaw_config.model import (
    ChannelDefaults,
    ExecutorConfig,
    KlawConfig,
    RayConfig,
    TelemetryConfig,
)

__all__ = [
    "CONFIG_FILE_VARIABLE",
    "ENV_PREFIX",
    "ChannelDefaults",
    "ConfigError",
    "ConfigSources",
    "EnvVar",
    "ExecutorConfig",
    "KlawConfig",
    "RayConfig",
    "TelemetryConfig",
    "apply_environment",
    "environment_variables",
    "load_config",
    "load_config_with_sources",
    "main",
    "save_config",
]
