"""Fire pipelines on schedules and record every run: the orchestrator, run records and stores.

`RunRecord` describes one run, `Store` and `ReadableStore` are the protocols a
store implements, and `FileStore` keeps records in a JSON snapshot and
journal for one host. See docs/file-store.md for the file format.
`SQLiteStore` (processes of one host) and `PostgresStore` (several hosts) are
`CoordinatedStore`s: several orchestrator instances share them and claim each
scheduled slot exactly once. See docs/stores.md.

`Orchestrator` registers pipelines with schedules and a `Policy` each, fires
them from one scheduler thread, runs them on a `millpond.runner.Runner` and
records each run in a store. See docs/orchestrator.md for a guide.
"""

from millpond._store_errors import StoreCorruptError
from millpond.orchestrator._errors import (
    AlreadyRegisteredError,
    SchedulerRunningError,
    UnknownPipelineError,
)
from millpond.orchestrator._file_store import FileStore, RepairReport
from millpond.orchestrator._orchestrator import Orchestrator
from millpond.orchestrator._policies import Policy, PolicyOptions
from millpond.orchestrator._postgres_store import PostgresStore
from millpond.orchestrator._records import RunRecord, RunStatus
from millpond.orchestrator._sql_common import StoreNotFoundError
from millpond.orchestrator._sqlite_store import SQLiteStore
from millpond.orchestrator._store import Claim, CoordinatedStore, ReadableStore, Store

__all__ = [
    "AlreadyRegisteredError",
    "Claim",
    "CoordinatedStore",
    "FileStore",
    "Orchestrator",
    "Policy",
    "PolicyOptions",
    "PostgresStore",
    "ReadableStore",
    "RepairReport",
    "RunRecord",
    "RunStatus",
    "SQLiteStore",
    "SchedulerRunningError",
    "Store",
    "StoreCorruptError",
    "StoreNotFoundError",
    "UnknownPipelineError",
]
