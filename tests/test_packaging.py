"""Packaging metadata that must stay consistent across files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]


def normalized(requirement: str) -> str:
    return requirement.replace(" ", "").replace("'", '"')


def test_dev_extra_matches_requirements_file() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    extra = [normalized(line) for line in pyproject["project"]["optional-dependencies"]["dev"]]
    lines = (REPO / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    pinned = [normalized(line) for line in lines if line.strip() and not line.startswith("#")]
    assert extra == pinned


def test_dev_tools_are_pinned_exactly() -> None:
    lines = (REPO / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    for line in lines:
        if line.strip() and not line.startswith("#"):
            assert "==" in line, line
