"""Ctrl-C during `millpond run`: the first SIGINT cancels the run, a second one stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import write_source

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")

WAIT_SECONDS = 30


def _default_sigint() -> None:
    # A child of a shell script's background job inherits an ignored SIGINT,
    # which millpond rightly leaves alone; these tests need the usual handling.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(job: Path, stderr_path: Path, *args: str) -> subprocess.Popen[str]:
    # stderr goes to a file, so a test can watch it while the child runs.
    stderr_fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "millpond", "run", str(job), *args],
            stdout=subprocess.PIPE,
            stderr=stderr_fd,
            text=True,
            cwd=job.parent,
            preexec_fn=_default_sigint,  # noqa: PLW1509 - no threads run in the child before exec
        )
    finally:
        os.close(stderr_fd)


def wait_for(condition, description: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {description}")
        time.sleep(0.02)


def slow_job(tmp_path: Path, read_body: str, write_options: str = "") -> Path:
    ready = tmp_path / "ready"
    return write_source(
        tmp_path,
        f"""
        import time
        from pathlib import Path

        from millpond.etl import Pipeline

        READY = Path({str(ready)!r})


        def read(ctx):
            READY.touch()
{read_body}


        pipeline = Pipeline("slow").read(read).write(lambda ctx, records: None{write_options})
        """,
    )


@pytest.mark.parametrize("write_options", ["", ", batch_size=2"])
def test_sigint_cancels_between_records(tmp_path, write_options):
    # The reader never looks at the context: the run stops at the next record boundary.
    body = """
            n = 0
            while True:
                time.sleep(0.02)
                n += 1
                yield {"n": n}
    """
    job = slow_job(tmp_path, body, write_options)
    stderr_path = tmp_path / "stderr.txt"
    process = start(job, stderr_path, "--json")
    wait_for((tmp_path / "ready").exists, "the reader to start")

    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=WAIT_SECONDS)

    assert process.returncode == 130
    document = json.loads(stdout)
    assert document["status"] == "canceled"
    assert document["pipeline"] == "slow"
    assert "was cancelled" in document["error"]
    stderr = stderr_path.read_text()
    assert "interrupted; stopping after the current record" in stderr
    assert "Traceback" not in stderr


def test_sigint_wakes_context_sleep(tmp_path):
    # A reader blocked in ctx.sleep() wakes up as soon as the run is cancelled.
    body = """
            while ctx.sleep(3600):
                yield {}
    """
    job = slow_job(tmp_path, body)
    stderr_path = tmp_path / "stderr.txt"
    process = start(job, stderr_path)
    wait_for((tmp_path / "ready").exists, "the reader to start")

    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=WAIT_SECONDS)

    assert process.returncode == 130
    assert time.monotonic() - started < WAIT_SECONDS
    assert "status    canceled" in stdout


def test_second_sigint_stops_at_once(tmp_path):
    # A reader that ignores cancellation is stopped by the second Ctrl-C.
    body = """
            time.sleep(3600)
            yield {}
    """
    job = slow_job(tmp_path, body)
    stderr_path = tmp_path / "stderr.txt"
    process = start(job, stderr_path, "--json")
    wait_for((tmp_path / "ready").exists, "the reader to start")

    process.send_signal(signal.SIGINT)
    wait_for(lambda: "interrupted" in stderr_path.read_text(), "the first SIGINT to be handled")
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=WAIT_SECONDS)

    assert process.returncode == 130
    document = json.loads(stdout)
    assert document["status"] == "canceled"
    assert document["error"] == "interrupted by a second Ctrl-C"
    assert "Traceback" not in stderr_path.read_text()
