"""Run jobs in the background on worker threads and collect their results.

`Runner.start(job)` returns a `Handle` at once. The handle waits for, awaits
or cancels the run, and its final `Result` carries a `Status`. See
docs/runner.md for a guide.
"""

from millpond.runner._handle import Handle
from millpond.runner._result import Result, Status
from millpond.runner._runner import Runner

__all__ = ["Handle", "Result", "Runner", "Status"]
