"""`parse_schedule`: the text syntax of schedules, valid and invalid input."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from millpond.scheduler import (
    Cron,
    DailyAt,
    Interval,
    Multi,
    Schedule,
    Weekday,
    parse_schedule,
    upcoming,
)

UTC = timezone.utc
BERLIN = "Europe/Berlin"
WORKDAYS = [Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY]

FORMS = "expected 'every DURATION', 'daily TIMES [WEEKDAYS]' or 'cron EXPRESSION'"
DURATION_FORM = "expected whole numbers with units w, d, h, m or s, such as 90s, 5m or 1h30m"
DAILY_FORM = "as in 'daily 02:00' or 'daily 09:00,17:30 mon-fri'"
TIME_FORM = f"expected H:MM or HH:MM from 0:00 to 23:59, {DAILY_FORM}"
WEEKDAY_FORM = (
    "expected mon, tue, wed, thu, fri, sat or sun (or the full names), a range such as "
    "mon-fri, weekdays or weekends, separated by commas"
)


VALID = [
    # every with units, combinations, spaces between parts, leading zeros
    ("every 90s", Interval(timedelta(seconds=90))),
    ("every 5m", Interval(timedelta(minutes=5))),
    ("every 1h30m", Interval(timedelta(hours=1, minutes=30))),
    ("every 1h 30m", Interval(timedelta(hours=1, minutes=30))),
    ("every 2d", Interval(timedelta(days=2))),
    ("every 1w", Interval(timedelta(weeks=1))),
    ("every 1w2d3h4m5s", Interval(timedelta(days=9, hours=3, minutes=4, seconds=5))),
    ("every 90m", Interval(timedelta(minutes=90))),
    ("every 05m", Interval(timedelta(minutes=5))),
    ("every 1h0m", Interval(timedelta(hours=1))),
    ("every 999999999d", Interval(timedelta(days=999_999_999))),
    ("  EVERY   10s  ", Interval(timedelta(seconds=10))),
    # daily with times, weekday names, ranges, groups, spaces around commas
    ("daily 02:00", DailyAt("02:00", location=BERLIN)),
    ("daily 7:05", DailyAt("07:05", location=BERLIN)),
    ("daily 02:00,14:30 mon-fri", DailyAt(["02:00", "14:30"], WORKDAYS, BERLIN)),
    ("daily 14:30,02:00,14:30", DailyAt(["02:00", "14:30"], location=BERLIN)),
    ("daily 09:00, 17:30", DailyAt(["09:00", "17:30"], location=BERLIN)),
    ("daily 09:00 mon,wed,fri", DailyAt("09:00", [0, 2, 4], BERLIN)),
    ("daily 09:00 mon , wed", DailyAt("09:00", [0, 2], BERLIN)),
    ("daily 09:00 mon wed", DailyAt("09:00", [0, 2], BERLIN)),
    ("daily 09:00 sat-sun", DailyAt("09:00", [5, 6], BERLIN)),
    ("daily 09:00 weekdays", DailyAt("09:00", WORKDAYS, BERLIN)),
    ("daily 09:00 weekends", DailyAt("09:00", [5, 6], BERLIN)),
    ("daily 09:00 weekends,mon", DailyAt("09:00", [0, 5, 6], BERLIN)),
    ("daily 09:00 Monday-Wednesday", DailyAt("09:00", [0, 1, 2], BERLIN)),
    ("daily 09:00 thursday,SUNDAY", DailyAt("09:00", [3, 6], BERLIN)),
    ("daily 09:00 wed-wed", DailyAt("09:00", [2], BERLIN)),
    ("Daily 09:00 MON-FRI", DailyAt("09:00", WORKDAYS, BERLIN)),
    ("daily 09:00 mon-sun", DailyAt("09:00", location=BERLIN)),
    # cron, where the rest of the text is the expression
    ("cron */15 9-17 * * 1-5", Cron("*/15 9-17 * * 1-5", BERLIN)),
    ("cron 0 2 * * *", Cron("0 2 * * *", BERLIN)),
    ("cron   0  2 * *   MON-FRI ", Cron("0 2 * * 1-5", BERLIN)),
    ("cron @daily", Cron("@daily", BERLIN)),
    ("CRON @Hourly", Cron("0 * * * *", BERLIN)),
    # several parts
    (
        "daily 09:00; every 6h",
        Multi([DailyAt("09:00", location=BERLIN), Interval(timedelta(hours=6))]),
    ),
    (
        "cron 0 2 * * *;daily 14:30 sat ;every 1d",
        Multi(
            [
                Cron("0 2 * * *", BERLIN),
                DailyAt("14:30", [5], BERLIN),
                Interval(timedelta(days=1)),
            ]
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[text for text, _ in VALID])
def test_parse_valid(text: str, expected: Schedule) -> None:
    schedule = parse_schedule(text, BERLIN)
    assert type(schedule) is type(expected)
    assert schedule == expected


INVALID = [
    # the kind
    ("", f"empty schedule: {FORMS}"),
    ("   ", f"empty schedule: {FORMS}"),
    ("hourly", f"invalid schedule 'hourly': unknown kind 'hourly', {FORMS}"),
    ("at 09:00", f"invalid schedule 'at 09:00': unknown kind 'at', {FORMS}"),
    ("5m", f"invalid schedule '5m': unknown kind '5m', {FORMS}"),
    ("0 2 * * *", f"invalid schedule '0 2 * * *': unknown kind '0', {FORMS}"),
    # every
    ("every", f"invalid schedule 'every': missing duration after 'every', {DURATION_FORM}"),
    (
        "every 0m",
        "invalid duration '0m' in 'every 0m': expected a duration greater than zero, such as 5m",
    ),
    (
        "every 0h 0s",
        (
            "invalid duration '0h 0s' in 'every 0h 0s': expected a duration greater than zero, "
            "such as 5m"
        ),
    ),
    (
        "every -5m",
        f"invalid duration '-5m' in 'every -5m': a duration cannot be negative; {DURATION_FORM}",
    ),
    ("every +5m", f"invalid duration '+5m' in 'every +5m': {DURATION_FORM}"),
    ("every 5x", f"invalid duration '5x' in 'every 5x': unknown unit 'x'; {DURATION_FORM}"),
    (
        "every 5min",
        f"invalid duration '5min' in 'every 5min': unknown unit 'min'; {DURATION_FORM}",
    ),
    (
        "every 5M",
        (
            f"invalid duration '5M' in 'every 5M': unknown unit 'M' (units are lowercase); "
            f"{DURATION_FORM}"
        ),
    ),
    (
        "every 45",
        (
            "invalid duration '45' in 'every 45': missing unit; write 45s for seconds or 45m for "
            "minutes"
        ),
    ),
    (
        "every 5 m",
        (
            "invalid duration '5' in 'every 5 m': missing unit; write 5s for seconds or 5m "
            "for minutes"
        ),
    ),
    (
        "every 1h30",
        f"invalid duration '1h30' in 'every 1h30': missing unit after 30; {DURATION_FORM}",
    ),
    (
        "every 1.5h",
        f"invalid duration '1.5h' in 'every 1.5h': fractions are not accepted; {DURATION_FORM}",
    ),
    (
        "every 1,5h",
        f"invalid duration '1,5h' in 'every 1,5h': fractions are not accepted; {DURATION_FORM}",
    ),
    ("every h", f"invalid duration 'h' in 'every h': {DURATION_FORM}"),
    ("every five minutes", f"invalid duration 'five' in 'every five minutes': {DURATION_FORM}"),
    (
        "every 30m1h",
        (
            "invalid duration '30m1h' in 'every 30m1h': 'h' follows 'm'; write each unit once, "
            "largest first, as in 1h30m"
        ),
    ),
    (
        "every 30m 1h",
        (
            "invalid duration '30m 1h' in 'every 30m 1h': 'h' follows 'm'; write each unit once, "
            "largest first, as in 1h30m"
        ),
    ),
    (
        "every 1m1m",
        (
            "invalid duration '1m1m' in 'every 1m1m': 'm' follows 'm'; write each unit once, "
            "largest first, as in 1h30m"
        ),
    ),
    (
        "every 1000000000d",
        (
            "invalid duration '1000000000d' in 'every 1000000000d': longer than the maximum of "
            "999999999 days"
        ),
    ),
    (
        "every " + "9" * 5000 + "s",
        (
            f"invalid duration '{'9' * 5000}s' in 'every {'9' * 5000}s': longer than the maximum "
            "of 999999999 days"
        ),
    ),
    (
        "every 5m mon-fri",
        f"invalid duration 'mon-fri' in 'every 5m mon-fri': {DURATION_FORM}",
    ),
    # times of daily
    (
        "daily",
        (
            "invalid schedule 'daily': missing times after 'daily', expected 'daily 02:00' or "
            "'daily 09:00,17:30 mon-fri'"
        ),
    ),
    ("daily 24:00", f"invalid time '24:00' in 'daily 24:00': {TIME_FORM}"),
    ("daily 7:5pm", f"invalid time '7:5pm' in 'daily 7:5pm': {TIME_FORM}"),
    ("daily 7:5", f"invalid time '7:5' in 'daily 7:5': {TIME_FORM}"),
    ("daily 12:60", f"invalid time '12:60' in 'daily 12:60': {TIME_FORM}"),
    ("daily 02:00:00", f"invalid time '02:00:00' in 'daily 02:00:00': {TIME_FORM}"),
    ("daily 9am", f"invalid time '9am' in 'daily 9am': {TIME_FORM}"),
    ("daily mon-fri 09:00", f"invalid time 'mon-fri' in 'daily mon-fri 09:00': {TIME_FORM}"),
    (
        "daily 09:00,,10:00",
        (
            "invalid times '09:00,,10:00' in 'daily 09:00,,10:00': empty list item; separate "
            "items with single commas, as in 09:00,17:30 or mon,wed"
        ),
    ),
    (
        "daily 09:00,",
        (
            "invalid times '09:00,' in 'daily 09:00,': empty list item; separate items with "
            "single commas, as in 09:00,17:30 or mon,wed"
        ),
    ),
    (
        "daily 09:00 10:00",
        (
            "unexpected time '10:00' in 'daily 09:00 10:00': separate times with commas, as in "
            "'daily 09:00,17:30', and put weekdays after them"
        ),
    ),
    # weekdays of daily
    ("daily 09:00 mun", f"invalid weekday 'mun' in 'daily 09:00 mun': {WEEKDAY_FORM}"),
    ("daily 09:00 mo", f"invalid weekday 'mo' in 'daily 09:00 mo': {WEEKDAY_FORM}"),
    ("daily 09:00 weekday", f"invalid weekday 'weekday' in 'daily 09:00 weekday': {WEEKDAY_FORM}"),
    ("daily 09:00 mon-", f"invalid weekday 'mon-' in 'daily 09:00 mon-': {WEEKDAY_FORM}"),
    ("daily 09:00 -fri", f"invalid weekday '-fri' in 'daily 09:00 -fri': {WEEKDAY_FORM}"),
    (
        "daily 09:00 mon-tue-wed",
        f"invalid weekday 'mon-tue-wed' in 'daily 09:00 mon-tue-wed': {WEEKDAY_FORM}",
    ),
    (
        "daily 09:00 weekdays-sun",
        f"invalid weekday 'weekdays-sun' in 'daily 09:00 weekdays-sun': {WEEKDAY_FORM}",
    ),
    (
        "daily 09:00 fri-mon",
        (
            "invalid weekday range 'fri-mon' in 'daily 09:00 fri-mon': ranges run from mon to "
            "sun and do not wrap around, so write fri-sun,mon"
        ),
    ),
    (
        "daily 09:00 sun-sat",
        (
            "invalid weekday range 'sun-sat' in 'daily 09:00 sun-sat': ranges run from mon to "
            "sun and do not wrap around, so write sun,mon-sat"
        ),
    ),
    (
        "daily 09:00 sat-tue",
        (
            "invalid weekday range 'sat-tue' in 'daily 09:00 sat-tue': ranges run from mon to "
            "sun and do not wrap around, so write sat-sun,mon-tue"
        ),
    ),
    (
        "daily 09:00 1-5",
        (
            "invalid weekday '1-5' in 'daily 09:00 1-5': use day names such as mon-fri, because "
            "numbers are ambiguous (cron counts from Sunday 0, Python from Monday 0)"
        ),
    ),
    (
        "daily 09:00 mon,,fri",
        (
            "invalid weekdays 'mon,,fri' in 'daily 09:00 mon,,fri': empty list item; separate "
            "items with single commas, as in 09:00,17:30 or mon,wed"
        ),
    ),
    # cron, with the messages of Cron itself
    (
        "cron",
        (
            "invalid schedule 'cron': missing expression after 'cron', expected five fields "
            "such as 'cron 0 2 * * *' or a macro such as 'cron @daily'"
        ),
    ),
    ("cron 61 * * * *", "invalid cron minute field '61': expected 0-59"),
    ("cron 0 24 * * *", "invalid cron hour field '24': expected 0-23"),
    (
        "cron 0 2 * *",
        (
            "invalid cron expression '0 2 * *': expected 5 fields (minute hour day-of-month "
            "month day-of-week) or one of @hourly, @daily, @midnight, @weekly, @monthly, "
            "@yearly, @annually, got 4"
        ),
    ),
    (
        "cron @reboot",
        (
            "invalid cron expression '@reboot': unknown macro, expected one of @hourly, @daily, "
            "@midnight, @weekly, @monthly, @yearly, @annually"
        ),
    ),
    # several parts
    (
        "daily 09:00;",
        f"invalid schedule 'daily 09:00;': part 2 of 2 is empty; {FORMS} between the ';'",
    ),
    (
        ";every 5m",
        f"invalid schedule ';every 5m': part 1 of 2 is empty; {FORMS} between the ';'",
    ),
    (
        "every 5m; ;cron @daily",
        (
            f"invalid schedule 'every 5m; ;cron @daily': part 2 of 3 is empty; {FORMS} between "
            "the ';'"
        ),
    ),
    (
        "daily 09:00; every 5x",
        f"invalid duration '5x' in 'every 5x': unknown unit 'x'; {DURATION_FORM}",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[text[:40] for text, _ in INVALID])
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_schedule(text, BERLIN)


def test_parse_rejects_non_string() -> None:
    with pytest.raises(TypeError, match="schedule must be a str, got int: 5"):
        parse_schedule(5)  # type: ignore[arg-type]


def test_parse_location_applies_to_wall_clock_parts() -> None:
    daily = parse_schedule("daily 09:00", "America/New_York")
    cron = parse_schedule("cron 0 9 * * *", ZoneInfo("Asia/Tokyo"))
    fixed = parse_schedule("daily 09:00", UTC)

    assert isinstance(daily, DailyAt)
    assert daily.location is ZoneInfo("America/New_York")
    assert isinstance(cron, Cron)
    assert cron.location is ZoneInfo("Asia/Tokyo")
    assert isinstance(fixed, DailyAt)
    assert fixed.location is UTC


def test_parse_location_defaults_to_system_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    schedule = parse_schedule("daily 09:00")
    assert isinstance(schedule, DailyAt)
    assert schedule.location is ZoneInfo("Asia/Kolkata")


def test_parse_checks_location_for_every() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        parse_schedule("every 5m", "Mars/Base")
    with pytest.raises(TypeError, match="invalid location 5 \\(int\\)"):
        parse_schedule("every 5m", 5)  # type: ignore[arg-type]


def test_parse_every_counts_elapsed_time() -> None:
    # Berlin moves its clocks forward at 01:00 UTC on 2026-03-29, so one day
    # of elapsed time ends an hour later on the wall clock.
    after = datetime(2026, 3, 28, 12, 0, tzinfo=ZoneInfo(BERLIN))
    result = parse_schedule("every 1d", BERLIN).next(after)
    assert result is not None
    assert result.isoformat() == "2026-03-29T13:00:00+02:00"


def test_parse_daily_follows_wall_clock_across_dst() -> None:
    after = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    times = upcoming(parse_schedule("daily 02:30", BERLIN), after, 2)
    # 02:30 does not exist on 2026-03-29 in Berlin, so it runs an hour late.
    assert [time.isoformat() for time in times] == [
        "2026-03-29T03:30:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_parse_multi_runs_at_earliest_part() -> None:
    after = datetime(2026, 1, 1, tzinfo=UTC)
    schedule = parse_schedule("daily 09:00; every 6h", "UTC")
    times = upcoming(schedule, after, 4)
    assert [time.isoformat() for time in times] == [
        "2026-01-01T06:00:00+00:00",
        "2026-01-01T09:00:00+00:00",
        "2026-01-01T15:00:00+00:00",
        "2026-01-01T21:00:00+00:00",
    ]


def test_parse_cron_without_runs() -> None:
    schedule = parse_schedule("cron 0 0 30 2 *", "UTC")
    assert schedule.next(datetime(2026, 1, 1, tzinfo=UTC)) is None
