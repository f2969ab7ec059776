"""Several `millpond serve` processes sharing one database store.

Each process registers the same pipelines. Every job execution appends a
line to a log file, so the tests count executions, not just records: a slot
fired twice shows up there even though the store keeps one record per claim.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest
from orch_support import wait_for

from millpond.orchestrator import PostgresStore, RunStatus, SQLiteStore

JOBS = textwrap.dedent(
    """
    import json
    import os
    from datetime import timedelta

    from millpond.etl import Pipeline
    from millpond.orchestrator import Orchestrator, PostgresStore, SQLiteStore
    from millpond.scheduler import every

    url = os.environ["JOBS_STORE"]
    lease = timedelta(seconds=float(os.environ["JOBS_LEASE"]))
    if url.startswith("sqlite:"):
        store = SQLiteStore(url[len("sqlite:"):], lease=lease)
    else:
        store = PostgresStore(url, lease=lease)
    log_path = os.environ["JOBS_LOG"]


    def note(ctx, event):
        line = json.dumps({"pid": os.getpid(), "pipeline": ctx.pipeline_name,
                           "run": ctx.run_id, "event": event}) + "\\n"
        # One write of a short line to a file opened for appending is atomic.
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


    def tick(ctx):
        note(ctx, "tick")
        return []


    def slow(ctx):
        note(ctx, "start")
        ctx.sleep(float(os.environ["JOBS_SLOW"]))
        ctx.raise_if_cancelled()
        note(ctx, "end")
        return []


    orchestrator = Orchestrator(store)
    orchestrator.register(Pipeline("tick").read(tick).write(lambda ctx, rows: None), every(0.2))
    orchestrator.register(
        Pipeline("slow").read(slow).write(lambda ctx, rows: None), every(0.3), overlap="skip"
    )
    """
)


def open_store(url: str) -> SQLiteStore | PostgresStore:
    if url.startswith("sqlite:"):
        return SQLiteStore(url[len("sqlite:") :])
    return PostgresStore(url)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'runs.db'}"
    return request.getfixturevalue("postgres_schema_dsn")


class Instances:
    """`millpond serve` processes on one jobs file, and the log their jobs write."""

    def __init__(self, folder: Path, url: str, *, lease: float, slow: float) -> None:
        self.folder = folder
        self.jobs = folder / "jobs.py"
        self.jobs.write_text(JOBS, encoding="utf-8")
        self.log = folder / "executions.jsonl"
        self.env = {
            **os.environ,
            "JOBS_STORE": url,
            "JOBS_LEASE": str(lease),
            "JOBS_LOG": str(self.log),
            "JOBS_SLOW": str(slow),
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        command = [sys.executable, "-m", "millpond", "serve", self.jobs.name, "--grace", "10"]
        for _ in range(count):
            log_path = self.folder / f"serve-{len(self.processes)}.log"
            with log_path.open("wb") as stderr:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        cwd=self.folder,
                        env=self.env,
                        stdout=subprocess.DEVNULL,
                        stderr=stderr,
                    )
                )

    def events(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stop_all(self) -> list[int]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=60) for process in self.processes]

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.folder.glob("serve-*.log"))
        )

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def instances(tmp_path):
    created: list[Instances] = []

    def make(url: str, *, lease: float = 30.0, slow: float = 0.45) -> Instances:
        group = Instances(tmp_path, url, lease=lease, slow=slow)
        created.append(group)
        return group

    yield make
    for group in created:
        group.kill_all()


def test_three_instances_fire_each_slot_once(instances, store_url):
    group = instances(store_url)
    group.start(3)
    wait_for(
        lambda: sum(1 for event in group.events() if event["event"] == "tick") >= 20,
        "twenty ticks",
        timeout=60,
    )
    time.sleep(1.0)
    codes = group.stop_all()
    assert codes == [0, 0, 0], group.logs()

    store = open_store(store_url)
    try:
        ticks = store.list_runs(pipeline="tick")
        slows = store.list_runs(pipeline="slow")
        running = store.list_runs(status=RunStatus.RUNNING)
    finally:
        store.close()

    events = group.events()
    executed = Counter(event["run"] for event in events if event["event"] == "tick")
    assert sum(executed.values()) == len(ticks), "a tick ran without its own record"
    assert set(executed) == {record.id for record in ticks}
    slots = sorted(record.scheduled_for for record in ticks)
    assert len(set(slots)) == len(slots), "one tick slot has two records"
    # No slot between the first and the last was lost: all three fired on time.
    for earlier, later in pairwise(slots):
        assert later - earlier == timedelta(seconds=0.2), (earlier, later)
    assert running == []

    # The work was shared: more than one process ran ticks.
    pids = {event["pid"] for event in events if event["event"] == "tick"}
    assert len(pids) >= 2, pids

    # overlap="skip" held across processes: the slow runs never overlapped.
    finished = sorted(
        (record for record in slows if record.status is RunStatus.SUCCEEDED),
        key=lambda record: record.started_at,
    )
    assert len(finished) >= 3
    for earlier, later in pairwise(finished):
        assert earlier.ended_at is not None
        assert later.started_at >= earlier.ended_at, "two slow runs overlapped"
    assert "in progress on another instance" in group.logs()


def test_survivor_closes_runs_of_killed_instance(instances, store_url):
    group = instances(store_url, lease=1.0, slow=60.0)
    group.start(2)

    def first_slow_start() -> dict[str, object] | None:
        starts = [event for event in group.events() if event["event"] == "start"]
        return starts[0] if starts else None

    start = wait_for(first_slow_start, "a slow run to start", timeout=60)
    victim = next(process for process in group.processes if process.pid == start["pid"])
    killed_at = datetime.now(timezone.utc)
    victim.kill()
    victim.wait()

    store = open_store(store_url)
    try:

        def closed():
            record = store.get_run(str(start["run"]))
            if record is None or record.status is RunStatus.RUNNING:
                return None
            return record

        record = wait_for(closed, "the survivor to close the killed run", timeout=30)
    finally:
        store.close()
    assert record.status is RunStatus.FAILED
    assert record.error is not None
    assert record.error.startswith("abandoned: lease of instance"), record.error
    assert record.ended_at is not None
    assert record.ended_at >= killed_at
    # Closed within a few lease periods, not at some later start.
    assert record.ended_at - killed_at < timedelta(seconds=15)

    survivor = next(process for process in group.processes if process is not victim)
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=60) == 0, group.logs()
