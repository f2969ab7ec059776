"""`Store`, `ReadableStore` and `CoordinatedStore`: the protocols through which runs are stored."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Protocol, runtime_checkable

from millpond.orchestrator._records import RunRecord, RunStatus

__all__ = ["Claim", "CoordinatedStore", "ReadableStore", "Store"]


@runtime_checkable
class Store(Protocol):
    """Somewhere to persist run records, keyed by `RunRecord.id`."""

    def upsert_run(self, record: RunRecord) -> None:
        """Insert `record`, or replace the stored record with the same id.

        When this returns, the record is stored as durably as the store
        promises. When it raises, the previously stored records are intact.
        """
        ...


@runtime_checkable
class ReadableStore(Store, Protocol):
    """A store that can also read its records back."""

    def get_run(self, run_id: str) -> RunRecord | None:
        """Return the record with id `run_id`, or None when none is stored."""
        ...

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
        ...


class Claim(str, Enum):
    """The outcome of `CoordinatedStore.claim_run`."""

    CLAIMED = "claimed"
    """The `running` record was inserted, so this instance runs the slot."""
    TAKEN = "taken"
    """A record with the same pipeline, `scheduled_for` and attempt already exists."""
    BUSY = "busy"
    """An exclusive claim was refused: a run of the pipeline is in progress under a live lease."""

    def __str__(self) -> str:
        return self.value


@runtime_checkable
class CoordinatedStore(ReadableStore, Protocol):
    """A store shared by several orchestrator instances, each holding a renewed lease.

    Each scheduled slot is claimed through a unique key on `(pipeline_name,
    scheduled_for, attempt)`, so exactly one instance runs it. An instance
    that stops renewing its lease is presumed dead, and its `running` records
    are closed as failed by `close_abandoned`.
    """

    @property
    def instance_id(self) -> str:
        """The id under which this store object holds its lease and owns its running records."""
        ...

    def claim_run(self, record: RunRecord, *, attempt: int = 1, exclusive: bool = False) -> Claim:
        """Insert the `running` record of a scheduled run unless its slot is taken.

        In one transaction: with `exclusive`, return `Claim.BUSY` when the
        pipeline has a `running` record whose owner's lease is live. Return
        `Claim.TAKEN` when a record with the same pipeline, `scheduled_for`
        and `attempt` exists. Otherwise insert `record` and return
        `Claim.CLAIMED`.
        """
        ...

    def close_abandoned(self) -> list[RunRecord]:
        """Close as failed every `running` record whose owner holds no live lease.

        Returns the closed records as stored.
        """
        ...

    def last_slots(self) -> dict[str, datetime]:
        """Return the latest `scheduled_for` of each pipeline, as aware UTC datetimes."""
        ...

    def close(self) -> None:
        """Stop renewing the lease and release the connections; closing again does nothing."""
        ...
