"""Time `import millpond` in fresh interpreters against a bare start-up; print both.

Each sample starts a new process, so nothing is cached in memory between
samples (the OS file cache is, as in normal use). The samples of
`python -c pass` and `python -c "import millpond"` alternate, so both see the
same machine load. The import cost is the difference of the two best times,
checked against a budget of 50 ms. Both backends are measured: the default
selection and `MILLPOND_PURE=1`.

    python benchmarks/import_time.py            # 30 samples of each
    python benchmarks/import_time.py -n 100
    python benchmarks/import_time.py --detail   # also print `-X importtime`, slowest first
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BUDGET_MS = 50.0


def sample(code: str, env: dict[str, str]) -> float:
    """Return the wall time in ms of one `python -c CODE` process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)  # noqa: S603 - fixed code
    return (time.perf_counter() - started) * 1000


def measure(count: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    bare, imported = [], []
    for _ in range(count):
        bare.append(sample("pass", env))
        imported.append(sample("import millpond", env))
    return bare, imported


def print_detail(env: dict[str, str], limit: int = 15) -> None:
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import millpond"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        # Lines look like "import time:   self_us |   cumulative_us | module".
        self_us, cumulative_us, name = line.split(":", 1)[1].split("|", 2)
        rows.append((int(cumulative_us), int(self_us), name.rstrip()))
    print(f"  {'cumulative':>10} {'self':>8}  module (-X importtime, microseconds)")
    for cumulative, self_time, name in sorted(rows, reverse=True)[:limit]:
        print(f"  {cumulative:>10} {self_time:>8}  {name}")


def cpu_model() -> str:
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="samples of each command (default 30)")
    parser.add_argument("--detail", action="store_true", help="print -X importtime output")
    args = parser.parse_args()

    print(f"python {platform.python_version()} on {platform.system()}, {cpu_model()}")
    print(f"{args.n} samples of each command; import cost = best(import) - best(bare)")
    print()

    over_budget = False
    for label, pure in (("default backend", None), ("MILLPOND_PURE=1", "1")):
        env = {key: value for key, value in os.environ.items() if key != "MILLPOND_PURE"}
        if pure is not None:
            env["MILLPOND_PURE"] = pure
        backend = subprocess.run(
            [sys.executable, "-c", "import millpond; print(millpond.BACKEND)"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

        bare, imported = measure(args.n, env)
        cost = min(imported) - min(bare)
        verdict = "within" if cost < BUDGET_MS else "OVER"
        over_budget = over_budget or cost >= BUDGET_MS
        print(f"{label} ({backend}):")
        for command, times in (("pass", bare), ("'import millpond'", imported)):
            print(
                f"  python -c {command:<18} best {min(times):6.1f} ms  "
                f"median {statistics.median(times):6.1f} ms"
            )
        print(f"  import cost {cost:.1f} ms, {verdict} the {BUDGET_MS:.0f} ms budget")
        if args.detail:
            print_detail(env)
        print()

    return 1 if over_budget else 0


if __name__ == "__main__":
    raise SystemExit(main())
