"""Run records: written before the job starts and before the handle is done; store failures."""

from __future__ import annotations

import logging
import threading

import pytest
from orch_support import MemoryStore, noop_pipeline, sleeping_pipeline, utc_now, wait_for

from millpond.etl import Context, Pipeline
from millpond.orchestrator import FileStore, RunRecord, RunStatus, _recorder
from millpond.scheduler import every


def test_running_record_exists_when_job_starts(make_orchestrator, memory_store):
    seen: list[RunRecord | None] = []

    def read(ctx: Context):
        seen.append(memory_store.get_run(ctx.run_id))
        return []

    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(Pipeline("look").read(read).write(lambda ctx, records: None))
    handle = orchestrator.run_pipeline("look")
    handle.wait(10)
    assert seen[0] is not None
    assert seen[0].status is RunStatus.RUNNING
    assert seen[0].id == handle.id
    assert seen[0].scheduled_for is None
    assert seen[0].ended_at is None


def test_final_record_written_before_handle_done(make_orchestrator, memory_store):
    handles = {}
    done_at_final_write: list[bool] = []

    def on_upsert(record: RunRecord) -> None:
        if record.status is not RunStatus.RUNNING:
            done_at_final_write.append(handles[record.id].done())

    memory_store.on_upsert = on_upsert
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(sleeping_pipeline("slow", 0.1))
    handle = orchestrator.run_pipeline("slow")
    handles[handle.id] = handle
    assert handle.wait(10)
    # The waiter sees the final record as soon as the handle is done.
    stored = memory_store.get_run(handle.id)
    assert stored is not None
    assert stored.status is RunStatus.SUCCEEDED
    assert stored.ended_at is not None
    assert done_at_final_write == [False]


def test_scheduled_records_carry_slot_and_ids(make_orchestrator, tmp_path):
    store = FileStore(tmp_path / "state.json")
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("tick"), every(0.1))
    orchestrator.start_scheduler()
    wait_for(lambda: len(store.list_runs(status="succeeded")) >= 3, "three stored runs")
    orchestrator.stop()
    records = store.list_runs()
    assert all(item.scheduled_for is not None for item in records)
    assert all(item.status is RunStatus.SUCCEEDED for item in records)
    assert len({item.job_id for item in records}) == len(records)
    store.close()


def test_run_pipeline_store_failure_raises_and_skips_job(make_orchestrator, memory_store, calls):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(noop_pipeline("orders", calls))
    memory_store.failing = True
    with pytest.raises(OSError, match="store unavailable"):
        orchestrator.run_pipeline("orders")
    threading.Event().wait(0.1)
    assert calls.count() == 0
    assert orchestrator.unfinished_runs() == []

    memory_store.failing = False
    orchestrator.run_pipeline("orders").wait(10)
    assert calls.count() == 1


def test_store_outage_keeps_scheduler_firing(make_orchestrator, memory_store, calls, caplog):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(noop_pipeline("tick", calls), every(0.1))
    orchestrator.start_scheduler()
    calls.wait_count(2)

    memory_store.failing = True
    wait_for(lambda: memory_store.failures >= 1, "a failed store write")
    threading.Event().wait(0.5)
    assert "could not store the running record of pipeline 'tick'" in caplog.text
    memory_store.failing = False

    # The slot is tried again after the backoff, and runs are recorded again.
    count = calls.count()
    calls.wait_count(count + 3)
    assert orchestrator.running
    wait_for(lambda: not memory_store.list_runs(status="running"), "no running records left", 10)
    assert "the store accepts run records again" in caplog.text


def test_failed_final_write_retried_in_background(make_orchestrator, memory_store, caplog):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    release = threading.Event()
    started = threading.Event()

    def read(ctx: Context):
        started.set()
        release.wait(10)
        return []

    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(Pipeline("late").read(read).write(lambda ctx, records: None))
    handle = orchestrator.run_pipeline("late")
    started.wait(10)
    memory_store.failing = True
    release.set()
    assert handle.wait(10)
    assert "could not store the final record of run" in caplog.text
    threading.Event().wait(0.3)
    memory_store.failing = False

    stored = wait_for(
        lambda: (item := memory_store.get_run(handle.id)) and item.status is RunStatus.SUCCEEDED,
        "the final record stored by the retry thread",
    )
    assert stored
    wait_for(
        lambda: f"stored the final record of run {handle.id}" in caplog.text, "the retry log line"
    )


def test_store_down_at_stop_logs_lost_record(make_orchestrator, memory_store, caplog, monkeypatch):
    orchestrator = make_orchestrator(memory_store)
    release = threading.Event()
    started = threading.Event()

    def read(ctx: Context):
        started.set()
        release.wait(10)
        return []

    orchestrator.register(Pipeline("late").read(read).write(lambda ctx, records: None))
    handle = orchestrator.run_pipeline("late")
    started.wait(10)
    memory_store.failing = True
    release.set()
    handle.wait(10)
    original_flush = _recorder.RunRecorder.flush
    monkeypatch.setattr(
        _recorder.RunRecorder, "flush", lambda self, timeout=5.0: original_flush(self, 0.2)
    )
    orchestrator.stop()
    assert f"giving up on the final record of run {handle.id}" in caplog.text


def test_memory_store_without_path_has_no_owners(make_orchestrator, calls):
    store = MemoryStore()
    store.upsert_run(RunRecord("a" * 32, "orders", "job", "running", utc_now(), None, None))
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("orders", calls))
    orchestrator.run_pipeline("orders").wait(10)
    # Without owner leases nothing is known about other processes, so nothing is closed.
    assert store.get_run("a" * 32).status is RunStatus.RUNNING
