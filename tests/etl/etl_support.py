"""Shared by the etl tests: a hook that records every event, and small callbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from millpond.etl import (
    Context,
    JobInfo,
    NoopJobHook,
    NoopPipelineHook,
    Pipeline,
    PipelineInfo,
    Record,
)


def _error_name(error: BaseException | None) -> str | None:
    return None if error is None else type(error).__name__


class RecordingHook(NoopPipelineHook, NoopJobHook):
    """Store each event as a tuple, with errors reduced to their type name."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.errors: list[BaseException] = []
        self.durations: list[timedelta] = []
        self.contexts: list[Context] = []
        self.infos: list[PipelineInfo | JobInfo] = []

    def _end(self, error: BaseException | None, duration: timedelta) -> str | None:
        if error is not None:
            self.errors.append(error)
        self.durations.append(duration)
        return _error_name(error)

    def _seen(self, ctx: Context, info: PipelineInfo | JobInfo) -> None:
        self.contexts.append(ctx)
        self.infos.append(info)

    def on_pipeline_start(self, ctx, info):
        self._seen(ctx, info)
        self.events.append(("pipeline_start",))

    def on_pipeline_end(self, ctx, info, error, duration):
        self._seen(ctx, info)
        self.events.append(("pipeline_end", self._end(error, duration)))

    def on_read_start(self, ctx, info):
        self._seen(ctx, info)
        self.events.append(("read_start",))

    def on_read_end(self, ctx, info, records, error, duration):
        self._seen(ctx, info)
        self.events.append(("read_end", records, self._end(error, duration)))

    def on_step_start(self, ctx, info, step):
        self._seen(ctx, info)
        self.events.append(("step_start", step))

    def on_step_end(self, ctx, info, step, error, duration):
        self._seen(ctx, info)
        self.events.append(("step_end", step, self._end(error, duration)))

    def on_write_start(self, ctx, info, records):
        self._seen(ctx, info)
        self.events.append(("write_start", records))

    def on_write_end(self, ctx, info, error, duration):
        self._seen(ctx, info)
        self.events.append(("write_end", self._end(error, duration)))

    def on_job_start(self, ctx, info):
        self._seen(ctx, info)
        self.events.append(("job_start",))

    def on_job_end(self, ctx, info, error, duration):
        self._seen(ctx, info)
        self.events.append(("job_end", self._end(error, duration)))


class Collector:
    """A writer that keeps every batch it is given."""

    def __init__(self) -> None:
        self.batches: list[list[Record]] = []

    def __call__(self, ctx: Context, records: list[Record]) -> None:
        self.batches.append(list(records))

    @property
    def records(self) -> list[Record]:
        return [record for batch in self.batches for record in batch]


def reader_of(*records: Record) -> Callable[[Context], Iterator[Record]]:
    """Return a generator reader that yields copies of `records`."""

    def read(ctx: Context) -> Iterator[Record]:
        for record in records:
            yield dict(record)

    return read


def numbers(count: int) -> Callable[[Context], Iterator[Record]]:
    """Return a generator reader of `{"n": 0}` ... `{"n": count - 1}`."""

    def read(ctx: Context) -> Iterator[Record]:
        for n in range(count):
            yield {"n": n}

    return read


def identity(ctx: Context, record: Record) -> Record:
    return record


def simple_pipeline(collector: Collector, count: int = 3) -> Pipeline:
    """Return a pipeline reading `count` numbers, with one transform, into `collector`."""
    return (
        Pipeline("simple")
        .read(numbers(count))
        .transform(lambda ctx, r: {**r, "double": r["n"] * 2})
        .write(collector)
    )
