"""Check that Cargo.toml and `millpond.__version__` carry the same version.

pyproject.toml takes its version from Cargo.toml (maturin), so these two are
the only places a release number is written.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, installed from requirements-dev.txt
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text(encoding="utf-8"))["package"]["version"]
    init = (REPO / "python" / "millpond" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', init, re.MULTILINE)
    if match is None:
        print("python/millpond/__init__.py has no __version__ line", file=sys.stderr)
        return 1
    if match.group(1) != cargo:
        print(
            f"version mismatch: Cargo.toml has {cargo}, "
            f"python/millpond/__init__.py has {match.group(1)}",
            file=sys.stderr,
        )
        return 1
    print(f"version {cargo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
