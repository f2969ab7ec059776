"""Stream generated records through a pipeline in a child process; print its peak RSS.

The child builds a pipeline with one transform and one filter and writes in
batches, so memory should stay flat however many records pass through. The
parent reads the child's peak resident set size from
`resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` (Linux reports KiB, macOS
bytes), so the figure covers the interpreter and millpond as well as the run.

    python benchmarks/streaming_memory.py            # 10,000,000 records
    python benchmarks/streaming_memory.py --quick    # 200,000 records, smoke run
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from collections.abc import Iterator

from millpond.etl import Context, Pipeline, Record

TARGET_MIB = 150


def generate(count: int) -> Iterator[Record]:
    for i in range(count):
        yield {"id": i, "amount": i % 1000 * 0.5, "customer": f"c{i % 5000}"}


def run_child(count: int, batch_size: int) -> None:
    """Run the streaming pipeline in this process and print its throughput."""
    written = 0
    batches = 0

    def read(_ctx: Context) -> Iterator[Record]:
        return generate(count)

    def add_tax(_ctx: Context, record: Record) -> Record:
        record["tax"] = record["amount"] * 0.2
        return record

    def has_amount(_ctx: Context, record: Record) -> bool:
        return bool(record["amount"] > 0)

    def write(_ctx: Context, records: list[Record]) -> None:
        nonlocal written, batches
        written += len(records)
        batches += 1

    pipeline = (
        Pipeline("streaming-memory")
        .read(read)
        .transform(add_tax)
        .filter(has_amount)
        .write(write, batch_size=batch_size)
    )
    started = time.perf_counter()
    stats = pipeline.run()
    elapsed = time.perf_counter() - started
    if stats.written != written or stats.read != count:
        raise SystemExit(f"unexpected counts: {stats}, writer saw {written}")
    print(
        f"read {stats.read:,}, wrote {written:,} in {batches:,} batches, "
        f"{elapsed:.2f} s, {stats.read / elapsed:,.0f} records/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000, help="records to stream")
    parser.add_argument("--batch-size", type=int, default=10_000, help="records per write")
    parser.add_argument("--quick", action="store_true", help="200,000 records")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = 200_000 if args.quick else args.records

    if args.child:
        run_child(count, args.batch_size)
        return

    print(f"{count:,} records, batch_size {args.batch_size:,}, in a child process")
    command = [
        sys.executable,
        __file__,
        "--child",
        "--records",
        str(count),
        "--batch-size",
        str(args.batch_size),
    ]
    subprocess.run(command, check=True)  # noqa: S603 (runs this script with this interpreter)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_mib = peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024
    verdict = "met" if peak_mib < TARGET_MIB else "NOT met"
    print(f"peak RSS of the child: {peak_mib:.1f} MiB (target < {TARGET_MIB} MiB: {verdict})")


if __name__ == "__main__":
    main()
