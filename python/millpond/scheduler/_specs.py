"""The backend module that builds schedule specs and zones, and the spec interface."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Final, Protocol

from millpond._backend import impl

_SPEC_NAMES: Final = ("Zone", "IntervalSpec", "DailySpec", "CronSpec", "MultiSpec")


class Spec(Protocol):
    """A backend schedule spec: fire instants as microseconds since the Unix epoch, UTC."""

    def next(self, after_us: int) -> int | None:
        """Return the first fire instant strictly after `after_us`, or None."""
        ...

    def upcoming(self, after_us: int, count: int) -> list[int]:
        """Return up to `count` successive `next` values, stopping early at None."""
        ...


@functools.cache
def spec_backend() -> ModuleType:
    """Return the selected backend if it has every spec class, else the pure backend.

    Zones and specs always come from one module, because a spec accepts only
    zones and member specs of its own backend.
    """
    # TODO: use `impl` directly once the native backend provides every spec class;  # noqa: FIX002, TD002, TD003
    # until then a native build without them falls back to the pure specs here.
    if all(hasattr(impl, name) for name in _SPEC_NAMES):
        return impl
    from millpond import _pure  # noqa: PLC0415

    return _pure
