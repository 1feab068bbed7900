#!/usr/bin/env bash
# Install and run the whole test suite: unit, integration (real PostgreSQL, Redis, Celery worker,
# fake Stripe server) and browser tests (Debian's Chromium). Starts PostgreSQL and Redis on
# loopback when none answers, installing the Debian packages if needed (needs root for that).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- PostgreSQL on 127.0.0.1:5432
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "Installing PostgreSQL (Debian package)..."
    apt_install postgresql
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    # Test-only cluster on loopback: trust local connections from this machine.
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    as_root sed -i -E 's/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$hba"
  fi
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# --- Redis on 127.0.0.1:6379
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  command -v redis-server >/dev/null || { echo "Installing Redis (Debian package)..."; apt_install redis-server; }
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 20); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.5; done
fi

# --- Chromium for the browser tests, DejaVu fonts for PDFs (never a downloaded browser)
if [ ! -x /usr/bin/chromium ]; then echo "Installing Debian's chromium..."; apt_install chromium; fi
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then apt_install fonts-dejavu-core; fi

bash scripts/install.sh
export PYTHONDONTWRITEBYTECODE=1
if [ "$#" -eq 0 ]; then
  # The whole suite: the in-process layers (unit, security, the Stripe fake's own tests) on both cores
  # (pytest-xdist; each worker has its own databases), then the tests that start servers, Celery workers and
  # the browser, one after the other (they share ports, the broker and the worker).
  .venv/bin/python -m pytest -p no:cacheprovider -q -n 2 tests/unit tests/security tests/fakes
  exec .venv/bin/python -m pytest -p no:cacheprovider -q tests/e2e tests/integration
fi
exec .venv/bin/python -m pytest -p no:cacheprovider -q "$@"
