"""`Interval`: a fixed amount of elapsed time between runs."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Final

from millpond._backend import impl
from millpond.scheduler._base import SpecSchedule
from millpond.scheduler._protocol import from_micros, require_aware, to_micros

if TYPE_CHECKING:
    from millpond.scheduler._specs import Spec

# An interval longer than the whole datetime range never has a next run; capping
# it here keeps the microsecond count inside a signed 64-bit integer.
_MAX_EVERY_US: Final[int] = impl.MAX_US - impl.MIN_US + 1


class Interval(SpecSchedule):
    """Run every `every` of elapsed time, whatever the wall clock does.

    `next(after)` is `after + every` as an instant, returned in `after`'s tzinfo.
    A 7-day interval therefore shifts by an hour of wall time across a DST
    change; use `DailyAt` or `Cron` for wall-clock days. An interval that is not
    positive has no runs: `next` returns None.
    """

    __slots__ = ("_every", "_every_us", "_spec_object")

    def __init__(self, every: timedelta) -> None:
        if not isinstance(every, timedelta):
            raise TypeError(
                f"every must be a timedelta, got {type(every).__name__}: {every!r}; "
                "use millpond.scheduler.every() to pass seconds"
            )
        self._every = every
        self._every_us = min(every // timedelta(microseconds=1), _MAX_EVERY_US)
        self._spec_object: Spec = impl.IntervalSpec(self._every_us)

    @property
    def every(self) -> timedelta:
        """The elapsed time between two runs."""
        return self._every

    def next(self, after: datetime) -> datetime | None:
        """Return `after + every` as an instant in `after`'s tzinfo, or None.

        None when the interval is not positive or the result is past year 9999.
        """
        require_aware(after)
        next_us = impl.interval_next(to_micros(after), self._every_us)
        if next_us is None:
            return None
        return from_micros(next_us, after.tzinfo)  # type: ignore[arg-type]

    @property
    def _spec(self) -> Spec:
        return self._spec_object

    def _result_tzinfo(self, after: datetime) -> tzinfo | None:
        return after.tzinfo

    def __repr__(self) -> str:
        return f"Interval({self._every!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Interval):
            return NotImplemented
        return self._every == other._every

    def __hash__(self) -> int:
        return hash((Interval, self._every))


def every(interval: timedelta | float) -> Interval:
    """Return an `Interval` from a timedelta or a number of seconds."""
    if isinstance(interval, bool) or not isinstance(interval, (timedelta, int, float)):
        raise TypeError(
            f"every() expects a timedelta or a number of seconds, "
            f"got {type(interval).__name__}: {interval!r}"
        )
    if isinstance(interval, timedelta):
        return Interval(interval)
    try:
        return Interval(timedelta(seconds=interval))
    except (OverflowError, ValueError) as error:
        raise ValueError(
            f"every() got {interval!r} seconds: expected a finite number of seconds "
            "that fits a timedelta (at most 999,999,999 days either way)"
        ) from error
