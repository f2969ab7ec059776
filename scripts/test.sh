#!/usr/bin/env bash
# Install millpond with its development tools into .venv, then run every check:
# lints, type checks, the Rust tests, the Python suite in both backends, and the
# suite again from a pure-Python wheel in a separate virtualenv.
#
# Needs python3 (3.10+) and a Rust toolchain with rustfmt and clippy. Set
# PYTHON to choose the interpreter. The PostgresStore tests run in every pytest
# pass when MILLPOND_TEST_POSTGRES_DSN names a server (postgresql://...) and
# skip otherwise. .ci/run starts a throwaway server and sets it.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}

step() { printf '\n==> %s\n' "$*"; }

step "install development tools into .venv"
[ -x .venv/bin/python ] || "$python" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
dev_requirements=requirements-dev.txt
pip install -q --disable-pip-version-check -r "$dev_requirements"

if [ -n "${MILLPOND_TEST_POSTGRES_DSN:-}" ]; then
  echo "PostgreSQL tests: on (MILLPOND_TEST_POSTGRES_DSN is set)"
else
  echo "PostgreSQL tests: skipped (MILLPOND_TEST_POSTGRES_DSN is unset)"
fi

step "build the extension (release) and install millpond in editable mode"
maturin develop --release -q

step "lint and type-check"
python scripts/check_version.py
ruff check .
ruff format --check .
mypy
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings

step "Rust tests"
cargo test --quiet

step "Python tests, pure backend"
MILLPOND_PURE=1 pytest -q

step "pure-Python wheel in a fresh virtualenv"
wheel_dir=$(mktemp -d)
pure_env=$(mktemp -d)
trap 'rm -rf "$wheel_dir" "$pure_env"' EXIT
python scripts/build_pure_wheel.py --out-dir "$wheel_dir"
"$python" -m venv "$pure_env"
"$pure_env/bin/pip" install -q --disable-pip-version-check "$wheel_dir"/millpond-*-py3-none-any.whl \
  -r <(grep -E '^(hypothesis|pytest|psycopg(\[binary\])?|psycopg-pool)==' "$dev_requirements")
(unset MILLPOND_PURE; "$pure_env/bin/python" -c 'import millpond; assert millpond.BACKEND == "pure", millpond.BACKEND')
(unset MILLPOND_PURE; "$pure_env/bin/python" -m pytest -q -p no:cacheprovider)

step "Python tests, native backend"
pytest -q
