"""Runner.start: handles, results, contexts, overlap, queueing and the worker pool."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import threading
from datetime import timezone

import pytest
from runner_support import WAIT, Blocker, job_of, one_record, quick_job

from millpond.etl import Context, Pipeline
from millpond.runner import Handle, Result, Runner, Status


def test_status_values():
    assert [status.value for status in Status] == ["running", "succeeded", "failed", "canceled"]
    assert isinstance(Status.FAILED, str)
    assert Status("canceled") is Status.CANCELED
    assert str(Status.SUCCEEDED) == "succeeded"
    assert Status.FAILED == "failed"


def test_start_returns_before_run_ends(runner):
    blocker = Blocker()
    job = blocker.job("orders")
    handle = runner.start(job)
    assert isinstance(handle, Handle)
    assert blocker.started.wait(WAIT)

    assert not handle.done()
    assert not handle.wait(0)
    assert runner.result(handle.id) is None
    assert re.fullmatch(r"[0-9a-f]{32}", handle.id)
    assert handle.job_id == job.id
    assert handle.job_name == "orders"
    assert handle.started_at.tzinfo is timezone.utc

    blocker.release.set()
    result = handle.result(WAIT)
    assert handle.done()
    assert handle.wait(0)
    assert runner.result(handle.id) is result


def test_result_fields_on_success(runner):
    job = quick_job("orders")
    handle = runner.start(job)
    result = handle.result(WAIT)
    assert isinstance(result, Result)
    assert result.id == handle.id
    assert result.job_id == job.id
    assert result.job_name == "orders"
    assert result.status is Status.SUCCEEDED
    assert result.started_at == handle.started_at
    assert result.ended_at >= result.started_at
    assert result.duration == result.ended_at - result.started_at
    assert result.error is None
    assert result.traceback is None


def test_result_is_frozen(runner):
    result = runner.start(quick_job()).result(WAIT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = Status.FAILED  # type: ignore[misc]


def test_handles_have_distinct_ids(runner):
    job = quick_job()
    handles = [runner.start(job) for _ in range(5)]
    assert len({handle.id for handle in handles}) == 5
    assert all(handle.result(WAIT).status is Status.SUCCEEDED for handle in handles)


def test_runner_result_unknown_id(runner):
    assert runner.result("0" * 32) is None
    assert runner.result("not an id") is None


def test_runner_result_rejects_non_str(runner):
    with pytest.raises(TypeError, match="run_id must be a str"):
        runner.result(42)  # type: ignore[arg-type]


def test_run_gets_child_context(runner):
    blocker = Blocker()
    blocker.release.set()
    parent = Context(run_id="caller", pipeline_name="other")
    handle = runner.start(blocker.job("orders"), parent)
    handle.result(WAIT)

    [ctx] = blocker.contexts
    assert ctx is not parent
    assert ctx.run_id == handle.id
    assert ctx.pipeline_name == "orders"
    assert ctx.deadline is None


def test_run_without_ctx_gets_root_context(runner):
    blocker = Blocker()
    blocker.release.set()
    handle = runner.start(blocker.job("orders"))
    handle.result(WAIT)
    [ctx] = blocker.contexts
    assert ctx.run_id == handle.id
    assert ctx.pipeline_name == "orders"


def test_runs_overlap(runner):
    # Each run waits at the barrier for the other, so they succeed only together.
    barrier = threading.Barrier(2, timeout=WAIT)

    def meet(ctx):
        barrier.wait()
        return []

    job = job_of(meet)
    first = runner.start(job)
    second = runner.start(job)
    assert first.result(WAIT).status is Status.SUCCEEDED
    assert second.result(WAIT).status is Status.SUCCEEDED


def test_excess_runs_queue_in_order(single):
    blocker = Blocker()
    order: list[int] = []

    def append(number):
        def read(ctx):
            order.append(number)
            return []

        return job_of(read)

    first = single.start(blocker.job())
    assert blocker.started.wait(WAIT)
    queued = [single.start(append(number)) for number in range(3)]

    # The only worker is busy, so none of the queued runs can have started.
    assert order == []
    assert not any(handle.done() for handle in queued)

    blocker.release.set()
    assert first.result(WAIT).status is Status.SUCCEEDED
    assert [handle.result(WAIT).status for handle in queued] == [Status.SUCCEEDED] * 3
    assert order == [0, 1, 2]


def test_pool_stays_within_max_workers():
    threads: list[threading.Thread] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2, timeout=WAIT)

    def read(ctx):
        with lock:
            threads.append(threading.current_thread())
        # Pairs of runs meet here, so two workers are busy at the same time.
        barrier.wait()
        return []

    with Runner(max_workers=2) as runner:
        handles = [runner.start(job_of(read)) for _ in range(8)]
        assert [handle.result(WAIT).status for handle in handles] == [Status.SUCCEEDED] * 8

    assert len(set(threads)) == 2
    assert all(thread.name.startswith("millpond-runner-") for thread in threads)
    assert all(thread.daemon for thread in threads)


def test_worker_serves_many_runs(single):
    blocker = Blocker()
    blocker.release.set()
    single.start(quick_job()).result(WAIT)
    single.start(blocker.job()).result(WAIT)
    single.start(blocker.job()).result(WAIT)
    assert len(set(blocker.threads)) == 1


def test_default_max_workers():
    count = getattr(os, "process_cpu_count", os.cpu_count)
    runner = Runner()
    try:
        assert runner.max_workers == min(32, (count() or 1) + 4)
        assert runner.keep_results == 10_000
    finally:
        runner.shutdown()


@pytest.mark.parametrize("value", [0, -1])
def test_max_workers_below_one(value):
    with pytest.raises(ValueError, match=r"max_workers must be >= 1 or None"):
        Runner(max_workers=value)


@pytest.mark.parametrize("value", [True, 1.5, "2"])
def test_max_workers_not_int(value):
    with pytest.raises(TypeError, match="max_workers must be an int or None"):
        Runner(max_workers=value)


def test_keep_results_negative():
    with pytest.raises(ValueError, match=r"keep_results must be >= 0 or None, got -1"):
        Runner(keep_results=-1)


@pytest.mark.parametrize("value", [False, 2.0, "10"])
def test_keep_results_not_int(value):
    with pytest.raises(TypeError, match="keep_results must be an int or None"):
        Runner(keep_results=value)


def test_start_rejects_pipeline(runner):
    pipeline = Pipeline("orders").read(one_record)
    with pytest.raises(TypeError, match=r"wrap it as millpond\.etl\.Job\(pipeline\)"):
        runner.start(pipeline)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, "orders", 42])
def test_start_rejects_non_job(runner, value):
    with pytest.raises(TypeError, match=r"job must be a millpond\.etl\.Job"):
        runner.start(value)


def test_start_rejects_bad_ctx(runner):
    with pytest.raises(TypeError, match=r"ctx must be a millpond\.etl\.Context or None"):
        runner.start(quick_job(), "ctx")  # type: ignore[arg-type]


def test_start_rejects_non_callable_on_done(runner):
    with pytest.raises(TypeError, match="on_done must be a callable"):
        runner.start(quick_job(), on_done="print")  # type: ignore[arg-type]


def test_repr_names_state():
    runner = Runner(max_workers=3)
    assert re.fullmatch(r"<Runner millpond-runner-\d+: max_workers=3, running>", repr(runner))
    runner.shutdown()
    assert repr(runner).endswith("shut down>")


def test_handle_repr(runner):
    handle = runner.start(quick_job("orders"))
    handle.result(WAIT)
    assert repr(handle) == f"<Handle run {handle.id} of job 'orders': succeeded>"


@pytest.mark.parametrize("value", [-1, -0.001, math.nan])
def test_wait_timeout_out_of_range(runner, value):
    handle = runner.start(quick_job())
    with pytest.raises(ValueError, match="timeout must be a number of seconds >= 0 or None"):
        handle.wait(value)
    with pytest.raises(ValueError, match="timeout must be a number of seconds >= 0 or None"):
        handle.result(value)


@pytest.mark.parametrize("value", [True, "1", object()])
def test_wait_timeout_not_number(runner, value):
    handle = runner.start(quick_job())
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
        handle.wait(value)
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
        handle.result(value)


@pytest.mark.parametrize("value", [math.inf, 10**400, 1e300])
def test_wait_timeout_beyond_max(runner, value):
    handle = runner.start(quick_job())
    assert handle.wait(value)
    assert handle.result(value).status is Status.SUCCEEDED


def test_result_timeout_leaves_run_going(runner):
    blocker = Blocker()
    handle = runner.start(blocker.job("orders"))
    with pytest.raises(TimeoutError, match=r"did not finish within 0\.01 seconds"):
        handle.result(0.01)
    blocker.release.set()
    assert handle.result(WAIT).status is Status.SUCCEEDED
