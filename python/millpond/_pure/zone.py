"""`Zone`: UTC offsets of a time zone and the instants where they change."""

from __future__ import annotations

import bisect
import io
import itertools
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from millpond._pure.schedule import MAX_US as _MAX_US
from millpond._pure.schedule import MIN_US as _MIN_US
from millpond._pure.tzif import DstRule, parse_tzif

_EPOCH: Final = datetime(1970, 1, 1)  # noqa: DTZ001 - naive UTC, shifted by fromutc()
_SECOND_US: Final = 1_000_000
# 400 Gregorian years are exactly 146_097 days, so calendar-based DST rules repeat.
_CYCLE_SECONDS: Final = 146_097 * 86_400


class Zone:
    """A time zone as both backends see it: offsets by instant, and their change points.

    Instants are microseconds since the Unix epoch, UTC. Offsets are whole
    seconds east of UTC.
    """

    __slots__ = ("_key", "_rule", "_rule_cache", "_transitions", "_tzinfo")

    def __init__(
        self,
        key: str | None,
        zone_tzinfo: tzinfo,
        transitions: list[int],
        rule: DstRule | None,
    ) -> None:
        self._key = key
        self._tzinfo = zone_tzinfo
        self._transitions = transitions
        self._rule = rule
        self._rule_cache: dict[int, tuple[int, ...]] = {}

    @staticmethod
    def from_tzif(key: str, data: bytes) -> Zone:
        """Build a zone from TZif bytes, the same bytes `zoneinfo` reads for `key`."""
        if not isinstance(key, str) or not isinstance(data, bytes):
            raise TypeError("Zone.from_tzif() expects a str key and bytes data")
        try:
            parsed = parse_tzif(data)
        except ValueError as error:
            raise ValueError(f"invalid TZif data for zone {key!r}: {error}") from error

        # RFC 8536 requires ascending transition times, and the searches over
        # offset stretches rely on it; zoneinfo does not check it.
        times = parsed.transitions
        if any(earlier >= later for earlier, later in itertools.pairwise(times)):
            raise ValueError(
                f"invalid TZif data for zone {key!r}: "
                "transition times are not in strictly ascending order"
            )
        zone_tzinfo = ZoneInfo.from_file(io.BytesIO(data), key=key)
        transitions = [seconds * _SECOND_US for seconds in parsed.transitions]
        return Zone(key, zone_tzinfo, transitions, parsed.rule)

    @staticmethod
    def fixed(offset_seconds: int) -> Zone:
        """Build a zone that is always `offset_seconds` east of UTC (|offset| < 86400)."""
        if isinstance(offset_seconds, bool) or not isinstance(offset_seconds, int):
            raise TypeError(f"offset_seconds must be an int, got {offset_seconds!r}")
        if not -86_400 < offset_seconds < 86_400:
            raise ValueError(f"invalid offset {offset_seconds} s: expected -86399 to 86399")
        return Zone(None, timezone(timedelta(seconds=offset_seconds)), [], None)

    @property
    def key(self) -> str | None:
        """The IANA key the zone was built from, or None for a fixed offset."""
        return self._key

    def utc_offset(self, instant_us: int) -> int:
        """Return the offset in seconds east of UTC in force at `instant_us`."""
        # Offsets change only at whole seconds, and not before year 1 or after 9999.
        seconds = min(max(instant_us, _MIN_US), _MAX_US) // _SECOND_US
        try:
            return self._offset_at_seconds(seconds)
        except OverflowError:
            # The local time lies outside datetime's range, within a day of
            # year 1 or 9999. No zone has transitions there, except for the
            # footer's yearly rule, which repeats every 400 years.
            shift = _CYCLE_SECONDS if seconds < 0 else -_CYCLE_SECONDS
            return self._offset_at_seconds(seconds + shift)

    def _offset_at_seconds(self, seconds: int) -> int:
        utc = (_EPOCH + timedelta(seconds=seconds)).replace(tzinfo=self._tzinfo)
        offset = self._tzinfo.fromutc(utc).utcoffset()
        if offset is None:  # pragma: no cover - ZoneInfo and timezone always return one
            raise ValueError(f"zone {self._key!r} has no UTC offset")
        return offset // timedelta(seconds=1)

    def segment(self, instant_us: int) -> tuple[int | None, int | None, int]:
        """Return `(start, end, offset_us)`, the stretch around `instant_us` with one offset.

        `start <= instant_us < end`; None stands for no bound. The offset may
        also stay the same across `start` or `end` (a change of abbreviation or
        of DST flag only), but it never changes inside the stretch.
        """
        offset_us = self.utc_offset(instant_us) * _SECOND_US
        transitions = self._transitions
        index = bisect.bisect_right(transitions, instant_us)
        start = transitions[index - 1] if index > 0 else None
        if index < len(transitions):
            return start, transitions[index], offset_us
        if self._rule is None:
            return start, None, offset_us

        # Past the last explicit transition the footer's yearly rule applies.
        rule_start, rule_end = self._rule_bounds(instant_us)
        if rule_start is not None and (start is None or rule_start > start):
            start = rule_start
        return start, rule_end, offset_us

    def _rule_bounds(self, instant_us: int) -> tuple[int | None, int | None]:
        year = (_EPOCH + timedelta(microseconds=instant_us)).year
        last = self._transitions[-1] if self._transitions else None
        # A change lies at most a day or so from its calendar year, so the
        # years around `year` always bracket the instant.
        candidates = [
            change
            for rule_year in (year - 1, year, year + 1)
            for change in self._rule_changes(rule_year)
            if last is None or change > last
        ]
        before = [change for change in candidates if change <= instant_us]
        after = [change for change in candidates if change > instant_us]
        return (max(before) if before else None), (min(after) if after else None)

    def _rule_changes(self, year: int) -> tuple[int, ...]:
        changes = self._rule_cache.get(year)
        if changes is None:
            rule = self._rule
            if rule is None or not 1 <= year <= 9999:
                changes = ()
            else:
                start, end = rule.transitions(year)
                changes = (start * _SECOND_US, end * _SECOND_US)
            self._rule_cache[year] = changes
        return changes

    def __repr__(self) -> str:
        if self._key is None:
            return f"Zone.fixed({self.utc_offset(0)})"
        return f"Zone.from_tzif({self._key!r}, ...)"
