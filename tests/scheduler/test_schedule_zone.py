"""Backend zones: offsets against zoneinfo, TZif and POSIX footer parsing, offset stretches."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedule_oracle import TRICKY_ZONES, UTC, from_micros, micros

from millpond._pure.tzif import parse_tz_string, parse_tzif
from millpond._pure.zone import Zone as PureZone
from millpond.scheduler._location import _find_tzif

ZONE_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
instants = st.integers(
    micros(datetime(1800, 1, 1, tzinfo=UTC)), micros(datetime(2400, 1, 1, tzinfo=UTC))
)


def _tzif(key: str) -> bytes:
    data = _find_tzif(key)
    assert data is not None
    return data


@pytest.mark.parametrize("backend_name", ["pure", "native"])
@ZONE_SETTINGS
@given(zone_name=st.sampled_from(TRICKY_ZONES), instant=instants)
def test_zone_offset_matches_zoneinfo(
    request: pytest.FixtureRequest, backend_name: str, zone_name: str, instant: int
) -> None:
    backend: ModuleType = request.getfixturevalue(backend_name)
    if not hasattr(backend, "Zone"):
        pytest.skip(f"the {backend_name} backend has no Zone yet")
    zone = backend.Zone.from_tzif(zone_name, _tzif(zone_name))
    expected = from_micros(instant).astimezone(ZoneInfo(zone_name)).utcoffset()
    assert expected is not None
    assert zone.utc_offset(instant) == expected // timedelta(seconds=1)
    assert zone.key == zone_name


def test_zone_fixed(pure: ModuleType) -> None:
    zone = pure.Zone.fixed(-3600 * 5 - 30)
    assert zone.key is None
    assert zone.utc_offset(0) == -18_030
    with pytest.raises(ValueError, match="invalid offset 86400 s"):
        pure.Zone.fixed(86_400)
    with pytest.raises(TypeError, match="offset_seconds must be an int"):
        pure.Zone.fixed(1.5)


def test_zone_rejects_bad_tzif(pure: ModuleType) -> None:
    with pytest.raises(ValueError, match="TZif"):
        pure.Zone.from_tzif("Bad/Zone", b"not a zone file")
    with pytest.raises(ValueError, match="TZif"):
        pure.Zone.from_tzif("Bad/Zone", _tzif("Europe/Berlin")[:60])


@ZONE_SETTINGS
@given(zone_name=st.sampled_from(TRICKY_ZONES), instant=instants)
def test_segment_has_one_offset(zone_name: str, instant: int) -> None:
    zone = PureZone.from_tzif(zone_name, _tzif(zone_name))
    start, end, offset_us = zone.segment(instant)
    assert start is None or start <= instant
    assert end is None or instant < end
    tz = ZoneInfo(zone_name)
    probes = [instant]
    if start is not None:
        probes.append(start)
    if end is not None:
        probes.append(end - 1)
    for probe in probes:
        offset = from_micros(probe).astimezone(tz).utcoffset()
        assert offset is not None
        assert offset // timedelta(microseconds=1) == offset_us


def test_segments_cover_every_change() -> None:
    # Walk the stretches of a zone over two centuries; each must keep one offset.
    tz = ZoneInfo("America/Santiago")
    zone = PureZone.from_tzif("America/Santiago", _tzif("America/Santiago"))
    instant = micros(datetime(1900, 1, 1, tzinfo=UTC))
    stop = micros(datetime(2100, 1, 1, tzinfo=UTC))
    stretches = 0
    while instant < stop:
        _, end, offset_us = zone.segment(instant)
        assert end is not None
        for probe in (instant, (instant + end) // 2, end - 1):
            offset = from_micros(probe).astimezone(tz).utcoffset()
            assert offset is not None
            assert offset // timedelta(microseconds=1) == offset_us
        instant = end
        stretches += 1
    assert stretches > 200


@pytest.mark.parametrize(
    ("tz_string", "year", "expected"),
    [
        # Europe: last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC.
        ("CET-1CEST,M3.5.0,M10.5.0/3", 2024, ("2024-03-31T01:00", "2024-10-27T01:00")),
        # US Eastern: second Sunday of March 02:00 local, first Sunday of November.
        ("EST5EDT,M3.2.0,M11.1.0", 2024, ("2024-03-10T07:00", "2024-11-03T06:00")),
        # Negative and past-24h rule times, angle-bracket names.
        ("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", 2024, ("2024-03-31T01:00", "2024-10-27T01:00")),
        (
            "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
            2024,
            ("2024-09-28T14:00", "2024-04-06T14:00"),
        ),
        # Julian days: J60 is March 1 even in leap years; 59 counts Feb 29.
        ("XXX3YYY,J60/0,J300/0", 2024, ("2024-03-01T03:00", "2024-10-27T02:00")),
        ("XXX3YYY,59/0,299/0", 2024, ("2024-02-29T03:00", "2024-10-26T02:00")),
        ("IST-2IDT,M3.4.4/26,M10.5.0", 2024, ("2024-03-29T00:00", "2024-10-26T23:00")),
    ],
)
def test_tz_string_rule(tz_string: str, year: int, expected: tuple[str, str]) -> None:
    rule = parse_tz_string(tz_string)
    assert rule is not None
    start, end = rule.transitions(year)
    epoch = datetime(1970, 1, 1)  # noqa: DTZ001
    assert (epoch + timedelta(seconds=start)).isoformat(timespec="minutes") == expected[0]
    assert (epoch + timedelta(seconds=end)).isoformat(timespec="minutes") == expected[1]


@pytest.mark.parametrize("tz_string", ["", "UTC0", "<+05>-5", "JST-9"])
def test_tz_string_without_dst(tz_string: str) -> None:
    assert parse_tz_string(tz_string) is None


@pytest.mark.parametrize("tz_string", ["nonsense!", "EST5EDT", "EST5EDT,M13.1.0,M11.1.0"])
def test_tz_string_rejects(tz_string: str) -> None:
    with pytest.raises(ValueError, match="invalid TZif footer"):
        parse_tz_string(tz_string)


def test_tzif_version_1() -> None:
    # A minimal version 1 file: two transitions, two types, no footer.
    header = struct.pack(">4sc15x6l", b"TZif", b"\x00", 0, 0, 0, 2, 2, 4)
    body = struct.pack(">2l", 0, 1000) + bytes([1, 0])
    body += struct.pack(">lBB", 0, 0, 0) + struct.pack(">lBB", 3600, 1, 0) + b"ABC\x00"
    parsed = parse_tzif(header + body)
    assert parsed.transitions == (0, 1000)
    assert parsed.rule is None


def test_tzif_footer_matches_zoneinfo_far_ahead() -> None:
    # Past the last explicit transition, offsets come from the footer rule.
    zone = PureZone.from_tzif("America/New_York", _tzif("America/New_York"))
    tz = ZoneInfo("America/New_York")
    for year in (2100, 2500, 9998):
        for month in (1, 3, 6, 11):
            instant = datetime(year, month, 10, tzinfo=UTC)
            start, end, offset_us = zone.segment(micros(instant))
            assert start is not None
            assert end is not None
            offset = instant.astimezone(tz).utcoffset()
            assert offset is not None
            assert offset_us == offset // timedelta(microseconds=1)


def test_zone_near_datetime_limits() -> None:
    zone = PureZone.from_tzif("Pacific/Kiritimati", _tzif("Pacific/Kiritimati"))
    last = micros(datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
    assert zone.utc_offset(last) == 14 * 3600
    first = micros(datetime(1, 1, 1, tzinfo=UTC))
    west = PureZone.from_tzif("America/New_York", _tzif("America/New_York"))
    assert west.utc_offset(first) == -(4 * 3600 + 56 * 60 + 2)


def swap_first_transitions(data: bytes) -> bytes:
    """Return TZif data whose first two 64-bit transition times are swapped."""
    header = struct.Struct(">4sc15x6l")
    _, _, isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = header.unpack_from(data, 0)
    version_1_size = timecnt * 5 + typecnt * 6 + charcnt + leapcnt * 8 + isstdcnt + isutcnt
    start = header.size + version_1_size + header.size
    first, second = struct.unpack_from(">2q", data, start)
    return data[:start] + struct.pack(">2q", second, first) + data[start + 16 :]


def test_zones_reject_unsorted_transitions(native: ModuleType, pure: ModuleType) -> None:
    data = swap_first_transitions(_tzif("Europe/Berlin"))
    messages = []
    for backend in (native, pure):
        with pytest.raises(ValueError, match="strictly ascending") as caught:
            backend.Zone.from_tzif("Europe/Berlin", data)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "'Europe/Berlin'" in messages[0]
