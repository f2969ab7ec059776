"""Shared parts of `SQLiteStore` and `PostgresStore`: argument checks, instance leases, logs.

`SQLStore` implements the public methods of a `CoordinatedStore` once: it
checks arguments, registers the instance lease before the first write, runs
the heartbeat thread and logs. Each database supplies the statements through
the abstract methods.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final

from millpond._pure.store_format import is_blank
from millpond.orchestrator._file_store import _check_int, check_list_arguments
from millpond.orchestrator._records import RunRecord, RunStatus
from millpond.orchestrator._store import Claim

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "ABANDONED_PREFIX",
    "ABANDONED_SUFFIX",
    "DEFAULT_LEASE",
    "MAX_ATTEMPT",
    "RUN_COLUMNS",
    "SCHEMA_VERSION",
    "UNLEASED_ERROR",
    "Heartbeat",
    "InstanceInfo",
    "SQLStore",
    "StoreNotFoundError",
    "abandoned_error",
    "check_create",
    "check_schema_version",
    "default_instance_id",
    "id_taken_error",
    "list_query",
    "restarted_error",
    "scheduled_for_of",
    "slot_taken_error",
]

SCHEMA_VERSION: Final = 1
"""The version of the tables that this millpond creates and reads, stored in `millpond_meta`."""

DEFAULT_LEASE: Final = timedelta(seconds=30)
MIN_LEASE: Final = timedelta(milliseconds=100)
# A cap keeps `now + lease` far inside the range of datetimes and timestamps.
MAX_LEASE: Final = timedelta(days=365)
# attempt is an INTEGER column, 32 bits in PostgreSQL.
MAX_ATTEMPT: Final = 2**31 - 1

# The error of a run closed because its owner's lease expired is
# ABANDONED_PREFIX + owner + ABANDONED_SUFFIX. PostgreSQL builds it in SQL.
ABANDONED_PREFIX: Final = "abandoned: lease of instance "
ABANDONED_SUFFIX: Final = " expired"
UNLEASED_ERROR: Final = "abandoned: written without an instance lease"

logger = logging.getLogger("millpond.orchestrator")

RUN_COLUMNS: Final = (
    "id, pipeline_name, job_id, status, started_at, ended_at, error, scheduled_for"
)
"""The columns of `millpond_runs` that hold the RunRecord fields, in the field order."""

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class StoreNotFoundError(LookupError):
    """A database without the millpond tables, opened with `create=False`.

    The store created nothing in it.
    """

    def __init__(self, where: str) -> None:
        super().__init__(
            f"{where} has no millpond tables, and create=False does not create them: "
            "check the database name, or open it once with create=True"
        )


def check_create(value: object) -> bool:
    """Return the `create` argument of a store, which must be a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"create must be a bool, not {type(value).__name__}")
    return value


def restarted_error(instance_id: str) -> str:
    """Return the error of a run closed because its instance registered again."""
    return f"abandoned: instance {instance_id} restarted"


def abandoned_error(owner: str | None) -> str:
    """Return the error of a run closed because its owner holds no live lease."""
    if owner is None:
        return UNLEASED_ERROR
    return ABANDONED_PREFIX + owner + ABANDONED_SUFFIX


def check_schema_version(value: object, where: str) -> None:
    """Raise ValueError unless `value`, the stored `schema_version`, is one this code reads."""
    text = str(value)
    if not text.isascii() or not text.isdigit():
        raise ValueError(
            f"{where}: millpond_meta contains an invalid schema_version {value!r}, expected "
            f"{str(SCHEMA_VERSION)!r}; the tables were not created by millpond"
        )
    version = int(text)
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"{where} has schema version {version}, but this millpond reads versions up to "
            f"{SCHEMA_VERSION}: upgrade millpond to use this database"
        )
    if version < 1:
        raise ValueError(f"{where}: millpond_meta contains an invalid schema_version {value!r}")


def slot_taken_error(record: RunRecord) -> ValueError:
    """Return the error for an upsert whose new record would take another run's slot."""
    return ValueError(
        f"run {record.id} of pipeline {record.pipeline_name!r} is for slot "
        f"{scheduled_for_of(record).isoformat()}, attempt 1, which another stored run has; "
        "claim the slot with claim_run(record, attempt=...) instead"
    )


def id_taken_error(record: RunRecord) -> ValueError:
    """Return the error for a claim whose record id is stored for another slot."""
    return ValueError(
        f"claim_run(): another run with id {record.id!r} is stored; each run needs a new id"
    )


def scheduled_for_of(record: RunRecord) -> datetime:
    """Return `record.scheduled_for`, which the caller has checked is set."""
    if record.scheduled_for is None:
        raise ValueError(f"run {record.id} has no scheduled_for")
    return record.scheduled_for


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """The row of `millpond_instances` that a store writes for its instance."""

    id: str
    host: str
    pid: int


class Heartbeat:
    """A daemon thread that calls `beat()` every `period` seconds until `stop()`.

    An exception from `beat()` is logged at WARNING with the number of
    consecutive failures, and the next beat tries again.
    """

    def __init__(self, beat: Callable[[], None], period: float, instance_id: str) -> None:
        self._beat = beat
        self._period = period
        self._instance_id = instance_id
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="millpond-store-heartbeat", daemon=True
        )

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()
        logger.info(
            "started the lease heartbeat of instance %s, every %.3g s",
            self._instance_id,
            self._period,
        )

    def stop(self) -> None:
        """Stop the thread and wait for a beat in progress to end; stopping again does nothing."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        logger.info("stopped the lease heartbeat of instance %s", self._instance_id)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.wait(self._period):
            try:
                self._beat()
            except Exception as error:  # noqa: BLE001 (a failed beat is logged and retried)
                if self._stopping.is_set():
                    return
                failures += 1
                logger.warning(
                    "could not renew the lease of instance %s (%d consecutive failures), "
                    "retrying in %.3g s: %s: %s",
                    self._instance_id,
                    failures,
                    self._period,
                    type(error).__name__,
                    error,
                )
                continue
            if failures:
                logger.info(
                    "renewed the lease of instance %s after %d failures",
                    self._instance_id,
                    failures,
                )
                failures = 0


class SQLStore(ABC):
    """The public behaviour of a `CoordinatedStore` on a SQL database.

    Subclasses implement the abstract methods, each in one transaction, and
    raise ValueError from them once `_disconnect()` has run.
    """

    def __init__(self, instance_id: object, lease: object) -> None:
        self._instance = InstanceInfo(
            id=_check_instance_id(instance_id), host=socket.gethostname(), pid=os.getpid()
        )
        self._lease = _check_lease(lease)
        self._closing = False
        self._closed = False
        self._state_lock = threading.Lock()
        self._lease_lock = threading.Lock()
        self._registered = False
        self._heartbeat: Heartbeat | None = None

    @property
    def instance_id(self) -> str:
        """The id under which this store holds its lease and owns its `running` records."""
        return self._instance.id

    @property
    def lease(self) -> timedelta:
        """How long the instance lease lasts without a renewal; renewed every third of it."""
        return self._lease

    def upsert_run(self, record: RunRecord) -> None:
        """Insert `record`, or update the stored record of that id while it is `running`.

        A stored final status (succeeded, failed, canceled) is never replaced:
        the call then returns normally and logs a WARNING unless `record` is
        identical to the stored one. A `running` record gets this instance as
        its owner, and registers the instance lease on the first write.
        Raises TypeError for anything but a RunRecord and ValueError when the
        record would take the slot (pipeline, `scheduled_for`, attempt 1) of
        another stored run.
        """
        if not isinstance(record, RunRecord):
            raise TypeError(f"upsert_run() expects a RunRecord, not {type(record).__name__}")
        self._check_open()
        self._ensure_lease()
        stored = self._upsert(record)
        if stored is not None and stored != record:
            logger.warning(
                "run %s is already %s in the store; not replacing it with %s",
                record.id,
                stored.status.value,
                record.status.value,
            )

    def claim_run(self, record: RunRecord, *, attempt: int = 1, exclusive: bool = False) -> Claim:
        """Insert the `running` record of a scheduled run unless its slot is taken.

        In one transaction: with `exclusive`, return `Claim.BUSY` when the
        pipeline has a `running` record whose owner holds a live lease, this
        instance included. Return `Claim.TAKEN` when a record with the same
        pipeline, `scheduled_for` and `attempt` exists. Otherwise insert the
        record, owned by this instance, and return `Claim.CLAIMED`.

        `record` must be `running` and have `scheduled_for`, and `attempt`
        is an int from 1 to 2**31 - 1. Raises ValueError when another run
        with the id of `record` is stored.
        """
        if not isinstance(record, RunRecord):
            raise TypeError(f"claim_run() expects a RunRecord, not {type(record).__name__}")
        if record.status is not RunStatus.RUNNING:
            raise ValueError(
                f"claim_run() expects a running record, got run {record.id} with status "
                f"{record.status.value!r}"
            )
        if record.scheduled_for is None:
            raise ValueError(
                f"claim_run() expects a scheduled run, got run {record.id} with "
                "scheduled_for=None; store a manual run with upsert_run()"
            )
        _check_int("attempt", attempt, minimum=1, optional=False)
        if attempt > MAX_ATTEMPT:
            raise ValueError(f"attempt must be at most {MAX_ATTEMPT}, got {attempt}")
        if not isinstance(exclusive, bool):
            raise TypeError(f"exclusive must be a bool, not {type(exclusive).__name__}")
        self._check_open()
        self._ensure_lease()
        claim = self._claim(record, attempt, exclusive=exclusive)
        logger.debug(
            "claim of run %s of pipeline %r for slot %s, attempt %d: %s",
            record.id,
            record.pipeline_name,
            record.scheduled_for.isoformat(),
            attempt,
            claim.value,
        )
        return claim

    def close_abandoned(self) -> list[RunRecord]:
        """Close as failed every `running` record whose owner holds no live lease.

        An owner's lease is dead when its row in `millpond_instances` is
        missing or has expired. A record without an owner counts as
        abandoned too. Each closed record gets `ended_at` = the later of now
        and `started_at`, and the error "abandoned: lease of instance <owner>
        expired" or "abandoned: written without an instance lease". Instance
        rows expired for longer than one lease (of this store) are deleted.
        Returns the closed records as stored and logs each at WARNING.
        """
        self._check_open()
        closed = self._close_abandoned()
        for record in closed:
            logger.warning(
                "closed run %s of pipeline %r as failed: %s",
                record.id,
                record.pipeline_name,
                record.error,
            )
        return closed

    def get_run(self, run_id: str) -> RunRecord | None:
        """Return the record with id `run_id`, or None when none is stored."""
        if not isinstance(run_id, str):
            raise TypeError(f"run_id must be a str, not {type(run_id).__name__}")
        self._check_open()
        return self._get(run_id)

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
        self._check_open()
        return self._list(pipeline, status_value, limit)

    def last_slots(self) -> dict[str, datetime]:
        """Return the latest `scheduled_for` of each pipeline, as aware UTC datetimes."""
        self._check_open()
        return {name: slot.astimezone(timezone.utc) for name, slot in self._last_slots().items()}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the heartbeat, give up the lease if no run is in progress, and disconnect.

        The instance row stays (and expires) while this instance owns a
        `running` record, so other instances close that run as abandoned
        once the lease has expired. Closing again does nothing, and other
        methods raise ValueError after close.
        """
        with self._state_lock:
            if self._closing:
                return
            self._closing = True
        with self._lease_lock:
            heartbeat = self._heartbeat
            self._heartbeat = None
            registered = self._registered
        try:
            # Stopped before the store counts as closed, so that a beat in
            # progress finishes instead of failing on a closed store.
            if heartbeat is not None:
                heartbeat.stop()
            self._closed = True
            if registered:
                self._release_lease_logged()
        finally:
            self._closed = True
            self._disconnect()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self!r} is closed")

    def _ensure_lease(self) -> None:
        """Register the instance lease and start the heartbeat, once per store object."""
        if self._registered:
            return
        with self._lease_lock:
            if self._registered:
                return
            if self._closing:
                raise ValueError(f"{self!r} is closed")
            closed = self._register()
            for record in closed:
                logger.warning(
                    "closed run %s of pipeline %r as failed: %s",
                    record.id,
                    record.pipeline_name,
                    record.error,
                )
            self._registered = True
            heartbeat = Heartbeat(self._beat, self._lease.total_seconds() / 3, self.instance_id)
            heartbeat.start()
            self._heartbeat = heartbeat

    def _beat(self) -> None:
        if not self._renew():
            logger.warning(
                "the lease of instance %s had expired before this renewal; other instances "
                "may have closed its running runs as abandoned",
                self.instance_id,
            )
        self.close_abandoned()

    def _release_lease_logged(self) -> None:
        try:
            self._release_lease()
        except Exception as error:  # noqa: BLE001 (the row expires by itself)
            logger.warning(
                "could not delete the lease of instance %s on close, it expires within %.3g s: "
                "%s: %s",
                self.instance_id,
                self._lease.total_seconds(),
                type(error).__name__,
                error,
            )

    @abstractmethod
    def _register(self) -> list[RunRecord]:
        """Close the `running` records this instance id owns and write its instance row.

        Returns the closed records.
        """

    @abstractmethod
    def _renew(self) -> bool:
        """Extend the lease by one lease from now; return False when it had expired or was gone."""

    @abstractmethod
    def _release_lease(self) -> None:
        """Delete the instance row unless this instance owns a `running` record."""

    @abstractmethod
    def _upsert(self, record: RunRecord) -> RunRecord | None:
        """Write `record`; return None when written, or the stored final record that stays."""

    @abstractmethod
    def _claim(self, record: RunRecord, attempt: int, *, exclusive: bool) -> Claim:
        """Claim the slot of `record` as `claim_run` describes."""

    @abstractmethod
    def _close_abandoned(self) -> list[RunRecord]:
        """Close abandoned `running` records as `close_abandoned` describes; return them."""

    @abstractmethod
    def _get(self, run_id: str) -> RunRecord | None:
        """Return the record with id `run_id`, or None."""

    @abstractmethod
    def _list(
        self, pipeline: str | None, status: str | None, limit: int | None
    ) -> list[RunRecord]:
        """Return matching records, newest first by `started_at`, then by id."""

    @abstractmethod
    def _last_slots(self) -> dict[str, datetime]:
        """Return the latest `scheduled_for` of each pipeline."""

    @abstractmethod
    def _disconnect(self) -> None:
        """Close the connections; later database calls raise ValueError."""


def default_instance_id() -> str:
    """Return `<host name>:<process id>:<6 random hex digits>`."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _check_instance_id(value: object) -> str:
    if value is None:
        return default_instance_id()
    if not isinstance(value, str):
        raise TypeError(f"instance_id must be a str or None, not {type(value).__name__}")
    if is_blank(value):
        raise ValueError(f"instance_id must not be blank, got {value!r}")
    if _SURROGATE.search(value) is not None:
        raise ValueError(
            f"instance_id contains a lone surrogate, which UTF-8 cannot encode: {value!r}"
        )
    return value


def _check_lease(value: object) -> timedelta:
    if not isinstance(value, timedelta):
        raise TypeError(
            f"lease must be a timedelta, not {type(value).__name__}, such as timedelta(seconds=30)"
        )
    if value < MIN_LEASE:
        raise ValueError(
            f"lease must be at least {MIN_LEASE.total_seconds()} s, got {value!r}; "
            "the heartbeat renews it every third of the lease"
        )
    if value > MAX_LEASE:
        raise ValueError(f"lease must be at most {MAX_LEASE.days} days, got {value!r}")
    return value


def list_query(
    placeholder: str, pipeline: object | None, status: str | None, limit: int | None
) -> tuple[str, list[object]]:
    """Return the SELECT of `list_runs` and its parameters, newest first.

    `placeholder` is the driver's parameter marker ("?" or "%s"), and
    `pipeline` the value as the database stores it.
    """
    conditions: list[str] = []
    params: list[object] = []
    if pipeline is not None:
        conditions.append(f"pipeline_name = {placeholder}")
        params.append(pipeline)
    if status is not None:
        conditions.append(f"status = {placeholder}")
        params.append(status)
    query = f"SELECT {RUN_COLUMNS} FROM millpond_runs"  # noqa: S608 (constant column names)
    if conditions:
        query += " WHERE " + " AND ".join(conditions)
    query += " ORDER BY started_at DESC, id DESC"
    if limit is not None:
        query += f" LIMIT {placeholder}"
        params.append(limit)
    return query, params
