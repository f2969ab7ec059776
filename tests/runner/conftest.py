"""Fixtures for the runner tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from millpond.runner import Runner


@pytest.fixture
def runner() -> Iterator[Runner]:
    """Return a runner with four workers, shut down with cancel=True after the test."""
    runner = Runner(max_workers=4)
    yield runner
    runner.shutdown(wait=True, cancel=True)


@pytest.fixture
def single() -> Iterator[Runner]:
    """Return a runner with one worker, so a second run queues behind the first."""
    runner = Runner(max_workers=1)
    yield runner
    runner.shutdown(wait=True, cancel=True)
