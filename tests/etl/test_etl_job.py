"""Job: validation, recorded times and errors, job hooks."""

from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta

import pytest
from etl_support import RecordingHook, numbers

from millpond.etl import (
    Context,
    Job,
    JobInfo,
    NoopPipelineHook,
    Pipeline,
    PipelineConfigError,
    ReadError,
)

WAIT = 5


def fail(*args):
    raise OSError("boom")


def test_job_rejects_none():
    with pytest.raises(ValueError, match="got None"):
        Job(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["orders", 42, object()])
def test_job_rejects_non_pipeline(value):
    with pytest.raises(TypeError, match=r"requires a millpond\.etl\.Pipeline"):
        Job(value)  # type: ignore[arg-type]


def test_job_fields_before_run(collector):
    pipeline = Pipeline("orders").read(numbers(1)).write(collector)
    job = Job(pipeline)
    assert re.fullmatch(r"[0-9a-f]{32}", job.id)
    assert job.id != Job(pipeline).id
    assert job.pipeline is pipeline
    assert job.name == "orders"
    assert job.started_at is None
    assert job.ended_at is None
    assert job.error is None
    assert job.duration == timedelta(0)


def test_job_run_records_times(collector):
    job = Job(Pipeline("orders").read(numbers(3)).write(collector))
    stats = job.run()
    assert stats.written == 3
    assert job.started_at is not None
    assert job.ended_at is not None
    assert job.started_at.utcoffset() == timedelta(0)
    assert job.ended_at.utcoffset() == timedelta(0)
    assert job.started_at <= job.ended_at
    assert job.duration == job.ended_at - job.started_at
    assert job.error is None


def test_job_run_records_and_reraises_error():
    job = Job(Pipeline("orders").read(fail).write(lambda ctx, r: None))
    with pytest.raises(ReadError) as caught:
        job.run()
    assert job.error is caught.value
    assert job.ended_at is not None


def test_job_records_config_error():
    job = Job(Pipeline("orders"))
    with pytest.raises(PipelineConfigError):
        job.run()
    assert isinstance(job.error, PipelineConfigError)


def test_job_error_cleared_by_next_successful_run(collector):
    readers = iter([fail, lambda ctx: []])

    def read(ctx):
        return next(readers)(ctx)

    job = Job(Pipeline("p").read(read).write(collector))
    with pytest.raises(ReadError):
        job.run()
    job.run()
    assert job.error is None


def test_job_duration_grows_while_running(collector):
    inside = threading.Event()
    release = threading.Event()

    def read(ctx):
        inside.set()
        release.wait(WAIT)
        return []

    job = Job(Pipeline("p").read(read).write(collector))
    thread = threading.Thread(target=job.run)
    thread.start()
    try:
        assert inside.wait(WAIT)
        assert job.started_at is not None
        assert job.ended_at is None
        first = job.duration
        assert first >= timedelta(0)
        assert Context().sleep(0.01)
        assert job.duration > first
    finally:
        release.set()
        thread.join(WAIT)
    assert job.ended_at is not None


def test_job_default_context_has_name(collector):
    seen: list[Context] = []
    job = Job(Pipeline("orders").read(lambda ctx: seen.append(ctx) or []).write(collector))
    job.run()
    assert seen[0].pipeline_name == "orders"


def test_job_uses_given_context(collector):
    seen: list[Context] = []
    job = Job(Pipeline("orders").read(lambda ctx: seen.append(ctx) or []).write(collector))
    ctx = Context(run_id="r1")
    job.run(ctx)
    assert seen == [ctx]
    assert seen[0] is ctx


def test_job_run_rejects_non_context(collector):
    job = Job(Pipeline("p").read(numbers(1)).write(collector))
    with pytest.raises(TypeError, match="ctx must be"):
        job.run(object())  # type: ignore[arg-type]


def test_job_hooks_wrap_pipeline_events(collector):
    recorder = RecordingHook()
    pipeline = Pipeline("orders").read(numbers(1)).write(collector).hook(recorder)
    job = Job(pipeline).hook(recorder)
    job.run()
    assert recorder.events[0] == ("job_start",)
    assert recorder.events[1] == ("pipeline_start",)
    assert recorder.events[-2] == ("pipeline_end", None)
    assert recorder.events[-1] == ("job_end", None)
    assert recorder.infos[0] == JobInfo(job.id, "orders")
    assert recorder.durations[-1] == job.duration


def test_job_end_hook_gets_error():
    recorder = RecordingHook()
    job = Job(Pipeline("p").read(numbers(1)).write(fail)).hook(recorder)
    with pytest.raises(Exception, match="write failed"):
        job.run()
    assert recorder.events == [("job_start",), ("job_end", "WriteError")]
    assert recorder.errors == [job.error]


def test_job_end_hook_gets_keyboard_interrupt():
    recorder = RecordingHook()

    def interrupt(ctx):
        raise KeyboardInterrupt

    job = Job(Pipeline("p").read(interrupt).write(lambda ctx, r: None)).hook(recorder)
    with pytest.raises(KeyboardInterrupt):
        job.run()
    assert recorder.events == [("job_start",), ("job_end", "KeyboardInterrupt")]
    assert isinstance(job.error, KeyboardInterrupt)


def test_job_hook_failure_is_logged_and_ignored(caplog, collector):
    class Broken(RecordingHook):
        def on_job_start(self, ctx, info):
            raise RuntimeError("hook bug")

    job = Job(Pipeline("p").read(numbers(2)).write(collector)).hook(Broken())
    with caplog.at_level(logging.ERROR, logger="millpond"):
        stats = job.run()
    assert stats.written == 2
    assert job.error is None
    messages = [r.getMessage() for r in caplog.records if r.name == "millpond.etl.hooks"]
    hook_name = f"{__name__}.{Broken.__qualname__}"
    assert hook_name.endswith("<locals>.Broken")
    assert messages == [f"hook {hook_name} raised in on_job_start; the run continues without it"]


@pytest.mark.parametrize("hook", [object(), NoopPipelineHook()])
def test_job_hook_rejects_non_job_hooks(collector, hook):
    job = Job(Pipeline("p").read(numbers(1)).write(collector))
    with pytest.raises(TypeError, match="hook must implement JobHook"):
        job.hook(hook)


def test_job_hook_none_restores_noop(collector):
    recorder = RecordingHook()
    job = Job(Pipeline("p").read(numbers(1)).write(collector)).hook(recorder).hook(None)
    job.run()
    assert recorder.events == []


def test_overlapping_runs_keep_latest_start(collector):
    # The first run ends while the second is still running; the fields must
    # keep describing the second run.
    first_inside = threading.Event()
    release_first = threading.Event()
    second_inside = threading.Event()
    release_second = threading.Event()
    calls = iter([(first_inside, release_first), (second_inside, release_second)])

    def read(ctx):
        inside, release = next(calls)
        inside.set()
        release.wait(WAIT)
        return []

    job = Job(Pipeline("p").read(read).write(collector))
    first = threading.Thread(target=job.run)
    first.start()
    assert first_inside.wait(WAIT)
    second = threading.Thread(target=job.run)
    second.start()
    assert second_inside.wait(WAIT)
    second_start = job.started_at

    release_first.set()
    first.join(WAIT)
    assert job.started_at == second_start
    assert job.ended_at is None

    release_second.set()
    second.join(WAIT)
    assert job.ended_at is not None
