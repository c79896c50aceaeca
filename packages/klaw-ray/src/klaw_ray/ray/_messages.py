"""The calls between Ray channel handles and the channel actor: requests and answers.

Every hot call takes one encoded request and returns one encoded answer: Ray passes one
``bytes`` argument and returns ``bytes`` much more cheaply than several arguments or a
Python object. Values travel inside as klaw-wire ``DataMessage[list[T]]`` envelopes.
Reference channels carry ``ObjectRef`` s, which must go through Ray's own serializer, so
their calls take and return the structs themselves.

The protocol, in one place (the actor's module docstring states its invariants):

- A *writer* is one process's use of one sender handle. It numbers its puts from 0
  (``seq``); the actor applies them in that order, each at most once.
- A sender ships only values it holds *credit* for: room in the channel that the actor
  granted to it. Credit comes with every answer to a put or a ``reserve`` call; a sender
  with no credit asks with ``reserve``, which waits in the actor until there is room.
- Values handed to a receiver are *leased* to it under a delivery id until the receiver
  acknowledges them (the ``acked`` ids of its next get, or its close). The capacity
  bounds queued values + credit held by senders; leases are bounded by what each
  receiver asks for at once.
- Every answer carries the actor's *incarnation*; a request carries the one its handle
  knows, so neither side mistakes a restarted channel for the old one.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import msgspec

__all__ = [
    "AckRequest",
    "ChannelMetadata",
    "CloseRequest",
    "GetAnswer",
    "GetRequest",
    "PutRequest",
    "ReserveRequest",
    "SendAnswer",
    "Status",
]

Status: TypeAlias = Literal[
    "ok",
    "full",
    "empty",
    "ended",
    "handle_closed",
    "peer_closed",
    "sender_lost",
    "restarted",
    "busy",
    "invalid",
    "withdrawn",
]
"""Outcome of an actor call.

``"ok"``; ``"full"`` / ``"empty"`` when it would have to wait and must not;
``"ended"`` when every sender closed and nothing is left; ``"sender_lost"`` instead of
``"ended"`` when a sender died without closing; ``"handle_closed"`` when the calling
handle is closed; ``"peer_closed"`` when every receiver is gone; ``"restarted"`` when the
request comes from before a restart that lost the channel's values; ``"busy"`` when too
many calls already wait on the channel (``ray.max_concurrency``); ``"invalid"`` for a
malformed request or a value that does not match the channel's type; ``"withdrawn"``
when the caller gave the call up while it waited.
"""


class ChannelMetadata(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """What a handle needs to attach to an existing channel actor.

    Attributes:
        name: The channel's name ("" for an anonymous channel).
        namespace: The Ray namespace of a named channel.
        capacity: Most values the channel holds at once; ``None`` when unbounded.
        value_type: The type values are checked against; ``None`` for any.
        by_reference: Whether the channel carries object references.
        durable: Whether the channel keeps its state in SQLite on the actor's node.
        delivery: ``"at_least_once"`` (values leased until acknowledged, redelivered
            when their receiver dies) or ``"at_most_once"``.
        lease_seconds: How long a value may stay leased without an acknowledgement.
        incarnation: The actor's incarnation when the metadata was read.
        key: A random id of the actor process, different after a restart: what tells
            this channel's actor from any other.
        created_at: Unix time, in seconds, when the channel was created.
    """

    name: str = ""
    namespace: str = ""
    capacity: int | None = None
    value_type: Any = None
    by_reference: bool = False
    durable: bool = False
    delivery: str = "at_least_once"
    lease_seconds: float = 300.0
    incarnation: int = 0
    key: str = ""
    created_at: float = 0.0


class PutRequest(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A ``put`` call: values the writer holds credit for, in its turn ``seq``.

    Attributes:
        handle_id: The sending handle.
        writer: The writer (this process's use of the handle).
        process: The calling process's id (see :mod:`klaw_ray.ray._liveness`).
        seq: The writer's number for this put, from 0 without gaps.
        incarnation: The actor incarnation the handle knows (0 before its first answer).
        need: Values the writer holds beyond this put that wait for credit.
        ahead: Extra credit the writer would like, to ship its next values at once.
        envelope: The encoded ``DataMessage[list[T]]`` (empty list on a reference
            channel, whose references travel beside the request).
        stamps: ``(index, unix time)`` of each traced value of the put: when its
            ``send`` was called (empty when none was sampled).
    """

    handle_id: str
    writer: str
    process: str
    seq: int
    incarnation: int
    need: int
    ahead: int
    envelope: msgspec.Raw
    stamps: list[tuple[int, float]] = msgspec.field(default_factory=list)


class ReserveRequest(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A ``reserve`` call: ask for credit, waiting for room if ``wait``.

    ``need`` 0 asks for nothing and only reports whether sending is possible.

    Attributes:
        handle_id: The sending handle.
        writer: The writer.
        process: The calling process's id.
        incarnation: The actor incarnation the handle knows.
        need: Values waiting for credit.
        ahead: Extra credit wanted.
        wait: Wait for room rather than answer ``"full"``.
        request: The writer's number for this call, for ``withdraw``.
    """

    handle_id: str
    writer: str
    process: str
    incarnation: int
    need: int
    ahead: int
    wait: bool
    request: int


class SendAnswer(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """What ``put`` and ``reserve`` answer.

    Attributes:
        status: See :data:`Status`.
        incarnation: The actor's incarnation.
        accepted: Values of the put now in the channel (0 for ``reserve``).
        granted: Credit granted to the writer by this call.
        duplicate: The put had been applied before (a retry): nothing was added again.
        error: Why the status is not ``"ok"``.
        lost_sender: For ``"sender_lost"``, the lost sender handle's id.
    """

    status: Status = "ok"
    incarnation: int = 0
    accepted: int = 0
    granted: int = 0
    duplicate: bool = False
    error: str = ""
    lost_sender: str = ""


class GetRequest(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A ``get`` call: acknowledge what was handed out, then take up to ``max_items``.

    Attributes:
        handle_id: The receiving handle.
        process: The calling process's id.
        node_id: The Ray node the caller runs on (for statistics).
        request: The caller's number for this call, for ``abandon``.
        incarnation: The actor incarnation the handle knows.
        max_items: The most values to take.
        wait: Seconds to wait for a first value: 0 answers at once; ``None`` waits up to
            the actor's poll interval (the handle calls again until its own deadline).
        acked: Delivery ids the receiver has handed to its caller since its last call.
        held: After a restart only: every delivery id the receiver still holds, so
            that the actor returns leases whose answer was lost in the crash.
        observed: Send-to-receive latencies, in seconds, of traced values the receiver
            handed to its caller since its last report.
    """

    handle_id: str
    process: str
    node_id: str
    request: int
    incarnation: int
    max_items: int = 1
    wait: float | None = None
    acked: list[int] = msgspec.field(default_factory=list)
    held: list[int] | None = None
    observed: list[float] = msgspec.field(default_factory=list)


class GetAnswer(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """What ``get`` answers.

    Attributes:
        status: See :data:`Status`.
        incarnation: The actor's incarnation.
        ids: The delivery id of each value, in order.
        deliveries: How many times each value has been handed to a receiver (1 the
            first time); empty when every value is on its first delivery.
        data: The values as one encoded ``DataMessage[list[T]]``.
        refs: On a reference channel, the object references instead of ``data``.
        error: Why the status is not ``"ok"``.
        lost_sender: For ``"sender_lost"``, the lost sender handle's id.
        stamps: ``(index, unix time)`` of each traced value of the answer, as its
            sender stamped it.
    """

    status: Status = "ok"
    incarnation: int = 0
    ids: list[int] = msgspec.field(default_factory=list)
    deliveries: list[int] = msgspec.field(default_factory=list)
    data: bytes = b""
    refs: tuple[Any, ...] = ()
    error: str = ""
    lost_sender: str = ""
    stamps: list[tuple[int, float]] = msgspec.field(default_factory=list)


class AckRequest(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """An ``ack`` call: acknowledge delivery ids without taking anything.

    Attributes:
        handle_id: The receiving handle.
        process: The calling process's id.
        incarnation: The actor incarnation the handle knows.
        acked: The delivery ids acknowledged.
    """

    handle_id: str
    process: str
    incarnation: int
    acked: list[int]


class CloseRequest(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A ``close_sender`` or ``close_receiver`` call.

    Attributes:
        handle_id: The handle to close.
        process: The calling process's id.
        incarnation: The actor incarnation the handle knows.
        acked: Receivers: delivery ids handed to the caller, now acknowledged.
        unread: Receivers: delivery ids fetched but never handed out; they go back to
            the head of the channel, in order.
        observed: Receivers: latencies not yet reported (see :class:`GetRequest`).
        abort: Senders: when not empty, the sender is closed as lost, with this
            explanation: receivers see ``sender_lost`` instead of the end of the stream.
    """

    handle_id: str
    process: str
    incarnation: int
    acked: list[int] = msgspec.field(default_factory=list)
    unread: list[int] = msgspec.field(default_factory=list)
    observed: list[float] = msgspec.field(default_factory=list)
    abort: str = ""


_ENCODER = msgspec.msgpack.Encoder()
_SEND_ANSWER = msgspec.msgpack.Decoder(SendAnswer)
_GET_ANSWER = msgspec.msgpack.Decoder(GetAnswer)


def encode_message(message: msgspec.Struct) -> bytes:
    """Encode a request or answer for the trip through Ray."""
    return _ENCODER.encode(message)


def decode_send_answer(answer: bytes | SendAnswer) -> SendAnswer:
    """Decode what ``put`` / ``reserve`` answered (reference channels: as is)."""
    if isinstance(answer, SendAnswer):
        return answer
    return _SEND_ANSWER.decode(answer)


def decode_get_answer(answer: bytes | GetAnswer) -> GetAnswer:
    """Decode what ``get`` answered (reference channels: as is)."""
    if isinstance(answer, GetAnswer):
        return answer
    return _GET_ANSWER.decode(answer)
