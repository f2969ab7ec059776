"""Fixtures for the etl tests."""

from __future__ import annotations

import pytest
from etl_support import Collector, RecordingHook


@pytest.fixture
def recorder() -> RecordingHook:
    return RecordingHook()


@pytest.fixture
def collector() -> Collector:
    return Collector()
