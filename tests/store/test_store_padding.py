"""The journal's padding: appends over spaces, torn lines inside them, readers, old journals."""

from __future__ import annotations

import pytest
from store_support import (
    JOURNAL_CHUNK,
    journal_lines,
    make_record,
    padded,
    start_child,
)

from millpond._pure.store_format import encode_journal_line
from millpond.orchestrator import FileStore
from millpond.orchestrator._records import record_to_fields


def line_of(record) -> bytes:
    return encode_journal_line(record_to_fields(record))


def journal_of(store_path):
    return store_path.with_name(store_path.name + ".journal")


def test_appends_fill_padding_without_growing(open_store, store_path):
    store = open_store()
    journal = journal_of(store_path)
    lines = b""
    for number in range(20):
        store.upsert_run(make_record(number))
        lines += line_of(make_record(number))
        assert journal.stat().st_size == JOURNAL_CHUNK
    assert journal.read_bytes() == padded(lines)


def test_append_past_padding_grows_to_next_chunk(open_store, store_path):
    store = open_store()
    store.upsert_run(make_record(1))
    big = make_record(2, status="failed", error="e" * (JOURNAL_CHUNK + 1_000))
    store.upsert_run(big)
    journal = journal_of(store_path)
    assert journal.stat().st_size == 2 * JOURNAL_CHUNK
    assert journal.read_bytes() == padded(line_of(make_record(1)) + line_of(big))
    assert open_store().get_run("run-2") == big


def test_short_padding_grows_to_next_chunk(open_store, store_path):
    # A writer killed while it wrote the padding leaves a file that is not
    # a whole number of chunks.
    journal = journal_of(store_path)
    lines = line_of(make_record(1))
    journal.write_bytes(lines + b" " * 10)
    store = open_store()
    store.upsert_run(make_record(2))
    assert journal.read_bytes() == padded(lines + line_of(make_record(2)))


def test_upsert_returns_line_end_not_file_size(core_class, store_path):
    core = core_class(str(store_path))
    first, second = line_of(make_record(1)), line_of(make_record(2))
    assert core.upsert_record(make_record(1)) == len(first)
    assert core.upsert_record(make_record(2)) == len(first) + len(second)
    # compact() measures the lines too, not the padding.
    assert core.compact(min_journal_bytes=len(first) + len(second) + 1) is False
    assert core.compact(min_journal_bytes=len(first) + len(second)) is True
    core.close()


def test_torn_line_inside_padding_is_overwritten(open_store, store_path):
    writer = open_store()
    writer.upsert_run(make_record(1))
    journal = journal_of(store_path)
    lines = journal_lines(journal)

    # A killed writer left the start of its line in the padding, and the
    # file kept its size.
    torn = padded(lines + line_of(make_record(2))[:50])
    journal.write_bytes(torn)
    reader = open_store()
    assert [record.id for record in reader.list_runs()] == ["run-1"]
    assert journal.read_bytes() == torn

    # The next append writes where the torn line started.
    writer.upsert_run(make_record(3))
    assert journal.read_bytes() == padded(lines + line_of(make_record(3)))
    assert [record.id for record in reader.list_runs()] == ["run-3", "run-1"]


def test_garbage_after_padding_is_never_read(open_store, store_path):
    # Bytes after the last newline belong to the final line, which readers
    # skip, whatever follows the spaces there.
    store = open_store()
    store.upsert_run(make_record(1))
    journal = journal_of(store_path)
    data = bytearray(journal.read_bytes())
    data[-5:] = b'{"id"'
    journal.write_bytes(bytes(data))

    store.upsert_run(make_record(2))
    assert [record.id for record in open_store().list_runs()] == ["run-2", "run-1"]
    assert journal.read_bytes().endswith(b'{"id"')


def test_compaction_empties_journal_and_padding(open_store, store_path):
    store = open_store()
    for number in range(3):
        store.upsert_run(make_record(number))
    store.compact()
    journal = journal_of(store_path)
    assert journal.read_bytes() == b""
    store.upsert_run(make_record(9))
    assert journal.read_bytes() == padded(line_of(make_record(9)))
    assert len(open_store().list_runs()) == 4


def test_unpadded_journal_is_read_and_extended(open_store, store_path):
    # Journals written before the padding: lines only, maybe a torn tail.
    journal = journal_of(store_path)
    lines = b"".join(line_of(make_record(number)) for number in range(3))
    journal.write_bytes(lines + b'{"id":"torn')
    store = open_store()
    assert [record.id for record in store.list_runs()] == ["run-2", "run-1", "run-0"]
    store.upsert_run(make_record(3))
    assert journal.read_bytes() == padded(lines + line_of(make_record(3)))
    assert len(open_store().list_runs()) == 4


def test_repair_does_not_count_padding(open_store, store_path):
    store = open_store()
    for number in range(3):
        store.upsert_run(make_record(number))
    journal = journal_of(store_path)
    lines = journal_lines(journal).split(b"\n")
    lines[1] = b"damaged"
    journal.write_bytes(padded(b"\n".join(lines)))
    report = FileStore.repair(store_path)
    assert report.dropped_lines == 1
    assert {record.id for record in open_store().list_runs()} == {"run-0", "run-2"}


def test_repair_counts_torn_line_inside_padding(open_store, store_path):
    journal = journal_of(store_path)
    lines = b"damaged\n" + line_of(make_record(1))
    journal.write_bytes(padded(lines + b'{"id":'))
    report = FileStore.repair(store_path)
    assert report.dropped_lines == 2
    assert [record.id for record in open_store().list_runs()] == ["run-1"]


# Reads the store at each line on stdin and prints the ids it finds.
READER = """
import sys
from millpond.orchestrator import FileStore

store = FileStore(sys.argv[1])
for _ in sys.stdin:
    print(",".join(sorted(record.id for record in store.list_runs())), flush=True)
"""


@pytest.mark.parametrize("pure", [True, False], ids=["pure-reader", "native-reader"])
def test_reader_process_sees_append_without_size_change(open_store, store_path, pure):
    writer = open_store()
    writer.upsert_run(make_record(1))
    reader = start_child(READER, str(store_path), pure=pure)

    def read_ids() -> str:
        reader.stdin.write("read\n")
        reader.stdin.flush()
        return reader.stdout.readline().strip()

    try:
        assert read_ids() == "run-1"
        journal = journal_of(store_path)
        size = journal.stat().st_size
        for number in range(2, 5):
            writer.upsert_run(make_record(number))
            assert journal.stat().st_size == size
            expected = ",".join(f"run-{n}" for n in range(1, number + 1))
            assert read_ids() == expected
    finally:
        _, errors = reader.communicate(timeout=30)
    assert (reader.returncode, errors) == (0, "")
