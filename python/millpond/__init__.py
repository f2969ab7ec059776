"""millpond: typed building blocks for small data pipelines.

Subpackages: `millpond.etl` (pipelines, hooks, jobs), `millpond.runner` (jobs
on worker threads) and `millpond.scheduler` (when the next run is due).
Importing `millpond` itself loads only the backend switch, so it stays fast and
does no I/O.
"""

from millpond._backend import BACKEND

__all__ = ["BACKEND", "__version__"]

__version__ = "0.1.0"
