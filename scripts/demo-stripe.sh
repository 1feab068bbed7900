#!/usr/bin/env bash
# The demo coop with card payments, against the fake Stripe server of the test suite (no Stripe account,
# no network): card checkout, Express onboarding, transfers, refunds and chargebacks all work locally.
# For Stripe's own test mode instead, see "Card payments in the demo" in the README.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install.sh
HOST="${HOST:-127.0.0.1}" PORT="${PORT:-5000}" STRIPE_PORT="${STRIPE_PORT:-12111}"
.venv/bin/python -m tests.fakes.stripe_server --port "$STRIPE_PORT" --app "http://$HOST:$PORT" \
  --webhook-secret whsec_demo --connect-webhook-secret whsec_demo_connect &
FAKE_STRIPE=$!
trap 'kill "$FAKE_STRIPE" 2>/dev/null || true' EXIT
export STRIPE_SECRET_KEY=sk_test_demo STRIPE_API_BASE="http://127.0.0.1:$STRIPE_PORT"
export STRIPE_WEBHOOK_SECRET=whsec_demo STRIPE_CONNECT_WEBHOOK_SECRET=whsec_demo_connect
export PUBLIC_URL="http://$HOST:$PORT" FLASK_APP=marketplace
.venv/bin/flask demo --host "$HOST" --port "$PORT"
