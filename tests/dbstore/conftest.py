"""Fixtures for the SQLiteStore and PostgresStore tests: one empty database per test.

The PostgreSQL tests need a server: MILLPOND_TEST_POSTGRES_DSN names a
database on it (postgresql://USER@HOST:PORT/DBNAME), and each test gets a
fresh schema there, dropped afterwards. Without the variable they skip, or
fail when MILLPOND_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dbstore_support import Database

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def postgres_database(postgres_schema_dsn: str) -> Iterator[Database]:
    """Return a Database on a new, empty schema of the test server, dropped at teardown."""
    database = Database("postgres", postgres_schema_dsn)
    try:
        yield database
    finally:
        database.close_all()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    """Return a Database on a new SQLite file in the test's temp folder."""
    database = Database("sqlite", str(tmp_path / "runs.db"))
    try:
        yield database
    finally:
        database.close_all()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest) -> Database:
    """Return an empty database of each kind in turn."""
    return request.getfixturevalue(f"{request.param}_database")
