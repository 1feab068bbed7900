#!/usr/bin/env bash
# Install, migrate, seed and serve the demo coop on the embedded defaults
# (SQLite file, SQLite Celery broker, a worker and beat started beside the web server, pay at pickup).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install.sh
export FLASK_APP=marketplace
# The demo: loopback hosts are trusted and a new account's confirmation e-mail is shown on the page.
export COOP_DEMO=1
# Its own signing key, made once on this machine: never the code's public default.
INSTANCE="${INSTANCE_PATH:-$ROOT/instance}"
mkdir -p "$INSTANCE"
if [ ! -s "$INSTANCE/demo-secret-key" ]; then
  (umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(48))" > "$INSTANCE/demo-secret-key")
fi
export SECRET_KEY="${SECRET_KEY:-$(cat "$INSTANCE/demo-secret-key")}"
# E-mailed links point at the demo as this machine serves it.
export PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1:${PORT:-5000}}"
exec .venv/bin/flask demo --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
