"""`DailyAt`: fixed times of the local day, optionally on some weekdays only."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from millpond._backend import impl
from millpond.scheduler._base import SpecSchedule
from millpond.scheduler._clock import ClockTime, Weekday
from millpond.scheduler._location import resolve_location

if TYPE_CHECKING:
    from millpond.scheduler._specs import Spec

_EVERY_DAY = 0x7F


class DailyAt(SpecSchedule):
    """Run at fixed wall-clock times each day, in `location`.

    `times` is a ClockTime or "HH:MM" string, or an iterable of them (no times:
    never runs). `weekdays` is a Weekday or an int in `datetime.weekday()`
    numbering (Monday 0), or an iterable of them; empty means every day. The
    weekdays apply to all times. `location` is a ZoneInfo, an IANA name, a
    fixed `datetime.timezone`, or None for the system's local zone, read once
    here. Results are returned in that zone.

    A time that the clock skips (spring forward) runs as late as the gap is
    long, 02:30 in a one-hour gap at 03:30. A time that occurs twice (fall
    back) runs once, at its first occurrence.
    """

    __slots__ = ("_location", "_spec_object", "_times", "_weekday_mask", "_weekdays")

    def __init__(
        self,
        times: ClockTime | str | Iterable[ClockTime | str],
        weekdays: Weekday | int | Iterable[Weekday | int] = (),
        location: tzinfo | str | None = None,
    ) -> None:
        self._times = _parse_times(times)
        self._weekdays = _parse_weekdays(weekdays)
        self._weekday_mask = (
            sum(1 << day for day in self._weekdays) if self._weekdays else _EVERY_DAY
        )
        self._location = resolve_location(location)
        minutes = [time.minute_of_day for time in self._times]
        self._spec_object: Spec = impl.DailySpec(minutes, self._weekday_mask, self._location.zone)

    @property
    def times(self) -> tuple[ClockTime, ...]:
        """The run times of a day, sorted, without duplicates."""
        return self._times

    @property
    def weekdays(self) -> tuple[Weekday, ...]:
        """The weekdays to run on, sorted; empty means every day."""
        return self._weekdays

    @property
    def location(self) -> tzinfo:
        """The zone whose wall clock the times refer to; results are in it."""
        return self._location.tzinfo

    @property
    def _spec(self) -> Spec:
        return self._spec_object

    def _result_tzinfo(self, after: datetime) -> tzinfo:  # noqa: ARG002 - same for every after
        return self._location.tzinfo

    def __repr__(self) -> str:
        times = [str(time) for time in self._times]
        weekdays = f", weekdays={list(self._weekdays)!r}" if self._weekdays else ""
        return f"DailyAt({times!r}{weekdays}, location={self._location.label})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DailyAt):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((DailyAt, self._key()))

    def _key(self) -> tuple[object, ...]:
        return (self._times, self._weekday_mask, self._location.tzinfo)


def _parse_times(times: object) -> tuple[ClockTime, ...]:
    items = [times] if isinstance(times, (ClockTime, str)) else times
    if not isinstance(items, Iterable):
        raise TypeError(
            f"times must be a ClockTime, an 'HH:MM' string, or an iterable of them, "
            f"got {type(times).__name__}: {times!r}"
        )
    parsed: set[ClockTime] = set()
    for item in items:
        if isinstance(item, ClockTime):
            parsed.add(item)
        elif isinstance(item, str):
            parsed.add(ClockTime.parse(item))
        else:
            raise TypeError(
                f"invalid time {item!r} ({type(item).__name__}): "
                "expected a ClockTime or an 'HH:MM' string"
            )
    return tuple(sorted(parsed))


def _parse_weekdays(weekdays: object) -> tuple[Weekday, ...]:
    items = [weekdays] if isinstance(weekdays, int) else weekdays
    if not isinstance(items, Iterable) or isinstance(items, str):
        raise TypeError(
            f"weekdays must be a Weekday, an int 0-6, or an iterable of them, "
            f"got {type(weekdays).__name__}: {weekdays!r}"
        )
    parsed: set[Weekday] = set()
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int):
            raise TypeError(
                f"invalid weekday {item!r} ({type(item).__name__}): "
                "expected a Weekday or an int 0-6 (Monday 0 to Sunday 6)"
            )
        if not 0 <= item <= 6:
            raise ValueError(
                f"invalid weekday {item}: expected 0-6 (Monday 0 to Sunday 6) or a Weekday"
            )
        parsed.add(Weekday(item))
    return tuple(sorted(parsed))
