"""Parity of the native and pure schedule backends: same inputs, identical outputs.

Each test builds one spec in `millpond._native` and in `millpond._pure` from
the same description and compares `next`, `upcoming` and `Zone.utc_offset`
directly, as integers. Both backends parse the same TZif bytes for a zone.
Usually these are the bytes `zoneinfo` reads: the first `zoneinfo.TZPATH`
folder that has the file, else the `tzdata` package. Sometimes they are the
`tzdata` package's copy, which may come from another tz release or use the
slim format, whose later years come from the POSIX footer alone.
"""

# The backend interface takes its boolean flags positionally.
# ruff: noqa: FBT003

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from importlib import resources
from types import ModuleType
from typing import Any
from zoneinfo import TZPATH

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

UTC = timezone.utc
SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_US = -62_135_596_800_000_000
MAX_US = 253_402_300_799_999_999


def _micros(year: int) -> int:
    """Return the instant of January 1 of `year`, 00:00 UTC, in microseconds."""
    return (datetime(year, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)


START_US = _micros(1900)
END_US = _micros(2200)

# Zones whose history has tripped schedulers (half-hour and two-hour DST,
# negative DST, skipped days, changes at midnight, Ramadan suspensions, local
# mean time with seconds) and the common ones.
ZONE_KEYS = (
    "Africa/Cairo",
    "Africa/Casablanca",
    "Africa/El_Aaiun",
    "Africa/Juba",
    "Africa/Khartoum",
    "Africa/Monrovia",
    "Africa/Windhoek",
    "America/Adak",
    "America/Anchorage",
    "America/Asuncion",
    "America/Bogota",
    "America/Caracas",
    "America/Chicago",
    "America/Ciudad_Juarez",
    "America/Denver",
    "America/Havana",
    "America/Juneau",
    "America/Los_Angeles",
    "America/Metlakatla",
    "America/Mexico_City",
    "America/Miquelon",
    "America/New_York",
    "America/Nuuk",
    "America/Punta_Arenas",
    "America/Santiago",
    "America/Sao_Paulo",
    "America/Scoresbysund",
    "America/Sitka",
    "America/St_Johns",
    "Antarctica/Casey",
    "Antarctica/Macquarie",
    "Antarctica/Troll",
    "Asia/Amman",
    "Asia/Beirut",
    "Asia/Colombo",
    "Asia/Damascus",
    "Asia/Dhaka",
    "Asia/Famagusta",
    "Asia/Gaza",
    "Asia/Hebron",
    "Asia/Ho_Chi_Minh",
    "Asia/Jerusalem",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Asia/Manila",
    "Asia/Pyongyang",
    "Asia/Shanghai",
    "Asia/Singapore",
    "Asia/Tehran",
    "Asia/Tokyo",
    "Atlantic/Azores",
    "Atlantic/Cape_Verde",
    "Australia/Adelaide",
    "Australia/Eucla",
    "Australia/Lord_Howe",
    "Australia/Perth",
    "Australia/Sydney",
    "Etc/GMT+12",
    "Etc/GMT-14",
    "Europe/Amsterdam",
    "Europe/Berlin",
    "Europe/Dublin",
    "Europe/Istanbul",
    "Europe/Kyiv",
    "Europe/Lisbon",
    "Europe/London",
    "Europe/Minsk",
    "Europe/Moscow",
    "Europe/Paris",
    "Indian/Chagos",
    "Pacific/Apia",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Fiji",
    "Pacific/Guam",
    "Pacific/Honolulu",
    "Pacific/Kiritimati",
    "Pacific/Kwajalein",
    "Pacific/Marquesas",
    "Pacific/Norfolk",
    "Pacific/Tongatapu",
    "UTC",
)

# A zone description: ("key", key, source) with source "zoneinfo" or
# "tzdata", or ("fixed", offset_seconds).
ZoneDescription = tuple[Any, ...]


# --- Zone data ---------------------------------------------------------------


def _tzdata_resource(key: str) -> bytes | None:
    """Return the `tzdata` package's TZif bytes for `key`, or None without the package."""
    package, _, name = f"tzdata.zoneinfo/{key}".rpartition("/")
    try:
        resource = resources.files(package.replace("/", ".")) / name
    except ModuleNotFoundError:
        return None
    return resource.read_bytes() if resource.is_file() else None


@functools.cache
def tzif_bytes(key: str, source: str = "zoneinfo") -> bytes:
    """Return the TZif bytes for `key`: those `zoneinfo` reads, or the `tzdata` package's.

    `zoneinfo` reads the first `<folder>/<key>` over `zoneinfo.TZPATH`, else the
    `tzdata` package resource. Source "tzdata" prefers the package's copy.
    """
    if source == "tzdata":
        data = _tzdata_resource(key)
        if data is not None:
            return data
    for folder in TZPATH:
        path = os.path.join(folder, key)  # noqa: PTH118 - TZPATH entries are strings
        if os.path.isfile(path):  # noqa: PTH113
            with open(path, "rb") as file:  # noqa: PTH123
                return file.read()
    data = _tzdata_resource(key)
    if data is None:
        pytest.skip(f"time zone {key!r} is neither in zoneinfo.TZPATH nor in tzdata")
    return data


@functools.cache
def zone_pair(
    native: ModuleType, pure: ModuleType, description: ZoneDescription
) -> tuple[Any, Any]:
    """Return the same zone built by each backend."""
    if description[0] == "fixed":
        return native.Zone.fixed(description[1]), pure.Zone.fixed(description[1])
    _, key, source = description
    data = tzif_bytes(key, source)
    return native.Zone.from_tzif(key, data), pure.Zone.from_tzif(key, data)


@functools.cache
def transitions_near(native: ModuleType, description: ZoneDescription, year: int) -> list[int]:
    """Return instants where the zone's offset changes during `year` and the next one.

    Offsets are sampled every six hours, and each change is narrowed down to
    the exact microsecond. The native zone only picks test instants here.
    """
    zone = native_zone(native, description)
    start, end = _micros(year), _micros(year + 2)
    step = 6 * 3600 * SECOND_US
    found = []
    previous = zone.utc_offset(start)
    for instant in range(start + step, end, step):
        offset = zone.utc_offset(instant)
        if offset != previous:
            low, high = instant - step, instant
            while high - low > 1:
                middle = (low + high) // 2
                if zone.utc_offset(middle) == previous:
                    low = middle
                else:
                    high = middle
            found.append(high)
            previous = offset
    return found


@functools.cache
def native_zone(native: ModuleType, description: ZoneDescription) -> Any:
    """Return the native zone of a description, without building the pure one."""
    if description[0] == "fixed":
        return native.Zone.fixed(description[1])
    _, key, source = description
    return native.Zone.from_tzif(key, tzif_bytes(key, source))


# --- Strategies --------------------------------------------------------------

keyed_zones = st.tuples(
    st.just("key"), st.sampled_from(ZONE_KEYS), st.sampled_from(("zoneinfo", "tzdata"))
)
fixed_zones = st.tuples(st.just("fixed"), st.integers(-86_399, 86_399))
zones = st.one_of(keyed_zones, keyed_zones, keyed_zones, fixed_zones)
instants = st.integers(START_US, END_US)
counts = st.integers(0, 24)


def _mask(bits: set[int]) -> int:
    mask = 0
    for bit in bits:
        mask |= 1 << bit
    return mask


def _field(low: int, high: int) -> st.SearchStrategy[int]:
    """Return masks of a cron field: full, a few values, a step, or (rarely) empty."""
    full = _mask(set(range(low, high + 1)))
    values = st.sets(st.integers(low, high), min_size=1, max_size=4).map(_mask)
    steps = st.tuples(st.integers(low, high), st.integers(2, 15)).map(
        lambda start_step: _mask(set(range(start_step[0], high + 1, start_step[1])))
    )
    any_bits = st.integers(0, full).map(lambda mask: mask & full)
    return st.one_of(st.just(full), values, values, steps, any_bits)


day_minutes = st.one_of(
    st.sets(st.integers(0, 1439), max_size=6).map(sorted),
    # Times in the small hours, where most transitions happen.
    st.sets(st.integers(0, 240), min_size=1, max_size=8).map(sorted),
    # Many times a day, so that gaps and folds hold several of them.
    st.tuples(st.integers(0, 59), st.integers(1, 45)).map(
        lambda first_step: list(range(first_step[0], 1440, first_step[1]))
    ),
)
weekday_masks = st.one_of(st.just(0x7F), st.integers(0, 0x7F))


@st.composite
def daily_descriptions(draw: st.DrawFn) -> tuple[Any, ...]:
    return ("daily", draw(day_minutes), draw(weekday_masks), draw(zones))


@st.composite
def cron_descriptions(draw: st.DrawFn, real_time: bool | None = None) -> tuple[Any, ...]:
    flag = draw(st.booleans()) if real_time is None else real_time
    return (
        "cron",
        draw(_field(0, 59)),
        draw(_field(0, 23)),
        draw(_field(1, 31)),
        draw(_field(1, 12)),
        draw(_field(0, 6)),
        draw(st.booleans()),
        flag,
        draw(zones),
    )


interval_descriptions = st.tuples(
    st.just("interval"),
    st.one_of(st.integers(-10, 0), st.integers(1, 400 * DAY_US), st.integers(1, 10**20)),
)
leaf_descriptions = st.one_of(interval_descriptions, daily_descriptions(), cron_descriptions())
multi_descriptions = st.recursive(
    leaf_descriptions,
    lambda children: st.lists(children, max_size=4).map(lambda members: ("multi", members)),
    max_leaves=6,
).filter(lambda description: description[0] == "multi")


def build(module: ModuleType, native: ModuleType, pure: ModuleType, description: Any) -> Any:
    """Build the spec a description names with `module`, one of the two backends."""
    kind = description[0]
    side = 0 if module is native else 1
    if kind == "interval":
        return module.IntervalSpec(description[1])
    if kind == "daily":
        _, minutes, weekdays, zone = description
        return module.DailySpec(minutes, weekdays, zone_pair(native, pure, zone)[side])
    if kind == "cron":
        *masks, day_or, real_time, zone = description[1:]
        zone_object = zone_pair(native, pure, zone)[side]
        return module.CronSpec(*masks, day_or, real_time, zone_object)
    members = [build(module, native, pure, member) for member in description[1]]
    return module.MultiSpec(members)


def assert_same_next(native_spec: Any, pure_spec: Any, after_us: int) -> None:
    assert native_spec.next(after_us) == pure_spec.next(after_us), f"next({after_us})"


def assert_same_upcoming(native_spec: Any, pure_spec: Any, after_us: int, count: int) -> None:
    native_times = native_spec.upcoming(after_us, count)
    pure_times = pure_spec.upcoming(after_us, count)
    assert native_times == pure_times, f"upcoming({after_us}, {count})"


@st.composite
def near_transition(draw: st.DrawFn, native: ModuleType) -> tuple[ZoneDescription, int]:
    """Return a keyed zone and an instant within two days of one of its transitions."""
    zone = draw(keyed_zones)
    year = draw(st.integers(1900, 2198))
    found = transitions_near(native, zone, year)
    assume(found)
    transition = draw(st.sampled_from(found))
    return zone, transition + draw(st.integers(-2 * DAY_US, 2 * DAY_US))


# --- Zones -------------------------------------------------------------------


@settings(deadline=None)
@given(zone=zones, instant=instants)
def test_utc_offset_matches(native: ModuleType, pure: ModuleType, zone: Any, instant: int) -> None:
    native_zone, pure_zone = zone_pair(native, pure, zone)
    assert native_zone.utc_offset(instant) == pure_zone.utc_offset(instant)
    assert native_zone.key == pure_zone.key


@settings(deadline=None)
@given(data=st.data())
def test_utc_offset_near_transitions(
    native: ModuleType, pure: ModuleType, data: st.DataObject
) -> None:
    zone, instant = data.draw(near_transition(native))
    native_zone, pure_zone = zone_pair(native, pure, zone)
    for probe in (instant, instant - 1, instant + 1):
        assert native_zone.utc_offset(probe) == pure_zone.utc_offset(probe), probe


@settings(deadline=None)
@given(
    zone=zones,
    instant=st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.integers(MIN_US - DAY_US, MIN_US + 3 * DAY_US),
        st.integers(MAX_US - 3 * DAY_US, MAX_US + DAY_US),
    ),
)
def test_utc_offset_at_range_ends(
    native: ModuleType, pure: ModuleType, zone: Any, instant: int
) -> None:
    native_zone, pure_zone = zone_pair(native, pure, zone)
    assert native_zone.utc_offset(instant) == pure_zone.utc_offset(instant)


# --- DailySpec ---------------------------------------------------------------


@settings(deadline=None)
@given(description=daily_descriptions(), after=instants, count=counts)
def test_daily_matches(
    native: ModuleType, pure: ModuleType, description: Any, after: int, count: int
) -> None:
    native_spec = build(native, native, pure, description)
    pure_spec = build(pure, native, pure, description)
    assert_same_next(native_spec, pure_spec, after)
    assert_same_upcoming(native_spec, pure_spec, after, count)


@settings(deadline=None)
@given(data=st.data(), count=counts)
def test_daily_near_transitions(
    native: ModuleType, pure: ModuleType, data: st.DataObject, count: int
) -> None:
    zone, after = data.draw(near_transition(native))
    description = (*data.draw(daily_descriptions())[:-1], zone)
    native_spec = build(native, native, pure, description)
    pure_spec = build(pure, native, pure, description)
    assert_same_next(native_spec, pure_spec, after)
    assert_same_upcoming(native_spec, pure_spec, after, count)


# --- CronSpec ----------------------------------------------------------------


@settings(deadline=None)
@given(description=cron_descriptions(real_time=False), after=instants, count=counts)
def test_cron_fixed_time_matches(
    native: ModuleType, pure: ModuleType, description: Any, after: int, count: int
) -> None:
    native_spec = build(native, native, pure, description)
    pure_spec = build(pure, native, pure, description)
    assert_same_next(native_spec, pure_spec, after)
    assert_same_upcoming(native_spec, pure_spec, after, count)


@settings(deadline=None)
@given(description=cron_descriptions(real_time=True), after=instants, count=counts)
def test_cron_real_time_matches(
    native: ModuleType, pure: ModuleType, description: Any, after: int, count: int
) -> None:
    native_spec = build(native, native, pure, description)
    pure_spec = build(pure, native, pure, description)
    assert_same_next(native_spec, pure_spec, after)
    assert_same_upcoming(native_spec, pure_spec, after, count)


@settings(deadline=None)
@given(data=st.data(), count=counts)
def test_cron_near_transitions(
    native: ModuleType, pure: ModuleType, data: st.DataObject, count: int
) -> None:
    zone, after = data.draw(near_transition(native))
    description = (*data.draw(cron_descriptions())[:-1], zone)
    native_spec = build(native, native, pure, description)
    pure_spec = build(pure, native, pure, description)
    assert_same_next(native_spec, pure_spec, after)
    assert_same_upcoming(native_spec, pure_spec, after, count)


# --- IntervalSpec and MultiSpec ----------------------------------------------


@settings(deadline=None)
@given(description=interval_descriptions, after=instants, count=counts)
def test_interval_matches(
    native: ModuleType, pure: ModuleType, description: Any, after: int, count: int
) -> None:
    native_spec = build(native, native, pure, description)
    pure_spec = build(pure, native, pure, description)
    assert_same_next(native_spec, pure_spec, after)
    assert_same_upcoming(native_spec, pure_spec, after, count)


@settings(deadline=None)
@given(description=multi_descriptions, after=instants, count=counts)
def test_multi_matches(
    native: ModuleType, pure: ModuleType, description: Any, after: int, count: int
) -> None:
    native_spec = build(native, native, pure, description)
    pure_spec = build(pure, native, pure, description)
    assert_same_next(native_spec, pure_spec, after)
    assert_same_upcoming(native_spec, pure_spec, after, count)


# --- Whole datetime range ----------------------------------------------------


@settings(deadline=None)
@given(
    description=st.one_of(daily_descriptions(), cron_descriptions()),
    after=st.integers(MIN_US - 2 * DAY_US, MIN_US + 3 * DAY_US),
    count=counts,
)
def test_specs_match_near_year_1(
    native: ModuleType, pure: ModuleType, description: Any, after: int, count: int
) -> None:
    native_spec = build(native, native, pure, description)
    pure_spec = build(pure, native, pure, description)
    assert_same_next(native_spec, pure_spec, after)
    assert_same_upcoming(native_spec, pure_spec, after, count)


@settings(deadline=None)
@given(
    description=st.one_of(daily_descriptions(), cron_descriptions()),
    after=st.integers(MAX_US - 3 * DAY_US, MAX_US + DAY_US),
    count=counts,
)
def test_specs_match_near_year_9999(
    native: ModuleType, pure: ModuleType, description: Any, after: int, count: int
) -> None:
    native_spec = build(native, native, pure, description)
    pure_spec = build(pure, native, pure, description)
    assert_same_next(native_spec, pure_spec, after)
    assert_same_upcoming(native_spec, pure_spec, after, count)


# --- Properties both backends share --------------------------------------------


@settings(deadline=None)
@given(description=st.one_of(daily_descriptions(), cron_descriptions()), after=instants)
def test_next_is_consistent(
    native: ModuleType, pure: ModuleType, description: Any, after: int
) -> None:
    spec = build(native, native, pure, description)
    first = spec.next(after)
    if first is None:
        return
    assert first > after
    # Any instant from `after` up to just before the result gives the same
    # result, and so does the instant just before it.
    assert spec.next(first - 1) == first
    assert spec.next((after + first) // 2) == first
    assert spec.upcoming(after, 3)[:1] == [first]


# --- Errors ------------------------------------------------------------------

INVALID_CALLS = (
    ("Zone.fixed", lambda m: m.Zone.fixed(86_400)),
    ("Zone.fixed", lambda m: m.Zone.fixed(-(10**30))),
    ("Zone.fixed", lambda m: m.Zone.fixed(True)),
    ("Zone.fixed", lambda m: m.Zone.fixed(1.5)),
    ("Zone.from_tzif", lambda m: m.Zone.from_tzif("Mars/Olympus", "not bytes")),
    ("IntervalSpec", lambda m: m.IntervalSpec(1.0)),
    ("DailySpec", lambda m: m.DailySpec([1440], 0x7F, m.Zone.fixed(0))),
    ("DailySpec", lambda m: m.DailySpec([-1], 0x7F, m.Zone.fixed(0))),
    ("DailySpec", lambda m: m.DailySpec([10**30], 0x7F, m.Zone.fixed(0))),
    ("DailySpec", lambda m: m.DailySpec([5, 5], 0x7F, m.Zone.fixed(0))),
    ("DailySpec", lambda m: m.DailySpec([6, 5], 0x7F, m.Zone.fixed(0))),
    ("DailySpec", lambda m: m.DailySpec(["5"], 0x7F, m.Zone.fixed(0))),
    ("DailySpec", lambda m: m.DailySpec([5], 0x80, m.Zone.fixed(0))),
    ("DailySpec", lambda m: m.DailySpec([5], -1, m.Zone.fixed(0))),
    ("DailySpec", lambda m: m.DailySpec([5], 2**70, m.Zone.fixed(0))),
    ("DailySpec", lambda m: m.DailySpec([5], 0x7F, "UTC")),
    ("CronSpec", lambda m: m.CronSpec(1 << 60, 1, 2, 2, 1, False, False, m.Zone.fixed(0))),
    ("CronSpec", lambda m: m.CronSpec(1, 1 << 24, 2, 2, 1, False, False, m.Zone.fixed(0))),
    ("CronSpec", lambda m: m.CronSpec(1, 1, 1, 2, 1, False, False, m.Zone.fixed(0))),
    ("CronSpec", lambda m: m.CronSpec(1, 1, 2, 1 << 13, 1, False, False, m.Zone.fixed(0))),
    ("CronSpec", lambda m: m.CronSpec(1, 1, 2, 2, 1 << 7, False, False, m.Zone.fixed(0))),
    ("CronSpec", lambda m: m.CronSpec(1, 1, 2, 2, -1, False, False, m.Zone.fixed(0))),
    ("CronSpec", lambda m: m.CronSpec(1, 1, 2, 2, 1, 0, False, m.Zone.fixed(0))),
    ("CronSpec", lambda m: m.CronSpec(1, 1, 2, 2, 1, False, False, None)),
    ("MultiSpec", lambda m: m.MultiSpec([m.IntervalSpec(1), "daily"])),
    ("upcoming", lambda m: m.DailySpec([5], 0x7F, m.Zone.fixed(0)).upcoming(0, -1)),
    ("upcoming", lambda m: m.DailySpec([5], 0x7F, m.Zone.fixed(0)).upcoming(0, 1.0)),
    ("next", lambda m: m.CronSpec(1, 1, 2, 2, 1, False, False, m.Zone.fixed(0)).next(True)),
    ("next", lambda m: m.DailySpec([5], 0x7F, m.Zone.fixed(0)).next("0")),
)


@pytest.mark.parametrize(
    ("name", "call"),
    INVALID_CALLS,
    ids=[f"{i}-{name}" for i, (name, _) in enumerate(INVALID_CALLS)],
)
def test_invalid_arguments_raise_alike(
    native: ModuleType, pure: ModuleType, name: str, call: Any
) -> None:
    with pytest.raises((TypeError, ValueError)) as native_error:
        call(native)
    with pytest.raises((TypeError, ValueError)) as pure_error:
        call(pure)
    assert type(native_error.value) is type(pure_error.value)
    assert str(native_error.value) == str(pure_error.value)


def test_invalid_tzif_names_zone(native: ModuleType, pure: ModuleType) -> None:
    for module in (native, pure):
        with pytest.raises(ValueError, match="invalid TZif data"):
            module.Zone.from_tzif("Mars/Olympus", b"TZif2 but nothing else")


# --- Threads -----------------------------------------------------------------


def test_specs_shared_across_threads(native: ModuleType, pure: ModuleType) -> None:
    # One set of native specs, used from several threads at once, gives what
    # the pure specs give in one thread.
    descriptions = [
        ("daily", list(range(0, 1440, 7)), 0x7F, ("key", "Europe/Berlin", "zoneinfo")),
        (
            "cron",
            1 | 1 << 30,
            (1 << 24) - 1,
            (1 << 32) - 2,
            (1 << 13) - 2,
            0x7F,
            False,
            True,
            ("key", "Australia/Lord_Howe", "zoneinfo"),
        ),
    ]
    native_specs = [build(native, native, pure, description) for description in descriptions]
    pure_specs = [build(pure, native, pure, description) for description in descriptions]
    starts = [_micros(year) for year in range(2000, 2040, 5)]
    expected = [[spec.upcoming(start, 300) for start in starts] for spec in pure_specs]

    def run(_: int) -> list[list[list[int]]]:
        return [[spec.upcoming(start, 300) for start in starts] for spec in native_specs]

    with ThreadPoolExecutor(max_workers=4) as executor:
        results = list(executor.map(run, range(8)))
    for result in results:
        assert result == expected
