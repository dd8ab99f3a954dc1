#!/usr/bin/env bash
# The full check of the project, as CI runs it: install (Python packages, Debian packages), generated-code drift,
# lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests run for real: redis-server (Redis tier), curl (an HTTP client of the proxy tests),
# nginx and wrk (the `daramjwee bench serve` peer and load generator, run by its smoke test; nginx is also the
# reference proxy of the HTTP conformance test), nodejs and npm (the conformance suite, http-cache-tests, which
# tests/http_conformance installs from npm on first use).
missing=""
command -v redis-server >/dev/null || missing="$missing redis-server"
command -v curl >/dev/null || missing="$missing curl"
command -v nginx >/dev/null || missing="$missing nginx"
command -v wrk >/dev/null || missing="$missing wrk"
command -v node >/dev/null || missing="$missing nodejs"
command -v npm >/dev/null || missing="$missing npm"
if [ -n "$missing" ]; then
    echo "== installing$missing (Debian packages)"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'

echo "== unasync drift check"
python3 scripts/unasync.py --check
echo "== ruff"
python3 -m ruff check src tests scripts examples
python3 -m ruff format --check src tests scripts examples
echo "== mypy --strict"
python3 -m mypy
echo "== pytest"
python3 -m pytest "$@"
