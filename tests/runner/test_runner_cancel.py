"""Cancellation: Handle.cancel, the caller's context, timeouts, queued runs."""

from __future__ import annotations

import logging
import math
import threading

import pytest
from runner_support import WAIT, Blocker, Recorder, WaitForCancel, quick_job

from millpond.etl import Context
from millpond.runner import Status


def test_cancel_running_run(runner):
    waiter = WaitForCancel()
    handle = runner.start(waiter.job())
    assert waiter.started.wait(WAIT)
    handle.cancel()

    result = handle.result(WAIT)
    assert result.status is Status.CANCELED
    assert result.error == f"Cancelled: run {handle.id} was cancelled"
    assert result.traceback is not None
    assert "Cancelled" in result.traceback


def test_cancel_queued_run_skips_job(single):
    blocker = Blocker()
    first = single.start(blocker.job())
    assert blocker.started.wait(WAIT)
    never = Blocker()
    recorder = Recorder()
    queued = single.start(never.job(), on_done=recorder)

    queued.cancel()
    # A queued run finishes inside cancel(), without waiting for a worker.
    assert queued.done()
    result = queued.result(0)
    assert result.status is Status.CANCELED
    assert result.error == f"Cancelled: run {queued.id} was cancelled before its job started"
    assert result.traceback is None
    assert recorder.results == [result]
    assert recorder.threads == [threading.current_thread()]

    blocker.release.set()
    assert first.result(WAIT).status is Status.SUCCEEDED
    assert single.start(quick_job()).result(WAIT).status is Status.SUCCEEDED
    assert never.calls == 0


def test_cancel_after_finish_changes_nothing(runner):
    handle = runner.start(quick_job())
    result = handle.result(WAIT)
    handle.cancel()
    assert handle.result(0) is result
    assert result.status is Status.SUCCEEDED


def test_cancel_does_not_cancel_caller_context(runner):
    parent = Context()
    waiter = WaitForCancel()
    handle = runner.start(waiter.job(), parent)
    assert waiter.started.wait(WAIT)
    handle.cancel()
    assert handle.result(WAIT).status is Status.CANCELED
    assert not parent.cancelled


def test_caller_context_cancels_run(runner):
    parent = Context()
    waiter = WaitForCancel()
    handle = runner.start(waiter.job(), parent)
    assert waiter.started.wait(WAIT)
    parent.cancel()
    result = handle.result(WAIT)
    assert result.status is Status.CANCELED
    assert result.error == f"Cancelled: run {handle.id} was cancelled"


def test_cancelled_caller_context_skips_job(runner):
    parent = Context()
    parent.cancel()
    never = Blocker()
    result = runner.start(never.job(), parent).result(WAIT)
    assert result.status is Status.CANCELED
    assert result.error is not None
    assert result.error.endswith("was cancelled before its job started")
    assert never.calls == 0


def test_caller_context_cancels_queued_run(single):
    blocker = Blocker()
    first = single.start(blocker.job())
    assert blocker.started.wait(WAIT)
    parent = Context()
    never = Blocker()
    queued = single.start(never.job(), parent)
    parent.cancel()

    # The worker finishes the queued run as canceled once it is free.
    blocker.release.set()
    assert first.result(WAIT).status is Status.SUCCEEDED
    assert queued.result(WAIT).status is Status.CANCELED
    assert never.calls == 0


def test_timeout_cancels_run(runner):
    waiter = WaitForCancel()
    handle = runner.start(waiter.job(), timeout=0.05)
    result = handle.result(WAIT)
    assert result.status is Status.CANCELED
    assert result.error is not None
    assert result.error.startswith(f"Cancelled: run {handle.id} timed out")
    [ctx] = waiter.contexts
    assert ctx.deadline is not None
    assert ctx.run_id == handle.id


def test_timeout_not_reached_succeeds(runner):
    result = runner.start(quick_job(), timeout=60).result(WAIT)
    assert result.status is Status.SUCCEEDED


def test_timeout_counts_while_queued(single):
    blocker = Blocker()
    first = single.start(blocker.job())
    assert blocker.started.wait(WAIT)
    never = Blocker()
    queued = single.start(never.job(), timeout=0.02)

    # This context's deadline is later than the queued run's, so once it
    # passes, the queued run's deadline has passed too.
    probe = Context().with_timeout(0.02)
    assert not probe.sleep(math.inf)

    blocker.release.set()
    assert first.result(WAIT).status is Status.SUCCEEDED
    result = queued.result(WAIT)
    assert result.status is Status.CANCELED
    assert result.error is not None
    assert "timed out" in result.error
    assert result.error.endswith("passed before its job started")
    assert never.calls == 0


def test_caller_deadline_applies(runner):
    waiter = WaitForCancel()
    parent = Context().with_timeout(0.05)
    result = runner.start(waiter.job(), parent, timeout=60).result(WAIT)
    assert result.status is Status.CANCELED
    [ctx] = waiter.contexts
    assert ctx.deadline == parent.deadline


@pytest.mark.parametrize("value", [0, -1, -0.5, math.nan, math.inf])
def test_timeout_out_of_range(runner, value):
    with pytest.raises(ValueError, match="timeout must be a finite number of seconds > 0"):
        runner.start(quick_job(), timeout=value)


def test_timeout_past_year_9999(runner):
    with pytest.raises(ValueError, match="past year 9999; pass None"):
        runner.start(quick_job(), timeout=1e12)


@pytest.mark.parametrize("value", [True, "5", [1]])
def test_timeout_not_number(runner, value):
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
        runner.start(quick_job(), timeout=value)


def test_concurrent_cancels_finish_once(single):
    blocker = Blocker()
    first = single.start(blocker.job())
    assert blocker.started.wait(WAIT)
    recorder = Recorder()
    queued = single.start(quick_job(), on_done=recorder)

    barrier = threading.Barrier(8, timeout=WAIT)

    def cancel():
        barrier.wait()
        queued.cancel()

    threads = [threading.Thread(target=cancel) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)

    assert queued.result(0).status is Status.CANCELED
    assert len(recorder.results) == 1
    blocker.release.set()
    assert first.result(WAIT).status is Status.SUCCEEDED


def test_cancel_logged_at_info(runner, caplog):
    caplog.set_level(logging.INFO, logger="millpond.runner")
    waiter = WaitForCancel()
    handle = runner.start(waiter.job("orders"))
    assert waiter.started.wait(WAIT)
    handle.cancel()
    handle.result(WAIT)
    [record] = [r for r in caplog.records if "canceled" in r.getMessage()]
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith(f"run {handle.id} of job 'orders' canceled after")


def test_timeout_logged_at_warning(runner, caplog):
    caplog.set_level(logging.INFO, logger="millpond.runner")
    handle = runner.start(WaitForCancel().job("orders"), timeout=0.01)
    handle.result(WAIT)
    [record] = [r for r in caplog.records if "canceled" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "timed out" in record.getMessage()
    assert record.exc_info is None
