"""Runs left `running` by a process killed with SIGKILL are closed at the next start."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from orch_support import noop_pipeline, record, wait_for

from millpond.etl import Pipeline
from millpond.orchestrator import FileStore, RunStatus

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses flock and SIGKILL")

# Serves an orchestrator whose pipeline 'slow' starts at once and sleeps for
# a minute; prints "started" once the run's `running` record is stored.
SERVING_CHILD = """
import sys, threading
from millpond.etl import Pipeline
from millpond.orchestrator import FileStore, Orchestrator
from millpond.scheduler import every

started = threading.Event()

def read(ctx):
    started.set()
    ctx.sleep(60)
    return []

orchestrator = Orchestrator(FileStore(sys.argv[1]))
orchestrator.register(Pipeline("slow").read(read).write(lambda ctx, records: None), every(0.05))

def report():
    started.wait()
    print("started", flush=True)

threading.Thread(target=report, daemon=True).start()
orchestrator.serve(grace=1)
"""


def start_serving_child(store_path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", SERVING_CHILD, str(store_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = child.stdout.readline()
    if line != "started\n":
        child.kill()
        _, errors = child.communicate(timeout=30)
        pytest.fail(f"child did not start its run: {line!r}\n{errors}")
    return child


def kill_9(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL


def running_ids(store_path: Path) -> set[str]:
    with FileStore(store_path) as store:
        return {item.id for item in store.list_runs(status="running")}


def test_killed_serving_child_run_closed_at_start(tmp_path, make_orchestrator):
    store_path = tmp_path / "state.json"
    child = start_serving_child(store_path)
    pid = child.pid
    kill_9(child)
    abandoned = running_ids(store_path)
    assert len(abandoned) == 1

    store = FileStore(store_path)
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("other"))
    orchestrator.start_scheduler()
    run_id = next(iter(abandoned))
    closed = wait_for(
        lambda: (item := store.get_run(run_id)) and item.status is RunStatus.FAILED and item,
        "the abandoned run closed as failed",
    )
    assert closed.error == (
        f"abandoned: process {pid} on {socket.gethostname()} exited before the run finished"
    )
    assert closed.ended_at is not None
    assert closed.scheduled_for is not None
    # The dead process's lease files are removed once all its runs are closed.
    owners = tmp_path / "state.json.owners"
    wait_for(
        lambda: not [entry for entry in owners.iterdir() if entry.name.startswith(f"{pid}-")],
        "the dead process's lease files removed",
    )
    orchestrator.stop()
    store.close()


def test_run_pipeline_closes_abandoned_runs(tmp_path, make_orchestrator):
    store_path = tmp_path / "state.json"
    kill_9(start_serving_child(store_path))
    (run_id,) = running_ids(store_path)

    store = FileStore(store_path)
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("other"))
    orchestrator.run_pipeline("other").wait(10)
    assert store.get_run(run_id).status is RunStatus.FAILED
    store.close()


def test_live_process_runs_left_alone(tmp_path, make_orchestrator):
    store_path = tmp_path / "state.json"
    child = start_serving_child(store_path)
    try:
        (run_id,) = running_ids(store_path)
        store = FileStore(store_path)
        orchestrator = make_orchestrator(store)
        orchestrator.register(noop_pipeline("other"))
        orchestrator.run_pipeline("other").wait(10)
        assert store.get_run(run_id).status is RunStatus.RUNNING
        orchestrator.stop()
    finally:
        kill_9(child)

    # A new orchestrator after the kill closes it.
    second = make_orchestrator(store)
    second.register(noop_pipeline("other"))
    second.run_pipeline("other").wait(10)
    assert store.get_run(run_id).status is RunStatus.FAILED
    store.close()


def test_running_record_without_owner_closed(tmp_path, make_orchestrator):
    store = FileStore(tmp_path / "state.json")
    store.upsert_run(record("b" * 32, "orders", RunStatus.RUNNING))
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("orders"))
    orchestrator.run_pipeline("orders").wait(10)
    closed = store.get_run("b" * 32)
    assert closed.status is RunStatus.FAILED
    assert "no longer holds an owner lease" in closed.error
    store.close()


def test_own_running_runs_not_closed(tmp_path, make_orchestrator):
    release = threading.Event()
    store = FileStore(tmp_path / "state.json")
    orchestrator = make_orchestrator(store)

    def read(ctx):
        release.wait(10)
        return []

    orchestrator.register(Pipeline("slow").read(read).write(lambda ctx, records: None))
    orchestrator.register(noop_pipeline("quick"))
    handle = orchestrator.run_pipeline("slow")
    # A second orchestrator in the same process holds a lease of its own.
    other = make_orchestrator(store)
    other.register(noop_pipeline("quick"))
    other.run_pipeline("quick").wait(10)
    assert store.get_run(handle.id).status is RunStatus.RUNNING
    release.set()
    handle.wait(10)
    assert store.get_run(handle.id).status is RunStatus.SUCCEEDED
    store.close()
