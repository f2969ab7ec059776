"""Instance leases of SQLiteStore and PostgresStore: heartbeat, abandoned runs, restart, close."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from dbstore_support import Database, finished, make_record, running, wait_until

from millpond.orchestrator import RunStatus

SHORT_LEASE = timedelta(seconds=0.3)
FAR_FUTURE = datetime(9999, 12, 31, 23, 0, tzinfo=timezone.utc)
UNLEASED = "abandoned: written without an instance lease"


def abandoned(owner: str) -> str:
    return f"abandoned: lease of instance {owner} expired"


def heartbeat_threads() -> set[threading.Thread]:
    return {
        thread for thread in threading.enumerate() if thread.name == "millpond-store-heartbeat"
    }


def messages(caplog, level: int) -> list[str]:
    return [entry.getMessage() for entry in caplog.records if entry.levelno == level]


def test_close_abandoned_closes_only_dead_runs(database: Database, caplog):
    live = database.open(instance_id="live")
    live.claim_run(running(1))
    now = database.now()
    database.insert_instance("dead", expires_at=now - timedelta(seconds=1))
    database.insert_run(running(2), owner="dead")
    database.insert_run(running(3), owner="ghost")
    database.insert_run(running(4), owner=None)
    database.insert_run(finished(running(5), RunStatus.SUCCEEDED), owner="dead")
    future = make_record(6, status=RunStatus.RUNNING, started_at=FAR_FUTURE)
    database.insert_run(future, owner="ghost")

    before = database.now()
    with caplog.at_level(logging.WARNING, logger="millpond.orchestrator"):
        closed = live.close_abandoned()
    after = database.now()

    by_id = {record.id: record for record in closed}
    assert sorted(by_id) == ["run-2", "run-3", "run-4", "run-6"]
    assert by_id["run-2"].error == "abandoned: lease of instance dead expired"
    assert by_id["run-3"].error == "abandoned: lease of instance ghost expired"
    assert by_id["run-4"].error == "abandoned: written without an instance lease"
    assert by_id["run-6"].error == "abandoned: lease of instance ghost expired"
    for record in closed:
        assert record.status is RunStatus.FAILED
        assert live.get_run(record.id) == record
    for run_id in ["run-2", "run-3", "run-4"]:
        ended_at = by_id[run_id].ended_at
        assert ended_at is not None
        assert before - timedelta(seconds=1) <= ended_at <= after + timedelta(seconds=1)
    assert by_id["run-6"].ended_at == FAR_FUTURE
    assert by_id["run-2"].scheduled_for == running(2).scheduled_for

    assert live.get_run("run-1") == running(1)
    assert live.get_run("run-5") == finished(running(5), RunStatus.SUCCEEDED)
    assert sorted(messages(caplog, logging.WARNING)) == [
        f"closed run run-2 of pipeline 'orders' as failed: {abandoned('dead')}",
        f"closed run run-3 of pipeline 'orders' as failed: {abandoned('ghost')}",
        f"closed run run-4 of pipeline 'orders' as failed: {UNLEASED}",
        f"closed run run-6 of pipeline 'orders' as failed: {abandoned('ghost')}",
    ]
    assert live.close_abandoned() == []


def test_close_abandoned_keeps_live_runs(database: Database):
    first = database.open(instance_id="first")
    second = database.open(instance_id="second")
    first.claim_run(running(1))
    second.claim_run(running(2))

    assert first.close_abandoned() == []
    assert second.close_abandoned() == []
    assert [record.status for record in first.list_runs()] == [RunStatus.RUNNING] * 2


def test_close_abandoned_deletes_old_instances(database: Database):
    store = database.open(instance_id="reader")
    now = database.now()
    database.insert_instance("old", expires_at=now - timedelta(hours=1))
    database.insert_instance("recent", expires_at=now - timedelta(seconds=1))
    database.insert_instance("future", expires_at=now + timedelta(hours=1))

    assert store.close_abandoned() == []

    assert database.instance_ids() == {"recent", "future"}


def test_reads_register_no_lease(database: Database):
    before = heartbeat_threads()
    store = database.open()
    store.list_runs()
    store.get_run("run-1")
    store.last_slots()
    store.close_abandoned()

    assert database.instance_ids() == set()
    assert heartbeat_threads() == before


def test_restarted_instance_closes_its_old_runs(database: Database, caplog):
    first = database.open(instance_id="fixed")
    first.claim_run(running(1))
    first.upsert_run(make_record(2, status=RunStatus.RUNNING))
    other = database.open(instance_id="other")
    other.claim_run(running(3))
    first.close()

    restarted = database.open(instance_id="fixed")
    assert restarted.get_run("run-1").status is RunStatus.RUNNING
    with caplog.at_level(logging.WARNING, logger="millpond.orchestrator"):
        restarted.upsert_run(make_record(4))

    for run_id in ["run-1", "run-2"]:
        record = restarted.get_run(run_id)
        assert record.status is RunStatus.FAILED
        assert record.error == "abandoned: instance fixed restarted"
        assert record.ended_at >= record.started_at
    assert restarted.get_run("run-3").status is RunStatus.RUNNING
    assert restarted.get_run("run-4") == make_record(4)
    assert sorted(messages(caplog, logging.WARNING)) == [
        "closed run run-1 of pipeline 'orders' as failed: abandoned: instance fixed restarted",
        "closed run run-2 of pipeline 'orders' as failed: abandoned: instance fixed restarted",
    ]


def test_heartbeat_renews_the_lease(database: Database, caplog):
    before = heartbeat_threads()
    with caplog.at_level(logging.INFO, logger="millpond.orchestrator"):
        store = database.open(instance_id="beating", lease=SHORT_LEASE)
        store.claim_run(running(1))
    first = database.instance_expiry("beating")
    assert first is not None
    assert len(heartbeat_threads() - before) == 1

    wait_until(lambda: database.instance_expiry("beating") > first, timeout=5)
    for _ in range(10):
        time.sleep(SHORT_LEASE.total_seconds() / 3)
        # Read first, the expiry was set at or before `now`.
        expiry = database.instance_expiry("beating")
        now = database.now()
        assert expiry is not None
        assert expiry > now
        assert expiry <= now + SHORT_LEASE
    assert store.get_run("run-1").status is RunStatus.RUNNING
    assert "started the lease heartbeat of instance beating, every 0.1 s" in messages(
        caplog, logging.INFO
    )

    with caplog.at_level(logging.INFO, logger="millpond.orchestrator"):
        store.close()
    assert heartbeat_threads() == before
    assert "stopped the lease heartbeat of instance beating" in messages(caplog, logging.INFO)


def test_heartbeat_closes_abandoned_runs(database: Database):
    survivor = database.open(lease=SHORT_LEASE)
    survivor.upsert_run(make_record(1))
    database.insert_run(running(2), owner="crashed")

    waited = wait_until(
        lambda: survivor.get_run("run-2").status is RunStatus.FAILED,
        timeout=10 * SHORT_LEASE.total_seconds(),
    )

    assert waited < 10 * SHORT_LEASE.total_seconds()
    assert survivor.get_run("run-2").error == "abandoned: lease of instance crashed expired"


def test_heartbeat_failures_logged_and_retried(database: Database, caplog):
    store = database.open(instance_id="flaky", lease=SHORT_LEASE)
    with caplog.at_level(logging.INFO, logger="millpond.orchestrator"):
        store.upsert_run(make_record(1))
        database.execute("ALTER TABLE millpond_instances RENAME TO millpond_instances_away")
        wait_until(lambda: len(messages(caplog, logging.WARNING)) >= 3, timeout=10)
        database.execute("ALTER TABLE millpond_instances_away RENAME TO millpond_instances")
        wait_until(
            lambda: any(
                "renewed the lease of instance flaky" in message
                for message in messages(caplog, logging.INFO)
            ),
            timeout=10,
        )

    warnings = messages(caplog, logging.WARNING)
    assert warnings[0].startswith(
        "could not renew the lease of instance flaky (1 consecutive failures), retrying in 0.1 s:"
    )
    assert "millpond_instances" in warnings[0]
    assert warnings[1].startswith("could not renew the lease of instance flaky (2 consecutive")
    assert warnings[2].startswith("could not renew the lease of instance flaky (3 consecutive")
    # The lease had expired while the table was away.
    assert any("had expired before this renewal" in warning for warning in warnings)
    assert database.instance_expiry("flaky") > database.now()


def test_close_deletes_idle_lease(database: Database):
    store = database.open(instance_id="done")
    store.claim_run(running(1))
    store.upsert_run(finished(running(1), RunStatus.SUCCEEDED))
    assert database.instance_ids() == {"done"}

    store.close()

    assert database.instance_ids() == set()


def test_close_keeps_lease_of_running_runs(database: Database):
    store = database.open(instance_id="busy", lease=SHORT_LEASE)
    store.claim_run(running(1))

    store.close()

    expiry = database.instance_expiry("busy")
    assert expiry is not None
    time.sleep(SHORT_LEASE.total_seconds() + 0.1)
    assert database.instance_expiry("busy") == expiry
    assert database.now() > expiry
    assert database.open().close_abandoned()[0].id == "run-1"


def test_close_twice_then_use_raises(database: Database):
    store = database.open()
    store.upsert_run(make_record(1))
    store.close()
    store.close()

    calls = [
        lambda: store.upsert_run(make_record(2)),
        lambda: store.claim_run(running(3)),
        lambda: store.get_run("run-1"),
        store.list_runs,
        store.last_slots,
        store.close_abandoned,
    ]
    for call in calls:
        with pytest.raises(ValueError, match="is closed"):
            call()
    assert database.open().list_runs() == [make_record(1)]


def test_context_manager_closes(database: Database):
    with database.open() as store:
        store.upsert_run(make_record(1))
    with pytest.raises(ValueError, match="is closed"):
        store.get_run("run-1")


def test_threads_share_a_store(database: Database):
    store = database.open()
    errors: list[BaseException] = []

    def write(thread_number: int) -> None:
        try:
            for number in range(25):
                record = running(thread_number * 100 + number)
                store.claim_run(record)
                store.upsert_run(finished(record, RunStatus.SUCCEEDED))
                store.list_runs(limit=5)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    records = store.list_runs()
    assert len(records) == 100
    assert {record.status for record in records} == {RunStatus.SUCCEEDED}


def test_default_instance_id_format(database: Database):
    first = database.open()
    second = database.open()

    host, pid, suffix = first.instance_id.rsplit(":", 2)
    assert host == socket.gethostname()
    assert pid == str(os.getpid())
    assert len(suffix) == 6
    assert int(suffix, 16) >= 0
    assert first.instance_id != second.instance_id
