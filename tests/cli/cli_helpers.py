"""Helpers for the command-line tests beside this file: job files and `python -m millpond` runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# Generous, so a slow CI machine fails a test on its assertion, not on a timeout.
TIMEOUT_SECONDS = 60


def write_source(folder: Path, source: str, name: str = "job.py") -> Path:
    """Write dedented Python source to `folder/name` and return the path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def run_cli(
    args: tuple[str, ...], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m millpond ARGS` in `cwd` and capture its output.

    The child inherits the environment, so MILLPOND_PURE selects its backend.
    """
    return subprocess.run(
        [sys.executable, "-m", "millpond", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
