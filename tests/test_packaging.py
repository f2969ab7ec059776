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


def parse_requirement(requirement: str, operator: str) -> tuple[str, tuple[int, ...]]:
    """Split `name[extras]<operator>1.2.3` into the name with its extras and the version."""
    name, separator, version = normalized(requirement).partition(operator)
    assert separator, f"{requirement!r} has no {operator} version"
    return name, tuple(int(part) for part in version.split("."))


def test_dev_pins_satisfy_postgres_extra() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    lines = (REPO / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    pins = dict(
        parse_requirement(line, "==")
        for line in lines
        if line.strip() and not line.startswith("#") and ";" not in line
    )
    extra = pyproject["project"]["optional-dependencies"]["postgres"]
    assert extra, "the postgres extra is empty"
    for requirement in extra:
        name, minimum = parse_requirement(requirement, ">=")
        assert name in pins, f"{name} of the postgres extra is not pinned in requirements-dev.txt"
        assert pins[name] >= minimum, f"{name}=={pins[name]} is older than {requirement}"
