"""Backend selection: the environment switch, the fallback and its limits."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

import millpond


def native_installed() -> bool:
    return importlib.util.find_spec("millpond._native") is not None


# A meta path finder that makes `import millpond._native` fail with a chosen
# missing-module name, so a test can stand in for a missing or broken build.
_FAKE_IMPORT = textwrap.dedent(
    """
    import sys

    class Finder:
        def find_spec(self, name, path=None, target=None):
            if name == "millpond._native":
                raise ModuleNotFoundError(f"No module named {MISSING!r}", name=MISSING)
            return None

    sys.meta_path.insert(0, Finder())
    """
)


def run_python(code: str, **env_changes: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )


def test_backend_value_is_known() -> None:
    assert millpond.BACKEND in ("native", "pure")


def test_backend_follows_environment() -> None:
    expected = (
        "pure" if os.environ.get("MILLPOND_PURE") == "1" or not native_installed() else "native"
    )
    assert millpond.BACKEND == expected


def test_pure_switch_forces_pure() -> None:
    result = run_python("import millpond; print(millpond.BACKEND)", MILLPOND_PURE="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pure"


@pytest.mark.parametrize("value", ["", "0"])
def test_pure_switch_off_values(value: str) -> None:
    expected = "native" if native_installed() else "pure"
    result = run_python("import millpond; print(millpond.BACKEND)", MILLPOND_PURE=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize("value", ["yes", "true", "2", " 1"])
def test_pure_switch_rejects_other_values(value: str) -> None:
    result = run_python("import millpond", MILLPOND_PURE=value)
    assert result.returncode != 0
    assert "MILLPOND_PURE" in result.stderr
    assert repr(value) in result.stderr


def test_missing_extension_falls_back_to_pure() -> None:
    code = (
        "MISSING = 'millpond._native'\n"
        + _FAKE_IMPORT
        + "import millpond; print(millpond.BACKEND)"
    )
    result = run_python(code, MILLPOND_PURE=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pure"


def test_broken_extension_is_not_replaced() -> None:
    # The extension exists but one of its own imports is missing: that is a
    # broken install, and it must surface instead of silently running pure.
    code = "MISSING = 'some_dependency'\n" + _FAKE_IMPORT + "import millpond"
    result = run_python(code, MILLPOND_PURE=None)
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr
    assert "some_dependency" in result.stderr


def test_fallback_is_logged_at_debug() -> None:
    code = (
        "MISSING = 'millpond._native'\n"
        + _FAKE_IMPORT
        + "import logging; logging.basicConfig(level=logging.DEBUG)\nimport millpond"
    )
    result = run_python(code, MILLPOND_PURE=None)
    assert result.returncode == 0, result.stderr
    assert "DEBUG:millpond:" in result.stderr
    assert "pure-Python backend" in result.stderr


def test_import_loads_no_subpackage() -> None:
    code = (
        "import sys, millpond; print(sorted(m for m in sys.modules if m.startswith('millpond')))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    loaded = set(eval(result.stdout))  # noqa: S307 - the child prints a list literal of module names
    assert not loaded & {"millpond.etl", "millpond.scheduler", "millpond.cli"}


def test_native_exports_match_pure(native, pure) -> None:
    # Every public name of the pure twin must exist in the extension and the reverse.
    public = set(pure.__all__)
    native_public = {name for name in dir(native) if not name.startswith("_")}
    assert public - native_public == set()
    assert native_public - public == set()


def test_version_matches_metadata() -> None:
    from importlib.metadata import version  # noqa: PLC0415

    assert millpond.__version__ == version("millpond")
