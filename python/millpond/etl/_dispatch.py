"""Hook dispatch: `Hooks` fan-out, detection of overridden events, failure isolation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from millpond.etl._hooks import NoopJobHook, NoopPipelineHook

if TYPE_CHECKING:
    from datetime import timedelta

    from millpond.etl._context import Context
    from millpond.etl._hooks import JobHook, JobInfo, PipelineHook, PipelineInfo

__all__ = ["Hooks", "JobTargets", "PipelineTargets", "call_hooks", "require_hook"]

PIPELINE_EVENTS: Final = (
    "on_pipeline_start",
    "on_pipeline_end",
    "on_read_start",
    "on_read_end",
    "on_step_start",
    "on_step_end",
    "on_write_start",
    "on_write_end",
)
JOB_EVENTS: Final = ("on_job_start", "on_job_end")

logger = logging.getLogger("millpond.etl.hooks")

# One receiver of an event: the hook object (named in failure logs) and its bound method.
Target = tuple[object, Callable[..., object]]


def call_hooks(targets: tuple[Target, ...], event: str, *args: object) -> None:
    """Call each target with `args`, logging and ignoring any exception one of them raises."""
    for hook, method in targets:
        try:
            method(*args)
        except Exception:  # noqa: PERF203 (each hook is isolated from the others)
            hook_class = type(hook)
            logger.exception(
                "hook %s.%s raised in %s; the run continues without it",
                hook_class.__module__,
                hook_class.__qualname__,
                event,
            )


def _missing(hook: object, events: tuple[str, ...]) -> list[str]:
    return [event for event in events if not callable(getattr(hook, event, None))]


def _reject_class(hook: object) -> None:
    if isinstance(hook, type):
        raise TypeError(
            f"hook must be an instance, got the class {hook.__qualname__}; "
            f"pass {hook.__qualname__}() instead"
        )


def require_hook(hook: object, *, job: bool) -> None:
    """Raise TypeError unless `hook` has every method of PipelineHook (or JobHook if `job`)."""
    _reject_class(hook)
    if isinstance(hook, Hooks):
        return
    events, protocol, base = (
        (JOB_EVENTS, "JobHook", "NoopJobHook")
        if job
        else (PIPELINE_EVENTS, "PipelineHook", "NoopPipelineHook")
    )
    missing = _missing(hook, events)
    if missing:
        raise TypeError(
            f"hook must implement {protocol}, got {type(hook).__name__}: {hook!r} "
            f"without {', '.join(missing)}; subclass millpond.etl.{base} and override "
            "the events you need"
        )


def _leaves(hook: object) -> list[object]:
    """Return the hooks that receive events, with nested `Hooks` flattened in order."""
    if type(hook) is not Hooks:
        return [hook]
    return [leaf for member in hook.hooks for leaf in _leaves(member)]


def _collect(hook: object, events: tuple[str, ...], base: type) -> dict[str, tuple[Target, ...]]:
    """Map each event to the hooks that override it, leaving out inherited no-ops."""
    targets: dict[str, list[Target]] = {event: [] for event in events}
    for leaf in _leaves(hook):
        for event in events:
            method = getattr(leaf, event, None)
            if not callable(method):
                continue
            if getattr(method, "__func__", None) is getattr(base, event):
                continue
            targets[event].append((leaf, method))
    return {event: tuple(found) for event, found in targets.items()}


@dataclass(frozen=True, slots=True)
class PipelineTargets:
    """The receivers of each pipeline event, found once when a hook is set."""

    pipeline_start: tuple[Target, ...] = ()
    pipeline_end: tuple[Target, ...] = ()
    read_start: tuple[Target, ...] = ()
    read_end: tuple[Target, ...] = ()
    step_start: tuple[Target, ...] = ()
    step_end: tuple[Target, ...] = ()
    write_start: tuple[Target, ...] = ()
    write_end: tuple[Target, ...] = ()

    @classmethod
    def of(cls, hook: object) -> PipelineTargets:
        """Return the receivers of each event among `hook` and, for `Hooks`, its members."""
        found = _collect(hook, PIPELINE_EVENTS, NoopPipelineHook)
        return cls(*(found[event] for event in PIPELINE_EVENTS))

    @property
    def per_step(self) -> bool:
        """Whether any hook receives step events, which forces the per-record hooked loop."""
        return bool(self.step_start or self.step_end)


@dataclass(frozen=True, slots=True)
class JobTargets:
    """The receivers of each job event, found once when a hook is set."""

    job_start: tuple[Target, ...] = ()
    job_end: tuple[Target, ...] = ()

    @classmethod
    def of(cls, hook: object) -> JobTargets:
        """Return the receivers of each event among `hook` and, for `Hooks`, its members."""
        found = _collect(hook, JOB_EVENTS, NoopJobHook)
        return cls(*(found[event] for event in JOB_EVENTS))


class Hooks:
    """A hook that passes every event to several hooks, in the order given.

    Members may be pipeline hooks, job hooks or both, and each receives only
    the events it overrides. An exception raised by one member is logged on the
    `millpond.etl.hooks` logger and the remaining members still get the event.
    Raises TypeError for a member that implements neither protocol.
    """

    __slots__ = ("_hooks", "_job", "_pipeline")

    def __init__(self, *hooks: PipelineHook | JobHook) -> None:
        for hook in hooks:
            _reject_class(hook)
            if (
                not isinstance(hook, Hooks)
                and _missing(hook, PIPELINE_EVENTS)
                and _missing(hook, JOB_EVENTS)
            ):
                raise TypeError(
                    f"Hooks() members must implement PipelineHook or JobHook, got "
                    f"{type(hook).__name__}: {hook!r}; subclass "
                    "millpond.etl.NoopPipelineHook or millpond.etl.NoopJobHook"
                )
        self._hooks: tuple[PipelineHook | JobHook, ...] = hooks
        self._pipeline = PipelineTargets.of(self)
        self._job = JobTargets.of(self)

    @property
    def hooks(self) -> tuple[PipelineHook | JobHook, ...]:
        """The member hooks, in dispatch order."""
        return self._hooks

    def __repr__(self) -> str:
        return f"Hooks({', '.join(map(repr, self._hooks))})"

    def on_pipeline_start(self, ctx: Context, info: PipelineInfo) -> None:
        call_hooks(self._pipeline.pipeline_start, "on_pipeline_start", ctx, info)

    def on_pipeline_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        call_hooks(self._pipeline.pipeline_end, "on_pipeline_end", ctx, info, error, duration)

    def on_read_start(self, ctx: Context, info: PipelineInfo) -> None:
        call_hooks(self._pipeline.read_start, "on_read_start", ctx, info)

    def on_read_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        records: int,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        call_hooks(self._pipeline.read_end, "on_read_end", ctx, info, records, error, duration)

    def on_step_start(self, ctx: Context, info: PipelineInfo, step: int) -> None:
        call_hooks(self._pipeline.step_start, "on_step_start", ctx, info, step)

    def on_step_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        step: int,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        call_hooks(self._pipeline.step_end, "on_step_end", ctx, info, step, error, duration)

    def on_write_start(self, ctx: Context, info: PipelineInfo, records: int) -> None:
        call_hooks(self._pipeline.write_start, "on_write_start", ctx, info, records)

    def on_write_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        call_hooks(self._pipeline.write_end, "on_write_end", ctx, info, error, duration)

    def on_job_start(self, ctx: Context, info: JobInfo) -> None:
        call_hooks(self._job.job_start, "on_job_start", ctx, info)

    def on_job_end(
        self,
        ctx: Context,
        info: JobInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        call_hooks(self._job.job_end, "on_job_end", ctx, info, error, duration)
