"""Opening SQLiteStore and PostgresStore: arguments, folders, connections and the schema."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from dbstore_support import (
    CHILD_TIMEOUT_SECONDS,
    Database,
    make_record,
    running,
    schema_dsn,
    start_child,
)

from millpond.orchestrator import Claim, PostgresStore, SQLiteStore

BAD_COMMON_OPTIONS = [
    ({"instance_id": 5}, TypeError, "instance_id must be a str or None, not int"),
    ({"instance_id": ""}, ValueError, "instance_id must not be blank, got ''"),
    ({"instance_id": " \t\u3000"}, ValueError, "instance_id must not be blank"),
    ({"instance_id": "a\ud800"}, ValueError, "instance_id contains a lone surrogate"),
    (
        {"lease": 30},
        TypeError,
        "lease must be a timedelta, not int, such as timedelta(seconds=30)",
    ),
    ({"lease": None}, TypeError, "lease must be a timedelta, not NoneType"),
    ({"lease": timedelta(0)}, ValueError, "lease must be at least 0.1 s"),
    ({"lease": timedelta(seconds=-5)}, ValueError, "lease must be at least 0.1 s"),
    ({"lease": timedelta(milliseconds=99)}, ValueError, "lease must be at least 0.1 s"),
    ({"lease": timedelta(days=366)}, ValueError, "lease must be at most 365 days"),
]


@pytest.mark.parametrize(("options", "error", "message"), BAD_COMMON_OPTIONS)
def test_sqlite_invalid_options_raise(tmp_path, options, error, message):
    with pytest.raises(error) as caught:
        SQLiteStore(tmp_path / "runs.db", **options)
    assert str(caught.value).startswith(message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("options", "error", "message"), BAD_COMMON_OPTIONS)
def test_postgres_invalid_options_raise(options, error, message):
    # Checked before connecting, so the closed port is never tried.
    with pytest.raises(error) as caught:
        PostgresStore("postgresql://postgres@127.0.0.1:1/none", **options)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        (b"runs.db", TypeError, "path must be a str or os.PathLike, not bytes"),
        (None, TypeError, "path must be a str or os.PathLike, not NoneType"),
        ("", ValueError, "path must not be empty: pass the database file, such as 'runs.db'"),
    ],
)
def test_sqlite_invalid_path_raises(path, error, message):
    with pytest.raises(error) as caught:
        SQLiteStore(path)
    assert str(caught.value) == message


def test_sqlite_invalid_durable_raises(tmp_path):
    with pytest.raises(TypeError, match="durable must be a bool, not int"):
        SQLiteStore(tmp_path / "runs.db", durable=1)
    assert list(tmp_path.iterdir()) == []


def test_sqlite_options_are_keyword_only(tmp_path):
    with pytest.raises(TypeError):
        SQLiteStore(tmp_path / "runs.db", False)  # noqa: FBT003 - the positional call under test


def test_sqlite_missing_folder_raises(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match="store folder does not exist") as caught:
        SQLiteStore(missing / "runs.db")
    assert caught.value.filename == str(missing)
    assert not (tmp_path / "no").exists()


def test_sqlite_folder_that_is_a_file_raises(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(NotADirectoryError, match="store folder is not a folder") as caught:
        SQLiteStore(tmp_path / "plain" / "runs.db")
    assert caught.value.filename == str(tmp_path / "plain")


def test_sqlite_path_that_is_a_folder_raises(tmp_path):
    with pytest.raises(IsADirectoryError, match="store path is a folder") as caught:
        SQLiteStore(tmp_path)
    assert caught.value.filename == str(tmp_path)


READ_ONLY_CHILD = """
import os, sys
from millpond.orchestrator import SQLiteStore

if os.geteuid() == 0:
    # Root may write anywhere, so act as the unprivileged user "nobody".
    os.setgid(65534)
    os.setuid(65534)
try:
    SQLiteStore(os.path.join(sys.argv[1], "runs.db"))
except PermissionError as error:
    print("PermissionError", error.strerror, error.filename)
"""


def test_sqlite_read_only_folder_raises():
    # The folder is outside pytest's private temp folder, which "nobody" cannot enter.
    folder = Path(tempfile.mkdtemp(prefix="millpond-read-only-"))
    try:
        folder.chmod(0o555)
        result = subprocess.run(
            [sys.executable, "-c", READ_ONLY_CHILD, str(folder)],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
        assert result.stdout == f"PermissionError store folder is not writable {folder}\n"
        assert result.stderr == ""
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_sqlite_non_database_file_raises(tmp_path):
    path = tmp_path / "runs.db"
    path.write_bytes(b"this is a text file, not a SQLite database\n" * 100)

    with pytest.raises(sqlite3.DatabaseError) as caught:
        SQLiteStore(path)

    assert str(path) in str(caught.value)
    assert path.read_bytes() == b"this is a text file, not a SQLite database\n" * 100


@pytest.mark.parametrize(("durable", "level"), [(True, 2), (False, 1)])
def test_sqlite_uses_wal_and_the_durable_level(tmp_path, durable, level):
    with SQLiteStore(tmp_path / "runs.db", durable=durable) as store:
        assert store.durable is durable
        assert store._connection.execute("PRAGMA synchronous").fetchone() == (level,)
    connection = sqlite3.connect(tmp_path / "runs.db")
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()


def test_sqlite_relative_path_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SQLiteStore("runs.db", instance_id="me") as store:
        assert store.path == tmp_path / "runs.db"
        assert store.instance_id == "me"
        assert store.lease == timedelta(seconds=30)
        assert repr(store) == (
            f"SQLiteStore({str(tmp_path / 'runs.db')!r}, durable=True, instance_id='me')"
        )


def test_sqlite_open_is_logged(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="millpond.orchestrator"):
        SQLiteStore(tmp_path / "runs.db", instance_id="me", durable=False).close()
    assert [entry.getMessage() for entry in caplog.records] == [
        f"opened SQLite store {tmp_path / 'runs.db'}: instance me, lease 30 s, durable=False"
    ]


@pytest.mark.parametrize(
    ("dsn", "options", "error", "message"),
    [
        (None, {}, TypeError, "dsn must be a str, not NoneType"),
        (b"postgresql://x", {}, TypeError, "dsn must be a str, not bytes"),
        ("", {}, ValueError, "dsn must not be blank"),
        ("  ", {}, ValueError, "dsn must not be blank"),
        ("postgresql://x", {"min_size": -1}, ValueError, "min_size must be at least 0, got -1"),
        ("postgresql://x", {"min_size": 1.0}, TypeError, "min_size must be an int, not float"),
        ("postgresql://x", {"max_size": 0}, ValueError, "max_size must be at least 1, got 0"),
        (
            "postgresql://x",
            {"min_size": 5, "max_size": 4},
            ValueError,
            "max_size must be at least 5, got 4",
        ),
        ("postgresql://x", {"max_size": True}, TypeError, "max_size must be an int, not bool"),
    ],
)
def test_postgres_invalid_dsn_or_pool_raises(dsn, options, error, message):
    with pytest.raises(error, match=message):
        PostgresStore(dsn, **options)


def test_postgres_invalid_dsn_hides_the_password():
    pytest.importorskip("psycopg")
    with pytest.raises(
        ValueError, match="dsn is not a valid PostgreSQL connection string"
    ) as caught:
        PostgresStore("host=db password=hunter2 'broken")
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://app:hunter2@secret9@127.0.0.1:1/runs",
        "postgres://app:hunter2@secret9@127.0.0.1:1",
        "POSTGRESQL://app:hunter2@secret9@127.0.0.1:1/runs?sslmode=disable",
        "postgresql://app:hunter2/x@secret9@127.0.0.1:1/runs",
        "postgresql://app:hunter2?x@secret9@127.0.0.1:1/runs",
        "postgresql://app@127.0.0.1:1/runs@secret9",
    ],
)
def test_postgres_url_with_two_at_signs_raises(dsn):
    # libpq ends the user part at the first '@', so the rest of the password
    # would become the host; the store raises before it connects.
    with pytest.raises(ValueError) as caught:
        PostgresStore(dsn)
    message = str(caught.value)
    assert "percent-encode" in message.lower()
    assert "%40" in message
    assert "hunter2" not in message
    assert "secret9" not in message


def test_postgres_uppercase_scheme_raises():
    pytest.importorskip("psycopg")
    with pytest.raises(ValueError, match="libpq reads a URL only with the lowercase scheme"):
        PostgresStore("PostgreSQL://app:hunter2@127.0.0.1:1/runs")


def test_postgres_connect_error_hides_password():
    psycopg = pytest.importorskip("psycopg")
    # Port 1 on loopback refuses connections at once.
    with pytest.raises(psycopg.OperationalError) as caught:
        PostgresStore("postgresql://someone:hunter2@127.0.0.1:1/runs_db")
    message = str(caught.value)
    assert message.startswith(
        "could not connect to PostgreSQL at host=127.0.0.1 port=1 dbname=runs_db user=someone:"
    )
    assert "hunter2" not in message


NO_PSYCOPG_CHILD = """
import sys
sys.modules["psycopg"] = None  # makes `import psycopg` raise ImportError
import millpond.orchestrator
from millpond.orchestrator import PostgresStore
try:
    PostgresStore("postgresql://postgres@127.0.0.1:1/none")
except ImportError as error:
    print(error)
print(sorted(name for name in sys.modules if name.startswith("psycopg")))
"""


def test_postgres_without_psycopg_raises_import_error():
    result = subprocess.run(
        [sys.executable, "-c", NO_PSYCOPG_CHILD],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.stderr == ""
    first, second = result.stdout.splitlines()
    assert first.startswith("PostgresStore needs psycopg 3 and psycopg-pool (")
    assert first.endswith("); install them with: pip install 'millpond[postgres]'")
    assert second == "['psycopg']"


IMPORT_CHILD = """
import sys
import millpond.orchestrator
print(sorted(name for name in sys.modules if name.startswith("psycopg")))
"""


def test_import_does_not_load_psycopg():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHILD],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.stderr == ""
    assert result.stdout == "[]\n"


def test_postgres_log_and_repr_hide_password(postgres_database: Database, caplog):
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415

    # The test server trusts loopback connections, so any password is accepted.
    dsn = make_conninfo(postgres_database.target, password="hunter2")  # noqa: S106 (a test value)
    with caplog.at_level(logging.INFO, logger="millpond.orchestrator"):
        store = PostgresStore(dsn, instance_id="me", min_size=2, max_size=3)
        store.close()
    (message,) = [entry.getMessage() for entry in caplog.records if "opened" in entry.getMessage()]
    assert message.startswith("opened PostgreSQL store host=")
    assert message.endswith(": instance me, lease 30 s, pool of 2 to 3 connections")
    assert "hunter2" not in message
    assert "hunter2" not in repr(store)
    assert repr(store).startswith("PostgresStore('host=")


def test_postgres_non_utf8_database_raises(postgres_dsn: str):
    import psycopg  # noqa: PLC0415
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415

    name = f"millpond_ascii_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        try:
            connection.execute(
                f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0 "
                "LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip("the test user may not create databases")
    try:
        with pytest.raises(ValueError, match="uses server encoding 'SQL_ASCII'") as caught:
            PostgresStore(make_conninfo(postgres_dsn, dbname=name))
        assert "needs a UTF8 database" in str(caught.value)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE {name}")


def test_postgres_tables_in_search_path_schema(postgres_database: Database):
    import psycopg  # noqa: PLC0415

    postgres_database.open().upsert_run(make_record(1))

    with psycopg.connect(postgres_database.target) as connection:
        schema = connection.execute("SELECT current_schema()").fetchone()[0]
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "ORDER BY table_name",
            (schema,),
        ).fetchall()
    assert schema.startswith("millpond_test_")
    assert tables == [("millpond_instances",), ("millpond_meta",), ("millpond_runs",)]


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("2", "has schema version 2, but this millpond reads versions up to 1: upgrade millpond"),
        ("999", "has schema version 999, but this millpond reads versions up to 1"),
        ("one", "millpond_meta contains an invalid schema_version 'one'"),
        ("0", "millpond_meta contains an invalid schema_version '0'"),
    ],
)
def test_unknown_schema_version_raises(database: Database, stored, message):
    database.open().upsert_run(make_record(1))
    database.execute("UPDATE millpond_meta SET value = ? WHERE key = 'schema_version'", (stored,))

    with pytest.raises(ValueError, match=message):
        database.open()


def test_schema_is_created_once(database: Database):
    database.open().close()
    database.open().close()

    assert database.query("SELECT key, value FROM millpond_meta") == [("schema_version", "1")]


CREATE_SCHEMA_CHILD = """
number = int(sys.argv[3])
sys.stdin.readline()
store = open_store(instance_id=f"child-{number}")
record = RunRecord(
    f"run-{number}", "orders", "job", "running",
    datetime(2024, 1, 1, tzinfo=timezone.utc), None, None,
    datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(hours=number),
)
print(store.claim_run(record).value, flush=True)
store.close()
"""


def test_schema_created_by_processes_at_once(database: Database):
    children = [start_child(CREATE_SCHEMA_CHILD, database, str(number)) for number in range(6)]
    # Each child has imported millpond and waits for this line, so they open at once.
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [child.communicate(timeout=CHILD_TIMEOUT_SECONDS) for child in children]

    for child, (stdout, stderr) in zip(children, results, strict=True):
        assert stderr == ""
        assert stdout == "claimed\n"
        assert child.returncode == 0
    assert database.query("SELECT key, value FROM millpond_meta") == [("schema_version", "1")]
    store = database.open()
    assert len(store.list_runs()) == 6
    assert store.claim_run(running(100)) is Claim.CLAIMED


def test_postgres_schemas_are_separate(postgres_dsn: str, postgres_database: Database):
    import psycopg  # noqa: PLC0415

    postgres_database.open().upsert_run(make_record(1))
    other_schema = f"millpond_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {other_schema}")
    try:
        with PostgresStore(schema_dsn(postgres_dsn, other_schema)) as other:
            assert other.list_runs() == []
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {other_schema} CASCADE")


def test_postgres_survives_terminated_connections(postgres_database: Database):
    import psycopg  # noqa: PLC0415
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415

    name = f"millpond-{uuid.uuid4().hex[:8]}"
    target = make_conninfo(postgres_database.target, application_name=name)
    with PostgresStore(target, min_size=2, max_size=2) as store:
        store.upsert_run(make_record(1))
        with psycopg.connect(postgres_database.target, autocommit=True) as connection:
            terminated = connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (name,),
            ).fetchall()
        assert terminated == [(True,), (True,)]

        store.upsert_run(make_record(2))

        assert [record.id for record in store.list_runs()] == ["run-2", "run-1"]


def test_postgres_tables_need_no_create_privilege(postgres_dsn: str):
    import psycopg  # noqa: PLC0415
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415

    suffix = uuid.uuid4().hex[:12]
    schema, role = f"millpond_test_{suffix}", f"millpond_dml_{suffix}"
    owner_dsn = schema_dsn(postgres_dsn, schema)
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        try:
            connection.execute(f"CREATE ROLE {role} LOGIN")
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip("the test user may not create roles")
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        PostgresStore(owner_dsn).close()
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
            connection.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
            )
        options = conninfo_to_dict(owner_dsn)["options"]
        role_dsn = make_conninfo(postgres_dsn, user=role, options=options)

        with PostgresStore(role_dsn, lease=timedelta(seconds=1)) as store:
            assert store.claim_run(running(1)) is Claim.CLAIMED
            assert store.close_abandoned() == []
            assert store.list_runs() == [running(1)]
        with (
            psycopg.connect(role_dsn) as connection,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            connection.execute("CREATE TABLE probe (x int)")
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
            connection.execute(f"DROP OWNED BY {role}")
            connection.execute(f"DROP ROLE {role}")
