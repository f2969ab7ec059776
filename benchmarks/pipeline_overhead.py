"""Compare a pipeline run with no-op hooks to the equivalent hand-written loop.

Both read the same generated records, call the same three transforms with
`(ctx, record)`, collect the results in a list and call the writer once. The
pipeline additionally checks each record's type and the context between
records. The two variants run alternately, `--repeat` times each, in one
process; the best time of each is printed with their ratio.

    python benchmarks/pipeline_overhead.py            # 1,000,000 records
    python benchmarks/pipeline_overhead.py --quick    # 20,000 records, smoke run
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

from millpond.etl import Context, Pipeline, Record


def make_reader(count: int) -> Callable[[Context], Iterator[Record]]:
    def read(_ctx: Context) -> Iterator[Record]:
        for i in range(count):
            yield {"id": i, "price": i % 97 * 0.25, "quantity": i % 7 + 1}

    return read


def add_total(_ctx: Context, record: Record) -> Record:
    record["total"] = record["price"] * record["quantity"]
    return record


def flag_large(_ctx: Context, record: Record) -> Record:
    record["large"] = record["total"] > 50.0
    return record


def add_currency(_ctx: Context, record: Record) -> Record:
    record["currency"] = "EUR"
    return record


def keep_record(_ctx: Context, record: Record) -> Record:
    return record


def hand_written(
    reader: Callable[[Context], Iterator[Record]],
    steps: tuple[Callable[[Context, Record], Record], ...],
    writer: Callable[[Context, list[Record]], None],
) -> Callable[[], Any]:
    first, second, third = steps

    def run() -> None:
        ctx = Context(pipeline_name="hand-written")
        records = []
        for record in reader(ctx):
            record = first(ctx, record)  # noqa: PLW2901
            record = second(ctx, record)  # noqa: PLW2901
            record = third(ctx, record)  # noqa: PLW2901
            records.append(record)
        writer(ctx, records)

    return run


def pipelined(
    reader: Callable[[Context], Iterator[Record]],
    steps: tuple[Callable[[Context, Record], Record], ...],
    writer: Callable[[Context, list[Record]], None],
    *,
    deadline: bool,
) -> Callable[[], Any]:
    pipeline = Pipeline("overhead").read(reader)
    for step in steps:
        pipeline.transform(step)
    pipeline.write(writer)
    if not deadline:
        return pipeline.run
    # A deadline adds a clock read per stage and a background thread that
    # cancels the context when the deadline passes.
    return lambda: pipeline.run(Context().with_timeout(3600))


def best_of(runs: tuple[Callable[[], Any], ...], repeat: int) -> list[float]:
    """Return the best time of each run; runs alternate so that load changes hit all alike."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for index, run in enumerate(runs):
            gc.collect()
            started = time.perf_counter()
            run()
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def compare(
    label: str, count: int, repeat: int, steps: tuple[Any, ...], *, deadline: bool = False
) -> float:
    written: list[int] = []

    def writer(_ctx: Context, records: list[Record]) -> None:
        written.append(len(records))

    reader = make_reader(count)
    loop_time, pipeline_time = best_of(
        (
            hand_written(reader, steps, writer),
            pipelined(reader, steps, writer, deadline=deadline),
        ),
        repeat,
    )
    if set(written) != {count}:
        raise SystemExit(f"a variant wrote {written}, expected {count} records each time")

    ratio = pipeline_time / loop_time
    print(
        f"{label:<24} hand-written {loop_time:7.3f} s   pipeline {pipeline_time:7.3f} s   "
        f"ratio {ratio:.2f}"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per variant; the best counts")
    parser.add_argument("--quick", action="store_true", help="20,000 records, 2 runs")
    args = parser.parse_args()
    count, repeat = (20_000, 2) if args.quick else (args.records, args.repeat)

    print(f"{count:,} records x 3 transforms, best of {repeat}")
    field_setting = (add_total, flag_large, add_currency)
    ratio = compare("field-setting steps", count, repeat, field_setting)
    compare("identity steps", count, repeat, (keep_record, keep_record, keep_record))
    compare("field-setting, deadline", count, repeat, field_setting, deadline=True)
    print(f"target: field-setting ratio <= 1.30: {'met' if ratio <= 1.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
