"""`millpond runs` and `millpond run --store`: tables, filters, JSON, repair and recording."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cli_helpers import run_cli, write_source

from millpond.orchestrator import FileStore, RunRecord, RunStatus

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)


def add_runs(path: Path) -> None:
    """Store five runs: orders (3), tz_atlas (2), started one minute apart."""
    rows = [
        ("orders", RunStatus.SUCCEEDED, None, T0),
        ("orders", RunStatus.FAILED, "WriteError: write failed: " + "x" * 100, T0),
        ("tz_atlas", RunStatus.SUCCEEDED, None, None),
        ("orders", RunStatus.CANCELED, "Cancelled: timed out", T0),
        ("tz_atlas", RunStatus.RUNNING, None, T0 + timedelta(days=1)),
    ]
    with FileStore(path) as store:
        for number, (pipeline, status, error, slot) in enumerate(rows):
            started = T0 + timedelta(minutes=number)
            ended = None if status is RunStatus.RUNNING else started + timedelta(seconds=1.5)
            store.upsert_run(
                RunRecord(f"{number:032x}", pipeline, "job", status, started, ended, error, slot)
            )


@pytest.fixture
def store_path(tmp_path) -> Path:
    path = tmp_path / "state.json"
    add_runs(path)
    return path


def test_runs_table_newest_first(tmp_path, store_path):
    result = run_cli(("runs", "--store", str(store_path)), tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "STARTED", "(UTC)", "PIPELINE", "STATUS", "DURATION", "SLOT", "(UTC)", "RUN", "ID", "ERROR"
    ]  # fmt: skip
    assert len(lines) == 6
    assert lines[1].startswith("2026-03-01 02:04:00  tz_atlas  running")
    assert "2026-03-02 02:00:00" in lines[1]
    assert f"{3:032x}" in lines[2]
    assert "1.500 s" in lines[2]
    assert "Cancelled: timed out" in lines[2]
    # Long errors are cut to one short line.
    assert lines[4].endswith("...")
    assert len(lines[4].split("WriteError", 1)[1]) < 70
    assert lines[3].split()[6] == "-"


def test_runs_filters(tmp_path, store_path):
    result = run_cli(
        ("runs", "--store", str(store_path), "--pipeline", "orders", "--status", "failed"),
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert " failed " in lines[1]

    limited = run_cli(("runs", "--store", str(store_path), "--limit", "2"), tmp_path)
    assert len(limited.stdout.splitlines()) == 3


def test_runs_json(tmp_path, store_path):
    result = run_cli(("runs", "--store", str(store_path), "--json", "--limit", "0"), tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["id"] for row in rows] == [f"{number:032x}" for number in (4, 3, 2, 1, 0)]
    assert rows[0]["status"] == "running"
    assert rows[0]["ended_at"] is None
    assert rows[0]["duration_seconds"] is None
    assert rows[1]["duration_seconds"] == 1.5
    assert rows[1]["scheduled_for"] == "2026-03-01T02:00:00.000000Z"
    assert set(rows[1]) == {
        "id", "pipeline_name", "job_id", "status", "started_at", "ended_at", "error",
        "scheduled_for", "duration_seconds",
    }  # fmt: skip


def test_runs_no_match_prints_note(tmp_path, store_path):
    result = run_cli(("runs", "--store", str(store_path), "--pipeline", "nothing"), tmp_path)
    assert result.returncode == 0
    assert result.stdout == ""
    assert "no runs match" in result.stderr


def test_runs_default_store_from_env_and_cwd(tmp_path, store_path):
    from_env = run_cli(("runs",), tmp_path / "..", env={"MILLPOND_STORE": str(store_path)})
    assert from_env.returncode == 0, from_env.stderr
    assert len(from_env.stdout.splitlines()) == 6

    add_runs(tmp_path / "millpond-runs.json")
    from_cwd = run_cli(("runs",), tmp_path, env={"MILLPOND_STORE": ""})
    assert from_cwd.returncode == 0, from_cwd.stderr
    assert len(from_cwd.stdout.splitlines()) == 6


def test_runs_missing_store_exits_2(tmp_path):
    result = run_cli(("runs", "--store", str(tmp_path / "absent.json")), tmp_path)
    assert result.returncode == 2
    assert "no run store at" in result.stderr
    assert "MILLPOND_STORE" in result.stderr
    assert not (tmp_path / "absent.json.lock").exists()


def test_runs_bad_options_exit_2(tmp_path, store_path):
    bad_status = run_cli(("runs", "--store", str(store_path), "--status", "done"), tmp_path)
    assert bad_status.returncode == 2
    assert "invalid choice: 'done'" in bad_status.stderr
    bad_limit = run_cli(("runs", "--store", str(store_path), "--limit", "-3"), tmp_path)
    assert bad_limit.returncode == 2
    assert "invalid count '-3'" in bad_limit.stderr


def test_runs_damaged_store_and_repair(tmp_path, store_path):
    journal = Path(f"{store_path}.journal")
    journal.write_text("{not json\n" + journal.read_text(encoding="utf-8") + "{}\n")
    damaged = run_cli(("runs", "--store", str(store_path)), tmp_path)
    assert damaged.returncode == 1
    assert "millpond runs --repair --store" in damaged.stderr

    repaired = run_cli(("runs", "--store", str(store_path), "--repair"), tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    assert repaired.stdout.startswith(f"kept 5 runs in {store_path}")
    assert "moved aside: " in repaired.stdout
    assert ".corrupt-" in repaired.stdout

    listed = run_cli(("runs", "--store", str(store_path)), tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 6


def test_repair_undamaged_store(tmp_path, store_path):
    result = run_cli(("runs", "--store", str(store_path), "--repair"), tmp_path)
    assert result.returncode == 0
    assert "moved aside: nothing, the store was not damaged" in result.stdout


LOOKING_JOB = """
    import json
    from pathlib import Path

    from millpond.etl import Pipeline
    from millpond.orchestrator import FileStore

    STORE = Path(__file__).with_name("state.json")


    def read(ctx):
        with FileStore(STORE) as store:
            seen = store.get_run(ctx.run_id)
        Path(__file__).with_name("seen.json").write_text(
            json.dumps({"status": seen.status.value, "scheduled_for": seen.scheduled_for})
        )
        return [{"n": 1}]


    def write(ctx, records):
        if Path(__file__).with_name("fail").exists():
            raise RuntimeError("planned failure")


    pipeline = Pipeline("looking").read(read).write(write)
"""


def test_run_store_records_running_then_final(tmp_path):
    job = write_source(tmp_path, LOOKING_JOB)
    store = tmp_path / "state.json"
    result = run_cli(("run", str(job), "--store", str(store), "--json"), tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen == {"status": "running", "scheduled_for": None}
    with FileStore(store) as opened:
        stored = opened.get_run(summary["run_id"])
    assert stored.status is RunStatus.SUCCEEDED
    assert stored.pipeline_name == "looking"
    assert stored.ended_at >= stored.started_at


def test_run_store_records_failure(tmp_path):
    job = write_source(tmp_path, LOOKING_JOB)
    (tmp_path / "fail").write_text("")
    store = tmp_path / "state.json"
    result = run_cli(("run", str(job), "--store", str(store), "--json"), tmp_path)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    with FileStore(store) as opened:
        stored = opened.get_run(summary["run_id"])
    assert stored.status is RunStatus.FAILED
    assert "planned failure" in stored.error

    listed = run_cli(("runs", "--store", str(store)), tmp_path)
    assert " failed " in listed.stdout


def test_run_store_in_missing_folder_exits_2(tmp_path):
    job = write_source(tmp_path, LOOKING_JOB)
    result = run_cli(("run", str(job), "--store", str(tmp_path / "no" / "state.json")), tmp_path)
    assert result.returncode == 2
    assert "cannot open the run store" in result.stderr
    assert not (tmp_path / "seen.json").exists()


def test_run_without_store_writes_nothing(tmp_path):
    job = write_source(
        tmp_path,
        """
        from millpond.etl import Pipeline

        pipeline = Pipeline("plain").read(lambda ctx: []).write(lambda ctx, records: None)
        """,
    )
    result = run_cli(("run", str(job)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["job.py"]
