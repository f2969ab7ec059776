"""Compiled backend of millpond (Rust, PyO3).

Users never import this module: public classes delegate to it through
`millpond._backend`. Every name here has a twin with the same signature,
results and error messages in `millpond._pure`. Instants are microseconds
since the Unix epoch, in UTC, as Python ints.

Every class is immutable and safe to share between threads. `upcoming`
releases the interpreter while it computes, so other Python threads run.

Wall-clock rules of `DailySpec` and `CronSpec`:

- Fixed-time rule (`DailySpec`, and `CronSpec` with `real_time=False`): each
  matching local wall time fires once. A wall time that a transition skips
  (a gap) fires at the instant computed with the offset in force before the
  transition, one gap length later on the new clock (02:30 in a one-hour gap
  fires at 03:30). A wall time that occurs twice (a fold) fires at its first
  occurrence only. This is Python's `fold=0`.
- Real-time rule (`CronSpec` with `real_time=True`): every instant whose wall
  time, as the zone shows it, matches fires. Wall times in a gap are never
  shown and do not fire; wall times in a fold are shown twice and fire twice.
- Days are calendar days of the local clock. Wall times exist from
  0001-01-01T00:00 to 9999-12-31T23:59 local time, and results never exceed
  `MAX_US`. Where none is left, `next` returns None.
"""

from collections.abc import Iterable
from typing import Final, final

from millpond._store_errors import StoreCorruptError as StoreCorruptError
from millpond.orchestrator._records import RunRecord

__all__ = [
    "MAX_US",
    "MIN_US",
    "CronSpec",
    "DailySpec",
    "FileStoreCore",
    "IntervalSpec",
    "MultiSpec",
    "StoreCorruptError",
    "Zone",
    "interval_next",
]

MIN_US: Final[int]
"""Microseconds to 0001-01-01T00:00:00Z, the smallest instant a datetime holds."""

MAX_US: Final[int]
"""Microseconds to 9999-12-31T23:59:59.999999Z, the largest instant a datetime holds."""

def interval_next(after_us: int, every_us: int) -> int | None:
    """Return `after_us + every_us` in elapsed time.

    None when `every_us <= 0` or when the sum lies past `MAX_US`. Raises
    OverflowError when an argument does not fit in a signed 64-bit integer.
    """

@final
class Zone:
    """A time zone: `TZif` data read for an IANA key, or a fixed offset from UTC.

    The `TZif` bytes must be the ones `zoneinfo` reads for the key, so that both
    backends see the same transitions. Offsets are whole seconds east of UTC
    and may have a seconds part (local mean time before standard time).
    """

    @staticmethod
    def from_tzif(key: str, data: bytes) -> Zone:
        """Parse `TZif` data (RFC 8536, versions 1 to 4) read for the IANA `key`.

        Raises TypeError unless `key` is a str and `data` is bytes, and
        ValueError naming the key when `data` is not valid `TZif` data.
        """

    @staticmethod
    def fixed(offset_seconds: int) -> Zone:
        """Return a zone that is always `offset_seconds` east of UTC.

        Raises TypeError for a non-int (bools included) and ValueError unless
        `-86400 < offset_seconds < 86400`, the range of `datetime.timezone`.
        """

    @property
    def key(self) -> str | None:
        """The IANA key given to `from_tzif`; None for a fixed offset."""

    def utc_offset(self, instant_us: int) -> int:
        """Return the UTC offset in seconds east of UTC in force at `instant_us`.

        Instants outside `MIN_US..MAX_US` take the offset at the nearest end of
        that range.
        """

@final
class IntervalSpec:
    """Fire every `every_us` microseconds of elapsed time.

    An interval that is not positive never fires. Raises TypeError for a
    non-int `every_us` (bools included).
    """

    def __new__(cls, every_us: int) -> IntervalSpec: ...
    def next(self, after_us: int) -> int | None:
        """Return `after_us + every_us`, or None past `MAX_US` or when not positive."""

    def upcoming(self, after_us: int, count: int) -> list[int]:
        """Return up to `count` successive `next` values, computed in one call.

        The list ends early where `next` returns None. Raises TypeError for a
        non-int `count` and ValueError when `count < 0`.
        """

@final
class DailySpec:
    """Fire at fixed minutes of the local day, on the weekdays of a mask.

    `minutes` are minutes of the day (`hour * 60 + minute`, 0-1439), sorted and
    unique; an empty list never fires. `weekdays` is a mask with bit 0 Monday
    to bit 6 Sunday (`datetime.weekday()` numbering): 0x7F is every day and 0
    never fires. Wall times follow the fixed-time rule.

    Raises TypeError for a non-int minute or mask or a `zone` that is not a
    `Zone` of this module, and ValueError for a minute outside 0-1439, minutes
    that are not sorted and unique, or mask bits outside 0-6.
    """

    def __new__(cls, minutes: Iterable[int], weekdays: int, zone: Zone) -> DailySpec: ...
    def next(self, after_us: int) -> int | None:
        """Return the first fire instant strictly after `after_us`, or None.

        Raises TypeError for a non-int `after_us` (bools included).
        """

    def upcoming(self, after_us: int, count: int) -> list[int]:
        """Return up to `count` successive `next` values, computed in one call.

        The list ends early where `next` returns None. Raises TypeError for a
        non-int argument and ValueError when `count < 0`.
        """

@final
class CronSpec:
    """Fire at the local wall times matched by the five fields of a cron expression.

    The fields arrive as bit masks: `minutes` bits 0-59, `hours` bits 0-23,
    `days` (day of the month) bits 1-31, `months` bits 1-12, and `weekdays`
    bits 0-6 with bit 0 Sunday (cron numbering; 7 is folded into 0 by the
    parser). A day matches when its month is in `months` and, with `day_or`,
    its day of the month OR its weekday matches, or else both do. `day_or`
    is True when neither day field starts with `*` (Vixie cron). With
    `real_time` (the hour field starts with `*`) the real-time rule applies,
    otherwise the fixed-time rule. Dates that never exist, such as February
    30, never fire.

    Raises TypeError for a non-int mask, a non-bool flag or a `zone` that is
    not a `Zone` of this module, and ValueError naming the mask, in hex, when
    it has bits outside its field's range.
    """

    def __new__(
        cls,
        minutes: int,
        hours: int,
        days: int,
        months: int,
        weekdays: int,
        day_or: bool,
        real_time: bool,
        zone: Zone,
    ) -> CronSpec: ...
    def next(self, after_us: int) -> int | None:
        """Return the first fire instant strictly after `after_us`, or None.

        Raises TypeError for a non-int `after_us` (bools included).
        """

    def upcoming(self, after_us: int, count: int) -> list[int]:
        """Return up to `count` successive `next` values, computed in one call.

        The list ends early where `next` returns None. Raises TypeError for a
        non-int argument and ValueError when `count < 0`.
        """

@final
class MultiSpec:
    """Fire whenever any member fires: `next` is the smallest non-None member `next`.

    Members are specs of this module, `MultiSpec` included, in any order; an
    instant that several members share fires once. No members never fires.
    Raises TypeError naming the index of a member that is not a spec of this
    module.
    """

    def __new__(
        cls, members: Iterable[IntervalSpec | DailySpec | CronSpec | MultiSpec]
    ) -> MultiSpec: ...
    def next(self, after_us: int) -> int | None:
        """Return the first fire instant of any member strictly after `after_us`, or None.

        Raises TypeError for a non-int `after_us` (bools included).
        """

    def upcoming(self, after_us: int, count: int) -> list[int]:
        """Return up to `count` successive `next` values, computed in one call.

        The list ends early where `next` returns None. Raises TypeError for a
        non-int argument and ValueError when `count < 0`.
        """

@final
class FileStoreCore:
    """The snapshot, journal and lock files of one store, and its runs as last read.

    The native twin of `millpond._pure.file_store.FileStoreCore`: it reads
    and writes the same files byte for byte, takes the same `flock` locks and
    raises the same exceptions with the same messages, so processes of
    either backend can share one store. A record is a dict of the eight
    fields `id, pipeline_name, job_id, status, started_at, ended_at, error,
    scheduled_for`, each a str or None, with times such as
    `2024-01-01T02:00:00.000000Z`.

    File I/O and fsync run with the interpreter released. Calls on one
    object are serialized; the public `FileStore` serializes them as well.
    Damage raises the shared `StoreCorruptError` on the first read.
    """

    def __new__(
        cls,
        path: str,
        *,
        durable: bool = True,
        keep_last: int | None = None,
        max_age_us: int | None = None,
    ) -> FileStoreCore:
        """Open the store at `path`, create its lock file and remove stale temp files.

        In a folder that this process cannot write, the store is read-only:
        it uses an existing lock file without creating one, and methods
        that write raise PermissionError naming the folder. Raises
        FileNotFoundError, NotADirectoryError or PermissionError naming the
        folder when it is missing, not a folder or not accessible, and
        IsADirectoryError when `path` is a folder. Raises TypeError for a
        non-str path or a non-int count (bools included), and ValueError for
        a count below 1. Nothing is read yet.
        """

    def upsert(self, record: dict[str, str | None]) -> int:
        """Append `record` to the journal and return the journal's size in bytes after it.

        A torn final line left by a killed writer is cut off first, and the
        line is fsynced when the store is durable. If the append fails, the
        journal is truncated back to its size before and OSError raised.
        Raises TypeError for a non-dict and ValueError `invalid run record:
        ...` for an invalid record. Never compacts.
        """

    def upsert_record(self, record: RunRecord) -> int:
        """Append a `RunRecord` as `upsert(record_to_fields(record))` does.

        Reads the attributes and formats the times without calling
        `record_to_fields`, unless an attribute has a type that the RunRecord
        constructor never gives it: then it calls `record_to_fields`, so
        that errors match the pure core's.
        """

    def get(self, run_id: str) -> dict[str, str | None] | None:
        """Return a copy of the run with id `run_id`, or None when it is not stored."""

    def records(self) -> list[dict[str, str | None]]:
        """Return a copy of every stored run, in no particular order."""

    def compact(self, *, min_journal_bytes: int = 0) -> bool:
        """Rewrite the snapshot with every run, apply retention and empty the journal.

        Does nothing and returns False when the journal has fewer than
        `min_journal_bytes` bytes. Raises StoreCorruptError for a damaged
        store and OSError when writing fails, and leaves the files unchanged then.
        """

    def close(self) -> None:
        """Compact once if the journal is not empty, then release the files.

        The core is closed even when that compaction raises. Further calls do
        nothing, and other methods raise ValueError.
        """

    @staticmethod
    def repair(path: str) -> dict[str, object]:
        """Move damaged store files aside and rebuild the store from what parses.

        Returns `{"kept": runs in the store, "dropped_lines": journal lines
        discarded, "moved": [paths of the files moved aside]}`. An undamaged
        store is left unchanged.
        """
