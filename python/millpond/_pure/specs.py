"""Schedule specs: validated, immutable descriptions that compute fire instants.

Every spec offers `next(after_us)`, the first fire instant strictly after
`after_us` or None, and `upcoming(after_us, count)`, successive `next` values.
Instants are microseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Sequence
from datetime import date
from typing import Union

from millpond._pure import wall
from millpond._pure.schedule import MAX_US, MIN_US, interval_next
from millpond._pure.zone import Zone


def _require_mask(name: str, value: object, low_bit: int, high_bit: int) -> int:
    """Return `value` if it is an int with bits only in `low_bit..high_bit`; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int bit mask, got {value!r}")
    allowed = (1 << (high_bit + 1)) - (1 << low_bit)
    if value & ~allowed:
        raise ValueError(
            f"invalid {name} mask {value:#x}: expected bits {low_bit}-{high_bit} only"
        )
    return value


def _require_zone(zone: object) -> Zone:
    if not isinstance(zone, Zone):
        raise TypeError(f"zone must be a Zone, got {type(zone).__name__}")
    return zone


def _clamp_after(after_us: int) -> int | None:
    """Return `after_us`, raised to MIN_US - 1 if lower, or None when no instant follows it."""
    if isinstance(after_us, bool) or not isinstance(after_us, int):
        raise TypeError(f"after_us must be an int, got {after_us!r}")
    if after_us >= MAX_US:
        return None
    return max(after_us, MIN_US - 1)


def _bits(mask: int, low: int, high: int) -> list[int]:
    return [bit for bit in range(low, high + 1) if mask >> bit & 1]


class IntervalSpec:
    """Fire every `every_us` microseconds of elapsed time; never when `every_us <= 0`."""

    __slots__ = ("_every_us",)

    def __init__(self, every_us: int) -> None:
        if isinstance(every_us, bool) or not isinstance(every_us, int):
            raise TypeError(f"every_us must be an int, got {every_us!r}")
        self._every_us = every_us

    def next(self, after_us: int) -> int | None:
        """Return `after_us + every_us`, or None past MAX_US or when not positive."""
        return interval_next(after_us, self._every_us)

    def upcoming(self, after_us: int, count: int) -> list[int]:
        """Return up to `count` successive `next` values."""
        return wall.upcoming(self.next, after_us, count)

    def __repr__(self) -> str:
        return f"IntervalSpec({self._every_us})"


class DailySpec:
    """Fire at fixed minutes of the local day, on the weekdays of a mask (bit 0 Monday)."""

    __slots__ = ("_day_minutes", "_weekdays", "_zone")

    def __init__(self, minutes: Sequence[int], weekdays: int, zone: Zone) -> None:
        day_minutes = list(minutes)
        for minute in day_minutes:
            if isinstance(minute, bool) or not isinstance(minute, int):
                raise TypeError(f"minutes must contain ints, got {minute!r}")
            if not 0 <= minute < wall.MINUTES_PER_DAY:
                raise ValueError(f"invalid minute of the day {minute}: expected 0-1439")
        if any(a >= b for a, b in itertools.pairwise(day_minutes)):
            raise ValueError(f"invalid minutes {day_minutes}: expected sorted and unique")
        self._day_minutes = day_minutes
        self._weekdays = _require_mask("weekdays", weekdays, 0, 6)
        self._zone = _require_zone(zone)

    @property
    def day_minutes(self) -> list[int]:
        """Minutes of the local day at which the spec fires, sorted."""
        return self._day_minutes

    def next_day(self, ordinal: int) -> int | None:
        """Return the first day on or after `ordinal` whose weekday is in the mask."""
        for candidate in range(ordinal, min(ordinal + 7, wall.LAST_ORDINAL + 1)):
            # date.fromordinal(1) is a Monday, so (ordinal + 6) % 7 is datetime.weekday().
            if self._weekdays >> ((candidate + 6) % 7) & 1:
                return candidate
        return None

    def next(self, after_us: int) -> int | None:
        """Return the first fire instant > `after_us` under the fixed-time rule, or None."""
        start = _clamp_after(after_us)
        if start is None:
            return None
        return wall.next_fixed_time(self, self._zone, start)

    def upcoming(self, after_us: int, count: int) -> list[int]:
        """Return up to `count` successive `next` values."""
        return wall.upcoming(self.next, after_us, count)

    def __repr__(self) -> str:
        return f"DailySpec({self._day_minutes}, {self._weekdays:#04x}, {self._zone!r})"


class CronSpec:
    """Fire at local wall times matching five cron bit masks.

    Bits: minutes 0-59, hours 0-23, days 1-31, months 1-12, weekdays 0-6 with
    bit 0 Sunday. With `day_or` a day matches when its day of month OR its
    weekday matches, otherwise it must match both. With `real_time` the
    real-time rule applies (gap walls skipped, fold walls fire twice); without
    it, the fixed-time rule of `DailySpec`.
    """

    __slots__ = (
        "_day_minutes",
        "_day_or",
        "_days",
        "_hours",
        "_minutes",
        "_months",
        "_real_time",
        "_satisfiable",
        "_weekdays",
        "_zone",
    )

    def __init__(  # noqa: PLR0913, PLR0917 - mirrors the five cron fields plus the two rules
        self,
        minutes: int,
        hours: int,
        days: int,
        months: int,
        weekdays: int,
        day_or: bool,
        real_time: bool,
        zone: Zone,
    ) -> None:
        self._minutes = _require_mask("minutes", minutes, 0, 59)
        self._hours = _require_mask("hours", hours, 0, 23)
        self._days = _require_mask("days", days, 1, 31)
        self._months = _require_mask("months", months, 1, 12)
        self._weekdays = _require_mask("weekdays", weekdays, 0, 6)
        if not isinstance(day_or, bool) or not isinstance(real_time, bool):
            raise TypeError("day_or and real_time must be bools")
        self._day_or = day_or
        self._real_time = real_time
        self._zone = _require_zone(zone)
        self._day_minutes = [
            hour * 60 + minute
            for hour in _bits(self._hours, 0, 23)
            for minute in _bits(self._minutes, 0, 59)
        ]
        self._satisfiable = self._can_match()

    def _can_match(self) -> bool:
        """Return whether some date matches, so an impossible date never starts a long search."""
        # Over a 400-year cycle every valid (month, day) pair, Feb 29 included,
        # falls on each weekday.
        some_date = any(
            self._days >> day & 1
            for month in _bits(self._months, 1, 12)
            for day in range(1, 30 if month == 2 else calendar.monthrange(2001, month)[1] + 1)
        )
        if self._day_or:
            return some_date or (self._weekdays != 0 and self._months != 0)
        return some_date and self._weekdays != 0

    @property
    def day_minutes(self) -> list[int]:
        """Minutes of the local day matched by the hour and minute masks, sorted."""
        return self._day_minutes

    def next_day(self, ordinal: int) -> int | None:
        """Return the first day on or after `ordinal` that the date masks match."""
        if not self._satisfiable or ordinal > wall.LAST_ORDINAL:
            return None
        start = date.fromordinal(max(ordinal, wall.FIRST_ORDINAL))
        year, month, first_day = start.year, start.month, start.day
        while year <= 9999:
            if self._months >> month & 1:
                found = self._day_in_month(year, month, first_day)
                if found is not None:
                    return found
            first_day = 1
            month += 1
            if month == 13:
                year, month = year + 1, 1
        return None

    def _day_in_month(self, year: int, month: int, first_day: int) -> int | None:
        month_start = date(year, month, 1).toordinal()
        for day in range(first_day, calendar.monthrange(year, month)[1] + 1):
            ordinal = month_start + day - 1
            day_hit = self._days >> day & 1
            # toordinal() % 7 is 0 on Sundays, matching cron's weekday bits.
            weekday_hit = self._weekdays >> (ordinal % 7) & 1
            if (day_hit or weekday_hit) if self._day_or else (day_hit and weekday_hit):
                return ordinal
        return None

    def next(self, after_us: int) -> int | None:
        """Return the first fire instant > `after_us`, or None."""
        start = _clamp_after(after_us)
        if start is None:
            return None
        if self._real_time:
            return wall.next_real_time(self, self._zone, start)
        return wall.next_fixed_time(self, self._zone, start)

    def upcoming(self, after_us: int, count: int) -> list[int]:
        """Return up to `count` successive `next` values."""
        return wall.upcoming(self.next, after_us, count)

    def __repr__(self) -> str:
        return (
            f"CronSpec(minutes={self._minutes:#x}, hours={self._hours:#x}, "
            f"days={self._days:#x}, months={self._months:#x}, "
            f"weekdays={self._weekdays:#x}, day_or={self._day_or}, "
            f"real_time={self._real_time}, zone={self._zone!r})"
        )


Spec = Union[IntervalSpec, DailySpec, CronSpec, "MultiSpec"]


class MultiSpec:
    """Fire whenever any member fires: `next` is the earliest non-None member result."""

    __slots__ = ("_members",)

    def __init__(self, members: Sequence[Spec]) -> None:
        checked = list(members)
        for index, member in enumerate(checked):
            if not isinstance(member, (IntervalSpec, DailySpec, CronSpec, MultiSpec)):
                raise TypeError(
                    f"members[{index}] must be a spec of this backend, got {type(member).__name__}"
                )
        self._members = tuple(checked)

    def next(self, after_us: int) -> int | None:
        """Return the smallest non-None `next` of the members, or None."""
        results = [
            result for member in self._members if (result := member.next(after_us)) is not None
        ]
        return min(results, default=None)

    def upcoming(self, after_us: int, count: int) -> list[int]:
        """Return up to `count` successive `next` values."""
        return wall.upcoming(self.next, after_us, count)

    def __repr__(self) -> str:
        return f"MultiSpec({list(self._members)!r})"
