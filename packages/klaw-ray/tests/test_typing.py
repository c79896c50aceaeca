"""Variance of the channel protocols, checked by mypy in CI.

A ``Sender`` is contravariant and a ``Receiver`` covariant. Each ``type: ignore[...]``
marks an assignment that must stay an error: under ``strict`` mypy reports an unused
ignore, so the check fails if one of them ever becomes valid. The functions also run as
tests, on the local backend.
"""

from __future__ import annotations

from typing import assert_type

import pytest

from klaw_ray import LocalReceiver, LocalSender, Receiver, Sender, local_channel
from klaw_types import Err, Ok

pytestmark = pytest.mark.anyio


async def _send_int(sender: Sender[int]) -> None:
    await sender.send(1)


async def _recv_int(receiver: Receiver[int]) -> int:
    return await receiver.recv()


async def test_sender_of_object_is_accepted_where_a_sender_of_int_is_expected() -> None:
    channel: tuple[LocalSender[object], LocalReceiver[object]] = local_channel(4)
    tx, rx = channel
    await _send_int(tx)
    assert await rx.recv() == 1


async def test_receiver_of_bool_is_accepted_where_a_receiver_of_int_is_expected() -> None:
    channel: tuple[LocalSender[bool], LocalReceiver[bool]] = local_channel(4)
    tx, rx = channel
    await tx.send(True)
    assert await _recv_int(rx) is True


def test_reverse_assignments_are_errors() -> None:
    bools: tuple[LocalSender[bool], LocalReceiver[bool]] = local_channel(4)
    objects: tuple[LocalSender[object], LocalReceiver[object]] = local_channel(4)
    narrow_sender: Sender[bool] = bools[0]
    wide_receiver: Receiver[object] = objects[1]
    as_int_sender: Sender[int] = narrow_sender  # type: ignore[assignment]
    as_int_receiver: Receiver[int] = wide_receiver  # type: ignore[assignment]
    assert isinstance(as_int_sender, Sender)
    assert isinstance(as_int_receiver, Receiver)


async def test_results_carry_the_value_type() -> None:
    channel: tuple[LocalSender[int], LocalReceiver[int]] = local_channel(4)
    tx, rx = channel
    sent = await tx.try_send(3)
    assert sent == Ok(None)
    received = await rx.try_recv()
    match received:
        case Ok(value):
            assert_type(value, int)
            assert value == 3
        case Err(_):
            pytest.fail("expected a value")
