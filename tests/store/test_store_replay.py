"""Loading: journal replay over the snapshot, torn lines, temp files and interrupted compaction."""

from __future__ import annotations

from store_support import folder_bytes, journal_lines, make_record, padded

from millpond._pure.store_format import encode_journal_line, encode_snapshot
from millpond.orchestrator import RunStatus
from millpond.orchestrator._records import record_to_fields


def journal_of(store_path):
    return store_path.with_name(store_path.name + ".journal")


def test_last_write_wins_in_journal(open_store):
    store = open_store()
    store.upsert_run(make_record(1, status="running"))
    store.upsert_run(make_record(1, status="failed", error="first"))
    store.upsert_run(make_record(1, status="succeeded"))
    assert open_store().get_run("run-1").status is RunStatus.SUCCEEDED
    assert len(open_store().list_runs()) == 1


def test_journal_overrides_snapshot(open_store):
    store = open_store()
    store.upsert_run(make_record(1, status="running"))
    store.upsert_run(make_record(2))
    store.compact()
    store.upsert_run(make_record(1, status="canceled"))
    reader = open_store()
    assert reader.get_run("run-1").status is RunStatus.CANCELED
    assert reader.get_run("run-2") == make_record(2)


def test_torn_final_line_is_ignored(open_store, store_path):
    store = open_store()
    store.upsert_run(make_record(1))
    store.upsert_run(make_record(2))
    journal = journal_of(store_path)
    lines = journal_lines(journal)
    # A writer killed during its write leaves the start of a line in the padding.
    torn = padded(lines + encode_journal_line(record_to_fields(make_record(3)))[:-9])
    journal.write_bytes(torn)

    reader = open_store()
    assert [record.id for record in reader.list_runs()] == ["run-2", "run-1"]
    assert reader.get_run("run-3") is None
    assert journal.read_bytes() == torn


def test_upsert_cuts_torn_line_first(open_store, store_path):
    store = open_store()
    store.upsert_run(make_record(1))
    journal = journal_of(store_path)
    lines = journal_lines(journal)
    journal.write_bytes(padded(lines + b'{"ended_at":null,"err'))

    store.upsert_run(make_record(2))
    expected = lines + encode_journal_line(record_to_fields(make_record(2)))
    assert journal.read_bytes() == padded(expected)
    assert [record.id for record in open_store().list_runs()] == ["run-2", "run-1"]


def test_upsert_cuts_long_torn_line(open_store, store_path):
    store = open_store()
    store.upsert_run(make_record(1))
    journal = journal_of(store_path)
    lines = journal_lines(journal)
    # A killed write that was growing the file ends without padding.
    journal.write_bytes(lines + b"x" * 200_000)

    store.upsert_run(make_record(2))
    expected = lines + encode_journal_line(record_to_fields(make_record(2)))
    assert journal.read_bytes() == padded(expected)


def test_upsert_cuts_journal_of_only_torn_line(open_store, store_path):
    journal = journal_of(store_path)
    journal.write_bytes(b'{"id":"half')
    store = open_store()
    assert store.list_runs() == []
    store.upsert_run(make_record(1))
    assert journal.read_bytes() == padded(encode_journal_line(record_to_fields(make_record(1))))


def test_reader_sees_torn_line_completed_later(open_store, store_path):
    writer = open_store()
    reader = open_store()
    writer.upsert_run(make_record(1))
    journal = journal_of(store_path)
    journal.write_bytes(padded(journal_lines(journal) + b'{"id":'))
    assert [record.id for record in reader.list_runs()] == ["run-1"]
    writer.upsert_run(make_record(2))
    assert [record.id for record in reader.list_runs()] == ["run-2", "run-1"]


def test_stale_temp_files_removed_on_open(open_store, store_path):
    folder = store_path.parent
    stale = [
        folder / "state.json.tmp-123-0123456789abcdef",
        folder / "state.json.tmp-99999-ffffffffffffffff",
    ]
    kept = [
        folder / "state.json.tmp-123-0123456789abcdeg",
        folder / "state.json.tmp-x-0123456789abcdef",
        folder / "other.json.tmp-123-0123456789abcdef",
        folder / "state.json.tmp",
    ]
    for path in stale + kept:
        path.write_bytes(b"{\n  partial")
    open_store()
    assert [path.exists() for path in stale] == [False, False]
    assert [path.exists() for path in kept] == [True, True, True, True]


def test_crash_after_rename_is_harmless(open_store, store_path):
    # The snapshot already contains every journal line, as after a compaction
    # whose process died before it emptied the journal.
    records = [make_record(1, status="running"), make_record(1), make_record(2)]
    runs = {record.id: record_to_fields(record) for record in records}
    store_path.write_bytes(encode_snapshot(runs))
    journal = journal_of(store_path)
    journal.write_bytes(b"".join(encode_journal_line(record_to_fields(r)) for r in records))

    store = open_store()
    assert store.list_runs() == [make_record(2), make_record(1)]
    store.upsert_run(make_record(3))
    store.compact()
    assert journal.read_bytes() == b""
    assert open_store().list_runs() == [make_record(3), make_record(2), make_record(1)]


def test_reader_follows_other_compaction(open_store, store_path):
    writer = open_store()
    reader = open_store()
    writer.upsert_run(make_record(1))
    assert [record.id for record in reader.list_runs()] == ["run-1"]

    writer.upsert_run(make_record(2))
    writer.compact()
    writer.upsert_run(make_record(3))
    writer.upsert_run(make_record(1, status="failed"))
    assert reader.get_run("run-1").status is RunStatus.FAILED
    assert [record.id for record in reader.list_runs()] == ["run-3", "run-2", "run-1"]

    # Several compactions between two reads, with the journal regrown past
    # the length that the reader saw.
    for number in range(4, 40):
        writer.upsert_run(make_record(number))
        if number % 7 == 0:
            writer.compact()
    assert len(reader.list_runs()) == 39


def test_reader_sees_journal_created_later(open_store):
    reader = open_store()
    assert reader.list_runs() == []
    open_store().upsert_run(make_record(1))
    assert [record.id for record in reader.list_runs()] == ["run-1"]


def test_compaction_keeps_every_run(open_store, store_path):
    store = open_store(compact_bytes=2_000)
    for number in range(60):
        store.upsert_run(make_record(number, status="running"))
        store.upsert_run(make_record(number))
        journal_size = len(journal_lines(journal_of(store_path)))
        snapshot_size = store_path.stat().st_size if store_path.exists() else 0
        assert journal_size <= max(2_000, snapshot_size) + 500
    assert store_path.exists()
    assert open_store().list_runs() == [make_record(number) for number in reversed(range(60))]


def test_auto_compaction_waits_for_snapshot_size(open_store, store_path):
    store = open_store(compact_bytes=1_000)
    for number in range(50):
        store.upsert_run(make_record(number))
    store.compact()
    snapshot_size = store_path.stat().st_size
    journal = journal_of(store_path)

    # Past compact_bytes but smaller than the snapshot: no compaction yet.
    # The journal's size counts its lines, not the padding after them.
    number = 100
    while len(journal_lines(journal)) + 400 < snapshot_size:
        store.upsert_run(make_record(number))
        number += 1
    assert len(journal_lines(journal)) > 1_000
    assert store_path.stat().st_size == snapshot_size

    # The upsert that takes the journal past the snapshot's size compacts.
    while journal.stat().st_size > 0:
        store.upsert_run(make_record(number))
        number += 1
    assert store_path.stat().st_size > snapshot_size
    assert len(open_store().list_runs()) == 50 + number - 100


def test_compact_then_reopen_keeps_files_stable(open_store, store_path):
    store = open_store()
    for number in range(5):
        store.upsert_run(make_record(number))
    store.close()
    before = folder_bytes(store_path.parent)
    open_store().close()
    assert folder_bytes(store_path.parent) == before
