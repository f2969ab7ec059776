"""`LoggingHook`: report runs through the standard `logging` module."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from millpond.etl._errors import describe
from millpond.etl._hooks import NoopJobHook, NoopPipelineHook

if TYPE_CHECKING:
    from datetime import timedelta

    from millpond.etl._context import Context
    from millpond.etl._hooks import JobInfo, PipelineInfo

__all__ = ["LoggingHook"]


class LoggingHook(NoopPipelineHook, NoopJobHook):
    """Log the start and end of pipeline runs, reads, writes and jobs.

    Usable as a pipeline hook and as a job hook. Successful events are logged
    at `level` and failed ones at `error_level`, on `logger` (default: the
    `millpond.etl` logger). Step events are not logged, so this hook keeps
    the loop without per-record hook calls.
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        *,
        level: int = logging.INFO,
        error_level: int = logging.ERROR,
    ) -> None:
        if logger is not None and not isinstance(logger, logging.Logger):
            raise TypeError(
                f"logger must be a logging.Logger or None, got {type(logger).__name__}: "
                f"{logger!r}; use logging.getLogger(name)"
            )
        for name, value in (("level", level), ("error_level", error_level)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"{name} must be an int such as logging.INFO, "
                    f"got {type(value).__name__}: {value!r}"
                )
        self.logger = logger if logger is not None else logging.getLogger("millpond.etl")
        self.level = level
        self.error_level = error_level

    def __repr__(self) -> str:
        return (
            f"LoggingHook(logger={self.logger.name!r}, "
            f"level={logging.getLevelName(self.level)}, "
            f"error_level={logging.getLevelName(self.error_level)})"
        )

    def on_pipeline_start(self, ctx: Context, info: PipelineInfo) -> None:
        self.logger.log(self.level, "pipeline %r started (run %s)", info.pipeline_name, ctx.run_id)

    def on_pipeline_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        seconds = duration.total_seconds()
        if error is None:
            self.logger.log(
                self.level,
                "pipeline %r succeeded in %.3f s (run %s)",
                info.pipeline_name,
                seconds,
                ctx.run_id,
            )
            return
        self.logger.log(
            self.error_level,
            "pipeline %r failed after %.3f s (run %s): %s",
            info.pipeline_name,
            seconds,
            ctx.run_id,
            describe(error),
        )

    def on_read_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        records: int,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        seconds = duration.total_seconds()
        if error is None:
            self.logger.log(
                self.level,
                "pipeline %r read %d records in %.3f s (run %s)",
                info.pipeline_name,
                records,
                seconds,
                ctx.run_id,
            )
            return
        self.logger.log(
            self.error_level,
            "pipeline %r stopped reading after %d records (run %s): %s",
            info.pipeline_name,
            records,
            ctx.run_id,
            describe(error),
        )

    def on_write_start(self, ctx: Context, info: PipelineInfo, records: int) -> None:
        self.logger.log(
            self.level,
            "pipeline %r writing %d record(s) (run %s)",
            info.pipeline_name,
            records,
            ctx.run_id,
        )

    def on_write_end(
        self,
        ctx: Context,
        info: PipelineInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        seconds = duration.total_seconds()
        if error is None:
            self.logger.log(
                self.level,
                "pipeline %r wrote in %.3f s (run %s)",
                info.pipeline_name,
                seconds,
                ctx.run_id,
            )
            return
        self.logger.log(
            self.error_level,
            "pipeline %r write failed after %.3f s (run %s): %s",
            info.pipeline_name,
            seconds,
            ctx.run_id,
            describe(error),
        )

    def on_job_start(self, ctx: Context, info: JobInfo) -> None:
        self.logger.log(
            self.level,
            "job %s of pipeline %r started (run %s)",
            info.job_id,
            info.pipeline_name,
            ctx.run_id,
        )

    def on_job_end(
        self,
        ctx: Context,
        info: JobInfo,
        error: BaseException | None,
        duration: timedelta,
    ) -> None:
        seconds = duration.total_seconds()
        if error is None:
            self.logger.log(
                self.level,
                "job %s of pipeline %r succeeded in %.3f s (run %s)",
                info.job_id,
                info.pipeline_name,
                seconds,
                ctx.run_id,
            )
            return
        self.logger.log(
            self.error_level,
            "job %s of pipeline %r failed after %.3f s (run %s): %s",
            info.job_id,
            info.pipeline_name,
            seconds,
            ctx.run_id,
            describe(error),
        )
