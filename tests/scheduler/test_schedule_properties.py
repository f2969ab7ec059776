"""Properties every schedule type keeps, in the selected backend and against each other.

For any aware `t`, `next(t) > t` and `next` is monotone. `Multi.next` is the
earliest member result. Schedules anchored to the calendar (all but
`Interval`, which counts from `t`) also keep `next(next(t) - 1us) == next(t)`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedule_oracle import TRICKY_ZONES, from_micros, micros

from millpond.scheduler import (
    ClockTime,
    Cron,
    DailyAt,
    Interval,
    Multi,
    Schedule,
    every,
    iter_times,
    upcoming,
)
from millpond.scheduler._location import _find_tzif

UTC = timezone.utc
MICROSECOND = timedelta(microseconds=1)
FIRST = micros(datetime(1900, 1, 1, tzinfo=UTC))
LAST = micros(datetime(2200, 1, 1, tzinfo=UTC))
PROPERTY_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

CRON_EXPRESSIONS = [
    "0 0 * * *",
    "30 2 * * *",
    "*/15 * * * *",
    "0 */3 * * *",
    "15,45 1-3 * * 1-5",
    "0 0 1 * *",
    "0 9 29 2 *",
    "0 0 13 * FRI",
    "0 0 */2 * MON",
    "@hourly",
    "@weekly",
    "59 23 31 12 *",
]


class EveryOtherHour:
    """A user-written schedule: the next even UTC hour."""

    def next(self, after: datetime) -> datetime | None:
        base = after.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        candidate = base + timedelta(hours=1)
        while candidate.hour % 2:
            candidate += timedelta(hours=1)
        return candidate


instants = st.integers(FIRST, LAST).map(from_micros)
zone_names = st.sampled_from(TRICKY_ZONES)


@st.composite
def daily_schedules(draw: st.DrawFn) -> DailyAt:
    minutes = draw(st.sets(st.integers(0, 1439), min_size=1, max_size=4))
    times = [ClockTime(m // 60, m % 60) for m in minutes]
    weekdays = draw(st.sets(st.integers(0, 6), max_size=7))
    return DailyAt(times, weekdays, draw(zone_names))


@st.composite
def cron_schedules(draw: st.DrawFn) -> Cron:
    return Cron(draw(st.sampled_from(CRON_EXPRESSIONS)), draw(zone_names))


intervals = st.integers(1, 10 * 86_400 * 10**6).map(lambda us: every(timedelta(microseconds=us)))
single_schedules = st.one_of(daily_schedules(), cron_schedules(), intervals)
schedules = st.one_of(
    single_schedules,
    st.lists(single_schedules, min_size=1, max_size=3).map(Multi),
    st.lists(single_schedules, max_size=2).map(
        lambda members: Multi([*members, EveryOtherHour()])
    ),
)
anchored_single = st.one_of(daily_schedules(), cron_schedules())
anchored_schedules = st.one_of(
    anchored_single,
    st.lists(anchored_single, min_size=1, max_size=3).map(Multi),
    st.lists(anchored_single, max_size=2).map(lambda members: Multi([*members, EveryOtherHour()])),
)


def _instant(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


@PROPERTY_SETTINGS
@given(schedule=schedules, after=instants)
def test_next_is_after(schedule: Schedule, after: datetime) -> None:
    result = schedule.next(after)
    if result is not None:
        assert result.astimezone(UTC) > after


@PROPERTY_SETTINGS
@given(schedule=anchored_schedules, after=instants)
def test_next_is_stable(schedule: Schedule, after: datetime) -> None:
    result = schedule.next(after)
    if result is None:
        return
    # Asking again from just before the result finds the same result.
    again = schedule.next(result - MICROSECOND)
    assert _instant(again) == result.astimezone(UTC)


@PROPERTY_SETTINGS
@given(schedule=schedules, after=instants, gap_us=st.integers(0, 3 * 86_400 * 10**6))
def test_next_is_monotone(schedule: Schedule, after: datetime, gap_us: int) -> None:
    later = after + timedelta(microseconds=gap_us)
    first, second = schedule.next(after), schedule.next(later)
    if first is None:
        assert second is None
        return
    assert second is None or second.astimezone(UTC) >= first.astimezone(UTC)


@PROPERTY_SETTINGS
@given(members=st.lists(single_schedules, max_size=4), after=instants)
def test_multi_is_earliest_member(members: list[Schedule], after: datetime) -> None:
    results = [r.astimezone(UTC) for m in members if (r := m.next(after)) is not None]
    expected = min(results, default=None)
    assert _instant(Multi(members).next(after)) == expected
    assert _instant(Multi([*members, EveryOtherHour()]).next(after)) == min(
        [*results, EveryOtherHour().next(after)]
    )


@PROPERTY_SETTINGS
@given(schedule=schedules, after=instants, count=st.integers(0, 12))
def test_upcoming_repeats_next(schedule: Schedule, after: datetime, count: int) -> None:
    expected = []
    current: datetime | None = after
    while len(expected) < count and current is not None:
        current = schedule.next(current)
        if current is not None:
            expected.append(current)
    results = upcoming(schedule, after, count)
    assert [r.astimezone(UTC) for r in results] == [e.astimezone(UTC) for e in expected]
    assert [r.tzinfo for r in results] == [e.tzinfo for e in expected]
    iterated = iter_times(schedule, after)
    assert [next(iterated).astimezone(UTC) for _ in expected] == [
        e.astimezone(UTC) for e in expected
    ]


def test_iter_times_crosses_batches() -> None:
    schedule = Cron("*/5 * * * *", "Europe/Berlin")
    after = datetime(2022, 10, 29, 22, 0, tzinfo=UTC)
    times = iter_times(schedule, after)
    collected = [next(times) for _ in range(200)]
    assert collected == upcoming(schedule, after, 200)
    instants = [t.astimezone(UTC) for t in collected]
    assert instants == sorted(set(instants))


def test_interval_in_multi_keeps_after_zone() -> None:
    schedule = Multi([Interval(timedelta(minutes=5))])
    after = datetime(2024, 1, 1, tzinfo=UTC)
    result = schedule.next(after)
    assert result == after + timedelta(minutes=5)
    assert result is not None
    assert result.tzinfo is UTC


def _backend_zone(backend: ModuleType, name: str) -> object:
    data = _find_tzif(name)
    assert data is not None
    return backend.Zone.from_tzif(name, data)


@pytest.mark.parametrize("zone_name", ["Europe/Berlin", "Australia/Lord_Howe", "Pacific/Apia"])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_native_agrees_with_pure(
    native: ModuleType, pure: ModuleType, zone_name: str, data: st.DataObject
) -> None:
    if not hasattr(native, "CronSpec"):
        pytest.skip("the native backend has no schedule specs yet")
    after = data.draw(instants)
    count = data.draw(st.integers(0, 20))
    minutes = sorted(data.draw(st.sets(st.integers(0, 1439), min_size=1, max_size=5)))
    weekdays = data.draw(st.integers(0, 0x7F))
    cron = Cron(data.draw(st.sampled_from(CRON_EXPRESSIONS)), zone_name)._fields
    interval_us = data.draw(st.integers(-5, 10**12))

    def build(backend: ModuleType) -> object:
        zone = _backend_zone(backend, zone_name)
        daily = backend.DailySpec(minutes, weekdays, zone)
        cron_spec = backend.CronSpec(
            cron.minutes,
            cron.hours,
            cron.days,
            cron.months,
            cron.weekdays,
            cron.day_or,
            cron.real_time,
            zone,
        )
        interval = backend.IntervalSpec(interval_us)
        return backend.MultiSpec([daily, cron_spec, backend.MultiSpec([interval])]), [
            daily,
            cron_spec,
            interval,
        ]

    native_multi, native_members = build(native)  # type: ignore[misc]
    pure_multi, pure_members = build(pure)  # type: ignore[misc]
    after_us = micros(after)
    assert native_multi.upcoming(after_us, count) == pure_multi.upcoming(after_us, count)
    for native_spec, pure_spec in zip(native_members, pure_members, strict=True):
        assert native_spec.next(after_us) == pure_spec.next(after_us)
        assert native_spec.upcoming(after_us, count) == pure_spec.upcoming(after_us, count)
