"""When the next run of a pipeline is due.

A schedule maps an aware instant to the next instant after it, or None when no
run follows. All arithmetic happens on UTC instants: adding a timedelta to an
aware datetime in a ZoneInfo zone moves the wall clock, not elapsed time.

`Interval` counts elapsed time; `DailyAt` and `Cron` follow a zone's wall
clock; `Multi` combines schedules; `upcoming` and `iter_times` list run times.
`parse_schedule` builds any of them from text such as "daily 02:00 mon-fri".
"""

from millpond.scheduler._clock import ClockTime, Weekday
from millpond.scheduler._cron import Cron
from millpond.scheduler._daily import DailyAt
from millpond.scheduler._interval import Interval, every
from millpond.scheduler._multi import Multi
from millpond.scheduler._preview import iter_times, upcoming
from millpond.scheduler._protocol import Schedule
from millpond.scheduler._text import parse_schedule

__all__ = [
    "ClockTime",
    "Cron",
    "DailyAt",
    "Interval",
    "Multi",
    "Schedule",
    "Weekday",
    "every",
    "iter_times",
    "parse_schedule",
    "upcoming",
]
