"""The worker pool behind `Runner`: the queue, the worker threads and each run's life."""

from __future__ import annotations

import atexit
import functools
import itertools
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from millpond.etl import Cancelled, Context, Job
from millpond.runner._handle import Handle
from millpond.runner._result import Result, Status, describe_error, format_traceback

__all__ = ["OnDone", "Pool"]

logger = logging.getLogger("millpond.runner")

OnDone = Callable[[Result], object]

_pool_numbers = itertools.count(1)


@dataclass(eq=False, slots=True)
class _Run:
    """One accepted run, from `Pool.submit()` until its handle reports done."""

    handle: Handle
    job: Job
    # `context` is what cancel() cancels. `job_context` is what the job gets:
    # `context` itself, or its child that carries the timeout's deadline.
    context: Context
    job_context: Context
    on_done: OnDone | None
    started_monotonic: float

    @property
    def id(self) -> str:
        return self.handle.id

    @property
    def job_name(self) -> str:
        return self.handle.job_name


class Pool:
    """A FIFO queue of runs served by at most `max_workers` daemon threads.

    Workers start on demand, when a run is queued and no worker is idle, and
    then stay until shutdown. One lock guards the queue and the tables of runs
    and workers, so `submit`, `cancel`, `result` and `shutdown` may be called
    from any thread.
    """

    def __init__(self, *, max_workers: int, keep_results: int | None) -> None:
        self.name = f"millpond-runner-{next(_pool_numbers)}"
        self._max_workers = max_workers
        self._keep_results = keep_results

        self._reset()
        _registry.add(self)

    def _reset(self) -> None:
        """Create the lock, and empty the queue and the tables of runs and workers."""
        # Reentrant, because the runner's weakref finalizer calls shutdown()
        # and the garbage collector may run it on a thread that holds the lock.
        self._lock = threading.RLock()
        self._work_available = threading.Condition(self._lock)
        self._all_finished = threading.Condition(self._lock)

        # Every accepted run until its handle reports done, queued runs included.
        self._unfinished: dict[str, _Run] = {}
        self._queue: OrderedDict[str, _Run] = OrderedDict()
        self._results: OrderedDict[str, Result] = OrderedDict()
        self._workers: list[threading.Thread] = []
        self._live_workers = 0
        self._idle_workers = 0
        self._closed = False

        # Set on worker threads, and on any thread while it finishes a run,
        # so that shutdown(wait=True) from there raises instead of deadlocking.
        self._local = threading.local()

    def _after_fork_in_child(self) -> None:
        # Only the forking thread exists in the child, and another thread may
        # have held the lock at the fork. The parent's runs go on in the
        # parent, so the child drops them instead of running queued ones a
        # second time, and starts its own workers when it starts runs.
        # NOTE: in the child, handles of runs unfinished at the fork never finish.
        closed, results = self._closed, self._results
        self._reset()
        self._closed, self._results = closed, results

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(
        self, job: Job, context: Context, job_context: Context, on_done: OnDone | None
    ) -> Handle:
        """Queue a run of `job` under `context.run_id` and return its handle."""
        run_id = context.run_id
        started_at = datetime.now(timezone.utc)
        handle = Handle(
            run_id=run_id,
            job_id=job.id,
            job_name=job.name,
            started_at=started_at,
            cancel=functools.partial(self.cancel, run_id),
        )
        run = _Run(handle, job, context, job_context, on_done, time.monotonic())

        with self._lock:
            if self._closed:
                raise RuntimeError(
                    f"cannot start job {job.name!r}: the runner is shut down; "
                    "create a new Runner to start more runs"
                )
            if run_id in self._unfinished or run_id in self._results:
                raise ValueError(
                    f"run_id {run_id!r} is already used by another run of this runner; "
                    "pass a new id, or None to let the runner choose one"
                )
            self._unfinished[run_id] = run
            self._queue[run_id] = run
            queued = len(self._queue)
            if queued > self._idle_workers and self._live_workers < self._max_workers:
                self._start_worker(run)
            self._work_available.notify()

        logger.debug("run %s of job %r accepted, queue length %d", run_id, job.name, queued)
        return handle

    def cancel(self, run_id: str) -> None:
        """Cancel a run's context, and finish the run here if it is still queued."""
        with self._lock:
            run = self._unfinished.get(run_id)
            if run is None:
                return
            queued = self._queue.pop(run_id, None) is not None

        logger.debug("run %s of job %r: cancel requested", run_id, run.job_name)
        run.context.cancel()
        if queued:
            self._finish(run, self._canceled_before_start(run))

    def result(self, run_id: str) -> Result | None:
        with self._lock:
            return self._results.get(run_id)

    def shutdown(self, *, wait: bool, cancel: bool) -> None:
        """Stop accepting runs, optionally cancel the unfinished ones, optionally wait."""
        if wait and getattr(self._local, "inside", False):
            raise RuntimeError(
                f"shutdown(wait=True) was called from a run of runner {self.name}, "
                "which would wait for that run to finish; call shutdown(wait=False) there"
            )

        with self._lock:
            first_call = not self._closed
            self._closed = True
            self._work_available.notify_all()
            running = len(self._unfinished) - len(self._queue)
            queued_count = len(self._queue)
            to_cancel: list[_Run] = []
            queued: list[_Run] = []
            if cancel:
                to_cancel = list(self._unfinished.values())
                queued = list(self._queue.values())
                self._queue.clear()
            no_workers = self._live_workers == 0

        if first_call:
            logger.info(
                "runner %s shutting down: %d runs in progress, %d queued, cancel=%s",
                self.name,
                running,
                queued_count,
                cancel,
            )
            if no_workers:
                logger.info("runner %s stopped: no worker thread is running", self.name)

        # Cancelling every context first lets running jobs stop while the
        # queued runs are finished below.
        for run in to_cancel:
            run.context.cancel()
        for run in queued:
            self._finish(run, self._canceled_before_start(run))

        if wait:
            with self._lock:
                while self._unfinished:
                    self._all_finished.wait()
                workers = list(self._workers)
            for worker in workers:
                worker.join()

    def _start_worker(self, run: _Run) -> None:
        """Start one more worker thread. Call with the lock held."""
        thread = threading.Thread(
            target=self._work, name=f"{self.name}_{len(self._workers)}", daemon=True
        )
        self._live_workers += 1
        try:
            thread.start()
        except RuntimeError:
            self._live_workers -= 1
            if self._live_workers > 0:
                # The run waits for one of the existing workers instead.
                logger.exception(
                    "runner %s could not start another worker thread; run %s stays queued",
                    self.name,
                    run.id,
                )
                return
            del self._unfinished[run.id]
            del self._queue[run.id]
            raise
        self._workers.append(thread)

    def _work(self) -> None:
        self._local.inside = True
        while True:
            run = self._next_run()
            if run is None:
                break
            try:
                self._process(run)
            except Exception as error:
                # Only a bug in this module gets here; the job's own errors are results.
                # Completing the handle keeps its waiters from hanging.
                logger.exception(
                    "runner %s failed to process run %s of job %r", self.name, run.id, run.job_name
                )
                result = self._result(
                    run, Status.FAILED, describe_error(error), format_traceback(error)
                )
                self._publish(run, result)

        with self._lock:
            self._live_workers -= 1
            last = self._live_workers == 0
        if last:
            logger.info("runner %s stopped: all worker threads exited", self.name)

    def _next_run(self) -> _Run | None:
        """Take the oldest queued run, waiting for one; None after shutdown with an empty queue."""
        with self._lock:
            while not self._queue and not self._closed:
                self._idle_workers += 1
                try:
                    self._work_available.wait()
                finally:
                    self._idle_workers -= 1
            if not self._queue:
                return None
            return self._queue.popitem(last=False)[1]

    def _process(self, run: _Run) -> None:
        # The context may have been cancelled, or its deadline passed, while queued.
        if run.job_context.cancelled:
            result = self._canceled_before_start(run)
        else:
            result = self._execute(run)
        self._finish(run, result)

    def _execute(self, run: _Run) -> Result:
        """Run the job on this thread and turn its outcome into a result."""
        logger.debug(
            "run %s of job %r started on thread %s",
            run.id,
            run.job_name,
            threading.current_thread().name,
        )
        try:
            run.job.run(run.job_context)
        except BaseException as error:  # noqa: BLE001 (every error is the run's result)
            return self._result_of_error(run, error)

        result = self._result(run, Status.SUCCEEDED)
        logger.info(
            "run %s of job %r succeeded in %.3f s",
            run.id,
            run.job_name,
            result.duration.total_seconds(),
        )
        return result

    def _result_of_error(self, run: _Run, error: BaseException) -> Result:
        """Return the result of a job that raised `error`, and log it."""
        # An error raised after the context was cancelled is most likely the
        # job reacting to the cancellation, e.g. an interrupted read.
        cancelled = isinstance(error, Cancelled) or run.job_context.cancelled
        status = Status.CANCELED if cancelled else Status.FAILED
        result = self._result(run, status, describe_error(error), format_traceback(error))
        seconds = result.duration.total_seconds()

        if isinstance(error, Cancelled):
            logger.log(
                _canceled_level(run.job_context),
                "run %s of job %r canceled after %.3f s: %s",
                run.id,
                run.job_name,
                seconds,
                result.error,
            )
        else:
            logger.error(
                "run %s of job %r %s after %.3f s: %s",
                run.id,
                run.job_name,
                status.value,
                seconds,
                result.error,
                exc_info=error,
            )
        return result

    def _canceled_before_start(self, run: _Run) -> Result:
        """Return the result of a run whose job never started, and log it."""
        try:
            run.job_context.raise_if_cancelled()
        except Cancelled as error:
            reason = str(error)
        else:
            reason = f"run {run.id} was cancelled"
        result = self._result(run, Status.CANCELED, f"Cancelled: {reason} before its job started")
        logger.log(
            _canceled_level(run.job_context),
            "run %s of job %r canceled before its job started: %s",
            run.id,
            run.job_name,
            reason,
        )
        return result

    def _result(
        self,
        run: _Run,
        status: Status,
        error: str | None = None,
        traceback: str | None = None,
    ) -> Result:
        elapsed = timedelta(seconds=time.monotonic() - run.started_monotonic)
        started_at = run.handle.started_at
        return Result(
            id=run.id,
            job_id=run.handle.job_id,
            job_name=run.job_name,
            status=status,
            started_at=started_at,
            ended_at=started_at + elapsed,
            error=error,
            traceback=traceback,
        )

    def _finish(self, run: _Run, result: Result) -> None:
        """Call the run's on_done callback, then store the result and complete the handle."""
        inside = getattr(self._local, "inside", False)
        self._local.inside = True
        try:
            self._call_on_done(run, result)
            self._publish(run, result)
        finally:
            self._local.inside = inside

    def _call_on_done(self, run: _Run, result: Result) -> None:
        if run.on_done is None:
            return
        try:
            run.on_done(result)
        except BaseException:
            logger.exception(
                "on_done callback of run %s of job %r failed; the run keeps status %s",
                run.id,
                run.job_name,
                result.status.value,
            )

    def _publish(self, run: _Run, result: Result) -> None:
        """Store `result`, complete the handle and wake the waiters, once per run."""
        with self._lock:
            if self._unfinished.pop(run.id, None) is None:
                return
            self._keep(result)
            callbacks = run.handle._complete(result)  # noqa: SLF001 (the pool owns its handles)
            if not self._unfinished:
                self._all_finished.notify_all()

        # The only callbacks hand the result to event loops, and they catch the
        # RuntimeError of a closed loop.
        for callback in callbacks:
            callback(result)

    def _keep(self, result: Result) -> None:
        """Store a result, dropping the oldest beyond `keep_results`. Call with the lock held."""
        limit = self._keep_results
        if limit == 0:
            return
        self._results[result.id] = result
        if limit is not None:
            while len(self._results) > limit:
                self._results.popitem(last=False)


def _canceled_level(context: Context) -> int:
    """Return WARNING for a run whose deadline passed, INFO for one cancelled on request."""
    deadline = context.deadline
    if deadline is not None and datetime.now(timezone.utc) >= deadline:
        return logging.WARNING
    return logging.INFO


class _Registry:
    """The live pools, for the interpreter-exit and fork hooks below."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: weakref.WeakSet[Pool] = weakref.WeakSet()

    def add(self, pool: Pool) -> None:
        with self._lock:
            self._pools.add(pool)

    def wait_at_exit(self) -> None:
        # Worker threads are daemons, so without this hook the interpreter
        # would stop them mid-run. concurrent.futures waits for its executors
        # at exit in the same way.
        with self._lock:
            pools = list(self._pools)
        for pool in pools:
            pool.shutdown(wait=True, cancel=False)

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        for pool in list(self._pools):
            pool._after_fork_in_child()  # noqa: SLF001 (the registry is part of the pool)


_registry = _Registry()
atexit.register(_registry.wait_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_registry.after_fork_in_child)
