"""Shared by the runner tests: jobs that block, wait for cancellation or fail on demand."""

from __future__ import annotations

import threading

from millpond.etl import Context, Job, Pipeline, Reader, Record

# Seconds a test waits for something that should happen at once. Generous, so a
# slow machine fails on an assertion instead of hanging.
WAIT = 5


def discard(ctx: Context, records: list[Record]) -> None:
    """A writer that drops the records."""


def one_record(ctx: Context) -> list[Record]:
    return [{"n": 1}]


def job_of(reader: Reader, name: str = "job") -> Job:
    """Return a job whose pipeline reads with `reader` and discards the records."""
    return Job(Pipeline(name).read(reader).write(discard))


def quick_job(name: str = "quick") -> Job:
    return job_of(one_record, name)


class Blocker:
    """A reader that sets `started` and returns once `release` is set.

    It raises TimeoutError when the test never releases it, so a broken test
    fails instead of hanging.
    """

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.threads: list[threading.Thread] = []
        self.contexts: list[Context] = []

    def __call__(self, ctx: Context) -> list[Record]:
        self.calls += 1
        self.threads.append(threading.current_thread())
        self.contexts.append(ctx)
        self.started.set()
        if not self.release.wait(WAIT):
            raise TimeoutError("the test never released the reader")
        return [{"n": 1}]

    def job(self, name: str = "blocked") -> Job:
        return job_of(self, name)


class WaitForCancel:
    """A reader that sets `started` and returns once its context is cancelled.

    The pipeline then raises Cancelled before the next stage.
    """

    def __init__(self) -> None:
        self.started = threading.Event()
        self.contexts: list[Context] = []

    def __call__(self, ctx: Context) -> list[Record]:
        self.contexts.append(ctx)
        self.started.set()
        if ctx.sleep(WAIT):
            raise TimeoutError("the run's context was never cancelled")
        return []

    def job(self, name: str = "cancellable") -> Job:
        return job_of(self, name)


class Raiser:
    """A reader that raises the given exception."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __call__(self, ctx: Context) -> list[Record]:
        raise self.error

    def job(self, name: str = "failing") -> Job:
        return job_of(self, name)


class Recorder:
    """An on_done callback that stores each result and the thread it ran on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results: list[object] = []
        self.threads: list[threading.Thread] = []

    def __call__(self, result: object) -> None:
        with self.lock:
            self.results.append(result)
            self.threads.append(threading.current_thread())
