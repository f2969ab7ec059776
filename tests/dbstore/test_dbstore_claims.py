"""claim_run on SQLiteStore and PostgresStore: CLAIMED, TAKEN, BUSY, attempts and bad input."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from dbstore_support import T0, Database, finished, make_record, running

from millpond.orchestrator import Claim, RunRecord, RunStatus

SHORT_LEASE = timedelta(seconds=1)


def copy_for(record: RunRecord, run_id: str) -> RunRecord:
    """Return `record` under another id, as another instance would claim the same slot."""
    return RunRecord(
        run_id,
        record.pipeline_name,
        record.job_id,
        record.status,
        record.started_at,
        record.ended_at,
        record.error,
        record.scheduled_for,
    )


def test_first_claim_wins_and_second_is_taken(database: Database):
    first = database.open(instance_id="a")
    second = database.open(instance_id="b")
    record = running(1)

    assert first.claim_run(record) is Claim.CLAIMED
    assert second.claim_run(copy_for(record, "run-b")) is Claim.TAKEN
    assert first.claim_run(copy_for(record, "run-c")) is Claim.TAKEN

    assert first.list_runs() == [record]
    assert database.owner_of(record.id) == "a"


def test_same_record_claimed_twice_is_taken(database: Database):
    store = database.open()
    assert store.claim_run(running(1)) is Claim.CLAIMED
    assert store.claim_run(running(1)) is Claim.TAKEN


def test_each_attempt_is_its_own_slot(database: Database):
    first = database.open(instance_id="a")
    second = database.open(instance_id="b")
    record = running(1)
    first.claim_run(record)
    first.upsert_run(finished(record, RunStatus.FAILED, "boom"))

    assert second.claim_run(copy_for(record, "run-2nd"), attempt=2) is Claim.CLAIMED
    assert first.claim_run(copy_for(record, "run-2nd-a"), attempt=2) is Claim.TAKEN
    assert first.claim_run(copy_for(record, "run-3rd"), attempt=3) is Claim.CLAIMED
    attempts = database.query("SELECT id, attempt FROM millpond_runs ORDER BY attempt")
    assert attempts == [("run-1", 1), ("run-2nd", 2), ("run-3rd", 3)]


def test_final_upsert_keeps_the_attempt(database: Database):
    store = database.open()
    record = running(1)
    store.claim_run(record, attempt=4)

    store.upsert_run(finished(record, RunStatus.SUCCEEDED))

    assert database.query("SELECT attempt FROM millpond_runs") == [(4,)]


def test_exclusive_claim_busy_during_live_run(database: Database):
    first = database.open(instance_id="a")
    second = database.open(instance_id="b")
    record = running(1)
    first.claim_run(record)

    assert second.claim_run(running(2), exclusive=True) is Claim.BUSY
    assert first.claim_run(running(3), exclusive=True) is Claim.BUSY
    assert second.claim_run(running(5, pipeline="other"), exclusive=True) is Claim.CLAIMED
    assert second.claim_run(running(4)) is Claim.CLAIMED
    assert first.get_run("run-2") is None
    assert first.get_run("run-3") is None
    assert [record.id for record in first.list_runs()] == ["run-5", "run-4", "run-1"]


def test_busy_wins_over_taken(database: Database):
    store = database.open()
    store.claim_run(running(1))

    assert store.claim_run(copy_for(running(1), "run-x"), exclusive=True) is Claim.BUSY


def test_exclusive_claim_after_the_run_ended(database: Database):
    store = database.open()
    record = running(1)
    store.claim_run(record)
    store.upsert_run(finished(record, RunStatus.SUCCEEDED))

    assert store.claim_run(running(2), exclusive=True) is Claim.CLAIMED


def test_manual_run_makes_exclusive_busy(database: Database):
    store = database.open()
    store.upsert_run(make_record(1, status=RunStatus.RUNNING))

    assert database.open().claim_run(running(2), exclusive=True) is Claim.BUSY


def test_busy_ignores_runs_of_expired_leases(database: Database):
    dead = database.open(instance_id="dead", lease=SHORT_LEASE)
    dead.claim_run(running(1))
    # Closing keeps the lease row of an instance with a running record, and it expires.
    dead.close()
    survivor = database.open(instance_id="survivor")

    assert survivor.claim_run(running(2), exclusive=True) is Claim.BUSY
    time.sleep(SHORT_LEASE.total_seconds() + 0.1)

    assert survivor.claim_run(running(2), exclusive=True) is Claim.CLAIMED
    assert survivor.get_run("run-1").status is RunStatus.RUNNING


def test_busy_ignores_unowned_runs(database: Database):
    store = database.open()
    store.upsert_run(make_record(0, status=RunStatus.SUCCEEDED))
    database.insert_run(running(1), owner=None)
    database.insert_run(running(2), owner="never-registered")

    assert store.claim_run(running(3), exclusive=True) is Claim.CLAIMED


@pytest.mark.parametrize(
    ("record", "options", "error", "message"),
    [
        (None, {}, TypeError, "claim_run() expects a RunRecord, not NoneType"),
        (
            make_record(1, slot=T0),
            {},
            ValueError,
            "claim_run() expects a running record, got run run-1 with status 'succeeded'",
        ),
        (
            make_record(1, status=RunStatus.RUNNING),
            {},
            ValueError,
            "claim_run() expects a scheduled run, got run run-1 with scheduled_for=None",
        ),
        (running(1), {"attempt": 0}, ValueError, "attempt must be at least 1, got 0"),
        (running(1), {"attempt": -3}, ValueError, "attempt must be at least 1, got -3"),
        (running(1), {"attempt": True}, TypeError, "attempt must be an int, not bool"),
        (running(1), {"attempt": 1.0}, TypeError, "attempt must be an int, not float"),
        (running(1), {"attempt": 2**31}, ValueError, "attempt must be at most 2147483647"),
        (running(1), {"exclusive": 1}, TypeError, "exclusive must be a bool, not int"),
    ],
)
def test_bad_claims_raise(database: Database, record, options, error, message):
    store = database.open()

    with pytest.raises(error) as caught:
        store.claim_run(record, **options)

    assert str(caught.value).startswith(message)
    assert store.list_runs() == []


def test_largest_attempt_is_accepted(database: Database):
    store = database.open()
    assert store.claim_run(running(1), attempt=2**31 - 1) is Claim.CLAIMED


def test_claim_with_a_stored_id_raises(database: Database):
    store = database.open()
    store.claim_run(running(1))
    reused = RunRecord("run-1", "orders", "job", "running", T0, None, None, T0 + timedelta(days=9))

    with pytest.raises(ValueError, match="another run with id 'run-1' is stored"):
        store.claim_run(reused)

    assert store.list_runs() == [running(1)]


def test_attempt_is_keyword_only(database: Database):
    with pytest.raises(TypeError):
        database.open().claim_run(running(1), 2)  # type: ignore[misc]
