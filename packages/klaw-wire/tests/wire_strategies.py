"""Hypothesis strategies for klaw-wire's envelopes, shared by the klaw-wire tests.

``Raw`` fields are generated as the encoding of generated MessagePack values, so every
generated envelope is valid and encodes to one complete MessagePack value.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from klaw_wire import (
    CONTROL_ACTIONS,
    Ack,
    ControlMessage,
    CreateMetadata,
    DataMessage,
    ErrorCode,
    Heartbeat,
    MessageKind,
    ResizeMetadata,
    WireError,
    WireHeader,
)

WIRE_SETTINGS = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
"""Deterministic, bounded settings for the property tests (the suite must stay fast)."""

INT64_MIN = -(2**63)
UINT64_MAX = 2**64 - 1

uint64s = st.integers(min_value=0, max_value=UINT64_MAX)
short_text = st.text(max_size=16)


class Job(msgspec.Struct, frozen=True):
    """A typed payload for ``decode_data`` / ``decode_payload`` tests."""

    name: str
    size: int
    tags: list[str] = []


jobs = st.builds(
    Job,
    name=short_text,
    size=st.integers(min_value=INT64_MIN, max_value=UINT64_MAX),
    tags=st.lists(short_text, max_size=4),
)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=INT64_MIN, max_value=UINT64_MAX),
    st.floats(allow_nan=False),
    short_text,
    st.binary(max_size=16),
)

msgpack_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(short_text, children, max_size=4),
    ),
    max_leaves=12,
)
"""Values msgspec encodes to MessagePack and decodes back equal (no NaN)."""

raws = msgpack_values.map(lambda value: msgspec.Raw(msgspec.msgpack.encode(value)))
"""``Raw`` objects holding one valid MessagePack value."""


def headers(kind: MessageKind) -> st.SearchStrategy[WireHeader]:
    """Headers of the given kind with any valid channel, sequence and time."""
    return st.builds(
        WireHeader,
        kind=st.just(kind),
        channel_id=short_text,
        seq=uint64s,
        ts=uint64s,
    )


def data_messages(payloads: st.SearchStrategy[Any] = raws) -> st.SearchStrategy[DataMessage[Any]]:
    """Data messages carrying payloads from ``payloads`` (``Raw`` by default)."""
    return st.builds(DataMessage, header=headers(MessageKind.DATA), payload=payloads)


capacities = st.integers(min_value=1, max_value=1_000_000)
_METADATA: dict[str, st.SearchStrategy[Any]] = {
    "create": st.one_of(st.none(), st.builds(CreateMetadata, capacity=st.none() | capacities)),
    "resize": st.builds(ResizeMetadata, capacity=capacities),
}


def _control_message(header: WireHeader, action: str, data: st.DataObject) -> ControlMessage:
    metadata = data.draw(_METADATA.get(action, st.none()))
    raw = msgspec.Raw(msgspec.msgpack.encode(metadata))
    return ControlMessage(header=header, action=action, metadata=raw)  # type: ignore[arg-type]


control_messages = st.builds(
    _control_message,
    header=headers(MessageKind.CONTROL),
    action=st.sampled_from(sorted(CONTROL_ACTIONS)),
    data=st.data(),
)
"""Control messages whose metadata has its action's layout (as ``build`` requires)."""
heartbeats = st.builds(Heartbeat, header=headers(MessageKind.HEARTBEAT), sender_id=short_text)
acks = st.builds(Ack, header=headers(MessageKind.ACK), acked_seq=uint64s, status=short_text)
wire_errors = st.builds(
    WireError,
    header=headers(MessageKind.ERROR),
    code=short_text.filter(lambda code: code not in set(ErrorCode)),
    message=short_text,
    details=raws,
)
"""Errors of application codes, whose details may be any value."""

envelopes: st.SearchStrategy[Any] = st.one_of(
    data_messages(), control_messages, heartbeats, acks, wire_errors
)
"""Any envelope, as :data:`klaw_wire.WireEnvelope` decodes it (payloads as ``Raw``)."""


def golden_messages() -> dict[str, Any]:
    """One fixed message per envelope type, named as its file under ``tests/golden/``."""
    from klaw_wire import ChannelFull, to_wire_error

    return {
        "data_message": DataMessage.build(
            {"job": "resize", "width": 640, "tags": ["a", "b"]},
            channel_id="jobs",
            seq=7,
            ts=1_700_000_000_000,
        ),
        "control_message": ControlMessage.build(
            "resize", metadata={"capacity": 64}, channel_id="jobs", seq=8, ts=1_700_000_000_001
        ),
        "heartbeat": Heartbeat.build(
            sender_id="worker-1", channel_id="jobs", seq=9, ts=1_700_000_000_002
        ),
        "ack": Ack.build(acked_seq=7, channel_id="jobs", seq=10, ts=1_700_000_000_003),
        "wire_error": to_wire_error(
            ChannelFull(channel_id="jobs", capacity=64),
            header=WireHeader(channel_id="jobs", seq=11, ts=1_700_000_000_004),
        ),
    }
