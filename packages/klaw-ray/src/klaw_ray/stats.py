"""Statistics snapshots of a channel, the same shape for every backend."""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ["LATENCY_BUCKETS", "ChannelStats", "LatencyHistogram", "ReaderInfo"]


class ReaderInfo(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """What a Ray channel actor knows about one registered receiver handle.

    Attributes:
        reader_id: Unique id of the receiver handle.
        node_id: Ray node the receiver runs on ("" when unknown).
        registered_at: Unix time, in seconds, of the handle's first call.
        last_seen: Unix time, in seconds, of the handle's latest call.
        total_received: Values this handle has received.
    """

    reader_id: str
    node_id: str = ""
    registered_at: float = 0.0
    last_seen: float = 0.0
    total_received: int = 0


LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Upper bounds, in seconds, of the send-to-receive latency histogram's buckets."""


class LatencyHistogram(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """Send-to-receive latencies of a channel's traced values, in buckets.

    A value is traced when its sender sampled it (``telemetry.trace_sample_rate``); its
    latency runs from the sender's ``send`` call to the moment a receiver hands it to
    its caller, measured with the two processes' wall clocks (see the metrics guide
    for the clock-skew caveat across nodes).

    Attributes:
        bounds: Upper bound of each bucket, in seconds, increasing
            (:data:`LATENCY_BUCKETS`).
        counts: Observations per bucket, not cumulative: ``counts[i]`` fell in
            ``(bounds[i-1], bounds[i]]``; one more entry at the end counts those above
            the last bound.
        sum: Sum of all observed latencies, in seconds.
    """

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: tuple[int, ...] = ()
    sum: float = 0.0

    @property
    def count(self) -> int:
        """How many latencies were observed."""
        return sum(self.counts)


class ChannelStats(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """An immutable snapshot of a channel's state, taken when ``stats()`` was called.

    Attributes:
        backend: ``"local"`` or ``"ray"``.
        capacity: Most values the channel holds; ``None`` for an unbounded channel.
        size: Values queued now (on Ray: not counting those leased to receivers).
        high_watermark: Most values ever queued at once.
        total_sent: Values accepted by sends since the channel was created.
        total_received: Values handed to receivers since the channel was created.
        open_senders: Sender handles not yet closed.
        open_receivers: Receiver handles not yet closed.
        closed: ``True`` once every sender is closed (receivers drain, then stop).
        waiting_senders: Sends waiting for room now (on Ray: waiting calls in the actor).
        waiting_receivers: Receives waiting for a value now (on Ray: waiting calls in the
            actor).
        leased: Values handed to receivers and not yet acknowledged (Ray only).
        reserved: Room granted to senders and not yet used: values buffered in sender
            handles or on their way (Ray only).
        redelivered: Values handed out again after their receiver died or their lease
            expired (Ray only).
        lost: Values lost with a receiver that died, in at-most-once mode (Ray only).
        lost_senders: Sender handles whose process died without closing them (Ray only).
        incarnation: The channel actor's incarnation; it changes when the actor restarts
            (Ray only).
        paused: ``True`` while an operator has paused the channel: sends wait and
            ``try_send`` finds it full, while queued values are still delivered (Ray only;
            always ``False`` on the local backend).
        readers_per_node: Open receiver handles, counted per Ray node id, once each has
            asked for values (Ray only).
        readers: One :class:`ReaderInfo` per open receiver handle (Ray only); closed
            and dead ones are dropped.
        errors: Refusals the channel actor answered since its process started, by wire
            error code (``"channel.full"``, ``"channel.peer_closed"``, ...; Ray only).
            See the metrics guide for the codes and what is not counted.
        calls: Calls the channel actor received since its process started, by method
            (``"put"``, ``"put_refs"`` on reference channels, ``"get"``, ``"reserve"``,
            ``"ack"``, ``"close_sender"``, ...; refusals included; ``stats`` and the
            registration and liveness calls are not counted; Ray only). They start again
            from 0 when the actor restarts, a durable one too, while ``total_sent``
            carries on: values per put is ``total_sent / calls["put"]`` over an actor's
            lifetime, or the ratio of their rates.
        latency: Send-to-receive latencies of traced values since the actor process
            started (Ray only; ``None`` on the local backend).
        extras: Backend-specific figures, e.g. the actor's name and namespace.
    """

    backend: str
    capacity: int | None = None
    size: int = 0
    high_watermark: int = 0
    total_sent: int = 0
    total_received: int = 0
    open_senders: int = 0
    open_receivers: int = 0
    closed: bool = False
    waiting_senders: int = 0
    waiting_receivers: int = 0
    leased: int = 0
    reserved: int = 0
    redelivered: int = 0
    lost: int = 0
    lost_senders: int = 0
    incarnation: int = 0
    paused: bool = False
    readers_per_node: dict[str, int] = msgspec.field(default_factory=dict)
    readers: tuple[ReaderInfo, ...] = ()
    errors: dict[str, int] = msgspec.field(default_factory=dict)
    calls: dict[str, int] = msgspec.field(default_factory=dict)
    latency: LatencyHistogram | None = None
    extras: dict[str, Any] = msgspec.field(default_factory=dict)
