"""Damaged files: a clear error that names file and line, untouched files, and repair."""

from __future__ import annotations

import logging
import pickle
import re

import pytest
from store_support import folder_bytes, make_record, padded

from millpond._pure.store_format import encode_journal_line
from millpond.orchestrator import FileStore, RepairReport, StoreCorruptError
from millpond.orchestrator._records import record_to_fields


def line_of(record):
    return encode_journal_line(record_to_fields(record))


def build_store(store_path, snapshot_count=3, journal_count=3):
    """Write a snapshot with runs 0.. and a journal with the runs after them."""
    with FileStore(store_path) as store:
        for number in range(snapshot_count):
            store.upsert_run(make_record(number))
    journal = store_path.with_name("state.json.journal")
    journal.write_bytes(
        b"".join(line_of(make_record(snapshot_count + n)) for n in range(journal_count))
    )
    return journal


def damage_truncated_snapshot(store_path, journal):
    store_path.write_bytes(b"\n".join(store_path.read_bytes().split(b"\n")[:15]) + b"\n")
    return store_path, 16, "invalid JSON: unexpected end of file"


def damage_garbage_snapshot(store_path, journal):
    store_path.write_bytes(b"not json at all\n")
    return store_path, 1, "invalid JSON"


def damage_empty_snapshot(store_path, journal):
    store_path.write_bytes(b"")
    return store_path, None, "empty file"


def damage_wrong_version(store_path, journal):
    store_path.write_bytes(store_path.read_bytes().replace(b'"version": 1', b'"version": 2'))
    return store_path, None, "unsupported version 2: expected 1"


def damage_invalid_utf8(store_path, journal):
    store_path.write_bytes(store_path.read_bytes().replace(b"job-1", b"job-\xff"))
    return store_path, 17, "invalid UTF-8"


def damage_bad_status_in_snapshot(store_path, journal):
    store_path.write_bytes(store_path.read_bytes().replace(b'"succeeded"', b'"done"', 1))
    return store_path, None, 'run "run-0": field "status" must be'


def damage_journal_middle_line(store_path, journal):
    lines = journal.read_bytes().split(b"\n")
    lines[1] = lines[1][:40]
    journal.write_bytes(b"\n".join(lines))
    return journal, 2, "invalid JSON: unexpected end of line"


def damage_journal_not_a_record(store_path, journal):
    lines = journal.read_bytes().split(b"\n")
    lines[2] = b'{"id": "run-9"}'
    journal.write_bytes(b"\n".join(lines))
    return journal, 3, 'missing field "pipeline_name"'


def damage_journal_empty_line(store_path, journal):
    journal.write_bytes(b"\n" + journal.read_bytes())
    return journal, 1, "empty line"


def damage_journal_bad_line_and_torn_tail(store_path, journal):
    journal.write_bytes(b"[]\n" + journal.read_bytes() + b'{"id":')
    return journal, 1, "not a JSON object"


DAMAGE = [
    damage_truncated_snapshot,
    damage_garbage_snapshot,
    damage_empty_snapshot,
    damage_wrong_version,
    damage_invalid_utf8,
    damage_bad_status_in_snapshot,
    damage_journal_middle_line,
    damage_journal_not_a_record,
    damage_journal_empty_line,
    damage_journal_bad_line_and_torn_tail,
]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda damage: damage.__name__[7:])
def test_damage_reported_files_untouched(open_store, store_path, damage):
    journal = build_store(store_path)
    damaged, line, reason = damage(store_path, journal)
    before = folder_bytes(store_path.parent)

    store = open_store()
    for read in (store.list_runs, lambda: store.get_run("run-0"), store.compact, store.close):
        with pytest.raises(StoreCorruptError) as caught:
            read()
        error = caught.value
        assert error.path == str(damaged)
        assert error.line == line
        assert error.reason.startswith(reason)
        assert error.store_path == str(store_path)
        assert str(damaged) in str(error)
        assert f"FileStore.repair({str(store_path)!r})" in str(error)
    assert folder_bytes(store_path.parent) == before


def test_error_message_and_pickle(open_store, store_path):
    journal = build_store(store_path)
    damage_journal_middle_line(store_path, journal)
    with pytest.raises(StoreCorruptError) as caught:
        open_store().list_runs()
    error = caught.value
    assert isinstance(error, ValueError)
    assert str(error).startswith(f"{journal} line 2: invalid JSON: unexpected end of line. ")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - the bytes were made just above
    assert (copy.path, copy.line, copy.reason, str(copy)) == (
        error.path,
        error.line,
        error.reason,
        str(error),
    )


def test_upsert_into_damaged_store(open_store, store_path, caplog):
    journal = build_store(store_path)
    damage_garbage_snapshot(store_path, journal)
    store = open_store(compact_bytes=10)
    before = journal.read_bytes()
    with caplog.at_level(logging.WARNING, logger="millpond.orchestrator"):
        store.upsert_run(make_record(50))
    assert journal.read_bytes() == padded(before + line_of(make_record(50)))
    assert "compaction of store" in caplog.text
    assert "invalid JSON" in caplog.text

    # The failed compaction backs off instead of rewriting at every upsert.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="millpond.orchestrator"):
        store.upsert_run(make_record(51))
    assert caplog.text == ""


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda damage: damage.__name__[7:])
def test_repair_keeps_parsable_records(open_store, store_path, damage):
    journal = build_store(store_path)
    damaged, _, _ = damage(store_path, journal)
    original = damaged.read_bytes()

    report = FileStore.repair(store_path)
    assert len(report.moved) == 1
    moved = report.moved[0]
    assert re.fullmatch(re.escape(damaged.name) + r"\.corrupt-\d{8}T\d{6}Z", moved.name)
    assert moved.read_bytes() == original

    runs = {record.id for record in open_store().list_runs()}
    assert report.kept == len(runs)
    if damaged == journal:
        # Every snapshot run, and each journal line except the damaged one.
        assert {"run-0", "run-1", "run-2"} <= runs
        assert len(runs & {"run-3", "run-4", "run-5"}) >= 2
        assert not journal.exists()
        assert report.dropped_lines >= 1
    else:
        assert {"run-3", "run-4", "run-5"} <= runs
        assert journal.read_bytes() == b""
        assert report.dropped_lines == 0
    assert FileStore.repair(store_path) == RepairReport(report.kept, 0, ())


def test_repair_of_truncated_snapshot(open_store, store_path):
    journal = build_store(store_path, snapshot_count=20, journal_count=2)
    data = store_path.read_bytes()
    store_path.write_bytes(data[: data.index(b'"run-15"') + 30])
    report = FileStore.repair(store_path)
    # Runs are in id order, so "run-0", "run-1" and "run-10" to "run-14" come first.
    expected = {f"run-{number}" for number in [0, 1, 10, 11, 12, 13, 14, 20, 21]}
    assert {record.id for record in open_store().list_runs()} == expected
    assert report.kept == len(expected)
    assert journal.read_bytes() == b""


def test_repair_counts_dropped_lines(open_store, store_path):
    journal = build_store(store_path, journal_count=4)
    lines = journal.read_bytes().split(b"\n")
    lines[0] = b"garbage"
    lines[2] = b"[1, 2]"
    journal.write_bytes(b"\n".join(lines) + b'{"torn":')
    report = FileStore.repair(store_path)
    assert report.dropped_lines == 3
    assert {record.id for record in open_store().list_runs()} == {
        "run-0",
        "run-1",
        "run-2",
        "run-4",
        "run-6",
    }


def test_repair_twice_uses_new_names(store_path):
    journal = build_store(store_path)
    journal.write_bytes(b"bad\n")
    first = FileStore.repair(store_path).moved
    journal.write_bytes(b"bad again\n")
    second = FileStore.repair(store_path).moved
    assert first[0] != second[0]
    assert first[0].read_bytes() == b"bad\n"
    assert second[0].read_bytes() == b"bad again\n"


def test_repair_of_both_files(open_store, store_path):
    journal = build_store(store_path)
    store_path.write_bytes(b"{")
    journal.write_bytes(journal.read_bytes() + b"\x00\n")
    report = FileStore.repair(store_path)
    assert sorted(path.name.split(".corrupt-")[0] for path in report.moved) == [
        "state.json",
        "state.json.journal",
    ]
    assert {record.id for record in open_store().list_runs()} == {"run-3", "run-4", "run-5"}


def test_repair_of_undamaged_store_changes_nothing(store_path):
    build_store(store_path)
    before = folder_bytes(store_path.parent)
    assert FileStore.repair(store_path) == RepairReport(kept=6, dropped_lines=0, moved=())
    assert folder_bytes(store_path.parent) == before


def test_repair_while_store_is_open_elsewhere(open_store, store_path):
    journal = build_store(store_path)
    other = open_store()
    other.upsert_run(make_record(10))
    journal.write_bytes(journal.read_bytes() + b"bad line\n")
    FileStore.repair(store_path)

    # The open store notices the journal was moved aside and starts a new one.
    other.upsert_run(make_record(11))
    assert journal.read_bytes() == padded(line_of(make_record(11)))
    ids = {record.id for record in other.list_runs()}
    assert ids == {f"run-{number}" for number in [0, 1, 2, 3, 4, 5, 10, 11]}
