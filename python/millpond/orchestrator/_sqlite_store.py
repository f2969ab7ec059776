"""`SQLiteStore`: run records and instance leases in one SQLite database for one host."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

from millpond._pure.file_store import _folder_of, _is_writable, _not_writable
from millpond.orchestrator._file_store import _store_path
from millpond.orchestrator._records import RunRecord, RunStatus
from millpond.orchestrator._sql_common import (
    DEFAULT_LEASE,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    SQLStore,
    StoreNotFoundError,
    abandoned_error,
    check_create,
    check_schema_version,
    id_taken_error,
    list_query,
    restarted_error,
    scheduled_for_of,
    slot_taken_error,
)
from millpond.orchestrator._store import Claim

__all__ = ["BUSY_TIMEOUT_SECONDS", "SQLiteStore"]

BUSY_TIMEOUT_SECONDS: Final = 10.0
"""How long a statement waits for another connection's write lock before it raises."""

# UPSERT (INSERT ... ON CONFLICT) needs SQLite 3.24.
_MIN_SQLITE_VERSION: Final = (3, 24, 0)

_logger = logging.getLogger("millpond.orchestrator")

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS millpond_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS millpond_runs (
        id TEXT PRIMARY KEY,
        pipeline_name TEXT NOT NULL,
        job_id TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('running', 'succeeded', 'failed', 'canceled')),
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        error TEXT,
        scheduled_for INTEGER,
        attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
        owner TEXT
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS millpond_runs_slot
        ON millpond_runs (pipeline_name, scheduled_for, attempt)
        WHERE scheduled_for IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS millpond_runs_pipeline_started
        ON millpond_runs (pipeline_name, started_at, id)""",
    "CREATE INDEX IF NOT EXISTS millpond_runs_started ON millpond_runs (started_at, id)",
    """CREATE INDEX IF NOT EXISTS millpond_runs_running
        ON millpond_runs (owner) WHERE status = 'running'""",
    """CREATE TABLE IF NOT EXISTS millpond_instances (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    )""",
)

_COLUMNS_WITH_OWNER: Final = (
    "r.id, r.pipeline_name, r.job_id, r.status, r.started_at, r.ended_at, r.error, "
    "r.scheduled_for, r.owner"
)

_SELECT_VERSION: Final = "SELECT value FROM millpond_meta WHERE key = 'schema_version'"
_INSERT_VERSION: Final = (
    "INSERT INTO millpond_meta (key, value) VALUES ('schema_version', ?) "
    "ON CONFLICT (key) DO NOTHING"
)

_UPSERT: Final = f"""
    INSERT INTO millpond_runs ({RUN_COLUMNS}, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        pipeline_name = excluded.pipeline_name,
        job_id = excluded.job_id,
        status = excluded.status,
        started_at = excluded.started_at,
        ended_at = excluded.ended_at,
        error = excluded.error,
        scheduled_for = excluded.scheduled_for,
        owner = CASE WHEN excluded.status = 'running' THEN excluded.owner
                     ELSE millpond_runs.owner END
    WHERE millpond_runs.status = 'running'
"""  # noqa: S608 (only constant column names are formatted in; values are bound)
_SELECT_RUN: Final = f"SELECT {RUN_COLUMNS} FROM millpond_runs WHERE id = ?"  # noqa: S608 (constant)

_LIVE_RUN_OF_PIPELINE: Final = """
    SELECT 1 FROM millpond_runs AS r JOIN millpond_instances AS i ON i.id = r.owner
    WHERE r.pipeline_name = ? AND r.status = 'running' AND i.expires_at >= ?
    LIMIT 1
"""
_INSERT_CLAIM: Final = f"""
    INSERT INTO millpond_runs ({RUN_COLUMNS}, attempt, owner)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO NOTHING
"""  # noqa: S608 (only constant column names are formatted in; values are bound)
_SELECT_SLOT: Final = """
    SELECT 1 FROM millpond_runs WHERE pipeline_name = ? AND scheduled_for = ? AND attempt = ?
"""

_SELECT_ABANDONED: Final = f"""
    SELECT {_COLUMNS_WITH_OWNER} FROM millpond_runs AS r
    LEFT JOIN millpond_instances AS i ON i.id = r.owner
    WHERE r.status = 'running' AND (i.id IS NULL OR i.expires_at < ?)
"""  # noqa: S608 (only constant column names are formatted in; values are bound)
_SELECT_OWNED_RUNNING: Final = f"""
    SELECT {_COLUMNS_WITH_OWNER} FROM millpond_runs AS r WHERE r.status = 'running' AND r.owner = ?
"""  # noqa: S608 (only constant column names are formatted in; values are bound)
_CLOSE_RUN: Final = """
    UPDATE millpond_runs SET status = 'failed', ended_at = ?, error = ?
    WHERE id = ? AND status = 'running'
"""
_DELETE_EXPIRED: Final = "DELETE FROM millpond_instances WHERE expires_at < ?"

_SELECT_EXPIRES: Final = "SELECT expires_at FROM millpond_instances WHERE id = ?"
_UPSERT_INSTANCE: Final = """
    INSERT INTO millpond_instances (id, host, pid, started_at, heartbeat_at, expires_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        host = excluded.host,
        pid = excluded.pid,
        started_at = excluded.started_at,
        heartbeat_at = excluded.heartbeat_at,
        expires_at = excluded.expires_at
"""
_RENEW_INSTANCE: Final = """
    INSERT INTO millpond_instances (id, host, pid, started_at, heartbeat_at, expires_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        heartbeat_at = excluded.heartbeat_at,
        expires_at = excluded.expires_at
"""
_RELEASE_INSTANCE: Final = """
    DELETE FROM millpond_instances WHERE id = ? AND NOT EXISTS (
        SELECT 1 FROM millpond_runs WHERE status = 'running' AND owner = ?
    )
"""

_LAST_SLOTS: Final = """
    SELECT pipeline_name, MAX(scheduled_for) FROM millpond_runs
    WHERE scheduled_for IS NOT NULL GROUP BY pipeline_name
"""


class SQLiteStore(SQLStore):
    """Run records in a SQLite database that the processes of one host share.

    Several orchestrator instances (processes) may use one database: each
    scheduled slot is claimed through a unique key, and each instance holds
    a lease renewed by a heartbeat thread. The lease clock is this host's
    clock. The database runs in WAL mode, so readers do not block the
    writer, and every write is an `IMMEDIATE` transaction. With
    `durable=True` (synchronous=FULL) a returned write survives a power
    loss, and with `durable=False` (synchronous=NORMAL) it survives a crash
    of the process.

    WAL needs shared memory between the processes, so the database must be
    on a local file system, not on a network share.

    The file and the tables are created when missing. With `create=False`,
    a missing file raises FileNotFoundError naming it, and a database
    without the tables raises `StoreNotFoundError`, a LookupError. Nothing
    is created or changed then.

    Raises FileNotFoundError, NotADirectoryError or PermissionError naming the
    folder when it is missing, not a folder or not writable. Raises
    IsADirectoryError when `path` is a folder, and sqlite3.DatabaseError
    naming the path for a file that is not a SQLite database. Raises
    ValueError when the database has a newer schema than this millpond reads.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: bool = True,
        instance_id: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        create: bool = True,
    ) -> None:
        self._connection: sqlite3.Connection | None = None
        if isinstance(path, str) and not path:
            raise ValueError("path must not be empty: pass the database file, such as 'runs.db'")
        self._path = _store_path(path)
        if not isinstance(durable, bool):
            raise TypeError(f"durable must be a bool, not {type(durable).__name__}")
        self._create = check_create(create)
        super().__init__(instance_id, lease)
        if sqlite3.sqlite_version_info < _MIN_SQLITE_VERSION:
            needed = ".".join(str(part) for part in _MIN_SQLITE_VERSION)
            raise RuntimeError(
                f"SQLiteStore needs SQLite {needed} or newer, but Python's sqlite3 module "
                f"uses SQLite {sqlite3.sqlite_version}"
            )

        folder = _folder_of(str(self._path))
        if not create and not self._path.exists():
            raise FileNotFoundError(
                errno.ENOENT,
                "no SQLite database at this path, and create=False does not create one",
                str(self._path),
            )
        # SQLite creates the -wal and -shm files beside the database, even to read it.
        if not _is_writable(folder):
            raise _not_writable(folder)

        self._durable = durable
        self._lock = threading.Lock()
        self._connection = _connect(self._path, durable=durable, create=create)
        try:
            self._create_schema()
        except BaseException:
            self._connection.close()
            self._connection = None
            raise
        _logger.info(
            "opened SQLite store %s: instance %s, lease %.3g s, durable=%s",
            self._path,
            self.instance_id,
            self.lease.total_seconds(),
            durable,
        )

    def __repr__(self) -> str:
        return (
            f"SQLiteStore({str(self._path)!r}, durable={self._durable}, "
            f"instance_id={self.instance_id!r})"
        )

    @property
    def path(self) -> Path:
        """The absolute path of the database file."""
        return self._path

    @property
    def durable(self) -> bool:
        """Whether each write is synced to disk (synchronous=FULL) before it returns."""
        return self._durable

    # -- transactions -------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._connection
            if connection is None:
                raise ValueError(f"{self!r} is closed")
            yield connection

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """Run the body in one IMMEDIATE transaction: committed on success, else rolled back."""
        with self._reading() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def _create_schema(self) -> None:
        with self._reading() as connection:
            if _table_exists(connection, "millpond_meta"):
                row = connection.execute(_SELECT_VERSION).fetchone()
                if row is not None:
                    check_schema_version(row[0], str(self._path))
                    return
        if not self._create:
            raise StoreNotFoundError(str(self._path))
        # BEGIN IMMEDIATE serializes processes that create the schema at once.
        with self._writing() as connection:
            for statement in _SCHEMA:
                connection.execute(statement)
            connection.execute(_INSERT_VERSION, (str(SCHEMA_VERSION),))
            row = connection.execute(_SELECT_VERSION).fetchone()
        check_schema_version(row[0], str(self._path))

    # -- the lease ----------------------------------------------------------

    def _register(self) -> list[RunRecord]:
        now = _now_us()
        instance = self._instance
        with self._writing() as connection:
            closed = self._close_rows(
                connection,
                connection.execute(_SELECT_OWNED_RUNNING, (instance.id,)).fetchall(),
                now,
                lambda _owner: restarted_error(instance.id),
            )
            connection.execute(
                _UPSERT_INSTANCE,
                (instance.id, instance.host, instance.pid, now, now, now + self._lease_us),
            )
        return closed

    def _renew(self) -> bool:
        now = _now_us()
        instance = self._instance
        with self._writing() as connection:
            row = connection.execute(_SELECT_EXPIRES, (instance.id,)).fetchone()
            connection.execute(
                _RENEW_INSTANCE,
                (instance.id, instance.host, instance.pid, now, now, now + self._lease_us),
            )
        return row is not None and row[0] >= now

    def _release_lease(self) -> None:
        with self._writing() as connection:
            connection.execute(_RELEASE_INSTANCE, (self.instance_id, self.instance_id))

    @property
    def _lease_us(self) -> int:
        return self.lease // _MICROSECOND

    # -- runs ---------------------------------------------------------------

    def _upsert(self, record: RunRecord) -> RunRecord | None:
        with self._writing() as connection:
            try:
                cursor = connection.execute(_UPSERT, (*_run_params(record), self.instance_id))
            except sqlite3.IntegrityError as error:
                raise slot_taken_error(record) from error
            if cursor.rowcount > 0:
                return None
            row = connection.execute(_SELECT_RUN, (record.id,)).fetchone()
        return _record_from_row(row)

    def _claim(self, record: RunRecord, attempt: int, *, exclusive: bool) -> Claim:
        scheduled_for = _to_us(scheduled_for_of(record))
        with self._writing() as connection:
            if exclusive:
                live = connection.execute(
                    _LIVE_RUN_OF_PIPELINE, (record.pipeline_name, _now_us())
                ).fetchone()
                if live is not None:
                    return Claim.BUSY
            cursor = connection.execute(
                _INSERT_CLAIM, (*_run_params(record), attempt, self.instance_id)
            )
            if cursor.rowcount > 0:
                return Claim.CLAIMED
            slot = (record.pipeline_name, scheduled_for, attempt)
            if connection.execute(_SELECT_SLOT, slot).fetchone() is not None:
                return Claim.TAKEN
        raise id_taken_error(record)

    def _close_abandoned(self) -> list[RunRecord]:
        now = _now_us()
        with self._writing() as connection:
            rows = connection.execute(_SELECT_ABANDONED, (now,)).fetchall()
            closed = self._close_rows(connection, rows, now, abandoned_error)
            connection.execute(_DELETE_EXPIRED, (now - self._lease_us,))
        return closed

    @staticmethod
    def _close_rows(
        connection: sqlite3.Connection,
        rows: list[Any],
        now: int,
        error_of: Callable[[str | None], str],
    ) -> list[RunRecord]:
        """Mark each `running` row (run columns plus owner) failed; return the new records."""
        closed: list[RunRecord] = []
        for row in rows:
            ended_at = max(now, row[4])
            error = error_of(row[8])
            connection.execute(_CLOSE_RUN, (ended_at, error, row[0]))
            closed.append(
                _record_from_row(
                    (*row[:3], RunStatus.FAILED.value, row[4], ended_at, error, row[7])
                )
            )
        return closed

    def _get(self, run_id: str) -> RunRecord | None:
        with self._reading() as connection:
            row = connection.execute(_SELECT_RUN, (run_id,)).fetchone()
        return None if row is None else _record_from_row(row)

    def _list(
        self, pipeline: str | None, status: str | None, limit: int | None
    ) -> list[RunRecord]:
        stored_pipeline = None if pipeline is None else pipeline
        query, params = list_query("?", stored_pipeline, status, limit)
        with self._reading() as connection:
            rows = connection.execute(query, params).fetchall()
        return [_record_from_row(row) for row in rows]

    def _last_slots(self) -> dict[str, datetime]:
        with self._reading() as connection:
            rows = connection.execute(_LAST_SLOTS).fetchall()
        return {name: _from_us(slot) for name, slot in rows}

    def _disconnect(self) -> None:
        with self._lock:
            connection = self._connection
            self._connection = None
        if connection is not None:
            connection.close()


def _connect(path: Path, *, durable: bool, create: bool) -> sqlite3.Connection:
    """Open `path` in WAL mode with the busy timeout and the synchronous level of `durable`.

    With `create` False, the file must exist and have the millpond tables,
    which are checked before switching to WAL, so that another database
    stays as it is.
    """
    connection = sqlite3.connect(
        path if create else f"{path.as_uri()}?mode=rw",
        timeout=BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=False,
        uri=not create,
    )
    try:
        if not create:
            _require_schema(connection, path)
        _set_wal(connection)
        synchronous = "FULL" if durable else "NORMAL"
        connection.execute(f"PRAGMA synchronous = {synchronous}")
    except sqlite3.DatabaseError as error:
        connection.close()
        raise sqlite3.DatabaseError(f"{path} is not a usable SQLite database: {error}") from error
    except BaseException:
        connection.close()
        raise
    return connection


def _set_wal(connection: sqlite3.Connection) -> None:
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as error:
            # Switching to WAL needs an exclusive lock, and SQLite does not
            # call the busy handler for it when another connection opens the
            # database at the same moment.
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
            continue
        break
    if str(mode).lower() != "wal":
        raise sqlite3.DatabaseError(f"could not switch to WAL mode, journal_mode is {mode!r}")


def _require_schema(connection: sqlite3.Connection, path: Path) -> None:
    """Raise StoreNotFoundError unless the database has a millpond schema version."""
    if not _table_exists(connection, "millpond_meta"):
        raise StoreNotFoundError(str(path))
    if connection.execute(_SELECT_VERSION).fetchone() is None:
        raise StoreNotFoundError(str(path))


def _table_exists(connection: sqlite3.Connection, name: str) -> bool:
    row = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def _now_us() -> int:
    return time.time_ns() // 1000


def _to_us(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def _from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _run_params(record: RunRecord) -> tuple[object, ...]:
    return (
        record.id,
        record.pipeline_name,
        record.job_id,
        record.status.value,
        _to_us(record.started_at),
        None if record.ended_at is None else _to_us(record.ended_at),
        record.error,
        None if record.scheduled_for is None else _to_us(record.scheduled_for),
    )


def _record_from_row(row: Any) -> RunRecord:
    ended_at = row[5]
    scheduled_for = row[7]
    return RunRecord(
        id=row[0],
        pipeline_name=row[1],
        job_id=row[2],
        status=row[3],
        started_at=_from_us(row[4]),
        ended_at=None if ended_at is None else _from_us(ended_at),
        error=row[6],
        scheduled_for=None if scheduled_for is None else _from_us(scheduled_for),
    )
