"""Runner.shutdown, the context manager, garbage collection and interpreter exit."""

from __future__ import annotations

import gc
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading

import pytest
from runner_support import WAIT, Blocker, Recorder, WaitForCancel, job_of, quick_job

from millpond.runner import Runner, Status


def test_start_after_shutdown_raises():
    runner = Runner()
    runner.shutdown()
    with pytest.raises(RuntimeError, match="cannot start job 'quick': the runner is shut down"):
        runner.start(quick_job())


def test_shutdown_waits_for_running_run():
    runner = Runner(max_workers=2)
    blocker = Blocker()
    handle = runner.start(blocker.job())
    assert blocker.started.wait(WAIT)

    returned = threading.Event()

    def shut_down():
        runner.shutdown(wait=True)
        returned.set()

    thread = threading.Thread(target=shut_down)
    thread.start()
    assert not returned.is_set()
    assert not handle.done()

    blocker.release.set()
    thread.join(WAIT)
    assert returned.is_set()
    assert handle.result(0).status is Status.SUCCEEDED
    assert not blocker.threads[0].is_alive()


def test_shutdown_runs_queued_runs():
    runner = Runner(max_workers=1)
    blocker = Blocker()
    first = runner.start(blocker.job())
    assert blocker.started.wait(WAIT)
    queued = runner.start(quick_job())

    runner.shutdown(wait=False)
    blocker.release.set()
    runner.shutdown(wait=True)
    assert first.result(0).status is Status.SUCCEEDED
    assert queued.result(0).status is Status.SUCCEEDED


def test_shutdown_cancel():
    runner = Runner(max_workers=1)
    waiter = WaitForCancel()
    running = runner.start(waiter.job())
    assert waiter.started.wait(WAIT)
    never = Blocker()
    recorder = Recorder()
    queued = runner.start(never.job(), on_done=recorder)

    runner.shutdown(wait=True, cancel=True)
    assert running.result(0).status is Status.CANCELED
    result = queued.result(0)
    assert result.status is Status.CANCELED
    assert result.error is not None
    assert result.error.endswith("before its job started")
    assert recorder.results == [result]
    assert never.calls == 0


def test_shutdown_without_wait_returns_at_once():
    runner = Runner()
    blocker = Blocker()
    handle = runner.start(blocker.job())
    assert blocker.started.wait(WAIT)
    runner.shutdown(wait=False)
    assert not handle.done()
    blocker.release.set()
    assert handle.result(WAIT).status is Status.SUCCEEDED
    runner.shutdown()


def test_shutdown_twice():
    runner = Runner()
    runner.start(quick_job())
    runner.shutdown()
    runner.shutdown()
    runner.shutdown(wait=False, cancel=True)


def test_shutdown_before_any_run():
    runner = Runner()
    runner.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        runner.start(quick_job())


def test_context_manager_waits():
    blocker = Blocker()
    blocker.release.set()
    with Runner() as runner:
        handle = runner.start(blocker.job())
    assert handle.done()
    assert handle.result(0).status is Status.SUCCEEDED
    assert not blocker.threads[0].is_alive()
    with pytest.raises(RuntimeError, match="shut down"):
        runner.start(quick_job())


def test_shutdown_wait_from_own_job_raises():
    runner = Runner()

    def read(ctx):
        runner.shutdown(wait=True)
        return []

    result = runner.start(job_of(read)).result(WAIT)
    assert result.status is Status.FAILED
    assert result.error is not None
    assert "shutdown(wait=True) was called from a run of runner" in result.error
    # The failed call changed nothing.
    assert runner.start(quick_job()).result(WAIT).status is Status.SUCCEEDED
    runner.shutdown()


def test_shutdown_without_wait_from_own_job():
    runner = Runner()

    def read(ctx):
        runner.shutdown(wait=False)
        return []

    assert runner.start(job_of(read)).result(WAIT).status is Status.SUCCEEDED
    with pytest.raises(RuntimeError, match="shut down"):
        runner.start(quick_job())
    runner.shutdown()


def test_shutdown_wait_in_on_done_raises():
    runner = Runner(max_workers=1)
    blocker = Blocker()
    runner.start(blocker.job())
    assert blocker.started.wait(WAIT)
    errors = []

    def on_done(result):
        try:
            runner.shutdown(wait=True)
        except RuntimeError as error:
            errors.append(error)

    queued = runner.start(quick_job(), on_done=on_done)
    queued.cancel()
    assert queued.done()
    assert len(errors) == 1
    blocker.release.set()
    runner.shutdown()


def test_shutdown_logged(caplog):
    caplog.set_level(logging.INFO, logger="millpond.runner")
    runner = Runner(max_workers=2)
    runner.start(quick_job()).result(WAIT)
    runner.shutdown()
    messages = [record.getMessage() for record in caplog.records]
    [name] = re.findall(r"^runner (\S+) started", messages[0])
    assert f"runner {name} started: max_workers=2, keep_results=10000" in messages
    assert f"runner {name} shutting down: 0 runs in progress, 0 queued, cancel=False" in messages
    assert f"runner {name} stopped: all worker threads exited" in messages


def test_dropped_runner_stops_workers():
    blocker = Blocker()
    blocker.release.set()
    runner = Runner()
    runner.start(blocker.job()).result(WAIT)
    del runner
    gc.collect()
    [worker] = blocker.threads
    worker.join(WAIT)
    assert not worker.is_alive()


def test_dropped_runner_finishes_queued_runs():
    blocker = Blocker()
    runner = Runner(max_workers=1)
    first = runner.start(blocker.job())
    assert blocker.started.wait(WAIT)
    queued = runner.start(quick_job())
    del runner
    gc.collect()
    blocker.release.set()
    assert first.result(WAIT).status is Status.SUCCEEDED
    assert queued.result(WAIT).status is Status.SUCCEEDED


def test_interpreter_exit_waits_for_runs(tmp_path):
    # The job waits for the main thread to end, then writes its output: the
    # file exists only if the interpreter waited for the run.
    output = tmp_path / "out.txt"
    script = textwrap.dedent(
        f"""
        import threading
        import time

        from millpond.etl import Job, Pipeline
        from millpond.runner import Runner

        def read(ctx):
            threading.main_thread().join()
            time.sleep(0.2)
            return [{{"n": 1}}]

        def write(ctx, records):
            with open({str(output)!r}, "w") as file:
                file.write("written")

        runner = Runner()
        runner.start(Job(Pipeline("late").read(read).write(write)))
        print("main thread done")
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "main thread done\n"
    assert output.read_text() == "written"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only")
def test_forked_child_starts_own_workers():
    # Forking in this multi-threaded test process could deadlock, so a fresh
    # interpreter forks instead.
    script = textwrap.dedent(
        """
        import os
        import warnings

        from millpond.etl import Job, Pipeline
        from millpond.runner import Runner

        warnings.simplefilter("ignore", DeprecationWarning)
        job = Job(Pipeline("forked").read(lambda ctx: [{"n": 1}]).write(lambda ctx, r: None))
        runner = Runner(max_workers=1)
        print("parent", runner.start(job).result(5).status, flush=True)
        pid = os.fork()
        if pid == 0:
            print("child", runner.start(job).result(5).status, flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        runner.shutdown()
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "parent succeeded\nchild succeeded\n"
