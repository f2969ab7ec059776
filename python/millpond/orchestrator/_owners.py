"""Owner leases: which live process on this host owns each `running` record of a store.

A run record has no owner field, so each process that writes `running`
records to a store at `PATH` keeps a lease in the folder `PATH.owners`:

- `<pid>-<token>.lock`, held with an exclusive `flock` for as long as the
  lease is open. The kernel drops the lock when the process exits, however it
  exits (`kill -9` included), so a lock that can be taken belongs to a dead
  process. No clock or heartbeat is involved.
- `<pid>-<token>.json`: the pid, the host name, when the lease opened and the
  ids of the runs that the process has started and not yet finished,
  replaced atomically on every change.

A process adds a run id to its lease before it writes the `running` record
and removes it only after the final record is stored. Every `running` record
whose id no live lease lists therefore belongs to a process that has exited.
The orchestrator reads the store's `running` records first and the leases
second, then reads each record again before closing it, so a run that
finishes in between is not closed by mistake (see `RunRecorder`).

`flock` works between processes of one host on a local file system, as the
FileStore's own lock does. It is not reliable on every network file system.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

__all__ = ["DeadOwner", "OwnerLease", "OwnersSnapshot", "owners_folder", "scan_owners"]

logger = logging.getLogger("millpond.orchestrator")

OWNERS_SUFFIX: Final = ".owners"

_LEASE_NAME: Final = re.compile(r"[0-9]+-[0-9a-f]{16}")

# A lock file without its .json is either being created right now or was
# left by a process that died between the two steps. Only the second kind
# is removed, once it is this old.
_ORPHAN_LOCK_AGE_SECONDS: Final = 60.0


def owners_folder(store_path: str | os.PathLike[str]) -> Path:
    """Return the lease folder of the store whose snapshot file is `store_path`."""
    path = Path(store_path)
    return path.with_name(path.name + OWNERS_SUFFIX)


class OwnerLease:
    """This process's lease in an owners folder. Thread-safe.

    The lease files are created by the first `add()`. After `os.fork()`, the
    child opens a lease of its own on its next `add()`.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._runs: set[str] = set()
        self._fd: int | None = None
        self._pid = 0
        self._name = ""
        self._started_at = ""

    @property
    def folder(self) -> Path:
        """The owners folder that holds this lease."""
        return self._folder

    @property
    def name(self) -> str:
        """The lease's file name without suffix, `<pid>-<token>`; empty until opened."""
        return self._name

    def add(self, run_id: str) -> None:
        """List `run_id` in the lease, opening the lease first if needed.

        Raises OSError when the lease cannot be written; the run is not
        listed then, and the caller must not start it.
        """
        with self._lock:
            self._open_if_needed()
            self._runs.add(run_id)
            try:
                self._write()
            except OSError:
                self._runs.discard(run_id)
                raise

    def remove(self, run_id: str) -> None:
        """Stop listing `run_id`. A failed write is logged: an extra id protects nothing."""
        with self._lock:
            if run_id not in self._runs:
                return
            self._runs.discard(run_id)
            if self._fd is None or self._pid != os.getpid():
                return
            try:
                self._write()
            except OSError as error:
                logger.warning(
                    "could not update owner lease %s after run %s finished: %s",
                    self._json_path(),
                    run_id,
                    error,
                )

    def owns(self, run_id: str) -> bool:
        """Return whether this lease lists `run_id`."""
        with self._lock:
            return run_id in self._runs

    def close(self) -> None:
        """Remove the lease files and release the lock; `add()` opens a new lease later."""
        with self._lock:
            fd = self._fd
            if fd is None:
                return
            self._fd = None
            self._runs.clear()
            if self._pid != os.getpid():
                # A forked child shares the parent's lock; closing its copy is enough.
                os.close(fd)
                return
            for path in (self._json_path(), self._lock_path()):
                with contextlib.suppress(OSError):
                    path.unlink()
            os.close(fd)

    def _open_if_needed(self) -> None:
        pid = os.getpid()
        if self._fd is not None and self._pid == pid:
            return
        if self._fd is not None:
            # Inherited across fork: the parent's lease stays the parent's.
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._runs.clear()

        self._folder.mkdir(exist_ok=True)
        name = f"{pid}-{secrets.token_hex(8)}"
        lock_path = self._folder / f"{name}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        self._fd, self._pid, self._name = fd, pid, name
        self._started_at = _utc_text(datetime.now(timezone.utc))

    def _write(self) -> None:
        content = {
            "pid": self._pid,
            "host": socket.gethostname(),
            "started_at": self._started_at,
            "runs": sorted(self._runs),
        }
        target = self._json_path()
        temp = self._folder / f".{self._name}.json.tmp"
        temp.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        temp.replace(target)

    def _json_path(self) -> Path:
        return self._folder / f"{self._name}.json"

    def _lock_path(self) -> Path:
        return self._folder / f"{self._name}.lock"


@dataclass
class DeadOwner:
    """The lease of a process that has exited, locked by the scanning process."""

    name: str
    pid: int | None
    host: str | None
    runs: frozenset[str]
    fd: int | None

    def describe(self) -> str:
        """Name the dead process as `process <pid> on <host>`, or by its lease name."""
        if self.pid is None:
            return f"the process of lease {self.name}"
        host = self.host or "this host"
        return f"process {self.pid} on {host}"


@dataclass
class OwnersSnapshot:
    """The leases found in an owners folder: the runs of live owners and the dead owners.

    The dead leases stay locked until `release()`, so two processes that scan
    at once do not both remove them.
    """

    folder: Path
    live_runs: set[str] = field(default_factory=set)
    dead: list[DeadOwner] = field(default_factory=list)

    def dead_owner_of(self, run_id: str) -> DeadOwner | None:
        """Return the dead owner whose lease lists `run_id`, if any."""
        for owner in self.dead:
            if run_id in owner.runs:
                return owner
        return None

    def remove_dead(self) -> None:
        """Delete the files of the dead leases; call after their runs are closed."""
        for owner in self.dead:
            for suffix in (".json", ".lock"):
                with contextlib.suppress(OSError):
                    (self.folder / f"{owner.name}{suffix}").unlink()
            logger.info("removed the owner lease of %s, which has exited", owner.describe())

    def release(self) -> None:
        """Unlock the dead leases that this scan locked."""
        for owner in self.dead:
            if owner.fd is not None:
                with contextlib.suppress(OSError):
                    os.close(owner.fd)
                owner.fd = None


def scan_owners(folder: Path) -> OwnersSnapshot:
    """Read every lease in `folder`, telling live owners from dead ones by their locks."""
    snapshot = OwnersSnapshot(folder)
    try:
        entries = sorted(folder.iterdir())
    except FileNotFoundError:
        return snapshot

    names = {entry.stem for entry in entries if entry.suffix == ".json"}
    for name in sorted(names):
        if not _LEASE_NAME.fullmatch(name):
            continue
        alive, fd = _lock_if_dead(folder / f"{name}.lock")
        info = _read_lease(folder / f"{name}.json")
        if alive:
            if info is not None:
                snapshot.live_runs.update(info.runs)
            continue
        if info is None:
            # Removed by another scan between the listing and now.
            if fd is not None:
                os.close(fd)
            continue
        info.fd = fd
        snapshot.dead.append(info)

    _remove_orphan_locks(entries, names)
    return snapshot


def _lock_if_dead(path: Path) -> tuple[bool, int | None]:
    """Return (True, None) while the lease's owner lives, else (False, a locked fd).

    The fd is None when the lock file no longer exists.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False, None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return True, None
    except OSError:
        os.close(fd)
        raise
    return False, fd


def _read_lease(path: Path) -> DeadOwner | None:
    """Read a lease's .json into a DeadOwner with no fd; None if the file is gone."""
    name = path.stem
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        content = json.loads(text)
        pid = int(content["pid"])
        host = str(content["host"])
        runs = frozenset(str(run_id) for run_id in content["runs"])
    except (ValueError, KeyError, TypeError) as error:
        # An owner killed in the middle of writing never renamed its temp
        # file, so this is damage from elsewhere. Its runs count as unowned.
        logger.warning("unreadable owner lease %s, treated as listing no runs: %s", path, error)
        return DeadOwner(name, None, None, frozenset(), None)
    return DeadOwner(name, pid, host, runs, None)


def _remove_orphan_locks(entries: list[Path], names: set[str]) -> None:
    now = time.time()
    for entry in entries:
        if entry.suffix != ".lock" or entry.stem in names or not _LEASE_NAME.fullmatch(entry.stem):
            continue
        try:
            old = now - entry.stat().st_mtime > _ORPHAN_LOCK_AGE_SECONDS
        except FileNotFoundError:
            continue
        if not old:
            continue
        alive, fd = _lock_if_dead(entry)
        if not alive and fd is not None:
            with contextlib.suppress(OSError):
                entry.unlink()
            os.close(fd)


def _utc_text(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
