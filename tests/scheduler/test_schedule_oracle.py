"""Both backends against the brute-force oracle, on generated schedules, zones and instants."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import ModuleType
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedule_oracle import (
    TRICKY_ZONES,
    UTC,
    WallRule,
    cron_rule,
    daily_rule,
    from_micros,
    micros,
    oracle_next,
    transitions_in_year,
)

from millpond.scheduler import ClockTime, Cron, DailyAt
from millpond.scheduler._location import _find_tzif

ALL_ZONES = sorted(available_timezones())
FIRST = micros(datetime(1900, 1, 1, tzinfo=UTC))
LAST = micros(datetime(2200, 1, 1, tzinfo=UTC))
HYPOTHESIS_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@functools.lru_cache(maxsize=4096)
def _changes(zone_name: str, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    return transitions_in_year(ZoneInfo(zone_name), year)


@dataclass(frozen=True)
class Scenario:
    """A zone, an instant, and local minutes of the day near an offset change, if any."""

    zone_name: str
    after: datetime
    focus_minutes: tuple[int, ...]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone_name = draw(st.one_of(st.sampled_from(TRICKY_ZONES), st.sampled_from(ALL_ZONES)))
    if draw(st.booleans()):
        after_us = draw(st.integers(FIRST, LAST))
        return Scenario(zone_name, from_micros(after_us), ())

    # Aim at an offset change: an instant close to it, and walls around it.
    year = draw(st.integers(1900, 2199))
    changes = _changes(zone_name, year) or _changes(zone_name, 2020) or _changes(zone_name, 1950)
    if not changes:
        return Scenario(zone_name, from_micros(draw(st.integers(FIRST, LAST))), ())
    instant, before, after = draw(st.sampled_from(changes))
    shift = draw(st.integers(-3 * 86_400, 3 * 86_400))
    micro = draw(st.sampled_from([0, 0, 1, 999_999]))
    after_instant = instant + timedelta(seconds=shift, microseconds=micro)
    naive = instant.replace(tzinfo=None)
    focus = []
    for offset in (before, after):
        wall = naive + offset
        base = wall.hour * 60 + wall.minute
        focus.extend((base + delta) % 1440 for delta in range(-90, 91, 15))
    return Scenario(zone_name, after_instant, tuple(sorted(set(focus))))


def _minute_of_day(scenario: Scenario) -> st.SearchStrategy[int]:
    plain = st.integers(0, 1439)
    if not scenario.focus_minutes:
        return plain
    return st.one_of(plain, st.sampled_from(scenario.focus_minutes))


@dataclass(frozen=True)
class CronCase:
    """A cron expression and, built separately, the sets it stands for."""

    expression: str
    rule: WallRule


_MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()  # noqa: SIM905
_DAYS = "SUN MON TUE WED THU FRI SAT".split()  # noqa: SIM905


def _field(
    draw: st.DrawFn, low: int, high: int, focus: list[int], names: list[str] | None = None
) -> tuple[str, set[int]]:
    kind = draw(st.sampled_from(["star", "star", "step", "list", "range"]))
    if kind == "star":
        return "*", set(range(low, high + 1))
    if kind == "step":
        step = draw(st.integers(2, max(2, (high - low) // 2)))
        return f"*/{step}", set(range(low, high + 1, step))
    if kind == "range":
        first = draw(st.integers(low, high))
        last = draw(st.integers(first, high))
        step = draw(st.integers(1, 4))
        suffix = f"/{step}" if step > 1 else ""
        return f"{first}-{last}{suffix}", set(range(first, last + 1, step))
    pool = st.integers(low, high)
    if focus:
        pool = st.one_of(pool, st.sampled_from(focus))
    values = draw(st.sets(pool, min_size=1, max_size=4))
    texts = []
    for value in sorted(values):
        if names is not None and draw(st.booleans()):
            name = names[value - low]
            texts.append(draw(st.sampled_from([name, name.lower(), name.title()])))
        else:
            texts.append(str(value))
    return ",".join(texts), values


@st.composite
def cron_cases(draw: st.DrawFn, scenario: Scenario) -> CronCase:
    focus_hours = sorted({m // 60 for m in scenario.focus_minutes})
    focus_minutes = sorted({m % 60 for m in scenario.focus_minutes})
    minute_text, minutes = _field(draw, 0, 59, focus_minutes)
    hour_text, hours = _field(draw, 0, 23, focus_hours)
    day_text, days = _field(draw, 1, 31, [])
    # Restricted months make most searches run past the oracle's window; keep them rarer.
    month_text, months = (
        ("*", set(range(1, 13))) if draw(st.integers(0, 3)) else _field(draw, 1, 12, [], _MONTHS)
    )
    weekday_text, weekdays = _field(draw, 0, 6, [], _DAYS)
    if weekday_text.split(",")[0] == "0" and draw(st.booleans()):
        # 7 is Sunday too.
        weekday_text = "7" + weekday_text[1:]
    expression = f"{minute_text} {hour_text} {day_text} {month_text} {weekday_text}"
    rule = cron_rule(
        minutes,
        hours,
        days,
        months,
        weekdays,
        day_or=not day_text.startswith("*") and not weekday_text.startswith("*"),
        real_time=hour_text.startswith("*"),
    )
    return CronCase(expression, rule)


@functools.lru_cache(maxsize=1024)
def _zone(backend: ModuleType, zone_name: str) -> object:
    data = _find_tzif(zone_name)
    assert data is not None
    return backend.Zone.from_tzif(zone_name, data)


def _backend(request: pytest.FixtureRequest, name: str) -> ModuleType:
    module: ModuleType = request.getfixturevalue(name)
    if not hasattr(module, "CronSpec"):
        pytest.skip(f"the {name} backend has no schedule specs yet")
    return module


def _assert_agrees(got_us: int | None, rule: WallRule, scenario: Scenario) -> None:
    zone = ZoneInfo(scenario.zone_name)
    expected = oracle_next(rule, zone, scenario.after)
    if expected.fire is not None:
        assert got_us is not None, f"expected {expected.fire.isoformat()}, got None"
        assert from_micros(got_us) == expected.fire
    elif got_us is not None:
        # Nothing fires inside the searched window; the backend's result lies beyond it.
        assert from_micros(got_us) >= expected.searched_until


@pytest.mark.parametrize("backend_name", ["pure", "native"])
@HYPOTHESIS_SETTINGS
@given(data=st.data())
def test_daily_at_matches_oracle(
    request: pytest.FixtureRequest, backend_name: str, data: st.DataObject
) -> None:
    backend = _backend(request, backend_name)
    scenario = data.draw(scenarios())
    minutes = data.draw(st.sets(_minute_of_day(scenario), min_size=1, max_size=4))
    weekdays = data.draw(st.sets(st.integers(0, 6), max_size=7))
    mask = sum(1 << day for day in weekdays) if weekdays else 0x7F

    spec = backend.DailySpec(sorted(minutes), mask, _zone(backend, scenario.zone_name))
    _assert_agrees(spec.next(micros(scenario.after)), daily_rule(minutes, weekdays), scenario)


@pytest.mark.parametrize("backend_name", ["pure", "native"])
@HYPOTHESIS_SETTINGS
@given(data=st.data())
def test_cron_matches_oracle(
    request: pytest.FixtureRequest, backend_name: str, data: st.DataObject
) -> None:
    backend = _backend(request, backend_name)
    scenario = data.draw(scenarios())
    case = data.draw(cron_cases(scenario))

    # The public parser builds the masks; the oracle uses the generated sets.
    public = Cron(case.expression, scenario.zone_name)
    fields = public._fields
    spec = backend.CronSpec(
        fields.minutes,
        fields.hours,
        fields.days,
        fields.months,
        fields.weekdays,
        fields.day_or,
        fields.real_time,
        _zone(backend, scenario.zone_name),
    )
    _assert_agrees(spec.next(micros(scenario.after)), case.rule, scenario)


@HYPOTHESIS_SETTINGS
@given(data=st.data())
def test_public_daily_at_matches_oracle(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    minutes = data.draw(st.sets(_minute_of_day(scenario), min_size=1, max_size=3))
    times = [ClockTime(m // 60, m % 60) for m in minutes]
    result = DailyAt(times, location=scenario.zone_name).next(scenario.after)
    got = None if result is None else micros(result)
    _assert_agrees(got, daily_rule(minutes, set()), scenario)
