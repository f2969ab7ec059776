"""`Cron`: five-field cron expressions on a zone's wall clock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Final

from millpond._backend import impl
from millpond.scheduler._base import SpecSchedule
from millpond.scheduler._location import resolve_location

if TYPE_CHECKING:
    from millpond.scheduler._specs import Spec

_MACROS: Final = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTH_NAMES: Final = (
    "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()  # noqa: SIM905 - reads as a table
)
_DAY_NAMES: Final = "SUN MON TUE WED THU FRI SAT".split()  # noqa: SIM905 - reads as a table

# One list item: "*", a value or a range "a-b", each optionally followed by "/step".
_ITEM: Final = re.compile(r"(?:(\*)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/([0-9]+))?")
_NUMBER: Final = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]

    @property
    def expected(self) -> str:
        """The accepted values, as error messages state them."""
        text = f"{self.low}-{self.high}"
        if self.names:
            first, last = next(iter(self.names)), list(self.names)[-1]
            text += f" or {first}-{last}"
        return text


_FIELDS: Final = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, {name: number for number, name in enumerate(_MONTH_NAMES, 1)}),
    _Field("day-of-week", 0, 7, {name: number for number, name in enumerate(_DAY_NAMES)}),
)


@dataclass(frozen=True)
class CronFields:
    """A parsed cron expression: bit masks plus the two rule flags."""

    minutes: int
    hours: int
    days: int
    months: int
    weekdays: int  # bit 0 Sunday; 7 is folded into 0
    day_or: bool
    real_time: bool


def parse_cron(expression: str) -> CronFields:
    """Parse a five-field cron expression or an @-macro; ValueError naming the bad field."""
    if not isinstance(expression, str):
        raise TypeError(
            f"cron expression must be a str, got {type(expression).__name__}: {expression!r}"
        )
    text = expression.strip()
    if text.startswith("@"):
        macro = _MACROS.get(text.lower())
        if macro is None:
            raise ValueError(
                f"invalid cron expression {expression!r}: unknown macro, "
                f"expected one of {', '.join(_MACROS)}"
            )
        text = macro

    fields = text.split()
    if len(fields) != len(_FIELDS):
        raise ValueError(
            f"invalid cron expression {expression!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week) or one of {', '.join(_MACROS)}, "
            f"got {len(fields)}"
        )
    minutes, hours, days, months, weekdays = (
        _parse_field(field_text, field) for field_text, field in zip(fields, _FIELDS, strict=True)
    )

    # Day 7 is Sunday, like day 0.
    if weekdays >> 7 & 1:
        weekdays = (weekdays | 1) & 0x7F

    # Vixie cron: when both day fields are restricted, a day matching either runs.
    # A field counts as restricted unless it starts with '*', so "*/2" is not.
    day_or = not fields[2].startswith("*") and not fields[4].startswith("*")
    # An hour field starting with '*' marks a frequent job that follows real time.
    real_time = fields[1].startswith("*")
    return CronFields(minutes, hours, days, months, weekdays, day_or, real_time)


def _parse_field(text: str, field: _Field) -> int:
    mask = 0
    for item in text.split(","):
        mask |= _parse_item(item, text, field)
    return mask


def _parse_item(item: str, text: str, field: _Field) -> int:
    def invalid(problem: str) -> ValueError:
        return ValueError(f"invalid cron {field.name} field {text!r}: {problem}")

    if not item:
        raise invalid("empty list item; separate values with single commas")
    match = _ITEM.fullmatch(item)
    if match is None:
        raise invalid(f"expected {field.expected}, with optional ranges a-b and steps /n")
    star, first_text, last_text, step_text = match.groups()

    if star:
        first, last = field.low, field.high
    else:
        first = _value(first_text, text, field)
        # "a/n" runs from a to the end of the field's range.
        last = _value(last_text, text, field) if last_text else first
        if last_text is None and step_text is not None:
            last = field.high
        if first > last:
            raise invalid(f"range {first_text}-{last_text} is reversed, expected start <= end")

    step = 1
    if step_text is not None:
        step = int(step_text)
        max_step = field.high - field.low + 1
        if not 1 <= step <= max_step:
            raise invalid(f"step {step} is out of range, expected a step of 1-{max_step}")

    mask = 0
    for value in range(first, last + 1, step):
        mask |= 1 << value
    return mask


def _value(token: str, text: str, field: _Field) -> int:
    value = int(token) if _NUMBER.fullmatch(token) else field.names.get(token.upper(), -1)
    if not field.low <= value <= field.high:
        raise ValueError(f"invalid cron {field.name} field {text!r}: expected {field.expected}")
    return value


class Cron(SpecSchedule):
    """Run at the wall-clock times a five-field cron expression matches, in `location`.

    Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
    JAN-DEC), day of week (0-7 or SUN-SAT, 0 and 7 Sunday). Each field is `*`,
    a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a comma list of
    these; names are case-insensitive. `@hourly`, `@daily`, `@midnight`,
    `@weekly`, `@monthly`, `@yearly` and `@annually` stand for the usual
    expressions. When neither day field starts with `*`, a day matching either
    one runs (Vixie cron).

    A fixed hour (the hour field does not start with `*`) follows the rules of
    `DailyAt`: a skipped time runs as late as the gap is long, a repeated time
    runs once. An hour field starting with `*` follows real time: its slots in
    a gap do not run, and slots in a repeated hour run at both occurrences.

    Raises ValueError naming the field for an invalid expression. `location`
    is as in `DailyAt`; results are returned in it.
    """

    __slots__ = ("_expression", "_fields", "_location", "_spec_object")

    def __init__(self, expression: str, location: tzinfo | str | None = None) -> None:
        self._fields = parse_cron(expression)
        self._expression = expression.strip()
        self._location = resolve_location(location)
        fields = self._fields
        self._spec_object: Spec = impl.CronSpec(
            fields.minutes,
            fields.hours,
            fields.days,
            fields.months,
            fields.weekdays,
            fields.day_or,
            fields.real_time,
            self._location.zone,
        )

    @property
    def expression(self) -> str:
        """The expression as given, without surrounding whitespace."""
        return self._expression

    @property
    def location(self) -> tzinfo:
        """The zone whose wall clock the expression refers to; results are in it."""
        return self._location.tzinfo

    @property
    def _spec(self) -> Spec:
        return self._spec_object

    def _result_tzinfo(self, after: datetime) -> tzinfo:  # noqa: ARG002 - same for every after
        return self._location.tzinfo

    def __repr__(self) -> str:
        return f"Cron({self._expression!r}, location={self._location.label})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cron):
            return NotImplemented
        return (self._fields, self._location.tzinfo) == (other._fields, other._location.tzinfo)

    def __hash__(self) -> int:
        return hash((Cron, self._fields, self._location.tzinfo))
