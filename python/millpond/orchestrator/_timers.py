"""The scheduler's timer heap and the slot arithmetic of one wake-up."""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Final, Generic, TypeVar

from millpond.orchestrator._policies import Policy
from millpond.scheduler import Schedule

__all__ = [
    "MAX_SCAN",
    "DueSlots",
    "ScheduleError",
    "TimerHeap",
    "apply_misfire",
    "due_slots",
    "format_slot",
    "next_slot",
]

T = TypeVar("T")

logger = logging.getLogger("millpond.orchestrator")

MAX_SCAN: Final = 10_000
"""The maximum number of slots that one wake-up walks through to find the due ones."""


class ScheduleError(Exception):
    """A schedule raised, or returned something other than an aware instant after `after`."""


def next_slot(schedule: Schedule, after: datetime) -> datetime | None:
    """Return `schedule.next(after)` in UTC, checked; raise ScheduleError for a bad result."""
    try:
        result = schedule.next(after)
    except Exception as error:
        raise ScheduleError(
            f"{schedule!r}.next({after.isoformat()}) raised {type(error).__name__}: {error}"
        ) from error
    if result is None:
        return None
    if not isinstance(result, datetime):
        raise ScheduleError(
            f"{schedule!r}.next({after.isoformat()}) returned {type(result).__name__} "
            f"{result!r}, expected an aware datetime or None"
        )
    if result.tzinfo is None or result.utcoffset() is None:
        raise ScheduleError(
            f"{schedule!r}.next({after.isoformat()}) returned the naive datetime "
            f"{result.isoformat()}, expected an aware one"
        )
    # Subtracting aware datetimes compares instants, whatever their zones.
    if result - after <= timedelta(0):
        raise ScheduleError(
            f"{schedule!r}.next({after.isoformat()}) returned {result.isoformat()}, "
            "which is not after it; a schedule must move forward"
        )
    try:
        return result.astimezone(timezone.utc)
    except OverflowError:
        return None


@dataclass
class DueSlots:
    """The slots of one schedule that are due at a wake-up.

    `newest` contains the newest due slots, oldest first, at most as many as the
    caller asked to keep; `count` is how many were due in all. `following` is
    the first slot after now, or None when the schedule ends. `truncated`
    means the walk stopped after `MAX_SCAN` slots, so `count` is a lower
    bound, `newest` are not the latest due slots and `following` is None.
    """

    newest: deque[datetime]
    count: int
    following: datetime | None
    truncated: bool


def due_slots(schedule: Schedule, first: datetime, now: datetime, keep: int) -> DueSlots:
    """Walk from the due slot `first` through every slot up to `now`, keeping the newest `keep`.

    Raises ScheduleError when the schedule does.
    """
    newest: deque[datetime] = deque(maxlen=keep)
    slot = first
    for count in itertools.count(1):
        newest.append(slot)
        following = next_slot(schedule, slot)
        if following is None or following > now:
            return DueSlots(newest, count, following, truncated=False)
        if count >= MAX_SCAN:
            return DueSlots(newest, count, None, truncated=True)
        slot = following
    raise AssertionError  # pragma: no cover - itertools.count never ends


def apply_misfire(name: str, policy: Policy, due: DueSlots, now: datetime) -> list[datetime]:
    """Apply the misfire policy of pipeline `name` to its due slots; log what it drops.

    Returns the slots to fire, oldest first.
    """
    grace = timedelta(seconds=policy.misfire_grace)
    newest = list(due.newest)
    late = [slot for slot in newest if now - slot > grace]
    at_least = "at least " if due.truncated else ""

    if policy.misfire == "coalesce":
        if due.count > 1:
            logger.warning(
                "pipeline %r: coalesced %s%d missed slots into one run for slot %s",
                name,
                at_least,
                due.count,
                format_slot(newest[-1]),
            )
        elif late:
            logger.warning(
                "pipeline %r: slot %s is %.3f s late; firing it once (misfire 'coalesce')",
                name,
                format_slot(newest[-1]),
                (now - newest[-1]).total_seconds(),
            )
        return newest

    if policy.misfire == "skip":
        on_time = [slot for slot in newest if now - slot <= grace]
        skipped = due.count - len(on_time)
        if skipped:
            logger.warning(
                "pipeline %r: skipped %s%d late slots, the newest %s (misfire 'skip')",
                name,
                at_least,
                skipped,
                format_slot(late[-1]) if late else "unknown",
            )
        return on_time

    dropped = due.count - len(newest)
    if dropped:
        logger.warning(
            "pipeline %r: %s%d missed slots, more than max_catch_up=%d; skipped the "
            "%s%d oldest and firing the newest %d",
            name,
            at_least,
            due.count,
            policy.max_catch_up,
            at_least,
            dropped,
            len(newest),
        )
    elif len(late) > 1:
        logger.warning(
            "pipeline %r: catching up %d missed slots (misfire 'catch_up')", name, len(late)
        )
    return newest


def format_slot(slot: datetime | None) -> str:
    """Format an instant for logs as UTC with milliseconds, such as 2026-01-01T02:00:00.000Z."""
    if slot is None:
        return "none"
    text = slot.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class TimerHeap(Generic[T]):
    """Tasks ordered by due time, a UTC POSIX timestamp in seconds. Not thread-safe."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: float, task: T) -> None:
        """Add `task`, due at `due`; tasks due at the same time come out in push order."""
        heapq.heappush(self._heap, (due, next(self._order), task))

    def next_due(self) -> float | None:
        """Return the earliest due time, or None when the heap is empty."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> T | None:
        """Remove and return the earliest task due at or before `now`, or None."""
        if not self._heap or self._heap[0][0] > now:
            return None
        return heapq.heappop(self._heap)[2]

    def clear(self) -> list[T]:
        """Remove every task and return them in due order."""
        tasks = [task for _, _, task in sorted(self._heap, key=lambda entry: entry[:2])]
        self._heap.clear()
        return tasks
