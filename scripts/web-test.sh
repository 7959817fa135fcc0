#!/usr/bin/env bash
# End-to-end test of the browser wallet (examples/web) against a real server.
#
# Installs Debian's chromium when /usr/bin/chromium is missing, runs `npm ci`
# when examples/web/node_modules is missing or older than package-lock.json,
# generates the GraphQL types from schema.graphql, type-checks and builds the
# app, builds `tally` (cargo build -p api), starts it on a throwaway SQLite
# database and the vite preview server (proxying /graphql to it) on free
# loopback ports, and runs e2e/wallet.e2e.mjs in headless Chromium. Both
# servers and the temporary directory are removed afterwards, whatever the
# outcome. Screenshots go to examples/web/test-results/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WEB="$ROOT/examples/web"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing chromium (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi

if ! command -v node >/dev/null || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "!! the browser test needs Node.js 20.19 or newer with npm (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

cd "$WEB"
# npm ci when node_modules is missing or was installed from another lockfile.
LOCK_SUM=$(sha256sum package-lock.json | cut -d' ' -f1)
STAMP=node_modules/.web-test-lock.sha256
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$LOCK_SUM" ]; then
  echo "==> npm ci (examples/web)"
  npm ci --no-audit --no-fund
  echo "$LOCK_SUM" > "$STAMP"
fi

echo "==> codegen, type check, vite build"
npm run --silent build

echo "==> cargo build -p api"
(cd "$ROOT" && cargo build -p api --locked)
TALLY="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tally"
[[ "$TALLY" = /* ]] || TALLY="$ROOT/$TALLY"

TMP=$(mktemp -d /tmp/tally-web-test.XXXXXX)
TALLY_PID=""
WEB_PID=""
cleanup() {
  local pid
  for pid in $WEB_PID $TALLY_PID; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $WEB_PID $TALLY_PID; do
    # SIGTERM drains in-flight requests; give it a few seconds, then insist.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# wait_http URL PID LOG WHAT: until URL answers 200, while PID lives (60 s at most).
wait_http() {
  local url=$1 pid=$2 log=$3 what=$4
  for _ in $(seq 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "!! $what exited before it was ready; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)" = 200 ] && return 0
    sleep 0.1
  done
  echo "!! $what did not answer 200 on $url within 60 s; its log:" >&2
  cat "$log" >&2
  exit 1
}

TALLY_PORT=$(free_port)
echo "==> tally serve on 127.0.0.1:$TALLY_PORT (SQLite in $TMP)"
"$TALLY" serve --listen "127.0.0.1:$TALLY_PORT" --database-url "sqlite:$TMP/tally.db" --data-dir "$TMP" \
  >"$TMP/tally.log" 2>&1 &
TALLY_PID=$!
wait_http "http://127.0.0.1:$TALLY_PORT/health" "$TALLY_PID" "$TMP/tally.log" "tally"

WEB_PORT=$(free_port)
echo "==> vite preview on 127.0.0.1:$WEB_PORT (proxying /graphql)"
TALLY_URL="http://127.0.0.1:$TALLY_PORT" node node_modules/vite/bin/vite.js preview \
  --host 127.0.0.1 --port "$WEB_PORT" --strictPort >"$TMP/vite.log" 2>&1 &
WEB_PID=$!
wait_http "http://127.0.0.1:$WEB_PORT/" "$WEB_PID" "$TMP/vite.log" "vite preview"

echo "==> browser test"
status=0
TALLY_URL="http://127.0.0.1:$TALLY_PORT" WEB_URL="http://127.0.0.1:$WEB_PORT" \
  RESULTS_DIR="$WEB/test-results" node e2e/wallet.e2e.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- tally log (last 40 lines) ---"; tail -n 40 "$TMP/tally.log"
  echo "--- vite log (last 20 lines) ---"; tail -n 20 "$TMP/vite.log"
fi
exit "$status"
