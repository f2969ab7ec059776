"""`FileStore`: run records in a JSON snapshot and journal on the local file system."""

from __future__ import annotations

import heapq
import logging
import os
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from millpond._backend import impl
from millpond._store_errors import StoreCorruptError
from millpond.orchestrator._records import (
    RunRecord,
    RunStatus,
    record_from_fields,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["DEFAULT_COMPACT_BYTES", "FileStore", "RepairReport"]

DEFAULT_COMPACT_BYTES: Final = 4 * 1024 * 1024
"""Journal size in bytes past which an upsert compacts, once the journal exceeds the snapshot."""

_logger = logging.getLogger("millpond.orchestrator")
_Fields = dict[str, str | None]


def _select_core() -> Any:
    """Return the `FileStoreCore` class of the selected backend."""
    return impl.FileStoreCore


@dataclass(frozen=True, slots=True)
class RepairReport:
    """The outcome of `FileStore.repair`.

    `kept` is the number of runs in the store afterwards, `dropped_lines` the
    number of journal lines discarded, and `moved` the damaged files, under
    the names they were moved to. An undamaged store gives `moved == ()`.
    """

    kept: int
    dropped_lines: int
    moved: tuple[Path, ...]


class FileStore:
    """Run records for one host: a JSON snapshot plus an append-only journal.

    `path` (such as `state.json`) is the snapshot. An upsert appends one line
    to `path + ".journal"`, without reading the snapshot, so its cost does not
    depend on how many runs are stored. A read replays the journal over the
    snapshot, last write winning. Compaction rewrites the snapshot atomically
    with every run and empties the journal. It runs on `close()`, and after
    an upsert that leaves the journal larger than both `compact_bytes` and
    the snapshot. Waiting for the journal to outgrow the snapshot keeps the
    compaction work per upsert constant as the store grows, while the
    journal that a read replays stays about as large as the snapshot at most.

    With `durable=True` every upsert is fsynced before it returns, so a
    returned upsert survives a power loss. With `durable=False` a power loss
    may lose the latest upserts but never older runs. A killed process loses
    nothing that an upsert returned in either mode.

    Retention applies at compaction and never drops a running run: with
    `keep_last`, each pipeline keeps its newest `keep_last` finished runs (by
    `started_at`, then id), and with `max_age`, finished runs that ended more
    than `max_age` ago are dropped.

    Threads of one process may share a FileStore, and processes may share a
    store: writes take an exclusive `flock` on `path + ".lock"` and reads a
    shared one. Create the FileStore after a `fork`, not before.

    Raises FileNotFoundError, NotADirectoryError or PermissionError naming the
    folder when it is missing, not a folder or not accessible. In a folder
    that the process cannot write, the store is read-only: reads work, and
    writes raise PermissionError naming the folder. A damaged file raises
    `StoreCorruptError` on the first read, and `repair` recovers it.
    """

    __slots__ = ("_closed", "_compact_at", "_compact_bytes", "_core", "_durable", "_lock", "_path")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: bool = True,
        keep_last: int | None = None,
        max_age: timedelta | None = None,
        compact_bytes: int = DEFAULT_COMPACT_BYTES,
    ) -> None:
        self._closed = True
        self._path = _store_path(path)
        if not isinstance(durable, bool):
            raise TypeError(f"durable must be a bool, not {type(durable).__name__}")
        _check_int("keep_last", keep_last, minimum=1, optional=True)
        _check_int("compact_bytes", compact_bytes, minimum=0, optional=False)
        max_age_us = _max_age_us(max_age)

        self._durable = durable
        self._compact_bytes = compact_bytes
        self._compact_at = compact_bytes
        self._lock = threading.Lock()
        self._core = _select_core()(
            str(self._path), durable=durable, keep_last=keep_last, max_age_us=max_age_us
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"FileStore({str(self._path)!r}, durable={self._durable})"

    @property
    def path(self) -> Path:
        """The absolute path of the snapshot file."""
        return self._path

    @property
    def durable(self) -> bool:
        """Whether each upsert is fsynced before it returns."""
        return self._durable

    def upsert_run(self, record: RunRecord) -> None:
        """Insert `record`, or replace the stored record with the same id.

        Raises TypeError for anything but a RunRecord. Raises OSError when the
        journal cannot be written, such as on a full disk, and leaves the
        stored runs unchanged then. A failed compaction after a successful append
        does not raise: it is logged at WARNING on the `millpond.orchestrator`
        logger and retried once the journal has doubled in size.
        """
        if not isinstance(record, RunRecord):
            raise TypeError(f"upsert_run() expects a RunRecord, not {type(record).__name__}")
        with self._lock:
            self._check_open()
            size = self._core.upsert_record(record)
            if size <= self._compact_bytes:
                self._compact_at = self._compact_bytes
            elif size > self._compact_at:
                self._compact_after_upsert(size)

    def get_run(self, run_id: str) -> RunRecord | None:
        """Return the record with id `run_id`, or None when none is stored."""
        if not isinstance(run_id, str):
            raise TypeError(f"run_id must be a str, not {type(run_id).__name__}")
        with self._lock:
            self._check_open()
            fields = self._core.get(run_id)
        return None if fields is None else record_from_fields(fields)

    def list_runs(
        self,
        pipeline: str | None = None,
        status: RunStatus | str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Return stored records, newest first by `started_at`, then by id.

        `pipeline` and `status` keep only matching records. `limit`, an int of
        0 or more, caps how many are returned, and None returns all.
        """
        status_value = check_list_arguments(pipeline, status, limit)
        with self._lock:
            self._check_open()
            rows: list[_Fields] = self._core.records()

        rows = [
            row
            for row in rows
            if (pipeline is None or row["pipeline_name"] == pipeline)
            and (status_value is None or row["status"] == status_value)
        ]
        if limit is None:
            rows.sort(key=_newest_first_key, reverse=True)
        else:
            rows = heapq.nlargest(limit, rows, key=_newest_first_key)
        return [record_from_fields(row) for row in rows]

    def compact(self) -> None:
        """Rewrite the snapshot with every run, apply retention and empty the journal.

        Raises StoreCorruptError for a damaged store and OSError when writing
        fails, leaving the files unchanged.
        """
        with self._lock:
            self._check_open()
            self._core.compact()
            self._compact_at = self._compact_bytes

    def close(self) -> None:
        """Compact if the journal is not empty, then release the files.

        The store is closed even when that compaction raises. Closing again
        does nothing, and other methods raise ValueError after close.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._core.close()

    def __enter__(self) -> FileStore:  # noqa: PYI034 (typing.Self needs Python 3.11)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @staticmethod
    def repair(path: str | os.PathLike[str]) -> RepairReport:
        """Move damaged files of the store at `path` aside and rebuild it from what parses.

        A damaged file gets the name `<file>.corrupt-<UTC time as
        YYYYmmddTHHMMSSZ>`, with `-1`, `-2`, ... added if that name is taken.
        Every record that parses from the snapshot and every journal line
        that parses is kept, last write winning, in a fresh snapshot with an
        empty journal. An undamaged store is left unchanged. Safe to run
        while other processes use the store.
        """
        store_path = _store_path(path)
        result = _select_core().repair(str(store_path))
        report = RepairReport(
            kept=result["kept"],
            dropped_lines=result["dropped_lines"],
            moved=tuple(Path(moved) for moved in result["moved"]),
        )
        if report.moved:
            _logger.warning(
                "repaired store %s: kept %d runs, dropped %d journal lines, moved aside: %s",
                store_path,
                report.kept,
                report.dropped_lines,
                ", ".join(str(moved) for moved in report.moved),
            )
        return report

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self!r} is closed")

    def _compact_after_upsert(self, size: int) -> None:
        threshold = max(self._compact_bytes, _file_size(self._path))
        if size <= threshold:
            self._compact_at = threshold
            return
        try:
            self._core.compact(min_journal_bytes=threshold + 1)
        except (OSError, StoreCorruptError) as error:
            # The record is in the journal, so the upsert succeeded. Retrying at
            # every upsert would rewrite the whole snapshot each time.
            self._compact_at = 2 * size
            _logger.warning(
                "compaction of store %s failed, retrying when the journal reaches %d bytes: %s",
                self._path,
                self._compact_at,
                error,
            )
        else:
            self._compact_at = self._compact_bytes


def _store_path(path: object) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"path must be a str path, not {type(text).__name__}")
    if not text:
        raise ValueError("path must not be empty: pass the snapshot file, such as 'state.json'")
    return Path(text).absolute()


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _check_int(name: str, value: object, *, minimum: int, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        allowed = "an int or None" if optional else "an int"
        raise TypeError(f"{name} must be {allowed}, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def _max_age_us(max_age: object) -> int | None:
    if max_age is None:
        return None
    if not isinstance(max_age, timedelta):
        raise TypeError(f"max_age must be a timedelta or None, not {type(max_age).__name__}")
    if max_age <= timedelta(0):
        raise ValueError(f"max_age must be positive, got {max_age!r}")
    return max_age // timedelta(microseconds=1)


def check_list_arguments(pipeline: object, status: object, limit: object) -> str | None:
    """Check the arguments of `list_runs`; return the status as its string value, or None."""
    if pipeline is not None and not isinstance(pipeline, str):
        raise TypeError(f"pipeline must be a str or None, not {type(pipeline).__name__}")
    status_value = None if status is None else _status_value(status)
    _check_int("limit", limit, minimum=0, optional=True)
    return status_value


def _status_value(status: object) -> str:
    if isinstance(status, RunStatus):
        return status.value
    if not isinstance(status, str):
        raise TypeError(f"status must be a RunStatus, str or None, not {type(status).__name__}")
    try:
        return RunStatus(status).value
    except ValueError:
        expected = ", ".join(repr(member.value) for member in RunStatus)
        raise ValueError(f"status must be one of {expected}, got {status!r}") from None


def _newest_first_key(row: _Fields) -> tuple[str, str]:
    return (row["started_at"] or "", row["id"] or "")
