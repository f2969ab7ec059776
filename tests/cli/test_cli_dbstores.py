"""`millpond run --store` and `millpond runs` with SQLite and PostgreSQL stores, in subprocesses.

The PostgreSQL tests use the server of the `postgres_dsn` fixture
(MILLPOND_TEST_POSTGRES_DSN), and each test gets a fresh database created
there, because the command line takes a URL and no search path.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
from cli_helpers import TIMEOUT_SECONDS, run_cli, write_source

from millpond.orchestrator import PostgresStore, RunRecord, RunStatus, SQLiteStore

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)

# The job reads its own record from the store while it runs, and fails when
# a file named `fail` exists beside it.
LOOKING_JOB = """
    import json
    from pathlib import Path

    from millpond.etl import Pipeline
    from millpond.orchestrator import PostgresStore, SQLiteStore

    HERE = Path(__file__).parent


    def read(ctx):
        with {opener} as store:
            seen = store.get_run(ctx.run_id)
        (HERE / "seen.json").write_text(json.dumps({{"status": seen.status.value}}))
        return [{{"n": 1}}]


    def write(ctx, records):
        if (HERE / "fail").exists():
            raise RuntimeError("planned failure")


    pipeline = Pipeline("looking").read(read).write(write)
"""


def seed_runs(store) -> None:
    """Store five runs: orders (3), tz_atlas (2), started one minute apart."""
    rows = [
        ("orders", RunStatus.SUCCEEDED, None, T0),
        ("orders", RunStatus.FAILED, "WriteError: write failed", T0 + timedelta(hours=1)),
        ("tz_atlas", RunStatus.SUCCEEDED, None, None),
        ("orders", RunStatus.CANCELED, "Cancelled: timed out", T0 + timedelta(hours=2)),
        ("tz_atlas", RunStatus.RUNNING, None, T0 + timedelta(days=1)),
    ]
    for number, (pipeline, status, error, slot) in enumerate(rows):
        started = T0 + timedelta(minutes=number)
        ended = None if status is RunStatus.RUNNING else started + timedelta(seconds=1.5)
        store.upsert_run(
            RunRecord(f"{number:032x}", pipeline, "job", status, started, ended, error, slot)
        )


def closed_port() -> int:
    """Return a loopback TCP port that nothing listens on (free when this returns)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cli_code(code: str, args: tuple[str, ...], cwd: Path):
    """Run `python -c CODE ARGS` in `cwd` and capture its output."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def check_listing(store_text: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    """Check `millpond runs` on a store that contains the five seeded runs."""
    table = run_cli(("runs", "--store", store_text), cwd, env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert len(lines) == 6
    assert lines[0].startswith("STARTED (UTC)")
    assert lines[1].startswith("2026-03-01 02:04:00  tz_atlas  running")

    filtered = run_cli(
        ("runs", "--store", store_text, "--pipeline", "orders", "--status", "failed"), cwd, env
    )
    assert filtered.returncode == 0, filtered.stderr
    assert len(filtered.stdout.splitlines()) == 2
    assert f"{1:032x}" in filtered.stdout

    limited = run_cli(("runs", "--store", store_text, "--limit", "2", "--json"), cwd, env)
    assert limited.returncode == 0, limited.stderr
    rows = json.loads(limited.stdout)
    assert [row["id"] for row in rows] == [f"{4:032x}", f"{3:032x}"]
    assert rows[0]["ended_at"] is None
    assert rows[0]["duration_seconds"] is None
    assert rows[1]["duration_seconds"] == 1.5
    assert rows[1]["scheduled_for"] == "2026-03-01T04:00:00.000000Z"
    assert rows[1]["error"] == "Cancelled: timed out"

    everything = run_cli(("runs", "--store", store_text, "--json", "--limit", "0"), cwd, env)
    assert [row["id"] for row in json.loads(everything.stdout)] == [
        f"{number:032x}" for number in (4, 3, 2, 1, 0)
    ]

    nothing = run_cli(("runs", "--store", store_text, "--pipeline", "absent"), cwd, env)
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout == ""
    assert "no runs match in" in nothing.stderr


# -- SQLite ---------------------------------------------------------------------


@pytest.fixture
def seeded_sqlite(tmp_path) -> Path:
    path = tmp_path / "runs.db"
    with SQLiteStore(path) as store:
        seed_runs(store)
    return path


def test_runs_lists_sqlite_store(tmp_path, seeded_sqlite):
    check_listing(f"sqlite://{seeded_sqlite}", tmp_path)


def test_runs_sqlite_relative_and_env(tmp_path, seeded_sqlite):
    check_listing("sqlite:runs.db", tmp_path)

    from_env = run_cli(("runs",), tmp_path, env={"MILLPOND_STORE": "sqlite:runs.db"})
    assert from_env.returncode == 0, from_env.stderr
    assert len(from_env.stdout.splitlines()) == 6


def test_runs_missing_sqlite_exits_2(tmp_path):
    missing = tmp_path / "absent.db"
    result = run_cli(("runs", "--store", f"sqlite://{missing}"), tmp_path)
    assert result.returncode == 2
    assert f"no run store at sqlite://{missing}" in result.stderr
    assert not missing.exists()


def test_runs_sqlite_without_tables_exits_2(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    result = run_cli(("runs", "--store", "sqlite:empty.db"), tmp_path)
    assert result.returncode == 2
    assert "no run store at sqlite:empty.db" in result.stderr
    assert "has no millpond tables" in result.stderr
    assert "Traceback" not in result.stderr
    assert empty.read_bytes() == b""
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty.db"]


def test_repair_rejects_sqlite_store(tmp_path, seeded_sqlite):
    before = seeded_sqlite.read_bytes()
    result = run_cli(("runs", "--store", f"sqlite://{seeded_sqlite}", "--repair"), tmp_path)
    assert result.returncode == 2
    assert "--repair applies only to a FileStore" in result.stderr
    assert "SQLiteStore" in result.stderr
    assert result.stdout == ""
    assert seeded_sqlite.read_bytes() == before


def test_run_records_in_sqlite(tmp_path):
    job = write_source(tmp_path, LOOKING_JOB.format(opener="SQLiteStore(HERE / 'runs.db')"))
    store = tmp_path / "runs.db"
    result = run_cli(("run", str(job), "--store", f"sqlite://{store}", "--json"), tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert json.loads((tmp_path / "seen.json").read_text()) == {"status": "running"}

    with sqlite3.connect(store) as connection:
        rows = connection.execute(
            "SELECT id, pipeline_name, status, error, owner FROM millpond_runs"
        ).fetchall()
        instances = connection.execute("SELECT count(*) FROM millpond_instances").fetchone()
    assert len(rows) == 1
    run_id, pipeline_name, status, error, owner = rows[0]
    assert run_id == summary["run_id"]
    assert pipeline_name == "looking"
    assert status == "succeeded"
    assert error is None
    assert owner
    # close() removed the instance's lease row, so its heartbeat stopped.
    assert instances == (0,)


def test_run_failure_in_relative_sqlite(tmp_path):
    job = write_source(tmp_path, LOOKING_JOB.format(opener="SQLiteStore(HERE / 'runs.db')"))
    (tmp_path / "fail").write_text("")
    result = run_cli(("run", str(job), "--store", "sqlite:runs.db", "--json"), tmp_path)
    assert result.returncode == 1
    summary = json.loads(result.stdout)

    listed = run_cli(("runs", "--store", "sqlite:runs.db", "--json"), tmp_path)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["id"] == summary["run_id"]
    assert row["status"] == "failed"
    assert "planned failure" in row["error"]
    assert row["ended_at"] is not None


def test_run_sqlite_in_missing_folder_exits_2(tmp_path):
    job = write_source(tmp_path, LOOKING_JOB.format(opener="SQLiteStore(HERE / 'runs.db')"))
    missing = tmp_path / "no" / "runs.db"
    result = run_cli(("run", str(job), "--store", f"sqlite://{missing}"), tmp_path)
    assert result.returncode == 2
    assert f"cannot open the run store sqlite://{missing}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "seen.json").exists()
    assert not missing.parent.exists()


# -- bad URLs and a missing driver ------------------------------------------------


def test_unknown_scheme_exits_2(tmp_path):
    job = write_source(tmp_path, LOOKING_JOB.format(opener="SQLiteStore(HERE / 'runs.db')"))
    for args in (("runs",), ("run", str(job))):
        result = run_cli((*args, "--store", "mysql://root:hunter2@127.0.0.1/runs"), tmp_path)
        assert result.returncode == 2, args
        assert "unsupported store URL 'mysql://root:***@127.0.0.1/runs'" in result.stderr
        assert "sqlite:///ABSOLUTE/PATH.db" in result.stderr
        assert "postgresql://USER@HOST:PORT/DBNAME" in result.stderr
        assert "hunter2" not in result.stderr
        assert result.stdout == ""
    assert not (tmp_path / "seen.json").exists()


def test_bad_sqlite_url_exits_2(tmp_path):
    result = run_cli(("runs", "--store", "sqlite://host/runs.db"), tmp_path)
    assert result.returncode == 2
    assert "a SQLite database has no host" in result.stderr


def test_missing_psycopg_exits_2(tmp_path):
    # None in sys.modules makes `import psycopg` raise ImportError.
    code = (
        "import sys; sys.modules['psycopg'] = None; "
        "from millpond.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    store = "postgresql://app:hunter2@127.0.0.1:5432/runs"
    for args in (("runs", "--store", store), ("run", "job.py", "--store", store)):
        write_source(tmp_path, LOOKING_JOB.format(opener="SQLiteStore(HERE / 'runs.db')"))
        result = run_cli_code(code, args, tmp_path)
        assert result.returncode == 2, result.stderr
        assert "pip install 'millpond[postgres]'" in result.stderr
        assert "postgresql://app:***@127.0.0.1:5432/runs" in result.stderr
        assert "hunter2" not in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "seen.json").exists()


def test_refused_postgres_exits_2(tmp_path):
    pytest.importorskip("psycopg")
    port = closed_port()
    store = f"postgresql://app:hunter2@127.0.0.1:{port}/runs"
    for verbose in ((), ("-v",)):
        result = run_cli((*verbose, "runs", "--store", store), tmp_path)
        assert result.returncode == 2, result.stderr
        assert f"cannot open the run store postgresql://app:***@127.0.0.1:{port}/runs" in (
            result.stderr
        )
        assert "hunter2" not in result.stderr
        assert ("Traceback" in result.stderr) == bool(verbose)


def test_refused_postgres_run_does_not_start(tmp_path):
    pytest.importorskip("psycopg")
    job = write_source(tmp_path, LOOKING_JOB.format(opener="SQLiteStore(HERE / 'runs.db')"))
    port = closed_port()
    result = run_cli(("run", str(job), "--store", f"postgresql://127.0.0.1:{port}/runs"), tmp_path)
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "seen.json").exists()


# -- PostgreSQL -----------------------------------------------------------------


@pytest.fixture
def postgres_url(postgres_dsn: str) -> Iterator[str]:
    """Create a fresh database on the test server; return its URL and drop it afterwards."""
    import psycopg  # noqa: PLC0415 (optional dependency; postgres_dsn checked it is installed)

    name = f"millpond_cli_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield database_url(postgres_dsn, name)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def database_url(dsn: str, dbname: str) -> str:
    """Return a postgresql:// URL for database `dbname` on the server that `dsn` names.

    `dsn` may be a URL or a key=value string, as libpq accepts both.
    """
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 (optional dependency)

    params = {key: str(value) for key, value in conninfo_to_dict(dsn).items()}
    params.pop("dbname", None)
    user = params.pop("user", "")
    password = params.pop("password", "")
    host = "" if params.get("host", "").startswith("/") else params.pop("host", "")
    port = params.pop("port", "")
    netloc = host
    if port:
        netloc += f":{port}"
    if password:
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{netloc}"
    elif user:
        netloc = f"{quote(user, safe='')}@{netloc}"
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{netloc}/{dbname}{query}"


def with_password(url: str, password: str) -> str:
    """Return `url` with `password` set in its user part (the user defaults to postgres)."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:{password}@{host}").geturl()


def test_runs_lists_postgres_store(tmp_path, postgres_url):
    with PostgresStore(postgres_url) as store:
        seed_runs(store)
    check_listing(postgres_url, tmp_path)

    from_env = run_cli(("runs", "--json"), tmp_path, env={"MILLPOND_STORE": postgres_url})
    assert from_env.returncode == 0, from_env.stderr
    assert len(json.loads(from_env.stdout)) == 5


def test_runs_postgres_without_tables_exits_2(tmp_path, postgres_url):
    psycopg = pytest.importorskip("psycopg")
    store = with_password(postgres_url, "hunter2")
    masked = with_password(postgres_url, "***")
    try:
        psycopg.connect(store).close()
    except psycopg.OperationalError:
        store, masked = postgres_url, postgres_url

    for verbose in ((), ("-v",)):
        result = run_cli((*verbose, "runs", "--store", store), tmp_path)
        assert result.returncode == 2, result.stderr
        assert f"no run store at {masked}" in result.stderr
        assert "has no millpond tables" in result.stderr
        assert "hunter2" not in result.stderr
        assert result.stdout == ""
    with psycopg.connect(postgres_url) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_runs_postgres_uppercase_schemes(tmp_path, postgres_url):
    with PostgresStore(postgres_url) as store:
        seed_runs(store)
    rest = postgres_url.partition("://")[2]
    for scheme in ("POSTGRESQL", "Postgres"):
        result = run_cli(("runs", "--store", f"{scheme}://{rest}", "--json"), tmp_path)
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)) == 5


def test_run_records_in_postgres(tmp_path, postgres_url):
    job = write_source(
        tmp_path, LOOKING_JOB.format(opener=f"PostgresStore({postgres_url!r}, max_size=1)")
    )
    result = run_cli(("run", str(job), "--store", postgres_url, "--json"), tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert json.loads((tmp_path / "seen.json").read_text()) == {"status": "running"}

    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(postgres_url) as connection:
        rows = connection.execute(
            "SELECT id, pipeline_name, status, error, owner FROM millpond_runs"
        ).fetchall()
        instances = connection.execute("SELECT count(*) FROM millpond_instances").fetchone()
    assert len(rows) == 1
    run_id, pipeline_name, status, error, owner = rows[0]
    assert run_id == summary["run_id"]
    assert pipeline_name == "looking"
    assert status == "succeeded"
    assert error is None
    assert owner
    # close() removed the instance's lease row, so its heartbeat stopped.
    assert instances == (0,)


def test_postgres_password_never_printed(tmp_path, postgres_url):
    store = with_password(postgres_url, "hunter2")
    masked = with_password(postgres_url, "***")
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(store).close()
    except psycopg.OperationalError:
        pytest.skip("the test server checks passwords, so it rejects a made-up one")

    job = write_source(
        tmp_path, LOOKING_JOB.format(opener=f"PostgresStore({postgres_url!r}, max_size=1)")
    )
    (tmp_path / "fail").write_text("")
    failed = run_cli(("-v", "run", str(job), "--store", store), tmp_path)
    assert failed.returncode == 1, failed.stderr
    assert "hunter2" not in failed.stdout + failed.stderr

    empty = run_cli(("-v", "runs", "--store", store, "--pipeline", "absent"), tmp_path)
    assert empty.returncode == 0, empty.stderr
    assert f"no runs match in {masked}" in empty.stderr
    assert "hunter2" not in empty.stdout + empty.stderr

    repair = run_cli(("runs", "--store", store, "--repair"), tmp_path)
    assert repair.returncode == 2
    assert "--repair applies only to a FileStore" in repair.stderr
    assert masked in repair.stderr
    assert "hunter2" not in repair.stderr


def test_postgres_url_with_unencoded_at_exits_2(tmp_path):
    pytest.importorskip("psycopg")
    job = write_source(tmp_path, LOOKING_JOB.format(opener="SQLiteStore(HERE / 'runs.db')"))
    port = closed_port()
    store = f"postgresql://app:hunter2@secret9@127.0.0.1:{port}/runs"
    for args in (("runs",), ("run", str(job)), ("-v", "runs")):
        result = run_cli((*args, "--store", store), tmp_path)
        assert result.returncode == 2, args
        assert f"postgresql://app:***@127.0.0.1:{port}/runs" in result.stderr
        assert "percent-encode" in result.stderr.lower()
        assert "%40" in result.stderr
        assert "hunter2" not in result.stderr
        assert "secret9" not in result.stderr
        assert result.stdout == ""
    assert not (tmp_path / "seen.json").exists()


# -- values that are not a store --------------------------------------------------


@pytest.mark.parametrize(
    ("store", "masked"),
    [
        (
            "host=127.0.0.1 port=5432 password=hunter2 dbname=runs",
            "host=127.0.0.1 port=5432 password=*** dbname=runs",
        ),
        (
            "dbname=runs password = 'hunter2 x\\' y' user=app",
            "dbname=runs password = *** user=app",
        ),
    ],
)
def test_key_value_store_exits_2(tmp_path, store, masked):
    job = write_source(tmp_path, LOOKING_JOB.format(opener="SQLiteStore(HERE / 'runs.db')"))
    for args in (("runs", "--store", store), ("run", str(job), "--store", store)):
        result = run_cli(args, tmp_path)
        assert result.returncode == 2, result.stderr
        assert masked in result.stderr
        assert "takes a postgresql:// URL" in result.stderr
        assert "hunter2" not in result.stderr
        assert "Traceback" not in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["job.py"]


def test_key_value_file_path_with_prefix(tmp_path):
    result = run_cli(("runs", "--store", "./host=x.json"), tmp_path)
    assert result.returncode == 2
    assert "no run store at ./host=x.json" in result.stderr


def test_empty_store_option_exits_2(tmp_path, seeded_sqlite):
    job = write_source(tmp_path, LOOKING_JOB.format(opener="SQLiteStore(HERE / 'runs.db')"))
    env = {"MILLPOND_STORE": "sqlite:runs.db"}
    for args in (("runs", "--store", ""), ("run", str(job), "--store", " ")):
        result = run_cli(args, tmp_path, env)
        assert result.returncode == 2, result.stderr
        assert "--store is empty" in result.stderr
        assert result.stdout == ""
    assert not (tmp_path / "seen.json").exists()


def test_bad_store_env_is_named(tmp_path):
    result = run_cli(("runs",), tmp_path, env={"MILLPOND_STORE": "ftp://x/runs"})
    assert result.returncode == 2
    assert "$MILLPOND_STORE" in result.stderr
    assert "unsupported store URL 'ftp://x/runs'" in result.stderr
