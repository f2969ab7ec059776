"""`Status` and `Result`: the state and the final outcome of a run."""

from __future__ import annotations

import traceback as traceback_module
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

__all__ = ["Result", "Status", "describe_error", "format_traceback"]


class Status(str, Enum):
    """The state of a run. A `Result` has one of the three final states, never RUNNING."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    def __str__(self) -> str:
        # `str()` of a (str, Enum) member is "Status.FAILED". enum.StrEnum returns
        # the value instead, but it needs Python 3.11.
        return self.value


@dataclass(frozen=True, slots=True)
class Result:
    """The final outcome of one run.

    `started_at` is the aware UTC instant at which `Runner.start()` accepted
    the run, and `ended_at` adds the time elapsed on the monotonic clock, so
    `duration` is never negative. `error` is `"Type: message"` (or `"Type"`
    when the message is empty) for a failed or canceled run, and None for a
    successful one. `traceback` is the formatted traceback of the exception
    that escaped the job, chained causes included. It is None when the run
    succeeded or was canceled before its job started.
    """

    id: str
    job_id: str
    job_name: str
    status: Status
    started_at: datetime
    ended_at: datetime
    error: str | None = None
    traceback: str | None = None

    @property
    def duration(self) -> timedelta:
        """The time from `started_at` to `ended_at`."""
        return self.ended_at - self.started_at


def describe_error(error: BaseException) -> str:
    """Return `"Type: message"`, or only `"Type"` when the message is empty."""
    name = type(error).__name__
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 (a user-defined __str__ can raise anything)
        message = "<str() of the exception failed>"
    return f"{name}: {message}" if message else name


def format_traceback(error: BaseException) -> str:
    """Return the traceback of `error` as `traceback.print_exception` would print it."""
    try:
        return "".join(traceback_module.format_exception(type(error), error, error.__traceback__))
    except Exception:  # noqa: BLE001 (the run's result matters more than its traceback)
        return f"<formatting the traceback failed>\n{describe_error(error)}\n"
