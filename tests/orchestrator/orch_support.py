"""Helpers for the orchestrator tests: pipelines, stores that fail on demand, waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from millpond.etl import Context, Pipeline
from millpond.orchestrator import RunRecord, RunStatus

# Generous, so that a slow machine fails a test on its assertion, not on a wait.
WAIT_SECONDS = 20.0


def wait_for(condition: Callable[[], object], description: str, timeout: float = WAIT_SECONDS):
    """Poll `condition` until it returns a true value, and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {description}")
        time.sleep(0.01)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Calls:
    """A thread-safe log of the runs of test pipelines: (pipeline, run id, start time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[str, str, datetime]] = []
        self.changed = threading.Condition(self._lock)

    def add(self, ctx: Context) -> None:
        with self._lock:
            self.items.append((ctx.pipeline_name or "", ctx.run_id, utc_now()))
            self.changed.notify_all()

    def count(self, name: str | None = None) -> int:
        with self._lock:
            return sum(1 for item in self.items if name is None or item[0] == name)

    def times(self, name: str) -> list[datetime]:
        with self._lock:
            return [item[2] for item in self.items if item[0] == name]

    def wait_count(self, count: int, name: str | None = None) -> None:
        wait_for(lambda: self.count(name) >= count, f"{count} runs of {name or 'any pipeline'}")


def noop_pipeline(name: str, calls: Calls | None = None) -> Pipeline:
    """Return a pipeline that reads one record, writes it nowhere and notes its run in `calls`."""

    def read(ctx: Context) -> list[dict[str, int]]:
        if calls is not None:
            calls.add(ctx)
        return [{"n": 1}]

    return Pipeline(name).read(read).write(lambda ctx, records: None)


def sleeping_pipeline(
    name: str, seconds: float, calls: Calls | None = None, running: threading.Event | None = None
) -> Pipeline:
    """Return a pipeline whose reader sleeps `seconds` unless cancelled (then it raises)."""

    def read(ctx: Context) -> list[dict[str, int]]:
        if calls is not None:
            calls.add(ctx)
        if running is not None:
            running.set()
        ctx.sleep(seconds)
        ctx.raise_if_cancelled()
        return [{"n": 1}]

    return Pipeline(name).read(read).write(lambda ctx, records: None)


def failing_pipeline(name: str, calls: Calls | None = None, fail_times: int = 10**9) -> Pipeline:
    """Return a pipeline whose writer raises for its first `fail_times` runs."""
    state = {"runs": 0}
    lock = threading.Lock()

    def read(ctx: Context) -> list[dict[str, int]]:
        if calls is not None:
            calls.add(ctx)
        return [{"n": 1}]

    def write(ctx: Context, records: list[dict[str, int]]) -> None:
        with lock:
            state["runs"] += 1
            number = state["runs"]
        if number <= fail_times:
            raise RuntimeError(f"planned failure {number}")

    return Pipeline(name).read(read).write(write)


class MemoryStore:
    """A readable store in memory; `failing` makes every call raise OSError. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: dict[str, RunRecord] = {}
        self.history: list[RunRecord] = []
        self.failing = False
        self.failures = 0
        self.on_upsert: Callable[[RunRecord], None] | None = None

    def _check(self) -> None:
        if self.failing:
            with self._lock:
                self.failures += 1
            raise OSError("store unavailable (test)")

    def upsert_run(self, record: RunRecord) -> None:
        self._check()
        if self.on_upsert is not None:
            self.on_upsert(record)
        with self._lock:
            self.records[record.id] = record
            self.history.append(record)

    def get_run(self, run_id: str) -> RunRecord | None:
        self._check()
        with self._lock:
            return self.records.get(run_id)

    def list_runs(
        self,
        pipeline: str | None = None,
        status: RunStatus | str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        self._check()
        with self._lock:
            rows = [
                record
                for record in self.records.values()
                if (pipeline is None or record.pipeline_name == pipeline)
                and (status is None or record.status == RunStatus(status))
            ]
        rows.sort(key=lambda record: (record.started_at, record.id), reverse=True)
        return rows if limit is None else rows[:limit]

    def final(self, name: str | None = None) -> list[RunRecord]:
        """Return the finished records, of one pipeline or of all, oldest first."""
        return sorted(
            (
                record
                for record in self.list_runs(pipeline=name)
                if record.status is not RunStatus.RUNNING
            ),
            key=lambda record: record.started_at,
        )


class OnceAt:
    """A schedule with a single slot at a fixed instant."""

    def __init__(self, when: datetime) -> None:
        self.when = when

    def next(self, after: datetime) -> datetime | None:
        return self.when if after < self.when else None

    def __repr__(self) -> str:
        return f"OnceAt({self.when.isoformat()})"


def soon(seconds: float = 0.1) -> OnceAt:
    return OnceAt(utc_now() + timedelta(seconds=seconds))


def record(  # noqa: PLR0913 - keyword options of a test helper
    run_id: str,
    pipeline: str,
    status: RunStatus,
    *,
    started_at: datetime | None = None,
    scheduled_for: datetime | None = None,
    error: str | None = None,
) -> RunRecord:
    started = started_at or utc_now()
    ended = None if status is RunStatus.RUNNING else started
    return RunRecord(
        run_id, pipeline, "job-" + run_id, status, started, ended, error, scheduled_for
    )
