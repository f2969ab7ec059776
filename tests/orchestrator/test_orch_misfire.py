"""Misfire policies: slots missed while no process ran, and late wake-ups while running."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from orch_support import Calls, MemoryStore, noop_pipeline, record, utc_now, wait_for

from millpond.orchestrator import RunStatus
from millpond.scheduler import every

SECOND = timedelta(seconds=1)


def seeded_store(last_slot: datetime) -> MemoryStore:
    """Return a store whose only record is a finished run of 'tick' for `last_slot`."""
    store = MemoryStore()
    store.upsert_run(
        record(
            "0" * 32, "tick", RunStatus.SUCCEEDED, started_at=last_slot, scheduled_for=last_slot
        )
    )
    return store


def scheduled_slots(store: MemoryStore) -> list[datetime]:
    return sorted(
        item.scheduled_for
        for item in store.final("tick")
        if item.scheduled_for is not None and item.id != "0" * 32
    )


@pytest.fixture
def missed_five():
    """A store whose last 'tick' slot was 5.5 s ago: with every(1), five slots were missed."""
    last = utc_now() - 5.5 * SECOND
    return last, seeded_store(last)


def test_coalesce_fires_newest_missed_slot_once(make_orchestrator, missed_five, caplog):
    last, store = missed_five
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("tick"), every(1), misfire_grace=0.1)
    orchestrator.start_scheduler()
    wait_for(lambda: len(scheduled_slots(store)) >= 2, "the coalesced run and the next one")
    orchestrator.stop()

    slots = scheduled_slots(store)
    assert slots[0] == last + 5 * SECOND
    assert slots[1] == last + 6 * SECOND
    assert "coalesced 5 missed slots into one run" in caplog.text


def test_skip_fires_only_future_slots(make_orchestrator, missed_five, caplog):
    last, store = missed_five
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("tick"), every(1), misfire="skip", misfire_grace=0.1)
    orchestrator.start_scheduler()
    wait_for(lambda: scheduled_slots(store), "the first on-time run")
    orchestrator.stop()

    assert scheduled_slots(store)[0] == last + 6 * SECOND
    assert "skipped 5 late slots" in caplog.text


def test_catch_up_fires_every_missed_slot(make_orchestrator, missed_five):
    last, store = missed_five
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("tick"), every(1), misfire="catch_up", misfire_grace=0.1)
    orchestrator.start_scheduler()
    wait_for(lambda: len(scheduled_slots(store)) >= 6, "five caught-up runs and the next")
    orchestrator.stop()

    assert scheduled_slots(store)[:6] == [last + number * SECOND for number in range(1, 7)]


def test_catch_up_bounded_by_max_catch_up(make_orchestrator, missed_five, caplog):
    last, store = missed_five
    orchestrator = make_orchestrator(store)
    orchestrator.register(
        noop_pipeline("tick"), every(1), misfire="catch_up", misfire_grace=0.1, max_catch_up=3
    )
    orchestrator.start_scheduler()
    wait_for(lambda: len(scheduled_slots(store)) >= 4, "three caught-up runs and the next")
    orchestrator.stop()

    assert scheduled_slots(store)[:4] == [last + number * SECOND for number in (3, 4, 5, 6)]
    assert "more than max_catch_up=3; skipped the 2 oldest" in caplog.text


def test_slot_within_grace_fires_on_time(make_orchestrator):
    # The last slot was 1.5 s ago, so the one missed slot is 0.5 s old: on time.
    last = utc_now() - 1.5 * SECOND
    store = seeded_store(last)
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("tick"), every(1), misfire="skip")
    orchestrator.start_scheduler()
    wait_for(lambda: scheduled_slots(store), "the run")
    orchestrator.stop()
    assert scheduled_slots(store)[0] == last + SECOND


def test_no_history_starts_from_now(make_orchestrator, memory_store):
    before = utc_now()
    orchestrator = make_orchestrator(memory_store)
    orchestrator.register(noop_pipeline("tick"), every(0.3), misfire="catch_up")
    orchestrator.start_scheduler()
    first = wait_for(lambda: memory_store.final("tick"), "the first run")[0]
    assert before < first.scheduled_for <= utc_now()


def test_future_history_ignored(make_orchestrator, caplog):
    store = seeded_store(utc_now() + timedelta(hours=1))
    orchestrator = make_orchestrator(store)
    orchestrator.register(noop_pipeline("tick"), every(0.2))
    orchestrator.start_scheduler()
    wait_for(lambda: scheduled_slots(store), "a run despite the future slot")
    assert "is in the future" in caplog.text


class BlockingSchedule:
    """every(0.3), except that one call of next() holds the scheduler thread for a while."""

    def __init__(self, block_seconds: float, blocking_call: int) -> None:
        self.inner = every(0.3)
        self.block_seconds = block_seconds
        self.blocking_call = blocking_call
        self.calls = 0
        self.blocked = threading.Event()

    def next(self, after: datetime) -> datetime | None:
        self.calls += 1
        if self.calls == self.blocking_call:
            self.blocked.set()
            time.sleep(self.block_seconds)
        return self.inner.next(after)


@pytest.mark.parametrize("misfire", ["coalesce", "skip", "catch_up"])
def test_late_wake_up_while_running(make_orchestrator, caplog, misfire):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    store = MemoryStore()
    calls = Calls()
    orchestrator = make_orchestrator(store)
    blocker = BlockingSchedule(block_seconds=1.6, blocking_call=2)
    orchestrator.register(noop_pipeline("blocker"), blocker)
    orchestrator.register(
        noop_pipeline("tick", calls), every(0.2), misfire=misfire, misfire_grace=0.15
    )
    orchestrator.start_scheduler()
    blocker.blocked.wait(10)
    time.sleep(1.6)
    wait_for(lambda: len(store.final("tick")) >= 4, "runs after the block")
    time.sleep(0.3)
    orchestrator.stop()

    slots = [item.scheduled_for for item in store.final("tick")]
    gaps = [later - earlier for earlier, later in pairwise(slots)]
    if misfire == "coalesce":
        assert "missed slots into one run" in caplog.text
        # One run stands for the slots missed during the block.
        assert max(gaps) >= timedelta(seconds=1)
    elif misfire == "skip":
        assert "late slots" in caplog.text
        assert max(gaps) >= timedelta(seconds=1)
    else:
        assert "catching up" in caplog.text
        assert set(gaps) == {timedelta(seconds=0.2)}
