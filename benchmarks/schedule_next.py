"""Measure calls per second of schedule `next` and `upcoming(..., 1000)`; print a table.

Two levels are measured, for both backends:

- spec: the backend classes (`DailySpec`, `CronSpec`, `IntervalSpec`,
  `MultiSpec`) on microsecond instants, built directly from `millpond._native`
  and `millpond._pure` in this process. This is the schedule arithmetic alone.
- public: the public classes (`DailyAt`, `Cron`, `Interval`, `Multi`) on aware
  datetimes, with `millpond.scheduler.upcoming`. The backend is chosen once,
  at import, so the native backend runs in this process and the pure one in a
  child process started with `MILLPOND_PURE=1`. Converting datetimes to and
  from instants costs the same in both backends and is part of these numbers.

When installed, croniter, cronsim and APScheduler's `CronTrigger` run the same
schedules written as cron expressions, on aware datetimes:

    DailyAt   09:30 Monday-Friday, Europe/Berlin      30 9 * * 1-5
    Cron      */15 9-17 * * mon-fri, Europe/Berlin    */15 9-17 * * 1-5
    Interval  every 7 minutes                         (no cron equivalent)
    Multi     the DailyAt and 0 */6 * * *             (no cron equivalent)

`next` starts from 1000 instants spread over 2024-2026, one per call, as a
scheduler calls it after each run. A third-party `next` builds its iterator
from that instant each time. `upcoming` lists 1000 run times after one instant: one
backend call for millpond, 1000 iterator steps for the others.

    python benchmarks/schedule_next.py
    python benchmarks/schedule_next.py --seconds 1.0   # longer samples, steadier numbers
"""

# The backend interface takes its boolean flags positionally.
# ruff: noqa: FBT003

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from importlib import metadata, resources
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import TZPATH, ZoneInfo

ZONE = "Europe/Berlin"
UPCOMING_COUNT = 1000
SCHEDULES = ("DailyAt", "Cron", "Interval", "Multi")
# The cron expression of each schedule, for the third-party libraries.
CRON_EQUIVALENT = {"DailyAt": "30 9 * * 1-5", "Cron": "*/15 9-17 * * 1-5"}
THIRD_PARTY = ("croniter", "cronsim", "apscheduler")

Row = dict[str, float | None]


def start_instants(count: int = 1000) -> list[datetime]:
    """Return `count` instants spread over 2024-2026 in the benchmark zone, the same each run."""
    rng = random.Random(20240101)
    zone = ZoneInfo(ZONE)
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    seconds = 3 * 365 * 86_400
    return [
        (base + timedelta(seconds=rng.randrange(seconds))).astimezone(zone) for _ in range(count)
    ]


def calls_per_second(call: Callable[[Any], object], arguments: list[Any], seconds: float) -> float:
    """Return the best rate of `call` over `arguments`, cycling, within about `seconds`.

    Calls run in timed batches. A batch doubles until it lasts a fifth of the
    budget, so that the clock is read rarely even for sub-microsecond calls.
    """
    inputs = itertools.cycle(arguments)
    batch, best = 1, 0.0
    deadline = time.perf_counter() + seconds
    while True:
        started = time.perf_counter()
        for argument in itertools.islice(inputs, batch):
            call(argument)
        elapsed = time.perf_counter() - started
        best = max(best, batch / elapsed)
        if elapsed < seconds / 5:
            batch *= 2
        elif time.perf_counter() >= deadline:
            return best


# --- millpond ------------------------------------------------------------------


def millpond_schedules() -> dict[str, Any]:
    """Build the four public schedules with whichever backend this process loaded."""
    from millpond.scheduler import Cron, DailyAt, Multi, every  # noqa: PLC0415

    daily = DailyAt("09:30", weekdays=range(5), location=ZONE)
    return {
        "DailyAt": daily,
        "Cron": Cron("*/15 9-17 * * mon-fri", location=ZONE),
        "Interval": every(timedelta(minutes=7)),
        "Multi": Multi([daily, Cron("0 */6 * * *", location=ZONE)]),
    }


def measure_millpond(seconds: float) -> dict[str, Row]:
    """Return `next` and `upcoming` rates of the public schedules in this process's backend."""
    from millpond.scheduler import upcoming  # noqa: PLC0415

    afters = start_instants()
    results: dict[str, Row] = {}
    for name, schedule in millpond_schedules().items():
        results[name] = {
            "next": calls_per_second(schedule.next, afters, seconds),
            "upcoming": calls_per_second(
                lambda after, schedule=schedule: upcoming(schedule, after, UPCOMING_COUNT),
                afters,
                seconds,
            ),
        }
    return results


def measure_pure_in_child(seconds: float) -> dict[str, Row]:
    """Run this script with MILLPOND_PURE=1 and return the rates it prints as JSON."""
    env = {**os.environ, "MILLPOND_PURE": "1"}
    completed = subprocess.run(  # noqa: S603 - runs this script with the same interpreter
        [sys.executable, __file__, "--millpond-only", "--seconds", str(seconds)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(completed.stdout)
    if report["backend"] != "pure":
        raise RuntimeError(f"child process ran the {report['backend']} backend, expected pure")
    return report["results"]


def _mask(bits: range | list[int]) -> int:
    mask = 0
    for bit in bits:
        mask |= 1 << bit
    return mask


def tzif_bytes(key: str) -> bytes:
    """Return the TZif bytes `zoneinfo` reads for `key`: TZPATH first, then `tzdata`."""
    for folder in TZPATH:
        path = Path(folder) / key
        if path.is_file():
            return path.read_bytes()
    package, _, name = f"tzdata.zoneinfo/{key}".rpartition("/")
    return (resources.files(package.replace("/", ".")) / name).read_bytes()


def backend_specs(backend: ModuleType) -> dict[str, Any]:
    """Build the four schedules as backend specs of `backend`, `_native` or `_pure`."""
    zone = backend.Zone.from_tzif(ZONE, tzif_bytes(ZONE))
    all_days, all_months = _mask(range(1, 32)), _mask(range(1, 13))
    # DailySpec weekdays count from Monday; CronSpec weekdays from Sunday.
    daily = backend.DailySpec([9 * 60 + 30], _mask(range(5)), zone)
    six_hourly = backend.CronSpec(
        1, _mask(range(0, 24, 6)), all_days, all_months, _mask(range(7)), False, True, zone
    )
    return {
        "DailyAt": daily,
        "Cron": backend.CronSpec(
            _mask([0, 15, 30, 45]),
            _mask(range(9, 18)),
            all_days,
            all_months,
            _mask(range(1, 6)),
            False,
            False,
            zone,
        ),
        "Interval": backend.IntervalSpec(7 * 60 * 1_000_000),
        "Multi": backend.MultiSpec([daily, six_hourly]),
    }


def measure_specs(backend: ModuleType, seconds: float) -> dict[str, Row]:
    """Return `next` and `upcoming` rates of the backend specs on microsecond instants."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    afters = [(after - epoch) // timedelta(microseconds=1) for after in start_instants()]
    results: dict[str, Row] = {}
    for name, spec in backend_specs(backend).items():
        results[name] = {
            "next": calls_per_second(spec.next, afters, seconds),
            "upcoming": calls_per_second(
                lambda after, spec=spec: spec.upcoming(after, UPCOMING_COUNT), afters, seconds
            ),
        }
    return results


# --- Third-party cron libraries -------------------------------------------------


def third_party_calls(library: str, expression: str) -> tuple[Callable, Callable] | None:
    """Return (next, upcoming) callables of a library for `expression`, or None if absent."""
    zone = ZoneInfo(ZONE)
    if library == "croniter":
        try:
            from croniter import croniter  # noqa: PLC0415
        except ImportError:
            return None

        def croniter_upcoming(after: datetime) -> list[datetime]:
            iterator = croniter(expression, after)
            return [iterator.get_next(datetime) for _ in range(UPCOMING_COUNT)]

        return (lambda after: croniter(expression, after).get_next(datetime), croniter_upcoming)

    if library == "cronsim":
        try:
            from cronsim import CronSim  # noqa: PLC0415
        except ImportError:
            return None

        def cronsim_upcoming(after: datetime) -> list[datetime]:
            iterator = CronSim(expression, after)
            return [next(iterator) for _ in range(UPCOMING_COUNT)]

        return (lambda after: next(CronSim(expression, after)), cronsim_upcoming)

    try:
        from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415
    except ImportError:
        return None
    # APScheduler 3 API: get_next_fire_time(previous_fire_time, now).
    trigger = CronTrigger.from_crontab(expression, timezone=zone)

    def apscheduler_upcoming(after: datetime) -> list[datetime]:
        times = []
        current = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
        while len(times) < UPCOMING_COUNT:
            times.append(current)
            current = trigger.get_next_fire_time(current, current + timedelta(microseconds=1))
        return times

    return (
        lambda after: trigger.get_next_fire_time(None, after + timedelta(microseconds=1)),
        apscheduler_upcoming,
    )


def measure_third_party(seconds: float) -> dict[str, dict[str, Row | None]]:
    """Return rates per library and schedule; None where a library is not installed."""
    afters = start_instants()
    results: dict[str, dict[str, Row | None]] = {}
    for library in THIRD_PARTY:
        results[library] = {}
        for name, expression in CRON_EQUIVALENT.items():
            calls = third_party_calls(library, expression)
            if calls is None:
                results[library][name] = None
                continue
            next_call, upcoming_call = calls
            results[library][name] = {
                "next": calls_per_second(next_call, afters, seconds),
                "upcoming": calls_per_second(upcoming_call, afters, seconds),
            }
    return results


# --- Report ---------------------------------------------------------------------


def version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    if rate >= 1_000_000:
        return f"{rate / 1_000_000:.2f}M"
    if rate >= 1_000:
        return f"{rate / 1_000:.1f}k"
    return f"{rate:.1f}"


def format_ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator == 0:
        return "-"
    return f"{numerator / denominator:.1f}x"


def print_report(
    spec_rates: dict[str, dict[str, Row]],
    public_rates: dict[str, dict[str, Row]],
    others: dict[str, dict[str, Row | None]],
) -> None:
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}"
    )
    print(f"python:  {platform.python_implementation()} {platform.python_version()}")
    print("versions: " + ", ".join(f"{name} {version_of(name)}" for name in THIRD_PARTY))
    print("spec: backend classes of _native and _pure, both built in this process")
    print("public: native in this process, pure in a child process with MILLPOND_PURE=1")
    print(f"rates in calls per second; upcoming lists {UPCOMING_COUNT} run times per call\n")

    header = ["schedule", "operation", "level", "native", "pure", *THIRD_PARTY]
    header += ["native/pure", "native/croniter"]
    rows = []
    for name in SCHEDULES:
        for operation in ("next", "upcoming"):
            third = [(others[library].get(name) or {}).get(operation) for library in THIRD_PARTY]
            for level, rates in (("spec", spec_rates), ("public", public_rates)):
                native_rate = rates["native"][name][operation]
                pure_rate = rates["pure"][name][operation]
                # Third-party libraries work on datetimes, like the public classes.
                shown = third if level == "public" else [None] * len(third)
                rows.append(
                    [
                        name,
                        operation,
                        level,
                        format_rate(native_rate),
                        format_rate(pure_rate),
                        *(format_rate(rate) for rate in shown),
                        format_ratio(native_rate, pure_rate),
                        format_ratio(native_rate, shown[0]),
                    ]
                )
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for line in (header, ["-" * width for width in widths], *rows):
        print("  ".join(str(cell).rjust(width) for cell, width in zip(line, widths, strict=True)))

    missing = [library for library in THIRD_PARTY if version_of(library) == "not installed"]
    if missing:
        print("\nnot installed: " + ", ".join(missing))
        print("(pip install croniter cronsim apscheduler to compare them)")
    print("\n'-' where a library has no equivalent schedule or is not installed.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--seconds", type=float, default=0.5, help="sampling time per measurement, in seconds"
    )
    parser.add_argument(
        "--millpond-only",
        action="store_true",
        help="measure only millpond's selected backend and print JSON (used for the pure child)",
    )
    arguments = parser.parse_args()

    import millpond  # noqa: PLC0415

    if arguments.millpond_only:
        results = measure_millpond(arguments.seconds)
        print(json.dumps({"backend": millpond.BACKEND, "results": results}))
        return

    if millpond.BACKEND != "native":
        sys.exit("the native backend is not installed (or MILLPOND_PURE=1 is set); build it first")
    from millpond import _native, _pure  # noqa: PLC0415

    spec_rates = {
        "native": measure_specs(_native, arguments.seconds),
        "pure": measure_specs(_pure, arguments.seconds),
    }
    public_rates = {
        "native": measure_millpond(arguments.seconds),
        "pure": measure_pure_in_child(arguments.seconds),
    }
    others = measure_third_party(arguments.seconds)
    print_report(spec_rates, public_rates, others)


if __name__ == "__main__":
    main()
