"""examples/scheduled.py: both example pipelines, their schedules and the store."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from millpond.orchestrator import FileStore, Orchestrator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def scheduled(tmp_path, monkeypatch):
    """Import examples/scheduled.py with its output folder in `tmp_path`."""
    monkeypatch.setenv("MILLPOND_EXAMPLES_OUT", str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLES))
    for name in ("scheduled", "orders", "tz_atlas"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = importlib.import_module("scheduled")
    yield module
    module.orchestrator.stop()
    for name in ("scheduled", "orders", "tz_atlas"):
        sys.modules.pop(name, None)


def test_example_registers_both_pipelines(scheduled, tmp_path):
    orchestrator = scheduled.orchestrator
    assert isinstance(orchestrator, Orchestrator)
    assert orchestrator.pipelines == ("tz_atlas", "orders")
    assert orchestrator.policy("orders").overlap == "skip"
    assert orchestrator.policy("tz_atlas").misfire == "coalesce"
    assert isinstance(orchestrator.store, FileStore)
    assert orchestrator.store.path == tmp_path / "scheduled-runs.json"


def test_example_runs_orders_and_records_it(scheduled, tmp_path):
    orchestrator = scheduled.orchestrator
    result = orchestrator.run_pipeline("orders").result(timeout=30)
    assert result.status.value == "succeeded", result.error
    stored = orchestrator.store.get_run(result.id)
    assert stored.status.value == "succeeded"
    assert (tmp_path / "orders.jsonl").exists()
