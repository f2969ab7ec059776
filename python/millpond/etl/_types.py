"""Type aliases for records and the callbacks a pipeline calls."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

from millpond.etl._context import Context

__all__ = ["Predicate", "Reader", "Record", "Transform", "Writer"]

Record: TypeAlias = dict[str, Any]
"""One record: a dict from field name to value."""

Reader: TypeAlias = Callable[[Context], Iterable[Record]]
"""Return the run's input records. A generator is consumed lazily when streaming."""

Transform: TypeAlias = Callable[[Context, Record], Record]
"""Return the record to pass on, either the same dict changed in place or a new one."""

Predicate: TypeAlias = Callable[[Context, Record], bool]
"""Return a true value to keep the record, a false one to drop it."""

Writer: TypeAlias = Callable[[Context, list[Record]], None]
"""Store a list of kept records."""
