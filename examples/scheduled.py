"""Serve two examples on schedules: the time zone atlas nightly, the orders every five minutes.

Run it from the repository root (or give the path from anywhere else), and
stop it with Ctrl-C or SIGTERM:

    millpond serve examples/scheduled.py

`tz_atlas.py` runs every night at 02:00 in the system's local time zone and
`orders.py` every five minutes. Each run is recorded in `scheduled-runs.json`
in the output folder, `$MILLPOND_EXAMPLES_OUT` or `out/` beside this file.
List the runs with:

    millpond runs --store examples/out/scheduled-runs.json

A night missed while nothing served (the machine was off, say) fires once at
the next start, because the store remembers the last slot and the atlas uses
the default misfire policy, "coalesce". The orders pipeline skips a slot
while its previous run is still going, and both pipelines get a timeout and
a retry.
"""

from __future__ import annotations

import orders
import tz_atlas

from millpond.orchestrator import FileStore, Orchestrator
from millpond.scheduler import DailyAt, every

__all__ = ["STORE_NAME", "build_orchestrator", "orchestrator"]

STORE_NAME = "scheduled-runs.json"


def build_orchestrator() -> Orchestrator:
    """Return an orchestrator with both example pipelines and a FileStore in the output folder."""
    folder = tz_atlas.output_folder()
    folder.mkdir(parents=True, exist_ok=True)
    result = Orchestrator(FileStore(folder / STORE_NAME))
    result.register(
        tz_atlas.build_pipeline(), DailyAt("02:00"), timeout=600, retries=2, retry_delay=60
    )
    result.register(
        orders.build_pipeline(), every(300), overlap="skip", timeout=120, retries=1, retry_delay=10
    )
    return result


orchestrator = build_orchestrator()
