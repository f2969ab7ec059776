"""`RunRecord` and `RunStatus`: what a store keeps about one run of a pipeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Final

from millpond._pure.store_format import is_blank

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "RunRecord",
    "RunStatus",
    "format_time",
    "parse_time",
    "record_from_fields",
    "record_to_fields",
]

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_SURROGATE_OR_PAIR: Final = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")


class RunStatus(str, Enum):
    """The state of a recorded run, with the values of `millpond.runner.Status`."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    def __str__(self) -> str:
        # `str()` of a (str, Enum) member is "RunStatus.FAILED" before Python 3.11's StrEnum.
        return self.value


@dataclass(frozen=True, slots=True, init=False)
class RunRecord:
    """One run of a pipeline as a store keeps it: ids, status, times and error text.

    The constructor validates and normalizes every field:

    - `id`, `pipeline_name` and `job_id` are strings that are not blank (empty
      or only Unicode White_Space) and have no lone surrogates.
    - `status` is a `RunStatus` or its string value, such as "running".
    - `started_at`, `ended_at` and `scheduled_for` are timezone-aware
      datetimes, stored converted to UTC. `scheduled_for` is the slot of a
      scheduled run and None for a manual one.
    - `error` is None or text. Lone surrogates become U+FFFD and surrogate
      pairs become the character they encode, so the text can be written as
      UTF-8. NUL and other control characters are kept, and stores escape them.

    Raises TypeError for a value of the wrong type and ValueError for an
    invalid value, naming the field.
    """

    id: str
    pipeline_name: str
    job_id: str
    status: RunStatus
    started_at: datetime
    ended_at: datetime | None
    error: str | None
    scheduled_for: datetime | None

    def __init__(  # noqa: PLR0913, PLR0917 - the fields of a run, in their documented order
        self,
        id: str,  # noqa: A002 - the field name is part of the public API
        pipeline_name: str,
        job_id: str,
        status: RunStatus | str,
        started_at: datetime,
        ended_at: datetime | None,
        error: str | None,
        scheduled_for: datetime | None = None,
    ) -> None:
        set_field = object.__setattr__
        set_field(self, "id", _check_name("id", id))
        set_field(self, "pipeline_name", _check_name("pipeline_name", pipeline_name))
        set_field(self, "job_id", _check_name("job_id", job_id))
        set_field(self, "status", _check_status(status))
        set_field(self, "started_at", _check_time("started_at", started_at))
        set_field(self, "ended_at", _check_optional_time("ended_at", ended_at))
        set_field(self, "error", _check_error(error))
        set_field(self, "scheduled_for", _check_optional_time("scheduled_for", scheduled_for))


def _check_name(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"RunRecord.{field} must be a str, not {type(value).__name__}")
    if is_blank(value):
        raise ValueError(f"RunRecord.{field} must not be blank, got {value!r}")
    if _SURROGATE.search(value) is not None:
        raise ValueError(
            f"RunRecord.{field} contains a lone surrogate, which UTF-8 cannot encode: {value!r}"
        )
    return value


def _check_status(value: object) -> RunStatus:
    if isinstance(value, RunStatus):
        return value
    if not isinstance(value, str):
        raise TypeError(f"RunRecord.status must be a RunStatus or str, not {type(value).__name__}")
    try:
        return RunStatus(value)
    except ValueError:
        expected = ", ".join(repr(member.value) for member in RunStatus)
        raise ValueError(f"RunRecord.status must be one of {expected}, got {value!r}") from None


def _check_time(field: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"RunRecord.{field} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"RunRecord.{field} must be timezone-aware, got {value!r}. "
            "Use for example datetime.now(timezone.utc)"
        )
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(
            f"RunRecord.{field} is out of range in UTC (years 1 to 9999): {value!r}"
        ) from None


def _check_optional_time(field: str, value: object) -> datetime | None:
    return None if value is None else _check_time(field, value)


def _check_error(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"RunRecord.error must be a str or None, not {type(value).__name__}")
    if _SURROGATE.search(value) is None:
        return value
    return _SURROGATE_OR_PAIR.sub(_replace_surrogates, value)


def _replace_surrogates(match: re.Match[str]) -> str:
    text = match.group()
    if len(text) == 1:
        return "\ufffd"
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")


def format_time(value: datetime) -> str:
    """Format a UTC datetime as RFC 3339 with microseconds: `2024-01-01T02:00:00.000000Z`."""
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}Z"
    )


def parse_time(text: str) -> datetime:
    """Parse a time written by `format_time` into an aware UTC datetime."""
    if not text.endswith("Z"):
        raise ValueError(f"expected a UTC time ending in 'Z', got {text!r}")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


def record_to_fields(record: RunRecord) -> dict[str, str | None]:
    """Return the record as the string fields that the store files hold."""
    return {
        "id": record.id,
        "pipeline_name": record.pipeline_name,
        "job_id": record.job_id,
        "status": record.status.value,
        "started_at": format_time(record.started_at),
        "ended_at": None if record.ended_at is None else format_time(record.ended_at),
        "error": record.error,
        "scheduled_for": (
            None if record.scheduled_for is None else format_time(record.scheduled_for)
        ),
    }


def record_from_fields(fields: Mapping[str, str | None]) -> RunRecord:
    """Build a record from the string fields that `record_to_fields` returns."""
    ended_at = fields["ended_at"]
    scheduled_for = fields["scheduled_for"]
    return RunRecord(
        id=str(fields["id"]),
        pipeline_name=str(fields["pipeline_name"]),
        job_id=str(fields["job_id"]),
        status=str(fields["status"]),
        started_at=parse_time(str(fields["started_at"])),
        ended_at=None if ended_at is None else parse_time(ended_at),
        error=fields["error"],
        scheduled_for=None if scheduled_for is None else parse_time(scheduled_for),
    )
