"""The on_done callback and caller-chosen run ids."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest
from runner_support import WAIT, Blocker, Raiser, Recorder, quick_job

from millpond.runner import Runner, Status


def test_on_done_runs_before_handle_is_done(runner):
    entered = threading.Event()
    proceed = threading.Event()
    seen = []

    def on_done(result):
        seen.append(result)
        entered.set()
        if not proceed.wait(WAIT):
            raise TimeoutError("the test never let on_done return")

    handle = runner.start(quick_job(), on_done=on_done)
    assert entered.wait(WAIT)

    # Until the callback returns, no waiter may see the run as finished.
    assert not handle.done()
    assert not handle.wait(0)
    assert runner.result(handle.id) is None
    with pytest.raises(TimeoutError, match=f"run {handle.id} of job 'quick' did not finish"):
        handle.result(0)

    proceed.set()
    result = handle.result(WAIT)
    assert seen == [result]
    assert runner.result(handle.id) is result


def test_on_done_runs_on_worker_thread(runner):
    recorder = Recorder()
    result = runner.start(quick_job(), on_done=recorder).result(WAIT)
    assert recorder.results == [result]
    [thread] = recorder.threads
    assert thread.name.startswith("millpond-runner-")


@pytest.mark.parametrize("error", [ValueError("bad"), KeyboardInterrupt()])
def test_on_done_gets_failed_result(runner, error):
    recorder = Recorder()
    result = runner.start(Raiser(error).job(), on_done=recorder).result(WAIT)
    assert result.status is Status.FAILED
    assert recorder.results == [result]


@pytest.mark.parametrize("error", [RuntimeError("store down"), SystemExit(2)])
def test_on_done_error_is_logged(single, caplog, error):
    caplog.set_level(logging.ERROR, logger="millpond.runner")

    def on_done(result):
        raise error

    handle = single.start(quick_job("orders"), on_done=on_done)
    result = handle.result(WAIT)
    assert result.status is Status.SUCCEEDED
    assert single.result(handle.id) is result

    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"on_done callback of run {handle.id} of job 'orders' failed; "
        "the run keeps status succeeded"
    )
    assert record.exc_info is not None
    assert record.exc_info[1] is error

    # The worker that ran the callback serves the next run.
    assert single.start(quick_job()).result(WAIT).status is Status.SUCCEEDED


def test_run_id_sets_ids(runner):
    run_id = uuid.uuid4().hex
    blocker = Blocker()
    blocker.release.set()
    handle = runner.start(blocker.job(), run_id=run_id)
    assert handle.id == run_id
    result = handle.result(WAIT)
    assert result.id == run_id
    assert blocker.contexts[0].run_id == run_id
    assert runner.result(run_id) is result


@pytest.mark.parametrize(
    "value",
    ["", "abc", "A" * 32, "g" * 32, "0" * 31, "0" * 33, "{" + "0" * 30 + "}", " " + "0" * 31],
)
def test_run_id_malformed(runner, value):
    with pytest.raises(ValueError, match="run_id must be 32 lowercase hex digits"):
        runner.start(quick_job(), run_id=value)


@pytest.mark.parametrize("value", [42, b"0" * 32, uuid.uuid4()])
def test_run_id_not_str(runner, value):
    with pytest.raises(TypeError, match="run_id must be a str of 32 lowercase hex digits"):
        runner.start(quick_job(), run_id=value)


def test_run_id_of_unfinished_run(runner):
    blocker = Blocker()
    run_id = uuid.uuid4().hex
    handle = runner.start(blocker.job(), run_id=run_id)
    with pytest.raises(ValueError, match=f"run_id '{run_id}' is already used"):
        runner.start(quick_job(), run_id=run_id)
    blocker.release.set()
    assert handle.result(WAIT).status is Status.SUCCEEDED


def test_run_id_of_kept_result(runner):
    run_id = uuid.uuid4().hex
    runner.start(quick_job(), run_id=run_id).result(WAIT)
    with pytest.raises(ValueError, match="is already used"):
        runner.start(quick_job(), run_id=run_id)


def test_run_id_reusable_after_result_dropped():
    run_id = uuid.uuid4().hex
    with Runner(keep_results=1) as runner:
        runner.start(quick_job(), run_id=run_id).result(WAIT)
        runner.start(quick_job()).result(WAIT)
        assert runner.result(run_id) is None
        again = runner.start(quick_job(), run_id=run_id).result(WAIT)
        assert runner.result(run_id) is again
