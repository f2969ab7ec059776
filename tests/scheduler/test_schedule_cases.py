"""Known hard cases: DST gaps and folds, skipped days, month ends, leap years, host zones.

Each table row once failed in a widely used scheduler. The tests after the
table generalise the mistake behind each row (stepping a day as 24 hours,
reusing a stale offset, leaking the host's zone, overflowing a month end) to
many zones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from schedule_oracle import TRICKY_ZONES, transitions_in_year

from millpond.scheduler import ClockTime, Cron, DailyAt, Multi, Schedule, Weekday, upcoming

UTC = timezone.utc
MON_FRI = [Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


TABLE = [
    (
        DailyAt("00:00", location="America/Los_Angeles"),
        "2022-03-13T08:00:07",
        ["2022-03-14T07:00", "2022-03-15T07:00"],
    ),
    (
        DailyAt("00:00", MON_FRI, "America/Chicago"),
        "2021-03-12T06:00:00.000001",
        ["2021-03-15T05:00", "2021-03-16T05:00"],
    ),
    (
        Cron("0 0 * * 0-4", "America/Chicago"),
        "2021-03-12T06:00:00.000001",
        ["2021-03-14T06:00", "2021-03-15T05:00"],
    ),
    (DailyAt("08:00", location="Europe/Berlin"), "2016-03-26T20:00", ["2016-03-27T06:00"]),
    (
        DailyAt("20:00", location="Europe/Paris"),
        "2022-10-29T22:00",
        ["2022-10-30T19:00", "2022-10-31T19:00", "2022-11-01T19:00"],
    ),
    (
        DailyAt("08:00", [Weekday.MONDAY], "Europe/Amsterdam"),
        "2017-10-23T06:00",
        ["2017-10-30T07:00", "2017-11-06T07:00"],
    ),
    (Cron("0 0 * * *", "Europe/Warsaw"), "2017-03-25T23:00", ["2017-03-26T22:00"]),
    (
        Cron("0 0 1 * *", "Europe/Berlin"),
        "2024-02-29T23:00",
        ["2024-03-31T22:00", "2024-04-30T22:00"],
    ),
    (
        Cron("0 0 */10 * *", "UTC"),
        "2021-02-21T00:00",
        [
            "2021-03-01T00:00",
            "2021-03-11T00:00",
            "2021-03-21T00:00",
            "2021-03-31T00:00",
            "2021-04-01T00:00",
        ],
    ),
    (Cron("0 9 29 2 *", "UTC"), "2016-02-29T09:00", ["2020-02-29T09:00"]),
    (
        DailyAt("00:10", location="America/Montreal"),
        "2023-03-12T05:10:02",
        ["2023-03-13T04:10", "2023-03-14T04:10"],
    ),
    (DailyAt("00:00", location="UTC"), "2023-09-17T22:59", ["2023-09-18T00:00"]),
    (DailyAt("00:00", [Weekday.MONDAY], "UTC"), "2023-09-17T22:59", ["2023-09-18T00:00"]),
    (
        Cron("0 0 1,16,31 * *", "UTC"),
        "2020-02-18T00:00",
        ["2020-03-01T00:00", "2020-03-16T00:00", "2020-03-31T00:00"],
    ),
]


@pytest.mark.parametrize(("schedule", "after", "expected"), TABLE, ids=repr)
def test_known_case(schedule: Schedule, after: str, expected: list[str]) -> None:
    results = upcoming(schedule, utc(after), len(expected))
    assert [r.astimezone(UTC) for r in results] == [utc(e) for e in expected]


@pytest.mark.parametrize(("schedule", "after", "expected"), TABLE, ids=repr)
def test_known_case_by_next(schedule: Schedule, after: str, expected: list[str]) -> None:
    current = utc(after)
    for text in expected:
        following = schedule.next(current)
        assert following is not None
        assert following.astimezone(UTC) == utc(text)
        current = following


def test_results_in_location_zone() -> None:
    schedule = DailyAt("20:00", location="Europe/Paris")
    result = schedule.next(utc("2022-10-29T22:00"))
    assert result is not None
    assert result.tzinfo is ZoneInfo("Europe/Paris")
    assert (result.hour, result.minute) == (20, 0)


HOST_ZONE_SCRIPT = textwrap.dedent(
    """
    from datetime import datetime, timezone
    from millpond.scheduler import Cron, DailyAt, Weekday
    after = datetime(2023, 9, 17, 22, 59, tzinfo=timezone.utc)
    for schedule in (
        DailyAt("00:00", location="UTC"),
        DailyAt("00:00", [Weekday.MONDAY], location=timezone.utc),
        Cron("0 0 * * 1", "UTC"),
    ):
        print(schedule.next(after).astimezone(timezone.utc).isoformat())
    """
)


@pytest.mark.parametrize("host_zone", ["Asia/Tokyo", "America/Los_Angeles", "Europe/Berlin"])
def test_host_zone_does_not_leak(host_zone: str) -> None:
    environment = {**os.environ, "TZ": host_zone}
    output = subprocess.run(
        [sys.executable, "-c", HOST_ZONE_SCRIPT],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert output == ["2023-09-18T00:00:00+00:00"] * 3


Change = tuple[datetime, timedelta, timedelta]


def _transitions(zone_name: str, years: tuple[int, ...]) -> list[Change]:
    zone = ZoneInfo(zone_name)
    return [change for year in years for change in transitions_in_year(zone, year)]


GAP_FOLD_YEARS = (1995, 2011, 2016, 2023)
GAP_FOLD_CASES = [
    (name, change)
    for name in TRICKY_ZONES
    for change in _transitions(name, GAP_FOLD_YEARS)
    # Only whole-minute changes: sub-minute gaps (old LMT offsets) have no matching wall time.
    if (change[2] - change[1]) % timedelta(minutes=1) == timedelta(0)
]


def _wall_clock(change: Change) -> tuple[datetime, datetime]:
    """Return the naive local walls where the change starts and ends, earlier first."""
    instant, before, after = change
    naive = instant.replace(tzinfo=None)
    walls = sorted((naive + before, naive + after))
    return walls[0], walls[1]


@pytest.mark.parametrize(
    ("zone_name", "change"), GAP_FOLD_CASES, ids=lambda v: str(v[0]) if isinstance(v, tuple) else v
)
def test_daily_at_in_gap_or_fold(zone_name: str, change: Change) -> None:
    zone = ZoneInfo(zone_name)
    instant, offset_before, offset_after = change
    low, high = _wall_clock(change)
    # The middle of the gap or fold, rounded down to a whole minute.
    middle = low + (high - low) / 2
    wall = middle.replace(second=0, microsecond=0)
    if wall < low:
        wall += timedelta(minutes=1)
    schedule = DailyAt(ClockTime(wall.hour, wall.minute), location=zone_name)

    # Fold=0 resolves both cases: the offset before the change.
    expected = (wall - offset_before).replace(tzinfo=UTC)
    assert wall.replace(tzinfo=zone, fold=0).astimezone(UTC) == expected

    start = instant - timedelta(days=1, hours=1)
    first = schedule.next(start)
    while first is not None and first.astimezone(UTC) < expected - timedelta(hours=12):
        first = schedule.next(first)
    assert first is not None
    assert first.astimezone(UTC) == expected

    # A repeated wall time runs once: the next run is on a later day.
    second = schedule.next(first)
    assert second is not None
    assert second.astimezone(UTC) - expected >= timedelta(hours=20)
    if offset_after < offset_before:
        assert second.astimezone(UTC) != expected + (offset_before - offset_after)


@pytest.mark.parametrize(
    ("zone_name", "change"), GAP_FOLD_CASES, ids=lambda v: str(v[0]) if isinstance(v, tuple) else v
)
def test_frequent_cron_follows_real_time(zone_name: str, change: Change) -> None:
    zone = ZoneInfo(zone_name)
    instant = change[0]
    schedule = Cron("*/15 * * * *", zone_name)
    start = instant - timedelta(hours=3)
    end = instant + timedelta(hours=3)
    results = [r.astimezone(UTC) for r in upcoming(schedule, start, 60) if r.astimezone(UTC) < end]

    # Every quarter hour of real time whose wall clock shows :00/:15/:30/:45 fires, once.
    expected = []
    current = start.replace(minute=0, second=0, microsecond=0)
    while current < end:
        local = current.astimezone(zone)
        if current > start and local.second == 0 and local.minute % 15 == 0:
            expected.append(current)
        current += timedelta(minutes=1)
    assert results == expected
    assert len(set(results)) == len(results)


def test_apia_skipped_day_fires_once() -> None:
    # Samoa skipped 2011-12-30: 23:59:59 on the 29th (-10:00) was followed by 00:00 on the 31st.
    schedule = DailyAt("12:00", location="Pacific/Apia")
    results = upcoming(schedule, utc("2011-12-28T23:00"), 3)
    assert [r.astimezone(UTC) for r in results] == [
        utc("2011-12-29T22:00"),  # 12:00 on the 29th at -10:00
        utc("2011-12-30T22:00"),  # the missing 30th at 12:00 resolves to 12:00 on the 31st
        utc("2011-12-31T22:00"),  # 12:00 on 2012-01-01 at +14:00
    ]
    assert [r.day for r in results] == [29, 31, 1]


def test_apia_cron_skips_nothing_twice() -> None:
    schedule = Cron("0 12 * * *", "Pacific/Apia")
    results = [r.astimezone(UTC) for r in upcoming(schedule, utc("2011-12-28T23:00"), 3)]
    assert len(set(results)) == 3


def test_lord_howe_half_hour_gap() -> None:
    # 2023-10-01 02:00 +10:30 became 02:30 +11:00; 02:15 resolves to 02:45 new time.
    schedule = DailyAt("02:15", location="Australia/Lord_Howe")
    result = schedule.next(utc("2023-09-30T12:00"))
    assert result is not None
    assert result.astimezone(UTC) == utc("2023-09-30T15:45")


def test_lord_howe_half_hour_fold() -> None:
    # 2023-04-02 02:00 +11:00 fell back to 01:30 +10:30; 01:45 runs once, at +11:00.
    schedule = DailyAt("01:45", location="Australia/Lord_Howe")
    first = schedule.next(utc("2023-04-01T12:00"))
    assert first is not None
    assert first.astimezone(UTC) == utc("2023-04-01T14:45")
    second = schedule.next(first)
    assert second is not None
    assert second.astimezone(UTC) == utc("2023-04-02T15:15")


def test_troll_two_hour_gap() -> None:
    # Antarctica/Troll jumps from +00 to +02 at 01:00 UTC on the last Sunday of March.
    schedule = DailyAt("01:30", location="Antarctica/Troll")
    result = schedule.next(utc("2023-03-25T12:00"))
    assert result is not None
    assert result.astimezone(UTC) == utc("2023-03-26T01:30")
    following = schedule.next(result)
    assert following is not None
    assert following.astimezone(UTC) == utc("2023-03-26T23:30")


def test_santiago_midnight_gap() -> None:
    # Chile springs forward at 24:00: 2022-09-11 00:00 -04 does not exist.
    schedule = Cron("0 0 * * *", "America/Santiago")
    result = schedule.next(utc("2022-09-10T05:00"))
    assert result is not None
    assert result.astimezone(UTC) == utc("2022-09-11T04:00")
    assert (result.hour, result.minute) == (1, 0)


def test_dublin_negative_dst_fold() -> None:
    # Irish "winter time" is the DST period; 01:30 on 2023-10-29 still runs once, first.
    schedule = DailyAt("01:30", location="Europe/Dublin")
    first = schedule.next(utc("2023-10-28T12:00"))
    assert first is not None
    assert first.astimezone(UTC) == utc("2023-10-29T00:30")
    second = schedule.next(first)
    assert second is not None
    assert second.astimezone(UTC) == utc("2023-10-30T01:30")


def test_multi_fires_once_at_shared_instant() -> None:
    daily = DailyAt("00:00", location="UTC")
    cron = Cron("0 0 * * *", "UTC")
    results = upcoming(Multi([daily, cron]), utc("2024-01-01T12:00"), 3)
    assert [r.astimezone(UTC) for r in results] == [
        utc("2024-01-02T00:00"),
        utc("2024-01-03T00:00"),
        utc("2024-01-04T00:00"),
    ]


def test_month_end_days_skip_short_months() -> None:
    results = upcoming(Cron("0 0 31 * *", "UTC"), utc("2023-01-31T00:00"), 4)
    assert [r.date().isoformat() for r in results] == [
        "2023-03-31",
        "2023-05-31",
        "2023-07-31",
        "2023-08-31",
    ]


def test_leap_day_skips_century_non_leap_year() -> None:
    results = upcoming(Cron("0 0 29 2 *", "UTC"), utc("2096-03-01T00:00"), 1)
    assert [r.date().isoformat() for r in results] == ["2104-02-29"]


def test_day_or_rule_with_both_fields() -> None:
    # The 13th or any Friday (Vixie cron), in 2024-09.
    results = upcoming(Cron("0 0 13 * FRI", "UTC"), utc("2024-09-01T00:00"), 4)
    assert [r.day for r in results] == [6, 13, 20, 27]


def test_day_and_rule_with_star_step() -> None:
    # "*/2" starts with '*', so the days must match both fields: odd days that are Fridays.
    results = upcoming(Cron("0 0 */2 * FRI", "UTC"), utc("2024-09-01T00:00"), 3)
    assert [r.date().isoformat() for r in results] == ["2024-09-13", "2024-09-27", "2024-10-11"]


def test_last_day_after_dst_stretch() -> None:
    # The stretch before 9999-12-31 is Cairo's summer time; its walls end with the
    # calendar, but the winter stretch that follows still has 00:00 and 00:01.
    schedule = DailyAt(["00:00", "00:01"], location="Africa/Cairo")
    after = datetime(9999, 12, 30, 21, 59, 59, 999_999, tzinfo=UTC)
    results = upcoming(schedule, after, 3)
    assert [r.astimezone(UTC) for r in results] == [
        datetime(9999, 12, 30, 22, 0, tzinfo=UTC),
        datetime(9999, 12, 30, 22, 1, tzinfo=UTC),
    ]
