"""How a channel actor learns that a process holding its handles died.

Each process gets one random id (:func:`process_id`). The first time a process uses a
channel (and again after the channel's actor restarted), its handle submits two calls:
``hold(process)``, which the actor keeps waiting for as long as the process lives, and
``watch(process, [hold_ref])``, which hands the actor the reference to the first call's
result. That reference is *owned* by the handle's process, so when the process dies Ray
fails the actor's wait on it with ``OwnerDiedError``: Ray's public API reporting the
death, within seconds, with no polling. The actor then treats every handle that process
held as dead (see ``RayChannelActor.process_died``).
"""

from __future__ import annotations

import uuid
from typing import Any

__all__ = ["attach_process", "process_id"]

_PROCESS_ID = uuid.uuid4().hex
# (channel key, incarnation) pairs this process has attached to.
_attached: set[tuple[str, int]] = set()


def process_id() -> str:
    """This process's id, the same for every handle it holds. Stable for its lifetime."""
    return _PROCESS_ID


def attach_process(actor: Any, channel_key: str, incarnation: int) -> None:
    """Make ``actor`` watch this process's liveness, once per actor incarnation.

    Submits ``hold`` and ``watch`` without waiting for them: their order relative to the
    calls that follow does not matter, since every request names its process anyway.
    Idempotent for a given ``(channel_key, incarnation)``.

    Args:
        actor: The channel's Ray actor handle.
        channel_key: A string that tells this channel from any other.
        incarnation: The actor incarnation the handle knows.
    """
    key = (channel_key, incarnation)
    if key in _attached:
        return
    _attached.add(key)
    hold = actor.hold.remote(_PROCESS_ID)
    actor.watch.remote(_PROCESS_ID, [hold])
