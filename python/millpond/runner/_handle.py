"""`Handle`: a caller's view of one run, to wait for, await or cancel it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from millpond.runner._checks import require_wait_timeout

if TYPE_CHECKING:
    import asyncio

    from millpond.runner._result import Result

__all__ = ["Handle"]

_DoneCallback = Callable[["Result"], None]


class Handle:
    """A run started by `Runner.start()`. Thread-safe.

    A handle reports done only after the run's final `Result` is stored and
    its `on_done` callback has returned. `await handle` returns that result
    without blocking the event loop.
    """

    __slots__ = (
        "__weakref__",
        "_callbacks",
        "_cancel",
        "_event",
        "_id",
        "_job_id",
        "_job_name",
        "_lock",
        "_result",
        "_started_at",
    )

    def __init__(
        self,
        *,
        run_id: str,
        job_id: str,
        job_name: str,
        started_at: datetime,
        cancel: Callable[[], None],
    ) -> None:
        self._id = run_id
        self._job_id = job_id
        self._job_name = job_name
        self._started_at = started_at
        self._cancel = cancel
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._result: Result | None = None
        self._callbacks: list[_DoneCallback] = []

    @property
    def id(self) -> str:
        """The run id: 32 lowercase hex digits, also the `run_id` of the run's `Context`."""
        return self._id

    @property
    def job_id(self) -> str:
        """The id of the job being run."""
        return self._job_id

    @property
    def job_name(self) -> str:
        """The name of the job's pipeline."""
        return self._job_name

    @property
    def started_at(self) -> datetime:
        """The aware UTC instant at which `Runner.start()` accepted the run."""
        return self._started_at

    def done(self) -> bool:
        """Return whether the run has finished and its result is available."""
        return self._result is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run finishes or `timeout` seconds pass, and return whether it finished.

        `timeout=None` waits without limit. Raises TypeError for a non-number
        and ValueError for a negative or NaN timeout.
        """
        seconds = require_wait_timeout(timeout)
        return self._event.wait(seconds)

    def result(self, timeout: float | None = None) -> Result:
        """Wait for the run to finish and return its `Result`.

        `timeout=None` waits without limit. Raises TimeoutError when the run
        has not finished within `timeout` seconds, and the run goes on.
        """
        self.wait(timeout)
        result = self._result
        if result is None:
            raise TimeoutError(
                f"run {self._id} of job {self._job_name!r} did not finish within "
                f"{timeout} seconds; call result() again to keep waiting"
            )
        return result

    def cancel(self) -> None:
        """Cancel the run's context. Does nothing when the run has finished.

        A queued run whose job has not started finishes at once as canceled,
        on the calling thread, without running the job. A running job stops
        at its next cancellation check and then finishes as canceled. A job
        that returns before that check still finishes as succeeded.
        """
        if self._result is None:
            self._cancel()

    def __await__(self) -> Generator[Any, None, Result]:
        return self._wait_async().__await__()

    async def _wait_async(self) -> Result:
        result = self._result
        if result is not None:
            return result

        # asyncio costs tens of milliseconds to import, so only awaiting pays for it.
        import asyncio  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()

        def deliver(result: Result) -> None:
            # RuntimeError means the loop closed before the run finished, so no task
            # awaits the future any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future, result)

        self._add_done_callback(deliver)
        try:
            return await future
        finally:
            self._remove_done_callback(deliver)

    def _add_done_callback(self, callback: _DoneCallback) -> None:
        """Call `callback(result)` when the run finishes, or now if it has finished."""
        with self._lock:
            result = self._result
            if result is None:
                self._callbacks.append(callback)
                return
        callback(result)

    def _remove_done_callback(self, callback: _DoneCallback) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def _complete(self, result: Result) -> list[_DoneCallback]:
        """Store the final result, wake the waiters, and return the callbacks still to call."""
        with self._lock:
            self._result = result
            callbacks, self._callbacks = self._callbacks, []
        self._event.set()
        return callbacks

    def __repr__(self) -> str:
        result = self._result
        state = "running" if result is None else result.status.value
        return f"<Handle run {self._id} of job {self._job_name!r}: {state}>"


def _resolve(future: asyncio.Future[Result], result: Result) -> None:
    # The awaiting task may have been cancelled, which cancels the future too.
    if not future.done():
        future.set_result(result)
