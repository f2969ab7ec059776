"""Run the retail orders cleanup over a year of per-day files; print records/s and peak RSS.

The input is the `retail-by-day/` folder of the Online Retail data set (one CSV
file per trading day). It is looked up in `$MILLPOND_SHARED_DATA`, or else in
`shared/data` beside the repository folder. Two modes run, each in its own
child process, so each peak RSS figure belongs to one mode alone:

- `daily`: one in-memory run per day file, as a daily schedule would run it;
- `stream`: one streaming run over all the files (`--batch-size`, default 5,000).

By default the records are upserted into a SQLite file in a temporary folder
(`examples/retail.py`'s `sqlite_writer`). `--sink null` only counts them, which
shows the cost of reading and cleaning alone.

    python benchmarks/retail_scale.py
    python benchmarks/retail_scale.py --sink null
    MILLPOND_PURE=1 python benchmarks/retail_scale.py

Peak RSS is `resource.getrusage(RUSAGE_SELF).ru_maxrss` of the child, so it
includes the interpreter and the imports. "RSS before" is the same figure
taken just before the first run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import millpond
from millpond.etl import Context, Record, Writer

REPO = Path(__file__).resolve().parents[1]
DATA_ENV = "MILLPOND_SHARED_DATA"


def data_folder() -> Path:
    configured = os.environ.get(DATA_ENV)
    base = Path(configured) if configured else REPO.parent / "shared" / "data"
    return base / "retail-by-day"


def load_retail() -> ModuleType:
    spec = importlib.util.spec_from_file_location("retail", REPO / "examples" / "retail.py")
    if spec is None or spec.loader is None:
        raise ImportError("cannot load examples/retail.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["retail"] = module
    spec.loader.exec_module(module)
    return module


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def counting_writer(counter: list[int]) -> Writer:
    def write(_ctx: Context, records: list[Record]) -> None:
        counter[0] += len(records)

    return write


def run_child(mode: str, sink: str, batch_size: int, out: Path) -> dict[str, Any]:
    """Run one mode in this process and return its figures."""
    retail = load_retail()
    files = sorted(data_folder().glob("*.csv"))
    counter = [0]
    writer = counting_writer(counter) if sink == "null" else retail.sqlite_writer(out)
    rss_before = peak_rss_mib()

    read = written = 0
    started = time.perf_counter()
    if mode == "daily":
        for path in files:
            stats = retail.retail_pipeline([path], writer=writer).run()
            read += stats.read
            written += stats.written
    else:
        stats = retail.retail_pipeline(files, writer=writer, batch_size=batch_size).run()
        read, written = stats.read, stats.written
    seconds = time.perf_counter() - started

    return {
        "mode": mode,
        "runs": len(files) if mode == "daily" else 1,
        "files": len(files),
        "read": read,
        "written": written,
        "seconds": seconds,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
    }


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
    parser.add_argument("--sink", choices=["sqlite", "null"], default="sqlite")
    parser.add_argument(
        "--batch-size", type=int, default=5000, help="records per write in stream mode"
    )
    parser.add_argument("--child", choices=["daily", "stream"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = run_child(args.child, args.sink, args.batch_size, args.out)
        print(json.dumps(result))
        return 0

    folder = data_folder()
    if not any(folder.glob("*.csv")):
        print(f"no CSV files in {folder}; set {DATA_ENV} to the data folder", file=sys.stderr)
        return 2

    print(f"python {platform.python_version()} on {platform.system()}, {cpu_model()}")
    print(f"millpond {millpond.__version__}, {millpond.BACKEND} backend, sink {args.sink}")
    print()
    header = f"{'mode':<7} {'runs':>5} {'read':>9} {'written':>9} {'seconds':>8} "
    header += f"{'records/s':>10} {'RSS before':>11} {'peak RSS':>9}"
    print(header)

    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for mode in ("daily", "stream"):
            out = Path(scratch) / f"{mode}.sqlite"
            completed = subprocess.run(  # noqa: S603 - runs this script with this interpreter
                [
                    sys.executable,
                    __file__,
                    "--child",
                    mode,
                    "--sink",
                    args.sink,
                    "--batch-size",
                    str(args.batch_size),
                    "--out",
                    str(out),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(completed.stdout)
            results.append(result)
            rate = result["read"] / result["seconds"]
            print(
                f"{mode:<7} {result['runs']:>5} {result['read']:>9,} {result['written']:>9,} "
                f"{result['seconds']:>8.2f} {rate:>10,.0f} "
                f"{result['rss_before_mib']:>8.1f} MiB {result['peak_rss_mib']:>5.1f} MiB"
            )

    if results[0]["written"] != results[1]["written"]:
        print("warning: the two modes wrote different record counts", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
