"""Framing: the frame layout, the sans-io decoder, asyncio streams, and loopback TCP."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from klaw_wire import (
    DEFAULT_MAX_FRAME_SIZE,
    FRAME_HEADER_SIZE,
    Ack,
    DataMessage,
    FrameDecoder,
    FrameTooLargeError,
    Heartbeat,
    WireDecodeError,
    encode,
    encode_frame,
    read_envelope,
    write_envelope,
)
from wire_strategies import WIRE_SETTINGS, envelopes


def test_a_frame_is_a_big_endian_length_then_the_envelope() -> None:
    msg = Ack(acked_seq=1)
    body = encode(msg)
    assert encode_frame(msg) == len(body).to_bytes(4, "big") + body
    assert FRAME_HEADER_SIZE == 4
    assert DEFAULT_MAX_FRAME_SIZE == 16 * 1024 * 1024


@WIRE_SETTINGS
@given(st.lists(envelopes, min_size=1, max_size=6), st.data())
def test_the_decoder_accepts_data_split_anywhere(msgs: list[Any], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(m) for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = FrameDecoder()
    received: list[Any] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        received += decoder.feed(stream[start:cut])
        start = cut
    assert received == msgs
    assert decoder.at_boundary
    assert decoder.buffered == 0


def test_the_decoder_takes_one_byte_at_a_time_and_any_buffer() -> None:
    msgs = [Heartbeat.build(sender_id=str(n), seq=n) for n in range(5)]
    frames = [encode_frame(m) for m in msgs]
    stream = b"".join(frames)
    boundaries = {sum(len(f) for f in frames[: n + 1]) for n in range(len(frames))}
    decoder = FrameDecoder()
    received: list[Any] = []
    for index in range(len(stream)):
        piece = stream[index : index + 1]
        chunk: Any = (bytes, bytearray, memoryview)[index % 3](piece)
        received += decoder.feed(chunk)
        assert decoder.at_boundary == (index + 1 in boundaries)
        assert len(received) == sum(1 for end in boundaries if end <= index + 1)
    assert received == msgs


def test_a_too_large_frame_is_refused_at_once_before_buffering() -> None:
    decoder = FrameDecoder(max_frame_size=100)
    ok = encode_frame(Ack())
    with pytest.raises(FrameTooLargeError) as info:
        decoder.feed(ok + (101).to_bytes(4, "big"))
    assert (info.value.size, info.value.max_frame_size) == (101, 100)
    # The envelope completed before the bad frame is not lost; then the decoder is done.
    assert decoder.feed(b"") == [Ack()]
    with pytest.raises(WireDecodeError, match="stopped after an earlier error"):
        decoder.feed(ok)


def test_a_huge_length_header_is_refused_with_four_bytes_fed() -> None:
    decoder = FrameDecoder()
    with pytest.raises(FrameTooLargeError):
        decoder.feed(b"\xff\xff\xff\xff")


def test_a_bad_frame_is_reported_and_decoding_continues_after_it() -> None:
    good = [encode_frame(Heartbeat(sender_id=s)) for s in "abc"]
    bad = (3).to_bytes(4, "big") + b"\x93\x01\xff"
    decoder = FrameDecoder()
    with pytest.raises(WireDecodeError):
        decoder.feed(good[0] + bad + good[1])
    assert decoder.feed(good[2]) == [
        Heartbeat(sender_id="a"),
        Heartbeat(sender_id="b"),
        Heartbeat(sender_id="c"),
    ]


def test_an_empty_frame_is_a_decode_error() -> None:
    with pytest.raises(WireDecodeError, match="truncated"):
        FrameDecoder().feed(b"\x00\x00\x00\x00")


@pytest.mark.parametrize("size", [0, -1, 2**32, 1.5])
def test_max_frame_size_is_checked(size: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        FrameDecoder(max_frame_size=size)


def test_decoded_envelopes_do_not_alias_the_decoders_buffer() -> None:
    decoder = FrameDecoder()
    frame = encode_frame(DataMessage.build({"k": "v"}))
    (msg,) = decoder.feed(frame)
    decoder.feed(b"\xff" * 3)  # reuses the internal buffer
    assert msgspec.msgpack.decode(msg.payload) == {"k": "v"}  # type: ignore[union-attr]


# -- asyncio streams -----------------------------------------------------------------------


def _reader(data: bytes, *, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


def test_read_envelope_returns_none_at_a_clean_end_of_stream() -> None:
    async def main() -> None:
        reader = _reader(encode_frame(Ack()) + encode_frame(Heartbeat()))
        assert await read_envelope(reader) == Ack()
        assert await read_envelope(reader) == Heartbeat()
        assert await read_envelope(reader) is None
        assert await read_envelope(_reader(b"")) is None

    asyncio.run(main())


@pytest.mark.parametrize("cut", [1, 3, 5, -1])
def test_an_end_of_stream_inside_a_frame_is_a_decode_error(cut: int) -> None:
    frame = encode_frame(Ack(acked_seq=9))

    async def main() -> None:
        with pytest.raises(WireDecodeError, match="stream ended inside a frame"):
            await read_envelope(_reader(frame[:cut]))

    asyncio.run(main())


def test_read_envelope_refuses_a_large_frame_before_reading_its_body() -> None:
    async def main() -> None:
        reader = _reader((1000).to_bytes(4, "big") + b"x" * 10, eof=False)
        with pytest.raises(FrameTooLargeError):
            await read_envelope(reader, max_frame_size=999)
        # Only the length was consumed.
        assert await reader.readexactly(10) == b"x" * 10

    asyncio.run(main())


def test_read_envelope_reports_a_bad_body() -> None:
    async def main() -> None:
        with pytest.raises(WireDecodeError):
            await read_envelope(_reader((2).to_bytes(4, "big") + b"\x91\xc1"))

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_an_ack_service_over_loopback_tcp_acknowledges_every_message_in_order() -> None:
    count = 3000

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (msg := await read_envelope(reader)) is not None:
                assert isinstance(msg, DataMessage)
                header = msg.header
                ack = Ack.build(acked_seq=header.seq, channel_id=header.channel_id, seq=header.seq)
                writer.write(encode_frame(ack))
                await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    async def main() -> list[int]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def send_all() -> None:
            for seq in range(count):
                payload = {"n": seq, "text": "x" * (seq % 50)}
                await write_envelope(writer, DataMessage.build(payload, channel_id="jobs", seq=seq))
            writer.write_eof()

        sender = asyncio.create_task(send_all())
        acked: list[int] = []
        while (msg := await read_envelope(reader)) is not None:
            assert isinstance(msg, Ack)
            assert msg.header.channel_id == "jobs"
            acked.append(msg.acked_seq)
        await sender
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return acked

    assert asyncio.run(main()) == list(range(count))
