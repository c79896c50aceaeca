"""Interop: a JavaScript peer (``interop/js``, on ``@msgpack/msgpack``) against klaw-wire.

The peer was written from the specification. It decodes every golden vector as a
version-1 reader must, and talks to a klaw-wire service over loopback TCP, both ways.

Needs ``node`` and the peer's locked dependencies (``npm ci`` in ``interop/js``, which
``.ci/run`` does). Without them the tests skip, saying why, so that ``uv run pytest`` works
on a machine with Python and uv alone; with ``KLAW_REQUIRE_INTEROP=1`` (set by CI) they
fail instead. Each process started is ended by its pid; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from golden_vectors import FRAMES_FILE, VECTORS_FILE
from klaw_wire import (
    Ack,
    ControlMessage,
    DataMessage,
    Heartbeat,
    ResizeMetadata,
    WireDecodeError,
    get_codec_pool,
    read_envelope,
    to_wire_error,
    write_envelope,
)

PEER_DIR = Path(__file__).resolve().parents[1] / "interop" / "js"
PEER = PEER_DIR / "klaw_peer.mjs"
GOLDEN_DIR = Path(__file__).parent / "golden"
TIMEOUT = 30.0
UINT64_MAX = 2**64 - 1

# The vectors the JavaScript library cannot tell from valid ones (the peer names the
# reason for each in its LIMITATIONS); the specification's notes for implementers say so.
LIMITED = ["float_ts", "invalid_utf8"]


def _node() -> str:
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not (PEER_DIR / "node_modules" / "@msgpack" / "msgpack").is_dir():
        missing = f"the peer's dependencies are not installed (run `npm ci` in {PEER_DIR})"
    if missing is not None:
        if os.environ.get("KLAW_REQUIRE_INTEROP") == "1":
            pytest.fail(f"KLAW_REQUIRE_INTEROP=1 but {missing}")
        pytest.skip(f"JavaScript interop: {missing}")
    assert node is not None
    return node


def _lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_the_javascript_peer_reads_every_golden_vector_as_described() -> None:
    node = _node()
    command = [
        node,
        str(PEER),
        "golden",
        str(GOLDEN_DIR / VECTORS_FILE),
        str(GOLDEN_DIR / FRAMES_FILE),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as peer:
        try:
            out, err = peer.communicate(timeout=TIMEOUT)
        finally:
            if peer.poll() is None:
                os.kill(peer.pid, signal.SIGKILL)
                peer.wait(timeout=TIMEOUT)
    assert peer.returncode == 0, err or out
    *steps, summary = _lines(out)
    assert summary["done"] is True
    vectors = json.loads((GOLDEN_DIR / VECTORS_FILE).read_bytes())["vectors"]
    assert summary["vectors"] == len(vectors) == len(steps)
    assert summary["mismatches"] == []
    assert summary["limited"] == LIMITED
    assert summary["framesAgree"] is True
    assert summary["frames"] == sum(1 for vector in vectors if vector["valid"])


class _Service:
    """A klaw-wire service on 127.0.0.1: answers each frame, records what it received."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.refused: list[WireDecodeError] = []
        self.sent_data = DataMessage.build(
            {"text": "héllo 🚀 通道", "big": UINT64_MAX, "small": -(2**63), "none": None},
            channel_id="通道",
            seq=2**63 - 1,
            ts=int(time.time() * 1000),
        )

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    message = await read_envelope(reader)
                except WireDecodeError as exc:  # the frame is consumed: answer, go on
                    self.refused.append(exc)
                    await write_envelope(writer, to_wire_error(exc))
                    continue
                if message is None:
                    return
                self.received.append(message)
                await self._answer(message, writer)
        finally:
            writer.close()
            await writer.wait_closed()

    async def _answer(self, message: Any, writer: asyncio.StreamWriter) -> None:
        header = message.header
        if isinstance(message, Heartbeat):
            await write_envelope(writer, Heartbeat.build(sender_id="py-service", seq=1))
            await write_envelope(writer, self.sent_data)
        elif isinstance(message, DataMessage | ControlMessage):
            ack = Ack.build(acked_seq=header.seq, channel_id=header.channel_id)
            await write_envelope(writer, ack)


async def _converse() -> tuple[_Service, subprocess.CompletedProcess[str]]:
    node = _node()
    service = _Service()
    server = await asyncio.start_server(service.handle, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    peer = await asyncio.create_subprocess_exec(
        node,
        str(PEER),
        "tcp",
        str(port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(peer.communicate(), timeout=TIMEOUT)
    finally:
        if peer.returncode is None:
            os.kill(peer.pid, signal.SIGKILL)
            await asyncio.wait_for(peer.wait(), timeout=TIMEOUT)
        server.close()
        await asyncio.wait_for(server.wait_closed(), timeout=TIMEOUT)
    completed = subprocess.CompletedProcess(
        ["node"], peer.returncode or 0, out.decode(), err.decode()
    )
    return service, completed


def test_the_javascript_peer_and_a_klaw_wire_service_talk_over_tcp_both_ways() -> None:
    service, peer = asyncio.run(_converse())
    assert peer.returncode == 0, peer.stderr or peer.stdout
    summary = _lines(peer.stdout)[-1]
    assert summary == {"done": True, "failures": []}

    beat, ack, echo, big, resize, close = service.received
    assert isinstance(beat, Heartbeat)
    assert beat.sender_id == "js-peer"
    assert beat.header.ts > 0
    # JavaScript -> Python: the Ack of the service's message, its uint64 seq intact.
    assert isinstance(ack, Ack)
    assert ack.acked_seq == service.sent_data.header.seq
    # Python -> JavaScript -> Python: the payload survives both decoders and encoders.
    assert isinstance(echo, DataMessage)
    assert echo.header.channel_id == "通道"
    sent_payload = msgspec.msgpack.decode(get_codec_pool().encode(service.sent_data))[2]
    assert msgspec.msgpack.decode(echo.payload) == sent_payload
    assert isinstance(big, DataMessage)
    assert big.header.seq == UINT64_MAX
    assert abs(big.header.ts - time.time() * 1000) < 60_000
    order = get_codec_pool().decode_payload(big.payload, dict[str, int | float | str])
    assert order == {"order_id": 1, "sku": "A-1", "quantity": 2, "price": 9.5}
    assert isinstance(resize, ControlMessage)
    assert resize.action == "resize"
    assert get_codec_pool().decode_payload(resize.metadata, ResizeMetadata).capacity == 64
    assert isinstance(close, ControlMessage)
    assert close.action == "close"
    (refused,) = service.refused
    assert "header.kind must be ACK" in str(refused)
