"""`millpond serve` in a child process: SIGTERM and Ctrl-C while jobs run, grace, kill -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import TIMEOUT_SECONDS, run_cli, write_source

from millpond.orchestrator import FileStore, RunStatus

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")

WAIT_SECONDS = 30

# An orchestrator with a FileStore beside the file: 'slow' sleeps SLEEP
# seconds (cancellable) every 0.1 s, 'quick' does nothing every 0.1 s.
SERVED = """
from pathlib import Path

from millpond.etl import Pipeline
from millpond.orchestrator import FileStore, Orchestrator
from millpond.scheduler import every

HERE = Path(__file__).parent


def slow_read(ctx):
    ctx.sleep(SLEEP)
    ctx.raise_if_cancelled()
    return []


def make():
    orchestrator = Orchestrator(FileStore(HERE / "state.json"))
    orchestrator.register(
        Pipeline("slow").read(slow_read).write(lambda ctx, records: None), every(0.1)
    )
    orchestrator.register(
        Pipeline("quick").read(lambda ctx: []).write(lambda ctx, records: None), every(0.1)
    )
    return orchestrator
"""


def _default_sigint() -> None:
    # A child of a shell script's background job inherits an ignored SIGINT,
    # which serve rightly leaves alone; these tests need the usual handling.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def write_served(folder: Path, sleep: float) -> Path:
    return write_source(folder, SERVED.replace("SLEEP", repr(sleep)), "served.py")


def start_serve(job: Path, *args: str) -> subprocess.Popen[str]:
    stderr_fd = os.open(job.parent / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "millpond", "serve", f"{job}:make", *args],
            stdout=subprocess.PIPE,
            stderr=stderr_fd,
            text=True,
            cwd=job.parent,
            preexec_fn=_default_sigint,  # noqa: PLW1509 - no threads run in the child before exec
        )
    finally:
        os.close(stderr_fd)


def records(folder: Path, status: str | None = None):
    with FileStore(folder / "state.json") as store:
        return store.list_runs(status=status)


def wait_for(condition, description: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {description}")
        time.sleep(0.05)


def stop_child(child: subprocess.Popen[str], signum: int = signal.SIGTERM) -> int:
    child.send_signal(signum)
    try:
        child.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail("serve did not exit after the signal")
    return child.returncode


def stderr_of(folder: Path) -> str:
    return (folder / "stderr.txt").read_text(encoding="utf-8")


def test_sigterm_lets_running_jobs_finish(tmp_path):
    job = write_served(tmp_path, 0.4)
    child = start_serve(job, "--grace", "10")
    wait_for(lambda: records(tmp_path, "succeeded"), "a finished run")
    wait_for(
        lambda: any(item.pipeline_name == "slow" for item in records(tmp_path, "running")),
        "a running slow job",
    )

    assert stop_child(child) == 0
    assert records(tmp_path, "running") == []
    stored = records(tmp_path)
    slow = [item for item in stored if item.pipeline_name == "slow"]
    # Every slow run started before the signal finished within the grace period.
    assert {item.status for item in slow} == {RunStatus.SUCCEEDED}
    log = stderr_of(tmp_path)
    assert "fired pipeline 'slow' for slot" in log
    assert "of pipeline 'quick' succeeded" in log
    assert "received SIGTERM" in log
    assert "scheduler stopped" in log


def test_grace_expiry_records_canceled(tmp_path):
    job = write_served(tmp_path, 60)
    child = start_serve(job, "--grace", "0.3")
    wait_for(
        lambda: any(item.pipeline_name == "slow" for item in records(tmp_path, "running")),
        "a running slow job",
    )
    started = time.monotonic()
    assert stop_child(child) == 0
    assert time.monotonic() - started < 15
    assert records(tmp_path, "running") == []
    canceled = records(tmp_path, "canceled")
    assert canceled
    assert {item.pipeline_name for item in canceled} == {"slow"}
    assert "cancelling" in stderr_of(tmp_path)


def test_second_signal_cancels_at_once(tmp_path):
    job = write_served(tmp_path, 60)
    child = start_serve(job, "--grace", "120")
    wait_for(
        lambda: any(item.pipeline_name == "slow" for item in records(tmp_path, "running")),
        "a running slow job",
    )
    child.send_signal(signal.SIGTERM)
    wait_for(lambda: "received SIGTERM" in stderr_of(tmp_path), "the first signal's log line")
    started = time.monotonic()
    assert stop_child(child) == 0
    assert time.monotonic() - started < 15
    assert records(tmp_path, "running") == []
    assert "after a second signal" in stderr_of(tmp_path)


def test_ctrl_c_stops_serve(tmp_path):
    job = write_served(tmp_path, 0.2)
    child = start_serve(job, "--grace", "10")
    wait_for(lambda: records(tmp_path, "succeeded"), "a finished run")
    assert stop_child(child, signal.SIGINT) == 0
    assert records(tmp_path, "running") == []
    assert "received SIGINT" in stderr_of(tmp_path)


def test_kill_9_then_next_start_closes_runs(tmp_path):
    job = write_served(tmp_path, 60)
    child = start_serve(job)
    running = wait_for(
        lambda: [item for item in records(tmp_path, "running") if item.pipeline_name == "slow"],
        "a running slow job",
    )
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=TIMEOUT_SECONDS)

    # A second serve on the same store closes the killed process's runs at start.
    second = start_serve(job, "--grace", "0.2")
    closed = wait_for(
        lambda: (
            (item := _get(tmp_path, running[0].id)) and item.status is RunStatus.FAILED and item
        ),
        "the abandoned run closed",
    )
    assert closed.error == (
        f"abandoned: process {child.pid} on {socket.gethostname()} exited before the run finished"
    )
    assert stop_child(second) == 0


def _get(folder: Path, run_id: str):
    with FileStore(folder / "state.json") as store:
        return store.get_run(run_id)


def test_serve_bad_target_exits_2(tmp_path):
    job = write_source(tmp_path, "VALUE = 1\n", "empty.py")
    result = run_cli(("serve", str(job)), tmp_path)
    assert result.returncode == 2
    assert "no module-level Orchestrator" in result.stderr


def test_serve_rejects_negative_grace(tmp_path):
    job = write_served(tmp_path, 0.1)
    result = run_cli(("serve", f"{job}:make", "--grace", "-1"), tmp_path)
    assert result.returncode == 2
    assert "invalid number of seconds '-1'" in result.stderr
