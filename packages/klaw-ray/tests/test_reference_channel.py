"""Reference channels: values go through the object store, the actor holds references."""

from __future__ import annotations

from pathlib import Path

import pytest

from klaw_config import KlawConfig
from klaw_ray import ReferenceReceiver, ReferenceSender, reference_channel
from klaw_wire import ChannelBackendError

pytestmark = pytest.mark.anyio

PAYLOAD_BYTES = 30 * 1024 * 1024


def _resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


async def test_large_payloads_pass_without_growing_the_channel_actor(
    ray_config: KlawConfig,
) -> None:
    tx, rx = await reference_channel(4, value_type=bytes, config=ray_config)
    assert isinstance(tx, ReferenceSender)
    assert isinstance(rx, ReferenceReceiver)
    pid = int((await tx.stats()).extras["pid"])
    before = _resident_bytes(pid)
    payloads = [bytes([i]) * PAYLOAD_BYTES for i in range(3)]
    await tx.send(payloads[0])
    await tx.send_batch(payloads[1:])
    await tx.flush()
    grown = _resident_bytes(pid) - before
    assert grown < PAYLOAD_BYTES // 2, f"the actor grew by {grown} bytes"
    assert (await rx.stats()).size == 3
    assert await rx.recv() == payloads[0]
    assert await rx.recv_batch(5) == payloads[1:]


async def test_reference_channels_close_like_any_channel(ray_config: KlawConfig) -> None:
    tx, rx = await reference_channel(4, config=ray_config)
    async with tx:
        await tx.send({"any": ["python", "object"]})
    assert [value async for value in rx] == [{"any": ["python", "object"]}]


async def test_reference_channels_cannot_be_checkpointed(ray_config: KlawConfig) -> None:
    tx, _rx = await reference_channel(4, config=ray_config)
    with pytest.raises(ChannelBackendError, match="cannot be checkpointed"):
        await tx.checkpoint()
