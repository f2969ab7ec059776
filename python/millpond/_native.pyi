"""Compiled backend of millpond (Rust, PyO3).

Users never import this module: public classes delegate to it through
`millpond._backend`. Every name here has a twin with the same signature and
results in `millpond._pure`. Instants are microseconds since the Unix epoch,
in UTC, as Python ints.
"""

from typing import Final

MIN_US: Final[int]
"""Microseconds to 0001-01-01T00:00:00Z, the smallest instant a datetime holds."""

MAX_US: Final[int]
"""Microseconds to 9999-12-31T23:59:59.999999Z, the largest instant a datetime holds."""

def interval_next(after_us: int, every_us: int) -> int | None:
    """Return `after_us + every_us` in elapsed time.

    None when `every_us <= 0` or when the sum lies past `MAX_US`. Raises
    OverflowError when an argument does not fit in a signed 64-bit integer.
    """
