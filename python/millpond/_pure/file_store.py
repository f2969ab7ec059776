"""`FileStoreCore`: the file work behind `millpond.orchestrator.FileStore`.

This is the reference implementation. The native core must match it byte for
byte and raise the same errors. The files of a store at `path`:

- `path`: the snapshot, rewritten whole by compaction (temp file, fsync,
  rename, fsync of the folder).
- `path + ".journal"`: one JSON line per upsert, replayed over the snapshot
  (last write wins) and emptied by compaction. The file grows in chunks of
  `JOURNAL_CHUNK` bytes, and spaces fill the rest of the last chunk, so that
  most appends overwrite padding instead of growing the file: `fdatasync`
  is faster when the size does not change.
- `path + ".lock"`: held with `flock`, exclusive to write and shared to
  read, so processes can share a store. It is never deleted.
- `path + ".tmp-<pid>-<16 hex digits>"`: a snapshot being written. One left
  by a killed writer is removed when a store opens.

A crash between a compaction's rename and its truncation of the journal is
harmless: replaying those lines over the new snapshot gives the same runs.

The core is not thread-safe: the public class calls it under a lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import stat
import sys
import time
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Final

from millpond._pure.store_format import (
    DamageError,
    Record,
    decode_journal_line,
    decode_snapshot,
    encode_journal_line,
    encode_snapshot,
    record_problem,
    salvage_snapshot,
)
from millpond._store_errors import StoreCorruptError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from millpond.orchestrator._records import RunRecord

__all__ = ["JOURNAL_CHUNK", "FileStoreCore"]

JOURNAL_CHUNK: Final = 1 << 16
"""The journal's size after an append that does not fit in its padding is the next multiple."""

_PADDING: Final = b" "
_READ_CHUNK: Final = 1 << 16
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FileId = tuple[int, int]


class FileStoreCore:
    """The snapshot, journal and lock files of one store, and its runs as last read.

    `upsert` appends without reading the store, so its cost does not depend
    on the number of stored runs. Reads load the files lazily and then
    replay only the journal bytes appended since the last read.
    """

    __slots__ = (
        "_closed",
        "_durable",
        "_folder",
        "_journal_end",
        "_journal_fd",
        "_journal_id",
        "_journal_lines",
        "_journal_offset",
        "_journal_path",
        "_journal_read_fd",
        "_keep_last",
        "_lock_fd",
        "_max_age_us",
        "_path",
        "_pid",
        "_runs",
        "_snapshot_fd",
        "_writable",
    )

    _runs: dict[str, Record] | None
    _snapshot_fd: int
    _journal_read_fd: int
    _journal_offset: int
    _journal_lines: int
    _journal_id: _FileId | None
    _journal_end: int | None

    def __init__(
        self,
        path: str,
        *,
        durable: bool = True,
        keep_last: int | None = None,
        max_age_us: int | None = None,
    ) -> None:
        """Open the store at `path`, creating its lock file, and remove stale temp files.

        In a folder that this process cannot write, the store is read-only:
        it uses an existing lock file without creating one, and methods
        that write raise PermissionError naming the folder. Raises
        FileNotFoundError, NotADirectoryError or PermissionError naming the
        folder when it is missing, not a folder or not accessible, and
        IsADirectoryError when `path` is a folder. Nothing is read yet.
        """
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {type(path).__name__}")
        _check_optional_count("keep_last", keep_last, minimum=1)
        _check_optional_count("max_age_us", max_age_us, minimum=1)
        self._closed = True
        self._lock_fd = self._journal_fd = -1
        self._forget_runs()
        self._path = path
        self._journal_path = path + ".journal"
        self._folder = _folder_of(path)
        self._writable = _is_writable(self._folder)
        self._durable = bool(durable)
        self._keep_last = keep_last
        self._max_age_us = max_age_us
        self._pid = os.getpid()
        self._journal_id = None
        self._journal_end = None
        self._lock_fd = _open_lock(path, writable=self._writable)
        self._closed = False
        if self._writable:
            with self._locked(fcntl.LOCK_EX):
                _remove_stale_temp_files(path)

    def __del__(self) -> None:
        # Closes the descriptors of a core that was never closed, without compacting.
        with suppress(Exception):
            self._release()

    # --- Public operations --------------------------------------------------

    def upsert(self, record: Record) -> int:
        """Append `record` to the journal and return the journal's data length after it.

        The line goes where the data ends, over padding. When it does not
        fit, the file grows to the next multiple of `JOURNAL_CHUNK` bytes,
        with spaces after the line. A torn final line left by a killed
        writer is cut off first. The line is fsynced when the store is
        durable. If the append fails, the journal is put back as it was, and
        the error raised. Raises TypeError for a non-dict and ValueError for
        an invalid record.
        """
        self._check_usable()
        if not isinstance(record, dict):
            raise TypeError(f"record must be a dict, not {type(record).__name__}")
        problem = record_problem(record, check_surrogates=True)
        if problem is not None:
            raise ValueError(f"invalid run record: {problem}")
        line = encode_journal_line(record)
        self._check_writable()

        with self._locked(fcntl.LOCK_EX):
            # Find where the data ends, and cut a torn final line.
            fd, end = self._journal_for_append()
            size = os.fstat(fd).st_size
            if end is None or not _is_data_end(fd, size, end):
                end, following = _last_line_end(fd, size)
                if following is not None and following != _PADDING:
                    os.ftruncate(fd, end)
                    size = end

            # Write the line, with padding up to the next chunk when it grows the file.
            line_end = end + len(line)
            data = line
            if line_end > size:
                grown = -(-line_end // JOURNAL_CHUNK) * JOURNAL_CHUNK
                data = line + _PADDING * (grown - line_end)
            try:
                _write_all_at(fd, data, end)
                if self._durable:
                    _sync_data(fd)
            except BaseException:
                # Leave the journal as it was, so no partial line remains.
                with suppress(OSError):
                    os.pwrite(fd, _PADDING * (min(line_end, size) - end), end)
                with suppress(OSError):
                    os.ftruncate(fd, size)
                raise
            self._journal_end = line_end
            return line_end

    def upsert_record(self, record: RunRecord) -> int:
        """Append a `RunRecord` to the journal: `upsert(record_to_fields(record))`.

        The native core reads the attributes and formats the times itself;
        this is the behaviour it must match.
        """
        # Imported here: millpond.orchestrator imports this module through the backend.
        from millpond.orchestrator._records import record_to_fields  # noqa: PLC0415

        return self.upsert(record_to_fields(record))

    def get(self, run_id: str) -> Record | None:
        """Return a copy of the run with id `run_id`, or None when it is not stored."""
        self._check_usable()
        if not isinstance(run_id, str):
            raise TypeError(f"run_id must be a str, not {type(run_id).__name__}")
        with self._locked(fcntl.LOCK_SH):
            runs = self._refresh()
            record = runs.get(run_id)
            return None if record is None else dict(record)

    def records(self) -> list[Record]:
        """Return a copy of every stored run, in no particular order."""
        self._check_usable()
        with self._locked(fcntl.LOCK_SH):
            return [dict(record) for record in self._refresh().values()]

    def compact(self, *, min_journal_bytes: int = 0) -> bool:
        """Rewrite the snapshot with every run, apply retention and empty the journal.

        Does nothing and returns False when the journal has fewer than
        `min_journal_bytes` bytes. Raises StoreCorruptError for a damaged
        store and OSError when writing fails, and leaves the files unchanged then.
        """
        self._check_usable()
        self._check_writable()
        with self._locked(fcntl.LOCK_EX):
            return self._compact_locked(min_journal_bytes)

    def close(self) -> None:
        """Compact once if the journal is not empty, then release the files.

        A read-only store only releases them. The core is closed even when
        the compaction raises. Further calls do nothing, and other methods
        raise ValueError.
        """
        if self._closed:
            return
        try:
            self._check_usable()
            if self._writable:
                with self._locked(fcntl.LOCK_EX):
                    self._compact_locked(1)
        finally:
            self._release()

    @staticmethod
    def repair(path: str) -> dict[str, object]:
        """Move damaged store files aside and rebuild the store from what parses.

        Returns `{"kept": runs in the store, "dropped_lines": journal lines
        discarded, "moved": [paths of the files moved aside]}`. An undamaged
        store is left unchanged.
        """
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {type(path).__name__}")
        folder = _folder_of(path)
        if not _is_writable(folder):
            raise _not_writable(folder)
        lock_fd = _open_lock(path, writable=True)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            _remove_stale_temp_files(path)
            return _repair_locked(path)
        finally:
            os.close(lock_fd)

    # --- Locking and descriptors ------------------------------------------

    @contextmanager
    def _locked(self, operation: int) -> Iterator[None]:
        if self._lock_fd < 0:
            # A read-only store without a lock file looks for it again, and
            # reads unlocked while there is none: writers create it first.
            self._lock_fd = _open_lock(self._path, writable=False)
        if self._lock_fd < 0:
            yield
            return
        fcntl.flock(self._lock_fd, operation)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _check_writable(self) -> None:
        if not self._writable:
            raise _not_writable(self._folder)

    def _check_usable(self) -> None:
        if self._closed:
            raise ValueError(f"the store {self._path!r} is closed")
        if self._pid != os.getpid():
            # A forked child shares the parent's open lock file, and flock
            # does not separate two holders of one open file. Reopen it.
            self._release()
            self._lock_fd = _open_lock(self._path, writable=self._writable)
            self._closed = False
            self._pid = os.getpid()

    def _release(self) -> None:
        self._closed = True
        fds = (self._journal_fd, self._snapshot_fd, self._journal_read_fd, self._lock_fd)
        self._journal_fd = self._snapshot_fd = self._journal_read_fd = self._lock_fd = -1
        self._journal_id = None
        self._journal_end = None
        self._runs = None
        for fd in fds:
            if fd >= 0:
                with suppress(OSError):
                    os.close(fd)

    def _journal_for_append(self) -> tuple[int, int | None]:
        """Return a descriptor of the current journal file, creating the file if needed.

        Also returns where the last append to it by this core ended. Repair
        may have moved the journal aside, so the descriptor is checked
        against the path each time.
        """
        end, self._journal_end = self._journal_end, None
        current = _file_id(self._journal_path)
        if self._journal_fd >= 0 and current is not None and current == self._journal_id:
            return self._journal_fd, end
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
            self._journal_fd = -1
        fd = _open_no_atime(self._journal_path, os.O_RDWR | os.O_CREAT)
        if current is None and self._durable:
            # The journal was created just now, so make its folder entry durable.
            _sync_folder(self._folder)
        file_stat = os.fstat(fd)
        self._journal_fd = fd
        self._journal_id = (file_stat.st_dev, file_stat.st_ino)
        return fd, None

    # --- Reading ------------------------------------------------------------

    def _forget_runs(self) -> None:
        self._runs = None
        self._snapshot_fd = -1
        self._journal_read_fd = -1
        self._journal_offset = 0
        self._journal_lines = 0

    def _refresh(self) -> dict[str, Record]:
        """Bring the runs up to date with the files and return them, under a held lock.

        The snapshot and journal read last stay open, so their inode numbers
        cannot be reused, and a changed inode at the path means a replaced
        file. A replaced snapshot (another process compacted or repaired), a
        replaced journal or a journal shorter than what was read means a
        reload from scratch. Otherwise only the new journal bytes are read.
        """
        runs = self._runs
        if runs is None or _file_id(self._path) != _fd_id(self._snapshot_fd):
            return self._reload()
        if self._journal_read_fd < 0 and self._journal_offset == 0:
            # The journal did not exist at the last read, but it may exist now.
            self._journal_read_fd = _open_existing(self._journal_path)
        if _file_id(self._journal_path) != _fd_id(self._journal_read_fd):
            return self._reload()
        if self._journal_read_fd < 0:
            return runs
        journal_size = os.fstat(self._journal_read_fd).st_size
        if journal_size < self._journal_offset:
            return self._reload()
        # A line that starts with padding is the final line, without a newline,
        # so nothing was appended.
        if (
            journal_size > self._journal_offset
            and os.pread(self._journal_read_fd, 1, self._journal_offset) != _PADDING
        ):
            data = _read_from(self._journal_read_fd, self._journal_offset)
            consumed, lines, updates = self._replay(data, self._journal_lines)
            runs.update(updates)
            self._journal_offset += consumed
            self._journal_lines = lines
        return runs

    def _reload(self) -> dict[str, Record]:
        snapshot_fd = _open_existing(self._path)
        journal_fd = _open_existing(self._journal_path)
        try:
            runs: dict[str, Record] = {}
            if snapshot_fd >= 0:
                runs = self._decode_snapshot(_read_from(snapshot_fd, 0))
            consumed, lines = 0, 0
            if journal_fd >= 0:
                consumed, lines, updates = self._replay(_read_from(journal_fd, 0), 0)
                runs.update(updates)
        except BaseException:
            for fd in (snapshot_fd, journal_fd):
                if fd >= 0:
                    os.close(fd)
            raise

        for fd in (self._snapshot_fd, self._journal_read_fd):
            if fd >= 0:
                os.close(fd)
        self._runs = runs
        self._snapshot_fd = snapshot_fd
        self._journal_read_fd = journal_fd
        self._journal_offset = consumed
        self._journal_lines = lines
        return runs

    def _decode_snapshot(self, data: bytes) -> dict[str, Record]:
        try:
            return decode_snapshot(data)
        except DamageError as problem:
            raise StoreCorruptError(
                self._path, problem.line, problem.reason("file"), self._path
            ) from None

    def _replay(self, data: bytes, lines_before: int) -> tuple[int, int, dict[str, Record]]:
        """Decode the complete lines of `data`, journal bytes that follow `lines_before` lines.

        Returns the bytes consumed, the line count after them and the runs
        they set, last write winning. A final line without a newline is a
        torn write and is left unread.
        """
        consumed = data.rfind(b"\n") + 1
        updates: dict[str, Record] = {}
        line_number = lines_before
        for line in data[:consumed].split(b"\n")[:-1]:
            line_number += 1
            try:
                record = decode_journal_line(line)
            except DamageError as problem:
                raise StoreCorruptError(
                    self._journal_path, line_number, problem.reason("line"), self._path
                ) from None
            updates[record["id"]] = record  # type: ignore[index]
        return consumed, line_number, updates

    # --- Compaction ---------------------------------------------------------

    def _compact_locked(self, min_journal_bytes: int) -> bool:
        if _journal_data_length(self._journal_path) < min_journal_bytes:
            return False
        runs = self._retained(self._refresh())
        snapshot_fd = _write_snapshot(self._path, encode_snapshot(runs))

        # From here the new snapshot is in place. If a later step fails, the
        # files are still consistent, but the state in memory is reloaded.
        old_fd = self._snapshot_fd
        self._snapshot_fd = snapshot_fd
        if old_fd >= 0:
            os.close(old_fd)
        try:
            _truncate_journal(self._journal_path)
        except BaseException:
            self._runs = None
            raise
        self._runs = runs
        self._journal_offset = 0
        self._journal_lines = 0
        if self._journal_read_fd < 0:
            self._journal_read_fd = _open_existing(self._journal_path)
        return True

    def _retained(self, runs: dict[str, Record]) -> dict[str, Record]:
        """Return the runs that retention keeps, which include every running run.

        A finished run is kept when it is among the `keep_last` newest
        finished runs of its pipeline (by started_at, then id) and its end
        (ended_at, or started_at without one) is not older than `max_age_us`.
        """
        if self._keep_last is None and self._max_age_us is None:
            return runs
        allowed: set[str] | None = None
        if self._keep_last is not None:
            by_pipeline: dict[str, list[Record]] = {}
            for record in runs.values():
                if record["status"] != "running":
                    by_pipeline.setdefault(record["pipeline_name"], []).append(record)  # type: ignore[arg-type]
            allowed = set()
            for finished in by_pipeline.values():
                finished.sort(key=_newest_first_key, reverse=True)
                allowed.update(record["id"] for record in finished[: self._keep_last])  # type: ignore[misc]
        cutoff = None if self._max_age_us is None else _cutoff_time(self._max_age_us)

        kept: dict[str, Record] = {}
        for run_id, record in runs.items():
            if record["status"] == "running":
                kept[run_id] = record
                continue
            if allowed is not None and run_id not in allowed:
                continue
            end = record["ended_at"] or record["started_at"]
            if cutoff is not None and end < cutoff:  # type: ignore[operator]
                continue
            kept[run_id] = record
        return kept


# --- Helpers: paths and checks ------------------------------------------------


def _check_optional_count(name: str, value: int | None, *, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def _newest_first_key(record: Record) -> tuple[str, str]:
    return (record["started_at"] or "", record["id"] or "")


def _folder_of(path: str) -> Path:
    """Return the folder of `path`, raising a clear OSError if no store can be read there."""
    folder = Path(path).parent
    try:
        folder_mode = folder.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT, "store folder does not exist, create it first", str(folder)
        ) from None
    except NotADirectoryError:
        folder_mode = 0
    except PermissionError:
        raise PermissionError(
            errno.EACCES, "store folder is not accessible", str(folder)
        ) from None
    if not stat.S_ISDIR(folder_mode):
        raise NotADirectoryError(errno.ENOTDIR, "store folder is not a folder", str(folder))
    if Path(path).is_dir():
        raise IsADirectoryError(errno.EISDIR, "store path is a folder, expected a file path", path)
    return folder


def _is_writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def _not_writable(folder: Path) -> PermissionError:
    return PermissionError(errno.EACCES, "store folder is not writable", str(folder))


def _open_lock(path: str, *, writable: bool) -> int:
    """Open the lock file, creating it when `writable`; return -1 when read-only and missing."""
    _folder_of(path)
    if writable:
        return os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        return os.open(path + ".lock", os.O_RDONLY)
    except FileNotFoundError:
        return -1


def _temp_file_pattern(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(Path(path).name) + r"\.tmp-[0-9]+-[0-9a-f]{16}")


def _remove_stale_temp_files(path: str) -> None:
    """Remove temp snapshots of killed writers, under the exclusive lock.

    A live writer holds the exclusive lock for as long as its temp file
    exists, so every temp file seen here is stale.
    """
    pattern = _temp_file_pattern(path)
    for entry in Path(path).parent.iterdir():
        if pattern.fullmatch(entry.name):
            entry.unlink(missing_ok=True)


def _file_id(path: str) -> _FileId | None:
    try:
        file_stat = os.stat(path)  # noqa: PTH116 - a Path object per upsert costs more than this
    except FileNotFoundError:
        return None
    return (file_stat.st_dev, file_stat.st_ino)


def _fd_id(fd: int) -> _FileId | None:
    if fd < 0:
        return None
    file_stat = os.fstat(fd)
    return (file_stat.st_dev, file_stat.st_ino)


def _journal_data_length(path: str) -> int:
    """Return the offset after the journal's last newline, or 0 without one or a journal."""
    fd = _open_existing(path)
    if fd < 0:
        return 0
    try:
        return _last_line_end(fd, os.fstat(fd).st_size)[0]
    finally:
        os.close(fd)


def _open_existing(path: str) -> int:
    """Open `path` for reading, or return -1 when it does not exist."""
    try:
        return _open_no_atime(path, os.O_RDONLY)
    except FileNotFoundError:
        return -1


def _open_no_atime(path: str, flags: int) -> int:
    """Open `path` with `O_NOATIME` where the system allows it.

    The journal is read before every append, and each read would otherwise
    write the file's access time, which costs more than the read. Only the
    file's owner may set the flag, so others open the file without it.
    """
    no_atime = getattr(os, "O_NOATIME", 0)
    if no_atime:
        try:
            return os.open(path, flags | no_atime, 0o666)
        except PermissionError as error:
            if error.errno != errno.EPERM:
                raise
    return os.open(path, flags, 0o666)


# --- Helpers: reading and writing -----------------------------------------------


def _read_from(fd: int, offset: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.pread(fd, max(_READ_CHUNK, os.fstat(fd).st_size - offset), offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_all_at(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _sync_data(fd: int) -> None:
    """Flush a file's data and size to stable storage.

    NOTE: only the Linux branch has been run; the others follow the systems' manuals.
    """
    if sys.platform == "darwin":
        # fsync on macOS leaves the data in the drive's cache.
        fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
    elif sys.platform == "linux":
        os.fdatasync(fd)
    else:
        os.fsync(fd)


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries, so a rename or a new file survives a power loss."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_line_end(fd: int, size: int) -> tuple[int, bytes | None]:
    """Return the offset after the journal's last newline, or 0 without one.

    Also returns the byte at that offset, or None at the end of the file. The
    rest of the file is the final line, which has no newline: padding, a
    torn write, or a torn write followed by padding. Only the bytes from the
    end are read, so the cost does not grow with the journal.
    """
    end = size
    following = None
    while end > 0:
        start = max(0, end - _READ_CHUNK)
        span = os.pread(fd, end - start, start)
        newline = span.rfind(b"\n")
        if newline >= 0:
            # After the last byte read, `following` is the first byte of the
            # span read before, or None at the end of the file.
            if newline + 1 < len(span):
                following = span[newline + 1 : newline + 2]
            return start + newline + 1, following
        following = span[:1]
        end = start
    return 0, following


def _is_data_end(fd: int, size: int, end: int) -> bool:
    """Return True when the journal's data still ends at `end`.

    That holds when a line starts at `end`, and the file ends there or has
    padding next: every complete line that a writer appends starts with `{`,
    so a line that starts with padding is the final line. Reading two bytes
    checks this, where `_last_line_end` reads the padding.
    """
    if end > size:
        return False
    start = max(0, end - 1)
    window = os.pread(fd, min(end + 1, size) - start, start)
    before, at = (b"", window) if end == 0 else (window[:1], window[1:])
    return before in (b"", b"\n") and at in (b"", _PADDING)


def _write_snapshot(path: str, data: bytes) -> int:
    """Replace the snapshot atomically with `data` and return a descriptor of the new file.

    The temp file is fsynced before the rename and the folder after it, even
    when the store is not durable: otherwise a power loss after the journal
    is emptied could lose every run, not only the latest ones.
    """
    temp_path = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(8)}"
    fd = os.open(temp_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _write_all(fd, data)
        _sync_data(fd)
        Path(temp_path).replace(path)
    except BaseException:
        os.close(fd)
        Path(temp_path).unlink(missing_ok=True)
        raise
    _sync_folder(Path(path).parent)
    return fd


def _truncate_journal(journal_path: str) -> None:
    try:
        fd = os.open(journal_path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        if os.fstat(fd).st_size > 0:
            os.ftruncate(fd, 0)
            _sync_data(fd)
    finally:
        os.close(fd)


def _cutoff_time(max_age_us: int) -> str:
    """Return the time `max_age_us` before now in the record format, clamped at year 1."""
    now_us = time.time_ns() // 1000
    try:
        cutoff = _EPOCH + timedelta(microseconds=now_us - max_age_us)
    except OverflowError:
        return "0001-01-01T00:00:00.000000Z"
    return (
        f"{cutoff.year:04d}-{cutoff.month:02d}-{cutoff.day:02d}T{cutoff.hour:02d}:"
        f"{cutoff.minute:02d}:{cutoff.second:02d}.{cutoff.microsecond:06d}Z"
    )


# --- Repair ---------------------------------------------------------------------


def _repair_locked(path: str) -> dict[str, object]:
    journal_path = path + ".journal"
    runs: dict[str, Record] = {}
    snapshot_damaged = False
    snapshot = _read_file(path)
    if snapshot is not None:
        try:
            runs = decode_snapshot(snapshot)
        except DamageError:
            snapshot_damaged = True
            runs = salvage_snapshot(snapshot)

    journal = _read_file(journal_path) or b""
    lines = journal.split(b"\n")
    torn_tail = lines.pop()  # b"" when the journal ends with a newline
    journal_damaged = False
    dropped = 0
    for line in lines:
        try:
            record = decode_journal_line(line)
        except DamageError:
            journal_damaged = True
            dropped += 1
            continue
        runs[record["id"]] = record  # type: ignore[index]

    if not (snapshot_damaged or journal_damaged):
        return {"kept": len(runs), "dropped_lines": 0, "moved": []}
    if torn_tail[:1] not in (b"", _PADDING):
        dropped += 1

    # Write the rebuilt snapshot before anything moves, so that a crash at
    # any step leaves either the old files or the rebuilt store, and the
    # damaged originals are never lost.
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved: list[str] = []
    temp_path = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(8)}"
    fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _write_all(fd, encode_snapshot(runs))
        _sync_data(fd)
        if snapshot_damaged:
            moved.append(_keep_aside(path, stamp, link=True))
        Path(temp_path).replace(path)
    except BaseException:
        Path(temp_path).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    folder = Path(path).parent
    _sync_folder(folder)

    if journal_damaged:
        moved.append(_keep_aside(journal_path, stamp, link=False))
        _sync_folder(folder)
    else:
        _truncate_journal(journal_path)
    return {"kept": len(runs), "dropped_lines": dropped, "moved": moved}


def _read_file(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


def _keep_aside(path: str, stamp: str, *, link: bool) -> str:
    """Give the file at `path` the first free name `<path>.corrupt-<stamp>[-N]` and return it.

    With `link`, the file gets a second name (a hard link) and keeps its own,
    so that the caller can replace it atomically. A file system without hard
    links gets a rename instead.
    """
    number = 0
    while True:
        aside = f"{path}.corrupt-{stamp}" + (f"-{number}" if number else "")
        number += 1
        if os.path.lexists(aside):
            continue
        if link:
            try:
                Path(aside).hardlink_to(path)
            except FileExistsError:
                continue
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                Path(path).rename(aside)
        else:
            Path(path).rename(aside)
        return aside
