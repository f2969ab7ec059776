"""Firing on time: slot arithmetic, first fires, late registration, bad schedules and hooks."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from itertools import pairwise

from orch_support import (
    MemoryStore,
    OnceAt,
    noop_pipeline,
    sleeping_pipeline,
    soon,
    utc_now,
    wait_for,
)

from millpond.etl import NoopPipelineHook
from millpond.orchestrator import RunStatus
from millpond.scheduler import every

STEP = timedelta(seconds=0.2)


def test_slots_follow_schedule_grid(make_orchestrator, memory_store):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(noop_pipeline("tick"), every(STEP))
    before = utc_now()
    orchestrator.start_scheduler()
    wait_for(lambda: len(memory_store.final("tick")) >= 5, "five finished runs")
    orchestrator.stop()

    records = memory_store.final("tick")
    slots = [record.scheduled_for for record in records]
    assert slots[0] > before
    assert slots[0] <= before + STEP + timedelta(seconds=0.5)
    for earlier, later in pairwise(slots):
        assert later - earlier == STEP
    for record in records:
        # Started on time: well inside the default misfire grace of 1 s.
        assert record.started_at - record.scheduled_for < timedelta(seconds=0.5)
        assert record.started_at >= record.scheduled_for


def test_next_slot_counts_from_slot_not_completion(make_orchestrator, memory_store):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(sleeping_pipeline("slow", 0.5), every(STEP))
    orchestrator.start_scheduler()
    wait_for(lambda: len(memory_store.final("slow")) >= 3, "three finished runs")
    orchestrator.stop()

    slots = sorted(record.scheduled_for for record in memory_store.records.values())
    assert len(slots) >= 5
    for earlier, later in pairwise(slots):
        assert later - earlier == STEP


def test_register_while_running_arms_at_once(make_orchestrator, calls):
    orchestrator = make_orchestrator()
    orchestrator.start_scheduler()
    orchestrator.register(noop_pipeline("late", calls), every(0.1))
    calls.wait_count(2, "late")


def test_schedule_that_ends_fires_once(make_orchestrator, calls, caplog):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    orchestrator = make_orchestrator()
    orchestrator.register(noop_pipeline("once", calls), soon(0.1))
    orchestrator.start_scheduler()
    calls.wait_count(1, "once")
    wait_for(lambda: "no runs left" in caplog.text, "the end-of-schedule log line")
    threading.Event().wait(0.3)
    assert calls.count("once") == 1


class RaisingOnce:
    """every(0.1), except that one call of next() raises."""

    def __init__(self, failing_call: int) -> None:
        self.calls = 0
        self.failing_call = failing_call
        self.inner = every(0.1)

    def next(self, after: datetime) -> datetime | None:
        self.calls += 1
        if self.calls == self.failing_call:
            raise ZeroDivisionError("schedule bug")
        return self.inner.next(after)


def test_raising_schedule_keeps_others_firing(make_orchestrator, calls, caplog):
    orchestrator = make_orchestrator()
    broken = RaisingOnce(failing_call=3)
    orchestrator.register(noop_pipeline("broken", calls), broken)
    orchestrator.register(noop_pipeline("healthy", calls), every(0.1))
    orchestrator.start_scheduler()

    wait_for(lambda: "schedule of pipeline 'broken' failed" in caplog.text, "the error log")
    before = calls.count("healthy")
    calls.wait_count(before + 3, "healthy")
    # The broken schedule is tried again after 1 s and fires again.
    after_failure = calls.count("broken")
    calls.wait_count(after_failure + 1, "broken")
    assert "ZeroDivisionError: schedule bug" in caplog.text
    assert orchestrator.running


class NaiveSchedule:
    def next(self, after: datetime) -> datetime | None:
        return after.replace(tzinfo=None) + timedelta(seconds=0.1)


class BackwardsSchedule:
    def next(self, after: datetime) -> datetime | None:
        return after - timedelta(seconds=1)


def test_invalid_schedule_results_logged(make_orchestrator, calls, caplog):
    orchestrator = make_orchestrator()
    orchestrator.register(noop_pipeline("naive"), NaiveSchedule())
    orchestrator.register(noop_pipeline("backwards"), BackwardsSchedule())
    orchestrator.register(noop_pipeline("healthy", calls), every(0.1))
    orchestrator.start_scheduler()
    calls.wait_count(3, "healthy")
    wait_for(lambda: "returned the naive datetime" in caplog.text, "the naive-result error")
    wait_for(lambda: "which is not after it" in caplog.text, "the backwards-result error")


class RaisingHook(NoopPipelineHook):
    def on_pipeline_start(self, ctx, info):
        raise RuntimeError("hook bug")

    def on_pipeline_end(self, ctx, info, error, duration):
        raise RuntimeError("hook bug at the end")


def test_raising_hook_does_not_change_runs(make_orchestrator, memory_store, calls):
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(noop_pipeline("hooked", calls).hook(RaisingHook()), every(0.1))
    orchestrator.register(noop_pipeline("plain", calls), every(0.1))
    orchestrator.start_scheduler()
    wait_for(lambda: len(memory_store.final("hooked")) >= 3, "three hooked runs")
    calls.wait_count(3, "plain")
    assert {record.status for record in memory_store.final("hooked")} == {RunStatus.SUCCEEDED}


def test_fire_and_completion_logged(make_orchestrator, caplog):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    store = MemoryStore()
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("logged"), soon(0.05))
    orchestrator.start_scheduler()
    record = wait_for(lambda: store.final("logged"), "a finished run")[0]
    wait_for(lambda: f"run {record.id} of pipeline 'logged' succeeded" in caplog.text, "log")
    assert "fired pipeline 'logged' for slot" in caplog.text
    assert f"run {record.id}, attempt 1 of 1" in caplog.text
    orchestrator.stop()
    assert "scheduler started" in caplog.text
    assert "scheduler stopped" in caplog.text


def test_first_slot_is_next_after_now(make_orchestrator, memory_store):
    when = utc_now() + timedelta(seconds=0.3)
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(noop_pipeline("fixed"), OnceAt(when))
    orchestrator.start_scheduler()
    record = wait_for(lambda: memory_store.final("fixed"), "the run")[0]
    assert record.scheduled_for == when
    assert record.started_at >= when
