"""Find fire instants of wall-clock schedules: the fixed-time and the real-time rule.

Local wall times are integers too: microseconds from 1970-01-01T00:00 on the
zone's wall clock. A wall time `w` seen at an instant with offset `o` (in
microseconds) is `w = instant + o`. Walls that a schedule matches are whole
local minutes.

The search walks the zone's stretches of constant offset (`Zone.segment`) in
instant order, so it never assumes that local order equals instant order, and
it never adds a day as 24 hours.
"""

from __future__ import annotations

import bisect
from datetime import date
from typing import Final, Protocol

from millpond._pure.schedule import MAX_US
from millpond._pure.zone import Zone

MINUTE_US: Final = 60_000_000
DAY_US: Final = 86_400_000_000
MINUTES_PER_DAY: Final = 1440
EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
# Wall times exist from 0001-01-01T00:00 to 9999-12-31T23:59, like datetime's.
FIRST_ORDINAL: Final = 1
LAST_ORDINAL: Final = date(9999, 12, 31).toordinal()


class WallPattern(Protocol):
    """The local wall times a schedule matches: matching days times minutes of the day."""

    @property
    def day_minutes(self) -> list[int]:
        """Matching minutes of a matching day (hour * 60 + minute), sorted."""
        ...

    def next_day(self, ordinal: int) -> int | None:
        """Return the first matching day on or after the proleptic `ordinal`, None past 9999."""
        ...


class WallCursor:
    """Find the next matching wall time, remembering the last result for repeated queries.

    The walk over offset stretches asks for the next wall from slowly rising
    starting points. While the start stays at or below the last result, the
    result is the same, so a sparse schedule costs one calendar search instead
    of one per stretch.
    """

    __slots__ = ("_found", "_pattern", "_searched_from")

    def __init__(self, pattern: WallPattern) -> None:
        self._pattern = pattern
        self._searched_from: int | None = None
        self._found: int | None = None

    def next_wall(self, local_us: int) -> int | None:
        """Return the smallest matching whole-minute wall time >= `local_us`, or None."""
        searched_from = self._searched_from
        if (
            searched_from is not None
            and searched_from <= local_us
            and (self._found is None or local_us <= self._found)
        ):
            return self._found
        found = _next_wall(self._pattern, local_us)
        self._searched_from = local_us
        self._found = found
        return found


def _next_wall(pattern: WallPattern, local_us: int) -> int | None:
    minutes = pattern.day_minutes
    if not minutes:
        return None

    day, time_of_day = divmod(local_us, DAY_US)
    ordinal = EPOCH_ORDINAL + day
    first_minute = -(-time_of_day // MINUTE_US)
    if ordinal < FIRST_ORDINAL:
        ordinal, first_minute = FIRST_ORDINAL, 0

    # The rest of the first day counts only if that day matches.
    matching = pattern.next_day(ordinal)
    if matching == ordinal:
        index = bisect.bisect_left(minutes, first_minute)
        if index < len(minutes):
            return (ordinal - EPOCH_ORDINAL) * DAY_US + minutes[index] * MINUTE_US
        matching = pattern.next_day(ordinal + 1)
    if matching is None:
        return None
    return (matching - EPOCH_ORDINAL) * DAY_US + minutes[0] * MINUTE_US


def next_fixed_time(pattern: WallPattern, zone: Zone, after_us: int) -> int | None:
    """Return the first instant > `after_us` of a matching wall time, resolved like fold=0.

    A wall time in a gap resolves with the offset in force before the change,
    so it fires as late as the gap is long. A wall time in a fold resolves to
    its first occurrence.
    """
    cursor = WallCursor(pattern)
    target = after_us + 1

    # Split the wall clock into pieces, one per offset stretch: stretch i with
    # offset o[i] owns the walls from start[i] + max(o[i-1], o[i]) up to
    # start[i+1] + max(o[i], o[i+1]), and resolves each as `wall - o[i]`. That
    # is fold=0: gap walls go to the earlier stretch and fold walls to their
    # first occurrence. The stretch before the target's can still own walls
    # that resolve past the target, because gap walls resolve late.
    start, end, offset = zone.segment(target)
    if start is not None:
        start, end, offset = zone.segment(start - 1)
    previous_offset = zone.segment(start - 1)[2] if start is not None else offset

    best: int | None = None
    while best is None or start is None or start < best:
        lower = target + offset
        if start is not None:
            lower = max(lower, start + max(previous_offset, offset))
        following = None
        upper = None
        if end is not None:
            following = zone.segment(end)
            upper = end + max(offset, following[2])

        wall = cursor.next_wall(lower)
        if wall is None:
            # No matching wall at or after `lower` (the calendar ends in year 9999).
            # Pieces up to the target's own can start their walls lower, because
            # the target's offset bounds them; later pieces start higher.
            # NOTE: "later pieces start higher" assumes every offset stretch is
            # longer than the offset change at its start, as in all tzdata zones.
            if start is not None and start > target:
                break
        elif upper is None or wall < upper:
            candidate = wall - offset
            best = candidate if best is None else min(best, candidate)

        # Each piece's instants start at or after its stretch's start, so the
        # loop stops once a stretch starts after the best candidate.
        if following is None:
            break
        previous_offset = offset
        start, end, offset = following

    if best is None or best > MAX_US:
        return None
    return best


def next_real_time(pattern: WallPattern, zone: Zone, after_us: int) -> int | None:
    """Return the first instant > `after_us` whose wall time, as the zone shows it, matches.

    Wall times inside a gap are never shown and so never fire; wall times in a
    fold are shown twice and fire twice.
    """
    cursor = WallCursor(pattern)
    first_instant = after_us + 1
    instant = first_instant
    while instant <= MAX_US:
        _, end, offset = zone.segment(instant)
        wall = cursor.next_wall(instant + offset)
        if wall is None:
            # Only the stretch after the first can show earlier walls (a fold).
            if end is None or instant != first_instant:
                return None
            instant = end
            continue
        if end is None or wall < end + offset:
            fire = wall - offset
            return fire if fire <= MAX_US else None
        instant = end
    return None


def upcoming(next_after: _NextAfter, after_us: int, count: int) -> list[int]:
    """Return up to `count` successive results of `next_after`, stopping early at None."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, got {count!r}")
    if count < 0:
        raise ValueError(f"invalid count {count}: expected 0 or more")
    results: list[int] = []
    current = after_us
    while len(results) < count:
        following = next_after(current)
        if following is None:
            break
        results.append(following)
        current = following
    return results


class _NextAfter(Protocol):
    def __call__(self, after_us: int, /) -> int | None: ...
