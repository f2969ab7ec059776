"""Execute one pipeline run: stages, hook events, cancellation checks, error wrapping."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from millpond.etl._dispatch import PipelineTargets, call_hooks
from millpond.etl._errors import not_iterable, read_failed, single_value, write_failed
from millpond.etl._loops import compiled_loop

if TYPE_CHECKING:
    from millpond.etl._context import Context
    from millpond.etl._hooks import PipelineInfo
    from millpond.etl._loops import StepEmitters
    from millpond.etl._types import Reader, Record, Writer

__all__ = ["RunPlan", "RunStats", "execute"]

logger = logging.getLogger("millpond.etl")


@dataclass(frozen=True, slots=True)
class RunStats:
    """Counts and duration of a successful run.

    `dropped` counts the records that a filter removed, so `read == written + dropped`.
    """

    read: int
    written: int
    dropped: int
    duration: timedelta


@dataclass(frozen=True, slots=True)
class RunPlan:
    """An immutable snapshot of a pipeline, taken when a run starts."""

    info: PipelineInfo
    reader: Reader
    steps: tuple[Callable[..., Any], ...]
    kinds: tuple[bool, ...]
    writer: Writer
    batch_size: int | None
    hooks: PipelineTargets


def _seconds_since(started: float) -> timedelta:
    return timedelta(seconds=time.perf_counter() - started)


def execute(plan: RunPlan, ctx: Context) -> RunStats:
    """Run `plan` under `ctx`; raise the wrapped error of the first stage that fails."""
    hooks = plan.hooks
    started = time.perf_counter()
    if hooks.pipeline_start:
        call_hooks(hooks.pipeline_start, "on_pipeline_start", ctx, plan.info)

    try:
        if plan.batch_size is None:
            read, written = _run_in_memory(plan, ctx)
        else:
            read, written = _run_streaming(plan, ctx, plan.batch_size)
    except BaseException as error:
        if hooks.pipeline_end:
            duration = _seconds_since(started)
            call_hooks(hooks.pipeline_end, "on_pipeline_end", ctx, plan.info, error, duration)
        raise

    duration = _seconds_since(started)
    if hooks.pipeline_end:
        call_hooks(hooks.pipeline_end, "on_pipeline_end", ctx, plan.info, None, duration)
    return RunStats(read=read, written=written, dropped=read - written, duration=duration)


def _run_in_memory(plan: RunPlan, ctx: Context) -> tuple[int, int]:
    """Read every record, then apply the steps, then call the writer once."""
    ctx.raise_if_cancelled()
    records = _read_all(plan, ctx)

    ctx.raise_if_cancelled()
    kept = _apply_steps(plan, ctx, records) if plan.steps else records

    ctx.raise_if_cancelled()
    _write(plan, ctx, kept)
    return len(records), len(kept)


def _run_streaming(plan: RunPlan, ctx: Context, batch_size: int) -> tuple[int, int]:
    """Pull records one at a time and write every `batch_size` kept records.

    The read stage stays open while steps and writes run, so a failure in any
    of them also ends the read stage, with the same error.
    """
    hooks = plan.hooks
    ctx.raise_if_cancelled()
    if hooks.read_start:
        call_hooks(hooks.read_start, "on_read_start", ctx, plan.info)
    started = time.perf_counter()

    sink = _BatchSink(plan, ctx)
    iterator: Iterator[Record] | None = None
    read = 0
    try:
        iterator = _open_reader(plan.reader, ctx)
        loop = compiled_loop(plan.kinds, mode="stream", hooked=hooks.per_step)
        read, batch, failure = loop(
            ctx, iterator, plan.steps, _emitters(plan), batch_size, sink.flush
        )
        if failure is not None:
            raise failure  # noqa: TRY301 (the handler below ends the read stage for every error)
    except BaseException as error:
        _close_quietly(iterator)
        _end_read(plan, ctx, read, error, started)
        raise
    _end_read(plan, ctx, read, None, started)

    # The writer is called at least once, with [] when no record was kept.
    ctx.raise_if_cancelled()
    if batch or sink.batches == 0:
        sink.flush(batch)
    return read, sink.written


def _read_all(plan: RunPlan, ctx: Context) -> list[Record]:
    """Run the read stage in memory: drain the reader into a list of dicts."""
    hooks = plan.hooks
    if hooks.read_start:
        call_hooks(hooks.read_start, "on_read_start", ctx, plan.info)
    started = time.perf_counter()

    records: list[Record] = []
    iterator: Iterator[Record] | None = None
    try:
        iterator = _open_reader(plan.reader, ctx)
        drain = compiled_loop((), mode="drain", hooked=False)
        _, records, failure = drain(ctx, iterator, (), None, 0, None)
        if failure is not None:
            raise failure  # noqa: TRY301 (the handler below ends the read stage for every error)
    except BaseException as error:
        _close_quietly(iterator)
        _end_read(plan, ctx, len(records), error, started)
        raise
    _end_read(plan, ctx, len(records), None, started)
    return records


def _end_read(
    plan: RunPlan, ctx: Context, records: int, error: BaseException | None, started: float
) -> None:
    if plan.hooks.read_end:
        duration = _seconds_since(started)
        call_hooks(plan.hooks.read_end, "on_read_end", ctx, plan.info, records, error, duration)


def _open_reader(reader: Reader, ctx: Context) -> Iterator[Record]:
    """Call the reader and return an iterator over its result; raise ReadError on failure."""
    try:
        result = reader(ctx)
    except BaseException as error:
        wrapped = read_failed(error)
        if wrapped is error:
            raise
        raise wrapped from error

    # These are iterable, but over keys or characters, never records.
    if isinstance(result, (dict, str, bytes, bytearray)):
        raise single_value(result)
    try:
        return iter(result)
    except TypeError as error:
        raise not_iterable(result) from error
    except BaseException as error:
        wrapped = read_failed(error)
        if wrapped is error:
            raise
        raise wrapped from error


def _apply_steps(plan: RunPlan, ctx: Context, records: list[Record]) -> list[Record]:
    """Run the steps over records already in memory; return the kept ones."""
    loop = compiled_loop(plan.kinds, mode="steps", hooked=plan.hooks.per_step)
    _, kept, failure = loop(ctx, records, plan.steps, _emitters(plan), 0, None)
    if failure is not None:
        raise failure
    return kept


def _emitters(plan: RunPlan) -> StepEmitters | None:
    hooks = plan.hooks
    if not hooks.per_step:
        return None

    def emit_start(*args: object) -> None:
        call_hooks(hooks.step_start, "on_step_start", *args)

    def emit_end(*args: object) -> None:
        call_hooks(hooks.step_end, "on_step_end", *args)

    return emit_start, emit_end, plan.info


def _write(plan: RunPlan, ctx: Context, records: list[Record]) -> None:
    """Run one write stage; raise WriteError if the writer fails."""
    hooks = plan.hooks
    if hooks.write_start:
        call_hooks(hooks.write_start, "on_write_start", ctx, plan.info, len(records))
    started = time.perf_counter()

    try:
        plan.writer(ctx, records)
    except BaseException as error:
        wrapped = write_failed(error)
        if hooks.write_end:
            duration = _seconds_since(started)
            call_hooks(hooks.write_end, "on_write_end", ctx, plan.info, wrapped, duration)
        if wrapped is error:
            raise
        raise wrapped from error

    if hooks.write_end:
        duration = _seconds_since(started)
        call_hooks(hooks.write_end, "on_write_end", ctx, plan.info, None, duration)


class _BatchSink:
    """Write the batches of a streaming run and count what was written."""

    __slots__ = ("batches", "ctx", "plan", "written")

    def __init__(self, plan: RunPlan, ctx: Context) -> None:
        self.plan = plan
        self.ctx = ctx
        self.batches = 0
        self.written = 0

    def flush(self, batch: list[Record]) -> None:
        self.batches += 1
        _write(self.plan, self.ctx, batch)
        self.written += len(batch)


def _close_quietly(iterator: Iterator[Record] | None) -> None:
    """Close a reader's generator that stopped early, so its `finally` blocks run."""
    close = getattr(iterator, "close", None)
    if not callable(close):
        return
    try:
        close()
    except Exception:
        # The run already fails with the error that stopped reading; that one is raised.
        logger.debug("closing the reader's iterator failed", exc_info=True)
