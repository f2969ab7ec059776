"""Fixtures for the orchestrator tests: orchestrators stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from orch_support import Calls, MemoryStore

from millpond.orchestrator import Orchestrator


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def memory_store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def make_orchestrator() -> Iterator[Callable[..., Orchestrator]]:
    """Return a function that creates orchestrators, each stopped at teardown."""
    created: list[Orchestrator] = []

    def make(*args: object, **kwargs: object) -> Orchestrator:
        orchestrator = Orchestrator(*args, **kwargs)  # type: ignore[arg-type]
        created.append(orchestrator)
        return orchestrator

    yield make
    for orchestrator in created:
        orchestrator.stop(wait=True, timeout=5)
