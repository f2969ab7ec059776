"""Streaming runs: lazy reads, batch sizes, counts and memory."""

from __future__ import annotations

import gc
import weakref

import pytest
from etl_support import identity, numbers

from millpond.etl import Pipeline


@pytest.mark.parametrize(
    ("count", "batch_size", "sizes"),
    [
        (10, 3, [3, 3, 3, 1]),
        (9, 3, [3, 3, 3]),
        (2, 5, [2]),
        (1, 1, [1]),
        (5, 1, [1, 1, 1, 1, 1]),
    ],
)
def test_batches_hold_at_most_batch_size(collector, count, batch_size, sizes):
    stats = Pipeline("p").read(numbers(count)).write(collector, batch_size=batch_size).run()
    assert [len(batch) for batch in collector.batches] == sizes
    assert [r["n"] for r in collector.records] == list(range(count))
    assert stats.read == count
    assert stats.written == count


def test_batches_count_kept_records_only(collector):
    pipeline = (
        Pipeline("p")
        .read(numbers(20))
        .filter(lambda ctx, r: r["n"] % 4 == 0)
        .write(collector, batch_size=2)
    )
    stats = pipeline.run()
    assert [[r["n"] for r in batch] for batch in collector.batches] == [[0, 4], [8, 12], [16]]
    assert (stats.read, stats.written, stats.dropped) == (20, 5, 15)


def test_empty_input_writes_one_empty_batch(collector):
    stats = Pipeline("p").read(lambda ctx: iter([])).write(collector, batch_size=10).run()
    assert collector.batches == [[]]
    assert (stats.read, stats.written, stats.dropped) == (0, 0, 0)


def test_all_dropped_writes_one_empty_batch(collector):
    pipeline = (
        Pipeline("p")
        .read(numbers(25))
        .filter(lambda ctx, r: False)
        .write(collector, batch_size=10)
    )
    pipeline.run()
    assert collector.batches == [[]]


def test_exact_multiple_writes_no_trailing_empty_batch(collector):
    Pipeline("p").read(numbers(4)).write(collector, batch_size=2).run()
    assert [len(batch) for batch in collector.batches] == [2, 2]


def test_reader_is_consumed_lazily():
    # The writer gets each batch before the reader produces the next record,
    # so the log interleaves reads and writes.
    log: list[str] = []

    def read(ctx):
        for n in range(5):
            log.append(f"read {n}")
            yield {"n": n}

    def write(ctx, records):
        log.append(f"write {[r['n'] for r in records]}")

    Pipeline("p").read(read).transform(identity).write(write, batch_size=2).run()
    assert log == [
        "read 0",
        "read 1",
        "write [0, 1]",
        "read 2",
        "read 3",
        "write [2, 3]",
        "read 4",
        "write [4]",
    ]


def test_in_memory_mode_reads_everything_first():
    log: list[str] = []

    def read(ctx):
        for n in range(3):
            log.append(f"read {n}")
            yield {"n": n}

    def step(ctx, record):
        log.append(f"step {record['n']}")
        return record

    Pipeline("p").read(read).transform(step).write(lambda ctx, r: log.append("write")).run()
    assert log == ["read 0", "read 1", "read 2", "step 0", "step 1", "step 2", "write"]


def test_each_batch_is_a_new_list():
    batches: list[list[dict]] = []
    Pipeline("p").read(numbers(4)).write(lambda ctx, r: batches.append(r), batch_size=2).run()
    assert batches[0] is not batches[1]
    assert [len(batch) for batch in batches] == [2, 2]


def test_written_batches_are_released():
    # A streaming run keeps no reference to records it has written, so memory
    # stays flat whatever the input size.
    class Row(dict):
        pass

    alive: list[weakref.ref[Row]] = []
    first_batch_alive: list[bool] = []

    def read(ctx):
        for n in range(100):
            row = Row(n=n)
            alive.append(weakref.ref(row))
            yield row

    def write(ctx, records):
        if records[0]["n"] == 90:
            gc.collect()
            first_batch_alive.append(any(ref() is not None for ref in alive[:10]))

    Pipeline("p").read(read).write(write, batch_size=10).run()
    assert first_batch_alive == [False]


def test_read_counts_records_before_a_failing_batch():
    def write(ctx, records):
        if records[0]["n"] >= 4:
            raise OSError("full")

    pipeline = Pipeline("p").read(numbers(10)).write(write, batch_size=2)
    with pytest.raises(Exception, match="write failed: OSError: full"):
        pipeline.run()
