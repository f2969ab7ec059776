"""SQLiteStore and PostgresStore as a ReadableStore: round trips, queries and the upsert rules."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone

import pytest
from dbstore_support import T0, Database, finished, make_record, running

from millpond.orchestrator import (
    CoordinatedStore,
    FileStore,
    ReadableStore,
    RunRecord,
    RunStatus,
    Store,
)

YEAR_1 = datetime(1, 1, 1, tzinfo=timezone.utc)
YEAR_9999 = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)

ERROR_TEXTS = [
    "plain",
    "",
    "NUL \x00 in the middle\x00",
    "\x00",
    "\x01",
    "\x01\x02\x01\x01",
    "\x00\x01\x02\x03",
    "".join(chr(code) for code in range(32)) + "\x7f",
    "emoji \U0001f600 and U+FFFD \ufffd",
    "lone surrogate \ud800 becomes U+FFFD",
    "back\\slash 'quote' \"double\" %s %(name)s ? $1 ;--",
    "line\nbreaks\r\nand\ttabs",
    "x" * 100_000,
]

NAMES = ["a", "b\x00c", "\x01", "\x01\x02", "caf\u00e9", "\U0001f600", "Z", "z", "a\x00", "\x00"]


def test_stores_satisfy_the_protocols(database: Database):
    store = database.open()
    assert isinstance(store, Store)
    assert isinstance(store, ReadableStore)
    assert isinstance(store, CoordinatedStore)


@pytest.mark.parametrize("error", ERROR_TEXTS)
def test_error_text_round_trips(database: Database, error: str):
    record = make_record(1, status=RunStatus.FAILED, error=error)
    database.open().upsert_run(record)

    stored = database.open().get_run(record.id)

    assert stored == record
    assert stored is not None
    assert stored.error == record.error


@pytest.mark.parametrize("name", NAMES)
def test_names_round_trip(database: Database, name: str):
    record = RunRecord(
        id=name,
        pipeline_name=name,
        job_id=name,
        status=RunStatus.RUNNING,
        started_at=T0,
        ended_at=None,
        error=None,
        scheduled_for=T0,
    )
    store = database.open()
    store.upsert_run(record)

    assert database.open().get_run(name) == record
    assert store.list_runs(pipeline=name) == [record]
    assert store.last_slots() == {name: T0}


@pytest.mark.parametrize(
    ("started_at", "ended_at", "scheduled_for"),
    [
        (YEAR_1, YEAR_1 + timedelta(microseconds=1), YEAR_1),
        (YEAR_9999 - timedelta(microseconds=1), YEAR_9999, YEAR_9999),
        (
            datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
            datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc),
            None,
        ),
        (
            datetime(2024, 2, 29, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-9))),
            datetime(2024, 3, 1, 3, 0, 0, 654321, tzinfo=timezone(timedelta(hours=14))),
            datetime(2024, 2, 29, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        ),
    ],
)
def test_times_round_trip_exactly(database: Database, started_at, ended_at, scheduled_for):
    record = RunRecord(
        "run-1", "orders", "job-1", "succeeded", started_at, ended_at, None, scheduled_for
    )
    database.open().upsert_run(record)

    stored = database.open().get_run("run-1")

    assert stored == record
    assert stored is not None
    assert stored.started_at.tzinfo is timezone.utc
    assert stored.started_at.microsecond == record.started_at.microsecond
    assert stored.ended_at == record.ended_at
    assert stored.scheduled_for == record.scheduled_for


def test_postgres_far_times_in_far_east_zone(postgres_database: Database):
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415

    # The session zone asked for is +14:00, where the end of year 9999 UTC is in year 10000.
    target = postgres_database.target
    options = "-c TimeZone=Etc/GMT-14 " + conninfo_to_dict(target)["options"]
    far_east = Database("postgres", make_conninfo(target, options=options))
    record = RunRecord("run-1", "orders", "job-1", "succeeded", YEAR_1, YEAR_9999, None, YEAR_9999)
    store = far_east.open()
    try:
        store.upsert_run(record)
        assert store.get_run("run-1") == record
        assert store.list_runs() == [record]
        assert store.last_slots() == {"orders": YEAR_9999}
    finally:
        store.close()


def test_claimed_record_round_trips(database: Database):
    record = RunRecord(
        "run-\x00", "orders\U0001f600", "job-1", "running", YEAR_1, None, "e\x00", YEAR_9999
    )
    store = database.open()

    store.claim_run(record, attempt=7)

    assert database.open().get_run(record.id) == record
    assert store.list_runs(status="running") == [record]


def test_missing_run_is_none(database: Database):
    store = database.open()
    assert store.get_run("nope") is None
    assert store.list_runs() == []
    assert store.last_slots() == {}


def random_records(seed: int) -> list[RunRecord]:
    """Return records whose started_at often tie, so that the id decides their order."""
    rng = random.Random(seed)  # noqa: S311 (test data, not security)
    statuses = list(RunStatus)
    records = []
    for number in range(120):
        status = rng.choice(statuses)
        started = T0 + timedelta(microseconds=rng.choice([0, 1, 5, 10**6, 10**9]))
        name = rng.choice(NAMES)
        records.append(
            RunRecord(
                id=f"{name}-{number}" if number % 3 else name + "~" * number,
                pipeline_name=rng.choice(["orders", "Orders", "tz\x00atlas", "\U0001f600"]),
                job_id=f"job-{number}",
                status=status,
                started_at=started,
                ended_at=None if status is RunStatus.RUNNING else started + timedelta(seconds=1),
                error=rng.choice([None, "boom", "\x00\x01"]),
                scheduled_for=rng.choice([None, T0 + timedelta(hours=number)]),
            )
        )
    return records


def test_queries_match_file_store(database: Database, tmp_path):
    records = random_records(seed=20240101)
    store = database.open()
    with FileStore(tmp_path / "state.json") as file_store:
        for record in records:
            store.upsert_run(record)
            file_store.upsert_run(record)

        pipelines = [None, "orders", "Orders", "tz\x00atlas", "\U0001f600", "missing"]
        statuses = [None, *RunStatus, "running", "failed"]
        for pipeline in pipelines:
            for status in statuses:
                for limit in [None, 0, 1, 2, 7, 1000]:
                    expected = file_store.list_runs(pipeline=pipeline, status=status, limit=limit)
                    actual = store.list_runs(pipeline=pipeline, status=status, limit=limit)
                    assert actual == expected, (pipeline, status, limit)
        for record in records:
            assert store.get_run(record.id) == file_store.get_run(record.id)


def test_list_runs_orders_ties_by_code_point(database: Database):
    # Python orders these ids by code point: "\x00" < "\x01" < "\x01\x02" < "\x02" < "a" < ...
    ids = ["\U0001f600", "b", "a\x00", "a", "\x02", "\x01\x02", "\x01", "\x00", "\x01\x01", "é"]
    store = database.open()
    for run_id in ids:
        store.upsert_run(RunRecord(run_id, "orders", "job", "succeeded", T0, T0, None))

    listed = [record.id for record in store.list_runs()]

    assert listed == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda store: store.get_run(5), TypeError),
        (lambda store: store.get_run(None), TypeError),
        (lambda store: store.list_runs(pipeline=1), TypeError),
        (lambda store: store.list_runs(status="done"), ValueError),
        (lambda store: store.list_runs(status=3), TypeError),
        (lambda store: store.list_runs(limit=-1), ValueError),
        (lambda store: store.list_runs(limit=1.5), TypeError),
        (lambda store: store.list_runs(limit=True), TypeError),
        (lambda store: store.upsert_run({"id": "run-1"}), TypeError),
        (lambda store: store.upsert_run(None), TypeError),
    ],
)
def test_bad_arguments_raise_like_file_store(database: Database, tmp_path, call, error):
    with FileStore(tmp_path / "state.json") as file_store, pytest.raises(error) as expected:
        call(file_store)

    with pytest.raises(error) as actual:
        call(database.open())

    assert str(actual.value) == str(expected.value)


def test_running_record_becomes_final(database: Database):
    store = database.open()
    record = running(1)
    store.upsert_run(record)
    done = finished(record, RunStatus.SUCCEEDED)

    store.upsert_run(done)

    assert store.get_run(record.id) == done


def test_running_record_updated_while_running(database: Database):
    store = database.open()
    record = running(1)
    store.upsert_run(record)
    moved = RunRecord(
        record.id, "orders", "job-2", "running", T0, None, "progress", record.scheduled_for
    )

    store.upsert_run(moved)

    assert store.get_run(record.id) == moved


def test_final_record_is_not_moved_back(database: Database, caplog):
    store = database.open()
    record = running(1)
    done = finished(record, RunStatus.SUCCEEDED)
    store.upsert_run(done)

    with caplog.at_level(logging.WARNING, logger="millpond.orchestrator"):
        store.upsert_run(record)

    assert store.get_run(record.id) == done
    messages = [entry.getMessage() for entry in caplog.records]
    assert messages == [
        f"run {record.id} is already succeeded in the store; not replacing it with running"
    ]


def test_late_success_after_failure_is_ignored(database: Database, caplog):
    store = database.open()
    record = running(1)
    store.upsert_run(record)
    failed = finished(record, RunStatus.FAILED, "abandoned")
    store.upsert_run(failed)

    with caplog.at_level(logging.WARNING, logger="millpond.orchestrator"):
        database.open().upsert_run(finished(record, RunStatus.SUCCEEDED))

    assert store.get_run(record.id) == failed
    assert [entry.getMessage() for entry in caplog.records] == [
        f"run {record.id} is already failed in the store; not replacing it with succeeded"
    ]
    assert caplog.records[0].levelno == logging.WARNING


def test_identical_final_rewrite_logs_nothing(database: Database, caplog):
    store = database.open()
    done = finished(running(1), RunStatus.CANCELED, "stopped")
    store.upsert_run(done)

    with caplog.at_level(logging.WARNING, logger="millpond.orchestrator"):
        store.upsert_run(done)

    assert store.get_run(done.id) == done
    assert caplog.records == []


def test_final_record_with_new_error_is_ignored(database: Database, caplog):
    store = database.open()
    done = finished(running(1), RunStatus.FAILED, "first")
    store.upsert_run(done)

    with caplog.at_level(logging.WARNING, logger="millpond.orchestrator"):
        store.upsert_run(finished(running(1), RunStatus.FAILED, "second"))

    assert store.get_run(done.id) == done
    assert len(caplog.records) == 1


def test_running_records_owned_by_instance(database: Database):
    store = database.open(instance_id="host-a:1")
    record = running(1)
    store.upsert_run(record)
    manual = make_record(2, status=RunStatus.RUNNING)
    store.upsert_run(manual)

    assert database.owner_of(record.id) == "host-a:1"
    assert database.owner_of(manual.id) == "host-a:1"

    database.open(instance_id="host-b:2").upsert_run(finished(record, RunStatus.SUCCEEDED))

    assert database.owner_of(record.id) == "host-a:1"


def test_upsert_into_a_taken_slot_raises(database: Database):
    store = database.open()
    store.upsert_run(running(1))
    slot = running(1).scheduled_for
    other = RunRecord("run-other", "orders", "job", "running", T0, None, None, slot)

    with pytest.raises(ValueError, match="claim the slot with claim_run") as caught:
        store.upsert_run(other)

    assert "run-other" in str(caught.value)
    assert store.get_run("run-other") is None
    assert store.get_run("run-1") == running(1)


def test_last_slots_per_pipeline(database: Database):
    store = database.open()
    store.upsert_run(running(1, pipeline="orders"))
    store.upsert_run(running(5, pipeline="orders"))
    store.upsert_run(finished(running(3, pipeline="orders"), RunStatus.FAILED))
    store.upsert_run(running(2, pipeline="atlas"))
    store.upsert_run(make_record(9, pipeline="manual"))

    slots = store.last_slots()

    assert slots == {"orders": T0 + timedelta(hours=5), "atlas": T0 + timedelta(hours=2)}
    assert all(slot.tzinfo is timezone.utc for slot in slots.values())
