#!/usr/bin/env bash
# Install, migrate, seed and serve the demo coop on the embedded defaults
# (SQLite file, SQLite Celery broker, a worker and beat started beside the web server, pay at pickup).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install.sh
export FLASK_APP=marketplace
exec .venv/bin/flask demo --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
