"""Measure upserts per second into stores that already hold many runs; print a table.

Each store first contains N runs (1,000, 10,000 and 100,000, written untimed),
then the timed loop writes new runs as a scheduler does: one upsert when a
run starts and one when it ends, so half the upserts insert and half
replace. Every store receives the same `RunRecord` objects, built before the
timing. sqlite3 and the naive store convert them with `record_to_fields`.
FileStore hands them to its core, which converts them itself: the pure core
with `record_to_fields`, the native core in Rust. Samples of the stores take
turns, so that a change in the machine's load affects all of them alike.

Stores, paired by durability (a returned upsert survives a power loss, or
only a crash of the process):

    durable                         not durable
    FileStore(durable=True)         FileStore(durable=False)
    sqlite3 WAL, synchronous=FULL   sqlite3 WAL, synchronous=NORMAL and OFF
    naive JSON rewrite, fsync       naive JSON rewrite, no fsync

FileStore runs with the pure core and, when the extension provides one, the
native core. The naive store is written here: it keeps every run in memory
and rewrites one JSON file with all of them on each upsert (temp file and
rename, plus fsync of the file and folder when durable). sqlite3 commits
once per upsert, with the run id as primary key.

FileStore's upsert only adds a line to the journal. Compaction rewrites the
snapshot once the journal is larger than both `compact_bytes` (4 MiB by
default) and the snapshot. The native core writes 4 MiB in well under a
second, so the timed FileStores never compact on their own: each compacts
before each of its samples, untimed. Compaction is timed on its own, and the
"amortized" rows add its share to every upsert.

    python benchmarks/store_upsert.py
    python benchmarks/store_upsert.py --seconds 3 --repeat 5 --dir /folder/on/the/disk/to/test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from itertools import cycle
from pathlib import Path

from millpond._pure.file_store import FileStoreCore as PureCore
from millpond._pure.store_format import encode_journal_line, encode_snapshot
from millpond.orchestrator import FileStore, RunRecord
from millpond.orchestrator import _file_store as file_store_module
from millpond.orchestrator._file_store import DEFAULT_COMPACT_BYTES
from millpond.orchestrator._records import record_to_fields

SIZES = (1_000, 10_000, 100_000)
NO_AUTOMATIC_COMPACTION = 1 << 62
RECORD_POOL = 100_000
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
Fields = dict[str, str | None]


def make_run(number: int, *, finished: bool) -> RunRecord:
    """Return run `number`: its start record, or its end record with an error every 10th run."""
    started = T0 + timedelta(minutes=number)
    failed = number % 10 == 0
    status = "running"
    if finished:
        status = "failed" if failed else "succeeded"
    return RunRecord(
        id=uuid.UUID(int=number).hex,
        pipeline_name=f"pipeline-{number % 20}",
        job_id=uuid.UUID(int=number + 10**9).hex,
        status=status,
        started_at=started,
        ended_at=started + timedelta(seconds=42) if finished else None,
        error="ValueError: row 17 has no order id\n" * 5 if finished and failed else None,
        scheduled_for=started,
    )


def stored_runs(count: int) -> dict[str, Fields]:
    return {
        record.id: record_to_fields(record)
        for record in (make_run(number, finished=True) for number in range(count))
    }


# --- Stores -------------------------------------------------------------------


class NaiveJsonStore:
    """Every run in memory, and each upsert rewrites the whole file atomically."""

    def __init__(self, path: Path, runs: dict[str, Fields], *, durable: bool) -> None:
        self.path = path
        self.runs = dict(runs)
        self.durable = durable

    def upsert_run(self, record: RunRecord) -> None:
        self.runs[record.id] = record_to_fields(record)
        temp = self.path.with_name(self.path.name + ".tmp")
        with temp.open("wb") as file:
            file.write(json.dumps(self.runs).encode())
            if self.durable:
                file.flush()
                os.fsync(file.fileno())
        temp.replace(self.path)
        if self.durable:
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def close(self) -> None:
        pass


class SqliteStore:
    """One table keyed by run id, in WAL mode, one transaction per upsert."""

    COLUMNS = (
        "id",
        "pipeline_name",
        "job_id",
        "status",
        "started_at",
        "ended_at",
        "error",
        "scheduled_for",
    )

    def __init__(self, path: Path, runs: dict[str, Fields], *, synchronous: str) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute(f"PRAGMA synchronous={synchronous}")
        self.connection.execute(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, pipeline_name TEXT, job_id TEXT, "
            "status TEXT, started_at TEXT, ended_at TEXT, error TEXT, scheduled_for TEXT)"
        )
        placeholders = ", ".join("?" for _ in self.COLUMNS)
        updates = ", ".join(f"{column} = excluded.{column}" for column in self.COLUMNS[1:])
        # The columns are the constants above, so the f-string injects nothing.
        self.upsert = (
            f"INSERT INTO runs VALUES ({placeholders}) "  # noqa: S608
            f"ON CONFLICT(id) DO UPDATE SET {updates}"
        )
        self.connection.execute("BEGIN")
        self.connection.executemany(
            self.upsert, ([row[column] for column in self.COLUMNS] for row in runs.values())
        )
        self.connection.execute("COMMIT")

    def upsert_run(self, record: RunRecord) -> None:
        row = record_to_fields(record)
        self.connection.execute(self.upsert, [row[column] for column in self.COLUMNS])

    def close(self) -> None:
        self.connection.close()


def open_file_store(
    path: Path, runs: dict[str, Fields], core: type, *, durable: bool
) -> FileStore:
    path.write_bytes(encode_snapshot(runs))
    # FileStore takes the core of the selected backend; the benchmark picks one.
    file_store_module._select_core = lambda: core  # noqa: SLF001
    # Compaction is measured on its own, so no upsert of a sample compacts.
    return FileStore(path, durable=durable, compact_bytes=NO_AUTOMATIC_COMPACTION)


# --- Timing -------------------------------------------------------------------


def new_runs(count: int) -> list[RunRecord]:
    """Return `count` start and end records of runs that no store contains yet, in upsert order."""
    records = []
    for number in range(10**7, 10**7 + count // 2):
        records.append(make_run(number, finished=False))
        records.append(make_run(number, finished=True))
    return records


def upserts_per_second(
    store: FileStore | NaiveJsonStore | SqliteStore, records: Iterator[RunRecord], seconds: float
) -> float:
    """Upsert records from `records` for about `seconds` and return upserts per second."""
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        store.upsert_run(next(records))
        store.upsert_run(next(records))
        count += 2
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def compaction_seconds(path: Path, runs: dict[str, Fields], core: type) -> float:
    """Time one compaction of `runs` by a core that has not read the store yet."""
    path.write_bytes(encode_snapshot(runs))
    store = core(str(path), durable=True)
    store.upsert(record_to_fields(make_run(10**8, finished=True)))
    started = time.perf_counter()
    store.compact()
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def native_core() -> type | None:
    try:
        from millpond import _native  # noqa: PLC0415
    except ImportError:
        return None
    core = getattr(_native, "FileStoreCore", None)
    return core if isinstance(core, type) else None


def cpu_model() -> str:
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def file_system(folder: Path) -> str:
    """Return the type of the file system of `folder`, read from /proc/mounts."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return kind
    resolved = str(folder.resolve())
    for line in mounts:
        fields = line.split()
        mount_point = fields[1]
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > len(best):
            best, kind = mount_point, fields[2]
    return kind


Builder = Callable[[Path, dict[str, Fields]], "FileStore | NaiveJsonStore | SqliteStore"]


def store_rows(native: type | None) -> list[tuple[str, str, Builder | None]]:
    """Return (store, durability, builder) rows, with None as builder for a missing store."""

    def file_store(core: type | None, *, durable: bool) -> Builder | None:
        if core is None:
            return None
        return lambda path, runs: open_file_store(path, runs, core, durable=durable)

    return [
        ("FileStore, pure core", "durable=True", file_store(PureCore, durable=True)),
        ("FileStore, native core", "durable=True", file_store(native, durable=True)),
        (
            "sqlite3 WAL",
            "synchronous=FULL",
            lambda path, runs: SqliteStore(path, runs, synchronous="FULL"),
        ),
        (
            "naive JSON rewrite",
            "fsync",
            lambda path, runs: NaiveJsonStore(path, runs, durable=True),
        ),
        ("FileStore, pure core", "durable=False", file_store(PureCore, durable=False)),
        ("FileStore, native core", "durable=False", file_store(native, durable=False)),
        (
            "sqlite3 WAL",
            "synchronous=NORMAL",
            lambda path, runs: SqliteStore(path, runs, synchronous="NORMAL"),
        ),
        (
            "sqlite3 WAL",
            "synchronous=OFF",
            lambda path, runs: SqliteStore(path, runs, synchronous="OFF"),
        ),
        (
            "naive JSON rewrite",
            "no fsync",
            lambda path, runs: NaiveJsonStore(path, runs, durable=False),
        ),
    ]


def measure_rows(
    rows: list[tuple[str, str, Builder | None]], root: Path, seconds: float, repeat: int
) -> dict[tuple[str, str], list[float]]:
    """Print the median upserts per second of `repeat` samples per row and return them.

    For each store size, the samples of all rows take turns, so that a change
    in the machine's load affects every row alike.
    """
    built = [(name, durability, build) for name, durability, build in rows if build]
    records = new_runs(RECORD_POOL)
    samples: dict[tuple[str, str], list[list[float]]] = {
        (name, durability): [] for name, durability, _ in built
    }
    for size in SIZES:
        runs = stored_runs(size)
        stores = []
        for index, (name, durability, build) in enumerate(built):
            folder = root / f"{index}-{size}"
            folder.mkdir()
            # Each store gets every record once, then the same ones again as updates.
            stores.append((name, durability, build(folder / "state.json", runs), cycle(records)))
        rates: dict[tuple[str, str], list[float]] = {key: [] for key in samples}
        for _ in range(repeat):
            for name, durability, store, pool in stores:
                if isinstance(store, FileStore):
                    store.compact()
                # Write back what earlier samples left in the page cache, which
                # would otherwise slow this sample's writes and fsyncs.
                os.sync()
                rates[name, durability].append(upserts_per_second(store, pool, seconds))
        for name, durability, store, _ in stores:
            store.close()
            samples[name, durability].append(rates[name, durability])
        for index in range(len(built)):
            shutil.rmtree(root / f"{index}-{size}")

    results = {
        key: [statistics.median(rates) for rates in sizes] for key, sizes in samples.items()
    }
    for name, durability, builder in rows:
        line = f"{name:<24}{durability:<20}"
        if builder is None:
            print(line + f"{'not built':>12}" * len(SIZES))
        else:
            print(line + "".join(f"{rate:>12,.0f}" for rate in results[name, durability]))
    return results


def print_amortized(
    results: dict[tuple[str, str], list[float]], root: Path, native: type | None
) -> None:
    """Print each core's compaction time and its rates with that time spread over upserts.

    An upsert compacts once the journal exceeds both DEFAULT_COMPACT_BYTES and
    the snapshot, so a compaction follows that many bytes of journal lines.
    """
    line_bytes = len(encode_journal_line(record_to_fields(make_run(10**7, finished=True))))
    spans = [
        max(DEFAULT_COMPACT_BYTES, len(encode_snapshot(stored_runs(size)))) // line_bytes
        for size in SIZES
    ]
    cores = [("pure core", PureCore)] + ([("native core", native)] if native else [])
    for label, core in cores:
        compactions = []
        for size in SIZES:
            folder = root / f"compaction-{size}"
            folder.mkdir()
            compactions.append(compaction_seconds(folder / "state.json", stored_runs(size), core))
            shutil.rmtree(folder)
        print(
            f"{'compaction, ' + label:<24}{'seconds each':<20}"
            + "".join(f"{seconds:>12.3f}" for seconds in compactions)
        )
        print(f"{'  upserts between two':<24}{'':<20}" + "".join(f"{span:>12,}" for span in spans))
        for durability in ("durable=True", "durable=False"):
            amortized = [
                1 / (1 / rate + seconds / span)
                for rate, seconds, span in zip(
                    results["FileStore, " + label, durability], compactions, spans, strict=True
                )
            ]
            print(
                f"{label + ', amortized':<24}{durability:<20}"
                + "".join(f"{rate:>12,.0f}" for rate in amortized)
            )


def print_ratios(results: dict[tuple[str, str], list[float]]) -> None:
    print("ratios at equal durability: FileStore upserts per second / the other's")
    pairs = [
        ("FileStore, pure core", "durable=True", "sqlite3 WAL", "synchronous=FULL"),
        ("FileStore, pure core", "durable=True", "naive JSON rewrite", "fsync"),
        ("FileStore, pure core", "durable=False", "sqlite3 WAL", "synchronous=NORMAL"),
        ("FileStore, pure core", "durable=False", "sqlite3 WAL", "synchronous=OFF"),
        ("FileStore, pure core", "durable=False", "naive JSON rewrite", "no fsync"),
        ("FileStore, native core", "durable=True", "sqlite3 WAL", "synchronous=FULL"),
        ("FileStore, native core", "durable=False", "sqlite3 WAL", "synchronous=NORMAL"),
        ("FileStore, native core", "durable=True", "FileStore, pure core", "durable=True"),
        ("FileStore, native core", "durable=False", "FileStore, pure core", "durable=False"),
    ]
    for mine, own, other, durability in pairs:
        if (mine, own) not in results:
            continue
        ratios = [
            ours / theirs
            for ours, theirs in zip(results[mine, own], results[other, durability], strict=True)
        ]
        label = f"{mine.split(', ')[1]}, {own} vs {other}, {durability}"
        print(f"{label:<60}" + "".join(f"{ratio:>10.2f}x" for ratio in ratios))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="time per sample, in seconds (default 1)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="samples per measurement, of which the median is shown",
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="folder for the store files (default: system temp)"
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="millpond-bench-", dir=args.dir))
    print(f"python {platform.python_version()} on {platform.system()}, {cpu_model()}")
    print(f"sqlite {sqlite3.sqlite_version}; files in {root} ({file_system(root)})")
    print(
        f"upserts per second, median of {args.repeat} samples of {args.seconds:g} s"
        " (higher is better)"
    )
    print()
    print(f"{'store':<24}{'durability':<20}" + "".join(f"{size:>12,}" for size in SIZES))
    try:
        native = native_core()
        results = measure_rows(store_rows(native), root, args.seconds, args.repeat)
        print_amortized(results, root, native)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print_ratios(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
