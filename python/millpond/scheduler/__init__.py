"""When the next run of a pipeline is due.

A schedule maps an aware instant to the next instant after it, or None when no
run follows. All arithmetic happens on UTC instants: adding a timedelta to an
aware datetime in a ZoneInfo zone moves the wall clock, not elapsed time.
"""

from millpond.scheduler._interval import Interval, every
from millpond.scheduler._protocol import Schedule

__all__ = ["Interval", "Schedule", "every"]
