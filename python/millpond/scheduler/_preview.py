"""`upcoming` and `iter_times`: successive run times of a schedule, for previews."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Final

from millpond.scheduler._base import SpecSchedule, result_tzinfo_of, spec_of
from millpond.scheduler._protocol import Schedule, from_micros, require_aware, to_micros

# Built-in schedules are iterated in batches this large, one backend call each.
_BATCH: Final = 64


def upcoming(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """Return the next `count` run times after `after`, fewer if the schedule ends.

    Built-in schedules compute the whole list in one backend call. Raises
    TypeError for a non-schedule or a non-int count, and ValueError for a
    naive `after`, a negative count, or a schedule whose result is not after
    the previous one.
    """
    _require_schedule(schedule)
    require_aware(after)
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, got {type(count).__name__}: {count!r}")
    if count < 0:
        raise ValueError(f"invalid count {count}: expected 0 or more")

    result_tzinfo = _uniform_tzinfo(schedule, after)
    if isinstance(schedule, SpecSchedule) and result_tzinfo is not None:
        return _from_instants(spec_of(schedule).upcoming(to_micros(after), count), result_tzinfo)

    results: list[datetime] = []
    current = after
    while len(results) < count:
        following = _checked_next(schedule, current)
        if following is None:
            break
        results.append(following)
        current = following
    return results


def iter_times(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Return an iterator over the run times after `after`; it ends when the schedule does.

    The arguments are checked here, not at the first `next()`: TypeError for a
    non-schedule, ValueError for a naive `after`.
    """
    _require_schedule(schedule)
    require_aware(after)
    result_tzinfo = _uniform_tzinfo(schedule, after)
    if isinstance(schedule, SpecSchedule) and result_tzinfo is not None:
        return _iter_batches(schedule, after, result_tzinfo)
    return _iter_one_by_one(schedule, after)


def _iter_batches(
    schedule: SpecSchedule, after: datetime, result_tzinfo: tzinfo
) -> Iterator[datetime]:
    spec = spec_of(schedule)
    after_us = to_micros(after)
    while True:
        batch = spec.upcoming(after_us, _BATCH)
        yield from _from_instants(batch, result_tzinfo)
        if len(batch) < _BATCH:
            return
        after_us = batch[-1]


def _iter_one_by_one(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    current: datetime | None = after
    while current is not None:
        current = _checked_next(schedule, current)
        if current is not None:
            yield current


def _uniform_tzinfo(schedule: Schedule, after: datetime) -> tzinfo | None:
    if isinstance(schedule, SpecSchedule):
        return result_tzinfo_of(schedule, after)
    return None


def _from_instants(instants: list[int], result_tzinfo: tzinfo) -> list[datetime]:
    results: list[datetime] = []
    for instant in instants:
        result = from_micros(instant, result_tzinfo)
        # A result whose local time lies past year 9999 cannot be shown.
        if result is None:
            break
        results.append(result)
    return results


def _checked_next(schedule: Schedule, current: datetime) -> datetime | None:
    following = schedule.next(current)
    if following is None:
        return None
    if not isinstance(following, datetime) or following.utcoffset() is None:
        raise TypeError(
            f"{type(schedule).__name__}.next() returned {following!r}: "
            "expected an aware datetime or None"
        )
    if to_micros(following) <= to_micros(current):
        raise ValueError(
            f"{type(schedule).__name__}.next({current.isoformat()}) returned "
            f"{following.isoformat()}, which is not after it; iteration would not advance"
        )
    return following


def _require_schedule(schedule: object) -> None:
    if not isinstance(schedule, Schedule) or not callable(schedule.next):
        raise TypeError(
            f"expected a schedule with a next(after) method, "
            f"got {type(schedule).__name__}: {schedule!r}"
        )
