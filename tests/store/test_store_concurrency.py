"""Concurrency: four processes upsert into one store at once, through frequent compactions."""

from __future__ import annotations

import pytest
from store_support import start_child

from millpond.orchestrator import FileStore, RunStatus

WRITERS = 4
RUNS_PER_WRITER = 150

# Writes each run twice (running, then succeeded) and checks now and then
# that every run it wrote so far is visible to it.
WRITER = """
import sys
from datetime import datetime, timedelta, timezone
from millpond.orchestrator import FileStore, RunRecord

path, name, count, durable = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
store = FileStore(path, durable=durable, compact_bytes=4096)
print("ready", flush=True)
sys.stdin.readline()
for number in range(count):
    run_id = f"{name}-{number}"
    started = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=number)
    store.upsert_run(RunRecord(run_id, name, "job", "running", started, None, None))
    store.upsert_run(RunRecord(run_id, name, "job", "succeeded", started, started, None))
    if number % 15 == 0:
        seen = [record.id for record in store.list_runs(pipeline=name)]
        if len(seen) != number + 1 or len(set(seen)) != len(seen):
            print("lost", number, len(seen), flush=True)
            sys.exit(1)
store.close()
print("done", flush=True)
"""


@pytest.mark.parametrize("round_number", range(3))
def test_four_processes_lose_and_duplicate_nothing(core_class, store_path, round_number):
    writers = [
        start_child(
            WRITER,
            str(store_path),
            f"writer{index}",
            str(RUNS_PER_WRITER),
            "1" if index % 2 == 0 else "0",
            pure=index < 2,
        )
        for index in range(WRITERS)
    ]
    for writer in writers:
        assert writer.stdout.readline() == "ready\n", writer.stderr.read()
    for writer in writers:
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        output, errors = writer.communicate(timeout=120)
        assert (writer.returncode, output, errors) == (0, "done\n", "")

    with FileStore(store_path) as store:
        runs = store.list_runs()
    assert len(runs) == WRITERS * RUNS_PER_WRITER
    assert len({run.id for run in runs}) == len(runs)
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}
    for index in range(WRITERS):
        assert sum(run.pipeline_name == f"writer{index}" for run in runs) == RUNS_PER_WRITER
