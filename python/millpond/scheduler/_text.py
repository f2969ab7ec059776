"""`parse_schedule`: build a schedule from one line of text, as the command line takes it.

Grammar (keywords, weekday names and cron names are case-insensitive, duration
units are lowercase):

    SCHEDULE  = PART *( ";" PART )            several parts make a Multi
    PART      = "every" DURATION              an Interval
              | "daily" TIMES [WEEKDAYS]      a DailyAt
              | "cron" EXPRESSION             a Cron
    DURATION  = 1*( NUMBER UNIT )             units w d h m s, largest first, each once
    TIMES     = TIME *( "," TIME )            TIME is H:MM or HH:MM, 0:00 to 23:59
    WEEKDAYS  = DAYS *( "," DAYS )            DAYS is a name, a range such as mon-fri,
                                              "weekdays" or "weekends"

Spaces may separate the parts of a duration (`every 1h 30m`), surround the
commas of a list (`daily 09:00, 17:30 mon, fri`) and separate weekday lists
(`daily 09:00 mon wed`).
"""

from __future__ import annotations

import re
from datetime import timedelta, tzinfo
from typing import Final

from millpond.scheduler._clock import ClockTime, Weekday
from millpond.scheduler._cron import Cron
from millpond.scheduler._daily import DailyAt
from millpond.scheduler._interval import Interval
from millpond.scheduler._location import resolve_location
from millpond.scheduler._multi import Multi

_FORMS: Final = "'every DURATION', 'daily TIMES [WEEKDAYS]' or 'cron EXPRESSION'"
_DURATION_FORM: Final = "whole numbers with units w, d, h, m or s, such as 90s, 5m or 1h30m"
_DAILY_FORM: Final = "'daily 02:00' or 'daily 09:00,17:30 mon-fri'"
_WEEKDAY_FORM: Final = (
    "mon, tue, wed, thu, fri, sat or sun (or the full names), a range such as mon-fri, "
    "weekdays or weekends, separated by commas"
)

# Seconds per unit, largest first: a duration names its units in this order.
_UNIT_SECONDS: Final = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_ORDER: Final = {unit: rank for rank, unit in enumerate(reversed(_UNIT_SECONDS))}
_MAX_SECONDS: Final = timedelta.max // timedelta(seconds=1)
# More significant digits than this exceed _MAX_SECONDS even in seconds.
_MAX_DIGITS: Final = len(str(_MAX_SECONDS))
_NUMBER_OR_TEXT: Final = re.compile(r"[0-9]+|[^0-9]+")
_COMMA: Final = re.compile(r"\s*,\s*")
_TIME_LIKE: Final = re.compile(r"[0-9]{1,2}:[0-9]{2}")

_DAY_NAMES: Final = {
    **{day.name[:3].lower(): day for day in Weekday},
    **{day.name.lower(): day for day in Weekday},
}
_DAY_GROUPS: Final = {
    "weekdays": tuple(Weekday)[:5],
    "weekends": (Weekday.SATURDAY, Weekday.SUNDAY),
}


def parse_schedule(
    text: str, location: tzinfo | str | None = None
) -> Interval | DailyAt | Cron | Multi:
    """Parse a schedule such as "every 5m", "daily 02:00,14:30 mon-fri" or "cron 0 2 * * *".

    Parts joined by `;` give a `Multi` of them, in the order written. `location`
    is the zone of `daily` and `cron` parts, as in `DailyAt`. An `every` part
    counts elapsed time, so it returns results in the tzinfo of `after`. The
    location is checked even when no part uses it.

    Raises TypeError unless `text` is a str, and ValueError naming the bad part
    and the accepted forms for invalid text, an invalid cron expression (with
    `Cron`'s message) or an unknown zone.
    """
    if not isinstance(text, str):
        raise TypeError(f"schedule must be a str, got {type(text).__name__}: {text!r}")
    resolve_location(location)

    parts = text.split(";")
    if len(parts) == 1:
        return _parse_part(text, location)

    schedules: list[Interval | DailyAt | Cron] = []
    for number, part in enumerate(parts, 1):
        if not part.strip():
            raise ValueError(
                f"invalid schedule {text!r}: part {number} of {len(parts)} is empty; "
                f"expected {_FORMS} between the ';'"
            )
        schedules.append(_parse_part(part, location))
    return Multi(schedules)


def _parse_part(part: str, location: tzinfo | str | None) -> Interval | DailyAt | Cron:
    text = part.strip()
    words = text.split()
    if not words:
        raise ValueError(f"empty schedule: expected {_FORMS}")

    kind = words[0].lower()
    if kind == "every":
        return _parse_every(words[1:], text)
    if kind == "daily":
        return _parse_daily(text[len(words[0]) :], text, location)
    if kind == "cron":
        return _parse_cron(words[1:], text, location)
    raise ValueError(f"invalid schedule {text!r}: unknown kind {words[0]!r}, expected {_FORMS}")


def _parse_every(words: list[str], text: str) -> Interval:
    if not words:
        raise ValueError(
            f"invalid schedule {text!r}: missing duration after 'every', expected {_DURATION_FORM}"
        )
    duration = " ".join(words)

    seconds = 0
    previous_unit: str | None = None
    for word in words:
        for number, unit in _duration_components(word, text):
            if previous_unit is not None and _UNIT_ORDER[unit] >= _UNIT_ORDER[previous_unit]:
                raise ValueError(
                    f"invalid duration {duration!r} in {text!r}: {unit!r} follows "
                    f"{previous_unit!r}; write each unit once, largest first, as in 1h30m"
                )
            previous_unit = unit
            seconds += number * _UNIT_SECONDS[unit]

    if seconds == 0:
        raise ValueError(
            f"invalid duration {duration!r} in {text!r}: expected a duration greater than "
            "zero, such as 5m"
        )
    if seconds > _MAX_SECONDS:
        raise ValueError(_too_long(duration, text))
    return Interval(timedelta(seconds=seconds))


def _duration_components(word: str, text: str) -> list[tuple[int, str]]:
    """Split one word of a duration, such as "1h30m", into (number, unit) pairs."""

    def invalid(problem: str) -> ValueError:
        return ValueError(f"invalid duration {word!r} in {text!r}: {problem}")

    if word.startswith("-"):
        raise invalid(f"a duration cannot be negative; expected {_DURATION_FORM}")
    pieces = _NUMBER_OR_TEXT.findall(word)
    if not _is_number(pieces[0]):
        raise invalid(f"expected {_DURATION_FORM}")

    # The pattern alternates, so pieces are number, unit, number, unit, ...
    components: list[tuple[int, str]] = []
    for index in range(0, len(pieces), 2):
        number = pieces[index]
        if index + 1 == len(pieces):
            if len(pieces) == 1:
                raise invalid(f"missing unit; write {word}s for seconds or {word}m for minutes")
            raise invalid(f"missing unit after {number}; expected {_DURATION_FORM}")
        unit = pieces[index + 1]
        if unit.startswith((".", ",")) and index + 2 < len(pieces):
            raise invalid(f"fractions are not accepted; expected {_DURATION_FORM}")
        if unit not in _UNIT_SECONDS:
            hint = " (units are lowercase)" if unit.lower() in _UNIT_SECONDS else ""
            raise invalid(f"unknown unit {unit!r}{hint}; expected {_DURATION_FORM}")

        # A number this long exceeds the maximum in any unit. Checking the
        # length first also keeps int() below its limit on digits.
        if len(number.lstrip("0")) > _MAX_DIGITS:
            raise ValueError(_too_long(word, text))
        components.append((int(number), unit))
    return components


def _is_number(piece: str) -> bool:
    return piece[0] in "0123456789"


def _too_long(duration: str, text: str) -> str:
    return (
        f"invalid duration {duration!r} in {text!r}: longer than the maximum of "
        f"{timedelta.max.days} days"
    )


def _parse_daily(rest: str, text: str, location: tzinfo | str | None) -> DailyAt:
    words = _COMMA.sub(",", rest.strip()).split()
    if not words:
        raise ValueError(
            f"invalid schedule {text!r}: missing times after 'daily', expected {_DAILY_FORM}"
        )

    times = _parse_times(words[0], text)
    weekdays: set[Weekday] = set()
    for word in words[1:]:
        for item in _list_items(word, text, "weekdays"):
            weekdays.update(_parse_day_item(item, text))
    return DailyAt(times, sorted(weekdays), location)


def _list_items(word: str, text: str, list_name: str) -> list[str]:
    items = word.split(",")
    if "" in items:
        raise ValueError(
            f"invalid {list_name} {word!r} in {text!r}: empty list item; separate items with "
            "single commas, as in 09:00,17:30 or mon,wed"
        )
    return items


def _parse_times(word: str, text: str) -> list[ClockTime]:
    return [_parse_time(item, text) for item in _list_items(word, text, "times")]


def _parse_time(item: str, text: str) -> ClockTime:
    try:
        return ClockTime.parse(item)
    except ValueError as error:
        raise ValueError(
            f"invalid time {item!r} in {text!r}: expected H:MM or HH:MM from 0:00 to "
            f"23:59, as in {_DAILY_FORM}"
        ) from error


def _parse_day_item(item: str, text: str) -> tuple[Weekday, ...]:
    """Parse one list item: a day name, a range of names, or a group such as "weekdays"."""
    if _TIME_LIKE.fullmatch(item):
        raise ValueError(
            f"unexpected time {item!r} in {text!r}: separate times with commas, "
            "as in 'daily 09:00,17:30', and put weekdays after them"
        )
    key = item.lower()
    group = _DAY_GROUPS.get(key)
    if group is not None:
        return group

    first_name, dash, last_name = key.partition("-")
    first = _parse_day_name(first_name, item, text)
    if not dash:
        return (first,)
    last = _parse_day_name(last_name, item, text)
    if first > last:
        raise ValueError(
            f"invalid weekday range {item!r} in {text!r}: ranges run from mon to sun and "
            f"do not wrap around, so write {_wrapped_range(first, last)}"
        )
    return tuple(Weekday(day) for day in range(first, last + 1))


def _wrapped_range(first: Weekday, last: Weekday) -> str:
    """Write the days from `first` through Sunday and Monday to `last` as two ranges."""
    to_sunday = _short_range(first, Weekday.SUNDAY)
    from_monday = _short_range(Weekday.MONDAY, last)
    return f"{to_sunday},{from_monday}"


def _short_range(first: Weekday, last: Weekday) -> str:
    first_name, last_name = first.name[:3].lower(), last.name[:3].lower()
    return first_name if first == last else f"{first_name}-{last_name}"


def _parse_day_name(name: str, item: str, text: str) -> Weekday:
    day = _DAY_NAMES.get(name)
    if day is not None:
        return day
    if name.isdecimal():
        raise ValueError(
            f"invalid weekday {item!r} in {text!r}: use day names such as mon-fri, because "
            "numbers are ambiguous (cron counts from Sunday 0, Python from Monday 0)"
        )
    raise ValueError(f"invalid weekday {item!r} in {text!r}: expected {_WEEKDAY_FORM}")


def _parse_cron(words: list[str], text: str, location: tzinfo | str | None) -> Cron:
    if not words:
        raise ValueError(
            f"invalid schedule {text!r}: missing expression after 'cron', expected five "
            "fields such as 'cron 0 2 * * *' or a macro such as 'cron @daily'"
        )
    return Cron(" ".join(words), location)
