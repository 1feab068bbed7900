#!/usr/bin/env bash
# Install the project into .venv (idempotent). Sourced by demo.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
# Compiled French/English catalogues (the .po sources are in the repository).
.venv/bin/pybabel -q compile -d translations -f 2>/dev/null || true
