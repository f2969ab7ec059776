"""`SpecSchedule`: the base of the built-in schedules, which delegate to a backend spec."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from millpond.scheduler._protocol import from_micros, require_aware, to_micros

if TYPE_CHECKING:
    from millpond.scheduler._specs import Spec


class SpecSchedule:
    """A schedule whose fire instants come from a backend spec.

    Subclasses provide `_spec` and `_result_tzinfo`, the tzinfo of their results.
    """

    __slots__ = ()

    @property
    def _spec(self) -> Spec:
        raise NotImplementedError

    def _result_tzinfo(self, after: datetime) -> tzinfo | None:
        """Return the tzinfo of every result after `after`, or None if it varies by result."""
        raise NotImplementedError

    def next(self, after: datetime) -> datetime | None:
        """Return the first run time strictly after `after`, or None if no run follows.

        Raises TypeError unless `after` is a datetime and ValueError if it is naive.
        """
        require_aware(after)
        result_tzinfo = self._result_tzinfo(after)
        if result_tzinfo is None:  # pragma: no cover - subclasses with mixed zones override next
            raise NotImplementedError
        next_us = self._spec.next(to_micros(after))
        if next_us is None:
            return None
        return from_micros(next_us, result_tzinfo)


def spec_of(schedule: SpecSchedule) -> Spec:
    """Return the backend spec of a built-in schedule."""
    return schedule._spec  # noqa: SLF001 - the built-in schedules share this internal interface


def result_tzinfo_of(schedule: SpecSchedule, after: datetime) -> tzinfo | None:
    """Return the tzinfo of a built-in schedule's results after `after`, or None if it varies."""
    return schedule._result_tzinfo(after)  # noqa: SLF001 - as in spec_of
