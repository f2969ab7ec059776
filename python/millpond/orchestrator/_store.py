"""`Store` and `ReadableStore`: the protocols through which run records are persisted."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from millpond.orchestrator._records import RunRecord, RunStatus

__all__ = ["ReadableStore", "Store"]


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
