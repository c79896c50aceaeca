"""``DurableChannel``: a channel core written through its journal and rebuilt from the file.

Each test drives a :class:`~klaw_ray.ray._core.ChannelCore` directly, commits its journal
to a real SQLite file under ``tmp_path``, and rebuilds a new core from that file, as a
restarted channel actor does.
"""

from __future__ import annotations

from pathlib import Path

from klaw_ray.ray._core import ChannelCore, Journal
from klaw_ray.ray._durable import DurableChannel
from klaw_ray.ray._store import StoredHandle, StoredMeta

META = StoredMeta("orders", "shop", 8, "builtins:int", False, "at_least_once", 1.5e9)


def _core() -> ChannelCore:
    core = ChannelCore(META.capacity)
    core.journal = Journal()
    return core


def _created(storage: Path) -> tuple[DurableChannel, ChannelCore]:
    """A new channel's file under ``storage``, and the core that writes through it."""
    durable = DurableChannel(str(storage), META.namespace, META.name)
    assert durable.open(META) == (1, None)  # created: incarnation 1, nothing to rebuild
    return durable, _core()


def _restart(storage: Path, durable: DurableChannel) -> tuple[DurableChannel, ChannelCore]:
    """Close ``durable``'s file and rebuild a new core from it, as a restarted actor does."""
    durable.close()
    again = DurableChannel(str(storage), META.namespace, META.name)
    _incarnation, snapshot = again.open(META)
    assert snapshot is not None
    core = _core()
    again.rebuild(core, snapshot)
    return again, core


def test_supervised_handles_and_abort_reasons_survive_a_rebuild(tmp_path: Path) -> None:
    durable, core = _created(tmp_path)
    core.register("sender", "driver", "p")
    core.register("sender", "sink", "worker-1", supervised=True)
    core.register("sender", "aborted", "p")
    core.register("sender", "died", "q")
    core.register("receiver", "rx", "p")
    durable.commit(core)
    core.close_handle("aborted", lost=True, reason="value 3 failed: ZeroDivisionError")
    core.process_died("q")
    durable.commit(core)
    durable, restored = _restart(tmp_path, durable)
    try:
        assert restored.supervised == {"sink"}
        assert restored.lost_reasons == {"aborted": "value 3 failed: ZeroDivisionError"}
        assert sorted(restored.lost_senders) == ["aborted", "died"]
        assert sorted(restored.handles) == ["driver", "rx", "sink"]
        # As before the restart: the supervised sink's death is a normal close.
        assert restored.process_died("worker-1") == ["sink"]
        assert restored.closed["sink"] == "closed"
        restored.close_handle("driver")
        assert restored.end_status() == (
            "sender_lost",
            "value 3 failed: ZeroDivisionError",
            "aborted",
        )
    finally:
        durable.close()


def test_a_handle_registered_again_as_supervised_is_written_so(tmp_path: Path) -> None:
    durable, core = _created(tmp_path)
    core.register("sender", "sink", "driver")
    durable.commit(core)
    core.register("sender", "sink", "driver", supervised=True)  # the same id, flagged
    durable.commit(core)
    snapshot = durable.store.load()
    assert snapshot is not None
    assert snapshot.handles == [StoredHandle("sink", "sender", "open", "driver", supervised=True)]
    core.close_handle("sink")  # closed: supervised no more, and nothing to explain
    durable.commit(core)
    durable, restored = _restart(tmp_path, durable)
    try:
        assert restored.supervised == set()
        assert restored.lost_reasons == {}
        assert restored.closed == {"sink": "closed"}
    finally:
        durable.close()


def test_only_an_aborted_sender_keeps_a_reason(tmp_path: Path) -> None:
    durable, core = _created(tmp_path)
    for sender in ("first", "second"):
        core.register("sender", sender, "p")
    core.register("receiver", "rx", "p")
    durable.commit(core)
    core.close_handle("first", lost=True, reason="the stage was cancelled")
    core.close_handle("second", lost=True)  # its process died: no reason of its own
    durable.commit(core)
    durable, restored = _restart(tmp_path, durable)
    try:
        assert restored.lost_reasons == {"first": "the stage was cancelled"}
        assert sorted(restored.lost_senders) == ["first", "second"]
    finally:
        durable.close()


def test_lost_senders_keep_the_order_they_were_lost_in(tmp_path: Path) -> None:
    # Receivers are told of the first sender lost; ids sort the other way round.
    durable, core = _created(tmp_path)
    for sender in ("a-later", "z-first", "m-second"):
        core.register("sender", sender, f"process-{sender}")
    core.register("receiver", "rx", "p")
    durable.commit(core)
    core.close_handle("z-first", lost=True, reason="the stage was cancelled")
    durable.commit(core)
    core.process_died("process-m-second")
    core.process_died("process-a-later")
    durable.commit(core)
    before = core.end_status()
    assert before == ("sender_lost", "the stage was cancelled", "z-first")
    durable, restored = _restart(tmp_path, durable)
    try:
        assert restored.lost_senders == ["z-first", "m-second", "a-later"]
        assert restored.end_status() == before
        restored.register("sender", "b-fourth", "p")
        restored.close_handle("b-fourth", lost=True)  # numbered after the restored ones
        durable.commit(restored)
        durable, again = _restart(tmp_path, durable)
        assert again.lost_senders == ["z-first", "m-second", "a-later", "b-fourth"]
    finally:
        durable.close()
