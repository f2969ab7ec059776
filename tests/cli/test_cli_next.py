"""`millpond next`: run time previews, in this process through `main()` and in child processes."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from cli_helpers import run_cli

from millpond.cli import main

UTC = timezone.utc


def run_next(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Call `main(["next", *args])` and return the exit code, stdout and stderr."""
    code = main(["next", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def lines(text: str) -> list[str]:
    return text.splitlines()


# Output with a fixed --after


EXACT = [
    pytest.param(
        ["daily 02:00,14:30 mon-fri", "--tz", "Europe/Berlin", "--after", "2026-03-27T12:00"],
        [
            # Friday, then Monday after the switch to CEST on Sunday 2026-03-29.
            "2026-03-27T14:30:00+01:00  (in 2h 30m)",
            "2026-03-30T02:00:00+02:00  (in 2d 13h)",
            "2026-03-30T14:30:00+02:00  (in 3d 1h 30m)",
            "2026-03-31T02:00:00+02:00  (in 3d 13h)",
            "2026-03-31T14:30:00+02:00  (in 4d 1h 30m)",
        ],
        id="berlin-daily-weekdays-spring",
    ),
    pytest.param(
        ["daily 02:30", "--tz", "Europe/Berlin", "--after", "2026-03-28T12:00", "-n", "3"],
        [
            # 02:30 does not exist on 2026-03-29, so it runs an hour late.
            "2026-03-29T03:30:00+02:00  (in 14h 30m)",
            "2026-03-30T02:30:00+02:00  (in 1d 13h 30m)",
            "2026-03-31T02:30:00+02:00  (in 2d 13h 30m)",
        ],
        id="berlin-daily-gap",
    ),
    pytest.param(
        ["daily 02:30", "--tz", "Europe/Berlin", "--after", "2026-10-24T12:00", "-n", "3"],
        [
            # 02:30 occurs twice on 2026-10-25 and runs at the first occurrence only.
            "2026-10-25T02:30:00+02:00  (in 14h 30m)",
            "2026-10-26T02:30:00+01:00  (in 1d 15h 30m)",
            "2026-10-27T02:30:00+01:00  (in 2d 15h 30m)",
        ],
        id="berlin-daily-fold",
    ),
    pytest.param(
        ["every 1h", "--tz", "Europe/Berlin", "--after", "2026-03-29T01:30", "-n", "3"],
        [
            # Elapsed time: one hour after 01:30 CET is 03:30 CEST.
            "2026-03-29T03:30:00+02:00  (in 1h)",
            "2026-03-29T04:30:00+02:00  (in 2h)",
            "2026-03-29T05:30:00+02:00  (in 3h)",
        ],
        id="berlin-every-spring",
    ),
    pytest.param(
        ["cron @daily", "--tz", "America/New_York", "--after", "2026-11-01T00:00", "-n", "3"],
        [
            # 2026-11-01 has 25 hours in New York.
            "2026-11-02T00:00:00-05:00  (in 1d 1h)",
            "2026-11-03T00:00:00-05:00  (in 2d 1h)",
            "2026-11-04T00:00:00-05:00  (in 3d 1h)",
        ],
        id="new-york-cron-daily-fall",
    ),
    pytest.param(
        ["cron 30 2 * * *", "--tz", "America/New_York", "--after", "2026-03-07T12:00", "-n", "2"],
        [
            "2026-03-08T03:30:00-04:00  (in 14h 30m)",
            "2026-03-09T02:30:00-04:00  (in 1d 13h 30m)",
        ],
        id="new-york-cron-gap",
    ),
    pytest.param(
        ["cron */30 * * * *", "--tz", "America/New_York", "--after", "2026-11-01T00:45"],
        [
            # An hour field of '*' follows real time: the repeated hour runs twice.
            "2026-11-01T01:00:00-04:00  (in 15m)",
            "2026-11-01T01:30:00-04:00  (in 45m)",
            "2026-11-01T01:00:00-05:00  (in 1h 15m)",
            "2026-11-01T01:30:00-05:00  (in 1h 45m)",
            "2026-11-01T02:00:00-05:00  (in 2h 15m)",
        ],
        id="new-york-cron-real-time-fold",
    ),
    pytest.param(
        ["cron */15 9-17 * * 1-5", "--tz", "UTC", "--after", "2026-03-27T17:40Z", "-n", "3"],
        [
            "2026-03-27T17:45:00+00:00  (in 5m)",
            "2026-03-30T09:00:00+00:00  (in 2d 15h 20m)",
            "2026-03-30T09:15:00+00:00  (in 2d 15h 35m)",
        ],
        id="utc-cron-working-hours",
    ),
    pytest.param(
        ["daily 09:00; every 6h", "--tz", "UTC", "--after", "2026-01-01T00:00Z", "-n", "4"],
        [
            # The interval counts from the previous run of either part.
            "2026-01-01T06:00:00+00:00  (in 6h)",
            "2026-01-01T09:00:00+00:00  (in 9h)",
            "2026-01-01T15:00:00+00:00  (in 15h)",
            "2026-01-01T21:00:00+00:00  (in 21h)",
        ],
        id="multi",
    ),
    pytest.param(
        ["every 90s", "--tz", "UTC", "--after", "2026-01-01T00:00:00.250000Z", "-n", "2"],
        [
            "2026-01-01T00:01:30.250000+00:00  (in 1m 30s)",
            "2026-01-01T00:03:00.250000+00:00  (in 3m)",
        ],
        id="every-keeps-microseconds",
    ),
    pytest.param(
        ["daily 00:00", "--tz", "UTC", "--after", "2026-01-01T23:59:59.500000+00:00", "-n", "1"],
        ["2026-01-02T00:00:00+00:00  (in <1s)"],
        id="less-than-a-second",
    ),
]


@pytest.mark.parametrize(("args", "expected"), EXACT)
def test_next_prints_exact_lines(capsys, args, expected):
    code, out, err = run_next(capsys, *args)

    assert code == 0, err
    assert lines(out) == expected
    assert err == ""


def test_next_json_list(capsys):
    args = ["every 5m", "--tz", "Europe/Berlin", "--after", "2026-03-29T00:58:30Z", "-n", "2"]
    code, out, err = run_next(capsys, *args, "--json")

    assert code == 0, err
    assert json.loads(out) == ["2026-03-29T03:03:30+02:00", "2026-03-29T03:08:30+02:00"]
    assert out.count("\n") == 1


def test_next_after_offset_is_shown_in_tz(capsys):
    # 23:30 in New York is 05:30 the next day in Berlin.
    args = ["every 30m", "--tz", "Europe/Berlin", "--after", "2026-07-01T23:30-04:00", "-n", "1"]
    code, out, _ = run_next(capsys, *args)

    assert code == 0
    assert lines(out) == ["2026-07-02T06:00:00+02:00  (in 30m)"]


def test_next_naive_after_uses_tz(capsys):
    berlin = run_next(capsys, "daily 12:00", "--tz", "Europe/Berlin", "--after", "2026-07-01")
    tokyo = run_next(capsys, "daily 12:00", "--tz", "Asia/Tokyo", "--after", "2026-07-01")

    assert lines(berlin[1])[0] == "2026-07-01T12:00:00+02:00  (in 12h)"
    assert lines(tokyo[1])[0] == "2026-07-01T12:00:00+09:00  (in 12h)"


def test_next_count_limits(capsys):
    one = run_next(capsys, "every 1s", "--tz", "UTC", "--after", "2026-01-01T00:00Z", "-n", "1")
    most = run_next(
        capsys, "every 1s", "--tz", "UTC", "--after", "2026-01-01T00:00Z", "-n", "10000"
    )

    assert lines(one[1]) == ["2026-01-01T00:00:01+00:00  (in 1s)"]
    assert len(lines(most[1])) == 10_000
    assert lines(most[1])[-1] == "2026-01-01T02:46:40+00:00  (in 2h 46m 40s)"


def test_next_default_count_is_five(capsys):
    code, out, _ = run_next(capsys, "every 1m", "--tz", "UTC", "--after", "2026-01-01T00:00Z")

    assert code == 0
    assert len(lines(out)) == 5


# The start: now, and the system zone


def test_next_without_after_starts_now(capsys):
    before = datetime.now(UTC).replace(microsecond=0)
    code, out, err = run_next(capsys, "every 5m", "--tz", "Asia/Kolkata", "-n", "2", "--json")
    after = datetime.now(UTC)

    assert code == 0, err
    first, second = (datetime.fromisoformat(text) for text in json.loads(out))
    assert before + timedelta(minutes=5) <= first <= after + timedelta(minutes=5)
    assert first.microsecond == 0
    assert first.utcoffset() == timedelta(hours=5, minutes=30)
    assert second - first == timedelta(minutes=5)


def test_next_without_after_is_in_future(capsys):
    started = datetime.now(UTC)
    code, out, _ = run_next(capsys, "cron * * * * *", "--tz", "UTC", "-n", "3")

    assert code == 0
    pattern = re.compile(r"(\S+)  \(in (?:\d+[dhms] ?)+\)|(\S+)  \(in <1s\)")
    for line in lines(out):
        match = pattern.fullmatch(line)
        assert match is not None, line
        assert datetime.fromisoformat(match[1] or match[2]) > started


def test_next_default_zone_from_tz_variable(capsys, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    code, out, _ = run_next(capsys, "daily 12:00; every 7h", "--after", "2026-07-01T00:00")

    assert code == 0
    # The interval counts from the previous run of either part.
    assert lines(out)[:3] == [
        "2026-07-01T07:00:00-04:00  (in 7h)",
        "2026-07-01T12:00:00-04:00  (in 12h)",
        "2026-07-01T19:00:00-04:00  (in 19h)",
    ]


# Schedules that end


def test_next_schedule_without_runs(capsys):
    code, out, err = run_next(
        capsys, "cron 0 0 30 2 *", "--tz", "UTC", "--after", "2026-01-01T00:00Z"
    )

    assert code == 0
    assert out == ""
    assert err == (
        "millpond: the schedule has no runs after 2026-01-01T00:00:00+00:00; printed 0 of 5\n"
    )


def test_next_schedule_without_runs_json(capsys):
    args = ["cron 0 0 30 2 *", "--tz", "UTC", "--after", "2026-01-01T00:00Z", "--json"]
    code, out, err = run_next(capsys, *args)

    assert code == 0
    assert json.loads(out) == []
    assert "printed 0 of 5" in err


def test_next_schedule_ends_at_year_9999(capsys):
    args = ["every 1h", "--tz", "UTC", "--after", "9999-12-31T21:00Z"]
    code, out, err = run_next(capsys, *args)

    assert code == 0
    assert lines(out) == [
        "9999-12-31T22:00:00+00:00  (in 1h)",
        "9999-12-31T23:00:00+00:00  (in 2h)",
    ]
    assert err == (
        "millpond: the schedule has no runs after 9999-12-31T23:00:00+00:00; printed 2 of 5\n"
    )


# Invalid input: exit 2, one line on stderr, nothing on stdout


SYNTAX = "expected 'every DURATION', 'daily TIMES [WEEKDAYS]' or 'cron EXPRESSION'"
DURATIONS = "expected whole numbers with units w, d, h, m or s, such as 90s, 5m or 1h30m"
TIMES = (
    "expected H:MM or HH:MM from 0:00 to 23:59, as in 'daily 02:00' or 'daily 09:00,17:30 mon-fri'"
)
AFTER_FORMS = (
    "expected an ISO 8601 date and time such as 2026-03-29T01:30+01:00 or "
    "2026-03-29T00:30Z, or a wall time in the --tz zone such as 2026-03-29T01:30 or 2026-03-29"
)
COUNT = "expected a whole number from 1 to 10000"

INVALID = [
    pytest.param(
        ["hourly"],
        f"invalid schedule 'hourly': unknown kind 'hourly', {SYNTAX}",
        id="unknown-kind",
    ),
    pytest.param([""], f"empty schedule: {SYNTAX}", id="empty"),
    pytest.param(
        ["every 0m"],
        "invalid duration '0m' in 'every 0m': expected a duration greater than zero, such as 5m",
        id="zero-duration",
    ),
    pytest.param(
        ["every -5m"],
        f"invalid duration '-5m' in 'every -5m': a duration cannot be negative; {DURATIONS}",
        id="negative-duration",
    ),
    pytest.param(
        ["every 5x"],
        f"invalid duration '5x' in 'every 5x': unknown unit 'x'; {DURATIONS}",
        id="unknown-unit",
    ),
    pytest.param(
        ["every 45"],
        "invalid duration '45' in 'every 45': missing unit; write 45s for seconds or 45m "
        "for minutes",
        id="missing-unit",
    ),
    pytest.param(["daily 24:00"], f"invalid time '24:00' in 'daily 24:00': {TIMES}", id="hour-24"),
    pytest.param(["daily 7:5pm"], f"invalid time '7:5pm' in 'daily 7:5pm': {TIMES}", id="time-pm"),
    pytest.param(
        ["daily 09:00 mun"],
        "invalid weekday 'mun' in 'daily 09:00 mun': expected mon, tue, wed, thu, fri, sat "
        "or sun (or the full names), a range such as mon-fri, weekdays or weekends, "
        "separated by commas",
        id="unknown-weekday",
    ),
    pytest.param(
        ["cron 61 * * * *"], "invalid cron minute field '61': expected 0-59", id="cron-minute"
    ),
    pytest.param(
        ["cron 0 0 * * 8"],
        "invalid cron day-of-week field '8': expected 0-7 or SUN-SAT",
        id="cron-weekday",
    ),
    pytest.param(
        ["every 5m", "--tz", "Mars/Base"],
        "unknown time zone 'Mars/Base': expected an IANA name such as 'Europe/Berlin' "
        "(see zoneinfo.available_timezones())",
        id="unknown-zone",
    ),
    pytest.param(["every 5m", "-n", "0"], f"invalid count '0' for -n: {COUNT}", id="count-0"),
    pytest.param(
        ["every 5m", "-n", "10001"], f"invalid count '10001' for -n: {COUNT}", id="count-high"
    ),
    pytest.param(["every 5m", "-n", "-1"], f"invalid count '-1' for -n: {COUNT}", id="count-neg"),
    pytest.param(
        ["every 5m", "-n", "five"], f"invalid count 'five' for -n: {COUNT}", id="count-word"
    ),
    pytest.param(
        ["every 5m", "-n", "2.5"], f"invalid count '2.5' for -n: {COUNT}", id="count-2.5"
    ),
    pytest.param(
        ["every 5m", "--after", "yesterday"],
        f"invalid --after 'yesterday': {AFTER_FORMS}",
        id="after-word",
    ),
    pytest.param(
        ["every 5m", "--after", "2026-01-01+02:00"],
        f"invalid --after '2026-01-01+02:00': {AFTER_FORMS}",
        id="after-date-with-offset",
    ),
    pytest.param(
        ["every 5m", "--after", "2026-01-01x02:00"],
        f"invalid --after '2026-01-01x02:00': {AFTER_FORMS}",
        id="after-bad-separator",
    ),
    pytest.param(
        ["every 5m", "--after", "20260101T0200Z"],
        f"invalid --after '20260101T0200Z': {AFTER_FORMS}",
        id="after-basic-format",
    ),
    pytest.param(
        ["every 5m", "--after", "2026-01-01T02:00+24:00"],
        "invalid --after '2026-01-01T02:00+24:00': invalid UTC offset +24:00: expected hours "
        "00-23 and minutes 00-59",
        id="after-offset-hours",
    ),
    pytest.param(
        ["every 5m", "--after", "2026-01-01T02:00+01:60"],
        "invalid --after '2026-01-01T02:00+01:60': invalid UTC offset +01:60: expected hours "
        "00-23 and minutes 00-59",
        id="after-offset-minutes",
    ),
    pytest.param(
        ["every 5m", "--after", ""], f"invalid --after '': {AFTER_FORMS}", id="after-empty"
    ),
    pytest.param(
        ["every 5m", "--tz", "UTC", "--after", "0001-01-01T00:00+01:00"],
        "invalid --after '0001-01-01T00:00+01:00': the time is outside the range of dates in UTC",
        id="after-before-year-1",
    ),
    pytest.param(
        ["daily 02:30", "--tz", "Europe/Berlin", "--after", "2026-03-29T02:30"],
        "invalid --after '2026-03-29T02:30': 2026-03-29T02:30:00 does not exist in "
        "Europe/Berlin because the zone's UTC offset changes then; add the offset to choose "
        "an instant, such as 2026-03-29T02:30:00+01:00 or 2026-03-29T02:30:00+02:00",
        id="after-in-gap",
    ),
    pytest.param(
        ["daily 02:30", "--tz", "Europe/Berlin", "--after", "2026-10-25T02:30"],
        "invalid --after '2026-10-25T02:30': 2026-10-25T02:30:00 occurs twice in "
        "Europe/Berlin because the zone's UTC offset changes then; add the offset to choose "
        "an instant, such as 2026-10-25T02:30:00+02:00 or 2026-10-25T02:30:00+01:00",
        id="after-in-fold",
    ),
    pytest.param(
        ["cron @hourly", "--tz", "America/New_York", "--after", "2026-11-01T01:15"],
        "invalid --after '2026-11-01T01:15': 2026-11-01T01:15:00 occurs twice in "
        "America/New_York because the zone's UTC offset changes then; add the offset to "
        "choose an instant, such as 2026-11-01T01:15:00-04:00 or 2026-11-01T01:15:00-05:00",
        id="after-in-fold-new-york",
    ),
]


@pytest.mark.parametrize(("args", "message"), INVALID)
def test_next_rejects_invalid_input(capsys, args, message):
    code, out, err = run_next(capsys, *args)

    assert code == 2
    assert out == ""
    assert err == f"millpond: error: {message}\n"


@pytest.mark.parametrize("after", ["2026-02-30T00:00", "2026-01-01T24:00", "2026-01-01T23:59:60"])
def test_next_rejects_after_out_of_range(capsys, after):
    code, out, err = run_next(capsys, "every 5m", "--after", after)

    assert code == 2
    assert out == ""
    # The reason after the colon is Python's own message from datetime().
    assert err.startswith(f"millpond: error: invalid --after '{after}': ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-07-01", "2026-07-01T00:30:00+02:00"),
        ("2026-07-01 02:00", "2026-07-01T02:30:00+02:00"),
        ("2026-07-01t02:00z", "2026-07-01T04:30:00+02:00"),
        ("2026-07-01T02:00:00.5", "2026-07-01T02:30:00.500000+02:00"),
        ("2026-07-01T02:00:00,123456+0530", "2026-06-30T23:00:00.123456+02:00"),
        ("2026-07-01T02:00-03", "2026-07-01T07:30:00+02:00"),
        (" 2026-07-01T02:00 ", "2026-07-01T02:30:00+02:00"),
    ],
)
def test_next_after_forms(capsys, after, expected):
    code, out, err = run_next(capsys, "every 30m", "--tz", "Europe/Berlin", "--after", after)

    assert code == 0, err
    assert lines(out)[0] == f"{expected}  (in 30m)"


def test_next_after_with_offset_in_fold_is_accepted(capsys):
    first = run_next(
        capsys, "every 30m", "--tz", "Europe/Berlin", "--after", "2026-10-25T02:30+02:00"
    )
    second = run_next(
        capsys, "every 30m", "--tz", "Europe/Berlin", "--after", "2026-10-25T02:30+01:00"
    )

    assert lines(first[1])[0] == "2026-10-25T02:00:00+01:00  (in 30m)"
    assert lines(second[1])[0] == "2026-10-25T03:00:00+01:00  (in 30m)"


def test_next_invalid_tz_variable(capsys, monkeypatch):
    monkeypatch.setenv("TZ", "Mars/Base")
    code, out, err = run_next(capsys, "every 5m")

    assert code == 2
    assert out == ""
    assert err.startswith("millpond: error: unknown TZ environment variable 'Mars/Base'")
    assert err.count("\n") == 1


def test_next_verbose_prints_traceback(capsys):
    code = main(["-v", "next", "every 5x"])
    err = capsys.readouterr().err

    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert err.endswith(
        f"millpond: error: invalid duration '5x' in 'every 5x': unknown unit 'x'; {DURATIONS}\n"
    )


def test_next_missing_schedule_is_usage_error(capsys):
    assert main(["next"]) == 2
    assert "the following arguments are required: SCHEDULE" in capsys.readouterr().err


# Help


def test_next_help_explains_syntax(capsys):
    assert main(["next", "--help"]) == 0
    out = capsys.readouterr().out

    assert "usage: millpond next" in out
    assert "every DURATION" in out
    assert "daily TIMES [WEEKDAYS]" in out
    assert "cron EXPRESSION" in out
    assert '"daily 09:00; every 6h"' in out
    assert "--after takes YYYY-MM-DD[THH:MM[:SS[.ffffff]][OFFSET]]" in out


def test_top_level_help_mentions_next(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out

    assert "print the next run times of a schedule" in out
    assert "millpond next --help" in out


# Child processes: the console entry point, both backends through MILLPOND_PURE


@pytest.mark.parametrize("pure", ["0", "1"])
def test_next_subprocess_exact_output(tmp_path, pure):
    args = ("next", "daily 02:00,14:30 mon-fri", "--tz", "Europe/Berlin")
    result = run_cli(
        (*args, "--after", "2026-10-23T15:00", "-n", "3"), tmp_path, {"MILLPOND_PURE": pure}
    )

    assert result.returncode == 0, result.stderr
    # Friday 15:00 CEST, then Monday after the switch back to CET on Sunday.
    assert lines(result.stdout) == [
        "2026-10-26T02:00:00+01:00  (in 2d 12h)",
        "2026-10-26T14:30:00+01:00  (in 3d 30m)",
        "2026-10-27T02:00:00+01:00  (in 3d 12h)",
    ]
    assert result.stderr == ""


def test_next_subprocess_examples_run(tmp_path):
    examples = [
        ("daily 02:00,14:30 mon-fri", "--tz", "Europe/Berlin"),
        ("every 5m",),
        ("every 90s",),
        ("every 1h30m",),
        ("every 2d",),
        ("cron */15 9-17 * * 1-5",),
        ("cron @daily", "--tz", "America/New_York"),
        ("daily 09:00; every 6h", "--json"),
    ]
    for example in examples:
        result = run_cli(("next", *example), tmp_path)
        assert result.returncode == 0, (example, result.stderr)
        assert result.stderr == "", example
        output = json.loads(result.stdout) if "--json" in example else lines(result.stdout)
        assert len(output) == 5, example


def test_next_subprocess_invalid_input(tmp_path):
    result = run_cli(("next", "every 5x"), tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"millpond: error: invalid duration '5x' in 'every 5x': unknown unit 'x'; {DURATIONS}\n"
    )


def test_next_subprocess_system_zone(tmp_path):
    args = ("next", "cron 0 12 * * *", "--after", "2026-01-15T00:00", "-n", "1")
    result = run_cli(args, tmp_path, {"TZ": "Australia/Sydney"})

    assert result.returncode == 0, result.stderr
    # Sydney is on daylight-saving time (+11:00) in January.
    assert lines(result.stdout) == ["2026-01-15T12:00:00+11:00  (in 12h)"]
