"""``ChannelStore``: round trips, atomicity, crashes, hostile files, and a model check.

Every test uses a real SQLite file under ``tmp_path``. The crash test runs a child
process that dies with ``os._exit`` in the middle of a commit, after part of the
transaction has reached the write-ahead log.
"""

from __future__ import annotations

import pickle
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from klaw_ray.ray import _store
from klaw_ray.ray._store import (
    APPLICATION_ID,
    Changes,
    ChannelStore,
    Snapshot,
    StoredCounters,
    StoredEntry,
    StoredHandle,
    StoredMeta,
    StoredSettings,
    StoredWriter,
    StoreError,
)

META = StoredMeta("orders", "shop", 100, "<class 'int'>", False, "at_least_once", 1.5e9)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return ChannelStore.path_for(tmp_path / "channels", "shop", "orders")


@pytest.fixture
def store(path: Path) -> Iterator[ChannelStore]:
    """A store holding a freshly created channel."""
    store = ChannelStore(path)
    store.create(META)
    yield store
    store.close()


def _entries(ids: range, item: bytes = b"\xa1x") -> list[StoredEntry]:
    return [StoredEntry(i, i, item + i.to_bytes(4, "big")) for i in ids]


def _reopen(store: ChannelStore) -> ChannelStore:
    store.close()
    return ChannelStore(store.path)


def _snapshot(store: ChannelStore) -> Snapshot:
    snapshot = store.load()
    assert snapshot is not None
    return snapshot


# --- round trips -----------------------------------------------------------------------


def test_a_new_database_loads_as_none_until_created(path: Path) -> None:
    store = ChannelStore(path)
    try:
        assert store.path == path
        assert path.is_file()
        assert store.load() is None
        assert store.create(META) == 1
        assert store.load() == Snapshot(META, 1, StoredCounters(), [], [], [])
    finally:
        store.close()


def test_every_kind_of_change_survives_a_reopen(store: ChannelStore) -> None:
    handles = [
        StoredHandle("s1", "sender", "open", "proc-a"),
        StoredHandle("r1", "receiver", "open"),
    ]
    writers = [StoredWriter("w1", "s1", 4, 10), StoredWriter("w2", "s1", -1, 3)]
    counters = StoredCounters(10, 10, 2, 1, 1, 0, 10)
    store.commit(
        Changes(entries=_entries(range(10)), handles=handles, writers=writers, counters=counters)
    )
    leased = StoredEntry(3, 3, _entries(range(3, 4))[0].item, 2, "r1", 1.5e9 + 30.25)
    store.commit(
        Changes(
            entries=[leased],
            deleted=[0, 1],
            handles=[StoredHandle("r1", "receiver", "lost", "proc-b")],
            writers=[StoredWriter("w1", "s1", 5, 9)],
            dropped_writers=["w2"],
        )
    )
    store = _reopen(store)
    try:
        assert store.load() == Snapshot(
            META,
            1,
            counters,
            [*_entries(range(2, 3)), leased, *_entries(range(4, 10))],
            [StoredHandle("r1", "receiver", "lost", "proc-b"), handles[0]],
            [StoredWriter("w1", "s1", 5, 9)],
        )
    finally:
        store.close()


def test_supervised_handles_and_abort_reasons_survive_a_reopen(store: ChannelStore) -> None:
    worker_sink = StoredHandle("s2", "sender", "open", "worker-1", supervised=True)
    store.commit(Changes(handles=[StoredHandle("s1", "sender", "open", "driver"), worker_sink]))
    # One commit closes the aborted sender with its reason, as the actor writes an abort.
    aborted = StoredHandle(
        "s1", "sender", "lost", reason="value 7 failed: ZeroDivisionError", lost_order=1
    )
    store.commit(Changes(handles=[aborted]))
    store = _reopen(store)
    try:
        assert _snapshot(store).handles == [aborted, worker_sink]
        closed = StoredHandle("s2", "sender", "closed")  # supervised no more once closed
        store.commit(Changes(handles=[closed]))
        assert _snapshot(store).handles == [aborted, closed]
    finally:
        store.close()


def test_meta_of_every_shape_round_trips(tmp_path: Path) -> None:
    meta = StoredMeta("n", "ns", None, "", True, "at_most_once", 0.0)
    store = ChannelStore(tmp_path / "unbounded.sqlite3")
    store.create(meta)
    store = _reopen(store)
    try:
        snapshot = _snapshot(store)
        assert snapshot.meta == meta
        assert snapshot.meta.by_reference is True
        assert snapshot.meta.capacity is None
    finally:
        store.close()


def test_entries_load_ordered_by_pos_then_id(store: ChannelStore) -> None:
    entries = [
        StoredEntry(7, 2, b"\x01"),
        StoredEntry(3, 2, b"\x02", 1, "r1", 9.0),
        StoredEntry(1, 5, b"\x03"),
        StoredEntry(9, -4, b"\x04", 1),  # redelivered: ahead of everything
        StoredEntry(2, -4, b"\x05", 2),
    ]
    store.commit(Changes(entries=entries))
    assert [(e.pos, e.id) for e in _snapshot(store).entries] == [
        (-4, 2),
        (-4, 9),
        (2, 3),
        (2, 7),
        (5, 1),
    ]


@pytest.mark.parametrize("count", [1, 3, 255, 256, 257, 1000, 1537])
def test_batches_of_any_size_round_trip(store: ChannelStore, count: int) -> None:
    store.commit(Changes(entries=_entries(range(count))))
    assert _snapshot(store).entries == _entries(range(count))
    leased = [StoredEntry(e.id, e.pos, e.item, 1, "r1", 2.0) for e in _entries(range(count))]
    store.commit(Changes(entries=leased))
    assert _snapshot(store).entries == leased
    store.commit(Changes(deleted=list(range(count))))
    assert _snapshot(store).entries == []


def test_a_later_entry_for_the_same_id_wins_within_one_commit(store: ChannelStore) -> None:
    store.commit(Changes(entries=[StoredEntry(1, 1, b"\x01"), StoredEntry(1, 0, b"\x02", 1)]))
    assert _snapshot(store).entries == [StoredEntry(1, 0, b"\x02", 1)]


def test_deletes_remove_exactly_the_ids_named(store: ChannelStore) -> None:
    store.commit(Changes(entries=_entries(range(1, 21))))
    deleted = [10, 3, 1, 2, 2, 7, 8, 9, 20, 55, -1]  # runs, repeats, gaps, unknown ids
    store.commit(Changes(deleted=deleted))
    kept = [i for i in range(1, 21) if i not in deleted]
    assert [e.id for e in _snapshot(store).entries] == kept


def test_removals_come_after_upserts_in_one_commit(store: ChannelStore) -> None:
    store.commit(
        Changes(
            entries=_entries(range(3)),
            deleted=[1],
            writers=[StoredWriter("w1", "s1", 0, 1), StoredWriter("w2", "s1", 0, 1)],
            dropped_writers=["w2", "unknown"],
        )
    )
    snapshot = _snapshot(store)
    assert [e.id for e in snapshot.entries] == [0, 2]
    assert snapshot.writers == [StoredWriter("w1", "s1", 0, 1)]


def test_counters_are_replaced_only_when_given(store: ChannelStore) -> None:
    counters = StoredCounters(5, 4, 3, 2, 1, 1, 9)
    store.commit(Changes(counters=counters))
    store.commit(Changes(entries=_entries(range(1))))
    assert _snapshot(store).counters == counters


def test_empty_changes_write_nothing(store: ChannelStore) -> None:
    assert not Changes()
    for changes in (
        Changes(entries=_entries(range(1))),
        Changes(deleted=[1]),
        Changes(handles=[StoredHandle("s", "sender", "open")]),
        Changes(writers=[StoredWriter("w", "s", -1, 0)]),
        Changes(dropped_writers=["w"]),
        Changes(counters=StoredCounters()),
    ):
        assert changes
    # Another connection holds the write lock: an empty commit needs none.
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        store.commit(Changes())
        with pytest.raises(StoreError, match="locked") as caught:
            store.commit(Changes(deleted=[1]))
        assert caught.value.path == store.path
    finally:
        other.close()


def test_incarnation_grows_by_one_per_start(store: ChannelStore) -> None:
    assert _snapshot(store).incarnation == 1
    for expected in (2, 3, 4):
        store = _reopen(store)
        assert _snapshot(store).incarnation == expected - 1
        assert store.begin_incarnation() == expected
    store = _reopen(store)
    try:
        assert _snapshot(store).incarnation == 4
    finally:
        store.close()


def test_create_on_an_existing_channel_is_refused(store: ChannelStore) -> None:
    store.commit(Changes(entries=_entries(range(2))))
    before = _snapshot(store)
    with pytest.raises(StoreError, match="already holds a channel"):
        store.create(StoredMeta("other", "ns", None, "int", False, "at_most_once", 0.0))
    store = _reopen(store)
    try:
        with pytest.raises(StoreError, match="already holds a channel"):
            store.create(META)
        assert store.load() == before
    finally:
        store.close()


def test_a_new_database_refuses_incarnations_and_commits(path: Path) -> None:
    store = ChannelStore(path)
    try:
        with pytest.raises(StoreError, match="holds no channel"):
            store.begin_incarnation()
        with pytest.raises(StoreError, match="no channel loaded or created"):
            store.commit(Changes(entries=_entries(range(1))))
        assert store.load() is None
        assert store.create(META) == 1
    finally:
        store.close()


def test_a_closed_store_refuses_every_call_but_close(store: ChannelStore) -> None:
    store.close()
    store.close()
    for call in (
        store.load,
        store.begin_incarnation,
        lambda: store.create(META),
        lambda: store.commit(Changes(deleted=[1])),
    ):
        with pytest.raises(StoreError, match="closed"):
            call()


def test_commits_from_many_threads_are_serialised(store: ChannelStore) -> None:
    def put(thread: int) -> None:
        for batch in range(20):
            first = thread * 1000 + batch * 10
            store.commit(Changes(entries=_entries(range(first, first + 10))))

    with ThreadPoolExecutor(max_workers=4) as pool:
        for done in [pool.submit(put, thread) for thread in range(4)]:
            done.result()
    expected = [t * 1000 + i for t in range(4) for i in range(200)]
    assert [e.id for e in _snapshot(store).entries] == expected


def test_a_database_that_is_not_a_file_is_refused() -> None:
    with pytest.raises(StoreError, match="cannot use WAL journal mode"):
        ChannelStore(":memory:")


def test_store_error_names_the_file_and_pickles(path: Path) -> None:
    error = StoreError(path, "it is on fire")
    assert str(error) == f"channel store {str(path)!r}: it is on fire"
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.path, copy.problem) == (StoreError, path, "it is on fire")


# --- atomicity -------------------------------------------------------------------------

_BAD_CHANGES: dict[str, Changes] = {
    "text item": Changes(entries=[*_entries(range(100, 400)), StoredEntry(400, 400, "x")]),  # type: ignore[arg-type]
    "list item": Changes(entries=[*_entries(range(100, 400)), StoredEntry(400, 400, [1])]),  # type: ignore[arg-type]
    "id beyond int64": Changes(entries=[*_entries(range(100, 400)), StoredEntry(2**63, 0, b"")]),
    "unencodable text": Changes(
        entries=_entries(range(100, 400)), handles=[StoredHandle("\ud800", "sender", "open")]
    ),
    "handle kind": Changes(
        entries=_entries(range(100, 400)),
        deleted=[0, 1],
        handles=[StoredHandle("h", "both", "open")],  # type: ignore[arg-type]
    ),
    "supervised flag": Changes(
        entries=_entries(range(100, 400)),
        handles=[StoredHandle("h", "sender", "open", supervised=2)],  # type: ignore[arg-type]
    ),
    "abort reason": Changes(
        handles=[StoredHandle("h", "sender", "lost", reason=b"why")],  # type: ignore[arg-type]
    ),
    "lost order": Changes(
        entries=_entries(range(100, 400)),
        handles=[StoredHandle("h", "sender", "lost", lost_order=-1)],
    ),
    "writer seq": Changes(
        deleted=[0, 1, 2],
        counters=StoredCounters(99),
        writers=[StoredWriter("w", "s", 1.5, 0)],  # type: ignore[arg-type]
        dropped_writers=["w1"],
    ),
    "counters": Changes(deleted=[0], counters=StoredCounters(None)),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", list(_BAD_CHANGES))
def test_a_commit_that_fails_part_way_changes_nothing(store: ChannelStore, case: str) -> None:
    store.commit(
        Changes(
            entries=_entries(range(10)),
            handles=[StoredHandle("s1", "sender", "open")],
            writers=[StoredWriter("w1", "s1", 0, 5)],
            counters=StoredCounters(10, 10),
        )
    )
    before = _snapshot(store)
    with pytest.raises(StoreError, match="cannot commit changes") as caught:
        store.commit(_BAD_CHANGES[case])
    assert caught.value.path == store.path
    assert caught.value.__cause__ is not None
    assert store.load() == before
    store = _reopen(store)
    try:
        assert store.load() == before
        store.commit(Changes(deleted=[0]))  # the store is still usable
        assert [e.id for e in _snapshot(store).entries] == list(range(1, 10))
    finally:
        store.close()


def test_a_failed_create_leaves_a_new_database(path: Path) -> None:
    store = ChannelStore(path)
    try:
        bad = StoredMeta("n", "ns", "ten", "int", False, "at_least_once", 0.0)  # type: ignore[arg-type]
        with pytest.raises(StoreError, match="cannot create the channel"):
            store.create(bad)
        assert store.load() is None
        assert store.create(META) == 1
    finally:
        store.close()


def _load_store_alone() -> str:
    """Python source that loads the store module from its file, without ``klaw_ray.ray``."""
    return (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('klaw_store', {_store.__file__!r})\n"
        "S = importlib.util.module_from_spec(spec)\n"
        "sys.modules[spec.name] = S\n"
        "spec.loader.exec_module(S)\n"
    )


def _run_child(source: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _load_store_alone() + source, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


_CRASHING_CHILD = """
import os, sqlite3
path, batches = sys.argv[1], int(sys.argv[2])
store = S.ChannelStore(path)
store.create(S.StoredMeta("orders", "shop", None, "int", False, "at_least_once", 0.0))
for b in range(batches):
    entries = [S.StoredEntry(b * 10 + i, b * 10 + i, bytes([b, i])) for i in range(10)]
    counters = S.StoredCounters(next_id=(b + 1) * 10, total_sent=(b + 1) * 10)
    store.commit(S.Changes(entries=entries, counters=counters, deleted=[b * 10 - 1]))
print(os.path.getsize(path + "-wal"), flush=True)

class Boom:
    pass

# Binding a Boom kills the process: 600 rows of 16 KiB are in the transaction by then,
# more than SQLite's page cache holds, so part of it is already in the WAL file.
sqlite3.register_adapter(Boom, lambda boom: os._exit(1))
big = [S.StoredEntry(10_000 + i, 10_000 + i, b"x" * 16384) for i in range(600)]
big.append(S.StoredEntry(20_000, 20_000, Boom()))
store.commit(S.Changes(entries=big, deleted=[0, 1, 2], counters=S.StoredCounters(99_999)))
print("the commit returned", flush=True)
"""


@pytest.mark.slow
def test_a_process_dying_mid_commit_keeps_every_earlier_commit_and_none_of_its(
    path: Path,
) -> None:
    batches = 5
    child = _run_child(_CRASHING_CHILD, str(path), str(batches))
    assert child.returncode == 1, child.stderr
    assert "returned" not in child.stdout
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > int(child.stdout.split()[0]), "the dying commit reached the WAL"
    store = ChannelStore(path)
    try:
        snapshot = _snapshot(store)
        assert snapshot.counters == StoredCounters(next_id=50, total_sent=50)
        survivors = [b * 10 + i for b in range(batches) for i in range(9 if b < 4 else 10)]
        assert [e.id for e in snapshot.entries] == survivors
        assert all(e.item == bytes([e.id // 10, e.id % 10]) for e in snapshot.entries)
        assert store.begin_incarnation() == 2
    finally:
        store.close()


@pytest.mark.slow
def test_the_store_runs_without_importing_ray(tmp_path: Path) -> None:
    child = _run_child(
        "store = S.ChannelStore(sys.argv[1])\n"
        "store.create(S.StoredMeta('n', 'ns', None, 'int', False, 'at_least_once', 0.0))\n"
        "store.commit(S.Changes(entries=[S.StoredEntry(0, 0, b'\\x01')]))\n"
        "assert store.load().entries == [S.StoredEntry(0, 0, b'\\x01')]\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))\n",
        str(tmp_path / "alone.sqlite3"),
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "[]"


# --- hostile files ---------------------------------------------------------------------


def _refused(path: Path, match: str) -> StoreError:
    before = path.read_bytes()
    with pytest.raises(StoreError, match=match) as caught:
        ChannelStore(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before, "a refused file is left as it was"
    return caught.value


@pytest.fixture
def full_file(tmp_path: Path) -> Path:
    """A closed klaw channel database of some fifty pages."""
    path = tmp_path / "full.sqlite3"
    store = ChannelStore(path)
    store.create(META)
    store.commit(Changes(entries=_entries(range(3000), b"v" * 100)))
    store.close()
    assert not Path(f"{path}-wal").exists()  # checkpointed: every page in the file
    return path


def test_a_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_text("not a database\n" * 100, encoding="utf-8")
    _refused(path, "file is not a database")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_a_truncated_database_is_refused(full_file: Path, keep: float) -> None:
    with full_file.open("r+b") as f:
        f.truncate(int(full_file.stat().st_size * keep))
    _refused(full_file, "malformed|corrupted")


@pytest.mark.parametrize("page", [1, 2, 40, -1])
def test_a_page_of_garbage_is_refused(full_file: Path, page: int) -> None:
    page_size = int.from_bytes(full_file.read_bytes()[16:18], "big")  # from the header
    pages = full_file.stat().st_size // page_size
    with full_file.open("r+b") as f:
        f.seek((page % pages) * page_size)
        f.write(b"\xa5" * page_size)
    _refused(full_file, "malformed|corrupted")


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    conn.close()
    error = _refused(path, "not a klaw channel database")
    assert "users" in error.problem


def test_a_foreign_application_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA application_id = 42")
    conn.close()
    _refused(path, "application_id 0x2a")


def _tamper(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(sql)
    finally:
        conn.close()


def test_a_newer_schema_version_is_refused(store: ChannelStore) -> None:
    store.close()
    newer = _store.SCHEMA_VERSION + 1
    _tamper(store.path, f"UPDATE klaw_schema SET version = {newer}")
    _refused(store.path, f"newer klaw.*schema version {newer}")


def test_operator_settings_survive_a_reopen(store: ChannelStore) -> None:
    assert _snapshot(store).settings == StoredSettings()
    store.commit(Changes(settings=StoredSettings(capacity=7, paused=True)))
    store = _reopen(store)
    try:
        assert _snapshot(store).settings == StoredSettings(capacity=7, paused=True)
        store.commit(Changes(settings=StoredSettings(capacity=7, shut=True)))
        assert _snapshot(store).settings == StoredSettings(capacity=7, shut=True)
    finally:
        store.close()


# The schema of versions 1 and 2 as they wrote it, kept here verbatim: an upgrade must
# meet the tables an older klaw created, not a newer file with its version number turned
# back.
_SCHEMA_1 = f"""
CREATE TABLE klaw_schema (version INTEGER NOT NULL) STRICT;
INSERT INTO klaw_schema (version) VALUES (1);
CREATE TABLE channel (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    name TEXT NOT NULL,
    namespace TEXT NOT NULL,
    capacity INTEGER,
    value_type TEXT NOT NULL,
    by_reference INTEGER NOT NULL CHECK (by_reference IN (0, 1)),
    delivery TEXT NOT NULL,
    created_at REAL NOT NULL,
    incarnation INTEGER NOT NULL
) STRICT;
CREATE TABLE counters (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    next_id INTEGER NOT NULL,
    total_sent INTEGER NOT NULL,
    total_received INTEGER NOT NULL,
    total_acked INTEGER NOT NULL,
    redelivered INTEGER NOT NULL,
    lost INTEGER NOT NULL,
    high_watermark INTEGER NOT NULL
) STRICT;
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    pos INTEGER NOT NULL,
    item BLOB NOT NULL,
    deliveries INTEGER NOT NULL,
    leased_to TEXT NOT NULL,
    lease_deadline REAL NOT NULL
) STRICT;
CREATE TABLE handles (
    handle_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('sender', 'receiver')),
    state TEXT NOT NULL CHECK (state IN ('open', 'closed', 'lost')),
    process TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE writers (
    writer TEXT PRIMARY KEY,
    handle_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    credit INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
PRAGMA application_id = {APPLICATION_ID};
INSERT INTO channel VALUES (0, 'orders', 'shop', 100, '<class ''int''>', 0, 'at_least_once',
    1.5e9, 4);
INSERT INTO counters VALUES (0, 3, 3, 1, 0, 0, 0, 3);
INSERT INTO entries VALUES (0, 0, x'a178', 0, '', 0.0), (1, 1, x'a179', 0, '', 0.0),
    (2, 2, x'a17a', 1, 'r1', 1.5e9);
INSERT INTO handles VALUES ('r1', 'receiver', 'open', 'proc-a'),
    ('s1', 'sender', 'lost', ''), ('s2', 'sender', 'open', 'proc-b');
INSERT INTO writers VALUES ('w2', 's2', 2, 5);
"""
_SCHEMA_2 = (
    _SCHEMA_1.replace("VALUES (1)", "VALUES (2)")
    + """
CREATE TABLE settings (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    capacity INTEGER,
    paused INTEGER NOT NULL CHECK (paused IN (0, 1)),
    shut INTEGER NOT NULL CHECK (shut IN (0, 1))
) STRICT;
INSERT INTO settings VALUES (0, 7, 1, 0);
"""
)


def _old_file(path: Path, schema: str) -> Path:
    """Write a channel database as an older klaw did, with sqlite3 alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(schema)
    finally:
        conn.close()
    return path


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        version: int = conn.execute("SELECT version FROM klaw_schema").fetchone()[0]
    finally:
        conn.close()
    return version


_OLD_HANDLES = [
    StoredHandle("r1", "receiver", "open", "proc-a"),
    StoredHandle("s1", "sender", "lost"),
    StoredHandle("s2", "sender", "open", "proc-b"),
]
"""The handles of an old file, as the upgraded file reads them: none supervised, no reason."""


@pytest.mark.parametrize(
    ("schema", "settings"),
    [(_SCHEMA_1, StoredSettings()), (_SCHEMA_2, StoredSettings(capacity=7, paused=True))],
    ids=["version_1", "version_2"],
)
def test_an_older_file_is_upgraded_in_place_keeping_its_channel(
    path: Path, schema: str, settings: StoredSettings
) -> None:
    _old_file(path, schema)
    upgraded = ChannelStore(path)
    try:
        snapshot = _snapshot(upgraded)
        assert snapshot.incarnation == 4
        assert snapshot.counters == StoredCounters(3, 3, 1, 0, 0, 0, 3)
        assert [(entry.id, entry.leased_to) for entry in snapshot.entries] == [
            (0, ""),
            (1, ""),
            (2, "r1"),
        ]
        assert snapshot.handles == _OLD_HANDLES
        assert snapshot.writers == [StoredWriter("w2", "s2", 2, 5)]
        assert snapshot.settings == settings
        supervised = StoredHandle("s3", "sender", "open", "proc-c", supervised=True)
        aborted = StoredHandle("s2", "sender", "lost", reason="the stage was cancelled")
        upgraded.commit(Changes(handles=[supervised, aborted], settings=StoredSettings(shut=True)))
    finally:
        upgraded.close()
    assert _version(path) == _store.SCHEMA_VERSION
    reopened = ChannelStore(path)
    try:
        snapshot = _snapshot(reopened)
        assert snapshot.handles == [*_OLD_HANDLES[:2], aborted, supervised]
        assert snapshot.settings == StoredSettings(shut=True)
    finally:
        reopened.close()


def test_a_failed_upgrade_leaves_the_file_at_its_old_version(path: Path) -> None:
    # A version-2 file whose handles table already has the second column version 3
    # adds: that ALTER fails, and the first one (supervised) rolls back with it.
    _old_file(path, _SCHEMA_2 + "ALTER TABLE handles ADD COLUMN reason TEXT;")
    with pytest.raises(StoreError, match="duplicate column name: reason"):
        ChannelStore(path)
    assert _version(path) == 2
    conn = sqlite3.connect(path)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(handles)")]
    finally:
        conn.close()
    assert columns == ["handle_id", "kind", "state", "process", "reason"]


def test_a_corrupted_old_file_is_refused_before_it_is_upgraded(path: Path) -> None:
    _old_file(
        path,
        _SCHEMA_2 + "WITH RECURSIVE n(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
        " INSERT INTO entries SELECT i, i, randomblob(100), 0, '', 0.0 FROM n;",
    )
    page_size = int.from_bytes(path.read_bytes()[16:18], "big")
    pages = path.stat().st_size // page_size
    with path.open("r+b") as f:  # a page of the entries, in the middle of the file
        f.seek((pages // 2) * page_size)
        f.write(b"\xa5" * page_size)
    _refused(path, "malformed|corrupted")
    assert _version(path) == 2  # refused as it was: no upgrade was written to it
    conn = sqlite3.connect(path)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(handles)")]
    finally:
        conn.close()
    assert columns == ["handle_id", "kind", "state", "process"]


def test_an_upgrade_finding_a_newer_version_writes_nothing_and_reports_it(path: Path) -> None:
    # What _upgrade meets when another process upgraded the file further meanwhile.
    newer = _store.SCHEMA_VERSION + 1
    _old_file(path, _SCHEMA_2.replace("VALUES (2)", f"VALUES ({newer})", 1))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert ChannelStore._upgrade(conn) == newer
        assert not conn.in_transaction
    finally:
        conn.close()
    assert _version(path) == newer
    _refused(path, f"newer klaw.*schema version {newer}")


@pytest.mark.parametrize("version", [0, -1, "'3'"])
def test_an_unknown_schema_version_is_refused(store: ChannelStore, version: object) -> None:
    store.close()
    _tamper(store.path, "DROP TABLE klaw_schema")
    _tamper(store.path, "CREATE TABLE klaw_schema (version)")
    _tamper(store.path, f"INSERT INTO klaw_schema VALUES ({version})")
    _refused(store.path, "unknown schema version")


def test_a_missing_schema_table_is_refused(store: ChannelStore) -> None:
    store.close()
    _tamper(store.path, "DROP TABLE klaw_schema")
    _refused(store.path, "no klaw_schema table")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open") as caught:
        ChannelStore(tmp_path)
    assert caught.value.path == tmp_path


def test_a_path_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StoreError, match="cannot create its directory"):
        ChannelStore(tmp_path / "file" / "chan.sqlite3")


def test_the_file_is_in_wal_mode_and_says_it_is_klaws(store: ChannelStore) -> None:
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    finally:
        conn.close()


# --- file names ------------------------------------------------------------------------


def test_path_for_puts_one_file_per_channel_under_its_namespace(tmp_path: Path) -> None:
    path = ChannelStore.path_for(tmp_path, "shop-eu", "Orders_2")
    assert path == tmp_path / "shop-eu" / "Orders_2.sqlite3"
    assert not path.parent.exists()


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        ("shop", "a/b"),
        ("shop", ".."),
        ("shop", "../../etc/passwd"),
        ("shop", "a\\b"),
        ("shop", ""),
        ("shop", "x" * 256),
        ("..", "orders"),
        ("a/b", "orders"),
        ("", "orders"),
    ],
)
def test_path_for_refuses_names_that_could_leave_the_directory(
    tmp_path: Path, namespace: str, name: str
) -> None:
    with pytest.raises(ValueError, match="cannot name a channel store file"):
        ChannelStore.path_for(tmp_path, namespace, name)


# --- the store against a model ---------------------------------------------------------

_ids = st.integers(min_value=0, max_value=40)
_text = st.text(st.characters(codec="utf-8"), max_size=6)
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_times = st.floats(min_value=0.0, max_value=2e9, allow_nan=False)
_stored_entries = st.builds(
    StoredEntry, _ids, _int64, st.binary(max_size=24), st.integers(0, 5), _text, _times
)
_stored_handles = st.builds(
    StoredHandle,
    st.sampled_from(["s1", "s2", "r1", "r2"]),
    st.sampled_from(["sender", "receiver"]),
    st.sampled_from(["open", "closed", "lost"]),
    _text,
    st.booleans(),
    _text,
    st.integers(min_value=0, max_value=2**63 - 1),
)
_writer_ids = st.sampled_from(["w1", "w2", "w3"])
_stored_writers = st.builds(StoredWriter, _writer_ids, _text, _int64, _int64)
_counters = st.builds(StoredCounters, *[_int64] * 7)
_changes = st.builds(
    Changes,
    entries=st.lists(_stored_entries, max_size=8),
    deleted=st.lists(_ids, max_size=8),
    handles=st.lists(_stored_handles, max_size=3),
    writers=st.lists(_stored_writers, max_size=3),
    dropped_writers=st.lists(_writer_ids, max_size=2),
    counters=st.none() | _counters,
)


class StoreMachine(RuleBasedStateMachine):
    """Random commits, leases, acknowledgements and reopens against plain dictionaries."""

    receivers = Bundle("receivers")

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="klaw-store-"))
        self.store = ChannelStore(self.dir / "chan.sqlite3")
        self.incarnation = self.store.create(META)
        self.entries: dict[int, StoredEntry] = {}
        self.handles: dict[str, StoredHandle] = {}
        self.writers: dict[str, StoredWriter] = {}
        self.counters = StoredCounters()
        self.next_id = 1000  # the put rule's ids; _ids draws below this
        self.head = 0  # smaller than every queue position the put rule uses

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir)

    def _commit(self, changes: Changes) -> None:
        self.store.commit(changes)
        self.entries.update((e.id, e) for e in changes.entries)
        self.handles.update((h.handle_id, h) for h in changes.handles)
        self.writers.update((w.writer, w) for w in changes.writers)
        for id_ in changes.deleted:
            self.entries.pop(id_, None)
        for writer in changes.dropped_writers:
            self.writers.pop(writer, None)
        if changes.counters is not None:
            self.counters = changes.counters

    def _queued(self) -> list[StoredEntry]:
        return sorted((e for e in self.entries.values() if not e.leased_to), key=_order)

    @initialize(target=receivers)
    def receiver(self) -> str:
        return "r1"

    @rule(target=receivers, name=st.sampled_from(["r2", "r3"]))
    def another_receiver(self, name: str) -> str:
        return name

    @rule(items=st.lists(st.binary(max_size=32), max_size=300))
    def put(self, items: list[bytes]) -> None:
        first = self.next_id
        self.next_id += len(items)
        entries = [StoredEntry(first + i, first + i, item) for i, item in enumerate(items)]
        self._commit(Changes(entries=entries, counters=StoredCounters(next_id=self.next_id)))

    @rule(receiver=receivers, count=st.integers(1, 300), deadline=_times)
    def lease(self, receiver: str, count: int, deadline: float) -> None:
        leased = [
            StoredEntry(e.id, e.pos, e.item, e.deliveries + 1, receiver, deadline)
            for e in self._queued()[:count]
        ]
        self._commit(Changes(entries=leased))

    @rule(receiver=consumes(receivers))
    def receiver_dies(self, receiver: str) -> None:
        held = sorted((e for e in self.entries.values() if e.leased_to == receiver), key=_order)
        self.head -= len(held)
        back = [StoredEntry(e.id, self.head + i, e.item, e.deliveries) for i, e in enumerate(held)]
        self._commit(Changes(entries=back))

    @rule(receiver=receivers, count=st.integers(1, 300), unknown=st.lists(_int64, max_size=2))
    def acknowledge(self, receiver: str, count: int, unknown: list[int]) -> None:
        held = sorted(e.id for e in self.entries.values() if e.leased_to == receiver)
        self._commit(Changes(deleted=held[:count] + unknown))

    @rule(changes=_changes)
    def anything(self, changes: Changes) -> None:
        self._commit(changes)

    @rule(changes=_changes, bad=st.sampled_from(list(_BAD_CHANGES.values())))
    def failing_commit(self, changes: Changes, bad: Changes) -> None:
        mixed = Changes(
            entries=changes.entries + bad.entries,
            deleted=changes.deleted + bad.deleted,
            handles=changes.handles + bad.handles,
            writers=changes.writers + bad.writers,
            dropped_writers=changes.dropped_writers + bad.dropped_writers,
            counters=bad.counters or changes.counters,
        )
        try:
            self.store.commit(mixed)
        except StoreError:
            return
        pytest.fail(f"a bad commit went through: {mixed}")

    @rule()
    def reopen(self) -> None:
        self.store = _reopen(self.store)
        assert _snapshot(self.store).incarnation == self.incarnation
        self.incarnation = self.store.begin_incarnation()

    @invariant()
    def the_store_holds_the_model(self) -> None:
        assert self.store.load() == Snapshot(
            META,
            self.incarnation,
            self.counters,
            sorted(self.entries.values(), key=_order),
            [self.handles[k] for k in sorted(self.handles)],
            [self.writers[k] for k in sorted(self.writers)],
        )


def _order(entry: StoredEntry) -> tuple[int, int]:
    return entry.pos, entry.id


def test_the_store_against_a_model() -> None:
    run_state_machine_as_test(
        StoreMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
