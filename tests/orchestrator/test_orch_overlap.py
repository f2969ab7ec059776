"""Overlap policies, timeouts and retries with backoff."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from itertools import pairwise

from orch_support import (
    failing_pipeline,
    noop_pipeline,
    sleeping_pipeline,
    soon,
    wait_for,
)

from millpond.orchestrator import RunStatus
from millpond.scheduler import every


def overlapping(records) -> int:
    """Return the most records whose [started_at, ended_at] intervals overlap at one instant."""
    events = []
    for item in records:
        events.append((item.started_at, 1))
        events.append((item.ended_at, -1))
    events.sort(key=lambda event: (event[0], event[1]))
    most = current = 0
    for _, change in events:
        current += change
        most = max(most, current)
    return most


def test_overlap_allow_runs_concurrently(make_orchestrator, memory_store):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(sleeping_pipeline("slow", 0.5), every(0.1))
    orchestrator.start_scheduler()
    wait_for(lambda: len(memory_store.final("slow")) >= 4, "four finished runs")
    orchestrator.stop()
    assert overlapping(memory_store.final("slow")) >= 3


def test_overlap_skip_never_overlaps(make_orchestrator, memory_store, caplog):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(sleeping_pipeline("slow", 0.35), every(0.1), overlap="skip")
    orchestrator.start_scheduler()
    wait_for(lambda: len(memory_store.final("slow")) >= 3, "three finished runs")
    orchestrator.stop()

    records = memory_store.final("slow")
    assert overlapping(records) == 1
    assert "because its previous run is still in progress (overlap 'skip')" in caplog.text
    # Skipped slots leave gaps in the recorded slots.
    slots = [item.scheduled_for for item in records]
    assert max(later - earlier for earlier, later in pairwise(slots)) > timedelta(seconds=0.1)


def test_overlap_queue_runs_one_after_another(make_orchestrator, memory_store, caplog):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(
        sleeping_pipeline("slow", 0.25), every(0.1), overlap="queue", max_queued=2
    )
    orchestrator.start_scheduler()
    wait_for(lambda: len(memory_store.final("slow")) >= 4, "four finished runs")
    orchestrator.stop()

    records = memory_store.final("slow")
    assert overlapping(records) == 1
    # Queued slots keep their own slot time and run in slot order.
    slots = [item.scheduled_for for item in records]
    assert slots == sorted(slots)
    assert "waits for the running one (overlap 'queue'" in caplog.text
    assert "slots already wait for the running one (max_queued=2)" in caplog.text


def test_manual_run_counts_for_overlap_skip(make_orchestrator, memory_store, caplog):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    running = threading.Event()
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(
        sleeping_pipeline("slow", 0.6, running=running), every(0.1), overlap="skip"
    )
    handle = orchestrator.run_pipeline("slow")
    running.wait(10)
    orchestrator.start_scheduler()
    handle.wait(10)
    orchestrator.stop()
    assert "because its previous run is still in progress" in caplog.text


def test_timeout_cancels_run(make_orchestrator, memory_store, caplog):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(sleeping_pipeline("hang", 30), timeout=0.2)
    result = orchestrator.run_pipeline("hang").result(timeout=10)
    assert result.status.value == "canceled"
    stored = memory_store.final("hang")[0]
    assert stored.status is RunStatus.CANCELED
    assert stored.ended_at - stored.started_at < timedelta(seconds=5)
    assert "timed out" in caplog.text


def test_timeout_keeps_other_pipelines_firing(make_orchestrator, calls, memory_store):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(sleeping_pipeline("hang", 30), every(0.2), timeout=0.3)
    orchestrator.register(noop_pipeline("healthy", calls), every(0.1))
    orchestrator.start_scheduler()
    wait_for(lambda: len(memory_store.final("hang")) >= 2, "two timed-out runs")
    calls.wait_count(5, "healthy")
    assert {item.status for item in memory_store.final("hang")} == {RunStatus.CANCELED}


def test_retries_with_backoff_share_slot(make_orchestrator, memory_store, calls, caplog):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(failing_pipeline("flaky", calls), soon(0.05), retries=3, retry_delay=0.1)
    orchestrator.start_scheduler()
    wait_for(lambda: len(memory_store.final("flaky")) >= 4, "four attempts")
    wait_for(lambda: "gave up on slot" in caplog.text, "the give-up log line")
    records = memory_store.final("flaky")
    assert len(records) == 4
    assert len({item.id for item in records}) == 4
    assert len({item.scheduled_for for item in records}) == 1
    assert {item.status for item in records} == {RunStatus.FAILED}

    # Each retry waits 0.1 s, 0.2 s, 0.4 s after the previous attempt ended.
    gaps = [
        (later.started_at - earlier.ended_at).total_seconds()
        for earlier, later in pairwise(records)
    ]
    for gap, expected in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert expected - 0.02 <= gap <= expected + 1.0
    assert caplog.text.count("retrying pipeline 'flaky'") == 3
    assert "attempt 4 of 4" in caplog.text


def test_retries_stop_after_success(make_orchestrator, memory_store):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(
        failing_pipeline("flaky", fail_times=1), soon(0.05), retries=5, retry_delay=0.05
    )
    orchestrator.start_scheduler()
    wait_for(
        lambda: any(item.status is RunStatus.SUCCEEDED for item in memory_store.final("flaky")),
        "a successful retry",
    )
    threading.Event().wait(0.3)
    statuses = [item.status for item in memory_store.final("flaky")]
    assert statuses == [RunStatus.FAILED, RunStatus.SUCCEEDED]


def test_timed_out_run_is_retried(make_orchestrator, memory_store):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(
        sleeping_pipeline("hang", 30), soon(0.05), timeout=0.2, retries=1, retry_delay=0.05
    )
    orchestrator.start_scheduler()
    wait_for(lambda: len(memory_store.final("hang")) >= 2, "the retry of a timed-out run")
    assert [item.status for item in memory_store.final("hang")] == [RunStatus.CANCELED] * 2


def test_manual_runs_are_not_retried(make_orchestrator, memory_store):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(failing_pipeline("flaky"), retries=3, retry_delay=0.05)
    orchestrator.start_scheduler()
    orchestrator.run_pipeline("flaky").wait(10)
    threading.Event().wait(0.3)
    assert len(memory_store.final("flaky")) == 1
