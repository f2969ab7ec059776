"""The `Schedule` protocol and the instant conversions every schedule shares."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import Final, Protocol, runtime_checkable

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)


@runtime_checkable
class Schedule(Protocol):
    """An object that computes the next run time after an instant."""

    def next(self, after: datetime) -> datetime | None:
        """Return the first run time strictly after `after`, or None if no run follows.

        `after` must be timezone-aware; a naive datetime raises ValueError.
        """
        ...


def require_aware(after: object) -> datetime:
    """Return `after` if it is an aware datetime; raise TypeError or ValueError otherwise."""
    if not isinstance(after, datetime):
        raise TypeError(f"after must be a datetime, got {type(after).__name__}: {after!r}")
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError(
            f"after must be timezone-aware, got naive {after.isoformat()}: "
            "attach a zone, e.g. after.replace(tzinfo=ZoneInfo('Europe/Berlin')) "
            "or datetime.now(timezone.utc)"
        )
    return after


def to_micros(instant: datetime) -> int:
    """Return the microseconds from the Unix epoch to the aware `instant`."""
    # Subtracting datetimes with different tzinfo objects compares UTC instants,
    # and unlike astimezone() it cannot overflow near year 1 or 9999.
    return (instant - _EPOCH) // _MICROSECOND


def from_micros(micros: int, zone: tzinfo) -> datetime | None:
    """Return the instant `micros` after the epoch in `zone`, or None if out of range."""
    try:
        return (_EPOCH + timedelta(microseconds=micros)).astimezone(zone)
    except OverflowError:
        return None
