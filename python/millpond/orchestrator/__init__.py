"""Record every run of a pipeline: run records, store protocols and the file store.

`RunRecord` describes one run, `Store` and `ReadableStore` are the protocols a
store implements, and `FileStore` keeps records in a JSON snapshot and
journal for one host. See docs/file-store.md for the file format.
"""

from millpond._store_errors import StoreCorruptError
from millpond.orchestrator._file_store import FileStore, RepairReport
from millpond.orchestrator._records import RunRecord, RunStatus
from millpond.orchestrator._store import ReadableStore, Store

__all__ = [
    "FileStore",
    "ReadableStore",
    "RepairReport",
    "RunRecord",
    "RunStatus",
    "Store",
    "StoreCorruptError",
]
