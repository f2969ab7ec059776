"""Build a pure-Python wheel of millpond (`py3-none-any`), without the extension.

maturin always compiles the Rust extension, so it cannot produce this wheel.
The script stages `python/millpond` without compiled files into a temporary
project whose build backend is flit_core, copies the project metadata from
`pyproject.toml` (version from `Cargo.toml`), and calls flit_core's PEP 517
hook directly, so no network access is needed. The result imports everywhere
CPython 3.10+ runs and selects the pure backend on its own.

Usage: python scripts/build_pure_wheel.py [--out-dir dist]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, installed from requirements-dev.txt
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]

# Compiled extension files and the stub of the missing extension stay out.
EXCLUDED_SUFFIXES = (".so", ".pyd", ".dll", ".dylib", ".pyi")


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(_toml_string(value) for value in values) + "]"


def staged_pyproject() -> str:
    """Return a flit_core pyproject.toml carrying the real project's metadata."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text(encoding="utf-8"))
    version = cargo["package"]["version"]
    # This wheel carries no compiled code, so it does not claim Rust.
    classifiers = [
        classifier
        for classifier in project.get("classifiers", [])
        if classifier != "Programming Language :: Rust"
    ]
    lines = [
        "[build-system]",
        'requires = ["flit_core>=3.9,<5"]',
        'build-backend = "flit_core.buildapi"',
        "",
        "[project]",
        f"name = {_toml_string(project['name'])}",
        f"version = {_toml_string(version)}",
        f"description = {_toml_string(project['description'])}",
        'readme = "README.md"',
        f"requires-python = {_toml_string(project['requires-python'])}",
        f"license = {_toml_string(project['license'])}",
        'license-files = ["LICENSE"]',
        f"classifiers = {_toml_list(classifiers)}",
        f"dependencies = {_toml_list(project.get('dependencies', []))}",
        "",
        "[project.optional-dependencies]",
    ]
    lines += [
        f"{extra} = {_toml_list(requirements)}"
        for extra, requirements in project.get("optional-dependencies", {}).items()
    ]
    lines += ["", "[project.scripts]"]
    lines += [f"{name} = {_toml_string(target)}" for name, target in project["scripts"].items()]
    return "\n".join(lines) + "\n"


def stage(destination: Path) -> None:
    """Copy the package, README and LICENSE into `destination` without compiled files."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        del folder
        return {
            name for name in names if name.endswith(EXCLUDED_SUFFIXES) or name == "__pycache__"
        }

    shutil.copytree(REPO / "python" / "millpond", destination / "millpond", ignore=ignore)
    shutil.copy2(REPO / "README.md", destination / "README.md")
    shutil.copy2(REPO / "LICENSE", destination / "LICENSE")
    (destination / "pyproject.toml").write_text(staged_pyproject(), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir", type=Path, default=REPO / "dist", help="folder for the wheel (default: dist)"
    )
    args = parser.parse_args()

    try:
        from flit_core import buildapi  # noqa: PLC0415
    except ModuleNotFoundError:
        print("flit_core is not installed: pip install flit_core", file=sys.stderr)
        return 2

    out_dir = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="millpond-pure-") as staging:
        stage(Path(staging))
        previous = Path.cwd()
        os.chdir(staging)
        try:
            wheel_name = buildapi.build_wheel(str(out_dir))
        finally:
            os.chdir(previous)
    print(out_dir / wheel_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
