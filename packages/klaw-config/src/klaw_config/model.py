"""The configuration model: one frozen msgspec struct per TOML section.

Every struct is ``frozen=True`` (a loaded configuration cannot change under the code
that uses it; derive a new one with :func:`msgspec.structs.replace`),
``forbid_unknown_fields=True`` (a misspelt key is an error, not silently ignored) and
``omit_defaults=True`` (a saved configuration lists only what differs from the
defaults). Field types carry klaw-types constraints, checked whenever msgspec decodes or
converts into the model: by :func:`~klaw_config.load_config`, not by the constructors,
which trust their arguments as msgspec constructors always do.

Each field is documented by the ``description`` of its :class:`msgspec.Meta`, which is
what ``python -m klaw_config init`` writes above every key and what
``msgspec.json.schema(KlawConfig)`` reports.

Example:
    >>> from klaw_config import KlawConfig
    >>> KlawConfig().channels.capacity
    1024
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from klaw_types import (
    ChannelCapacity,
    ConcurrencyLimit,
    Namespace,
    Port,
    SampleRate,
    TimeoutSeconds,
)

__all__ = ["ChannelDefaults", "ExecutorConfig", "KlawConfig", "RayConfig", "TelemetryConfig"]


class RayConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """How klaw connects to Ray.

    The ``[ray]`` section of the configuration file.
    """

    namespace: Annotated[
        Namespace,
        msgspec.Meta(description="Ray namespace that klaw's named channel actors live in."),
    ] = "klaw"
    address: Annotated[
        Annotated[str, msgspec.Meta(min_length=1)] | None,
        msgspec.Meta(
            description=(
                'Address of the Ray cluster to join, such as "auto" or "ray://head:10001". '
                "Not set: start an embedded local Ray instance."
            )
        ),
    ] = None
    max_concurrency: Annotated[
        ConcurrencyLimit,
        msgspec.Meta(description="How many calls one channel actor serves at the same time."),
    ] = 64


class ChannelDefaults(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Settings for channels created without their own.

    The ``[channels]`` section of the configuration file.
    """

    capacity: Annotated[
        ChannelCapacity,
        msgspec.Meta(description="How many items a channel holds before a send has to wait."),
    ] = 1024
    timeout: Annotated[
        TimeoutSeconds,
        msgspec.Meta(
            description=(
                "Ray channels: seconds a handle keeps retrying a call that Ray reports "
                "unavailable (the channel's actor restarting or unreachable), counted from "
                "that first report, before it raises ChannelBackendError; 0 retries "
                "nothing. A call to an actor gone for good fails at once."
            )
        ),
    ] = 30.0
    delivery: Annotated[
        Literal["at_least_once", "at_most_once"],
        msgspec.Meta(
            description=(
                "Ray channels: at_least_once leases each value to its receiver until it is "
                "acknowledged and redelivers it if the receiver dies; at_most_once never "
                "redelivers."
            )
        ),
    ] = "at_least_once"
    lease_seconds: Annotated[
        float,
        msgspec.Meta(
            ge=1.0,
            le=86400.0,
            description=(
                "Ray channels: seconds a received value may stay unacknowledged before it "
                "returns to the channel for another receiver."
            ),
        ),
    ] = 300.0
    durable: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "Ray channels: keep the queue in an SQLite database on the actor's node, so "
                "that a restarted actor loses nothing."
            )
        ),
    ] = False
    storage_dir: Annotated[
        Annotated[str, msgspec.Meta(min_length=1)] | None,
        msgspec.Meta(
            description=(
                "Directory, on the channel actor's node, of durable channels' databases. "
                "Not set: $XDG_DATA_HOME/klaw/channels (~/.local/share/klaw/channels)."
            )
        ),
    ] = None
    coalesce: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "Ray channels: send() returns once the value is buffered (with room reserved "
                "in the channel) and buffered values travel in batches; false: send() "
                "returns once the value is in the channel."
            )
        ),
    ] = True
    prefetch: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=100_000,
            description=(
                "Ray channels: most values one receiver fetches ahead of its caller (its"
                " window adapts to the consumer, up to this)."
            ),
        ),
    ] = 1024


class ExecutorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The task executor.

    The ``[executor]`` section of the configuration file.
    """

    max_workers: Annotated[
        ConcurrencyLimit,
        msgspec.Meta(description="How many tasks the executor runs at the same time."),
    ] = 8
    task_timeout: Annotated[
        TimeoutSeconds,
        msgspec.Meta(description="Seconds one task may run before it is cancelled."),
    ] = 300.0


class TelemetryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Metrics and tracing.

    The ``[telemetry]`` section of the configuration file.
    """

    enabled: Annotated[
        bool, msgspec.Meta(description="Whether klaw collects metrics and traces at all.")
    ] = True
    metrics_port: Annotated[
        Port,
        msgspec.Meta(description="TCP port the Prometheus metrics endpoint listens on."),
    ] = 9464
    trace_sample_rate: Annotated[
        SampleRate,
        msgspec.Meta(
            description="Fraction of sent values traced (latency histogram): 0.0 none, 1.0 all."
        ),
    ] = 0.1


class KlawConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The whole klaw configuration: one field per TOML section.

    A section left out of the file, or a key left out of a section, keeps its default,
    so ``KlawConfig()`` is the configuration of a process with no file and no
    ``KLAW_*`` environment variables. Each section's class docstring describes it.
    """

    ray: RayConfig = RayConfig()
    channels: ChannelDefaults = ChannelDefaults()
    executor: ExecutorConfig = ExecutorConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
