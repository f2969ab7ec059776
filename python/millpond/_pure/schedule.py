"""Schedule arithmetic on UTC instants, as microseconds since the Unix epoch."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

# The smallest and largest instants Python's datetime can hold:
# 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
MIN_US: Final = -62_135_596_800_000_000
MAX_US: Final = 253_402_300_799_999_999


def interval_next(after_us: int, every_us: int) -> int | None:
    """Return `after_us + every_us`, or None if `every_us <= 0` or the sum passes MAX_US."""
    if every_us <= 0:
        return None
    next_us = after_us + every_us
    if next_us > MAX_US:
        return None
    return next_us
