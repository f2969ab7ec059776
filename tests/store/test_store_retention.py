"""Retention: keep_last per pipeline and max_age, applied at compaction, never to running runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from store_support import make_record


def ids(store, **filters):
    return sorted(record.id for record in store.list_runs(**filters))


def test_keep_last_per_pipeline_spares_running(open_store):
    store = open_store(keep_last=2)
    for number in range(6):
        store.upsert_run(make_record(number, pipeline="a"))
    store.upsert_run(make_record(10, pipeline="a", status="running"))
    store.upsert_run(make_record(11, pipeline="a", status="running"))
    store.upsert_run(make_record(20, pipeline="b", status="failed"))
    store.upsert_run(make_record(21, pipeline="b", status="canceled"))
    store.upsert_run(make_record(22, pipeline="b"))

    # Retention waits for a compaction.
    assert len(store.list_runs()) == 11
    store.compact()
    assert ids(store, pipeline="a") == ["run-10", "run-11", "run-4", "run-5"]
    assert ids(store, pipeline="b") == ["run-21", "run-22"]
    assert ids(open_store()) == ["run-10", "run-11", "run-21", "run-22", "run-4", "run-5"]


def test_keep_last_breaks_ties_by_id(open_store):
    store = open_store(keep_last=2)
    started = datetime(2024, 5, 1, tzinfo=timezone.utc)
    for number in (1, 3, 2):
        store.upsert_run(make_record(number, started_at=started))
    store.compact()
    assert ids(store) == ["run-2", "run-3"]


def test_max_age_drops_old_finished_runs(open_store):
    store = open_store(max_age=timedelta(days=1))
    now = datetime.now(timezone.utc)
    old = now - timedelta(days=3)
    store.upsert_run(make_record(1, started_at=old, ended_at=old))
    store.upsert_run(make_record(2, started_at=old, ended_at=now - timedelta(hours=2)))
    store.upsert_run(make_record(3, started_at=old, status="running"))
    store.upsert_run(make_record(4, started_at=now - timedelta(minutes=5)))
    store.upsert_run(make_record(5, started_at=old, ended_at=old, status="failed"))
    store.compact()
    assert ids(store) == ["run-2", "run-3", "run-4"]


def test_max_age_uses_start_when_end_is_missing(core_class, store_path):
    core = core_class(str(store_path), max_age_us=3_600_000_000)
    old = "2001-01-01T00:00:00.000000Z"
    fields = {
        "id": "old",
        "pipeline_name": "p",
        "job_id": "j",
        "status": "failed",
        "started_at": old,
        "ended_at": None,
        "error": None,
        "scheduled_for": None,
    }
    core.upsert(fields)
    core.upsert({**fields, "id": "young", "started_at": "2999-01-01T00:00:00.000000Z"})
    core.compact()
    assert [record["id"] for record in core.records()] == ["young"]
    core.close()


def test_keep_last_and_max_age_together(open_store):
    store = open_store(keep_last=3, max_age=timedelta(hours=1))
    now = datetime.now(timezone.utc)
    for number in range(5):
        started = now - timedelta(minutes=30 * (5 - number))
        ended = started + timedelta(minutes=10)
        store.upsert_run(make_record(number, started_at=started, ended_at=ended))
    store.compact()
    # Runs 2 to 4 are the newest three, and run 2 ended 80 minutes ago.
    assert ids(store) == ["run-3", "run-4"]


def test_retention_applies_on_close(open_store, store_path):
    store = open_store(keep_last=1)
    for number in range(3):
        store.upsert_run(make_record(number))
    store.close()
    assert ids(open_store()) == ["run-2"]


def test_retention_applies_at_automatic_compaction(open_store, store_path):
    store = open_store(keep_last=5, compact_bytes=3_000)
    for number in range(40):
        store.upsert_run(make_record(number))
    runs = store.list_runs()
    # The runs appended after the last compaction are in the journal, not trimmed yet.
    assert 5 <= len(runs) < 40
    assert [run.id for run in runs[:5]] == [f"run-{number}" for number in range(39, 34, -1)]


def test_no_retention_keeps_everything(open_store):
    store = open_store()
    for number in range(20):
        store.upsert_run(make_record(number, started_at=datetime(2001, 1, 1, tzinfo=timezone.utc)))
    store.compact()
    assert len(store.list_runs()) == 20
