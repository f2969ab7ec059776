"""Stopping: grace periods, cancelled and stuck runs, and stop() from inside a run."""

from __future__ import annotations

import threading
import time

import pytest
from orch_support import (
    MemoryStore,
    failing_pipeline,
    noop_pipeline,
    sleeping_pipeline,
    soon,
    wait_for,
)

from millpond.etl import Context, Pipeline
from millpond.orchestrator import Orchestrator, RunStatus
from millpond.orchestrator import _orchestrator as orchestrator_module
from millpond.scheduler import every


def test_stop_waits_for_runs_within_timeout(memory_store):
    orchestrator = Orchestrator(memory_store)
    running = threading.Event()
    orchestrator.register(sleeping_pipeline("slow", 0.3, running=running))
    handle = orchestrator.run_pipeline("slow")
    running.wait(10)
    orchestrator.stop(wait=True, timeout=10)
    assert handle.done()
    assert memory_store.get_run(handle.id).status is RunStatus.SUCCEEDED


def test_stop_cancels_runs_after_timeout(memory_store, caplog):
    orchestrator = Orchestrator(memory_store)
    running = threading.Event()
    orchestrator.register(sleeping_pipeline("slow", 60, running=running))
    handle = orchestrator.run_pipeline("slow")
    running.wait(10)
    started = time.monotonic()
    orchestrator.stop(wait=True, timeout=0.2)
    assert time.monotonic() - started < 5
    assert memory_store.get_run(handle.id).status is RunStatus.CANCELED
    assert memory_store.list_runs(status="running") == []
    assert "cancelling 1 runs still in progress after the timeout" in caplog.text


def test_stuck_run_recorded_as_canceled(memory_store, caplog, monkeypatch):
    monkeypatch.setattr(orchestrator_module, "CANCEL_WAIT_SECONDS", 0.2)
    release = threading.Event()
    started = threading.Event()

    def read(ctx: Context):
        started.set()
        release.wait(30)  # ignores cancellation
        return []

    orchestrator = Orchestrator(memory_store)
    orchestrator.register(Pipeline("stuck").read(read).write(lambda ctx, records: None))
    handle = orchestrator.run_pipeline("stuck")
    started.wait(10)
    orchestrator.stop(wait=True, timeout=0.1)
    stored = memory_store.get_run(handle.id)
    assert stored.status is RunStatus.CANCELED
    assert "did not end within" in stored.error
    assert f"run {handle.id} of pipeline 'stuck' ignored cancellation" in caplog.text
    assert orchestrator.unfinished_runs() == [handle.id]

    # When the job ends after all, its real outcome replaces the canceled record.
    release.set()
    handle.wait(10)
    final = memory_store.get_run(handle.id)
    assert final.status in {RunStatus.CANCELED, RunStatus.SUCCEEDED}
    assert "did not end within" not in (final.error or "")


def test_stop_without_wait_returns_at_once(memory_store):
    orchestrator = Orchestrator(memory_store)
    running = threading.Event()
    orchestrator.register(sleeping_pipeline("slow", 0.5, running=running), every(0.05))
    orchestrator.start_scheduler()
    running.wait(10)
    started = time.monotonic()
    orchestrator.stop(wait=False)
    assert time.monotonic() - started < 0.4
    assert not orchestrator.running
    orchestrator.stop(wait=True)
    assert memory_store.list_runs(status="running") == []


def test_stop_from_inside_run_raises(memory_store):
    errors: list[BaseException] = []
    orchestrator = Orchestrator(memory_store)

    def read(ctx: Context):
        try:
            orchestrator.stop(wait=True)
        except RuntimeError as error:
            errors.append(error)
        return []

    orchestrator.register(Pipeline("self").read(read).write(lambda ctx, records: None))
    orchestrator.run_pipeline("self").wait(10)
    orchestrator.stop()
    assert len(errors) == 1
    assert "stop(wait=False)" in str(errors[0])


def test_stop_drops_pending_retries(caplog):
    store = MemoryStore()
    orchestrator = Orchestrator(store)

    orchestrator.register(failing_pipeline("flaky"), soon(0.05), retries=3, retry_delay=30)
    orchestrator.start_scheduler()
    wait_for(lambda: store.final("flaky"), "the first attempt")
    wait_for(lambda: "retrying pipeline 'flaky'" in caplog.text, "the retry log line")
    orchestrator.stop()
    assert "stopping drops 1 pending retries" in caplog.text


def test_restart_after_stop(calls):
    orchestrator = Orchestrator()
    orchestrator.register(noop_pipeline("tick", calls), every(0.05))
    orchestrator.start_scheduler()
    calls.wait_count(1)
    orchestrator.stop()
    count = calls.count()
    orchestrator.start_scheduler()
    calls.wait_count(count + 2)
    orchestrator.stop()


@pytest.mark.parametrize("timeout", [None, 0])
def test_stop_with_nothing_running(timeout):
    orchestrator = Orchestrator()
    orchestrator.stop(timeout=timeout)
    orchestrator.stop(wait=False)
