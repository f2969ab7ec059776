"""Transition instants of a TZif file, including those its POSIX TZ footer implies.

`zoneinfo` computes offsets but does not expose where they change. The schedule
search needs those boundaries to walk from one constant-offset stretch of time
to the next, so this module reads them from the same bytes `zoneinfo` reads
(RFC 8536). Offsets themselves still come from `zoneinfo`.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import date
from typing import Final

_HEADER: Final = struct.Struct(">4sc15x6l")
_UNIX_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_DAY_SECONDS: Final = 86_400

# std name, std offset, then optionally dst name, dst offset and ",start,end".
# Names are three or more letters, or anything but '>' inside angle brackets.
_NAME: Final = r"(?:[A-Za-z]{3,}|<[^>]*>)"
_OFFSET: Final = r"[+-]?\d{1,3}(?::\d{1,2}){0,2}"
_TZ_STRING: Final = re.compile(
    rf"(?P<std>{_NAME})(?P<std_offset>{_OFFSET})"
    rf"(?:(?P<dst>{_NAME})(?P<dst_offset>{_OFFSET})?"
    r"(?:,(?P<start>[^,]+),(?P<end>[^,]+))?)?"
)
_RULE_DATE: Final = re.compile(
    r"(?:J(?P<julian>\d{1,3})|M(?P<month>\d{1,2})\.(?P<week>\d)\.(?P<weekday>\d)|(?P<day>\d{1,3}))"
    rf"(?:/(?P<time>{_OFFSET}))?"
)


@dataclass(frozen=True)
class TzifData:
    """Transition instants (Unix seconds, ascending) and the footer rule for later years."""

    transitions: tuple[int, ...]
    rule: DstRule | None


@dataclass(frozen=True)
class _RuleDate:
    kind: str  # "J" (1-365, never counting Feb 29), "D" (0-365), or "M" (month.week.weekday)
    a: int
    b: int
    c: int
    seconds: int  # local time of day of the change, may be negative or past 24 h

    def local_seconds(self, year: int) -> int:
        """Return the local wall time of this change in `year`, as seconds from 1970-01-01."""
        first = date(year, 1, 1).toordinal()
        if self.kind == "J":
            leap_shift = 1 if self.a >= 60 and _is_leap(year) else 0
            ordinal = first + self.a - 1 + leap_shift
        elif self.kind == "D":
            ordinal = first + self.a
        else:
            ordinal = _nth_weekday(year, month=self.a, week=self.b, weekday=self.c)
        return (ordinal - _UNIX_EPOCH_ORDINAL) * _DAY_SECONDS + self.seconds


@dataclass(frozen=True)
class DstRule:
    """A yearly DST rule from a POSIX TZ string: offsets in seconds east of UTC."""

    std_offset: int
    dst_offset: int
    start: _RuleDate
    end: _RuleDate

    def transitions(self, year: int) -> tuple[int, int]:
        """Return the Unix seconds at which DST starts and ends in `year`."""
        # The start is given in standard time and the end in daylight time.
        start = self.start.local_seconds(year) - self.std_offset
        end = self.end.local_seconds(year) - self.dst_offset
        return start, end


def parse_tzif(data: bytes) -> TzifData:
    """Read the transition instants and footer rule of a TZif file; ValueError if malformed."""
    try:
        return _parse(data)
    except (struct.error, IndexError) as error:
        raise ValueError(f"truncated or malformed data ({error})") from error


def _parse(data: bytes) -> TzifData:
    magic, version, *counts = _HEADER.unpack_from(data, 0)
    if magic != b"TZif":
        raise ValueError("missing 'TZif' magic")
    if version == b"\x00":
        # Version 1 has 32-bit transition times and no footer.
        timecnt = counts[3]
        times = struct.unpack_from(f">{timecnt}l", data, _HEADER.size)
        return TzifData(transitions=tuple(times), rule=None)

    # Version 2 and later repeat the data with 64-bit times after the version 1 block.
    offset = _HEADER.size + _block_size(counts, time_size=4)
    _, _, *counts = _HEADER.unpack_from(data, offset)
    offset += _HEADER.size
    timecnt = counts[3]
    times = struct.unpack_from(f">{timecnt}q", data, offset)
    offset += _block_size(counts, time_size=8)

    footer = data[offset:].split(b"\n")
    tz_string = footer[1].decode("ascii") if len(footer) > 2 else ""
    return TzifData(transitions=tuple(times), rule=parse_tz_string(tz_string))


def _block_size(counts: list[int], *, time_size: int) -> int:
    isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = counts
    return (
        timecnt * time_size
        + timecnt
        + typecnt * 6
        + charcnt
        + leapcnt * (time_size + 4)
        + isstdcnt
        + isutcnt
    )


def parse_tz_string(tz_string: str) -> DstRule | None:
    """Return the DST rule of a POSIX TZ string, or None when it has no DST or is empty."""
    if not tz_string:
        return None
    match = _TZ_STRING.fullmatch(tz_string)
    if match is None:
        raise ValueError(f"invalid TZif footer {tz_string!r}: not a POSIX TZ string")
    if match["dst"] is None:
        return None
    if match["start"] is None:
        raise ValueError(f"invalid TZif footer {tz_string!r}: DST without transition rules")

    # POSIX offsets count hours west of UTC; the default DST offset is one hour ahead.
    std_offset = -_seconds(match["std_offset"])
    dst_text = match["dst_offset"]
    dst_offset = -_seconds(dst_text) if dst_text is not None else std_offset + 3600
    return DstRule(
        std_offset=std_offset,
        dst_offset=dst_offset,
        start=_rule_date(match["start"], tz_string),
        end=_rule_date(match["end"], tz_string),
    )


def _rule_date(text: str, tz_string: str) -> _RuleDate:
    match = _RULE_DATE.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid TZif footer {tz_string!r}: bad rule date {text!r}")
    seconds = _seconds(match["time"]) if match["time"] is not None else 7200
    if match["julian"] is not None:
        return _RuleDate("J", int(match["julian"]), 0, 0, seconds)
    if match["day"] is not None:
        return _RuleDate("D", int(match["day"]), 0, 0, seconds)
    month, week, weekday = int(match["month"]), int(match["week"]), int(match["weekday"])
    if not (1 <= month <= 12 and 1 <= week <= 5 and 0 <= weekday <= 6):
        raise ValueError(f"invalid TZif footer {tz_string!r}: bad rule date {text!r}")
    return _RuleDate("M", month, week, weekday, seconds)


def _seconds(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(part) for part in text.lstrip("+-").split(":")]
    parts += [0] * (3 - len(parts))
    hours, minutes, seconds = parts
    return sign * (hours * 3600 + minutes * 60 + seconds)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _nth_weekday(year: int, *, month: int, week: int, weekday: int) -> int:
    """Return the ordinal of the `week`-th `weekday` (0 Sunday) of a month; week 5 is last."""
    first = date(year, month, 1).toordinal()
    # date.toordinal() % 7 is 0 on Sundays, matching the POSIX weekday numbering.
    ordinal = first + (weekday - first % 7) % 7 + 7 * (week - 1)
    next_month = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    while ordinal >= next_month.toordinal():
        ordinal -= 7
    return ordinal
