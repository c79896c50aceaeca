"""klaw-types: constrained types and ``Result`` / ``Option`` for every klaw layer.

The constrained aliases (:data:`PositiveInt`, :data:`ChannelCapacity`,
:data:`Identifier`, ...) are ``Annotated`` types that msgspec enforces when it decodes
or converts. ``Result`` (``Ok`` / ``Err``) and ``Option`` (``Some`` / ``Nothing``) are
frozen msgspec structs for in-process control flow.
"""

from __future__ import annotations

from klaw_types.constraints import (
    CHANNEL_CAPACITY_MAX,
    CONCURRENCY_LIMIT_MAX,
    IDENTIFIER_PATTERN,
    NAMESPACE_PATTERN,
    PORT_MAX,
    PORT_MIN,
    TIMEOUT_SECONDS_MAX,
    ChannelCapacity,
    ConcurrencyLimit,
    Identifier,
    Namespace,
    NonNegativeInt,
    Port,
    PositiveInt,
    SampleRate,
    TimeoutSeconds,
)
from klaw_types.errors import KlawTypesError, UnwrapError
from klaw_types.option import Nothing, Option, Some
from klaw_types.result import Err, Ok, Result

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
    "Err",
    "Identifier",
    "KlawTypesError",
    "Namespace",
    "NonNegativeInt",
    "Nothing",
    "Ok",
    "Option",
    "Port",
    "PositiveInt",
    "Result",
    "SampleRate",
    "Some",
    "TimeoutSeconds",
    "UnwrapError",
]
