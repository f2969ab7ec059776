"""Pure-Python twin of `millpond._native`: same names, same results.

This package is the reference implementation. The Rust extension mirrors it,
and the parity tests hold the two to identical output.

The schedule specs and `Zone` load on first access, so that the backend switch
(which imports this package when it selects pure) keeps `import millpond` fast.
"""

from __future__ import annotations

from millpond._pure.schedule import MAX_US, MIN_US, interval_next

TYPE_CHECKING = False
if TYPE_CHECKING:
    from millpond._pure.file_store import FileStoreCore
    from millpond._pure.specs import CronSpec, DailySpec, IntervalSpec, MultiSpec
    from millpond._pure.zone import Zone
    from millpond._store_errors import StoreCorruptError

__all__ = [
    "MAX_US",
    "MIN_US",
    "CronSpec",
    "DailySpec",
    "FileStoreCore",
    "IntervalSpec",
    "MultiSpec",
    "StoreCorruptError",
    "Zone",
    "interval_next",
]

_LAZY = {
    "CronSpec": "millpond._pure.specs",
    "DailySpec": "millpond._pure.specs",
    "IntervalSpec": "millpond._pure.specs",
    "MultiSpec": "millpond._pure.specs",
    "Zone": "millpond._pure.zone",
    "FileStoreCore": "millpond._pure.file_store",
    "StoreCorruptError": "millpond._store_errors",
}


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'millpond._pure' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
