"""SQLiteStore and PostgresStore shared by real processes: exactly-once claims and dead owners."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from dbstore_support import CHILD_TIMEOUT_SECONDS, T0, Database, make_record, start_child

from millpond.orchestrator import RunStatus

SLOTS = 200
CLAIMERS = 4

# Claims every slot as fast as it can and prints what it won and what it lost.
CLAIMER_CHILD = """
import json
slots = int(sys.argv[3])
store = open_store()
outcomes = {claim.value: [] for claim in Claim}
sys.stdin.readline()
for number in range(slots):
    record = RunRecord(
        f"{store.instance_id}/{number}", "orders", "job", "running",
        datetime.now(timezone.utc), None, None,
        datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=number),
    )
    outcomes[store.claim_run(record).value].append(number)
print(json.dumps({"instance": store.instance_id, "outcomes": outcomes}), flush=True)
store.close()
"""


def test_processes_claim_each_slot_exactly_once(database: Database):
    children = [start_child(CLAIMER_CHILD, database, str(SLOTS)) for _ in range(CLAIMERS)]
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [child.communicate(timeout=CHILD_TIMEOUT_SECONDS) for child in children]

    won: dict[int, str] = {}
    wins_per_child = []
    for child, (stdout, stderr) in zip(children, results, strict=True):
        assert stderr == ""
        assert child.returncode == 0
        report = json.loads(stdout)
        outcomes = report["outcomes"]
        assert outcomes["busy"] == []
        assert sorted(outcomes["claimed"] + outcomes["taken"]) == list(range(SLOTS))
        for number in outcomes["claimed"]:
            assert number not in won, f"slot {number} claimed twice"
            won[number] = report["instance"]
        wins_per_child.append(len(outcomes["claimed"]))

    assert sorted(won) == list(range(SLOTS))
    assert sum(wins_per_child) == SLOTS
    rows = database.query("SELECT id, owner FROM millpond_runs")
    assert len(rows) == SLOTS
    for run_id, owner in rows:
        instance, number = run_id.rsplit("/", 1)
        assert owner == instance
        assert won[int(number)] == instance


# Claims one slot with a short lease, reports its instance id, then keeps
# renewing the lease until it is killed.
HOLDER_CHILD = """
lease = timedelta(seconds=float(sys.argv[3]))
store = open_store(lease=lease)
record = RunRecord(
    "held", "orders", "job", "running", datetime.now(timezone.utc), None, None,
    datetime(2024, 1, 1, tzinfo=timezone.utc),
)
print(store.claim_run(record).value, store.instance_id, flush=True)
sys.stdin.readline()
"""

LEASE = timedelta(seconds=0.5)


@pytest.fixture
def start_holder(database: Database):
    """Return a function that starts a holder child and returns it with its instance id."""
    holders = []

    def start() -> tuple[subprocess.Popen[str], str]:
        holder = start_child(HOLDER_CHILD, database, str(LEASE.total_seconds()))
        holders.append(holder)
        claim, instance_id = holder.stdout.readline().split()
        assert claim == "claimed"
        return holder, instance_id

    yield start
    for holder in holders:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=CHILD_TIMEOUT_SECONDS)


def kill(holder: subprocess.Popen[str]) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=CHILD_TIMEOUT_SECONDS)
    assert holder.returncode == -signal.SIGKILL


def test_heartbeat_closes_killed_process_run(database: Database, start_holder):
    holder, instance_id = start_holder()
    survivor = database.open(lease=LEASE)
    survivor.upsert_run(make_record(1))
    # The holder's lease is renewed while it lives.
    time.sleep(3 * LEASE.total_seconds())
    assert survivor.get_run("held").status is RunStatus.RUNNING

    kill(holder)
    killed_at = time.monotonic()
    while survivor.get_run("held").status is RunStatus.RUNNING:
        assert time.monotonic() - killed_at < 4 * LEASE.total_seconds()
        time.sleep(0.02)

    record = survivor.get_run("held")
    assert record.status is RunStatus.FAILED
    assert record.error == f"abandoned: lease of instance {instance_id} expired"
    assert record.ended_at >= record.started_at


def test_close_abandoned_after_process_kill(database: Database, start_holder):
    holder, instance_id = start_holder()
    # This store never writes, so it has no heartbeat of its own.
    survivor = database.open()
    assert survivor.close_abandoned() == []

    kill(holder)
    killed_at = time.monotonic()
    closed = survivor.close_abandoned()
    while not closed:
        assert time.monotonic() - killed_at < 4 * LEASE.total_seconds()
        time.sleep(0.02)
        closed = survivor.close_abandoned()

    (record,) = closed
    assert record.id == "held"
    assert record.error == f"abandoned: lease of instance {instance_id} expired"
    assert survivor.get_run("held") == record
    assert survivor.close_abandoned() == []


@pytest.mark.parametrize("exclusive", [False, True])
def test_killed_process_slot_stays_taken(database: Database, start_holder, exclusive):
    holder, _ = start_holder()
    survivor = database.open()
    kill(holder)
    retry = make_record(2, status=RunStatus.RUNNING, slot=T0.replace(hour=0))

    time.sleep(LEASE.total_seconds() + 0.2)

    # The slot's attempt 1 belongs to the dead run; its next attempt is free.
    assert survivor.claim_run(retry, exclusive=exclusive).value == "taken"
    assert survivor.claim_run(retry, attempt=2, exclusive=exclusive).value == "claimed"
