"""Upsert works without reading the stored runs, so its cost does not grow with them."""

from __future__ import annotations

import os

from store_support import make_record, padded, run_child

from millpond._pure.store_format import encode_journal_line
from millpond.orchestrator._records import record_to_fields

# Opening a FIFO for reading blocks until a writer opens it, so a child that
# read the snapshot during an upsert would hang until the timeout.
FIFO_CHILD = """
import os, sys
from datetime import datetime, timezone
from millpond.orchestrator import FileStore, RunRecord

started = datetime(2024, 1, 1, tzinfo=timezone.utc)
store = FileStore(sys.argv[1])
for number in range(3):
    store.upsert_run(RunRecord(f"run-{number}", "p", "j", "running", started, None, None))
print("upserted", flush=True)
os._exit(0)  # skip close(), whose compaction reads the snapshot
"""


def test_upsert_never_opens_snapshot(store_path):
    os.mkfifo(store_path)
    result = run_child(FIFO_CHILD, str(store_path), timeout=30)
    assert result.stderr == ""
    assert result.stdout == "upserted\n"
    assert store_path.with_name("state.json.journal").read_bytes().count(b"\n") == 3


def test_upsert_ignores_huge_snapshot(open_store, store_path):
    # A 64 MiB snapshot that is not valid JSON: an upsert that read it would
    # raise StoreCorruptError instead of appending.
    store_path.write_bytes(b"[" * (64 * 1024 * 1024))
    store = open_store(compact_bytes=1 << 30)
    for number in range(100):
        store.upsert_run(make_record(number))
    journal = store_path.with_name("state.json.journal").read_bytes()
    expected = b"".join(encode_journal_line(record_to_fields(make_record(n))) for n in range(100))
    assert journal == padded(expected)
