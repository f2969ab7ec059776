"""`Orchestrator`: register pipelines with schedules, fire them on time, record every run."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import uuid
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Final

from millpond.etl import Context, Job, Pipeline
from millpond.orchestrator._errors import (
    AlreadyRegisteredError,
    SchedulerRunningError,
    UnknownPipelineError,
)
from millpond.orchestrator._policies import Policy, build_policy
from millpond.orchestrator._recorder import RunRecorder
from millpond.orchestrator._records import RunRecord, RunStatus
from millpond.orchestrator._signals import stop_signals
from millpond.orchestrator._state import (
    ArmTask,
    LaunchTask,
    NotClaimedError,
    RecordFailedError,
    RecoverTask,
    Registration,
    Run,
    RunThreadHook,
    SlotTask,
    StartFailedError,
    Task,
    aligned_start,
    backoff,
    check_schedule,
    check_timeout,
    final_record,
)
from millpond.orchestrator._store import Claim, Store
from millpond.orchestrator._timers import (
    ScheduleError,
    TimerHeap,
    apply_misfire,
    due_slots,
    format_slot,
    next_slot,
)
from millpond.runner import Handle, Result, Runner
from millpond.scheduler import Interval, Schedule

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from millpond.orchestrator._policies import PolicyOptions

__all__ = ["Orchestrator"]

logger = logging.getLogger("millpond.orchestrator")

MAX_SLEEP_SECONDS: Final = 1.0
"""The maximum length of one sleep of the scheduler thread, which then reads the wall clock."""

DEFAULT_GRACE_SECONDS: Final = 30.0
"""How long `serve()` lets running jobs finish after SIGINT or SIGTERM."""

CANCEL_WAIT_SECONDS: Final = 5.0
"""How long `stop()` waits for cancelled runs to end before recording them as canceled itself."""

# A slot whose `running` record cannot be stored, and a schedule that raises,
# are tried again after 1 s, then after twice the previous wait, up to these caps.
_STORE_RETRY_MAX_SECONDS: Final = 60.0
_SCHEDULE_RETRY_MAX_SECONDS: Final = 300.0

# The maximum number of on-time slots that one wake-up fires under
# misfire="skip". Only a schedule denser than one slot per millisecond reaches it.
_MAX_ON_TIME_SLOTS: Final = 1000


class Orchestrator:
    """Fire registered pipelines on their schedules and record every run in a store.

    `store` receives a `RunRecord` per run (None records nothing); `runner`
    runs the jobs (None creates a `Runner` with default settings, which
    `stop()` shuts down). One scheduler thread serves every schedule from a
    timer heap. See docs/orchestrator.md for the firing rules, policies,
    stores and shutdown. Thread-safe.
    """

    def __init__(self, store: Store | None = None, runner: Runner | None = None) -> None:
        if store is not None and not callable(getattr(store, "upsert_run", None)):
            raise TypeError(
                f"store must be a store with an upsert_run(record) method, such as "
                f"millpond.orchestrator.FileStore, or None; got {type(store).__name__}: {store!r}"
            )
        if runner is not None and not isinstance(runner, Runner):
            raise TypeError(
                f"runner must be a millpond.runner.Runner or None, "
                f"got {type(runner).__name__}: {runner!r}"
            )
        self._store = store
        self._recorder = RunRecorder(store)
        self._own_runner = runner is None
        self._runner = runner

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._registrations: dict[str, Registration] = {}
        self._runs: dict[str, Run] = {}
        self._heap: TimerHeap[Task] = TimerHeap()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._scheduling = False
        self._history: dict[str, datetime] = {}
        self._store_streak = 0
        self._local = threading.local()

    # -- registration ------------------------------------------------------

    def register(
        self,
        pipeline: Pipeline,
        schedule: Schedule | str | None = None,
        **policy: Unpack[PolicyOptions],
    ) -> None:
        """Register `pipeline` under its name, fired on `schedule` if one is given.

        `schedule` is a `Schedule` (such as `every(300)` or `Cron("0 2 * * *")`),
        text that `parse_schedule` reads (such as "every 5m"), or None for a
        pipeline that only runs through `run_pipeline`. The keyword arguments
        set its `Policy`. Registering while the scheduler runs arms the
        schedule at once.

        Raises ValueError for None, TypeError for a non-Pipeline or an object
        without a `next(after)` method, AlreadyRegisteredError for a name
        already registered, and TypeError or ValueError for a bad policy.
        """
        if pipeline is None:
            raise ValueError("register() requires a millpond.etl.Pipeline, got None")
        if not isinstance(pipeline, Pipeline):
            raise TypeError(
                f"register() requires a millpond.etl.Pipeline, "
                f"got {type(pipeline).__name__}: {pipeline!r}"
            )
        checked_schedule = check_schedule(pipeline.name, schedule)
        checked_policy = build_policy(pipeline.name, policy)
        registration = Registration(pipeline, checked_schedule, checked_policy)

        with self._lock:
            if pipeline.name in self._registrations:
                raise AlreadyRegisteredError(
                    f"a pipeline named {pipeline.name!r} is already registered; "
                    "each name can be registered once, so give this pipeline another name"
                )
            self._registrations[pipeline.name] = registration
            arm_now = self._scheduling and checked_schedule is not None
            if arm_now:
                # Marked here, under the lock, so that a scheduler thread still
                # arming the schedules at its start does not arm this one twice.
                registration.armed = True
                self._heap.push(time.time(), ArmTask(registration))
        if arm_now:
            self._wake.set()
        logger.debug(
            "registered pipeline %r with schedule %r and %s",
            pipeline.name,
            checked_schedule,
            checked_policy,
        )

    @property
    def pipelines(self) -> tuple[str, ...]:
        """The names of the registered pipelines, in registration order."""
        with self._lock:
            return tuple(self._registrations)

    def policy(self, name: str) -> Policy:
        """Return the policy of the pipeline registered as `name`."""
        return self._registration(name).policy

    @property
    def store(self) -> Store | None:
        """The store that receives the run records, or None."""
        return self._store

    @property
    def running(self) -> bool:
        """Whether the scheduler thread is running."""
        with self._lock:
            return self._scheduling

    def unfinished_runs(self) -> list[str]:
        """Return the ids of the runs started by this orchestrator that have not finished."""
        with self._lock:
            return list(self._runs)

    # -- manual runs -------------------------------------------------------

    def run_pipeline(self, name: str) -> Handle:
        """Start a run of the pipeline registered as `name` now and return its handle.

        The `running` record is stored before the job starts; when storing it
        fails, the store's error is raised and the job does not start. The
        final record is stored before the handle reports done. The run gets
        the pipeline's timeout; retries apply to scheduled runs only. The
        first call also closes runs that exited processes left `running`.

        Raises UnknownPipelineError for a name that is not registered.
        """
        registration = self._registration(name)
        self._recorder.recover_once()
        with self._lock:
            registration.active += 1
        try:
            return self._start_run(registration, None, 1)
        except (RecordFailedError, StartFailedError) as failure:
            self._slot_ended(registration)
            raise failure.error from None
        except BaseException:
            self._slot_ended(registration)
            raise

    # -- scheduler ---------------------------------------------------------

    def start_scheduler(self) -> None:
        """Start the scheduler thread and return at once.

        The thread first closes runs that exited processes left `running`,
        reads each pipeline's last recorded slot from a readable store, and
        arms every schedule. Raises SchedulerRunningError if it is running.
        """
        with self._lock:
            if self._scheduling:
                raise SchedulerRunningError(
                    "the scheduler is already running; call stop() before starting it again"
                )
            self._scheduling = True
            thread = threading.Thread(
                target=self._scheduler_main, name="millpond-orchestrator-scheduler", daemon=True
            )
            self._thread = thread
            count = len(self._registrations)
            scheduled = sum(1 for item in self._registrations.values() if item.schedule)
        thread.start()
        logger.info(
            "scheduler started: %d pipelines registered, %d with a schedule", count, scheduled
        )

    def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop scheduling, then optionally wait for the running jobs.

        Pending retries and queued slots are dropped and logged. With
        `wait=True`, waits for every unfinished run, at most `timeout` seconds
        when it is not None. Runs still going then are cancelled and get
        `CANCEL_WAIT_SECONDS` more to end. Any run still going after that is
        recorded as `canceled` here. Final records that still fail to store
        are retried for a few seconds and then logged. A runner created by
        the orchestrator is shut down. The scheduler may be started again.

        Raises RuntimeError for `wait=True` from one of this orchestrator's
        jobs or from the code that records a finished run, which would wait
        for itself.
        """
        seconds = check_timeout(timeout)
        self._stop(wait=wait, timeout=seconds, force=None)

    def serve(self, *, grace: float | None = DEFAULT_GRACE_SECONDS) -> None:
        """Start the scheduler if needed and block until SIGINT or SIGTERM, then stop.

        The stop waits up to `grace` seconds (None: without limit) for the
        running jobs, as `stop(wait=True, timeout=grace)` does. A second
        signal during that wait cancels the running jobs at once. The
        previous signal handlers are restored on return. A SIGINT that the
        process ignores, as a shell does for background jobs, stays ignored.

        Raises RuntimeError when called from a thread other than the main one,
        because only the main thread receives signals.
        """
        seconds = check_timeout(grace, name="grace")
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError(
                "serve() must run on the main thread, which receives SIGINT and SIGTERM; "
                "from another thread, call start_scheduler() and later stop()"
            )

        with stop_signals() as signals:
            try:
                if not self.running:
                    self.start_scheduler()
                logger.info("serving until SIGINT or SIGTERM (pid %d)", os.getpid())
                signals.wait(MAX_SLEEP_SECONDS)
                logger.info(
                    "received %s: stopping the scheduler; running jobs get %s to finish",
                    signals.first_name,
                    "unlimited time" if seconds is None else f"{seconds:g} s",
                )
            finally:
                # Also after an error: the jobs still get their grace period.
                self._stop(wait=True, timeout=seconds, force=signals.force)

    def __enter__(self) -> Orchestrator:  # noqa: PYI034 (typing.Self needs Python 3.11)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop(wait=True)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Orchestrator: {len(self.pipelines)} pipelines, scheduler {state}>"

    # -- internals: registration lookups ------------------------------------

    def _registration(self, name: str) -> Registration:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}: {name!r}")
        with self._lock:
            registration = self._registrations.get(name)
            known = list(self._registrations)
        if registration is None:
            listed = ", ".join(repr(item) for item in known) if known else "none"
            raise UnknownPipelineError(
                f"no pipeline named {name!r} is registered; registered pipelines: {listed}"
            )
        return registration

    def _get_runner(self) -> Runner:
        with self._lock:
            if self._runner is None:
                self._runner = Runner()
            return self._runner

    # -- internals: starting and finishing runs -----------------------------

    def _start_run(
        self, registration: Registration, slot: datetime | None, attempt: int
    ) -> Handle:
        """Store the `running` record, then start the job; raise RecordFailedError first.

        With a coordinated store, a scheduled run claims its slot first and
        raises NotClaimedError, without starting, when the claim is refused.
        """
        name = registration.name
        job = Job(registration.pipeline)
        record = RunRecord(
            id=uuid.uuid4().hex,
            pipeline_name=name,
            job_id=job.id,
            status=RunStatus.RUNNING,
            started_at=datetime.now(timezone.utc),
            ended_at=None,
            error=None,
            scheduled_for=slot,
        )
        run = Run(registration, record, attempt, Context(pipeline_name=name), time.monotonic())
        job.hook(RunThreadHook(run))

        # NOTE: this call blocks the scheduler thread for as long as the store
        # takes. A store that fails fast is retried, but one that hangs delays
        # every pipeline.
        try:
            claim = self._recorder.begin(
                record, attempt=attempt, exclusive=registration.policy.overlap == "skip"
            )
        except Exception as error:
            self._note_store_failure()
            raise RecordFailedError(error) from error
        self._note_store_success()
        if claim is not Claim.CLAIMED:
            raise NotClaimedError(claim)

        runner = self._get_runner()
        with self._lock:
            self._runs[record.id] = run
        try:
            handle = runner.start(
                job,
                run.context,
                timeout=registration.policy.timeout,
                run_id=record.id,
                on_done=functools.partial(self._on_done, run),
            )
        except BaseException as error:
            with self._lock:
                self._runs.pop(record.id, None)
                self._changed.notify_all()
            self._recorder.finish(final_record(record, RunStatus.FAILED, f"not started: {error}"))
            if isinstance(error, Exception):
                raise StartFailedError(record.id, error) from error
            raise
        run.handle = handle

        if slot is None:
            logger.info("started pipeline %r manually: run %s", name, record.id)
        else:
            logger.info(
                "fired pipeline %r for slot %s: run %s, attempt %d of %d",
                name,
                format_slot(slot),
                record.id,
                attempt,
                registration.policy.retries + 1,
            )
        return handle

    def _on_done(self, run: Run, result: Result) -> None:
        """Store the final record and plan what follows; runs before the handle reports done."""
        self._local.recording = True
        try:
            self._record_result(run, result)
        finally:
            self._local.recording = False

    def _record_result(self, run: Run, result: Result) -> None:
        registration = run.registration
        policy = registration.policy
        status = RunStatus(result.status.value)
        record = run.record
        final = RunRecord(
            id=record.id,
            pipeline_name=record.pipeline_name,
            job_id=record.job_id,
            status=status,
            started_at=record.started_at,
            ended_at=max(result.ended_at, record.started_at),
            error=result.error,
            scheduled_for=record.scheduled_for,
        )
        self._recorder.finish(final)

        elapsed = time.monotonic() - run.started_monotonic
        timed_out = (
            status is RunStatus.CANCELED
            and not run.stopping
            and policy.timeout is not None
            and elapsed >= policy.timeout
        )
        outcome = "timed out" if timed_out else status.value
        level = logging.INFO if status is RunStatus.SUCCEEDED else logging.WARNING
        logger.log(
            level,
            "run %s of pipeline %r %s after %.3f s%s",
            record.id,
            record.pipeline_name,
            outcome,
            elapsed,
            "" if result.error is None else f": {result.error}",
        )

        retry_wait: float | None = None
        with self._lock:
            self._runs.pop(record.id, None)
            slot = run.slot
            wants_retry = status is RunStatus.FAILED or timed_out
            can_retry = slot is not None and self._scheduling and not run.stopping
            if slot is not None and wants_retry and can_retry and run.attempt <= policy.retries:
                retry_wait = policy.retry_wait(run.attempt + 1)
                task = LaunchTask(registration, slot, run.attempt + 1)
                self._heap.push(time.time() + retry_wait, task)
            else:
                self._slot_ended_locked(registration)
            self._changed.notify_all()
        self._wake.set()

        if retry_wait is not None:
            logger.warning(
                "retrying pipeline %r for slot %s in %.3g s: attempt %d of %d after run %s %s",
                record.pipeline_name,
                format_slot(run.slot),
                retry_wait,
                run.attempt + 1,
                policy.retries + 1,
                record.id,
                outcome,
            )
        elif wants_retry and run.slot is not None and run.attempt > policy.retries > 0:
            logger.error(
                "pipeline %r gave up on slot %s after %d attempts; last run %s %s",
                record.pipeline_name,
                format_slot(run.slot),
                run.attempt,
                record.id,
                outcome,
            )
        elif wants_retry and run.slot is not None and policy.retries:
            logger.warning(
                "pipeline %r: no retry for slot %s because the scheduler is stopping; "
                "last run %s %s",
                record.pipeline_name,
                format_slot(run.slot),
                record.id,
                outcome,
            )

    def _slot_ended(self, registration: Registration) -> None:
        with self._lock:
            self._slot_ended_locked(registration)
            self._changed.notify_all()
        self._wake.set()

    def _slot_ended_locked(self, registration: Registration) -> None:
        """Hand the slot's place to the next queued slot, or free it. Call with the lock held."""
        if registration.queued and self._scheduling:
            slot = registration.queued.popleft()
            self._heap.push(time.time(), LaunchTask(registration, slot, 1))
        else:
            registration.active -= 1

    def _note_store_failure(self) -> None:
        with self._lock:
            self._store_streak += 1

    def _note_store_success(self) -> None:
        with self._lock:
            streak, self._store_streak = self._store_streak, 0
        if streak:
            logger.info("the store accepts run records again after %d failed writes", streak)

    # -- internals: the scheduler thread ------------------------------------

    def _scheduler_main(self) -> None:
        try:
            self._prepare()
            self._loop()
        except BaseException:
            logger.critical("the scheduler thread failed; no more pipelines fire", exc_info=True)
            raise
        finally:
            logger.info("scheduler stopped")

    def _prepare(self) -> None:
        """Close abandoned runs, read the last recorded slots and arm every schedule."""
        if not self._recorder.recover_once():
            self._recovery_failed(RecoverTask(0))
        history: dict[str, datetime] = {}
        if self._recorder.readable:
            try:
                history = self._recorder.last_slots()
            except Exception:
                logger.exception(
                    "could not read the last recorded slots from the store; "
                    "every schedule starts from now, and slots missed while no "
                    "orchestrator ran are not fired"
                )
        with self._lock:
            self._history = history
            pending = [
                item
                for item in self._registrations.values()
                if item.schedule is not None and not item.armed
            ]
            for item in pending:
                item.armed = True
        for registration in pending:
            self._arm(registration)

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._scheduling:
                    return
                now = time.time()
                task = self._heap.pop_due(now)
                if task is None:
                    due = self._heap.next_due()
                    wait = MAX_SLEEP_SECONDS if due is None else min(MAX_SLEEP_SECONDS, due - now)
                    self._wake.clear()
            if task is None:
                # Event.wait measures on the monotonic clock. Short slices make
                # the loop read the wall clock again soon after a suspend or a
                # clock change.
                self._wake.wait(max(wait, 0.0))
                continue
            try:
                self._process(task)
            except Exception:
                logger.exception("internal error while processing %r; the scheduler goes on", task)

    def _process(self, task: Task) -> None:
        if isinstance(task, SlotTask):
            self._fire(task.registration, task.slot)
        elif isinstance(task, LaunchTask):
            self._launch(task)
        elif isinstance(task, ArmTask):
            self._arm(task.registration)
        elif not self._recorder.recover_once():
            self._recovery_failed(task)
        else:
            logger.info(
                "checked the store for abandoned runs after %d failed attempts", task.failures
            )

    def _recovery_failed(self, task: RecoverTask) -> None:
        task.failures += 1
        wait = backoff(task.failures, _STORE_RETRY_MAX_SECONDS)
        logger.warning("looking for abandoned runs again in %.0f s", wait)
        self._push(time.time() + wait, task)

    def _push(self, due: float, task: Task) -> None:
        with self._lock:
            if self._scheduling:
                self._heap.push(due, task)

    def _arm(self, registration: Registration) -> None:
        """Push a schedule's first slot: the one after its last recorded slot, or after now."""
        schedule = registration.schedule
        if schedule is None:
            return
        now = datetime.now(timezone.utc)
        last = self._history.get(registration.name)
        base = now
        if last is None and self._recorder.coordinated and type(schedule) is Interval:
            # Instances that share a store must compute the same slots to claim
            # them once, so a first Interval slot counts from the Unix epoch.
            base = aligned_start(now, schedule.every)
        elif last is not None and last <= now:
            base = last
        elif last is not None:
            logger.warning(
                "the last recorded slot of pipeline %r, %s, is in the future; the clock "
                "may have been set back, so its schedule starts from now",
                registration.name,
                format_slot(last),
            )

        try:
            first = next_slot(schedule, base)
        except ScheduleError as error:
            wait = self._schedule_failed(registration, error)
            self._push(time.time() + wait, ArmTask(registration))
            return
        registration.schedule_failures = 0
        if first is None:
            logger.info("pipeline %r has no runs left on its schedule", registration.name)
            return
        self._push(first.timestamp(), SlotTask(registration, first))
        logger.info(
            "armed pipeline %r: first slot %s%s",
            registration.name,
            format_slot(first),
            _armed_from(base, now, last),
        )

    def _fire(self, registration: Registration, first: datetime) -> None:
        """Fire the due slots of one schedule, applying its misfire policy."""
        schedule = registration.schedule
        if schedule is None:  # pragma: no cover - only scheduled registrations get slot tasks
            return
        policy = registration.policy
        now = datetime.now(timezone.utc)
        keep = {"coalesce": 1, "skip": _MAX_ON_TIME_SLOTS, "catch_up": policy.max_catch_up}
        try:
            due = due_slots(schedule, first, now, keep[policy.misfire])
            following = due.following
            if due.truncated:
                following = next_slot(schedule, now)
        except ScheduleError as error:
            wait = self._schedule_failed(registration, error)
            self._push(time.time() + wait, SlotTask(registration, first))
            return
        registration.schedule_failures = 0

        for slot in apply_misfire(registration.name, policy, due, now):
            if not self._dispatch(registration, slot):
                # The store failed: come back to this slot later. Whatever is due
                # then goes through the misfire policy again.
                registration.store_failures += 1
                wait = backoff(registration.store_failures, _STORE_RETRY_MAX_SECONDS)
                logger.warning(
                    "pipeline %r: trying slot %s again in %.0f s, with the misfire policy %r",
                    registration.name,
                    format_slot(slot),
                    wait,
                    policy.misfire,
                )
                self._push(time.time() + wait, SlotTask(registration, slot))
                return
        registration.store_failures = 0

        if following is None:
            logger.info("pipeline %r has no runs left on its schedule", registration.name)
            return
        self._push(following.timestamp(), SlotTask(registration, following))

    def _dispatch(self, registration: Registration, slot: datetime) -> bool:
        """Start, queue or skip a slot by the overlap policy; return False if the store failed."""
        policy = registration.policy
        with self._lock:
            if not self._scheduling:
                return True
            busy = registration.active > 0
            if busy and policy.overlap == "skip":
                action = "skip"
            elif busy and policy.overlap == "queue":
                if len(registration.queued) >= policy.max_queued:
                    action = "queue full"
                else:
                    registration.queued.append(slot)
                    action = "queued"
            else:
                registration.active += 1
                action = "start"
            waiting = len(registration.queued)

        if action == "skip":
            logger.info(
                "pipeline %r: skipped slot %s because its previous run is still in progress "
                "(overlap 'skip')",
                registration.name,
                format_slot(slot),
            )
            return True
        if action == "queue full":
            logger.warning(
                "pipeline %r: skipped slot %s because %d slots already wait for the "
                "running one (max_queued=%d)",
                registration.name,
                format_slot(slot),
                waiting,
                policy.max_queued,
            )
            return True
        if action == "queued":
            logger.info(
                "pipeline %r: slot %s waits for the running one (overlap 'queue', %d waiting)",
                registration.name,
                format_slot(slot),
                waiting,
            )
            return True
        if self._start_scheduled(registration, slot, 1):
            return True
        with self._lock:
            registration.active -= 1
            self._changed.notify_all()
        return False

    def _launch(self, task: LaunchTask) -> None:
        """Start a retry or a queued slot; its place in `active` is already counted."""
        registration = task.registration
        if self._start_scheduled(registration, task.slot, task.attempt):
            registration.store_failures = 0
            return
        registration.store_failures += 1
        wait = backoff(registration.store_failures, _STORE_RETRY_MAX_SECONDS)
        logger.warning(
            "pipeline %r: trying attempt %d for slot %s again in %.0f s",
            registration.name,
            task.attempt,
            format_slot(task.slot),
            wait,
        )
        with self._lock:
            if self._scheduling:
                self._heap.push(time.time() + wait, task)
                return
        self._slot_ended(registration)

    def _start_scheduled(self, registration: Registration, slot: datetime, attempt: int) -> bool:
        """Start a run whose place in `active` is counted; return False if the store failed.

        On False the place stays counted, for the caller to try again or free.
        Any other error gives up the slot: it is logged and the place freed.
        """
        try:
            self._start_run(registration, slot, attempt)
        except NotClaimedError as refused:
            if refused.claim is Claim.BUSY:
                logger.info(
                    "pipeline %r: skipped slot %s because a run of it is in progress on "
                    "another instance (overlap 'skip')",
                    registration.name,
                    format_slot(slot),
                )
            else:
                logger.info(
                    "pipeline %r: slot %s, attempt %d, was claimed by another instance",
                    registration.name,
                    format_slot(slot),
                    attempt,
                )
            self._slot_ended(registration)
        except RecordFailedError as failure:
            with self._lock:
                first_failure = self._store_streak == 1
            # The traceback is logged once per outage, not for every slot.
            logger.error(  # noqa: TRY400
                "could not store the running record of pipeline %r for slot %s, "
                "so the run did not start: %s: %s",
                registration.name,
                format_slot(slot),
                type(failure.error).__name__,
                failure.error,
                exc_info=failure.error if first_failure else None,
            )
            return False
        except StartFailedError as failure:
            # The traceback to show is the runner's error, not the wrapper's.
            logger.error(  # noqa: TRY400
                "could not start run %s of pipeline %r for slot %s: %s: %s",
                failure.run_id,
                registration.name,
                format_slot(slot),
                type(failure.error).__name__,
                failure.error,
                exc_info=failure.error,
            )
            self._slot_ended(registration)
        except Exception:
            logger.exception(
                "could not start pipeline %r for slot %s", registration.name, format_slot(slot)
            )
            self._slot_ended(registration)
        return True

    def _schedule_failed(self, registration: Registration, error: ScheduleError) -> float:
        registration.schedule_failures += 1
        wait = backoff(registration.schedule_failures, _SCHEDULE_RETRY_MAX_SECONDS)
        logger.error(
            "schedule of pipeline %r failed, trying again in %.0f s: %s",
            registration.name,
            wait,
            error,
            exc_info=error.__cause__ if registration.schedule_failures == 1 else None,
        )
        return wait

    # -- internals: stopping ------------------------------------------------

    def _stop(self, *, wait: bool, timeout: float | None, force: threading.Event | None) -> None:
        with self._lock:
            if wait and self._inside_run_locked():
                raise RuntimeError(
                    "stop(wait=True) was called from a run of this orchestrator, which would "
                    "wait for that run to finish; call stop(wait=False) there"
                )
            was_running = self._scheduling
            self._scheduling = False
            thread, self._thread = self._thread, None
            retries, queued = self._drop_pending_locked()
            self._changed.notify_all()
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._lock:
            # After the join, so that a thread still arming schedules when the
            # stop began cannot leave a registration marked as armed.
            for registration in self._registrations.values():
                registration.armed = False

        if was_running and (retries or queued):
            logger.warning(
                "stopping drops %d pending retries or queued launches and %d queued slots",
                retries,
                queued,
            )
        if not wait:
            return

        stuck = self._wait_for_runs(timeout, force)
        self._recorder.flush()
        if self._own_runner:
            with self._lock:
                runner, self._runner = self._runner, None
            if runner is not None:
                runner.shutdown(wait=not stuck, cancel=bool(stuck))
        if not stuck:
            self._recorder.close()

    def _drop_pending_locked(self) -> tuple[int, int]:
        """Empty the timer heap and the queues; return the launches and slots dropped."""
        launches = 0
        for task in self._heap.clear():
            if isinstance(task, LaunchTask):
                # A pending retry or queued launch keeps its slot counted in `active`.
                task.registration.active -= 1
                launches += 1
        queued = 0
        for registration in self._registrations.values():
            queued += len(registration.queued)
            registration.queued.clear()
        return launches, queued

    def _inside_run_locked(self) -> bool:
        if getattr(self._local, "recording", False):
            return True
        current = threading.get_ident()
        return any(run.thread_id == current for run in self._runs.values())

    def _wait_for_runs(self, timeout: float | None, force: threading.Event | None) -> list[Run]:
        """Wait for the unfinished runs, cancel the late ones; return those that never ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._wait_until_finished(deadline, force):
            with self._lock:
                late = [run for run in self._runs.values() if not run.detached]
            reason = "a second signal" if force is not None and force.is_set() else "the timeout"
            logger.warning(
                "cancelling %d runs still in progress after %s: %s",
                len(late),
                reason,
                ", ".join(f"{run.record.id} ({run.registration.name})" for run in late),
            )
            for run in late:
                run.stopping = True
                if run.handle is not None:
                    run.handle.cancel()
                else:
                    run.context.cancel()
            self._wait_until_finished(time.monotonic() + CANCEL_WAIT_SECONDS, None)

        with self._lock:
            stuck = [run for run in self._runs.values() if not run.detached]
            for run in stuck:
                run.detached = True
        for run in stuck:
            logger.error(
                "run %s of pipeline %r ignored cancellation for %.0f s; recording it as "
                "canceled and no longer waiting for it",
                run.record.id,
                run.registration.name,
                CANCEL_WAIT_SECONDS,
            )
            self._recorder.finish(
                final_record(
                    run.record,
                    RunStatus.CANCELED,
                    "canceled: the orchestrator stopped and the job did not end "
                    f"within {CANCEL_WAIT_SECONDS:g} s of being cancelled",
                )
            )
        return stuck

    def _wait_until_finished(self, deadline: float | None, force: threading.Event | None) -> bool:
        """Wait until no attached run is unfinished; False at the deadline or on `force`."""
        with self._lock:
            while any(not run.detached for run in self._runs.values()):
                if force is not None and force.is_set():
                    return False
                wait = 0.1 if force is not None else None
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    wait = remaining if wait is None else min(wait, remaining)
                self._changed.wait(wait)
        return True


def _armed_from(base: datetime, now: datetime, last: datetime | None) -> str:
    if base is now:
        return ""
    if base == last:
        return f", after its last recorded slot {format_slot(base)}"
    return f", counting from {format_slot(base)} like every instance sharing the store"
