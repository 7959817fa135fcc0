#!/usr/bin/env bash
# Browser test of the in-browser IDEs (GraphiQL on GET /graphql, GraphQL
# Playground on GET /playground) against a real server, offline.
#
# Installs Debian's chromium when /usr/bin/chromium is missing, runs `npm ci`
# in examples/ide-test when node_modules is missing or was installed from
# another package-lock.json, lays out the IDEs' pinned files with
# scripts/ide-assets.sh (checking each against the SRI hash in the pages),
# creates an admin API key, starts `tally serve --ide-assets …` on a throwaway
# SQLite database and a free loopback port, creates a USD account, and runs
# examples/ide-test/ide.e2e.mjs in headless Chromium, where every request to a
# host other than 127.0.0.1 is blocked and fails the test. In each IDE it puts
# the key in the headers editor, runs a query, then a subscription that must
# show a deposit posted meanwhile. Screenshots go to examples/ide-test/test-results/.
#
# Uses the already built binary `${TALLY_BIN:-${CARGO_TARGET_DIR:-target}/debug/tally}`
# (it does not build it: `cargo build -p api` first; the pages are compiled
# into it). The server and the temporary directory are removed afterwards,
# whatever the outcome.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP="$ROOT/examples/ide-test"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

if [ ! -x /usr/bin/chromium ]; then
  echo "==> installing chromium (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null ||
  ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "!! the IDE test needs Node.js 20.19 or newer with npm (found: $(node --version 2>/dev/null || echo none))" >&2
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
STAMP=node_modules/.ide-test-lock.sha256
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$LOCK_SUM" ]; then
  echo "==> npm ci (examples/ide-test)"
  npm ci --no-audit --no-fund
  echo "$LOCK_SUM" > "$STAMP"
fi

TMP=$(mktemp -d /tmp/tally-ide-test.XXXXXX)
TALLY_PID=""
cleanup() {
  if [ -n "$TALLY_PID" ]; then
    kill "$TALLY_PID" 2>/dev/null || true
    # SIGTERM drains in-flight requests; give it a few seconds, then insist.
    for _ in $(seq 50); do kill -0 "$TALLY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$TALLY_PID" 2>/dev/null || true
    wait "$TALLY_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> IDE assets (npm registry, checked against the pages' SRI hashes)"
bash "$ROOT/scripts/ide-assets.sh" "$TMP/assets"

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

DB="sqlite:$TMP/t.db"
echo "==> admin API key"
KEY=$("$TALLY" keys --database-url "$DB" create --name ide --scope admin 2>"$TMP/keys.log") || {
  echo "!! tally keys create failed:" >&2; cat "$TMP/keys.log" >&2; exit 1
}
KEY=$(printf '%s' "$KEY" | tr -d '[:space:]')
if [[ ! "$KEY" =~ ^tally_ ]]; then
  echo "!! tally keys create printed no key (got: ${KEY:0:20}…); its log:" >&2; cat "$TMP/keys.log" >&2; exit 1
fi

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
echo "==> tally serve on 127.0.0.1:$PORT (SQLite in $TMP, --ide-assets)"
"$TALLY" serve --listen "127.0.0.1:$PORT" --database-url "$DB" --data-dir "$TMP" --ide-assets "$TMP/assets" \
  >"$TMP/tally.log" 2>&1 &
TALLY_PID=$!
for i in $(seq 600); do
  if ! kill -0 "$TALLY_PID" 2>/dev/null; then
    echo "!! tally exited before it was ready; its log:" >&2; cat "$TMP/tally.log" >&2; exit 1
  fi
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/readyz" || true)" = 200 ] && break
  if [ "$i" -eq 600 ]; then
    echo "!! tally did not answer 200 on $URL/readyz within 60 s; its log:" >&2; cat "$TMP/tally.log" >&2; exit 1
  fi
  sleep 0.1
done

# The pages are compiled into the binary: one built before the templates last
# changed serves other pages than the ones this test (and ide-assets.sh) expect.
for pair in "graphql graphiql.html" "playground playground.html"; do
  read -r path template <<<"$pair"
  curl -sf -H 'Accept: text/html' "$URL/$path" -o "$TMP/served.html" || {
    echo "!! GET $URL/$path (Accept: text/html) failed" >&2; exit 1
  }
  if ! sed 's#{{ASSETS}}#/ide-assets#g' "$ROOT/api/src/http/ide/$template" | cmp -s - "$TMP/served.html"; then
    echo "!! $TALLY serves another /$path page than api/src/http/ide/$template (with {{ASSETS}} = /ide-assets):" >&2
    echo "!! the binary predates the template; rebuild it (cargo build -p api). It serves:" >&2
    head -c 300 "$TMP/served.html" >&2; echo >&2
    exit 1
  fi
done

CODE="ide-test-$(date +%s)-$$"
echo "==> USD account $CODE"
ACCOUNT_ID=$(curl -sS --max-time 10 "$URL/graphql" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d "{\"query\":\"mutation { createAccount(input: {code: \\\"$CODE\\\", currency: \\\"USD\\\"}) { id } }\"}" |
  node -e 'let s=""; process.stdin.on("data", d => s += d).on("end", () => {
    const id = JSON.parse(s)?.data?.createAccount?.id;
    if (!id) { console.error("!! createAccount failed: " + s); process.exit(1); }
    console.log(id);
  })')

echo "==> browser test"
status=0
TALLY_URL="$URL" API_KEY="$KEY" ACCOUNT_ID="$ACCOUNT_ID" ACCOUNT_CODE="$CODE" \
  RESULTS_DIR="$APP/test-results" node ide.e2e.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- tally log (last 40 lines) ---"; tail -n 40 "$TMP/tally.log"
fi
exit "$status"
