"""A full disk: an upsert or a compaction that cannot write raises and changes nothing."""

from __future__ import annotations

import sys

import pytest
from store_support import folder_bytes, make_record, run_child

from millpond.orchestrator import FileStore

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="RLIMIT_FSIZE and SIGXFSZ are POSIX only"
)

# Limits the size of any file the child writes. With SIGXFSZ ignored, a
# write past the limit fails with EFBIG, as a write to a full disk fails
# with ENOSPC.
LIMITED_WRITER = """
import errno, os, resource, signal, sys
from datetime import datetime, timezone
from millpond.orchestrator import FileStore, RunRecord
import millpond._pure.file_store

path, action, limit, durable = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
store = FileStore(path, durable=durable, compact_bytes=1 << 30)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
started = datetime(2024, 1, 1, tzinfo=timezone.utc)
try:
    if action == "upsert":
        store.upsert_run(RunRecord("big", "p", "j", "failed", started, started, "e" * 100_000))
    else:
        store.compact()
except OSError as error:
    print("OSError", errno.errorcode[error.errno])
else:
    print("no error")
os._exit(0)  # skip close(), which would compact under the same limit
"""


def build_store(store_path):
    with FileStore(store_path) as store:
        for number in range(30):
            store.upsert_run(make_record(number))
    store = FileStore(store_path)
    for number in range(30, 35):
        store.upsert_run(make_record(number))
    return store


@pytest.mark.parametrize("durable", [True, False])
@pytest.mark.parametrize("room", [0, 1_000])
def test_upsert_full_disk_keeps_state(core_class, store_path, durable, room):
    reader = build_store(store_path)
    before = folder_bytes(store_path.parent)
    journal_size = store_path.with_name("state.json.journal").stat().st_size

    result = run_child(
        LIMITED_WRITER, str(store_path), "upsert", str(journal_size + room), str(int(durable))
    )
    assert (result.stdout, result.stderr) == ("OSError EFBIG\n", "")
    assert folder_bytes(store_path.parent) == before
    assert [run.id for run in reader.list_runs()] == [f"run-{n}" for n in range(34, -1, -1)]
    reader.close()


@pytest.mark.parametrize("limit", [0, 2_000])
def test_compaction_full_disk_keeps_state(core_class, store_path, limit):
    reader = build_store(store_path)
    before = folder_bytes(store_path.parent)

    result = run_child(LIMITED_WRITER, str(store_path), "compact", str(limit), "1")
    assert (result.stdout, result.stderr) == ("OSError EFBIG\n", "")
    assert folder_bytes(store_path.parent) == before
    assert [run.id for run in reader.list_runs()] == [f"run-{n}" for n in range(34, -1, -1)]
    reader.close()
