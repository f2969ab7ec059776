"""A slow, literal reference for wall-clock schedules, written apart from the backends.

It walks local calendar days and every hour and minute of each, applies the
rules word for word with `zoneinfo`, and keeps the smallest instant. Nothing
here shares code with `millpond._pure`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Zones whose rules have tripped schedulers: odd DST sizes, skipped days,
# negative DST, changes at midnight, offsets with 45 minutes.
TRICKY_ZONES = (
    "America/Los_Angeles",
    "America/Chicago",
    "America/Montreal",
    "America/Nuuk",
    "America/Santiago",
    "America/Sao_Paulo",
    "America/Havana",
    "America/St_Johns",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Amsterdam",
    "Europe/Warsaw",
    "Europe/Dublin",
    "Europe/London",
    "Europe/Moscow",
    "Asia/Hebron",
    "Asia/Gaza",
    "Asia/Tehran",
    "Asia/Kolkata",
    "Africa/Casablanca",
    "Africa/Cairo",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Antarctica/Troll",
    "Pacific/Apia",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "UTC",
)


@dataclass(frozen=True)
class WallRule:
    """The wall times a schedule matches, and which rule resolves them."""

    matches_day: Callable[[date], bool]
    hours: frozenset[int]
    minutes: frozenset[int]
    real_time: bool


def daily_rule(minutes_of_day: set[int], weekdays: set[int]) -> WallRule:
    """Return the rule of DailyAt: fixed times, weekdays in Monday-0 numbering (empty: all)."""
    hours = frozenset(m // 60 for m in minutes_of_day)
    every_day = not weekdays

    def matches_day(day: date) -> bool:
        return every_day or day.weekday() in weekdays

    # Hours and minutes are not independent for DailyAt, so keep pairs.
    pairs = frozenset((m // 60, m % 60) for m in minutes_of_day)
    return _PairRule(matches_day, hours, frozenset(range(60)), real_time=False, pairs=pairs)


@dataclass(frozen=True)
class _PairRule(WallRule):
    pairs: frozenset[tuple[int, int]]


def cron_rule(  # noqa: PLR0913
    minutes: set[int],
    hours: set[int],
    days: set[int],
    months: set[int],
    weekdays: set[int],
    *,
    day_or: bool,
    real_time: bool,
) -> WallRule:
    """Return the rule of a cron expression; weekdays 0-6 with 0 Sunday."""

    def matches_day(day: date) -> bool:
        if day.month not in months:
            return False
        day_hit = day.day in days
        weekday_hit = (day.weekday() + 1) % 7 in weekdays
        return (day_hit or weekday_hit) if day_or else (day_hit and weekday_hit)

    return WallRule(matches_day, frozenset(hours), frozenset(minutes), real_time)


def _walls(rule: WallRule, day: date) -> Iterator[datetime]:
    pairs = rule.pairs if isinstance(rule, _PairRule) else None
    for hour in range(24):
        if hour not in rule.hours:
            continue
        for minute in range(60):
            if minute not in rule.minutes:
                continue
            if pairs is not None and (hour, minute) not in pairs:
                continue
            yield datetime(day.year, day.month, day.day, hour, minute)  # noqa: DTZ001


def _instants(rule: WallRule, wall: datetime, zone: ZoneInfo) -> list[datetime]:
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if not rule.real_time:
        return [first]
    # Real time: every instant at which the zone shows exactly this wall time.
    found = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return found


@dataclass(frozen=True)
class OracleResult:
    """The reference result: `fire`, or None when nothing fires before `searched_until`."""

    fire: datetime | None
    searched_until: datetime


def oracle_next(
    rule: WallRule, zone: ZoneInfo, after: datetime, max_days: int = 400
) -> OracleResult:
    """Return the first instant > `after` at which `rule` fires in `zone`, searching `max_days`."""
    start = after.astimezone(zone).date() - timedelta(days=2)
    last = min(start + timedelta(days=max_days), date(9999, 12, 29))
    best: datetime | None = None
    best_day: date | None = None
    day = start
    while day <= last:
        # A wall more than two days after the best one cannot resolve before it.
        if best_day is not None and day > best_day + timedelta(days=2):
            break
        if rule.matches_day(day):
            for wall in _walls(rule, day):
                for instant in _instants(rule, wall, zone):
                    if instant > after and (best is None or instant < best):
                        best, best_day = instant, day
        day += timedelta(days=1)
    searched_until = datetime(last.year, last.month, last.day, tzinfo=UTC) - timedelta(days=1)
    return OracleResult(best, searched_until)


def transitions_in_year(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """Return (instant, offset before, offset after) for each offset change in `year`, UTC.

    Samples every six hours and bisects to the second, so changes closer
    together than six hours can be missed.
    """
    found = []
    step = timedelta(hours=6)
    current = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    offset = current.astimezone(zone).utcoffset()
    while current < end:
        following = current + step
        next_offset = following.astimezone(zone).utcoffset()
        if next_offset != offset:
            low, high = current, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.append((high.replace(microsecond=0), offset, next_offset))
        current, offset = following, next_offset
    return found  # type: ignore[return-value]


def micros(instant: datetime) -> int:
    """Return microseconds since the Unix epoch."""
    return (instant - EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    """Return the UTC datetime `value` microseconds after the epoch."""
    return EPOCH + timedelta(microseconds=value)
