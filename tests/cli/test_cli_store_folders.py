"""--store values whose folder is missing, a file, or not writable: exit 2 with a plain message."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cli_helpers import TIMEOUT_SECONDS, run_cli, write_source

from millpond.orchestrator import FileStore, RunRecord, RunStatus

# The job prints a line when it runs, so a test can check whether it started.
JOB = """
from millpond.etl import Pipeline


def read(ctx):
    print("the job ran", flush=True)
    return []


pipeline = Pipeline("job").read(read).write(lambda ctx, records: None)
"""

# Runs the command line as the unprivileged user "nobody" when started as
# root, because root may write into any folder. The interpreter's own folder
# may be closed to "nobody", so every module the commands need is imported
# before the switch.
AS_NOBODY = """
import os
import sys

import millpond.cli
import millpond.etl
import millpond.orchestrator
import millpond.runner
import sqlite3

if os.geteuid() == 0:
    os.setgid(65534)
    os.setuid(65534)
sys.exit(millpond.cli.main(sys.argv[1:]))
"""


def run_as_nobody(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", AS_NOBODY, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture
def read_only_folder() -> Iterator[Path]:
    """Return a folder with job.py and a FileStore in it, which only root may write."""
    # Outside pytest's temp folder, which "nobody" cannot enter.
    folder = Path(tempfile.mkdtemp(prefix="millpond-read-only-"))
    write_source(folder, JOB)
    started = datetime(2026, 3, 1, tzinfo=timezone.utc)
    record = RunRecord("0" * 32, "job", "job-id", RunStatus.SUCCEEDED, started, started, None)
    with FileStore(folder / "old.json") as store:
        store.upsert_run(record)
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


@pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX folder permissions")
@pytest.mark.parametrize("store", ["new.json", "old.json", "sqlite:new.db"])
def test_run_in_read_only_folder_exits_2(read_only_folder, store):
    before = sorted(read_only_folder.iterdir())
    result = run_as_nobody(("run", "job.py", "--store", store), read_only_folder)

    assert result.returncode == 2, result.stderr
    assert f"store folder is not writable: {read_only_folder}" in result.stderr
    assert "[Errno" not in result.stderr
    assert "Traceback" not in result.stderr
    assert "the job ran" not in result.stdout
    assert sorted(read_only_folder.iterdir()) == before


@pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX folder permissions")
def test_run_with_read_only_owners_folder_exits_2():
    # The store folder is writable, but the owner lease cannot be written.
    folder = Path(tempfile.mkdtemp(prefix="millpond-owners-"))
    try:
        write_source(folder, JOB)
        folder.chmod(0o777)
        (folder / "runs.json.owners").mkdir(mode=0o555)
        result = run_as_nobody(("run", "job.py", "--store", "runs.json"), folder)
    finally:
        shutil.rmtree(folder)

    assert result.returncode == 2, result.stderr
    assert "cannot record the run in runs.json, so it did not start: " in result.stderr
    assert "Permission denied" in result.stderr
    assert "[Errno" not in result.stderr
    assert "Traceback" not in result.stderr
    assert "the job ran" not in result.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX folder permissions")
def test_runs_reads_file_store_in_read_only_folder(read_only_folder):
    result = run_as_nobody(("runs", "--store", "old.json"), read_only_folder)
    assert result.returncode == 0, result.stderr
    assert "0" * 32 in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("run", "job.py", "--store", "no/such/runs.json"),
            (
                "cannot open the run store no/such/runs.json: store folder does not exist, "
                "create it first: {tmp}/no/such"
            ),
        ),
        (
            ("run", "job.py", "--store", "sqlite:no/such/runs.db"),
            (
                "cannot open the run store sqlite:no/such/runs.db: store folder does not "
                "exist, create it first: {tmp}/no/such"
            ),
        ),
        (
            ("run", "job.py", "--store", "job.py/runs.json"),
            "store folder is not a folder: {tmp}/job.py",
        ),
        (
            ("runs", "--store", "sqlite:sub"),
            (
                "cannot open the run store sqlite:sub: store path is a folder, expected a "
                "file path: {tmp}/sub"
            ),
        ),
        (("runs", "--store", "sub"), "store path is a folder, expected a file path: {tmp}/sub"),
        (
            ("runs", "--repair", "--store", "sub"),
            (
                "cannot repair the run store sub: store path is a folder, expected a file "
                "path: {tmp}/sub"
            ),
        ),
    ],
)
def test_store_folder_errors_without_errno(tmp_path, args, message):
    write_source(tmp_path, JOB)
    (tmp_path / "sub").mkdir()
    result = run_cli(args, tmp_path)
    assert result.returncode == 2, result.stderr
    assert message.format(tmp=tmp_path) in result.stderr
    assert "[Errno" not in result.stderr
    assert "the job ran" not in result.stdout
