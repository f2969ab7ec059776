"""Failed runs: error text, tracebacks, BaseException, logging, and a healthy runner after."""

from __future__ import annotations

import logging

import pytest
from runner_support import WAIT, Blocker, Raiser, WaitForCancel, job_of, quick_job

from millpond.etl import NoopJobHook
from millpond.runner import Status, _pool


class Fatal(BaseException):
    """A custom BaseException subclass, not one of the built-in ones."""


class UnprintableError(BaseException):
    def __str__(self):
        raise RuntimeError("no text")


def test_failure_result(runner):
    handle = runner.start(Raiser(ValueError("bad input")).job("orders"))
    result = handle.result(WAIT)
    assert result.status is Status.FAILED
    assert result.error == "ReadError: read failed: ValueError: bad input"
    assert result.traceback is not None
    assert result.traceback.startswith("Traceback (most recent call last):")
    assert "ValueError: bad input" in result.traceback
    assert "ReadError: read failed: ValueError: bad input" in result.traceback
    assert runner.result(handle.id) is result


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (KeyboardInterrupt("stop"), "KeyboardInterrupt: stop"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
        (SystemExit(3), "SystemExit: 3"),
        (GeneratorExit("closed"), "GeneratorExit: closed"),
        (Fatal("deep"), "Fatal: deep"),
    ],
)
def test_base_exception_fails_run(single, error, text):
    result = single.start(Raiser(error).job()).result(WAIT)
    assert result.status is Status.FAILED
    assert result.error == text
    assert result.traceback is not None
    assert text.split(":")[0] in result.traceback


@pytest.mark.parametrize(
    "error", [KeyboardInterrupt(), SystemExit(1), GeneratorExit(), Fatal(), MemoryError()]
)
def test_worker_survives_base_exception(single, error):
    blocker = Blocker()
    blocker.release.set()
    single.start(blocker.job()).result(WAIT)
    assert single.start(Raiser(error).job()).result(WAIT).status is Status.FAILED

    # The same worker thread runs the next job.
    result = single.start(blocker.job()).result(WAIT)
    assert result.status is Status.SUCCEEDED
    first, second = blocker.threads
    assert first is second
    assert second.is_alive()


def test_unprintable_error(runner):
    result = runner.start(Raiser(UnprintableError()).job()).result(WAIT)
    assert result.status is Status.FAILED
    assert result.error == "UnprintableError: <str() of the exception failed>"
    assert result.traceback is not None
    assert "UnprintableError" in result.traceback


def test_failure_keeps_cause_chain(runner):
    def read(ctx):
        try:
            {}["price"]
        except KeyError as error:
            raise OSError("lookup failed") from error

    result = runner.start(job_of(read)).result(WAIT)
    assert result.traceback is not None
    assert "KeyError: 'price'" in result.traceback
    assert "direct cause" in result.traceback
    assert "OSError: lookup failed" in result.traceback


def test_failure_logged_with_traceback(runner, caplog):
    caplog.set_level(logging.DEBUG, logger="millpond.runner")
    handle = runner.start(Raiser(ValueError("bad input")).job("orders"))
    handle.result(WAIT)

    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    [record] = errors
    assert record.name == "millpond.runner"
    assert handle.id in record.getMessage()
    assert "'orders'" in record.getMessage()
    assert "ReadError: read failed: ValueError: bad input" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0].__name__ == "ReadError"


def test_run_start_and_end_logged(runner, caplog):
    caplog.set_level(logging.DEBUG, logger="millpond.runner")
    handle = runner.start(quick_job("orders"))
    handle.result(WAIT)

    messages = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert (logging.DEBUG, f"run {handle.id} of job 'orders' accepted, queue length 1") in (
        messages
    )
    assert any(
        level == logging.DEBUG and text.startswith(f"run {handle.id} of job 'orders' started")
        for level, text in messages
    )
    assert any(
        level == logging.INFO and text.startswith(f"run {handle.id} of job 'orders' succeeded")
        for level, text in messages
    )


def test_error_after_cancel_is_canceled(runner):
    # A reader that notices the cancellation by failing, as a blocked read might.
    waiter = WaitForCancel()

    def read(ctx):
        waiter(ctx)
        raise OSError("connection closed")

    handle = runner.start(job_of(read))
    assert waiter.started.wait(WAIT)
    handle.cancel()
    result = handle.result(WAIT)
    assert result.status is Status.CANCELED
    assert result.error == "ReadError: read failed: OSError: connection closed"
    assert result.traceback is not None


def test_failing_job_hook_does_not_fail_run(runner):
    class BrokenHook(NoopJobHook):
        def on_job_start(self, ctx, info):
            raise RuntimeError("hook broke")

    job = quick_job().hook(BrokenHook())
    assert runner.start(job).result(WAIT).status is Status.SUCCEEDED


def test_internal_error_completes_handle(single, monkeypatch, caplog):
    def broken(self, run):
        raise RuntimeError("bug in the runner")

    monkeypatch.setattr(_pool.Pool, "_execute", broken)
    handle = single.start(quick_job())
    result = handle.result(WAIT)
    assert result.status is Status.FAILED
    assert result.error == "RuntimeError: bug in the runner"
    assert any("failed to process run" in record.getMessage() for record in caplog.records)

    monkeypatch.undo()
    assert single.start(quick_job()).result(WAIT).status is Status.SUCCEEDED
