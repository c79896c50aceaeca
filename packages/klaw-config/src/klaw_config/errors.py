"""The one exception klaw-config raises for a configuration it cannot accept."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A configuration could not be loaded, or a value in it is invalid.

    Every failure of :func:`~klaw_config.load_config` is reported as a ``ConfigError``:
    a file that is missing, not a regular file, too large or unreadable, bytes that are
    not UTF-8, malformed TOML, an unknown section or key, a value of the wrong type or
    out of range, a bad or misspelt environment variable. When the failure came from a
    lower layer (``OSError``, msgspec, tomllib) the original exception is chained as
    ``__cause__``.

    The message is built from the attributes: ``"{source}: {path}: {reason}"``, or
    ``"{source}: {reason}"`` when no single field is at fault, for example::

        /etc/klaw.toml: channels.capacity: Expected `int` >= 1
        environment variable KLAW_TELEMETRY_ENABLED: telemetry.enabled: Expected true,
        false, 1, 0, yes or no, in any case (value 'maybe')
        environment variable KLAW_RAY_ADRESS: unknown variable; did you mean
        KLAW_RAY_ADDRESS?

    Attributes:
        source: Where the bad input came from: the file path as given, or
            ``"environment variable NAME"``.
        reason: What is wrong. For a type or range error this is msgspec's own
            explanation of the bound (``"Expected `int` <= 65535"``).
        path: The dotted field path (``"telemetry.metrics_port"``, or the section name
            alone for an unknown section), or ``None`` when the failure concerns the
            whole source (a missing or unreadable file, malformed TOML, a misspelt
            variable).
    """

    def __init__(self, source: str, reason: str, path: str | None = None) -> None:
        self.source = source
        self.reason = reason
        self.path = path
        where = source if path is None else f"{source}: {path}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str, str | None]]:
        # Rebuild from the attributes, not from ``args``: the error must survive pickling
        # (Ray ships exceptions between processes).
        return (type(self), (self.source, self.reason, self.path))
