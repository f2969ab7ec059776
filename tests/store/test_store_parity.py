"""Parity of the two FileStore cores: same files, same results, same errors, shared stores."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_support import folder_bytes, padded, start_child

from millpond._pure.store_format import FIELDS, encode_journal_line, encode_snapshot
from millpond.orchestrator import FileStore, RunRecord, RunStatus, StoreCorruptError
from millpond.orchestrator._records import record_to_fields

# Characters that exercise the encoders: escapes, DEL, line separators,
# non-ASCII and astral characters. Lone surrogates cannot be encoded and are
# tested separately.
TEXT_CHARACTERS = st.characters(codec="utf-8")
SPECIAL_TEXT = st.sampled_from(
    ['"', "\\", "\n", "\x00", "\x1f", "\x7f", "\u2028", "\u2029", "é", "\U0001f600", " "]
)
texts = st.lists(TEXT_CHARACTERS | SPECIAL_TEXT, max_size=12).map("".join)

# Record times lie far from the retention cutoffs used below (now, and now
# minus 100 years), so the microseconds between the two cores' clocks never
# change which runs are kept.
times = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:06d}Z".format,
    st.sampled_from([1990, 2004, 2010, 2040, 2050]),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999_999),
)
CENTURY_US = 100 * 366 * 24 * 3600 * 10**6

run_ids = st.sampled_from(["run-1", "run-2", "ünï-✓", "a\u2028b", 'q"\\', "\x7f", "z" * 50])
valid_records = st.fixed_dictionaries(
    {
        "id": run_ids | texts.map("id-{}".format),
        "pipeline_name": st.sampled_from(["orders", "café", "p\x01"]),
        "job_id": st.sampled_from(["job-a", "job\tb"]),
        "status": st.sampled_from(["running", "succeeded", "failed", "canceled"]),
        "started_at": times,
        "ended_at": st.none() | times,
        "error": st.none() | texts,
        "scheduled_for": st.none() | times,
    }
)


def spoil(record: dict[str, Any], change: tuple[str, object]) -> dict[str, Any]:
    """Return `record` with one field replaced, or removed when the value is `...`."""
    name, value = change
    spoiled = dict(record)
    if value is ...:
        spoiled.pop(name, None)
    else:
        spoiled[name] = value
    return spoiled


bad_values = st.sampled_from(
    [
        ...,
        None,
        "",
        " \u3000",
        "done",
        "2024-02-30T00:00:00.000000Z",
        "x\ud800",
        1,
        ["x"],
    ]
)
invalid_records = st.builds(
    spoil, valid_records, st.tuples(st.sampled_from([*FIELDS, "extra"]), bad_values)
)

retentions = st.fixed_dictionaries(
    {
        "durable": st.booleans(),
        "keep_last": st.none() | st.integers(1, 3),
        "max_age_us": st.none() | st.sampled_from([1, CENTURY_US]),
    }
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), valid_records),
        st.tuples(st.just("upsert"), valid_records),
        st.tuples(st.just("upsert"), invalid_records),
        st.tuples(st.just("compact"), st.sampled_from([0, 1, 600])),
        st.tuples(st.just("reopen"), retentions),
        st.tuples(st.just("get"), run_ids),
        st.tuples(st.just("close"), st.none()),
    ),
    max_size=25,
)


def outcome(call: Any, *args: Any, **kwargs: Any) -> tuple[str, object]:
    """Return ("ok", result) or ("error", (type name, message)) of a call."""
    try:
        return ("ok", call(*args, **kwargs))
    except (OSError, ValueError, TypeError) as error:
        return ("error", (type(error).__name__, str(error)))


@dataclass
class Twin:
    """One core class, its folder, and the core open in it (None when closed)."""

    core_class: type
    folder: Path
    options: dict[str, Any] = field(default_factory=dict)
    core: Any = None

    @property
    def path(self) -> str:
        return str(self.folder / "state.json")

    def open(self, options: dict[str, Any]) -> None:
        self.options = options
        self.core = self.core_class(self.path, **options)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[str, object]:
        result = outcome(getattr(self.core, name), *args, **kwargs)
        # Messages name the store's own path, which differs between the twins.
        if result[0] == "error":
            kind, message = result[1]  # type: ignore[misc]
            return ("error", (kind, message.replace(str(self.folder), "<folder>")))
        return result


def runs_by_id(records: list[dict[str, str | None]]) -> dict[str | None, dict[str, str | None]]:
    return {record["id"]: record for record in records}


@pytest.fixture(scope="module")
def parity_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parity")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=retentions, steps=operations)
def test_random_operations_same_files(native, pure, parity_root, first, steps):
    # Fresh folders for each example, because hypothesis reuses the fixtures.
    for name in ("native", "pure"):
        shutil.rmtree(parity_root / name, ignore_errors=True)
        (parity_root / name).mkdir()
    twins = [
        Twin(native.FileStoreCore, parity_root / "native"),
        Twin(pure.FileStoreCore, parity_root / "pure"),
    ]
    for twin in twins:
        twin.open(first)

    try:
        for step, (operation, argument) in enumerate(steps):
            results = apply_to_both(twins, operation, argument)
            assert results[0] == results[1], (step, operation, results)

            # Files and contents after every step.
            native_files, pure_files = (folder_bytes(twin.folder) for twin in twins)
            assert native_files == pure_files, (step, operation)
            native_runs, pure_runs = (twin.call("records") for twin in twins)
            if native_runs[0] == "ok":
                native_runs = ("ok", runs_by_id(native_runs[1]))  # type: ignore[arg-type]
                pure_runs = ("ok", runs_by_id(pure_runs[1]))  # type: ignore[arg-type]
            assert native_runs == pure_runs, (step, operation)
    finally:
        for twin in twins:
            with contextlib.suppress(Exception):
                twin.core.close()


def apply_to_both(twins: list[Twin], operation: str, argument: Any) -> list[tuple[str, object]]:
    """Apply one operation to each twin and return the outcomes, native first."""
    if operation == "upsert":
        return [twin.call("upsert", argument) for twin in twins]
    if operation == "compact":
        return [twin.call("compact", min_journal_bytes=argument) for twin in twins]
    if operation == "get":
        return [twin.call("get", argument) for twin in twins]
    if operation == "close":
        closed = [twin.call("close") for twin in twins]
        return [(*closed[0], *twins[0].call("records")), (*closed[1], *twins[1].call("records"))]
    results = [twin.call("close") for twin in twins]
    for twin in twins:
        twin.open(argument)
    return results


# --- Damage -------------------------------------------------------------------

RECORD = {
    "id": "run-0",
    "pipeline_name": "orders",
    "job_id": "job-0",
    "status": "succeeded",
    "started_at": "2024-01-01T02:00:00.000000Z",
    "ended_at": "2024-01-01T02:00:30.000000Z",
    "error": None,
    "scheduled_for": None,
}


def sample_files(count: int) -> tuple[bytes, bytes]:
    """Return a snapshot of runs 0.. and a journal of as many runs after them."""
    runs = {f"run-{n}": {**RECORD, "id": f"run-{n}", "error": f"é\n{n}"} for n in range(count)}
    journal = b"".join(
        encode_journal_line({**RECORD, "id": f"run-{count + n}", "status": "failed"})
        for n in range(count)
    )
    return encode_snapshot(runs), journal


def damage(data: bytes, kind: str, position: int, byte: int) -> bytes:
    position = min(position, len(data))
    if kind == "cut":
        return data[:position]
    if kind == "delete":
        return data[:position] + data[position + 1 :]
    if kind == "insert":
        return data[:position] + bytes([byte]) + data[position:]
    return data[:position] + bytes([byte]) + data[position + 1 :]


damages = st.tuples(
    st.sampled_from(["cut", "delete", "insert", "replace"]),
    st.integers(0, 2_000),
    st.sampled_from([*b'{}[]:,"\\ 0-eEnN\n\xff\xc3\x001']),
)


def normalized_folder(folder: Path) -> dict[str, bytes]:
    """Return the folder's files with the time stamp of moved-aside names removed."""
    return {
        re.sub(r"\.corrupt-\d{8}T\d{6}Z", ".corrupt-<stamp>", name): data
        for name, data in folder_bytes(folder).items()
    }


def both_outcomes(native, pure, root: Path, snapshot: bytes | None, journal: bytes | None):
    """Write the same files for each core, then read and repair; return both outcomes."""
    results = []
    for name, module in (("native", native), ("pure", pure)):
        folder = root / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        path = folder / "state.json"
        if snapshot is not None:
            path.write_bytes(snapshot)
        if journal is not None:
            path.with_name("state.json.journal").write_bytes(journal)
        twin = Twin(module.FileStoreCore, folder)
        twin.open({})
        read = twin.call("records")
        if read[0] == "ok":
            read = ("ok", runs_by_id(read[1]))  # type: ignore[arg-type]
        twin.core.close() if read[0] == "ok" else None
        report = module.FileStoreCore.repair(str(path))
        report["moved"] = [
            re.sub(r"\.corrupt-\d{8}T\d{6}Z", ".corrupt-<stamp>", Path(moved).name)
            for moved in report["moved"]
        ]
        after = Twin(module.FileStoreCore, folder)
        after.open({})
        runs = runs_by_id(after.core.records())
        after.core.close()
        results.append((read, report, runs, normalized_folder(folder)))
    return results


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.tuples(st.integers(0, 4), st.none() | damages, st.none() | damages, st.booleans()))
def test_random_damage_same_errors_and_repair(native, pure, parity_root, case):
    count, snapshot_damage, journal_damage, pad = case
    snapshot, journal = sample_files(count)
    if pad:
        journal = padded(journal)
    if snapshot_damage is not None:
        snapshot = damage(snapshot, *snapshot_damage)
    if journal_damage is not None:
        journal = damage(journal, *journal_damage)
    native_result, pure_result = both_outcomes(native, pure, parity_root, snapshot, journal)
    assert native_result[0] == pure_result[0]
    assert native_result[1] == pure_result[1]
    assert native_result[2] == pure_result[2]
    assert native_result[3] == pure_result[3]


DAMAGED_FILES = {
    "empty snapshot": (b"", None),
    "truncated snapshot": (sample_files(3)[0][:200], None),
    "wrong version": (sample_files(2)[0].replace(b'"version": 1', b'"version": 1.0'), None),
    "bad record": (sample_files(2)[0].replace(b'"succeeded"', b'"done"'), None),
    "deep nesting": (b'{"runs": {}, "version": 1, "x": ' + b"[" * 20 + b"]" * 20 + b"}", None),
    "duplicate key": (b'{"runs": {}, "runs": {}, "version": 1}', None),
    "lone surrogate": (b'{"runs": {}, "version": 1, "x": "\\udc00"}', None),
    "invalid utf-8": (sample_files(2)[0].replace(b"orders", b"ord\xffrs", 1), None),
    "journal empty line": (None, b"\n" + sample_files(2)[1]),
    "journal bad line": (None, sample_files(3)[1].replace(b'"failed"', b'"x"', 1)),
    "journal extra field": (None, b'{"id": "a", "zz": 1, "aa": 2}\n'),
    "journal torn tail only": (None, sample_files(2)[1] + b'{"id":'),
    "journal torn inside padding": (None, padded(sample_files(2)[1] + b'{"id":')),
    "journal bad line and padding": (
        None,
        padded(sample_files(3)[1].replace(b'"failed"', b'"x"', 1)),
    ),
    "journal newline inside padding": (None, padded(sample_files(2)[1]) + b"\n"),
}


@pytest.mark.parametrize("files", DAMAGED_FILES.values(), ids=DAMAGED_FILES.keys())
def test_damage_same_error_and_repair(native, pure, parity_root, files):
    native_result, pure_result = both_outcomes(native, pure, parity_root, *files)
    assert native_result[0] == pure_result[0]
    assert native_result[1] == pure_result[1]
    assert native_result[2] == pure_result[2]
    assert native_result[3] == pure_result[3]


def test_damage_raises_shared_error_class(native, tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(b"{")
    core = native.FileStoreCore(str(path))
    with pytest.raises(StoreCorruptError) as caught:
        core.records()
    assert (caught.value.path, caught.value.line) == (str(path), 1)
    assert caught.value.reason == "invalid JSON: unexpected end of file"
    assert native.StoreCorruptError is StoreCorruptError


# --- Arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        (1, {}),
        ("state.json", {"keep_last": 0}),
        ("state.json", {"keep_last": True}),
        ("state.json", {"max_age_us": 1.5}),
        ("state.json", {"max_age_us": -(10**30)}),
        ("missing/state.json", {}),
        ("state.json\0", {}),
    ],
)
def test_constructor_errors_match(native, pure, tmp_path, name, options):
    path = name if isinstance(name, int) else str(tmp_path / name)
    results = [outcome(module.FileStoreCore, path, **options) for module in (native, pure)]
    assert results[0] == results[1]
    assert results[0][0] == "error"


def test_folder_errors_match(native, pure, tmp_path):
    (tmp_path / "file").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    for path in (tmp_path / "file" / "state.json", tmp_path / "folder"):
        results = [outcome(module.FileStoreCore, str(path)) for module in (native, pure)]
        assert results[0] == results[1]
        assert results[0][0] == "error"


def test_closed_and_type_errors_match(native, pure, tmp_path):
    results = []
    for module in (native, pure):
        core = module.FileStoreCore(str(tmp_path / "state.json"))
        results.append(
            [
                outcome(core.upsert, ["not", "a", "dict"]),
                outcome(core.get, 5),
                outcome(core.upsert, {**RECORD, "id": "a\ud800"}),
                outcome(core.close),
                outcome(core.close),
                outcome(core.records),
                outcome(core.upsert, 5),
            ]
        )
    assert results[0] == results[1]


def test_compact_thresholds_match(native, pure, tmp_path):
    results = []
    for module in (native, pure):
        core = module.FileStoreCore(str(tmp_path / "state.json"))
        results.append(
            [
                outcome(core.upsert, RECORD),
                *(
                    outcome(core.compact, min_journal_bytes=threshold)
                    for threshold in (10**30, 0.5, float("nan"), True, -(10**30), "1", None)
                ),
            ]
        )
        core.close()
        results[-1].append(outcome(core.compact, min_journal_bytes="1"))
    assert results[0] == results[1]


# --- Processes ------------------------------------------------------------------

WRITER = """
import sys
from datetime import datetime, timedelta, timezone
import millpond
from millpond.orchestrator import FileStore, RunRecord

path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = FileStore(path, durable=False, compact_bytes=2048)
print(millpond.BACKEND, flush=True)
sys.stdin.readline()
for number in range(count):
    run_id = f"{name}-{number}"
    started = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=number)
    store.upsert_run(RunRecord(run_id, name, "job", "running", started, None, "é\\u2028"))
    store.upsert_run(RunRecord(run_id, name, "job", "succeeded", started, started, None))
    if number % 25 == 0:
        store.compact()
        seen = {record.id for record in store.list_runs(pipeline=name)}
        if len(seen) != number + 1:
            print("lost", number, len(seen), flush=True)
            sys.exit(1)
store.close()
print("done", flush=True)
"""


def test_native_and_pure_processes_share_store(native, tmp_path):
    store_path = tmp_path / "state.json"
    count = 200
    writers = {
        backend: start_child(WRITER, str(store_path), backend, str(count), pure=backend == "pure")
        for backend in ("native", "pure")
    }
    for backend, writer in writers.items():
        assert writer.stdout.readline() == f"{backend}\n", writer.stderr.read()
    for writer in writers.values():
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers.values():
        output, errors = writer.communicate(timeout=60)
        assert (writer.returncode, output, errors) == (0, "done\n", "")

    for module in (native, pytest.importorskip("millpond._pure")):
        core = module.FileStoreCore(str(store_path))
        records = core.records()
        core.close()
        ids = [record["id"] for record in records]
        assert len(ids) == 2 * count
        assert len(set(ids)) == len(ids)
        assert {record["status"] for record in records} == {"succeeded"}
    with FileStore(store_path) as store:
        assert len(store.list_runs(pipeline="native")) == count
        assert len(store.list_runs(pipeline="pure")) == count


# --- RunRecord conversion ---------------------------------------------------------

ODD_ZONES = st.sampled_from(
    [timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11, seconds=1))]
)
# Any UTC instant from year 1 to 9999, and local times a day inside that
# range, which the RunRecord constructor converts to UTC.
utc_times = st.datetimes().map(lambda naive: naive.replace(tzinfo=timezone.utc))
local_times = st.datetimes(
    min_value=datetime.min + timedelta(days=1),  # noqa: DTZ901 (hypothesis adds the zone)
    max_value=datetime.max - timedelta(days=1),  # noqa: DTZ901 (as above)
    timezones=ODD_ZONES,
)
record_times = utc_times | local_times
# Error texts with lone surrogates and surrogate pairs, which the constructor replaces.
error_texts = st.lists(
    TEXT_CHARACTERS | SPECIAL_TEXT | st.sampled_from(["\ud800", "\udfff", "\ud83d\ude00"]),
    max_size=12,
).map("".join)
run_records = st.builds(
    RunRecord,
    id=run_ids | texts.map("id-{}".format),
    pipeline_name=st.sampled_from(["orders", "café", "p\x01", "\u2028x"]),
    job_id=st.sampled_from(["job-a", "job\tb"]),
    status=st.sampled_from([*RunStatus, "running", "canceled"]),
    started_at=record_times,
    ended_at=st.none() | record_times,
    error=st.none() | error_texts,
    scheduled_for=st.none() | record_times,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(run_records, min_size=1, max_size=6))
def test_run_records_same_journal_bytes(native, pure, parity_root, records):
    expected = b"".join(encode_journal_line(record_to_fields(record)) for record in records)
    for name, module in (("native", native), ("pure", pure)):
        folder = parity_root / f"records-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        core = module.FileStoreCore(str(folder / "state.json"), durable=False)
        sizes = [core.upsert_record(record) for record in records]
        journal = (folder / "state.json.journal").read_bytes()
        # Compare before close, which compacts.
        assert journal == padded(expected), name
        assert sizes[-1] == len(expected), name
        core.close()


def altered(record: RunRecord, **changes: object) -> RunRecord:
    """Return a copy of `record` with attributes set past the constructor's checks."""
    copy = RunRecord(**{name: getattr(record, name) for name in FIELDS})
    for name, value in changes.items():
        object.__setattr__(copy, name, value)
    return copy


class RecordSubclass(RunRecord):
    __slots__ = ()


class TimeSubclass(datetime):
    pass


VALID_RECORD = RunRecord(
    "run-0", "orders", "job-0", "failed", datetime(2024, 1, 1, tzinfo=timezone.utc), None, "e"
)
ODD_OBJECTS = {
    "plain str status": altered(VALID_RECORD, status="running"),
    "bad status": altered(VALID_RECORD, status="done"),
    "blank id": altered(VALID_RECORD, id=" "),
    "id with lone surrogate": altered(VALID_RECORD, id="a\ud800"),
    "int job id": altered(VALID_RECORD, job_id=5),
    "local time": altered(
        VALID_RECORD, started_at=datetime(2024, 1, 1, 3, tzinfo=timezone(timedelta(hours=3)))
    ),
    "naive time": altered(VALID_RECORD, ended_at=datetime(2024, 1, 1)),  # noqa: DTZ001 (the case)
    "str time": altered(VALID_RECORD, ended_at="2024-01-01T00:00:00.000000Z"),
    "no start": altered(VALID_RECORD, started_at=None),
    "datetime subclass": altered(
        VALID_RECORD, scheduled_for=TimeSubclass(2024, 1, 1, tzinfo=timezone.utc)
    ),
    "subclass": RecordSubclass(*(getattr(VALID_RECORD, name) for name in FIELDS)),
    "not a record": {"id": "run-0"},
}


@pytest.mark.parametrize("record", ODD_OBJECTS.values(), ids=ODD_OBJECTS.keys())
def test_odd_run_records_same_outcome(native, pure, tmp_path, record):
    results = []
    for name, module in (("native", native), ("pure", pure)):
        folder = tmp_path / name
        folder.mkdir()
        core = module.FileStoreCore(str(folder / "state.json"))
        try:
            result = ("ok", core.upsert_record(record))
        except (AttributeError, TypeError, ValueError) as error:
            result = ("error", (type(error).__name__, str(error)))
        results.append((result, folder_bytes(folder)))
        core.close()
    assert results[0] == results[1]


# --- Paths ---------------------------------------------------------------------


def test_non_utf8_paths_work_alike(native, pure, tmp_path):
    # Linux file names are bytes. os.fsdecode turns the ones that are not
    # UTF-8 into a str with surrogate escapes, which both cores take.
    results = []
    for name, module in (("native", native), ("pure", pure)):
        root = tmp_path / name
        folder = root / os.fsdecode(b"runs-\xff")
        folder.mkdir(parents=True)
        path = str(folder / os.fsdecode(b"state-\xfe.json"))

        core = module.FileStoreCore(path)
        steps = [
            outcome(core.upsert_record, VALID_RECORD),
            outcome(lambda: [sorted(record.items()) for record in core.records()]),  # noqa: B023 (called at once)
            outcome(core.compact),
            outcome(core.close),
            outcome(core.records),
        ]
        (folder / os.fsdecode(b"state-\xfe.json.journal")).write_bytes(b"damaged\n")
        steps.append(outcome(module.FileStoreCore(path).records))
        steps.append(outcome(module.FileStoreCore.repair, path))
        steps.append(outcome(module.FileStoreCore, str(folder / os.fsdecode(b"no-\xfd") / "s")))
        text = repr(steps).replace(repr(str(root))[1:-1], "<root>")
        names = sorted(os.fsencode(entry.name) for entry in folder.iterdir())
        names = [re.sub(rb"\d{8}T\d{6}Z", b"<stamp>", entry) for entry in names]
        results.append((text, names))
    assert results[0] == results[1]
    assert "<root>/runs-\\udcff/state-\\udcfe.json" in results[0][0]
    assert results[0][1] == [
        b"state-\xfe.json",
        b"state-\xfe.json.journal.corrupt-<stamp>",
        b"state-\xfe.json.lock",
    ]
