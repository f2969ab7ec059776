"""Shared fixtures: the real-data folder, hypothesis profiles, both backends, PostgreSQL."""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]

# A database on a PostgreSQL server for the PostgresStore tests, such as
# postgresql://postgres@127.0.0.1:55432/millpond_test. Without it those tests
# skip, unless the second variable is "1": then they fail.
POSTGRES_DSN_ENV = "MILLPOND_TEST_POSTGRES_DSN"
POSTGRES_REQUIRED_ENV = "MILLPOND_REQUIRE_POSTGRES"

# The real data sets live beside the repository, never inside it.
SHARED_DATA = Path(os.environ.get("MILLPOND_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

settings.register_profile(
    "default", max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def shared_data() -> Path:
    """Return the folder of real data files, or skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent; set MILLPOND_SHARED_DATA")
    return SHARED_DATA


def native_module() -> ModuleType | None:
    """Return the compiled backend, or None when the extension is not installed."""
    try:
        return importlib.import_module("millpond._native")
    except ModuleNotFoundError as error:
        if error.name != "millpond._native":
            raise
        return None


@pytest.fixture(scope="session")
def native() -> ModuleType:
    """Return the compiled backend, or skip when the extension is not installed."""
    module = native_module()
    if module is None:
        pytest.skip("millpond._native is not installed (pure-only install)")
    return module


@pytest.fixture(scope="session")
def pure() -> ModuleType:
    """Return the pure-Python backend."""
    from millpond import _pure  # noqa: PLC0415

    return _pure


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """Return the test server's DSN; without one, skip, or fail when PostgreSQL is required."""
    required = os.environ.get(POSTGRES_REQUIRED_ENV) == "1"
    dsn = os.environ.get(POSTGRES_DSN_ENV, "")
    problem = None
    if not dsn:
        problem = f"{POSTGRES_DSN_ENV} is unset, so the tests have no PostgreSQL server"
    else:
        try:
            import psycopg  # noqa: F401, PLC0415 (optional dependency)
            import psycopg_pool  # noqa: F401, PLC0415 (optional dependency)
        except ImportError as error:
            problem = f"psycopg 3 and psycopg-pool are not installed ({error})"
    if problem is not None:
        if required:
            pytest.fail(f"{problem}, but {POSTGRES_REQUIRED_ENV}=1 requires the PostgreSQL tests")
        pytest.skip(problem)
    return dsn


@pytest.fixture
def postgres_schema_dsn(postgres_dsn: str) -> Iterator[str]:
    """Return a DSN whose search path is a new, empty schema, dropped at teardown.

    A PostgresStore opened with it creates its tables in that schema, so each
    test starts from an empty store.
    """
    import psycopg  # noqa: PLC0415 (optional dependency)
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415 (optional dependency)

    schema = f"millpond_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield make_conninfo(postgres_dsn, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
