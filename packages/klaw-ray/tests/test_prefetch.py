"""A receiver's adaptive prefetch window: its rules alone, then on a real Ray.

The rules (``klaw_ray.ray._prefetch``): grow when the caller waited for a batch that came
back full, shrink when a batch arrives while a quarter of the window is still unread,
stay between the floor and ``channels.prefetch``. On Ray: a consumer that keeps up
grows its window to the ceiling, one that barely reads keeps it small, and neither
changes what is delivered.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from klaw_config import KlawConfig
from klaw_ray import RayReceiver, channel
from klaw_ray.ray._prefetch import INITIAL_WINDOW, SMALLEST_WINDOW, PrefetchWindow

pytestmark = pytest.mark.anyio

# --- the rules -------------------------------------------------------------------------


def test_the_window_starts_small_and_fetches_once_half_is_read() -> None:
    window = PrefetchWindow(1024)
    assert window.size == INITIAL_WINDOW
    assert window.wanted(0) == INITIAL_WINDOW
    assert window.wanted(INITIAL_WINDOW // 2 + 1) == 0  # enough unread: no fetch yet
    assert window.wanted(INITIAL_WINDOW // 2) == INITIAL_WINDOW // 2  # top up to the window


def test_a_full_batch_the_caller_waited_for_doubles_the_window_up_to_the_ceiling() -> None:
    window = PrefetchWindow(300)
    window.starved(asked=128, got=128)
    assert window.size == 256
    window.starved(asked=256, got=256)
    assert window.size == 300  # never past channels.prefetch
    window.starved(asked=300, got=300)
    assert window.size == 300


def test_a_short_batch_means_the_channel_was_the_limit_and_the_window_stays() -> None:
    window = PrefetchWindow(1024)
    window.starved(asked=128, got=5)  # the channel had only 5: a bigger window buys nothing
    assert window.size == INITIAL_WINDOW
    window.starved(asked=10, got=10)  # a small top-up that came back full says nothing
    assert window.size == INITIAL_WINDOW


def test_a_batch_arriving_while_much_is_unread_shrinks_the_window_to_its_floor() -> None:
    window = PrefetchWindow(1024)
    window.arrived(unread=0)  # read everything in time: no change
    assert window.size == INITIAL_WINDOW
    window.arrived(unread=INITIAL_WINDOW // 4 - 1)
    assert window.size == INITIAL_WINDOW
    sizes = []
    for _ in range(20):
        window.arrived(unread=window.size // 2)
        sizes.append(window.size)
    assert sizes[0] == INITIAL_WINDOW - INITIAL_WINDOW // 4
    assert sizes == sorted(sizes, reverse=True)
    assert window.size == SMALLEST_WINDOW


def test_a_ceiling_below_the_defaults_bounds_everything() -> None:
    window = PrefetchWindow(1)
    assert (window.size, window.wanted(0), window.wanted(1)) == (1, 1, 0)
    window.starved(asked=1, got=1)
    window.arrived(unread=1)
    assert window.size == 1
    with pytest.raises(ValueError, match="at least 1"):
        PrefetchWindow(0)


@given(
    ceiling=st.integers(1, 5000),
    events=st.lists(
        st.tuples(st.booleans(), st.integers(0, 6000), st.integers(0, 6000)), max_size=60
    ),
)
def test_the_window_always_stays_between_its_floor_and_its_ceiling(
    ceiling: int, events: list[tuple[bool, int, int]]
) -> None:
    window = PrefetchWindow(ceiling)
    for grow, first, second in events:
        if grow:
            window.starved(asked=first, got=second)
        else:
            window.arrived(unread=first)
        assert min(SMALLEST_WINDOW, ceiling) <= window.size <= ceiling
        assert 0 <= window.wanted(second) <= window.size


# --- on Ray ------------------------------------------------------------------------------


def _window(rx: RayReceiver[int]) -> int:
    state = rx._state_
    assert state is not None
    return state.window.size


async def test_a_consumer_that_keeps_up_grows_its_window_to_the_ceiling(
    ray_config: KlawConfig,
) -> None:
    channels = msgspec.structs.replace(ray_config.channels, prefetch=512)
    config = msgspec.structs.replace(ray_config, channels=channels)
    tx, rx = await channel(4096, backend="ray", value_type=int, config=config)
    total = 20_000

    async def produce() -> None:
        async with tx:
            for value in range(total):
                await tx.send(value)

    producer = asyncio.create_task(produce())
    received = [value async for value in rx]
    await producer
    await rx.close()
    assert received == list(range(total))
    assert _window(rx) == 512


async def test_a_consumer_that_barely_reads_keeps_a_small_window(ray_config: KlawConfig) -> None:
    tx, rx = await channel(4096, backend="ray", value_type=int, config=ray_config)
    await tx.send_batch(range(3000))
    await tx.flush()
    received: list[int] = []
    while len(received) < 3000 and (not received or _window(rx) > SMALLEST_WINDOW):
        received.append(await rx.recv())  # one value per round trip: each batch that
        state = rx._state_  # lands finds most of the previous one still unread
        assert state is not None
        if state.fetch is not None:
            await asyncio.shield(state.fetch)
    assert _window(rx) == SMALLEST_WINDOW
    assert received == list(range(len(received)))
    await tx.close()
    rest = [value async for value in rx]
    assert received + rest == list(range(3000))
    await rx.close()
