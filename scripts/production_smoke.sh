#!/usr/bin/env bash
# The README's "Production from nothing" steps, as written, on PostgreSQL and Redis:
# migrate, first admin, web (daphne) + monitor + worker, /health, /ready, login, and the
# Prometheus scrape of /metrics with an API token.
# Needs DATABASE_URL and REDIS_URL (an empty database is fine). Run from the repository root:
#   DATABASE_URL=postgres://... REDIS_URL=redis://... scripts/production_smoke.sh
# Stops every process it started (by pid) on exit. Exit status 0: all steps passed.
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL (PostgreSQL)}" "${REDIS_URL:?set REDIS_URL}"
PY=${PYTHON:-.venv/bin/python}
BIN=$(dirname "$PY")
PORT=${PORT:-8765}
WORK=$(mktemp -d)
export SNIPERBOT_VAR_DIR="$WORK/var" PYTHONUNBUFFERED=1
export SECRET_KEY=${SECRET_KEY:-smoke-test-secret-key-not-for-production-0123456789abcdef}
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-127.0.0.1,localhost}
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "1. migrate";        "$PY" manage.py migrate --noinput >/dev/null
echo "2. first admin";    "$PY" manage.py bootstrap_admin
PASSWORD=$(cat "$SNIPERBOT_VAR_DIR/admin_password")
echo "3. processes (web, monitor, worker)"
("$BIN/daphne" -b 127.0.0.1 -p "$PORT" sniperbot.asgi:application >"$WORK/web.log" 2>&1) & PIDS+=($!)
("$PY" manage.py run_monitor >"$WORK/monitor.log" 2>&1) & PIDS+=($!)
("$BIN/celery" -A sniperbot worker --without-gossip --without-mingle -P threads -c 2 >"$WORK/worker.log" 2>&1) & PIDS+=($!)

url="http://127.0.0.1:$PORT"
for _ in $(seq 1 60); do curl -fsS "$url/health" >/dev/null 2>&1 && break; sleep 0.5; done
echo "4. /health";        curl -fsS "$url/health"; echo
echo "5. login (the admin from step 2)"
JAR="$WORK/cookies"
curl -fsS -c "$JAR" "$url/accounts/login/" >/dev/null
CSRF=$(awk '$6 == "csrftoken" {print $7}' "$JAR")
# Each answer is read whole before it is searched: `curl | grep -q` fails under pipefail when
# grep stops reading early (curl: (23) Failure writing output).
status=$(curl -fsS -b "$JAR" -c "$JAR" -o /dev/null -w "%{http_code}" -X POST \
  -H "Referer: $url/accounts/login/" \
  --data-urlencode "csrfmiddlewaretoken=$CSRF" --data-urlencode "username=admin" \
  --data-urlencode "password=$PASSWORD" "$url/accounts/login/?next=/dashboard/")
[[ "$status" == 302 ]] || { echo "login answered $status, not 302"; exit 1; }
page=$(curl -fsS -b "$JAR" "$url/dashboard/")
grep -q 'data-testid="config-form"' <<<"$page" || { echo "the dashboard has no config form"; exit 1; }
echo "6. /ready (every dependency: database, Redis, monitor, worker, exchange)"
for _ in $(seq 1 60); do curl -fsS -b "$JAR" "$url/ready" >/dev/null 2>&1 && break; sleep 0.5; done
curl -sS -b "$JAR" "$url/ready"; echo
curl -fsS -b "$JAR" "$url/ready" >/dev/null
echo "7. Prometheus: /metrics with an API token (the admin's, from drf_create_token)"
token_line=$("$PY" manage.py drf_create_token admin)  # "Generated token <key> for user admin"
KEY=$(awk '$1 == "Generated" && $2 == "token" {print $3}' <<<"$token_line")
[[ -n "$KEY" ]] || { echo "drf_create_token printed no token: $token_line"; exit 1; }
status=$(curl -sS -o /dev/null -w "%{http_code}" "$url/metrics")
[[ "$status" == 401 || "$status" == 403 ]] || { echo "/metrics without a token answered $status"; exit 1; }
metrics=$(curl -fsS -H "Authorization: Token $KEY" "$url/metrics")
grep -qE '^trades_total\{' <<<"$metrics" || { echo "/metrics has no trades_total series"; exit 1; }
echo "   trades_total series: $(grep -c '^trades_total{' <<<"$metrics")"
echo "OK: production smoke passed"
