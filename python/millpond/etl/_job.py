"""`Job`: one pipeline with an id, run times, the last error and job hooks."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from millpond.etl._context import Context
from millpond.etl._dispatch import JobTargets, call_hooks, require_hook
from millpond.etl._hooks import JobInfo, NoopJobHook
from millpond.etl._pipeline import Pipeline

if TYPE_CHECKING:
    from millpond.etl._hooks import JobHook
    from millpond.etl._run import RunStats

__all__ = ["Job"]


class Job:
    """A pipeline wrapped with a random id, the times of its last run and that run's error.

    `started_at`, `ended_at` and `error` describe the most recently started
    run; when runs of one job overlap, an older run ending does not overwrite
    them. `ended_at` is `started_at` plus the time elapsed on the monotonic
    clock, so `duration` is never negative even if the system clock is
    changed during a run.
    """

    __slots__ = (
        "_ended_at",
        "_error",
        "_hook",
        "_hook_targets",
        "_id",
        "_lock",
        "_pipeline",
        "_runs",
        "_started_at",
        "_started_monotonic",
    )

    def __init__(self, pipeline: Pipeline) -> None:
        if pipeline is None:
            raise ValueError("Job() requires a Pipeline, got None")
        if not isinstance(pipeline, Pipeline):
            raise TypeError(
                f"Job() requires a millpond.etl.Pipeline, "
                f"got {type(pipeline).__name__}: {pipeline!r}"
            )
        self._id = uuid.uuid4().hex
        self._pipeline = pipeline
        self._hook: JobHook = NoopJobHook()
        self._hook_targets = JobTargets()
        self._lock = threading.Lock()
        self._runs = 0
        self._started_at: datetime | None = None
        self._started_monotonic = 0.0
        self._ended_at: datetime | None = None
        self._error: BaseException | None = None

    @property
    def id(self) -> str:
        """The job's id: 32 random hex digits (a UUID4)."""
        return self._id

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline this job runs."""
        return self._pipeline

    @property
    def name(self) -> str:
        """The pipeline's name."""
        return self._pipeline.name

    @property
    def started_at(self) -> datetime | None:
        """The aware UTC start of the latest run, or None before the first run."""
        return self._started_at

    @property
    def ended_at(self) -> datetime | None:
        """The aware UTC end of the latest run, or None while it runs or before the first."""
        return self._ended_at

    @property
    def error(self) -> BaseException | None:
        """The exception that ended the latest run, or None if it succeeded or is running."""
        return self._error

    @property
    def duration(self) -> timedelta:
        """The latest run's length: zero before any run, the time elapsed while running.

        After the run it is `ended_at - started_at`.
        """
        with self._lock:
            started_at, ended_at = self._started_at, self._ended_at
            started_monotonic = self._started_monotonic
        if started_at is None:
            return timedelta(0)
        if ended_at is None:
            return timedelta(seconds=time.monotonic() - started_monotonic)
        return ended_at - started_at

    def hook(self, hook: JobHook | None) -> Job:
        """Set the hook that receives job events; None restores the no-op hook.

        Raises TypeError if `hook` lacks a JobHook method.
        """
        if hook is None:
            hook = NoopJobHook()
        require_hook(hook, job=True)
        self._hook = hook
        self._hook_targets = JobTargets.of(hook)
        return self

    def run(self, ctx: Context | None = None) -> RunStats:
        """Run the pipeline, record the times and the error, and return the run's stats.

        `ctx=None` runs under a new root `Context` whose `pipeline_name` is the
        pipeline's name. The pipeline's error, `BaseException` included, is
        stored in `error`, passed to `on_job_end` and raised again.
        """
        if ctx is None:
            ctx = Context(pipeline_name=self.name)
        elif not isinstance(ctx, Context):
            raise TypeError(
                f"ctx must be a millpond.etl.Context or None, got {type(ctx).__name__}: {ctx!r}"
            )
        targets = self._hook_targets
        info = JobInfo(job_id=self._id, pipeline_name=self.name)

        with self._lock:
            self._runs += 1
            run_number = self._runs
            self._started_at = datetime.now(timezone.utc)
            self._started_monotonic = time.monotonic()
            self._ended_at = None
            self._error = None
            started_monotonic = self._started_monotonic
        if targets.job_start:
            call_hooks(targets.job_start, "on_job_start", ctx, info)

        try:
            stats = self._pipeline.run(ctx)
        except BaseException as error:
            duration = self._finish(run_number, started_monotonic, error)
            if targets.job_end:
                call_hooks(targets.job_end, "on_job_end", ctx, info, error, duration)
            raise

        duration = self._finish(run_number, started_monotonic, None)
        if targets.job_end:
            call_hooks(targets.job_end, "on_job_end", ctx, info, None, duration)
        return stats

    def _finish(
        self, run_number: int, started_monotonic: float, error: BaseException | None
    ) -> timedelta:
        """Record the end of run `run_number` unless a later run started; return its duration."""
        duration = timedelta(seconds=time.monotonic() - started_monotonic)
        with self._lock:
            if run_number == self._runs and self._started_at is not None:
                self._ended_at = self._started_at + duration
                self._error = error
        return duration

    def __repr__(self) -> str:
        return f"<Job {self._id} of pipeline {self.name!r}>"
