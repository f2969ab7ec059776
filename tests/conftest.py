"""Shared fixtures: the real-data folder, hypothesis profiles, both backends."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]

# The real data sets live beside the repository, never inside it.
SHARED_DATA = Path(os.environ.get("MILLPOND_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

settings.register_profile(
    "default", max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def shared_data() -> Path:
    """Return the folder of real data files, or skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent; set MILLPOND_SHARED_DATA")
    return SHARED_DATA


def native_module() -> ModuleType | None:
    """Return the compiled backend, or None when the extension is not installed."""
    try:
        return importlib.import_module("millpond._native")
    except ModuleNotFoundError as error:
        if error.name != "millpond._native":
            raise
        return None


@pytest.fixture(scope="session")
def native() -> ModuleType:
    """Return the compiled backend, or skip when the extension is not installed."""
    module = native_module()
    if module is None:
        pytest.skip("millpond._native is not installed (pure-only install)")
    return module


@pytest.fixture(scope="session")
def pure() -> ModuleType:
    """Return the pure-Python backend."""
    from millpond import _pure  # noqa: PLC0415

    return _pure
