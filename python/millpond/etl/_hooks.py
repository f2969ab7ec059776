"""Hook protocols, their no-op base classes and the event payloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from datetime import timedelta

    from millpond.etl._context import Context

__all__ = [
    "JobHook",
    "JobInfo",
    "NoopJobHook",
    "NoopPipelineHook",
    "PipelineHook",
    "PipelineInfo",
]


@dataclass(frozen=True, slots=True)
class PipelineInfo:
    """The pipeline a hook event belongs to."""

    pipeline_name: str


@dataclass(frozen=True, slots=True)
class JobInfo:
    """The job a hook event belongs to."""

    job_id: str
    pipeline_name: str


@runtime_checkable
class PipelineHook(Protocol):
    """Receives the events of a pipeline run, on the thread that runs it.

    Every start event is followed by its end event, which carries the error
    that ended the stage (None on success) and the stage's duration. `step`
    is the zero-based position of a transform or filter, and `records` is a
    count of records.
    """

    def on_pipeline_start(self, ctx: Context, info: PipelineInfo) -> None: ...

    def on_pipeline_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None: ...

    def on_read_start(self, ctx: Context, info: PipelineInfo) -> None: ...

    def on_read_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        records: int,
        error: BaseException | None,
        duration: timedelta,
    ) -> None: ...

    def on_step_start(self, ctx: Context, info: PipelineInfo, step: int) -> None: ...

    def on_step_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        step: int,
        error: BaseException | None,
        duration: timedelta,
    ) -> None: ...

    def on_write_start(self, ctx: Context, info: PipelineInfo, records: int) -> None: ...

    def on_write_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None: ...


@runtime_checkable
class JobHook(Protocol):
    """Receives the start and end of a job run, on the thread that runs it."""

    def on_job_start(self, ctx: Context, info: JobInfo) -> None: ...

    def on_job_end(
        self,
        ctx: Context,
        info: JobInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None: ...


class NoopPipelineHook:
    """A pipeline hook that ignores every event; subclass it and override what you need.

    Events left as inherited are never dispatched, so a run whose hooks do not
    override `on_step_start` or `on_step_end` keeps the loop without per-record
    hook calls or clock reads.
    """

    def on_pipeline_start(self, ctx: Context, info: PipelineInfo) -> None:
        pass

    def on_pipeline_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        pass

    def on_read_start(self, ctx: Context, info: PipelineInfo) -> None:
        pass

    def on_read_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        records: int,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        pass

    def on_step_start(self, ctx: Context, info: PipelineInfo, step: int) -> None:
        pass

    def on_step_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        step: int,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        pass

    def on_write_start(self, ctx: Context, info: PipelineInfo, records: int) -> None:
        pass

    def on_write_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        pass


class NoopJobHook:
    """A job hook that ignores both events; subclass it and override what you need."""

    def on_job_start(self, ctx: Context, info: JobInfo) -> None:
        pass

    def on_job_end(
        self,
        ctx: Context,
        info: JobInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        pass
