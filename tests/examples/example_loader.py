"""Fixtures that load the example jobs from examples/ as modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """Import examples/<name>.py once per session, under its own name."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tz_atlas() -> ModuleType:
    return load_example("tz_atlas")


@pytest.fixture(scope="session")
def orders() -> ModuleType:
    return load_example("orders")


@pytest.fixture(scope="session")
def retail() -> ModuleType:
    return load_example("retail")


@pytest.fixture
def examples_out(tmp_path, monkeypatch) -> Path:
    """Point MILLPOND_EXAMPLES_OUT at a fresh folder."""
    out = tmp_path / "out"
    monkeypatch.setenv("MILLPOND_EXAMPLES_OUT", str(out))
    return out
