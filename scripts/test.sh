#!/usr/bin/env bash
# The full check of the project, as CI runs it: install, generated-code drift, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'

echo "== unasync drift check"
python3 scripts/unasync.py --check
echo "== ruff"
python3 -m ruff check src tests scripts benchmarks examples
python3 -m ruff format --check src tests scripts benchmarks examples
echo "== mypy --strict"
python3 -m mypy
echo "== pytest"
python3 -m pytest "$@"
