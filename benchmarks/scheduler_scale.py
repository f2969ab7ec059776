"""Measure the orchestrator with 10,000 scheduled pipelines: fire lateness, CPU, memory, threads.

Each pipeline has a no-op job and a schedule that fires once per period
(default 60 s). The schedules' offsets are spread evenly over the period, so
about N / period pipelines fire per second. A fire's lateness is the time
from its slot to the moment its job's reader starts on a runner thread: the
scheduler's own delay, the runner's queue and the thread handoff together.

The script prints the lateness percentiles, the CPU time of the scheduler
thread and of the whole process, the peak and current RSS, and the thread
count, with the machine and Python version. Linux only for the per-thread
CPU time (read from /proc); elsewhere that column shows the process total.

    python benchmarks/scheduler_scale.py             # 10,000 pipelines, 2 periods of 60 s
    python benchmarks/scheduler_scale.py --quick     # 1,000 pipelines, 2 periods of 10 s
    python benchmarks/scheduler_scale.py --store file  # also record every run in a FileStore
    python benchmarks/scheduler_scale.py --store sqlite  # claim every slot in a SQLiteStore
    python benchmarks/scheduler_scale.py --store postgres --dsn postgresql://...

Targets: p99 lateness under 50 ms, RSS under 300 MB, and a thread count that
does not grow with the number of pipelines.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import millpond
from millpond.etl import Context, Pipeline
from millpond.orchestrator import FileStore, Orchestrator, PostgresStore, SQLiteStore
from millpond.runner import Runner

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Grid:
    """Slots at `origin + k * period` for every integer k: a fixed-rate schedule with an offset.

    The arithmetic uses whole microseconds, as datetimes do, so that `next`
    always returns an instant strictly after its argument.
    """

    def __init__(self, origin: float, period: float) -> None:
        self.origin_us = round(origin * 1_000_000)
        self.period_us = round(period * 1_000_000)

    def next(self, after: datetime) -> datetime | None:
        after_us = (after - EPOCH) // timedelta(microseconds=1)
        count = (after_us - self.origin_us) // self.period_us + 1
        return EPOCH + timedelta(microseconds=self.origin_us + count * self.period_us)

    def slot_before(self, instant: float) -> float:
        """Return the latest slot at or before `instant`, in seconds since the epoch."""
        instant_us = round(instant * 1_000_000)
        count = (instant_us - self.origin_us) // self.period_us
        return (self.origin_us + count * self.period_us) / 1_000_000


class Lateness:
    """Collects (pipeline index, job start time) from the job threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.starts: list[tuple[int, float]] = []

    def reader(self, index: int) -> Callable[[Context], list[dict[str, int]]]:
        def read(_ctx: Context) -> list[dict[str, int]]:
            now = time.time()
            with self.lock:
                self.starts.append((index, now))
            return []

        return read


def thread_cpu_seconds(native_id: int | None) -> float | None:
    """Return the user + system CPU seconds of one thread of this process, from /proc."""
    if native_id is None:
        return None
    try:
        fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def current_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", type=int, default=10_000)
    parser.add_argument("--period", type=float, default=60.0, help="seconds between two fires")
    parser.add_argument("--periods", type=int, default=2, help="how many periods to measure")
    parser.add_argument("--workers", type=int, default=None, help="runner max_workers")
    parser.add_argument(
        "--store",
        choices=["none", "file", "file-durable", "sqlite", "postgres"],
        default="none",
        help=(
            "record runs nowhere, in a FileStore with durable=False or durable=True, or "
            "claim every slot in a durable SQLiteStore or in a PostgresStore (needs --dsn)"
        ),
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("MILLPOND_BENCH_POSTGRES_DSN"),
        help="PostgreSQL database for --store postgres; its millpond_ tables are emptied first "
        "(default: $MILLPOND_BENCH_POSTGRES_DSN)",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 pipelines, periods of 10 s")
    args = parser.parse_args()
    if args.store == "postgres" and not args.dsn:
        parser.error("--store postgres needs --dsn or $MILLPOND_BENCH_POSTGRES_DSN")
    if args.quick:
        args.pipelines = min(args.pipelines, 1_000)
        args.period = 10.0
    logging.basicConfig(level=logging.ERROR)

    with tempfile.TemporaryDirectory() as folder:
        run(args, Path(folder))


def open_store(
    args: argparse.Namespace, folder: Path
) -> FileStore | SQLiteStore | PostgresStore | None:
    """Return the store that `--store` names, empty."""
    if args.store in ("file", "file-durable"):
        return FileStore(folder / "state.json", durable=args.store == "file-durable")
    if args.store == "sqlite":
        return SQLiteStore(folder / "runs.db")
    if args.store == "postgres":
        store = PostgresStore(args.dsn)
        store.close()
        import psycopg  # noqa: PLC0415 (optional dependency, needed only here)

        with psycopg.connect(args.dsn, autocommit=True) as connection:
            connection.execute("TRUNCATE millpond_runs, millpond_instances")
        return PostgresStore(args.dsn, max_size=8)
    return None


def run(args: argparse.Namespace, folder: Path) -> None:
    store = open_store(args, folder)
    runner = Runner(max_workers=args.workers)
    orchestrator = Orchestrator(store, runner)
    lateness = Lateness()

    # The first slots fall one second after registration ends, spread over a period.
    threads_before = threading.active_count()
    registered = time.perf_counter()
    base = time.time() + 2.0 + args.pipelines * 20e-6
    grids = []
    for index in range(args.pipelines):
        grid = Grid(base + args.period * index / args.pipelines, args.period)
        grids.append(grid)
        pipeline = Pipeline(f"p{index:05d}").read(lateness.reader(index)).write(_discard)
        orchestrator.register(pipeline, grid)
    registered = time.perf_counter() - registered

    process_cpu = time.process_time()
    orchestrator.start_scheduler()
    scheduler = next(
        thread
        for thread in threading.enumerate()
        if thread.name == "millpond-orchestrator-scheduler"
    )
    scheduler_cpu_start = thread_cpu_seconds(scheduler.native_id) or 0.0
    end = base + args.periods * args.period
    threads_during = 0
    while time.time() < end:
        time.sleep(0.5)
        threads_during = max(threads_during, threading.active_count())
    scheduler_cpu = (thread_cpu_seconds(scheduler.native_id) or 0.0) - scheduler_cpu_start
    rss_now = current_rss_mb()
    orchestrator.stop(wait=True, timeout=30)
    process_cpu = time.process_time() - process_cpu
    runner.shutdown()
    if store is not None:
        store.close()

    with lateness.lock:
        starts = [(index, start) for index, start in lateness.starts if start < end]
    slots = [(grids[index].slot_before(start), start) for index, start in starts]
    # Slots before `base` belong to the period before the measured ones.
    late_ms = [(start - slot) * 1000 for slot, start in slots if slot >= base - 1e-6]
    expected = args.pipelines * args.periods
    report(
        args,
        registered=registered,
        late_ms=late_ms,
        expected=expected,
        scheduler_cpu=scheduler_cpu,
        process_cpu=process_cpu,
        rss_now=rss_now,
        threads_before=threads_before,
        threads_during=threads_during,
    )


def _discard(ctx: Context, records: list[dict[str, int]]) -> None:
    pass


def report(  # noqa: PLR0913 - one printed table
    args: argparse.Namespace,
    *,
    registered: float,
    late_ms: list[float],
    expected: int,
    scheduler_cpu: float,
    process_cpu: float,
    rss_now: float | None,
    threads_before: int,
    threads_during: int,
) -> None:
    measured = args.periods * args.period
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"
    )
    print(f"python {platform.python_version()}, millpond {millpond.__version__} "
          f"({millpond.BACKEND} backend)")  # fmt: skip
    print(
        f"pipelines: {args.pipelines}, one fire each per {args.period:g} s, "
        f"{args.periods} periods ({measured:g} s), store: {args.store}"
    )
    print(f"registration: {registered:.2f} s")
    print(f"fires: {len(late_ms)} of {expected} expected")
    if late_ms:
        print(
            "lateness (slot to job start): "
            f"p50 {statistics.median(late_ms):.2f} ms, "
            f"p99 {percentile(late_ms, 0.99):.2f} ms, "
            f"max {max(late_ms):.2f} ms"
        )
    print(
        f"CPU: scheduler thread {scheduler_cpu:.2f} s "
        f"({100 * scheduler_cpu / measured:.1f} % of one core), "
        f"whole process {process_cpu:.2f} s"
    )
    rss_text = "unknown" if rss_now is None else f"{rss_now:.0f} MB"
    print(f"RSS: {rss_text} at the end of the measurement, peak {peak_rss_mb():.0f} MB")
    print(f"threads: {threads_before} before start, at most {threads_during} while serving")


if __name__ == "__main__":
    main()
