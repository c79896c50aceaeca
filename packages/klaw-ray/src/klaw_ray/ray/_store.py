"""A durable channel's state in one SQLite file: a crash-safe mirror of the channel actor.

The channel actor keeps a channel's whole state in memory and owns every decision about
it; for a durable channel it also describes each operation's effect as a :class:`Changes`
and hands it to :meth:`ChannelStore.commit`, which writes it in one transaction. After the
actor's process dies and Ray starts a new one (or the Ray instance restarts on the same
directory), the new actor opens the same file and resumes from :meth:`ChannelStore.load`.

The store is plain Python on the standard library's :mod:`sqlite3`; it never imports Ray.
The file is in WAL mode with ``synchronous=NORMAL``: a committed transaction survives the
death of the process (and of Ray), but not necessarily an operating-system crash or a
power cut, which may take the last transactions (never part of one) with them.

Schema (version 3): one-row tables ``klaw_schema`` (the version), ``channel``
(:class:`StoredMeta` and the incarnation), ``counters`` and ``settings`` (what an
operator changed: :class:`StoredSettings`); ``entries`` keyed by an
``INTEGER PRIMARY KEY`` id; ``handles`` and ``writers`` keyed by their text ids
(``WITHOUT ROWID``). Every table is ``STRICT``: a value of the wrong type is refused, not
stored. An older file is upgraded in place when opened, in one transaction: version 1
gains the ``settings`` table, version 2 the ``supervised``, ``reason`` and ``lost_order``
columns of ``handles`` (its handles: not supervised, no reason, lost in no known order).
An older klaw then refuses the file as written by a newer one.

The file's header carries SQLite's ``application_id`` :data:`APPLICATION_ID`, so a klaw
channel database is told apart from any other SQLite file before a table is read.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import starmap
from pathlib import Path
from typing import Any, Final, Literal

import msgspec
from msgspec.structs import astuple

from klaw_types import Identifier, Namespace

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "Changes",
    "ChannelStore",
    "Snapshot",
    "StoreError",
    "StoredCounters",
    "StoredEntry",
    "StoredHandle",
    "StoredMeta",
    "StoredSettings",
    "StoredWriter",
]

SCHEMA_VERSION: Final = 3
"""The schema version this module writes, and the newest it reads."""

APPLICATION_ID: Final = 0x6B6C6177
"""SQLite ``application_id`` of a klaw channel database (``b"klaw"`` read as an integer)."""

_MIN_SQLITE: Final = (3, 37, 0)  # STRICT tables
_PAGE_SIZE: Final = 8192
_MAX_ENTRY_ROWS: Final = 256  # per statement; more gains nothing measurable
_FILE_SUFFIX: Final = ".sqlite3"


class StoreError(Exception):
    """A channel store's file cannot be opened, read or written as asked.

    Raised for a file that is not a klaw channel database, one written by a newer klaw, a
    corrupted file, an I/O error, a write the database refuses, or a call in the wrong
    state (a store that is closed, a channel created twice). The underlying exception, if
    any, is chained as ``__cause__``.

    Attributes:
        path: The database file.
        problem: What is wrong, in a few words.
    """

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"channel store {str(path)!r}: {problem}")

    def __reduce__(self) -> tuple[type[StoreError], tuple[Path, str]]:
        return type(self), (self.path, self.problem)


class StoredEntry(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One value the channel holds, queued or leased to a receiver.

    The queue is the entries with ``leased_to == ""`` ordered by ``(pos, id)``.
    """

    id: int
    """Delivery id, unique within the channel and never reused; assigned by the actor."""
    pos: int
    """Queue position; a redelivered value gets one smaller than any other, to go first."""
    item: bytes
    """One encoded value: a complete MessagePack value."""
    deliveries: int = 0
    """How many times the value was handed to a receiver."""
    leased_to: str = ""
    """Id of the receiver handle holding it unacknowledged; ``""`` while queued."""
    lease_deadline: float = 0.0
    """Unix time at which the lease expires; ``0.0`` while queued."""


class StoredHandle(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A sender or receiver handle the channel knows."""

    handle_id: str
    """The handle's id, unique within the channel."""
    kind: Literal["sender", "receiver"]
    """Which end of the channel it is."""
    state: Literal["open", "closed", "lost"]
    """``"lost"``: its process died without closing it."""
    process: str = ""
    """Id of the process that last held it."""
    supervised: bool = False
    """Whether it is closed normally, not as lost, when its process dies (a stage
    worker's sink or dead-letter clone, whose stage replaces the worker)."""
    reason: str = ""
    """A lost sender's explanation when it was aborted on purpose; ``""`` otherwise."""
    lost_order: int = 0
    """A lost sender's place in the order the channel's senders were lost (1 for the
    first, which is the one receivers are told of); 0 for every other handle."""


class StoredWriter(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One process's use of one sender handle: its put sequence and its credit."""

    writer: str
    """The writer's id, unique within the channel."""
    handle_id: str
    """The sender handle it writes through."""
    last_seq: int
    """Highest put sequence number applied; ``-1`` before the first."""
    credit: int
    """How many values it may still send without asking."""


class StoredCounters(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The channel's counters, replaced as a whole."""

    next_id: int = 0
    """The delivery id the actor assigns next."""
    total_sent: int = 0
    """Values accepted from senders."""
    total_received: int = 0
    """Values handed to receivers, redeliveries included."""
    total_acked: int = 0
    """Values acknowledged by receivers."""
    redelivered: int = 0
    """Values returned to the queue after their receiver died or their lease expired."""
    lost: int = 0
    """Values dropped without delivery."""
    high_watermark: int = 0
    """The largest number of values the channel has held at once."""


class StoredMeta(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What the channel is, written once by :meth:`ChannelStore.create`."""

    name: str
    """The channel's name."""
    namespace: str
    """The Ray namespace of its actor."""
    capacity: int | None
    """Its capacity; ``None`` for unbounded."""
    value_type: str
    """A description of the value type, compared when a handle re-attaches."""
    by_reference: bool
    """Whether values travel as object references."""
    delivery: str
    """``"at_least_once"`` or ``"at_most_once"``."""
    created_at: float
    """Unix time of creation."""


class StoredSettings(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What an operator changed (``klaw channels``), replaced as a whole."""

    capacity: int | None = None
    """The capacity set by a resize; ``None``: the capacity the channel was created with."""
    paused: bool = False
    """Whether the channel is paused (senders get no credit)."""
    shut: bool = False
    """Whether an operator closed the channel (every sender, later ones too)."""


class Snapshot(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """Everything a store holds, as :meth:`ChannelStore.load` reads it."""

    meta: StoredMeta
    """What the channel is."""
    incarnation: int
    """How many times an actor has started on this file (1 after :meth:`~ChannelStore.create`)."""
    counters: StoredCounters
    """The counters as last committed."""
    entries: list[StoredEntry]
    """Every entry, queued and leased, sorted by ``(pos, id)``."""
    handles: list[StoredHandle]
    """Every handle, sorted by ``handle_id``."""
    writers: list[StoredWriter]
    """Every writer, sorted by ``writer``."""
    settings: StoredSettings = StoredSettings()
    """What an operator changed."""


class Changes(msgspec.Struct, gc=False):
    """The effect of one actor operation, built up by the actor and committed at once.

    :meth:`ChannelStore.commit` applies the upserts first, then the removals: an entry id
    both in ``entries`` and in ``deleted`` (a writer both in ``writers`` and in
    ``dropped_writers``) is gone afterwards.
    """

    entries: list[StoredEntry] = []
    """Entries to insert, or to replace whole, by ``id``."""
    deleted: list[int] = []
    """Ids of entries to remove (acknowledged or dropped); unknown ids are ignored."""
    handles: list[StoredHandle] = []
    """Handles to insert, or to replace whole, by ``handle_id``."""
    writers: list[StoredWriter] = []
    """Writers to insert, or to replace whole, by ``writer``."""
    dropped_writers: list[str] = []
    """Ids of writers to remove; unknown ids are ignored."""
    counters: StoredCounters | None = None
    """The counters' new values, or ``None`` to leave them."""
    settings: StoredSettings | None = None
    """The operator's settings, or ``None`` to leave them."""

    def __bool__(self) -> bool:
        """Whether there is anything to write."""
        return bool(
            self.entries
            or self.deleted
            or self.handles
            or self.writers
            or self.dropped_writers
            or self.counters is not None
            or self.settings is not None
        )


_SETTINGS_TABLE: Final = """CREATE TABLE settings (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    capacity INTEGER,
    paused INTEGER NOT NULL CHECK (paused IN (0, 1)),
    shut INTEGER NOT NULL CHECK (shut IN (0, 1))
) STRICT"""

_HANDLE_COLUMNS_3: Final = (
    "supervised INTEGER NOT NULL DEFAULT 0 CHECK (supervised IN (0, 1))",
    "reason TEXT NOT NULL DEFAULT ''",
    "lost_order INTEGER NOT NULL DEFAULT 0 CHECK (lost_order >= 0)",
)
"""The columns version 3 adds to ``handles``; their defaults are what a version-2 row means."""

_SCHEMA: Final = f"""
CREATE TABLE klaw_schema (version INTEGER NOT NULL) STRICT;
INSERT INTO klaw_schema (version) VALUES ({SCHEMA_VERSION});
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
    process TEXT NOT NULL,
    {_HANDLE_COLUMNS_3[0]},
    {_HANDLE_COLUMNS_3[1]},
    {_HANDLE_COLUMNS_3[2]}
) STRICT, WITHOUT ROWID;
CREATE TABLE writers (
    writer TEXT PRIMARY KEY,
    handle_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    credit INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
{_SETTINGS_TABLE};
PRAGMA application_id = {APPLICATION_ID};
"""


def _upsert_entries_sql(rows: int) -> str:
    """One statement inserting or replacing ``rows`` entries.

    A multi-row ``VALUES`` costs SQLite (and the driver) much less per row than
    ``executemany`` of a one-row statement. Within one statement, a later row for the same
    id replaces an earlier one, as it would in separate statements.
    """
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO entries (id, pos, item, deliveries, leased_to, lease_deadline)"
        f" VALUES {values}"
        " ON CONFLICT (id) DO UPDATE SET pos = excluded.pos, item = excluded.item,"
        " deliveries = excluded.deliveries, leased_to = excluded.leased_to,"
        " lease_deadline = excluded.lease_deadline"
    )


_ENTRY_FIELDS: Final = len(StoredEntry.__struct_fields__)
# Statements for 1, 2, 4, ... rows: any batch is a few of them, and each is prepared once.
_UPSERT_ENTRIES: Final = {
    1 << bit: _upsert_entries_sql(1 << bit) for bit in range(_MAX_ENTRY_ROWS.bit_length())
}
_DELETE_ENTRIES: Final = "DELETE FROM entries WHERE id BETWEEN ? AND ?"
_UPSERT_HANDLE: Final = (
    "INSERT INTO handles (handle_id, kind, state, process, supervised, reason, lost_order)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (handle_id) DO UPDATE SET kind = excluded.kind,"
    " state = excluded.state, process = excluded.process,"
    " supervised = excluded.supervised, reason = excluded.reason,"
    " lost_order = excluded.lost_order"
)
_UPSERT_WRITER: Final = (
    "INSERT INTO writers (writer, handle_id, last_seq, credit) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (writer) DO UPDATE SET handle_id = excluded.handle_id,"
    " last_seq = excluded.last_seq, credit = excluded.credit"
)
_DELETE_WRITER: Final = "DELETE FROM writers WHERE writer = ?"
_UPSERT_SETTINGS: Final = (
    "INSERT INTO settings (singleton, capacity, paused, shut) VALUES (0, ?, ?, ?)"
    " ON CONFLICT (singleton) DO UPDATE SET capacity = excluded.capacity,"
    " paused = excluded.paused, shut = excluded.shut"
)
_UPDATE_COUNTERS: Final = (
    "UPDATE counters SET next_id = ?, total_sent = ?, total_received = ?, total_acked = ?,"
    " redelivered = ?, lost = ?, high_watermark = ?"
)
_COUNTER_COLUMNS: Final = (
    "next_id, total_sent, total_received, total_acked, redelivered, lost, high_watermark"
)
_META_COLUMNS: Final = "name, namespace, capacity, value_type, by_reference, delivery, created_at"


def _upgrade_from_1(conn: sqlite3.Connection) -> None:
    """Version 1 to 2: add the ``settings`` table (no operator change yet)."""
    conn.execute(_SETTINGS_TABLE)


def _upgrade_from_2(conn: sqlite3.Connection) -> None:
    """Version 2 to 3: add ``handles.supervised``, ``reason``, ``lost_order`` (0, ``""``, 0)."""
    for column in _HANDLE_COLUMNS_3:
        conn.execute(f"ALTER TABLE handles ADD COLUMN {column}")


_UPGRADES: Final = {1: _upgrade_from_1, 2: _upgrade_from_2}
"""The step from each older schema version to the next, run in order by ``_upgrade``."""


def _id_runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Cover the distinct ``ids`` with the fewest inclusive ranges of consecutive ids.

    An acknowledgement of a batch removes ids that are mostly consecutive, and one range
    delete costs SQLite far less than a delete per id.
    """
    ordered = sorted(set(ids))
    if not ordered:
        return []
    first, last = ordered[0], ordered[-1]
    if last - first + 1 == len(ordered):  # distinct and sorted: no gap
        return [(first, last)]
    runs: list[tuple[int, int]] = []
    start = previous = first
    for id_ in ordered[1:]:
        if id_ != previous + 1:
            runs.append((start, previous))
            start = id_
        previous = id_
    runs.append((start, previous))
    return runs


def _check_path_part(what: str, value: str, constraint: object) -> None:
    try:
        msgspec.convert(value, constraint)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{what} {value!r} cannot name a channel store file ({exc})") from None


class ChannelStore:
    """One durable channel's state in one SQLite file.

    Opening a store creates the file (and its parent directories) if need be, and checks
    that an existing file is an intact klaw channel database this version can read.

    Concurrency: the methods are thread-safe (one lock serialises them), so the actor may
    move its commits to a worker thread; each call is one SQLite transaction, finished
    before the call returns. One store per file: a second store on the same file, in this
    process or another, can read it, but its writes fail with :class:`StoreError` while the
    other writes (no busy wait), and the two would not agree on the channel's state.

    Failure: every failure is a :class:`StoreError` naming the file (the ``sqlite3`` error
    chained); a write that fails leaves the file as it was before the call.

    Args:
        path: The database file; ``":memory:"`` and other non-files are refused.

    Raises:
        StoreError: The file cannot be created or opened, is not a klaw channel database
            (a text file, another application's database), was written by a newer klaw,
            is corrupted, or the file system cannot hold a WAL-mode database.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._has_channel = False
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise StoreError(
                self._path,
                f"SQLite {sqlite3.sqlite_version} is too old (3.37 or newer has STRICT tables)",
            )
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(self._path, f"cannot create its directory ({exc})") from exc
        try:
            # Autocommit at the driver level: every transaction is begun and ended here.
            # No busy timeout: another writer on the file is an error, not worth a wait.
            conn = sqlite3.connect(
                self._path, timeout=0.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(self._path, f"cannot open it ({exc})") from exc
        try:
            self._prepare(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(self._path, f"cannot open it as a SQLite database ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn
        # The largest statement of _UPSERT_ENTRIES this SQLite build takes parameters for.
        fit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _ENTRY_FIELDS
        self._max_entry_rows = 1 << (min(fit, _MAX_ENTRY_ROWS).bit_length() - 1)

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Create the schema in an empty file, check the file, and set the connection up."""
        if conn.execute("PRAGMA application_id").fetchone()[0] == 0 and not self._tables(conn):
            self._create_schema(conn)
        self._check_file(conn)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(self._path, f"cannot use WAL journal mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = NORMAL")
        # Zero deleted values only on pages written anyway (some builds, Debian's among
        # them, default to ON, which also rewrites every page an acknowledgement frees).
        conn.execute("PRAGMA secure_delete = FAST")
        # After a checkpoint, cut a WAL file a huge transaction grew back to this size.
        conn.execute("PRAGMA journal_size_limit = 67108864")

    @staticmethod
    def _tables(conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        return [name for (name,) in rows]

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        # Both persistent, and set before the first table: a WAL database keeps its page
        # size. 8 KiB pages hold a batch of kilobyte values in half the pages 4 KiB would.
        conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode = WAL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            if not ChannelStore._tables(conn):  # else another process just created it
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _check_file(self, conn: sqlite3.Connection) -> None:
        """Refuse a file that is not an intact klaw channel database of a known version."""
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if application_id == 0:
            raise StoreError(
                self._path,
                "not a klaw channel database (another application's, with tables "
                f"{', '.join(self._tables(conn)[:5])})",
            )
        if application_id != APPLICATION_ID:
            raise StoreError(
                self._path,
                f"not a klaw channel database (SQLite application_id {application_id:#x}, "
                f"not klaw's {APPLICATION_ID:#x})",
            )
        # A linear scan of every page: about as costly as the load() that follows. Before
        # any upgrade, so that a corrupted file is refused as it was, not written to.
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            lines = (line for p in problems for line in p.splitlines())
            found = "; ".join(line for line in lines if not line.startswith("***"))
            raise StoreError(self._path, f"the database is corrupted ({found})")
        self._check_version(conn)

    def _check_version(self, conn: sqlite3.Connection) -> None:
        try:
            row = conn.execute("SELECT version FROM klaw_schema").fetchone()
        except sqlite3.OperationalError as exc:
            raise StoreError(
                self._path, "not a klaw channel database (it has no klaw_schema table)"
            ) from exc
        version = row[0] if row is not None else None
        if version in _UPGRADES:
            version = self._upgrade(conn)  # (perhaps another process's version by now)
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise StoreError(
                self._path,
                f"written by a newer klaw (schema version {version}; this klaw reads "
                f"version {SCHEMA_VERSION} and older): upgrade klaw to open it",
            )
        if version != SCHEMA_VERSION:
            raise StoreError(self._path, f"unknown schema version {version!r}")

    @staticmethod
    def _upgrade(conn: sqlite3.Connection) -> Any:
        """Bring an older file up to :data:`SCHEMA_VERSION`, every step in one transaction.

        The version is read again inside the transaction: another process may have just
        upgraded the file, perhaps further than this klaw reads. A failure rolls every
        step back, leaving the old version.

        Returns:
            The file's version once done: :data:`SCHEMA_VERSION` after an upgrade, else
            the one another process wrote.
        """
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("SELECT version FROM klaw_schema").fetchone()[0]
            if version in _UPGRADES:  # else another process just upgraded it
                while version in _UPGRADES:
                    _UPGRADES[version](conn)
                    version += 1
                conn.execute(f"UPDATE klaw_schema SET version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return version

    @staticmethod
    def path_for(storage_dir: str | os.PathLike[str], namespace: str, name: str) -> Path:
        """The file of the channel ``name`` in Ray namespace ``namespace``.

        One file per named channel: ``<storage_dir>/<namespace>/<name>.sqlite3``. Nothing
        is created.

        Args:
            storage_dir: The directory holding every durable channel's file.
            namespace: A Ray namespace, as klaw-types' ``Namespace`` allows.
            name: A channel name, as klaw-types' ``Identifier`` allows.

        Returns:
            The path, inside ``storage_dir``.

        Raises:
            ValueError: ``namespace`` or ``name`` could name a path outside its
                directory (``".."``, a ``"/"``) or is otherwise not a valid name.
        """
        _check_path_part("namespace", namespace, Namespace)
        _check_path_part("channel name", name, Identifier)
        return Path(storage_dir) / namespace / f"{name}{_FILE_SUFFIX}"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(self._path, "the store is closed")
        return self._conn

    @contextmanager
    def _transaction(
        self, doing: str, begin: str = "BEGIN IMMEDIATE"
    ) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one transaction; commit on success, roll back on any error.

        ``sqlite3`` errors (and ints too large for SQLite) become :class:`StoreError`.
        """
        with self._lock:
            conn = self._connection()
            try:
                try:
                    conn.execute(begin)
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:  # SQLite rolls some failures back itself
                        conn.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OverflowError, UnicodeEncodeError) as exc:
                raise StoreError(self._path, f"cannot {doing} ({exc})") from exc

    def load(self) -> Snapshot | None:
        """Read everything the store holds, in one read transaction.

        Returns:
            The channel's state as last committed, or ``None`` if no channel was created
            in this file yet.

        Raises:
            StoreError: The store is closed, or the file cannot be read.
        """
        with self._transaction("read the channel", begin="BEGIN") as conn:
            meta_row = conn.execute(f"SELECT {_META_COLUMNS}, incarnation FROM channel").fetchone()
            if meta_row is None:
                return None
            name, namespace, capacity, value_type, by_reference, delivery, created_at, inc = (
                meta_row
            )
            meta = StoredMeta(
                name, namespace, capacity, value_type, bool(by_reference), delivery, created_at
            )
            counters = StoredCounters(
                *conn.execute(f"SELECT {_COUNTER_COLUMNS} FROM counters").fetchone()
            )
            entries = list(
                starmap(
                    StoredEntry,
                    conn.execute(
                        "SELECT id, pos, item, deliveries, leased_to, lease_deadline"
                        " FROM entries ORDER BY pos, id"
                    ),
                )
            )
            handles = [
                StoredHandle(handle_id, kind, state, process, bool(supervised), reason, order)
                for handle_id, kind, state, process, supervised, reason, order in conn.execute(
                    "SELECT handle_id, kind, state, process, supervised, reason, lost_order"
                    " FROM handles ORDER BY handle_id"
                )
            ]
            writers = list(
                starmap(
                    StoredWriter,
                    conn.execute(
                        "SELECT writer, handle_id, last_seq, credit FROM writers ORDER BY writer"
                    ),
                )
            )
            row = conn.execute("SELECT capacity, paused, shut FROM settings").fetchone()
            settings = (
                StoredSettings()
                if row is None
                else StoredSettings(row[0], bool(row[1]), bool(row[2]))
            )
        self._has_channel = True
        return Snapshot(meta, inc, counters, entries, handles, writers, settings)

    def create(self, meta: StoredMeta) -> int:
        """Write a new channel's description, with zero counters and nothing else.

        Args:
            meta: What the channel is.

        Returns:
            The first incarnation, ``1``.

        Raises:
            StoreError: The file already holds a channel (nothing is changed), the store
                is closed, or the write fails.
        """
        with self._transaction("create the channel") as conn:
            if conn.execute("SELECT 1 FROM channel").fetchone() is not None:
                raise StoreError(self._path, "it already holds a channel")
            conn.execute(
                f"INSERT INTO channel (singleton, {_META_COLUMNS}, incarnation)"
                " VALUES (0, ?, ?, ?, ?, ?, ?, ?, 1)",
                astuple(meta),
            )
            conn.execute(
                f"INSERT INTO counters (singleton, {_COUNTER_COLUMNS})"
                " VALUES (0, ?, ?, ?, ?, ?, ?, ?)",
                astuple(StoredCounters()),
            )
        self._has_channel = True
        return 1

    def begin_incarnation(self) -> int:
        """Count one more actor start on this file; call it once per start, after ``load``.

        Returns:
            The new incarnation, one more than the stored one.

        Raises:
            StoreError: The file holds no channel yet (see :meth:`create`), the store is
                closed, or the write fails.
        """
        with self._transaction("begin an incarnation") as conn:
            row = conn.execute(
                "UPDATE channel SET incarnation = incarnation + 1 RETURNING incarnation"
            ).fetchone()
            if row is None:
                raise StoreError(self._path, "it holds no channel yet: create() one first")
            incarnation: int = row[0]
        self._has_channel = True
        return incarnation

    def commit(self, changes: Changes) -> None:
        """Apply one operation's changes in one transaction: all of them, or none.

        Empty changes write nothing and start no transaction. Once this returns, the
        changes survive the death of the process; until then, a crash leaves the file as
        it was before the call.

        Args:
            changes: What the operation changed; see :class:`Changes` for the order.

        Raises:
            StoreError: The database refused the changes (a value of the wrong type for its
                column, such as an ``item`` that is not bytes-like; a constraint), the
                file cannot be written, no channel was created or loaded through this
                store, or the store is closed. Nothing is written.
            TypeError: ``changes`` holds something that is not a store record.
                Nothing is written.
        """
        if not changes:
            return
        if not self._has_channel:
            raise StoreError(
                self._path, "no channel loaded or created through this store: nothing to change"
            )
        with self._transaction("commit changes") as conn:
            if changes.entries:
                self._upsert_entries(conn, changes.entries)
            if changes.handles:
                conn.executemany(_UPSERT_HANDLE, map(astuple, changes.handles))
            if changes.writers:
                conn.executemany(_UPSERT_WRITER, map(astuple, changes.writers))
            if changes.counters is not None:
                conn.execute(_UPDATE_COUNTERS, astuple(changes.counters))
            if changes.settings is not None:
                conn.execute(_UPSERT_SETTINGS, astuple(changes.settings))
            if changes.deleted:
                conn.executemany(_DELETE_ENTRIES, _id_runs(changes.deleted))
            if changes.dropped_writers:
                conn.executemany(_DELETE_WRITER, ((w,) for w in changes.dropped_writers))

    def _upsert_entries(self, conn: sqlite3.Connection, entries: list[StoredEntry]) -> None:
        # A bytes item goes in as a bytearray: ``sqlite3`` binds one directly, while for
        # ``bytes`` it first looks for an adapter and fails twice (two AttributeErrors
        # raised and cleared per row, an eighth of a durable put's instructions). Any
        # other type goes as it is, for the STRICT table to refuse.
        values: list[object] = []
        extend = values.extend
        for entry in entries:
            item = entry.item
            extend(
                (
                    entry.id,
                    entry.pos,
                    bytearray(item) if type(item) is bytes else item,
                    entry.deliveries,
                    entry.leased_to,
                    entry.lease_deadline,
                )
            )
        start, total, rows = 0, len(entries), self._max_entry_rows
        while start < total:
            while rows > total - start:
                rows //= 2
            conn.execute(
                _UPSERT_ENTRIES[rows],
                values[start * _ENTRY_FIELDS : (start + rows) * _ENTRY_FIELDS],
            )
            start += rows

    def close(self) -> None:
        """Close the file; later calls other than ``close`` raise :class:`StoreError`.

        Idempotent. Waits for a call running in another thread to finish first.
        """
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()
