"""Store failures around start-up: closing abandoned runs later, runs the runner rejects."""

from __future__ import annotations

import logging

import pytest
from orch_support import noop_pipeline, record, soon, wait_for

from millpond.orchestrator import FileStore, RunStatus
from millpond.runner import Runner


class FlakyReads:
    """A FileStore whose first `failures` list_runs() calls raise OSError."""

    def __init__(self, store: FileStore, failures: int) -> None:
        self._store = store
        self.failures = failures
        self.path = store.path

    def upsert_run(self, item):
        self._store.upsert_run(item)

    def get_run(self, run_id):
        return self._store.get_run(run_id)

    def list_runs(self, pipeline=None, status=None, limit=None):
        if self.failures > 0:
            self.failures -= 1
            raise OSError("store unavailable (test)")
        return self._store.list_runs(pipeline, status, limit)


def test_abandoned_runs_closed_after_store_recovers(tmp_path, make_orchestrator, caplog):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    store = FileStore(tmp_path / "state.json")
    store.upsert_run(record("c" * 32, "orders", RunStatus.RUNNING))
    flaky = FlakyReads(store, failures=1)
    orchestrator = make_orchestrator(flaky)
    orchestrator.register(noop_pipeline("orders"))
    orchestrator.start_scheduler()

    wait_for(
        lambda: store.get_run("c" * 32).status is RunStatus.FAILED, "the abandoned run closed"
    )
    assert "could not check the store for runs abandoned" in caplog.text
    assert "looking for abandoned runs again in 1 s" in caplog.text
    wait_for(
        lambda: "checked the store for abandoned runs after 1 failed attempts" in caplog.text,
        "the log line of the successful check",
    )
    orchestrator.stop()
    store.close()


def test_runner_rejecting_run_closes_record(make_orchestrator, memory_store, calls, caplog):
    runner = Runner(max_workers=1)
    runner.shutdown()
    orchestrator = make_orchestrator(memory_store, runner)
    orchestrator.register(noop_pipeline("orders", calls), soon(0.05))
    orchestrator.register(noop_pipeline("manual", calls))
    orchestrator.start_scheduler()

    failed = wait_for(lambda: memory_store.final("orders"), "the closed record")[0]
    assert failed.status is RunStatus.FAILED
    assert failed.error.startswith("not started: ")
    wait_for(
        lambda: f"could not start run {failed.id} of pipeline 'orders'" in caplog.text,
        "the error log line with the run id",
    )
    assert orchestrator.running
    assert calls.count() == 0


def test_run_pipeline_raises_runner_error(make_orchestrator, memory_store):
    runner = Runner(max_workers=1)
    runner.shutdown()
    orchestrator = make_orchestrator(memory_store, runner)
    orchestrator.register(noop_pipeline("manual"))
    with pytest.raises(RuntimeError, match="the runner is shut down"):
        orchestrator.run_pipeline("manual")
    (closed,) = memory_store.final("manual")
    assert closed.status is RunStatus.FAILED
    assert orchestrator.unfinished_runs() == []
