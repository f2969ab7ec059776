"""Helpers for the SQLiteStore and PostgresStore tests: databases, raw SQL and child processes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from millpond.orchestrator import PostgresStore, RunRecord, RunStatus, SQLiteStore

T0 = datetime(2024, 1, 1, 2, 0, tzinfo=timezone.utc)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CHILD_TIMEOUT_SECONDS = 120

# A child opens the store named by argv[1] and argv[2] ("sqlite PATH" or
# "postgres DSN"); `open_store(**options)` is defined before its own code.
CHILD_PRELUDE = """
import sys
from datetime import datetime, timedelta, timezone
from millpond.orchestrator import Claim, PostgresStore, RunRecord, RunStatus, SQLiteStore

KIND, TARGET = sys.argv[1], sys.argv[2]


def open_store(**options):
    if KIND == "sqlite":
        return SQLiteStore(TARGET, **options)
    return PostgresStore(TARGET, **options)
"""


@dataclass
class Database:
    """One empty test database: a SQLite file or a PostgreSQL schema, and the stores opened on it.

    `open()` creates a new store object each time, as a separate instance
    would. Raw SQL (`query`, `execute`) uses `?` placeholders on both
    databases and its own connection. Stores are closed at teardown.
    """

    kind: str
    target: str
    stores: list[SQLiteStore | PostgresStore] = field(default_factory=list)

    def open(self, **options: Any) -> SQLiteStore | PostgresStore:
        store: SQLiteStore | PostgresStore
        if self.kind == "sqlite":
            store = SQLiteStore(self.target, **options)
        else:
            store = PostgresStore(self.target, **options)
        self.stores.append(store)
        return store

    def close_all(self) -> None:
        for store in self.stores:
            store.close()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """Yield a raw connection in autocommit mode."""
        if self.kind == "sqlite":
            connection = sqlite3.connect(self.target, isolation_level=None, timeout=30)
            try:
                yield connection
            finally:
                connection.close()
            return
        import psycopg  # noqa: PLC0415 (only the PostgreSQL tests need it)

        with psycopg.connect(self.target, autocommit=True) as connection:
            connection.execute("SET TIME ZONE 'UTC'")
            yield connection

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.connect() as connection:
            return list(connection.execute(self._placeholders(sql), params).fetchall())

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with self.connect() as connection:
            connection.execute(self._placeholders(sql), params)

    def time_param(self, value: datetime) -> Any:
        """Return `value` as the database stores a time: microseconds in SQLite."""
        if self.kind == "sqlite":
            return (value - EPOCH) // timedelta(microseconds=1)
        return value

    def time_value(self, stored: Any) -> datetime:
        if self.kind == "sqlite":
            return EPOCH + timedelta(microseconds=stored)
        return stored.astimezone(timezone.utc)

    def now(self) -> datetime:
        """Return the lease clock: this host's clock for SQLite, the server's for PostgreSQL."""
        if self.kind == "sqlite":
            return datetime.now(timezone.utc)
        return self.query("SELECT now()")[0][0].astimezone(timezone.utc)

    def instance_expiry(self, instance_id: str) -> datetime | None:
        rows = self.query("SELECT expires_at FROM millpond_instances WHERE id = ?", (instance_id,))
        return None if not rows else self.time_value(rows[0][0])

    def instance_ids(self) -> set[str]:
        return {row[0] for row in self.query("SELECT id FROM millpond_instances")}

    def owner_of(self, run_id: str) -> str | None:
        return self.query("SELECT owner FROM millpond_runs WHERE id = ?", (run_id,))[0][0]

    def insert_run(self, record: RunRecord, *, owner: str | None, attempt: int = 1) -> None:
        """Insert a row as another client would, with any owner."""
        self.execute(
            "INSERT INTO millpond_runs (id, pipeline_name, job_id, status, started_at, ended_at, "
            "error, scheduled_for, attempt, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.pipeline_name,
                record.job_id,
                record.status.value,
                self.time_param(record.started_at),
                None if record.ended_at is None else self.time_param(record.ended_at),
                record.error,
                None if record.scheduled_for is None else self.time_param(record.scheduled_for),
                attempt,
                owner,
            ),
        )

    def insert_instance(self, instance_id: str, *, expires_at: datetime) -> None:
        stamp = self.time_param(expires_at - timedelta(seconds=30))
        self.execute(
            "INSERT INTO millpond_instances (id, host, pid, started_at, heartbeat_at, expires_at) "
            "VALUES (?, 'elsewhere', 1, ?, ?, ?)",
            (instance_id, stamp, stamp, self.time_param(expires_at)),
        )

    def _placeholders(self, sql: str) -> str:
        return sql if self.kind == "sqlite" else sql.replace("?", "%s")


def schema_dsn(dsn: str, schema: str) -> str:
    """Return `dsn` with `schema` first in the search path, where the store creates its tables."""
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415 (optional dependency)

    return make_conninfo(dsn, options=f"-c search_path={schema}")


def make_record(  # noqa: PLR0913 - keyword options of a test helper
    number: int,
    *,
    pipeline: str = "orders",
    status: RunStatus | str = RunStatus.SUCCEEDED,
    started_at: datetime | None = None,
    error: str | None = None,
    slot: datetime | None = None,
) -> RunRecord:
    """Return a record with id `run-<number>`, started `number` minutes after T0."""
    started = T0 + timedelta(minutes=number) if started_at is None else started_at
    ended = None if RunStatus(status) is RunStatus.RUNNING else started + timedelta(seconds=30)
    return RunRecord(
        id=f"run-{number}",
        pipeline_name=pipeline,
        job_id=f"job-{number}",
        status=status,
        started_at=started,
        ended_at=ended,
        error=error,
        scheduled_for=slot,
    )


def running(number: int, *, pipeline: str = "orders", slot: datetime | None = None) -> RunRecord:
    """Return a `running` record for scheduled slot `slot` (default: T0 + `number` hours)."""
    return make_record(
        number,
        pipeline=pipeline,
        status=RunStatus.RUNNING,
        slot=T0 + timedelta(hours=number) if slot is None else slot,
    )


def finished(record: RunRecord, status: RunStatus, error: str | None = None) -> RunRecord:
    return RunRecord(
        id=record.id,
        pipeline_name=record.pipeline_name,
        job_id=record.job_id,
        status=status,
        started_at=record.started_at,
        ended_at=record.started_at + timedelta(seconds=5),
        error=error,
        scheduled_for=record.scheduled_for,
    )


def start_child(code: str, database: Database, *args: str) -> subprocess.Popen[str]:
    """Start `python -c CHILD_PRELUDE + code KIND TARGET args...` with pipes."""
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_PRELUDE + code, database.kind, database.target, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def wait_until(condition: Callable[[], bool], *, timeout: float, step: float = 0.02) -> float:
    """Poll `condition` until it is true and return the seconds waited; raise after `timeout`."""
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition still false after {timeout} s")
        time.sleep(step)
