"""Cancelling runs from other threads, and deadlines that expire mid-run."""

from __future__ import annotations

import threading
import time

import pytest
from etl_support import RecordingHook, identity, numbers

from millpond.etl import Cancelled, Context, Pipeline

MODES = pytest.mark.parametrize("batch_size", [None, 2], ids=["in-memory", "streaming"])
WAIT = 5  # seconds; a bound for joins and handshakes, never slept


def run_in_thread(pipeline: Pipeline, ctx: Context) -> tuple[threading.Thread, list]:
    """Start `pipeline.run(ctx)` on a thread; its outcome lands in the returned list."""
    outcome: list = []

    def target() -> None:
        try:
            outcome.append(pipeline.run(ctx))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


@MODES
def test_cancel_while_reading(collector, batch_size):
    # The reader yields two records, signals, and blocks until cancelled. The
    # run must stop before the writer gets the records still to come.
    reading = threading.Event()

    def read(ctx):
        yield {"n": 0}
        yield {"n": 1}
        reading.set()
        ctx.sleep(WAIT)
        yield {"n": 2}
        yield {"n": 3}

    ctx = Context()
    pipeline = Pipeline("p").read(read).transform(identity).write(collector, batch_size=batch_size)
    thread, outcome = run_in_thread(pipeline, ctx)
    assert reading.wait(WAIT)
    started = time.monotonic()
    ctx.cancel()
    thread.join(WAIT)

    assert not thread.is_alive()
    assert time.monotonic() - started < WAIT / 2
    assert len(outcome) == 1
    assert isinstance(outcome[0], Cancelled)
    assert "was cancelled" in str(outcome[0])
    assert [len(batch) for batch in collector.batches] in ([], [2])


@MODES
def test_cancel_between_steps_stops_before_next_record(collector, batch_size):
    in_step = threading.Event()
    resume = threading.Event()
    seen: list[int] = []

    def step(ctx, record):
        seen.append(record["n"])
        if record["n"] == 3:
            in_step.set()
            resume.wait(WAIT)
        return record

    ctx = Context()
    pipeline = (
        Pipeline("p").read(numbers(100)).transform(step).write(collector, batch_size=batch_size)
    )
    thread, outcome = run_in_thread(pipeline, ctx)
    assert in_step.wait(WAIT)
    ctx.cancel()
    resume.set()
    thread.join(WAIT)

    assert not thread.is_alive()
    assert isinstance(outcome[0], Cancelled)
    assert seen == [0, 1, 2, 3]


def test_cancel_between_stages_skips_writer(collector):
    ctx = Context()

    def step(ctx_, record):
        if record["n"] == 4:
            ctx.cancel()
        return record

    # The last record is processed; the check before the write stage stops the run.
    pipeline = Pipeline("p").read(numbers(5)).transform(step).write(collector)
    with pytest.raises(Cancelled):
        pipeline.run(ctx)
    assert collector.batches == []


def test_cancel_after_reading_skips_steps(collector):
    ctx = Context()
    seen: list[int] = []

    def read(ctx_):
        yield {"n": 0}
        ctx.cancel()

    pipeline = (
        Pipeline("p").read(read).transform(lambda c, r: seen.append(1) or r).write(collector)
    )
    with pytest.raises(Cancelled):
        pipeline.run(ctx)
    assert seen == []


def test_streaming_cancel_skips_final_partial_batch(collector):
    ctx = Context()

    def read(ctx_):
        yield from ({"n": n} for n in range(5))
        ctx.cancel()

    pipeline = Pipeline("p").read(read).write(collector, batch_size=2)
    with pytest.raises(Cancelled):
        pipeline.run(ctx)
    assert [len(batch) for batch in collector.batches] == [2, 2]


@MODES
def test_parent_cancel_stops_run_on_child(collector, batch_size):
    reading = threading.Event()

    def read(ctx):
        reading.set()
        while not ctx.cancelled:
            yield {"n": 0}
            ctx.sleep(0.001)

    parent = Context()
    pipeline = Pipeline("p").read(read).write(collector, batch_size=batch_size)
    thread, outcome = run_in_thread(pipeline, parent.with_cancel().with_timeout(60))
    assert reading.wait(WAIT)
    parent.cancel()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert isinstance(outcome[0], Cancelled)


@MODES
def test_deadline_stops_endless_reader(collector, batch_size):
    def endless(ctx):
        n = 0
        while True:
            yield {"n": n}
            n += 1

    ctx = Context().with_timeout(0.05)
    pipeline = (
        Pipeline("p").read(endless).transform(identity).write(collector, batch_size=batch_size)
    )
    started = time.monotonic()
    with pytest.raises(Cancelled, match="timed out"):
        pipeline.run(ctx)
    assert time.monotonic() - started < WAIT


def test_deadline_interrupts_sleeping_step(collector):
    def slow(ctx, record):
        ctx.sleep(WAIT)
        return record

    pipeline = Pipeline("p").read(numbers(3)).transform(slow).write(collector)
    started = time.monotonic()
    with pytest.raises(Cancelled, match="timed out"):
        pipeline.run(Context().with_timeout(0.05))
    assert time.monotonic() - started < WAIT / 2
    assert collector.batches == []


def test_cancelled_streaming_events_end_read(collector):
    recorder = RecordingHook()
    ctx = Context()

    def read(ctx_):
        yield {"n": 0}
        ctx.cancel()
        yield {"n": 1}

    pipeline = Pipeline("p").read(read).write(collector, batch_size=5).hook(recorder)
    with pytest.raises(Cancelled):
        pipeline.run(ctx)
    assert recorder.events == [
        ("pipeline_start",),
        ("read_start",),
        ("read_end", 2, "Cancelled"),
        ("pipeline_end", "Cancelled"),
    ]


def test_concurrent_runs_of_one_pipeline_are_independent():
    # Two threads run the same pipeline; cancelling one run leaves the other alone.
    started = threading.Barrier(2)
    batches: dict[str, list[int]] = {}
    lock = threading.Lock()

    def read(ctx):
        started.wait(WAIT)
        for n in range(200):
            ctx.sleep(0.0005)
            yield {"n": n}

    def write(ctx, records):
        with lock:
            batches[ctx.run_id] = [r["n"] for r in records]

    pipeline = Pipeline("p").read(read).transform(identity).write(write)
    cancelled_ctx, kept_ctx = Context(run_id="cancelled"), Context(run_id="kept")
    first, first_outcome = run_in_thread(pipeline, cancelled_ctx)
    second, second_outcome = run_in_thread(pipeline, kept_ctx)
    cancelled_ctx.cancel()
    first.join(WAIT)
    second.join(WAIT)

    assert isinstance(first_outcome[0], Cancelled)
    assert second_outcome[0].written == 200
    assert batches == {"kept": list(range(200))}
