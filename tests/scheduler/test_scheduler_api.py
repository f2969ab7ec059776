"""The public scheduler API: construction, validation messages, locations, values."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo

import pytest

import millpond.scheduler._location as location_module
from millpond.scheduler import (
    ClockTime,
    Cron,
    DailyAt,
    Interval,
    Multi,
    Schedule,
    Weekday,
    every,
    iter_times,
    upcoming,
)

UTC = timezone.utc
AFTER = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class LegacyZone(tzinfo):
    """A tzinfo of another library's kind (pytz and dateutil subclass tzinfo like this)."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=1)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)


# ClockTime and Weekday


def test_clock_time_parse_forms() -> None:
    assert ClockTime.parse("14:30") == ClockTime(14, 30)
    assert ClockTime.parse("7:05") == ClockTime(7, 5)
    assert ClockTime.parse("07:05") == ClockTime(7, 5)
    assert ClockTime.parse("0:00") == ClockTime(0, 0)
    assert ClockTime.parse("23:59") == ClockTime(23, 59)


@pytest.mark.parametrize(
    "text", ["24:00", "7:5pm", "12:60", "1:5", "123:00", " 1:05", "1:05 ", "12h30", "", "١٢:٣٠"]
)
def test_clock_time_parse_rejects(text: str) -> None:
    message = f"invalid time {text!r}: expected HH:MM with hour 0-23 and minute 0-59"
    with pytest.raises(ValueError, match=re.escape(message)):
        ClockTime.parse(text)


def test_clock_time_validates_parts() -> None:
    with pytest.raises(ValueError, match="invalid hour 24: expected 0-23"):
        ClockTime(24, 0)
    with pytest.raises(ValueError, match="invalid minute 60: expected 0-59"):
        ClockTime(1, 60)
    with pytest.raises(TypeError, match="hour must be an int"):
        ClockTime(True, 0)  # noqa: FBT003 - the bool is the bad input
    with pytest.raises(TypeError, match="minute must be an int"):
        ClockTime(1, "5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects a str"):
        ClockTime.parse(1430)  # type: ignore[arg-type]


def test_clock_time_is_an_ordered_frozen_value() -> None:
    assert ClockTime(9, 0) < ClockTime(9, 1) < ClockTime(10, 0)
    assert sorted([ClockTime(10, 0), ClockTime(9, 30)]) == [ClockTime(9, 30), ClockTime(10, 0)]
    assert len({ClockTime(9, 0), ClockTime(9, 0)}) == 1
    with pytest.raises(AttributeError):
        ClockTime(9, 0).hour = 10  # type: ignore[misc]
    assert str(ClockTime(7, 5)) == "07:05"
    assert repr(ClockTime(7, 5)) == "ClockTime(7, 5)"
    assert ClockTime(7, 5).minute_of_day == 425


def test_weekday_numbering_matches_datetime() -> None:
    assert Weekday.MONDAY == 0
    assert Weekday.SUNDAY == 6
    assert Weekday(datetime(2024, 5, 5).weekday()) is Weekday.SUNDAY  # noqa: DTZ001


# DailyAt


def test_daily_at_time_forms() -> None:
    schedule = DailyAt(["14:30", ClockTime(8, 0), "08:00"], Weekday.FRIDAY, "UTC")
    assert schedule.times == (ClockTime(8, 0), ClockTime(14, 30))
    assert schedule.weekdays == (Weekday.FRIDAY,)
    assert DailyAt("08:00", location="UTC").times == (ClockTime(8, 0),)
    assert DailyAt(ClockTime(8, 0), [4], "UTC") == schedule.__class__(
        "08:00", [Weekday.FRIDAY], "UTC"
    )


def test_daily_at_without_times_never_runs() -> None:
    assert DailyAt([], location="UTC").next(AFTER) is None
    assert upcoming(DailyAt([], location="UTC"), AFTER, 3) == []


@pytest.mark.parametrize(
    ("weekdays", "error", "message"),
    [
        ([7], ValueError, "invalid weekday 7: expected 0-6"),
        ([-1], ValueError, "invalid weekday -1: expected 0-6"),
        ([True], TypeError, "invalid weekday True (bool)"),
        (["MON"], TypeError, "invalid weekday 'MON' (str)"),
        ("0", TypeError, "weekdays must be a Weekday, an int 0-6, or an iterable"),
        (1.5, TypeError, "weekdays must be a Weekday"),
    ],
)
def test_daily_at_rejects_weekdays(weekdays: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        DailyAt("08:00", weekdays, "UTC")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("times", "error", "message"),
    [
        ("24:00", ValueError, "invalid time '24:00'"),
        (["08:00", "7:5pm"], ValueError, "invalid time '7:5pm'"),
        ([800], TypeError, "invalid time 800 (int)"),
        (800, TypeError, "times must be a ClockTime"),
    ],
)
def test_daily_at_rejects_times(times: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        DailyAt(times, location="UTC")  # type: ignore[arg-type]


def test_daily_at_value_semantics() -> None:
    a = DailyAt(["08:00", "20:00"], [0, 1], "Europe/Berlin")
    b = DailyAt(["20:00", "08:00"], [Weekday.TUESDAY, Weekday.MONDAY], ZoneInfo("Europe/Berlin"))
    assert a == b
    assert hash(a) == hash(b)
    assert a != DailyAt(["08:00", "20:00"], [0, 1], "Europe/Paris")
    assert DailyAt("08:00", location="UTC") == DailyAt("08:00", range(7), "UTC")
    assert repr(a) == (
        "DailyAt(['08:00', '20:00'], weekdays=[Weekday.MONDAY, Weekday.TUESDAY], "
        "location='Europe/Berlin')"
    )
    assert repr(DailyAt("08:00", location=UTC)) == "DailyAt(['08:00'], location=timezone.utc)"
    assert isinstance(a, Schedule)


# Locations


def test_location_zoneinfo_object_is_kept() -> None:
    zone = ZoneInfo("Asia/Tokyo")
    schedule = DailyAt("09:00", location=zone)
    assert schedule.location is zone
    result = schedule.next(AFTER)
    assert result is not None
    assert result.tzinfo is zone


def test_location_fixed_offset() -> None:
    zone = timezone(timedelta(hours=5, minutes=30))
    result = DailyAt("09:00", location=zone).next(AFTER)
    assert result == datetime(2024, 5, 2, 9, 0, tzinfo=zone)
    assert result is not None
    assert result.tzinfo is zone


def test_location_rejects_other_tzinfo_classes() -> None:
    with pytest.raises(TypeError, match="pass ZoneInfo\\(name\\) instead"):
        DailyAt("09:00", location=LegacyZone())
    with pytest.raises(TypeError, match="invalid location 5 \\(int\\)"):
        DailyAt("09:00", location=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../etc/passwd", "/etc/localtime", ""])
def test_location_unknown_name(name: str) -> None:
    with pytest.raises(ValueError, match=f"unknown time zone {re.escape(repr(name))}"):
        Cron("0 0 * * *", name)


def test_location_zoneinfo_without_key() -> None:
    data = location_module._find_tzif("Europe/Berlin")
    assert data is not None
    import io  # noqa: PLC0415

    zone = ZoneInfo.from_file(io.BytesIO(data))
    with pytest.raises(ValueError, match="without a key"):
        DailyAt("09:00", location=zone)


def test_system_zone_from_tz_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    assert DailyAt("09:00").location is ZoneInfo("America/New_York")
    monkeypatch.setenv("TZ", ":Europe/Berlin")
    assert Cron("0 9 * * *").location is ZoneInfo("Europe/Berlin")
    monkeypatch.setenv("TZ", "")
    assert DailyAt("09:00").location is ZoneInfo("UTC")


def test_system_zone_from_tz_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = next(Path(p) for p in TZPATH if (Path(p) / "Asia" / "Tokyo").is_file())
    monkeypatch.setenv("TZ", str(folder / "Asia" / "Tokyo"))
    assert DailyAt("09:00").location is ZoneInfo("Asia/Tokyo")

    # A copy outside every zone folder keeps its data under the key "localtime".
    copy = tmp_path / "zone"
    shutil.copyfile(folder / "Asia" / "Tokyo", copy)
    monkeypatch.setenv("TZ", str(copy))
    schedule = DailyAt("09:00")
    assert schedule.location.key == "localtime"  # type: ignore[attr-defined]
    result = schedule.next(AFTER)
    assert result is not None
    assert result.astimezone(UTC) == datetime(2024, 5, 2, 0, 0, tzinfo=UTC)


def test_system_zone_rejects_bad_tz_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Nowhere/Town")
    with pytest.raises(ValueError, match="unknown TZ environment variable 'Nowhere/Town'"):
        DailyAt("09:00")
    monkeypatch.setenv("TZ", "/no/such/zone/file")
    with pytest.raises(ValueError, match="invalid TZ environment variable"):
        DailyAt("09:00")


def test_system_zone_from_localtime_link(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = next(Path(p) for p in TZPATH if (Path(p) / "America" / "Montreal").exists())
    link = tmp_path / "localtime"
    link.symlink_to(folder / "America" / "Montreal")
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(location_module, "_LOCALTIME", link)
    assert DailyAt("09:00").location is ZoneInfo("America/Montreal")

    monkeypatch.setattr(location_module, "_LOCALTIME", tmp_path / "missing")
    assert DailyAt("09:00").location is ZoneInfo("UTC")


def test_system_zone_is_dst_aware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    schedule = DailyAt("12:00")
    winter = schedule.next(datetime(2024, 1, 10, tzinfo=UTC))
    summer = schedule.next(datetime(2024, 7, 10, tzinfo=UTC))
    assert winter is not None
    assert summer is not None
    assert winter.astimezone(UTC).hour == 11
    assert summer.astimezone(UTC).hour == 10


# Cron


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "invalid cron minute field '61': expected 0-59"),
        ("* 24 * * *", "invalid cron hour field '24': expected 0-23"),
        ("* * 0 * *", "invalid cron day-of-month field '0': expected 1-31"),
        ("* * 32 * *", "invalid cron day-of-month field '32': expected 1-31"),
        ("* * * 13 *", "invalid cron month field '13': expected 1-12 or JAN-DEC"),
        ("* * * * 8", "invalid cron day-of-week field '8': expected 0-7 or SUN-SAT"),
        ("* * * FOO *", "invalid cron month field 'FOO': expected 1-12 or JAN-DEC"),
        ("* * * * FRY", "invalid cron day-of-week field 'FRY': expected 0-7 or SUN-SAT"),
        ("MON * * * *", "invalid cron minute field 'MON': expected 0-59"),
        ("*/0 * * * *", "invalid cron minute field '*/0': step 0 is out of range"),
        ("* */25 * * *", "invalid cron hour field '*/25': step 25 is out of range"),
        ("5-1 * * * *", "invalid cron minute field '5-1': range 5-1 is reversed"),
        ("* * * * FRI-MON", "invalid cron day-of-week field 'FRI-MON': range FRI-MON is reversed"),
        ("1,,2 * * * *", "invalid cron minute field '1,,2': empty list item"),
        ("1, * * * *", "invalid cron minute field '1,': empty list item"),
        ("* * * *", "invalid cron expression '* * * *': expected 5 fields"),
        ("* * * * * *", "invalid cron expression '* * * * * *': expected 5 fields"),
        ("", "invalid cron expression '': expected 5 fields"),
        ("@reboot", "invalid cron expression '@reboot': unknown macro"),
        ("? * * * *", "invalid cron minute field '?'"),
        ("* * L * *", "invalid cron day-of-month field 'L': expected 1-31"),
        ("1-2-3 * * * *", "invalid cron minute field '1-2-3'"),
        ("-1 * * * *", "invalid cron minute field '-1'"),
        ("*/ * * * *", "invalid cron minute field '*/'"),
    ],
)
def test_cron_rejects(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Cron(expression, "UTC")


def test_cron_rejects_non_string() -> None:
    with pytest.raises(TypeError, match="cron expression must be a str"):
        Cron(5, "UTC")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("0 0 * * 0", "0 0 * * 7"),
        ("0 0 * * SUN", "0 0 * * sun"),
        ("0 0 * JAN-MAR *", "0 0 * 1,2,3 *"),
        ("0 0 * * MON-FRI", "0 0 * * 1-5"),
        ("0 0 * * 5-7", "0 0 * * 0,5,6"),
        ("*/20 * * * *", "0,20,40 * * * *"),
        ("10/20 * * * *", "10,30,50 * * * *"),
        ("10-40/15 * * * *", "10,25,40 * * * *"),
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@ANNUALLY", "0 0 1 1 *"),
        ("  0   0 * * *  ", "0 0 * * *"),
    ],
)
def test_cron_equivalent_expressions(first: str, second: str) -> None:
    assert Cron(first, "UTC") == Cron(second, "UTC")
    assert hash(Cron(first, "UTC")) == hash(Cron(second, "UTC"))
    assert upcoming(Cron(first, "UTC"), AFTER, 5) == upcoming(Cron(second, "UTC"), AFTER, 5)


def test_cron_value_semantics() -> None:
    schedule = Cron(" 0 2 * * * ", "Europe/Berlin")
    assert schedule.expression == "0 2 * * *"
    assert schedule.location is ZoneInfo("Europe/Berlin")
    assert repr(schedule) == "Cron('0 2 * * *', location='Europe/Berlin')"
    assert schedule != Cron("0 2 * * *", "UTC")
    assert isinstance(schedule, Schedule)


def test_cron_never_matching_date_ends() -> None:
    assert Cron("0 0 30 2 *", "UTC").next(AFTER) is None
    assert Cron("0 0 31 4,6,9,11 *", "UTC").next(AFTER) is None


def test_cron_or_rule_needs_both_fields_restricted() -> None:
    either = upcoming(Cron("0 0 1 * MON", "UTC"), datetime(2024, 4, 28, tzinfo=UTC), 3)
    assert [r.date().isoformat() for r in either] == ["2024-04-29", "2024-05-01", "2024-05-06"]
    mondays = upcoming(Cron("0 0 * * MON", "UTC"), datetime(2024, 4, 28, tzinfo=UTC), 2)
    assert [r.date().isoformat() for r in mondays] == ["2024-04-29", "2024-05-06"]


# Multi


def test_multi_rejects_non_schedules() -> None:
    with pytest.raises(TypeError, match=r"invalid Multi member at index 1: .* got str"):
        Multi([Cron("0 0 * * *", "UTC"), "0 0 * * *"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="schedules must be an iterable"):
        Multi(Cron("0 0 * * *", "UTC"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="schedules must be an iterable"):
        Multi("abc")  # type: ignore[arg-type]


def test_multi_without_members_never_runs() -> None:
    assert Multi([]).next(AFTER) is None
    assert upcoming(Multi([]), AFTER, 2) == []


class FixedRuns:
    """A user-written schedule with a fixed list of runs."""

    def __init__(self, *runs: datetime) -> None:
        self.runs = runs

    def next(self, after: datetime) -> datetime | None:
        return next((run for run in self.runs if run > after), None)


def test_multi_with_user_schedule_keeps_member_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    user = FixedRuns(datetime(2024, 5, 1, 22, 0, tzinfo=tokyo))
    schedule = Multi([DailyAt("23:00", location="UTC"), user])
    result = schedule.next(AFTER)
    assert result == datetime(2024, 5, 1, 13, 0, tzinfo=UTC)
    assert result is not None
    assert result.tzinfo is tokyo
    assert schedule.schedules[1] is user
    assert "FixedRuns" in repr(schedule)


def test_multi_rejects_bad_member_results() -> None:
    class Naive:
        def next(self, after: datetime) -> datetime | None:
            return datetime(2030, 1, 1)  # noqa: DTZ001

    class Backwards:
        def next(self, after: datetime) -> datetime | None:
            return after

    with pytest.raises(TypeError, match="Multi member at index 0 \\(Naive\\) returned"):
        Multi([Naive()]).next(AFTER)
    with pytest.raises(ValueError, match="which is not after"):
        Multi([Backwards()]).next(AFTER)


def test_multi_equality() -> None:
    a = Multi([DailyAt("08:00", location="UTC"), every(60)])
    b = Multi([DailyAt("08:00", location="UTC"), Interval(timedelta(seconds=60))])
    assert a == b
    assert hash(a) == hash(b)


# upcoming and iter_times


def test_upcoming_and_iter_times_validate_arguments() -> None:
    schedule = DailyAt("08:00", location="UTC")
    with pytest.raises(ValueError, match="invalid count -1"):
        upcoming(schedule, AFTER, -1)
    with pytest.raises(TypeError, match="count must be an int"):
        upcoming(schedule, AFTER, 2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="count must be an int"):
        upcoming(schedule, AFTER, True)  # noqa: FBT003 - the bool is the bad input
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        upcoming(schedule, datetime(2024, 1, 1), 1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        iter_times(schedule, datetime(2024, 1, 1))  # noqa: DTZ001
    with pytest.raises(TypeError, match="expected a schedule"):
        upcoming("0 0 * * *", AFTER, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a schedule"):
        iter_times(None, AFTER)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "schedule",
    [DailyAt("08:00", location="UTC"), Cron("0 8 * * *", "UTC"), every(3600)],
    ids=repr,
)
def test_next_requires_aware_datetime(schedule: Schedule) -> None:
    with pytest.raises(ValueError, match="attach a zone"):
        schedule.next(datetime(2024, 1, 1))  # noqa: DTZ001
    with pytest.raises(TypeError, match="after must be a datetime"):
        schedule.next("2024-01-01")  # type: ignore[arg-type]


def test_upcoming_stops_at_year_9999() -> None:
    schedule = Cron("0 0 31 12 *", "Pacific/Kiritimati")
    results = upcoming(schedule, datetime(9997, 1, 1, tzinfo=UTC), 5)
    assert [r.year for r in results] == [9997, 9998, 9999]
    assert list(iter_times(schedule, datetime(9997, 1, 1, tzinfo=UTC))) == results


def test_upcoming_rejects_schedule_that_does_not_advance() -> None:
    class Stuck:
        def next(self, after: datetime) -> datetime | None:
            return after

    with pytest.raises(ValueError, match="iteration would not advance"):
        upcoming(Stuck(), AFTER, 2)
    with pytest.raises(ValueError, match="iteration would not advance"):
        next(iter_times(Stuck(), AFTER))


def test_upcoming_with_user_schedule() -> None:
    runs = [AFTER + timedelta(hours=h) for h in (1, 2, 3)]
    assert upcoming(FixedRuns(*runs), AFTER, 5) == runs
    assert list(iter_times(FixedRuns(*runs), AFTER)) == runs
