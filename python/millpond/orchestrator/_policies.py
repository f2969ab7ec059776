"""`Policy`: how the orchestrator fires, overlaps, times out and retries one pipeline."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final, Literal, TypedDict, cast

__all__ = [
    "DEFAULT_POLICY",
    "MISFIRE_POLICIES",
    "OVERLAP_POLICIES",
    "Misfire",
    "Overlap",
    "Policy",
    "PolicyOptions",
    "build_policy",
]

Misfire = Literal["coalesce", "skip", "catch_up"]
Overlap = Literal["allow", "skip", "queue"]

MISFIRE_POLICIES: Final[tuple[Misfire, ...]] = ("coalesce", "skip", "catch_up")
OVERLAP_POLICIES: Final[tuple[Overlap, ...]] = ("allow", "skip", "queue")


class PolicyOptions(TypedDict, total=False):
    """The keyword arguments that `Orchestrator.register` accepts after the schedule."""

    misfire: Misfire
    misfire_grace: float
    max_catch_up: int
    overlap: Overlap
    max_queued: int
    timeout: float | None
    retries: int
    retry_delay: float
    retry_max_delay: float


@dataclass(frozen=True, slots=True)
class Policy:
    """The firing, overlap, timeout and retry rules of one registered pipeline.

    - `misfire`: what a slot found late does. A slot is late when the
      scheduler reaches it more than `misfire_grace` seconds after its time.
      `"coalesce"` fires one run for the newest late slot, `"skip"` fires none
      and logs the skipped slots, `"catch_up"` fires one run per late slot,
      the newest `max_catch_up` of them.
    - `overlap`: what a slot does while an earlier run of the pipeline is
      still in progress (its retries included). `"allow"` starts it anyway,
      `"skip"` drops it with a log line, and `"queue"` starts it when the
      earlier run ends. At most `max_queued` slots wait; later ones are
      dropped with a log line.
    - `timeout`: seconds after which a run is cancelled and ends as
      `canceled`; None for no limit.
    - `retries`: how many more runs a scheduled slot gets after a run that
      failed or timed out. Retry `n` starts `retry_delay * 2 ** (n - 1)`
      seconds after the run before it ended, at most `retry_max_delay`.
    """

    misfire: Misfire = "coalesce"
    misfire_grace: float = 1.0
    max_catch_up: int = 100
    overlap: Overlap = "allow"
    max_queued: int = 10
    timeout: float | None = None
    retries: int = 0
    retry_delay: float = 1.0
    retry_max_delay: float = 300.0

    def retry_wait(self, attempt: int) -> float:
        """Return the seconds to wait before attempt `attempt` (2 or more) of a slot."""
        exponent = min(attempt - 2, 64)
        return min(self.retry_delay * 2.0**exponent, self.retry_max_delay)


DEFAULT_POLICY: Final = Policy()

_OPTION_NAMES: Final = tuple(field.name for field in fields(Policy))


def build_policy(pipeline_name: str, options: Mapping[str, object]) -> Policy:
    """Validate the keyword arguments given to `register` and return their `Policy`.

    Raises TypeError for an unknown option or a value of the wrong type, and
    ValueError for a value out of range. The message names the pipeline, the
    option, the value and what is accepted.
    """
    where = f"pipeline {pipeline_name!r}"
    unknown = [name for name in options if name not in _OPTION_NAMES]
    if unknown:
        raise TypeError(
            f"unknown policy option {unknown[0]!r} for {where}: "
            f"expected one of {', '.join(_OPTION_NAMES)}"
        )

    values = {**_defaults(), **options}
    misfire = cast("Misfire", _choice(where, "misfire", values["misfire"], MISFIRE_POLICIES))
    overlap = cast("Overlap", _choice(where, "overlap", values["overlap"], OVERLAP_POLICIES))
    retry_delay = _seconds(where, "retry_delay", values["retry_delay"], minimum=0.0)
    retry_max_delay = _seconds(where, "retry_max_delay", values["retry_max_delay"], minimum=0.0)
    if retry_max_delay < retry_delay:
        raise ValueError(
            f"retry_max_delay={retry_max_delay!r} for {where} is below "
            f"retry_delay={retry_delay!r}; pass a cap at least as large as the base delay"
        )
    if misfire == "catch_up" and overlap == "skip":
        raise ValueError(
            f"misfire='catch_up' with overlap='skip' for {where} would start the first "
            "missed slot and skip the others, because they are all due at once; "
            "use overlap='queue' to run them one after another, or overlap='allow'"
        )

    timeout = values["timeout"]
    return Policy(
        misfire=misfire,
        misfire_grace=_seconds(where, "misfire_grace", values["misfire_grace"], minimum=0.0),
        max_catch_up=_count(where, "max_catch_up", values["max_catch_up"], minimum=1),
        overlap=overlap,
        max_queued=_count(where, "max_queued", values["max_queued"], minimum=1),
        timeout=None if timeout is None else _timeout(where, timeout),
        retries=_count(where, "retries", values["retries"], minimum=0),
        retry_delay=retry_delay,
        retry_max_delay=retry_max_delay,
    )


def _defaults() -> dict[str, object]:
    return {name: getattr(DEFAULT_POLICY, name) for name in _OPTION_NAMES}


def _choice(where: str, name: str, value: object, accepted: tuple[str, ...]) -> str:
    if isinstance(value, str) and value in accepted:
        return value
    choices = ", ".join(repr(choice) for choice in accepted)
    if not isinstance(value, str):
        raise TypeError(
            f"{name} for {where} must be one of {choices}, got {type(value).__name__}: {value!r}"
        )
    raise ValueError(f"invalid {name} policy {value!r} for {where}: expected one of {choices}")


def _number(where: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} for {where} must be a number of seconds, "
            f"got {type(value).__name__}: {value!r}"
        )
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _seconds(where: str, name: str, value: object, *, minimum: float) -> float:
    seconds = _number(where, name, value)
    if math.isnan(seconds) or math.isinf(seconds) or seconds < minimum:
        raise ValueError(
            f"{name} for {where} must be a finite number of seconds >= {minimum:g}, got {value!r}"
        )
    return seconds


def _timeout(where: str, value: object) -> float:
    seconds = _number(where, "timeout", value)
    if math.isnan(seconds) or math.isinf(seconds) or seconds <= 0:
        raise ValueError(
            f"timeout for {where} must be a finite number of seconds > 0, got {value!r}; "
            "pass None for runs without a time limit"
        )
    return seconds


def _count(where: str, name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} for {where} must be an int, got {type(value).__name__}: {value!r}"
        )
    if value < minimum:
        raise ValueError(f"{name} for {where} must be >= {minimum}, got {value!r}")
    return value
