"""`Runner`: start jobs in the background on a fixed pool of worker threads."""

from __future__ import annotations

import logging
import uuid
import weakref
from types import TracebackType

from millpond.etl import Context, Job, Pipeline
from millpond.runner._checks import (
    default_max_workers,
    require_count,
    require_run_id,
    require_run_timeout,
)
from millpond.runner._handle import Handle
from millpond.runner._pool import OnDone, Pool
from millpond.runner._result import Result

__all__ = ["Runner"]

logger = logging.getLogger("millpond.runner")


class Runner:
    """Run jobs in the background on a fixed pool of worker threads. Thread-safe.

    At most `max_workers` runs execute at once (default min(32, CPUs + 4),
    as for `ThreadPoolExecutor`); further runs wait in a FIFO queue. Worker
    threads start when first needed and stay until `shutdown()`. The final
    results of the latest `keep_results` runs stay available through
    `result()`; None keeps all of them. Raises TypeError for a non-int and
    ValueError for `max_workers < 1` or `keep_results < 0`.

    Worker threads are daemons. At interpreter exit, the runs of a runner
    that was not shut down are waited for, as `concurrent.futures` does.
    """

    __slots__ = ("__weakref__", "_keep_results", "_max_workers", "_pool")

    def __init__(
        self, *, max_workers: int | None = None, keep_results: int | None = 10_000
    ) -> None:
        workers = require_count("max_workers", max_workers, minimum=1)
        keep = require_count("keep_results", keep_results, minimum=0)
        self._max_workers = default_max_workers() if workers is None else workers
        self._keep_results = keep
        self._pool = Pool(max_workers=self._max_workers, keep_results=keep)

        # A runner dropped without shutdown() lets its queued runs finish,
        # then its workers exit. The finalizer references only the pool, so it
        # does not keep the runner alive.
        finalizer = weakref.finalize(self, self._pool.shutdown, wait=False, cancel=False)
        finalizer.atexit = False

        logger.info(
            "runner %s started: max_workers=%d, keep_results=%s",
            self._pool.name,
            self._max_workers,
            keep,
        )

    @property
    def max_workers(self) -> int:
        """The maximum number of runs that execute at once."""
        return self._max_workers

    @property
    def keep_results(self) -> int | None:
        """The number of final results kept for `result()`, or None for all."""
        return self._keep_results

    def start(
        self,
        job: Job,
        ctx: Context | None = None,
        *,
        timeout: float | None = None,
        run_id: str | None = None,
        on_done: OnDone | None = None,
    ) -> Handle:
        """Queue a run of `job` and return its handle at once.

        The job runs under a new child of `ctx` (a root when `ctx` is None)
        whose `run_id` is the run's id and whose `pipeline_name` is the job's.
        Cancelling `ctx` therefore cancels the run. `timeout` is a number of
        seconds > 0, counted from this call, after which that context is
        cancelled and the run ends as canceled.

        `run_id` sets the run's id instead of a random one. It must be 32
        lowercase hex digits and unique among this runner's unfinished and
        kept runs, so a caller can record the run before its job starts.

        `on_done(result)` is called once with the final result, before the
        handle reports done and before `result()` returns it. It runs on the
        worker thread, or on the thread that cancels a run still queued. An
        exception it raises is logged and leaves the result unchanged.

        Raises RuntimeError after `shutdown()`, TypeError or ValueError for
        a bad argument, and ValueError for a `run_id` already in use.
        """
        if not isinstance(job, Job):
            hint = "; wrap it as millpond.etl.Job(pipeline)" if isinstance(job, Pipeline) else ""
            raise TypeError(
                f"job must be a millpond.etl.Job, got {type(job).__name__}: {job!r}{hint}"
            )
        if ctx is not None and not isinstance(ctx, Context):
            raise TypeError(
                f"ctx must be a millpond.etl.Context or None, got {type(ctx).__name__}: {ctx!r}"
            )
        seconds = require_run_timeout(timeout)
        run_id = uuid.uuid4().hex if run_id is None else require_run_id(run_id)
        if on_done is not None and not callable(on_done):
            raise TypeError(
                f"on_done must be a callable taking a Result, or None, "
                f"got {type(on_done).__name__}: {on_done!r}"
            )

        context = Context(run_id=run_id, pipeline_name=job.name, parent=ctx)
        job_context = context if seconds is None else _with_timeout(context, seconds)
        return self._pool.submit(job, context, job_context, on_done)

    def result(self, run_id: str) -> Result | None:
        """Return the final result of a run, or None while it runs or when it is unknown.

        A result dropped because of `keep_results` is unknown.
        """
        if not isinstance(run_id, str):
            raise TypeError(f"run_id must be a str, got {type(run_id).__name__}: {run_id!r}")
        return self._pool.result(run_id)

    def shutdown(self, wait: bool = True, cancel: bool = False) -> None:
        """Stop accepting runs, and optionally cancel the unfinished ones and wait for them.

        Queued runs still run unless `cancel` is set, which finishes them as
        canceled without running their jobs and cancels the contexts of
        running ones. `wait=True` returns once every run has finished and the
        worker threads have exited. Calling it again is allowed, for example
        to wait after `shutdown(wait=False)`. Raises RuntimeError for
        `wait=True` from a job or `on_done` callback of this runner, which
        would wait for itself.
        """
        self._pool.shutdown(wait=wait, cancel=cancel)

    def __enter__(self) -> Runner:  # noqa: PYI034 (typing.Self needs Python 3.11)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown(wait=True)

    def __repr__(self) -> str:
        state = "shut down" if self._pool.closed else "running"
        return f"<Runner {self._pool.name}: max_workers={self._max_workers}, {state}>"


def _with_timeout(context: Context, seconds: float) -> Context:
    try:
        return context.with_timeout(seconds)
    except ValueError:
        raise ValueError(
            f"timeout={seconds!r} seconds puts the run's deadline past year 9999; "
            "pass None for a run without a timeout"
        ) from None
