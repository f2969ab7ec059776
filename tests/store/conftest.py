"""Fixtures for the store tests: each core in turn, and stores closed after the test."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from store_support import available_core_classes

from millpond.orchestrator import FileStore, StoreCorruptError
from millpond.orchestrator import _file_store as file_store_module


@pytest.fixture(params=available_core_classes(), ids=lambda core: core[0])
def core_class(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    """Make FileStore use one core; the native core is included when the extension is installed."""
    _, core = request.param
    monkeypatch.setattr(file_store_module, "_select_core", lambda: core)
    return core


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state.json"


@pytest.fixture
def open_store(core_class: type, store_path: Path):
    """Return a function that opens FileStores (default path: `store_path`), closed at teardown."""
    stores: list[FileStore] = []

    def open_(path: Path | None = None, **options: object) -> FileStore:
        store = FileStore(store_path if path is None else path, **options)
        stores.append(store)
        return store

    yield open_
    for store in stores:
        with contextlib.suppress(StoreCorruptError, OSError):
            store.close()
