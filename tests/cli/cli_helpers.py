"""Helpers for command-line tests: job files on disk and `python -m millpond` runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# Generous, so a slow CI machine fails a test on its assertion, not on a timeout.
TIMEOUT_SECONDS = 60


@pytest.fixture
def write_job(tmp_path: Path) -> Callable[..., Path]:
    """Return a function that writes a dedented Python file into `tmp_path`."""

    def write(source: str, name: str = "job.py", folder: Path | None = None) -> Path:
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_millpond(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Return a function that runs `python -m millpond ARGS` and captures its output.

    The child inherits the environment, so MILLPOND_PURE selects its backend.
    """

    def run(
        *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "millpond", *args],
            cwd=cwd or tmp_path,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )

    return run
