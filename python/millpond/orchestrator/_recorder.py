"""`RunRecorder`: write run records to a store, retry failed final writes, close abandoned runs."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

from millpond.orchestrator._owners import DeadOwner, OwnerLease, owners_folder, scan_owners
from millpond.orchestrator._records import RunRecord, RunStatus
from millpond.orchestrator._store import Claim, CoordinatedStore, ReadableStore, Store

__all__ = ["RunRecorder", "store_path_of"]

logger = logging.getLogger("millpond.orchestrator")

# Final records that failed to store are retried after 1 s, then after twice
# the previous wait, at most this long.
RETRY_MAX_WAIT_SECONDS: Final = 60.0
_RETRY_FIRST_WAIT_SECONDS: Final = 1.0


def store_path_of(store: Store | None) -> Path | None:
    """Return the snapshot path of a store that lives in a file, such as a FileStore.

    A coordinated store (SQLiteStore) keeps its own instance leases, so it
    gets no owner leases beside its file and this returns None for it.
    """
    if isinstance(store, CoordinatedStore):
        return None
    path = getattr(store, "path", None)
    if isinstance(path, (str, os.PathLike)):
        return Path(path)
    return None


class RunRecorder:
    """Write a run's `running` record before it starts and its final record after it ends.

    With a store that has a `path` (a FileStore), this process's owner lease
    lists every run id from before its `running` record is written until its
    final record is stored. `close_abandoned()` closes the `running` records
    of processes that exited. See `_owners`. A `CoordinatedStore` (SQLite,
    PostgreSQL) tracks the owner of each run with instance leases itself:
    scheduled runs are claimed through it, and `close_abandoned()` asks it to
    close the runs of instances whose lease expired.

    A final record that fails to store is logged and retried on a background
    thread with growing waits, until it is stored or `flush()` gives up and
    logs it. Thread-safe; the store must be safe to call from several
    threads, as FileStore is.
    """

    def __init__(self, store: Store | None) -> None:
        self._store = store
        path = store_path_of(store)
        self._lease = None if path is None else OwnerLease(owners_folder(path))
        self._coordinated = store if isinstance(store, CoordinatedStore) else None
        self._condition = threading.Condition()
        self._pending: dict[str, RunRecord] = {}
        self._attempts: dict[str, int] = {}
        self._retry_thread: threading.Thread | None = None
        self._wake_retry = False
        self._recovered = False
        self._recovery_lock = threading.Lock()

    @property
    def store(self) -> Store | None:
        """The store, or None when runs are not recorded."""
        return self._store

    @property
    def readable(self) -> bool:
        """Whether the store can list its records."""
        return isinstance(self._store, ReadableStore)

    @property
    def pending(self) -> int:
        """The number of final records waiting for a retry."""
        with self._condition:
            return len(self._pending)

    @property
    def coordinated(self) -> bool:
        """Whether the store claims slots for several orchestrator instances."""
        return self._coordinated is not None

    def begin(self, record: RunRecord, *, attempt: int = 1, exclusive: bool = False) -> Claim:
        """Store a run's `running` record; raise the store's error if that fails.

        With a `CoordinatedStore`, the record of a scheduled run (one with
        `scheduled_for`) claims its slot. The result is `Claim.CLAIMED` when
        this instance won the slot, `Claim.TAKEN` when another instance had
        it already, and, with `exclusive`, `Claim.BUSY` when a run of the
        pipeline is in progress on any instance. Other stores always give
        CLAIMED.
        """
        store = self._store
        if store is None:
            return Claim.CLAIMED
        coordinated = self._coordinated
        if coordinated is not None and record.scheduled_for is not None:
            return coordinated.claim_run(record, attempt=attempt, exclusive=exclusive)
        if self._lease is not None:
            self._lease.add(record.id)
        try:
            store.upsert_run(record)
        except BaseException:
            if self._lease is not None:
                self._lease.remove(record.id)
            raise
        return Claim.CLAIMED

    def finish(self, record: RunRecord) -> bool:
        """Store a run's final record and return True, or queue it for retries and return False.

        A store error (any Exception) is logged at ERROR, not raised.
        """
        store = self._store
        if store is None:
            return True
        try:
            store.upsert_run(record)
        except Exception as error:  # noqa: BLE001 (any store error is retried)
            logger.error(  # noqa: TRY400 (the traceback of a store error adds nothing here)
                "could not store the final record of run %s of pipeline %r (%s): %s: %s; "
                "retrying in the background",
                record.id,
                record.pipeline_name,
                record.status.value,
                type(error).__name__,
                error,
            )
            self._queue(record)
            return False

        with self._condition:
            # A newer record of the same run replaces an older one still queued.
            self._pending.pop(record.id, None)
            self._attempts.pop(record.id, None)
        if self._lease is not None:
            self._lease.remove(record.id)
        return True

    def flush(self, timeout: float = 5.0) -> int:
        """Retry every queued final record for up to `timeout` seconds; return how many remain.

        Each record that still fails is logged at ERROR with its content. The
        store keeps such a run as `running` until an orchestrator start
        closes it as abandoned.
        """
        deadline = time.monotonic() + timeout
        wait = 0.05
        while True:
            remaining = self._retry_pending()
            if not remaining or time.monotonic() >= deadline:
                break
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            wait = min(wait * 2, 1.0)

        for record in remaining:
            logger.error(
                "giving up on the final record of run %s of pipeline %r: status %s, "
                "started %s, ended %s, scheduled for %s, error %r; the store still shows "
                "the run as running, and the next orchestrator start closes it as abandoned",
                record.id,
                record.pipeline_name,
                record.status.value,
                record.started_at.isoformat(),
                None if record.ended_at is None else record.ended_at.isoformat(),
                None if record.scheduled_for is None else record.scheduled_for.isoformat(),
                record.error,
            )
        return len(remaining)

    def close(self) -> None:
        """Release the owner lease; runs it still lists count as abandoned from then on."""
        if self._lease is not None:
            self._lease.close()

    def recover_once(self) -> bool:
        """Close abandoned runs, once per recorder; return False after a logged failure.

        After a failure, the next call tries again.
        """
        if self._recovered or not self.readable:
            return True
        with self._recovery_lock:
            if self._recovered:
                return True
            try:
                self.close_abandoned()
            except Exception:
                logger.exception(
                    "could not check the store for runs abandoned by exited processes"
                )
                return False
            self._recovered = True
            return True

    def close_abandoned(self) -> int:
        """Close as `failed` every `running` record whose process has exited; return the count.

        Needs a readable store with a path (a FileStore), or a
        `CoordinatedStore`, which decides by its instance leases. Other
        stores have no owner leases, and nothing is closed.
        """
        store = self._store
        if self._coordinated is not None:
            return len(self._coordinated.close_abandoned())
        if self._lease is None or not isinstance(store, ReadableStore):
            return 0

        # Records first, leases second: a run whose record is read as running
        # was listed in its owner's lease before that record was written.
        running = store.list_runs(status=RunStatus.RUNNING)
        if not running:
            return 0
        snapshot = scan_owners(self._lease.folder)
        closed = 0
        try:
            for record in running:
                if record.id in snapshot.live_runs or self._lease.owns(record.id):
                    continue
                # Read again: a run that finished after the first read is final now.
                current = store.get_run(record.id)
                if current is None or current.status is not RunStatus.RUNNING:
                    continue
                store.upsert_run(_abandoned(current, snapshot.dead_owner_of(record.id)))
                closed += 1
            snapshot.remove_dead()
        finally:
            snapshot.release()
        return closed

    def last_slots(self, pipeline: str | None = None) -> dict[str, datetime]:
        """Return the latest recorded `scheduled_for` of each pipeline (or of one pipeline)."""
        store = self._store
        if self._coordinated is not None:
            slots = self._coordinated.last_slots()
            if pipeline is None:
                return slots
            return {name: slot for name, slot in slots.items() if name == pipeline}
        if not isinstance(store, ReadableStore):
            return {}
        latest: dict[str, datetime] = {}
        for record in store.list_runs(pipeline=pipeline):
            slot = record.scheduled_for
            if slot is None:
                continue
            known = latest.get(record.pipeline_name)
            if known is None or slot > known:
                latest[record.pipeline_name] = slot
        return latest

    def _queue(self, record: RunRecord) -> None:
        with self._condition:
            self._pending[record.id] = record
            self._attempts[record.id] = self._attempts.get(record.id, 1)
            thread = self._retry_thread
            if thread is None or not thread.is_alive():
                thread = threading.Thread(
                    target=self._retry_loop, name="millpond-orchestrator-store-retry", daemon=True
                )
                self._retry_thread = thread
                thread.start()

    def _retry_loop(self) -> None:
        wait = _RETRY_FIRST_WAIT_SECONDS
        while True:
            with self._condition:
                if not self._pending:
                    self._retry_thread = None
                    return
                self._condition.wait(wait)
            remaining = self._retry_pending()
            if not remaining:
                wait = _RETRY_FIRST_WAIT_SECONDS
                continue
            wait = min(wait * 2, RETRY_MAX_WAIT_SECONDS)
            logger.warning(
                "%d final run records still wait for the store; next retry in %.0f s",
                len(remaining),
                wait,
            )

    def _retry_pending(self) -> list[RunRecord]:
        """Try each queued record once; return the ones that still failed."""
        with self._condition:
            batch = list(self._pending.values())
        store = self._store
        if store is None:
            return []

        failed: list[RunRecord] = []
        last_error: Exception | None = None
        for record in batch:
            try:
                store.upsert_run(record)
            except Exception as error:  # noqa: BLE001 (any store error is retried)
                failed.append(record)
                with self._condition:
                    self._attempts[record.id] = self._attempts.get(record.id, 1) + 1
                last_error = error
                continue
            with self._condition:
                if self._pending.get(record.id) is record:
                    del self._pending[record.id]
                attempts = self._attempts.pop(record.id, 1) + 1
            if self._lease is not None:
                self._lease.remove(record.id)
            logger.info(
                "stored the final record of run %s of pipeline %r (%s) after %d attempts",
                record.id,
                record.pipeline_name,
                record.status.value,
                attempts,
            )
        if failed:
            logger.debug("store still failing: %s", last_error)
        return failed


def _abandoned(record: RunRecord, owner: DeadOwner | None) -> RunRecord:
    if owner is not None:
        who = owner.describe()
    else:
        who = "a process that no longer holds an owner lease"
    error = f"abandoned: {who} exited before the run finished"
    now = datetime.now(timezone.utc)
    logger.warning(
        "closing run %s of pipeline %r as failed: %s", record.id, record.pipeline_name, error
    )
    return RunRecord(
        id=record.id,
        pipeline_name=record.pipeline_name,
        job_id=record.job_id,
        status=RunStatus.FAILED,
        started_at=record.started_at,
        ended_at=max(now, record.started_at),
        error=error,
        scheduled_for=record.scheduled_for,
    )
