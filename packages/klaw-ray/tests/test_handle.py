"""``channels.timeout`` on a real Ray: how long a handle retries an unavailable actor.

A call that Ray reports unavailable (the channel's actor restarting) is retried for at
most ``channels.timeout`` seconds from that first report; an actor that is dead for good
fails the call at once. Each test kills the channel actor of a fresh named channel.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import ray

from channel_backends import wait_for_stats, wait_for_waiting
from klaw_config import ChannelDefaults, KlawConfig
from klaw_ray import channel, delete_channel
from klaw_wire import ChannelBackendError, ChannelRestartedError

pytestmark = pytest.mark.anyio

_LIVENESS = 60.0
"""A guard against hanging, far above any restart: never a figure the test checks."""


def _config(ray_config: KlawConfig, timeout: float, storage: Path | None = None) -> KlawConfig:
    channels = ChannelDefaults(timeout=timeout)
    if storage is not None:
        channels = ChannelDefaults(timeout=timeout, storage_dir=str(storage))
    return KlawConfig(ray=ray_config.ray, channels=channels)


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def test_an_actor_gone_for_good_fails_a_call_at_once_naming_the_channel(
    ray_config: KlawConfig,
) -> None:
    # The longest timeout there is: the call must not wait for it.
    config = _config(ray_config, timeout=86_400.0)
    name = _unique("timeout_gone")
    tx, rx = await channel(8, backend="ray", value_type=int, name=name, config=config)
    waiting = asyncio.ensure_future(rx.recv())
    await wait_for_waiting(rx, receivers=1)
    ray.kill(rx._actor, no_restart=True)
    with pytest.raises(ChannelBackendError) as raised:
        await asyncio.wait_for(waiting, _LIVENESS)
    error = raised.value
    assert error.channel_id == name
    assert repr(name) in str(error)
    assert "ActorDiedError" in error.cause
    assert error.detail == "its actor is gone for good"
    assert isinstance(error.__cause__, ray.exceptions.ActorDiedError)
    with pytest.raises(ChannelBackendError, match="gone for good"):
        await asyncio.wait_for(tx.stats(), _LIVENESS)  # every later call too, at once
    await tx.close()  # closing a dead channel is quiet
    await rx.close()


async def test_a_call_unavailable_past_channels_timeout_raises_naming_the_setting(
    ray_config: KlawConfig,
) -> None:
    # channels.timeout = 0: a call that meets the restart is not retried at all.
    config = _config(ray_config, timeout=0.0)
    name = _unique("timeout_zero")
    tx, rx = await channel(8, backend="ray", value_type=int, name=name, config=config)
    try:
        waiting = asyncio.ensure_future(rx.recv())
        await wait_for_waiting(rx, receivers=1)
        ray.kill(rx._actor, no_restart=False)  # Ray restarts it
        with pytest.raises(ChannelBackendError) as raised:
            await asyncio.wait_for(waiting, _LIVENESS)
        error = raised.value
        assert not isinstance(error, ChannelRestartedError)  # it never reached the new actor
        assert error.channel_id == name
        assert error.detail == "did not answer again within channels.timeout = 0 s"
        assert "channels.timeout" in str(error)
        assert isinstance(error.__cause__, ray.exceptions.RayActorError)
        assert not isinstance(error.__cause__, ray.exceptions.ActorDiedError)
    finally:
        await tx.close()
        await rx.close()
        await delete_channel(name, config=config)


async def test_a_call_that_meets_a_restart_within_channels_timeout_goes_on(
    ray_config: KlawConfig, tmp_path: Path
) -> None:
    # A window longer than any restart here (a busy machine restarts an actor in seconds).
    # Durable, so the restarted actor keeps the stream and the receive can simply go on.
    config = _config(ray_config, timeout=30.0, storage=tmp_path)
    name = _unique("timeout_restart")
    tx, rx = await channel(8, backend="ray", value_type=int, name=name, durable=True, config=config)
    try:
        before = await tx.stats()
        waiting = asyncio.ensure_future(rx.recv())
        await wait_for_waiting(rx, receivers=1)
        ray.kill(rx._actor, no_restart=False)  # the receive in flight fails: retried
        after = await wait_for_stats(
            tx, lambda s: s.incarnation != before.incarnation, timeout=_LIVENESS
        )
        assert after.extras["pid"] != before.extras["pid"]  # a new actor process answers
        await tx.send(7)
        await tx.flush()
        assert await asyncio.wait_for(waiting, _LIVENESS) == 7  # the same call, retried
    finally:
        await tx.close()
        await rx.close()
        await delete_channel(name, config=config)
