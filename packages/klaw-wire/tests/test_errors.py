"""Errors: the exception tree, channel error pairs, and their wire form."""

from __future__ import annotations

import pickle
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from klaw_wire import (
    NIL,
    ChannelBackend,
    ChannelBackendError,
    ChannelClosed,
    ChannelClosedError,
    ChannelEmpty,
    ChannelEmptyError,
    ChannelError,
    ChannelFull,
    ChannelFullError,
    ChannelRestarted,
    ChannelRestartedError,
    EndOfStream,
    EndOfStreamError,
    ErrorCode,
    FrameTooLargeError,
    HandleClosed,
    HandleClosedError,
    InvalidMessageError,
    KlawWireError,
    MessageKind,
    PeerClosed,
    PeerClosedError,
    RemoteError,
    SenderLost,
    SenderLostError,
    UnknownSchemaVersionError,
    WireDecodeError,
    WireEncodeError,
    WireError,
    WireHeader,
    WireValidationError,
    decode,
    encode,
    from_wire_error,
    get_codec_pool,
    to_wire_error,
)
from wire_strategies import WIRE_SETTINGS, short_text

PAIRS: list[tuple[type[Any], type[Any], ErrorCode]] = [
    (ChannelClosed, ChannelClosedError, ErrorCode.CHANNEL_CLOSED),
    (ChannelFull, ChannelFullError, ErrorCode.CHANNEL_FULL),
    (ChannelEmpty, ChannelEmptyError, ErrorCode.CHANNEL_EMPTY),
    (ChannelBackend, ChannelBackendError, ErrorCode.CHANNEL_BACKEND),
    (EndOfStream, EndOfStreamError, ErrorCode.END_OF_STREAM),
    (HandleClosed, HandleClosedError, ErrorCode.HANDLE_CLOSED),
    (PeerClosed, PeerClosedError, ErrorCode.PEER_CLOSED),
    (SenderLost, SenderLostError, ErrorCode.SENDER_LOST),
    (ChannelRestarted, ChannelRestartedError, ErrorCode.CHANNEL_RESTARTED),
]
PAIRS_BY_STRUCT = {struct_type: code for struct_type, _, code in PAIRS}

channel_structs = st.one_of(
    st.builds(ChannelClosed, channel_id=short_text, detail=short_text),
    st.builds(
        ChannelFull,
        channel_id=short_text,
        capacity=st.integers(min_value=0, max_value=10**6),
        detail=short_text,
    ),
    st.builds(ChannelEmpty, channel_id=short_text, detail=short_text),
    st.builds(
        ChannelBackend,
        channel_id=short_text,
        backend=short_text,
        cause=short_text,
        actor_name=short_text,
        namespace=short_text,
        detail=short_text,
    ),
    st.builds(EndOfStream, channel_id=short_text, detail=short_text),
    st.builds(HandleClosed, channel_id=short_text, detail=short_text),
    st.builds(PeerClosed, channel_id=short_text, detail=short_text),
    st.builds(SenderLost, channel_id=short_text, sender_id=short_text, detail=short_text),
    st.builds(
        ChannelRestarted,
        channel_id=short_text,
        backend=short_text,
        incarnation=st.integers(min_value=0, max_value=2**32),
        lost=st.integers(min_value=0, max_value=10**6),
        actor_name=short_text,
        namespace=short_text,
        detail=short_text,
    ),
)


def test_the_exception_tree() -> None:
    for decode_error in (WireValidationError, UnknownSchemaVersionError, FrameTooLargeError):
        assert issubclass(decode_error, WireDecodeError)
    assert issubclass(WireDecodeError, msgspec.DecodeError)
    assert issubclass(WireDecodeError, KlawWireError)
    assert issubclass(WireValidationError, msgspec.ValidationError)
    assert issubclass(WireEncodeError, msgspec.EncodeError)
    assert issubclass(WireEncodeError, KlawWireError)
    assert issubclass(ChannelBackendError, ChannelClosedError)
    assert issubclass(ChannelBackend, ChannelClosed)
    for closed in (EndOfStreamError, HandleClosedError, PeerClosedError, SenderLostError):
        assert issubclass(closed, ChannelClosedError)
        assert not issubclass(closed, ChannelBackendError)
    assert issubclass(ChannelRestartedError, ChannelBackendError)
    assert issubclass(ChannelRestarted, ChannelBackend)
    for _, exc_type, _ in PAIRS:
        assert issubclass(exc_type, ChannelError)
        assert issubclass(exc_type, KlawWireError)
    assert issubclass(RemoteError, KlawWireError)
    assert issubclass(InvalidMessageError, KlawWireError)
    assert issubclass(InvalidMessageError, ValueError)
    assert not issubclass(InvalidMessageError, msgspec.MsgspecError)


@pytest.mark.parametrize(("struct_type", "exc_type", "code"), PAIRS)
def test_every_pair_builds_with_no_arguments(
    struct_type: type[Any], exc_type: type[Any], code: ErrorCode
) -> None:
    struct = struct_type()
    exc = exc_type()
    assert struct.to_exception().args == exc.args
    assert exc.to_struct() == struct
    assert str(exc).startswith("channel")
    assert exc.code is code
    with pytest.raises(AttributeError):
        struct.channel_id = "x"


def test_messages_are_built_from_the_fields() -> None:
    assert str(ChannelClosedError()) == "channel is closed"
    assert str(ChannelClosedError(channel_id="jobs", detail="all senders closed")) == (
        "channel 'jobs' is closed: all senders closed"
    )
    assert str(ChannelFullError(channel_id="jobs", capacity=8)) == (
        "channel 'jobs' is full (capacity 8)"
    )
    assert str(ChannelEmptyError(channel_id="jobs")) == "channel 'jobs' is empty"
    error = ChannelBackendError(
        channel_id="jobs",
        backend="ray",
        cause="RayActorError('died')",
        actor_name="klaw-jobs",
        namespace="klaw",
    )
    assert str(error) == (
        "channel 'jobs' backend 'ray' failed (actor 'klaw-jobs' in namespace 'klaw'): "
        "RayActorError('died')"
    )
    assert (error.backend, error.cause, error.actor_name, error.namespace) == (
        "ray",
        "RayActorError('died')",
        "klaw-jobs",
        "klaw",
    )
    assert str(ChannelBackendError()) == "channel backend failed"
    assert str(RemoteError(code="quota", message="over")) == "remote error [quota]: over"
    assert str(RemoteError()) == "remote error"
    assert str(WireDecodeError()) == "invalid wire data"
    assert str(WireEncodeError()) == "message could not be encoded"
    assert str(FrameTooLargeError(size=10, max_frame_size=4)) == (
        "frame of 10 bytes exceeds the maximum frame size of 4 bytes"
    )
    assert str(UnknownSchemaVersionError()) == (
        "unknown wire schema version; known versions: none - at `$[1][0]`"
    )


def test_exceptions_chain_their_cause() -> None:
    def fail() -> None:
        try:
            raise ConnectionError("actor gone")
        except ConnectionError as exc:
            raise ChannelBackendError(backend="ray", cause=repr(exc)) from exc

    with pytest.raises(ChannelClosedError) as info:
        fail()
    assert isinstance(info.value.__cause__, ConnectionError)


@WIRE_SETTINGS
@given(channel_structs)
def test_structs_and_exceptions_convert_both_ways(struct: Any) -> None:
    exc = struct.to_exception()
    assert exc.to_struct() == struct
    assert type(exc.to_struct()) is type(struct)
    assert exc.channel_id == struct.channel_id


@WIRE_SETTINGS
@given(channel_structs, st.booleans())
def test_channel_errors_cross_the_wire_intact(struct: Any, as_exception: bool) -> None:
    err = struct.to_exception() if as_exception else struct
    header = WireHeader(kind=MessageKind.DATA, channel_id="c", seq=5)
    wire = to_wire_error(err, header=header)
    assert wire.header == WireHeader(kind=MessageKind.ERROR, channel_id="c", seq=5)
    received = decode(encode(wire))
    assert isinstance(received, WireError)
    assert received.code == PAIRS_BY_STRUCT[type(struct)]
    assert received.message == str(struct.to_exception())
    exc = from_wire_error(received)
    assert type(exc) is type(struct.to_exception())
    assert exc.args == struct.to_exception().args
    assert exc.to_struct() == struct  # type: ignore[attr-defined]


def test_error_codes_are_stable() -> None:
    assert {code.name: code.value for code in ErrorCode} == {
        "CHANNEL_CLOSED": "channel.closed",
        "CHANNEL_FULL": "channel.full",
        "CHANNEL_EMPTY": "channel.empty",
        "CHANNEL_BACKEND": "channel.backend",
        "CHANNEL_RESTARTED": "channel.restarted",
        "END_OF_STREAM": "channel.end_of_stream",
        "HANDLE_CLOSED": "channel.handle_closed",
        "PEER_CLOSED": "channel.peer_closed",
        "SENDER_LOST": "channel.sender_lost",
        "DECODE": "wire.decode",
        "ENCODE": "wire.encode",
        "INTERNAL": "internal",
    }


def test_an_unknown_code_gives_a_remote_error_carrying_code_and_message() -> None:
    details = msgspec.Raw(msgspec.msgpack.encode({"limit": 3}))
    wire = WireError(code="quota.exceeded", message="too many", details=details)
    exc = from_wire_error(decode(encode(wire)))  # type: ignore[arg-type]
    assert isinstance(exc, RemoteError)
    assert (exc.code, exc.message) == ("quota.exceeded", "too many")
    assert msgspec.msgpack.decode(exc.details) == {"limit": 3}
    # Sending it on keeps it unchanged.
    again = to_wire_error(exc)
    assert (again.code, again.message, bytes(again.details)) == (
        "quota.exceeded",
        "too many",
        bytes(details),
    )


def test_other_exceptions_travel_as_internal_or_wire_codes() -> None:
    assert to_wire_error(KeyError("k")).code == ErrorCode.INTERNAL
    assert to_wire_error(KeyError("k")).message == "KeyError: 'k'"
    assert to_wire_error(RuntimeError()).message == "RuntimeError"
    decode_error = to_wire_error(WireDecodeError("bad", path="$[1]"))
    assert (decode_error.code, decode_error.message) == ("wire.decode", "bad - at `$[1]`")
    assert to_wire_error(WireEncodeError()).code == ErrorCode.ENCODE
    received = from_wire_error(to_wire_error(ValueError("boom")))
    assert isinstance(received, RemoteError)
    assert received.code == "internal"
    assert received.message == "ValueError: boom"


def test_to_wire_error_refuses_what_is_not_an_error() -> None:
    with pytest.raises(TypeError, match="error struct or an exception"):
        to_wire_error("oops")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="WireError"):
        from_wire_error(ChannelClosed())  # type: ignore[arg-type]


def test_channel_error_details_may_be_nil_or_partial() -> None:
    exc = from_wire_error(WireError(code="channel.full"))
    assert isinstance(exc, ChannelFullError)
    assert exc.to_struct() == ChannelFull()
    partial = msgspec.Raw(msgspec.msgpack.encode({"capacity": 4, "future_field": True}))
    exc = from_wire_error(WireError(code="channel.full", details=partial))
    assert isinstance(exc, ChannelFullError)
    assert exc.capacity == 4


@pytest.mark.parametrize(
    "details",
    [
        msgspec.Raw(msgspec.msgpack.encode({"capacity": "many"})),
        msgspec.Raw(msgspec.msgpack.encode([1, 2])),
        msgspec.Raw(msgspec.msgpack.encode("capacity")),
        msgspec.Raw(b"\xc1"),
    ],
    ids=["wrong-field-type", "array", "string", "not-msgpack"],
)
def test_details_a_known_code_cannot_read_fall_back_to_the_generic_remote_error(
    details: msgspec.Raw,
) -> None:
    received = WireError(code="channel.full", message="channel 'c' is full", details=details)
    exc = from_wire_error(received)
    assert type(exc) is RemoteError
    assert (exc.code, exc.message, bytes(exc.details)) == (
        "channel.full",
        "channel 'c' is full",
        bytes(details),
    )
    assert str(exc) == "remote error [channel.full]: channel 'c' is full"


def test_to_wire_error_checks_what_it_builds() -> None:
    with pytest.raises(InvalidMessageError, match=r"WireError\.header\.seq must be an int"):
        to_wire_error(ChannelClosedError(), header=WireHeader(seq=-1))
    with pytest.raises(InvalidMessageError, match=r"WireError\.details must hold exactly one"):
        to_wire_error(RemoteError(code="x", details=msgspec.Raw(b"\x01\x02")))
    kept = to_wire_error(ChannelClosedError(), header=WireHeader(channel_id="c", seq=2**64 - 1))
    assert (kept.header.kind, kept.header.seq) == (MessageKind.ERROR, 2**64 - 1)


def test_structs_encode_compactly_with_defaults_omitted() -> None:
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(ChannelFull(capacity=3))) == {
        "capacity": 3
    }
    assert to_wire_error(ChannelClosed()).details == msgspec.Raw(b"\x80")
    assert WireError().details == NIL


ALL_EXCEPTIONS: list[KlawWireError] = [
    WireDecodeError("bad", path="$[0]"),
    WireValidationError("wrong", path="$[1][2]"),
    UnknownSchemaVersionError(version=3, known=(1, 2)),
    InvalidMessageError(field="Ack.header.seq", reason="must be an int"),
    FrameTooLargeError(size=9, max_frame_size=8),
    WireEncodeError("nope"),
    ChannelClosedError(channel_id="c", detail="d"),
    ChannelFullError(channel_id="c", capacity=2),
    ChannelEmptyError(channel_id="c"),
    ChannelBackendError(channel_id="c", backend="ray", cause="x", actor_name="a", namespace="n"),
    RemoteError(code="x", message="y", details=msgspec.Raw(b"\x01")),
]


@pytest.mark.parametrize("exc", ALL_EXCEPTIONS, ids=lambda e: type(e).__name__)
def test_every_exception_pickles_with_its_fields(exc: KlawWireError) -> None:
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc)
    assert copy.args == exc.args
    assert str(copy) == str(exc)
    fields = {k: v for k, v in vars(exc).items() if not isinstance(v, msgspec.Raw)}
    assert {k: v for k, v in vars(copy).items() if k in fields} == fields


def test_decode_errors_keep_msgspecs_message_and_path() -> None:
    data = msgspec.msgpack.encode([4, [1, 4, 7, 0, 0], 0, "ok"])  # channel_id is an int
    with pytest.raises(WireValidationError) as info:
        get_codec_pool().decode(data)
    error = info.value
    assert str(error) == "Expected `str`, got `int` - at `$[1][2]`"
    assert (error.reason, error.path) == ("Expected `str`, got `int`", "$[1][2]")
    assert isinstance(error.__cause__, msgspec.ValidationError)
    assert str(error.__cause__) == str(error)
