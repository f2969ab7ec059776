"""Fixtures for the SQLiteStore and PostgresStore tests: one empty database per test.

The PostgreSQL tests need a server: MILLPOND_TEST_POSTGRES_DSN names a
database on it (postgresql://USER@HOST:PORT/DBNAME), and each test gets a
fresh schema there, dropped afterwards. Without the variable they skip, or
fail when MILLPOND_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbstore_support import DSN_ENV, REQUIRE_ENV, Database, schema_dsn

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """Return the test server's DSN; without one, skip, or fail when PostgreSQL is required."""
    required = os.environ.get(REQUIRE_ENV) == "1"
    dsn = os.environ.get(DSN_ENV, "")
    problem = None
    if not dsn:
        problem = f"{DSN_ENV} is unset, so no PostgreSQL server is available for the tests"
    else:
        try:
            import psycopg  # noqa: F401, PLC0415 (optional dependency)
            import psycopg_pool  # noqa: F401, PLC0415 (optional dependency)
        except ImportError as error:
            problem = f"psycopg 3 and psycopg-pool are not installed ({error})"
    if problem is not None:
        if required:
            pytest.fail(f"{problem}, but {REQUIRE_ENV}=1 requires the PostgreSQL tests")
        pytest.skip(problem)
    return dsn


@pytest.fixture
def postgres_database(postgres_dsn: str) -> Iterator[Database]:
    """Return a Database on a new, empty schema of the test server, dropped at teardown."""
    import psycopg  # noqa: PLC0415 (optional dependency)

    schema = f"millpond_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    database = Database("postgres", schema_dsn(postgres_dsn, schema))
    try:
        yield database
    finally:
        database.close_all()
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


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
