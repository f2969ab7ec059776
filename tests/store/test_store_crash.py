"""Crash safety: a writer killed with SIGKILL at random moments loses no returned upsert."""

from __future__ import annotations

import random
import time

from store_support import start_child

from millpond.orchestrator import FileStore

ROUNDS = 50
BIG_TEXT = 1_000_000

# Prints a line after each upsert returned: the run id, or "big <number>" for
# the run "big", rewritten with a 1 MB error text every fifth upsert. The big
# run and the small compact_bytes make compactions long and frequent, so that
# some kills land inside one and leave a temp file behind.
WRITER = """
import sys
from datetime import datetime, timedelta, timezone
from millpond.orchestrator import FileStore, RunRecord

path, prefix, compact_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = FileStore(path, durable=True, compact_bytes=compact_bytes)
started = datetime(2024, 1, 1, tzinfo=timezone.utc)
print("ready", flush=True)
number = 0
while True:
    when = started + timedelta(seconds=number)
    if number % 5 == 4:
        error = f"{prefix}:{number}:" + "y" * BIG_TEXT
        store.upsert_run(RunRecord("big", "big", "job", "failed", when, when, error))
        line = f"big {number}"
    else:
        line = f"{prefix}-{number}"
        error = "x" * (number % 200)
        store.upsert_run(RunRecord(line, prefix, "job", "failed", when, when, error))
    sys.stdout.write(line + "\\n")
    sys.stdout.flush()
    number += 1
""".replace("BIG_TEXT", str(BIG_TEXT))


def test_kill_9_loses_no_returned_upsert(core_class, store_path):
    seed = 20240101
    generator = random.Random(seed)  # noqa: S311 - random delays, not secrets
    reported: set[str] = set()
    for round_number in range(ROUNDS):
        prefix = f"round{round_number}"
        writer = start_child(
            WRITER,
            str(store_path),
            prefix,
            str(generator.choice([1_500, 6_000, 50_000])),
            pure=round_number % 2 == 0,
        )
        assert writer.stdout.readline() == "ready\n", writer.stderr.read()
        time.sleep(generator.uniform(0.0, 0.15))
        writer.kill()
        output, _ = writer.communicate(timeout=30)
        # A last line without its newline was cut by the kill, so it does not
        # count as reported.
        lines = output.split("\n")[:-1]
        round_ids = [line for line in lines if not line.startswith("big ")]
        big_numbers = [int(line.split()[1]) for line in lines if line.startswith("big ")]
        reported.update(round_ids)

        context = f"round {round_number}, seed {seed}"
        with FileStore(store_path) as store:
            stored = {record.id: record for record in store.list_runs()}
        assert reported - stored.keys() == set(), context
        for run_id in round_ids:
            number = int(run_id.rsplit("-", 1)[1])
            assert stored[run_id].error == "x" * (number % 200), context
        if big_numbers:
            # The kill may land after an upsert returned and before its line
            # was printed, so the stored text may be newer than the last line.
            big_prefix, big_number, text = stored["big"].error.split(":", 2)
            assert big_prefix == prefix, context
            assert int(big_number) >= big_numbers[-1], context
            assert text == "y" * BIG_TEXT, context
        leftovers = [path.name for path in store_path.parent.iterdir() if ".tmp-" in path.name]
        assert leftovers == [], context
    assert len(reported) > ROUNDS
