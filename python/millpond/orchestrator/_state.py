"""The orchestrator's internal state: registrations, runs, timer tasks and small helpers."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from millpond.etl import Context, JobInfo, NoopJobHook, Pipeline
from millpond.orchestrator._policies import Policy
from millpond.orchestrator._records import RunRecord, RunStatus
from millpond.orchestrator._store import Claim
from millpond.runner import Handle
from millpond.scheduler import Schedule, parse_schedule

__all__ = [
    "ArmTask",
    "LaunchTask",
    "NotClaimedError",
    "RecordFailedError",
    "RecoverTask",
    "Registration",
    "Run",
    "RunThreadHook",
    "SlotTask",
    "StartFailedError",
    "Task",
    "aligned_start",
    "backoff",
    "check_schedule",
    "check_timeout",
    "final_record",
]


@dataclass(eq=False)
class Registration:
    """A registered pipeline: its schedule, its policy and the slots in progress."""

    pipeline: Pipeline
    schedule: Schedule | None
    policy: Policy
    # Slots in progress: running runs, manual ones included, and slots waiting
    # for a retry or for their turn in the queue.
    active: int = 0
    queued: deque[datetime] = field(default_factory=deque)
    armed: bool = False
    store_failures: int = 0
    schedule_failures: int = 0

    @property
    def name(self) -> str:
        return self.pipeline.name


@dataclass(eq=False)
class Run:
    """One run that the orchestrator started, from its `running` record to its final one."""

    registration: Registration
    record: RunRecord
    attempt: int
    context: Context
    started_monotonic: float
    handle: Handle | None = None
    thread_id: int | None = None
    # Set by stop(): cancelled because the orchestrator stopped, so no retry;
    # detached when stop() recorded it as canceled without waiting further.
    stopping: bool = False
    detached: bool = False

    @property
    def slot(self) -> datetime | None:
        return self.record.scheduled_for


@dataclass(eq=False)
class SlotTask:
    """The next slot of a registration's schedule; each registration has at most one."""

    registration: Registration
    slot: datetime


@dataclass(eq=False)
class LaunchTask:
    """A retry of a slot, or a queued slot whose turn has come."""

    registration: Registration
    slot: datetime
    attempt: int


@dataclass(eq=False)
class ArmTask:
    """Compute the first slot of a registration added while the scheduler runs."""

    registration: Registration


@dataclass(eq=False)
class RecoverTask:
    """Try again to close abandoned runs, after the attempt at start failed."""

    failures: int


Task = SlotTask | LaunchTask | ArmTask | RecoverTask


class RecordFailedError(Exception):
    """The `running` record of a run could not be stored, so the run did not start."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class NotClaimedError(Exception):
    """A coordinated store gave the slot to another instance, or found the pipeline busy."""

    def __init__(self, claim: Claim) -> None:
        super().__init__(claim.value)
        self.claim = claim


class StartFailedError(Exception):
    """The runner did not accept run `run_id`; its record is closed as failed."""

    def __init__(self, run_id: str, error: Exception) -> None:
        super().__init__(str(error))
        self.run_id = run_id
        self.error = error


class RunThreadHook(NoopJobHook):
    """Note which thread runs a job, so that `stop(wait=True)` from that job raises."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def on_job_start(self, ctx: Context, info: JobInfo) -> None:  # noqa: ARG002 (hook signature)
        self._run.thread_id = threading.get_ident()

    def on_job_end(
        self,
        ctx: Context,  # noqa: ARG002 (hook signature)
        info: JobInfo,  # noqa: ARG002
        error: BaseException | None,  # noqa: ARG002
        duration: timedelta,  # noqa: ARG002
    ) -> None:
        self._run.thread_id = None


def check_schedule(name: str, schedule: object) -> Schedule | None:
    if schedule is None:
        return None
    if isinstance(schedule, str):
        return parse_schedule(schedule)
    if not isinstance(schedule, Schedule) or not callable(schedule.next):
        raise TypeError(
            f"schedule for pipeline {name!r} must be a Schedule such as every(300), "
            f"DailyAt('02:00') or Cron('0 2 * * *'), text such as 'every 5m', or None; "
            f"got {type(schedule).__name__}: {schedule!r}"
        )
    return schedule


def check_timeout(value: object, name: str = "timeout") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number of seconds or None, got {type(value).__name__}: {value!r}"
        )
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(
            f"{name} must be a number of seconds >= 0 or None, got {value!r}; "
            "pass None to wait without limit"
        )
    return None if math.isinf(seconds) else seconds


def final_record(record: RunRecord, status: RunStatus, error: str) -> RunRecord:
    now = datetime.now(timezone.utc)
    return RunRecord(
        id=record.id,
        pipeline_name=record.pipeline_name,
        job_id=record.job_id,
        status=status,
        started_at=record.started_at,
        ended_at=max(now, record.started_at),
        error=error,
        scheduled_for=record.scheduled_for,
    )


def backoff(failures: int, cap: float) -> float:
    return float(min(2.0 ** min(failures - 1, 32), cap))


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def aligned_start(now: datetime, every: timedelta) -> datetime:
    """Return the latest instant at or before `now` that is a whole number of `every` after 1970.

    `now` must be aware. A period that is not positive gives `now` itself.
    """
    if every <= timedelta(0):
        return now
    return now - (now - _EPOCH) % every
