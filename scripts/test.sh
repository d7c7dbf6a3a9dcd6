#!/usr/bin/env bash
# The test command: set up what is missing, then lint, type-check the pure core, and run the
# tests (which start their own mosquitto on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test  # with tshark, which tests/test_han_capture.py needs
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict (the pure core: pyproject.toml lists it)"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"
