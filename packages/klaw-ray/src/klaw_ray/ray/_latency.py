"""Send-to-receive latency tracing: which values a sender stamps, and the actor's buckets.

A sender stamps a fraction of its values (``telemetry.trace_sample_rate``) with the wall
clock at the ``send`` call. The stamp travels with the put, stays with the value in the
actor, and comes back with the get that hands the value out; the receiver observes the
latency when it hands the value to its caller and reports it with its next get (or its
close), and the actor adds it to its histogram.

With a sample rate of 0 the sender has no sampler at all, so the per-value path pays one
``is None`` test; the actor and the receiver look at stamps only when some arrived.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable

from klaw_ray.stats import LATENCY_BUCKETS, LatencyHistogram

__all__ = ["LatencyRecorder", "TraceSampler", "sampler_for"]


class TraceSampler:
    """Decide, value by value, which values a sender stamps; ``rate`` of them on average.

    Draws the gap to the next sampled value from a geometric distribution, so a value
    that is not sampled costs one decrement. Seeded by the writer's id: a writer's choice
    of values is reproducible. Not thread-safe (one writer, one event loop).

    Args:
        rate: Fraction of values sampled, ``0 < rate <= 1``.
        seed: Seed of the sampler's random generator.
    """

    __slots__ = ("_log", "_random", "_skip")

    def __init__(self, rate: float, seed: str) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"a trace sample rate must be in (0, 1], got {rate!r}")
        self._random = random.Random(seed)
        self._log = math.log1p(-rate) if rate < 1.0 else 0.0
        self._skip = self._gap()

    def _gap(self) -> int:
        """How many values to skip before the next sampled one."""
        if self._log == 0.0:
            return 0
        return int(math.log(1.0 - self._random.random()) / self._log)

    def sample(self) -> bool:
        """Whether the next value is stamped."""
        if self._skip:
            self._skip -= 1
            return False
        self._skip = self._gap()
        return True

    def picks(self, count: int) -> list[int]:
        """The indexes, among the next ``count`` values, of those stamped.

        The same choice as ``count`` calls of :meth:`sample`, at the cost of the values
        picked rather than of all ``count``: what a batch of sends needs.
        """
        picked: list[int] = []
        index = self._skip
        while index < count:
            picked.append(index)
            index += 1 + self._gap()
        self._skip = index - count
        return picked


def sampler_for(rate: float, seed: str) -> TraceSampler | None:
    """A sampler for ``rate``, or ``None`` when nothing is traced (rate 0)."""
    return TraceSampler(rate, seed) if rate > 0.0 else None


class LatencyRecorder:
    """The actor's latency histogram: observations reported by receivers, in buckets.

    Lives on the actor's event loop (no locking). Observations that are not finite or
    are negative (a hostile or broken report) are ignored; a negative latency that clock
    skew produced is clamped to 0 by the receiver before it is reported.
    """

    __slots__ = ("_counts", "_sum")

    def __init__(self) -> None:
        self._counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self._sum = 0.0

    def observe(self, latencies: Iterable[float]) -> None:
        """Add latencies, in seconds, to the histogram."""
        for latency in latencies:
            if math.isfinite(latency) and latency >= 0.0:
                self._counts[bisect.bisect_left(LATENCY_BUCKETS, latency)] += 1
                self._sum += latency

    def snapshot(self) -> LatencyHistogram:
        """The histogram as it is now."""
        return LatencyHistogram(bounds=LATENCY_BUCKETS, counts=tuple(self._counts), sum=self._sum)
