"""`Multi`: the union of several schedules."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from millpond._backend import impl
from millpond.scheduler._base import SpecSchedule, result_tzinfo_of, spec_of
from millpond.scheduler._protocol import Schedule, require_aware, to_micros

if TYPE_CHECKING:
    from millpond.scheduler._specs import Spec


class Multi(SpecSchedule):
    """Run whenever any member runs: `next` is the earliest non-None member result.

    Members may be any schedules, user-written ones included. The result keeps
    the tzinfo its member returned; when two members run at the same instant
    the first of them in order wins. No members, or all None: `next` is None.
    Raises TypeError, naming the index, for a member without a `next` method.
    """

    __slots__ = ("_built_in", "_members", "_spec_object")

    def __init__(self, schedules: Iterable[Schedule]) -> None:
        if not isinstance(schedules, Iterable) or isinstance(schedules, (str, bytes)):
            raise TypeError(
                f"schedules must be an iterable of schedules, "
                f"got {type(schedules).__name__}: {schedules!r}"
            )
        members = tuple(schedules)
        for index, member in enumerate(members):
            if not isinstance(member, Schedule) or not callable(member.next):
                raise TypeError(
                    f"invalid Multi member at index {index}: expected a schedule with a "
                    f"next(after) method, got {type(member).__name__}: {member!r}"
                )
        self._members = members

        # Built-in members combine into one backend spec, computed in one call.
        built_in = [member for member in members if isinstance(member, SpecSchedule)]
        self._built_in: tuple[SpecSchedule, ...] | None = None
        self._spec_object: Spec | None = None
        if len(built_in) == len(members):
            self._built_in = tuple(built_in)
            self._spec_object = impl.MultiSpec([spec_of(member) for member in built_in])

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        """The member schedules, in the order given."""
        return self._members

    @property
    def _spec(self) -> Spec:
        if self._spec_object is None:  # pragma: no cover - guarded by _result_tzinfo
            raise NotImplementedError
        return self._spec_object

    def _result_tzinfo(self, after: datetime) -> tzinfo | None:
        """Return the members' common result tzinfo, or None if they differ or are not built-in."""
        if self._built_in is None:
            return None
        zones = [result_tzinfo_of(member, after) for member in self._built_in]
        if not zones:
            return after.tzinfo
        first = zones[0]
        if first is None or any(zone is None or zone != first for zone in zones[1:]):
            return None
        return first

    def next(self, after: datetime) -> datetime | None:
        """Return the earliest non-None `next` of the members, or None.

        Raises TypeError unless `after` is a datetime and ValueError if it is naive.
        """
        require_aware(after)
        if self._result_tzinfo(after) is not None:
            return super().next(after)

        best: datetime | None = None
        best_us = 0
        for index, member in enumerate(self._members):
            result = member.next(after)
            if result is None:
                continue
            result_us = _checked_result(result, after, index, member)
            if best is None or result_us < best_us:
                best, best_us = result, result_us
        return best

    def __repr__(self) -> str:
        return f"Multi({list(self._members)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Multi):
            return NotImplemented
        return self._members == other._members

    def __hash__(self) -> int:
        return hash((Multi, self._members))


def _checked_result(result: object, after: datetime, index: int, member: object) -> int:
    """Return the instant of a member's result; raise if it is not an aware datetime > after."""
    if not isinstance(result, datetime) or result.utcoffset() is None:
        raise TypeError(
            f"Multi member at index {index} ({type(member).__name__}) returned {result!r}: "
            "expected an aware datetime or None"
        )
    result_us = to_micros(result)
    if result_us <= to_micros(after):
        raise ValueError(
            f"Multi member at index {index} ({type(member).__name__}) returned "
            f"{result.isoformat()}, which is not after {after.isoformat()}"
        )
    return result_us
