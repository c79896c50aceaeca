"""Constrained scalar types shared by every klaw layer.

Each name is an ``Annotated`` alias carrying a :class:`msgspec.Meta` constraint. The
constraint is enforced whenever msgspec decodes or converts into a type that uses the
alias (``msgspec.msgpack.decode``, ``msgspec.json.decode``, ``msgspec.convert``, a
struct field), and a violation raises :class:`msgspec.ValidationError` whose message
names the bound and the path of the offending field, for example
``Expected `int` >= 1 - at `$.capacity```.

Static type checkers see the plain base type (``int``, ``float``, ``str``); the range is
checked at the boundary where untrusted data enters, not on every assignment.

Example:
    >>> import msgspec
    >>> from klaw_types import ChannelCapacity
    >>> class Settings(msgspec.Struct):
    ...     capacity: ChannelCapacity = 1024
    >>> msgspec.convert({"capacity": 0}, Settings)
    Traceback (most recent call last):
    ...
    msgspec.ValidationError: Expected `int` >= 1 - at `$.capacity`
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

__all__ = [
    "CHANNEL_CAPACITY_MAX",
    "CONCURRENCY_LIMIT_MAX",
    "IDENTIFIER_PATTERN",
    "NAMESPACE_PATTERN",
    "PORT_MAX",
    "PORT_MIN",
    "TIMEOUT_SECONDS_MAX",
    "ChannelCapacity",
    "ConcurrencyLimit",
    "Identifier",
    "Namespace",
    "NonNegativeInt",
    "Port",
    "PositiveInt",
    "SampleRate",
    "TimeoutSeconds",
]

CHANNEL_CAPACITY_MAX: Final = 1_000_000
"""Largest capacity a bounded channel may have."""

TIMEOUT_SECONDS_MAX: Final = 86_400.0
"""Longest timeout accepted anywhere in klaw: one day."""

CONCURRENCY_LIMIT_MAX: Final = 10_000
"""Largest concurrency limit (workers, concurrent actor calls)."""

PORT_MIN: Final = 1024
"""Lowest port klaw will listen on: privileged ports are refused."""

PORT_MAX: Final = 65_535
"""Highest TCP/UDP port number."""

IDENTIFIER_PATTERN: Final = r"^[a-zA-Z_][a-zA-Z0-9_-]*\Z"
r"""Regular expression an :data:`Identifier` must match.

It ends in ``\Z``, not ``$``: msgspec applies patterns with ``re.search``, and ``$`` would
also match before a trailing newline, letting ``"foo\n"`` through.
"""

NAMESPACE_PATTERN: Final = r"^[a-z][a-z0-9-]*\Z"
r"""Regular expression a :data:`Namespace` must match (``\Z``: no trailing newline)."""

PositiveInt = Annotated[int, msgspec.Meta(gt=0, description="An integer greater than 0.")]
"""An integer ``> 0``: counts and sizes that cannot be empty."""

NonNegativeInt = Annotated[
    int, msgspec.Meta(ge=0, description="An integer greater than or equal to 0.")
]
"""An integer ``>= 0``: counters, offsets and sequence numbers."""

ChannelCapacity = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=CHANNEL_CAPACITY_MAX,
        description="Number of items a bounded channel holds, 1 to 1,000,000.",
    ),
]
"""Capacity of a bounded channel: ``1 <= n <= 1_000_000``."""

TimeoutSeconds = Annotated[
    float,
    msgspec.Meta(
        ge=0.0,
        le=TIMEOUT_SECONDS_MAX,
        description="A duration in seconds, 0 to 86,400 (one day).",
    ),
]
"""A timeout in seconds: ``0.0 <= t <= 86_400.0``. Integers are accepted as floats."""

ConcurrencyLimit = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=CONCURRENCY_LIMIT_MAX,
        description="How many operations may run at once, 1 to 10,000.",
    ),
]
"""How many things may run at once: ``1 <= n <= 10_000``."""

Identifier = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=255,
        pattern=IDENTIFIER_PATTERN,
        description=(
            "A name of 1 to 255 characters: a letter or underscore, then letters, "
            "digits, underscores or dashes."
        ),
    ),
]
"""A name (channel, actor, reader): 1 to 255 characters matching ``^[a-zA-Z_][a-zA-Z0-9_-]*$``."""

Namespace = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=63,
        pattern=NAMESPACE_PATTERN,
        description=(
            "A namespace of 1 to 63 characters: a lowercase letter, then lowercase "
            "letters, digits or dashes."
        ),
    ),
]
"""A Ray namespace: 1 to 63 characters matching ``^[a-z][a-z0-9-]*$``."""

Port = Annotated[
    int,
    msgspec.Meta(ge=PORT_MIN, le=PORT_MAX, description="An unprivileged TCP port, 1024 to 65535."),
]
"""An unprivileged TCP port: ``1024 <= p <= 65_535``."""

SampleRate = Annotated[
    float,
    msgspec.Meta(ge=0.0, le=1.0, description="A fraction of events to sample, 0.0 to 1.0."),
]
"""A sampling fraction: ``0.0 <= r <= 1.0`` (0 samples nothing, 1 samples everything)."""
