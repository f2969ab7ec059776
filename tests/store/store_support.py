"""Helpers for the store tests: sample records, folder contents and child processes."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from millpond.orchestrator import RunRecord, RunStatus

T0 = datetime(2024, 1, 1, 2, 0, tzinfo=timezone.utc)
JOURNAL_CHUNK = 65_536
"""The documented chunk: an append that grows the journal makes its size a multiple of this."""


def padded(lines: bytes) -> bytes:
    """Return journal `lines` followed by the spaces that fill the journal to a whole chunk."""
    return lines + b" " * (-len(lines) % JOURNAL_CHUNK)


def journal_lines(journal: Path) -> bytes:
    """Return the journal up to its last newline, checking that only spaces follow it."""
    data = journal.read_bytes()
    end = data.rfind(b"\n") + 1
    assert data[end:] == b" " * (len(data) - end), data[end : end + 80]
    return data[:end]


def make_record(  # noqa: PLR0913 - keyword options of a test helper
    number: int,
    *,
    pipeline: str = "orders",
    status: RunStatus | str = RunStatus.SUCCEEDED,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    error: str | None = None,
) -> RunRecord:
    """Return a record with id `run-<number>`, started `number` minutes after T0."""
    started = T0 + timedelta(minutes=number) if started_at is None else started_at
    if ended_at is None and RunStatus(status) is not RunStatus.RUNNING:
        ended_at = started + timedelta(seconds=30)
    return RunRecord(
        id=f"run-{number}",
        pipeline_name=pipeline,
        job_id=f"job-{number}",
        status=status,
        started_at=started,
        ended_at=ended_at,
        error=error,
    )


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Return the bytes of every file in `folder` except the lock file, by name."""
    return {
        entry.name: entry.read_bytes()
        for entry in sorted(folder.iterdir())
        if entry.is_file() and not entry.name.endswith(".lock")
    }


def available_core_classes() -> list[tuple[str, type]]:
    """Return (name, class) for the pure core and, when it is built, the native core."""
    from millpond._pure.file_store import FileStoreCore  # noqa: PLC0415

    cores: list[tuple[str, type]] = [("pure-core", FileStoreCore)]
    try:
        native = importlib.import_module("millpond._native")
    except ModuleNotFoundError as error:
        if error.name != "millpond._native":
            raise
        return cores
    cores.append(("native-core", native.FileStoreCore))
    return cores


def child_env(*, pure: bool | None) -> dict[str, str]:
    """Return a child's environment: pure=True sets MILLPOND_PURE=1, False removes it."""
    env = dict(os.environ)
    if pure is True:
        env["MILLPOND_PURE"] = "1"
    elif pure is False:
        env.pop("MILLPOND_PURE", None)
    return env


def start_child(code: str, *args: str, pure: bool | None = None) -> subprocess.Popen[str]:
    """Start `python -c code args...` with pipes for stdin, stdout and stderr."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(pure=pure),
    )


def run_child(
    code: str, *args: str, pure: bool | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -c code args...` to completion and return its output."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=child_env(pure=pure),
        timeout=timeout,
        check=False,
    )
