"""Hooks: event order, fan-out, failure isolation, logging and the no-op fast path."""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import timedelta

import pytest
from etl_support import Collector, RecordingHook, identity, numbers

from millpond.etl import (
    Cancelled,
    Context,
    Hooks,
    JobInfo,
    LoggingHook,
    NoopJobHook,
    NoopPipelineHook,
    Pipeline,
    PipelineError,
    PipelineHook,
    PipelineInfo,
    _loops,
    _run,
)


def fail(*args):
    raise OSError("boom")


def test_order_for_one_record_and_one_step(recorder, collector):
    Pipeline("p").read(numbers(1)).transform(identity).write(collector).hook(recorder).run()
    assert recorder.events == [
        ("pipeline_start",),
        ("read_start",),
        ("read_end", 1, None),
        ("step_start", 0),
        ("step_end", 0, None),
        ("write_start", 1),
        ("write_end", None),
        ("pipeline_end", None),
    ]


def test_step_events_fire_per_record_and_step(recorder, collector):
    pipeline = (
        Pipeline("p")
        .read(numbers(2))
        .transform(identity)
        .filter(lambda ctx, r: r["n"] == 1)
        .transform(identity)
        .write(collector)
        .hook(recorder)
    )
    pipeline.run()
    steps = [event for event in recorder.events if event[0].startswith("step")]
    assert steps == [
        ("step_start", 0),
        ("step_end", 0, None),
        ("step_start", 1),
        ("step_end", 1, None),
        ("step_start", 0),
        ("step_end", 0, None),
        ("step_start", 1),
        ("step_end", 1, None),
        ("step_start", 2),
        ("step_end", 2, None),
    ]


def test_read_failure_events(recorder, collector):
    pipeline = Pipeline("p").read(fail).transform(identity).write(collector).hook(recorder)
    with pytest.raises(PipelineError):
        pipeline.run()
    assert recorder.events == [
        ("pipeline_start",),
        ("read_start",),
        ("read_end", 0, "ReadError"),
        ("pipeline_end", "ReadError"),
    ]


def test_read_failure_counts_records_before_it(recorder, collector):
    def read(ctx):
        yield {"n": 0}
        yield {"n": 1}
        raise OSError("boom")

    pipeline = Pipeline("p").read(read).write(collector).hook(recorder)
    with pytest.raises(PipelineError):
        pipeline.run()
    assert ("read_end", 2, "ReadError") in recorder.events


def test_step_failure_events(recorder, collector):
    pipeline = Pipeline("p").read(numbers(1)).transform(identity).transform(fail).write(collector)
    pipeline.hook(recorder)
    with pytest.raises(PipelineError):
        pipeline.run()
    assert recorder.events == [
        ("pipeline_start",),
        ("read_start",),
        ("read_end", 1, None),
        ("step_start", 0),
        ("step_end", 0, None),
        ("step_start", 1),
        ("step_end", 1, "StepError"),
        ("pipeline_end", "StepError"),
    ]


def test_bad_transform_result_events(recorder, collector):
    pipeline = Pipeline("p").read(numbers(1)).transform(lambda ctx, r: None).write(collector)
    with pytest.raises(PipelineError):
        pipeline.hook(recorder).run()
    assert recorder.events[-2:] == [("step_end", 0, "StepError"), ("pipeline_end", "StepError")]


def test_write_failure_events(recorder):
    pipeline = Pipeline("p").read(numbers(1)).transform(identity).write(fail).hook(recorder)
    with pytest.raises(PipelineError):
        pipeline.run()
    assert recorder.events == [
        ("pipeline_start",),
        ("read_start",),
        ("read_end", 1, None),
        ("step_start", 0),
        ("step_end", 0, None),
        ("write_start", 1),
        ("write_end", "WriteError"),
        ("pipeline_end", "WriteError"),
    ]


def test_end_events_carry_the_raised_error(recorder):
    pipeline = Pipeline("p").read(numbers(1)).write(fail).hook(recorder)
    with pytest.raises(PipelineError) as caught:
        pipeline.run()
    assert recorder.errors == [caught.value, caught.value]


def test_cancelled_before_start_events(recorder, collector):
    ctx = Context()
    ctx.cancel()
    pipeline = Pipeline("p").read(numbers(1)).write(collector).hook(recorder)
    with pytest.raises(Cancelled):
        pipeline.run(ctx)
    assert recorder.events == [("pipeline_start",), ("pipeline_end", "Cancelled")]


def test_streaming_order(recorder, collector):
    pipeline = (
        Pipeline("p")
        .read(numbers(3))
        .transform(identity)
        .write(collector, batch_size=2)
        .hook(recorder)
    )
    pipeline.run()
    assert recorder.events == [
        ("pipeline_start",),
        ("read_start",),
        ("step_start", 0),
        ("step_end", 0, None),
        ("step_start", 0),
        ("step_end", 0, None),
        ("write_start", 2),
        ("write_end", None),
        ("step_start", 0),
        ("step_end", 0, None),
        ("read_end", 3, None),
        ("write_start", 1),
        ("write_end", None),
        ("pipeline_end", None),
    ]


def test_streaming_empty_input_events(recorder, collector):
    Pipeline("p").read(numbers(0)).write(collector, batch_size=2).hook(recorder).run()
    assert recorder.events == [
        ("pipeline_start",),
        ("read_start",),
        ("read_end", 0, None),
        ("write_start", 0),
        ("write_end", None),
        ("pipeline_end", None),
    ]


def test_streaming_step_failure_also_ends_read(recorder, collector):
    pipeline = (
        Pipeline("p")
        .read(numbers(5))
        .transform(lambda ctx, r: r if r["n"] < 2 else fail())
        .write(collector, batch_size=10)
        .hook(recorder)
    )
    with pytest.raises(PipelineError):
        pipeline.run()
    assert recorder.events[-3:] == [
        ("step_end", 0, "StepError"),
        ("read_end", 3, "StepError"),
        ("pipeline_end", "StepError"),
    ]


def test_streaming_write_failure_also_ends_read(recorder):
    pipeline = Pipeline("p").read(numbers(5)).write(fail, batch_size=2).hook(recorder)
    with pytest.raises(PipelineError):
        pipeline.run()
    assert recorder.events == [
        ("pipeline_start",),
        ("read_start",),
        ("write_start", 2),
        ("write_end", "WriteError"),
        ("read_end", 2, "WriteError"),
        ("pipeline_end", "WriteError"),
    ]


def test_streaming_final_write_failure(recorder):
    pipeline = Pipeline("p").read(numbers(1)).write(fail, batch_size=2).hook(recorder)
    with pytest.raises(PipelineError):
        pipeline.run()
    assert recorder.events[-4:] == [
        ("read_end", 1, None),
        ("write_start", 1),
        ("write_end", "WriteError"),
        ("pipeline_end", "WriteError"),
    ]


def test_hooks_get_context_info_and_durations(recorder, collector):
    ctx = Context(run_id="r1")
    Pipeline("orders").read(numbers(2)).transform(identity).write(collector).hook(recorder).run(
        ctx
    )
    assert all(seen is ctx for seen in recorder.contexts)
    assert set(recorder.infos) == {PipelineInfo("orders")}
    assert recorder.durations
    assert all(isinstance(d, timedelta) and d >= timedelta(0) for d in recorder.durations)


def test_info_classes_are_frozen():
    info = PipelineInfo("p")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.pipeline_name = "q"  # type: ignore[misc]
    job_info = JobInfo("id", "p")
    assert (job_info.job_id, job_info.pipeline_name) == ("id", "p")
    with pytest.raises(dataclasses.FrozenInstanceError):
        job_info.job_id = "other"  # type: ignore[misc]


def test_hook_none_restores_noop(recorder, collector):
    pipeline = Pipeline("p").read(numbers(1)).write(collector).hook(recorder).hook(None)
    pipeline.run()
    assert recorder.events == []


def test_hook_replaces_earlier_hook(collector):
    first, second = RecordingHook(), RecordingHook()
    Pipeline("p").read(numbers(1)).write(collector).hook(first).hook(second).run()
    assert first.events == []
    assert second.events[0] == ("pipeline_start",)


def test_noop_hooks_satisfy_protocols():
    assert isinstance(NoopPipelineHook(), PipelineHook)
    assert isinstance(LoggingHook(), PipelineHook)
    assert isinstance(Hooks(), PipelineHook)


@pytest.mark.parametrize("hook", [object(), NoopJobHook(), 42])
def test_pipeline_hook_rejects_non_pipeline_hooks(hook):
    with pytest.raises(TypeError, match="hook must implement PipelineHook"):
        Pipeline("p").hook(hook)


def test_hook_class_instead_of_instance_rejected():
    with pytest.raises(TypeError, match=r"got the class LoggingHook; pass LoggingHook\(\)"):
        Pipeline("p").hook(LoggingHook)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got the class RecordingHook"):
        Hooks(RecordingHook)  # type: ignore[arg-type]


def test_pipeline_hook_error_lists_missing_methods():
    class Partial:
        def on_pipeline_start(self, ctx, info):
            pass

    with pytest.raises(TypeError, match=r"on_pipeline_end.*NoopPipelineHook"):
        Pipeline("p").hook(Partial())


def test_duck_typed_hook_receives_events(collector):
    class Duck:
        def __init__(self):
            self.ends = 0

        def __getattr__(self, name):
            if name.startswith("on_"):
                return lambda *args: None
            raise AttributeError(name)

        def on_pipeline_end(self, ctx, info, error, duration):
            self.ends += 1

    duck = Duck()
    Pipeline("p").read(numbers(1)).write(collector).hook(duck).run()
    assert duck.ends == 1


def test_hooks_fan_out_in_order(collector):
    calls: list[str] = []

    class Named(NoopPipelineHook):
        def __init__(self, name):
            self.name = name

        def on_pipeline_start(self, ctx, info):
            calls.append(self.name)

    Pipeline("p").read(numbers(1)).write(collector).hook(Hooks(Named("a"), Named("b"))).run()
    assert calls == ["a", "b"]


def test_nested_hooks_reach_every_member(collector):
    first, second, third = RecordingHook(), RecordingHook(), RecordingHook()
    hooks = Hooks(first, Hooks(second, Hooks(third)))
    Pipeline("p").read(numbers(1)).transform(identity).write(collector).hook(hooks).run()
    assert first.events == second.events == third.events
    assert len(first.events) == 8


def test_hooks_accept_job_only_members(recorder, collector):
    hooks = Hooks(NoopJobHook(), recorder)
    Pipeline("p").read(numbers(1)).write(collector).hook(hooks).run()
    assert recorder.events[0] == ("pipeline_start",)


def test_hooks_reject_non_hook_members():
    with pytest.raises(TypeError, match="Hooks\\(\\) members must implement"):
        Hooks(NoopPipelineHook(), object())


def test_hooks_exposes_members():
    first, second = NoopPipelineHook(), NoopJobHook()
    assert Hooks(first, second).hooks == (first, second)


class Exploding(NoopPipelineHook, NoopJobHook):
    """Raise from every event."""

    def _boom(self, *args):
        raise RuntimeError("hook bug")

    on_pipeline_start = on_pipeline_end = on_read_start = on_read_end = _boom
    on_step_start = on_step_end = on_write_start = on_write_end = _boom
    on_job_start = on_job_end = _boom


def test_raising_hook_is_logged_and_ignored(caplog, collector):
    pipeline = Pipeline("p").read(numbers(2)).transform(identity).write(collector)
    with caplog.at_level(logging.ERROR, logger="millpond"):
        stats = pipeline.hook(Exploding()).run()
    assert stats.written == 2
    assert collector.records == [{"n": 0}, {"n": 1}]
    failures = [r for r in caplog.records if r.name == "millpond.etl.hooks"]
    assert len(failures) == 2 + 2 + 2 * 2 * 1 + 2
    assert all(r.levelno == logging.ERROR and r.exc_info for r in failures)
    messages = [r.getMessage() for r in failures]
    expected = (
        f"hook {__name__}.Exploding raised in on_pipeline_start; the run continues without it"
    )
    assert expected in messages
    assert any("on_step_end" in m for m in messages)


def test_raising_hook_does_not_replace_run_error(caplog):
    pipeline = Pipeline("p").read(numbers(1)).write(fail).hook(Exploding())
    with caplog.at_level(logging.ERROR, logger="millpond"), pytest.raises(PipelineError) as caught:
        pipeline.run()
    assert str(caught.value) == "write failed: OSError: boom"


def test_raising_member_does_not_stop_other_members(caplog, recorder, collector):
    with caplog.at_level(logging.ERROR, logger="millpond"):
        Pipeline("p").read(numbers(1)).write(collector).hook(Hooks(Exploding(), recorder)).run()
    assert len(recorder.events) == 6
    assert caplog.records


def test_logging_hook_logs_run(caplog, collector):
    pipeline = Pipeline("orders").read(numbers(3)).write(collector).hook(LoggingHook())
    with caplog.at_level(logging.INFO, logger="millpond.etl"):
        pipeline.run(Context(run_id="r1"))
    records = [r for r in caplog.records if r.name == "millpond.etl"]
    messages = [r.getMessage() for r in records]
    assert messages[0] == "pipeline 'orders' started (run r1)"
    assert any(m.startswith("pipeline 'orders' read 3 records") for m in messages)
    assert any(m.startswith("pipeline 'orders' succeeded in") for m in messages)
    assert all(r.levelno == logging.INFO for r in records)


def test_logging_hook_logs_failure_at_error_level(caplog):
    pipeline = Pipeline("orders").read(numbers(1)).write(fail).hook(LoggingHook())
    with caplog.at_level(logging.INFO, logger="millpond.etl"), pytest.raises(PipelineError):
        pipeline.run()
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("write failed: OSError: boom" in r.getMessage() for r in failures)
    assert any(r.getMessage().startswith("pipeline 'orders' failed after") for r in failures)


def test_logging_hook_custom_logger_and_levels(caplog, collector):
    logger = logging.getLogger("test.etl.custom")
    hook = LoggingHook(logger, level=logging.DEBUG, error_level=logging.WARNING)
    with caplog.at_level(logging.DEBUG, logger="test.etl.custom"):
        Pipeline("p").read(numbers(1)).write(collector).hook(hook).run()
    assert caplog.records
    assert {r.name for r in caplog.records} == {"test.etl.custom"}
    assert {r.levelno for r in caplog.records} == {logging.DEBUG}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"logger": "millpond"}, "logger must be"), ({"level": "INFO"}, "level must be")],
)
def test_logging_hook_rejects_bad_arguments(kwargs, match):
    with pytest.raises(TypeError, match=match):
        LoggingHook(**kwargs)


def test_library_logs_nothing_above_debug(caplog, collector):
    with caplog.at_level(logging.DEBUG, logger="millpond"):
        Pipeline("p").read(numbers(3)).transform(identity).write(collector).run()
        with pytest.raises(PipelineError):
            Pipeline("p").read(numbers(3)).transform(fail).write(collector, batch_size=1).run()
    assert all(r.levelno <= logging.DEBUG for r in caplog.records)


# The fast path: with hooks that override no step event, a run's clock reads
# and hook dispatches must not grow with the number of records.


class Counter:
    def __init__(self, function):
        self.function = function
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.function()


@pytest.fixture
def clock_reads(monkeypatch):
    """Count the calls of time.perf_counter and time.monotonic made by runs."""
    perf_counter = Counter(time.perf_counter)
    monotonic = Counter(time.monotonic)
    monkeypatch.setattr(time, "perf_counter", perf_counter)
    monkeypatch.setattr(time, "monotonic", monotonic)
    monkeypatch.setitem(_loops._NAMESPACE, "_perf_counter", perf_counter)
    _loops.compiled_loop.cache_clear()
    yield lambda: perf_counter.calls + monotonic.calls
    _loops.compiled_loop.cache_clear()


@pytest.fixture
def dispatches(monkeypatch):
    """Count the hook dispatches made by runs."""
    counter = Counter(lambda: None)

    def counting(targets, event, *args):
        counter()
        original(targets, event, *args)

    original = _run.call_hooks
    monkeypatch.setattr(_run, "call_hooks", counting)
    return lambda: counter.calls


def cost_of(count, hook, measure, batch_size=None, ctx=None):
    before = measure()
    pipeline = (
        Pipeline("p")
        .read(numbers(count))
        .transform(identity)
        .filter(lambda ctx, r: True)
        .write(Collector(), batch_size=batch_size)
        .hook(hook)
    )
    pipeline.run(ctx)
    return measure() - before


class PipelineEndOnly(NoopPipelineHook):
    def on_pipeline_end(self, ctx, info, error, duration):
        pass


class StepEndOnly(NoopPipelineHook):
    def on_step_end(self, ctx, info, step, error, duration):
        pass


@pytest.mark.parametrize("batch_size", [None, 10])
@pytest.mark.parametrize(
    "hook", [None, NoopPipelineHook(), PipelineEndOnly(), LoggingHook(), Hooks(PipelineEndOnly())]
)
def test_clock_reads_do_not_grow_with_records(clock_reads, hook, batch_size):
    small = cost_of(10, hook, clock_reads, batch_size)
    large = cost_of(1000, hook, clock_reads, batch_size)
    if batch_size is None:
        assert large == small
    else:
        # One clock read per stage, and streaming has one write stage per batch.
        assert large - small <= 2 * (1000 // batch_size)


@pytest.mark.parametrize("hook", [None, NoopPipelineHook(), PipelineEndOnly(), LoggingHook()])
def test_dispatches_do_not_grow_with_records(dispatches, hook):
    assert cost_of(1000, hook, dispatches) == cost_of(10, hook, dispatches)


def test_step_hooks_do_time_each_record(clock_reads):
    small = cost_of(10, StepEndOnly(), clock_reads)
    large = cost_of(1000, StepEndOnly(), clock_reads)
    assert large - small >= 2 * 990


def test_step_hooks_do_dispatch_each_record(collector):
    calls: list[int] = []

    class CountSteps(NoopPipelineHook):
        def on_step_start(self, ctx, info, step):
            calls.append(step)

    pipeline = Pipeline("p").read(numbers(50)).transform(identity).write(collector)
    pipeline.hook(CountSteps()).run()
    assert len(calls) == 50


@pytest.mark.parametrize("batch_size", [None, 10])
def test_deadline_adds_no_clock_reads(clock_reads, batch_size):
    # The deadline thread sets the flag the loops check, so the loops never
    # read the clock. The thread's own reads, at most a few, may land here.
    small = cost_of(10, None, clock_reads, batch_size, Context().with_timeout(60))
    large = cost_of(1000, None, clock_reads, batch_size, Context().with_timeout(60))
    per_batch = 0 if batch_size is None else 2 * (1000 // batch_size)
    assert large - small <= per_batch + 5
