"""Validate the arguments of `Runner` and `Handle` methods."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable

__all__ = [
    "default_max_workers",
    "require_count",
    "require_run_id",
    "require_run_timeout",
    "require_wait_timeout",
]

_HEX_DIGITS = frozenset("0123456789abcdef")


def default_max_workers() -> int:
    """Return the default pool size: `ThreadPoolExecutor`'s, min(32, CPUs + 4)."""
    # Python 3.13 added process_cpu_count(), which honours the CPU affinity mask.
    count: Callable[[], int | None] = getattr(os, "process_cpu_count", os.cpu_count)
    return min(32, (count() or 1) + 4)


def require_count(name: str, value: object, *, minimum: int) -> int | None:
    """Return `value` if it is None or an int >= `minimum`, else raise TypeError or ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum} or None, got {value!r}")
    return value


def _require_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a number of seconds or None, got {type(value).__name__}: {value!r}"
        )
    try:
        return float(value)
    except OverflowError:
        # An int too large for a float is longer than any representable wait.
        return math.inf


def require_run_timeout(value: object) -> float | None:
    """Return the timeout of a run: None, or a finite number of seconds > 0."""
    if value is None:
        return None
    seconds = _require_number("timeout", value)
    if math.isnan(seconds) or seconds <= 0 or math.isinf(seconds):
        raise ValueError(
            f"timeout must be a finite number of seconds > 0, got {value!r}; "
            "pass None for a run without a timeout"
        )
    return seconds


def require_wait_timeout(value: object) -> float | None:
    """Return a timeout for `threading.Event.wait`: None to wait forever, else seconds >= 0.

    Infinity and values above `threading.TIMEOUT_MAX` become None.
    """
    if value is None:
        return None
    seconds = _require_number("timeout", value)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(
            f"timeout must be a number of seconds >= 0 or None, got {value!r}; "
            "pass None to wait until the run finishes"
        )
    if seconds > threading.TIMEOUT_MAX:
        return None
    return seconds


def require_run_id(value: object) -> str:
    """Return `value` if it is 32 lowercase hex digits, the format of `uuid.uuid4().hex`."""
    if not isinstance(value, str):
        raise TypeError(
            f"run_id must be a str of 32 lowercase hex digits or None, "
            f"got {type(value).__name__}: {value!r}"
        )
    if len(value) != 32 or not _HEX_DIGITS.issuperset(value):
        raise ValueError(
            f"run_id must be 32 lowercase hex digits, got {value!r}; "
            "use uuid.uuid4().hex, or None to let the runner choose one"
        )
    return value
