"""`millpond serve` with database stores: the start line names the store, and a stop closes it."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import TIMEOUT_SECONDS, write_source

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")

WAIT_SECONDS = 30

# An orchestrator on the store that STORE builds. 'quick' does nothing every
# 0.1 s. 'stubborn' sleeps 60 s without looking at its context while a file
# named 'stubborn' exists beside this one, so it ignores cancellation.
SERVED = """
import errno
import time
from pathlib import Path

from millpond.etl import Pipeline
from millpond.orchestrator import FileStore, Orchestrator, PostgresStore, SQLiteStore
from millpond.scheduler import every

HERE = Path(__file__).parent


class FailingClose:
    # A FileStore whose close() fails after closing it.
    def __init__(self, path):
        self.inner = FileStore(path)

    @property
    def path(self):
        return self.inner.path

    def upsert_run(self, record):
        self.inner.upsert_run(record)

    def close(self):
        self.inner.close()
        raise OSError(errno.EIO, "simulated failure", str(self.path))


def stubborn_read(ctx):
    if (HERE / "stubborn").exists():
        time.sleep(60)
    return []


def make():
    orchestrator = Orchestrator(STORE)
    orchestrator.register(
        Pipeline("quick").read(lambda ctx: []).write(lambda ctx, records: None), every(0.1)
    )
    orchestrator.register(
        Pipeline("stubborn").read(stubborn_read).write(lambda ctx, records: None), every(0.1)
    )
    return orchestrator
"""


def _default_sigint() -> None:
    # A child of a shell script's background job inherits an ignored SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_serve(folder: Path, store: str, *args: str) -> subprocess.Popen[str]:
    job = write_source(folder, SERVED.replace("STORE", store), "served.py")
    stderr_fd = os.open(folder / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "millpond", "serve", f"{job}:make", *args],
            stdout=subprocess.PIPE,
            stderr=stderr_fd,
            text=True,
            cwd=folder,
            preexec_fn=_default_sigint,  # noqa: PLW1509 - no threads run in the child before exec
        )
    finally:
        os.close(stderr_fd)


def wait_for(condition, description: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {description}")
        time.sleep(0.05)


def stop_child(child: subprocess.Popen[str]) -> int:
    child.send_signal(signal.SIGTERM)
    try:
        child.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail("serve did not exit after the signal")
    return child.returncode


def stderr_of(folder: Path) -> str:
    return (folder / "stderr.txt").read_text(encoding="utf-8")


def start_line(folder: Path) -> str:
    (line,) = [line for line in stderr_of(folder).splitlines() if "millpond.cli: serving " in line]
    return line


def sqlite_rows(path: Path, sql: str) -> list[tuple]:
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        try:
            return connection.execute(sql).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []
            raise


# -- SQLite ---------------------------------------------------------------------


def test_serve_closes_sqlite_store(tmp_path):
    database = tmp_path / "runs.db"
    child = start_serve(tmp_path, "SQLiteStore(HERE / 'runs.db')", "--grace", "10")
    wait_for(
        lambda: sqlite_rows(database, "SELECT 1 FROM millpond_runs WHERE status = 'succeeded'"),
        "a finished run",
    )
    assert sqlite_rows(database, "SELECT count(*) FROM millpond_instances") == [(1,)]

    assert stop_child(child) == 0
    assert sqlite_rows(database, "SELECT count(*) FROM millpond_instances") == [(0,)]
    assert sqlite_rows(database, "SELECT 1 FROM millpond_runs WHERE status = 'running'") == []
    log = stderr_of(tmp_path)
    assert "stopped the lease heartbeat of instance" in log
    assert f"store {database}" in start_line(tmp_path)
    assert log.rstrip().endswith("stopped")


def test_serve_closes_store_after_stuck_jobs(tmp_path):
    database = tmp_path / "runs.db"
    (tmp_path / "stubborn").write_text("")
    child = start_serve(tmp_path, "SQLiteStore(HERE / 'runs.db')", "--grace", "0.2")
    wait_for(
        lambda: sqlite_rows(
            database,
            "SELECT 1 FROM millpond_runs WHERE pipeline_name = 'stubborn' AND status = 'running'",
        ),
        "a running stubborn job",
    )

    assert stop_child(child) == 0
    log = stderr_of(tmp_path)
    assert "exiting while 1 jobs still run after ignoring cancellation" in log
    assert "stopped the lease heartbeat of instance" in log
    assert "could not store the final record" not in log
    stubborn = sqlite_rows(
        database, "SELECT status FROM millpond_runs WHERE pipeline_name = 'stubborn'"
    )
    assert stubborn
    assert set(stubborn) == {("canceled",)}
    assert sqlite_rows(database, "SELECT count(*) FROM millpond_instances") == [(0,)]


def test_serve_logs_failed_close(tmp_path):
    child = start_serve(tmp_path, "FailingClose(HERE / 'state.json')", "--grace", "10")
    wait_for(lambda: "of pipeline 'quick' succeeded" in stderr_of(tmp_path), "a finished run")

    assert stop_child(child) == 0
    log = stderr_of(tmp_path)
    assert f"could not close the store {tmp_path / 'state.json'}: OSError: " in log
    assert f"simulated failure: {tmp_path / 'state.json'}" in log
    assert "Traceback" not in log


# -- PostgreSQL -----------------------------------------------------------------


def test_serve_closes_postgres_store(tmp_path, postgres_schema_dsn):
    import psycopg  # noqa: PLC0415 (optional dependency; the fixture checked it is installed)
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415

    # The test server trusts loopback connections, so any password is accepted.
    dsn = make_conninfo(postgres_schema_dsn, password="hunter2")  # noqa: S106 (a test value)
    child = start_serve(tmp_path, f"PostgresStore({dsn!r}, max_size=2)", "--grace", "10")

    def count(sql: str) -> int:
        with psycopg.connect(postgres_schema_dsn) as connection:
            try:
                return connection.execute(sql).fetchone()[0]
            except psycopg.errors.UndefinedTable:
                return 0

    wait_for(
        lambda: count("SELECT count(*) FROM millpond_runs WHERE status = 'succeeded'"),
        "a finished run",
    )
    assert count("SELECT count(*) FROM millpond_instances") == 1

    assert stop_child(child) == 0
    assert count("SELECT count(*) FROM millpond_instances") == 0
    log = stderr_of(tmp_path)
    assert "stopped the lease heartbeat of instance" in log
    assert "hunter2" not in log
    line = start_line(tmp_path)
    assert ", store PostgresStore('host=" in line
    assert f"dbname={conninfo_to_dict(postgres_schema_dsn)['dbname']} " in line
    assert "instance_id=" in line
