#!/usr/bin/env bash
# End-to-end test of Apollo Client 4 (examples/apollo, Node.js, no browser)
# against a real server.
#
# Runs `npm ci` when examples/apollo/node_modules is missing or was installed
# from another package-lock.json, then runs examples/apollo/test.mjs twice,
# each time against a fresh `tally serve` on a throwaway SQLite database and a
# free loopback port:
#   1. with no credential configured (the open embedded default);
#   2. with an admin API key created by `tally keys create` before the server
#      starts, sent as `Authorization: Bearer …` over HTTP and in the
#      websocket's connection_init payload.
# Uses the already built binary `${TALLY_BIN:-${CARGO_TARGET_DIR:-target}/debug/tally}`
# (it does not build it: `cargo build -p api` first). Servers and temporary
# directories are removed afterwards, whatever the outcome.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP="$ROOT/examples/apollo"

if ! command -v node >/dev/null || ! command -v npm >/dev/null ||
  ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "!! the Apollo test needs Node.js 20 or newer with npm (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

TALLY="${TALLY_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/tally}"
[[ "$TALLY" = /* ]] || TALLY="$ROOT/$TALLY"
if [ ! -x "$TALLY" ]; then
  echo "!! no tally binary at $TALLY: build it first (cargo build -p api) or set TALLY_BIN" >&2
  exit 1
fi

cd "$APP"
# npm ci when node_modules is missing or was installed from another lockfile.
LOCK_SUM=$(sha256sum package-lock.json | cut -d' ' -f1)
STAMP=node_modules/.apollo-test-lock.sha256
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$LOCK_SUM" ]; then
  echo "==> npm ci (examples/apollo)"
  npm ci --no-audit --no-fund
  echo "$LOCK_SUM" > "$STAMP"
fi

TMP=""
TALLY_PID=""
stop_server() {
  if [ -n "$TALLY_PID" ]; then
    kill "$TALLY_PID" 2>/dev/null || true
    # SIGTERM drains in-flight requests; give it a few seconds, then insist.
    for _ in $(seq 50); do kill -0 "$TALLY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$TALLY_PID" 2>/dev/null || true
    wait "$TALLY_PID" 2>/dev/null || true
    TALLY_PID=""
  fi
  if [ -n "$TMP" ]; then
    rm -rf "$TMP"
    TMP=""
  fi
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# wait_ready URL: until URL answers 200, while the server lives (60 s at most).
wait_ready() {
  local url=$1
  for _ in $(seq 600); do
    if ! kill -0 "$TALLY_PID" 2>/dev/null; then
      echo "!! tally exited before it was ready; its log:" >&2
      cat "$TMP/tally.log" >&2
      exit 1
    fi
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)" = 200 ] && return 0
    sleep 0.1
  done
  echo "!! tally did not answer 200 on $url within 60 s; its log:" >&2
  cat "$TMP/tally.log" >&2
  exit 1
}

# run_case NAME WITH_KEY: a fresh server and database, then test.mjs.
run_case() {
  local name=$1 with_key=$2 key="" port status=0
  TMP=$(mktemp -d /tmp/tally-apollo-test.XXXXXX)
  local db="sqlite:$TMP/tally.db"
  if [ "$with_key" = yes ]; then
    echo "==> tally keys create --name apollo --scope admin"
    key=$("$TALLY" keys --database-url "$db" create --name apollo --scope admin 2>"$TMP/keys.log" | tail -n 1) || {
      echo "!! tally keys create failed; its output:" >&2
      cat "$TMP/keys.log" >&2
      exit 1
    }
    if [[ "$key" != tally_* ]]; then
      echo "!! tally keys create printed no key (got: '$key'); its log:" >&2
      cat "$TMP/keys.log" >&2
      exit 1
    fi
  fi
  port=$(free_port)
  echo "==> [$name] tally serve on 127.0.0.1:$port (SQLite in $TMP)"
  "$TALLY" serve --listen "127.0.0.1:$port" --database-url "$db" --data-dir "$TMP" \
    >"$TMP/tally.log" 2>&1 &
  TALLY_PID=$!
  wait_ready "http://127.0.0.1:$port/readyz"

  echo "==> [$name] node test.mjs"
  TALLY_URL="http://127.0.0.1:$port" TALLY_API_KEY="$key" node test.mjs || status=$?
  if [ "$status" -ne 0 ]; then
    echo "--- tally log (last 40 lines) ---"
    tail -n 40 "$TMP/tally.log"
    exit "$status"
  fi
  stop_server
}

run_case "no credential" no
run_case "API key" yes
echo "==> Apollo Client test passed (without and with an API key)"
