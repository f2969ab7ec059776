"""`ClockTime` and `Weekday`: the parts of a wall-clock schedule."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

_CLOCK_TIME: Final = re.compile(r"([0-9]{1,2}):([0-9]{2})")


@dataclass(frozen=True, order=True)
class ClockTime:
    """A time of day on the wall clock, to the minute: `ClockTime(14, 30)` is 14:30.

    Raises TypeError unless both parts are ints, and ValueError outside hour
    0-23 or minute 0-59. Ordered by hour, then minute.
    """

    __slots__ = ("hour", "minute")

    hour: int
    minute: int

    def __post_init__(self) -> None:
        for name, value, high in (("hour", self.hour, 23), ("minute", self.minute, 59)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
            if not 0 <= value <= high:
                raise ValueError(f"invalid {name} {value}: expected 0-{high}")

    @classmethod
    def parse(cls, text: str) -> ClockTime:
        """Parse a 24-hour `H:MM` or `HH:MM` string such as "14:30" or "7:05"."""
        if not isinstance(text, str):
            raise TypeError(f"ClockTime.parse() expects a str, got {type(text).__name__}")
        match = _CLOCK_TIME.fullmatch(text)
        if match is None or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError(
                f"invalid time {text!r}: expected HH:MM with hour 0-23 and minute 0-59"
            )
        return cls(int(match[1]), int(match[2]))

    @property
    def minute_of_day(self) -> int:
        """Minutes since midnight: `hour * 60 + minute`."""
        return self.hour * 60 + self.minute

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"

    def __repr__(self) -> str:
        return f"ClockTime({self.hour}, {self.minute})"


class Weekday(enum.IntEnum):
    """A day of the week, numbered as `datetime.weekday()` does: Monday 0 to Sunday 6."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6

    def __repr__(self) -> str:
        return f"Weekday.{self.name}"
