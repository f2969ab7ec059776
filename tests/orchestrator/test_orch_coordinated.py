"""Orchestrators sharing a coordinated store: claimed slots, busy pipelines, aligned intervals.

These tests use an in-memory coordinated store, so they check the
orchestrator's side of the protocol. The SQLite and PostgreSQL stores are
tested against real databases and real processes elsewhere.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from itertools import pairwise

import pytest
from orch_support import noop_pipeline, sleeping_pipeline, wait_for

from millpond.etl import Pipeline
from millpond.orchestrator import (
    Claim,
    CoordinatedStore,
    Orchestrator,
    ReadableStore,
    RunRecord,
    RunStatus,
)
from millpond.scheduler import every

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Book:
    """What several instances share: the records, who owns each, and which owners are alive."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[str, RunRecord] = {}
        self.owners: dict[str, str] = {}
        self.attempts: dict[str, int] = {}
        self.alive: set[str] = set()
        self.claims: list[tuple[str, Claim]] = []


class SharedView:
    """One instance's view of a `Book`, implementing `CoordinatedStore`."""

    def __init__(self, book: Book, instance_id: str) -> None:
        self.book = book
        self._id = instance_id
        book.alive.add(instance_id)
        self.abandoned_checks = 0

    @property
    def instance_id(self) -> str:
        return self._id

    def upsert_run(self, record: RunRecord) -> None:
        with self.book.lock:
            stored = self.book.records.get(record.id)
            if stored is not None and stored.status is not RunStatus.RUNNING:
                return
            self.book.records[record.id] = record
            self.book.owners.setdefault(record.id, self._id)

    def claim_run(self, record: RunRecord, *, attempt: int = 1, exclusive: bool = False) -> Claim:
        book = self.book
        with book.lock:
            if exclusive and any(
                stored.pipeline_name == record.pipeline_name
                and stored.status is RunStatus.RUNNING
                and book.owners[stored.id] in book.alive
                for stored in book.records.values()
            ):
                claim = Claim.BUSY
            elif any(
                stored.pipeline_name == record.pipeline_name
                and stored.scheduled_for == record.scheduled_for
                and book.attempts[stored.id] == attempt
                for stored in book.records.values()
            ):
                claim = Claim.TAKEN
            else:
                book.records[record.id] = record
                book.owners[record.id] = self._id
                book.attempts[record.id] = attempt
                claim = Claim.CLAIMED
            book.claims.append((self._id, claim))
            return claim

    def close_abandoned(self) -> list[RunRecord]:
        book = self.book
        closed = []
        with book.lock:
            self.abandoned_checks += 1
            for record in list(book.records.values()):
                if record.status is RunStatus.RUNNING and book.owners[record.id] not in book.alive:
                    final = RunRecord(
                        id=record.id,
                        pipeline_name=record.pipeline_name,
                        job_id=record.job_id,
                        status=RunStatus.FAILED,
                        started_at=record.started_at,
                        ended_at=record.started_at,
                        error=f"abandoned: lease of instance {book.owners[record.id]} expired",
                        scheduled_for=record.scheduled_for,
                    )
                    book.records[record.id] = final
                    closed.append(final)
        return closed

    def last_slots(self) -> dict[str, datetime]:
        latest: dict[str, datetime] = {}
        with self.book.lock:
            for record in self.book.records.values():
                slot = record.scheduled_for
                known = latest.get(record.pipeline_name)
                if slot is not None and (known is None or slot > known):
                    latest[record.pipeline_name] = slot
        return latest

    def get_run(self, run_id: str) -> RunRecord | None:
        with self.book.lock:
            return self.book.records.get(run_id)

    def list_runs(
        self,
        pipeline: str | None = None,
        status: RunStatus | str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        with self.book.lock:
            rows = [
                record
                for record in self.book.records.values()
                if (pipeline is None or record.pipeline_name == pipeline)
                and (status is None or record.status == RunStatus(status))
            ]
        rows.sort(key=lambda record: (record.started_at, record.id), reverse=True)
        return rows if limit is None else rows[:limit]

    def close(self) -> None:
        self.book.alive.discard(self._id)

    def final(self, name: str) -> list[RunRecord]:
        return [
            record
            for record in self.list_runs(pipeline=name)
            if record.status is not RunStatus.RUNNING
        ]


@pytest.fixture
def book() -> Book:
    return Book()


def test_fake_store_is_coordinated(book):
    view = SharedView(book, "a")
    assert isinstance(view, CoordinatedStore)
    assert isinstance(view, ReadableStore)


def test_three_instances_run_each_interval_slot_once(make_orchestrator, book):
    views = [SharedView(book, name) for name in ("a", "b", "c")]
    orchestrators: list[Orchestrator] = [make_orchestrator(view) for view in views]
    for orchestrator in orchestrators:
        orchestrator.register(noop_pipeline("tick"), every(0.1))
    for orchestrator in orchestrators:
        orchestrator.start_scheduler()
    wait_for(lambda: len(views[0].final("tick")) >= 8, "eight finished runs")
    for orchestrator in orchestrators:
        orchestrator.stop()

    records = views[0].list_runs(pipeline="tick")
    slots = Counter(record.scheduled_for for record in records)
    assert max(slots.values()) == 1, slots.most_common(3)
    # Every slot is a whole number of periods after the Unix epoch, whichever
    # instance computed it, so the instances agree on the slots to claim.
    for slot in slots:
        assert (slot - EPOCH) % timedelta(seconds=0.1) == timedelta(0)
    claims = Counter(claim for _, claim in book.claims)
    assert claims[Claim.CLAIMED] == len(records)
    assert claims[Claim.TAKEN] > 0


def test_taken_slot_not_run(make_orchestrator, book, caplog):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    first, second = SharedView(book, "a"), SharedView(book, "b")
    ran = Counter[str]()

    def counting(name: str):
        def read(ctx):
            ran[name] += 1
            return []

        return read

    left = make_orchestrator(first)
    right = make_orchestrator(second)
    for orchestrator, name in ((left, "left"), (right, "right")):
        pipeline = Pipeline("job").read(counting(name)).write(lambda ctx, rows: None)
        orchestrator.register(pipeline, every(0.1))
    left.start_scheduler()
    right.start_scheduler()
    wait_for(lambda: len(first.final("job")) >= 6, "six finished runs")
    left.stop()
    right.stop()

    assert sum(ran.values()) == len(first.list_runs(pipeline="job"))
    assert "was claimed by another instance" in caplog.text


def test_overlap_skip_holds_across_instances(make_orchestrator, book, caplog):
    caplog.set_level(logging.INFO, "millpond.orchestrator")
    views = [SharedView(book, "a"), SharedView(book, "b")]
    orchestrators = [make_orchestrator(view) for view in views]
    for orchestrator in orchestrators:
        orchestrator.register(sleeping_pipeline("slow", 0.35), every(0.1), overlap="skip")
        orchestrator.start_scheduler()
    wait_for(lambda: len(views[0].final("slow")) >= 3, "three finished runs")
    for orchestrator in orchestrators:
        orchestrator.stop()

    finished = sorted(views[0].final("slow"), key=lambda record: record.started_at)
    for earlier, later in pairwise(finished):
        assert earlier.ended_at is not None
        assert later.started_at >= earlier.ended_at, "two runs of 'slow' overlapped"
    assert "in progress on another instance (overlap 'skip')" in caplog.text


def test_retries_claim_the_next_attempt(make_orchestrator, book):
    view = SharedView(book, "a")
    orchestrator = make_orchestrator(view)
    attempts = Counter[int]()

    def read(ctx):
        raise RuntimeError("broken on purpose")

    slot_holder: list[datetime] = []

    class OneSlot:
        def next(self, after: datetime) -> datetime | None:
            if not slot_holder:
                slot_holder.append(after + timedelta(seconds=0.05))
                return slot_holder[0]
            return None if after >= slot_holder[0] else slot_holder[0]

    orchestrator.register(
        Pipeline("flaky").read(read).write(lambda ctx, rows: None), OneSlot(), retries=2
    )
    orchestrator.start_scheduler()
    wait_for(lambda: len(view.final("flaky")) >= 3, "three failed attempts")
    orchestrator.stop()
    for record_id, attempt in book.attempts.items():
        attempts[attempt] += 1
        assert book.records[record_id].status is RunStatus.FAILED
    assert attempts == Counter({1: 1, 2: 1, 3: 1})


def test_start_closes_dead_runs_and_catches_up(make_orchestrator, book):
    dead = SharedView(book, "dead")
    started = datetime.now(timezone.utc) - timedelta(minutes=5)
    slot = started.replace(microsecond=0)
    dead.claim_run(
        RunRecord(
            id="r1",
            pipeline_name="tick",
            job_id="j1",
            status=RunStatus.RUNNING,
            started_at=started,
            ended_at=None,
            error=None,
            scheduled_for=slot,
        )
    )
    dead.close()

    survivor = SharedView(book, "alive")
    orchestrator = make_orchestrator(survivor)
    orchestrator.register(noop_pipeline("tick"), every(60), misfire="catch_up", max_catch_up=10)
    orchestrator.start_scheduler()
    # Five slots were missed since the dead instance's slot; catch_up fires them.
    wait_for(lambda: len(survivor.final("tick")) >= 6, "the dead run closed and five catch-ups")
    orchestrator.stop()

    closed = survivor.get_run("r1")
    assert closed is not None
    assert closed.status is RunStatus.FAILED
    assert closed.error == "abandoned: lease of instance dead expired"
    assert survivor.abandoned_checks >= 1
    slots = sorted(
        record.scheduled_for
        for record in survivor.list_runs(pipeline="tick")
        if record.id != "r1" and record.scheduled_for is not None
    )
    assert slots[:5] == [slot + timedelta(minutes=n) for n in range(1, 6)]


def test_manual_runs_are_not_claimed(make_orchestrator, book):
    view = SharedView(book, "a")
    orchestrator = make_orchestrator(view)
    orchestrator.register(noop_pipeline("manual"))
    orchestrator.run_pipeline("manual").wait(10)
    orchestrator.stop()
    assert book.claims == []
    (record,) = view.list_runs(pipeline="manual")
    assert record.status is RunStatus.SUCCEEDED
    assert record.scheduled_for is None
