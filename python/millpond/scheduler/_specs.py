"""The interface of backend schedule specs."""

from __future__ import annotations

from typing import Protocol


class Spec(Protocol):
    """A backend schedule spec: fire instants as microseconds since the Unix epoch, UTC."""

    def next(self, after_us: int) -> int | None:
        """Return the first fire instant strictly after `after_us`, or None."""
        ...

    def upcoming(self, after_us: int, count: int) -> list[int]:
        """Return up to `count` successive `next` values, stopping early at None."""
        ...
