#!/usr/bin/env bash
# The outside check: a plain load generator (wrk, Debian's package, with
# scripts/wrk/transfer.lua posting the `transfer` mutation) against a
# release `tally serve` on a throwaway PostgreSQL, then the raw-SQL
# ceilings (pgbench with ../shared/bench/ceiling) at the same concurrency
# and duration on the same server. Prints transfers/s and the ratios.
# Usage: bash scripts/wrk.sh [SECONDS] [CONNECTIONS] [ACCOUNTS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}; CONNS=${2:-32}; ACCOUNTS=${3:-1000}
if ! command -v wrk >/dev/null; then
  echo "==> installing wrk (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq wrk >/dev/null
fi
source scripts/pg.sh
cargo build --release --locked -p api -p bench
CEILING=../shared/bench/ceiling
WORK=$(mktemp -d)
PORT=18300
psql "$TALLY_PG_URL" -qc "CREATE DATABASE wrk_tally" -c "CREATE DATABASE wrk_ceiling"
BASE=${TALLY_PG_URL%/*}
./target/release/tally serve --listen 127.0.0.1:$PORT --database-url "$BASE/wrk_tally" --data-dir "$WORK" \
  >"$WORK/tally.log" 2>&1 &
TALLY_PID=$!
trap 'kill $TALLY_PID 2>/dev/null || true; rm -rf "$WORK"; pg_cleanup' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
./target/release/bench --url "http://127.0.0.1:$PORT" --accounts "$ACCOUNTS" --prepare-only "$WORK/ids" \
  --json "$WORK/b.json" --markdown "$WORK/b.md" --plot "$WORK/b.svg"
THREADS=2
echo "==> wrk: $CONNS connections, $SECS s (2 s warm-up first)"
WRK_IDS="$WORK/ids" WRK_RUN="warm$RANDOM" wrk -t$THREADS -c"$CONNS" -d2s -s scripts/wrk/transfer.lua \
  "http://127.0.0.1:$PORT/graphql" >/dev/null
CPU0=$(awk '{print $14+$15}' /proc/$TALLY_PID/stat)
OUT=$(WRK_IDS="$WORK/ids" WRK_RUN="run$RANDOM" wrk -t$THREADS -c"$CONNS" -d"${SECS}s" -s scripts/wrk/transfer.lua \
  "http://127.0.0.1:$PORT/graphql")
CPU1=$(awk '{print $14+$15}' /proc/$TALLY_PID/stat)
echo "$OUT" | tail -3
LINE=$(echo "$OUT" | grep '^WRK ')
REQS=$(echo "$LINE" | sed 's/.*requests=\([0-9]*\).*/\1/')
DUR=$(echo "$LINE" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
ERRS=$(echo "$LINE" | sed 's/.*errors=\([0-9]*\).*/\1/')
TALLY_RATE=$(python3 -c "print(round(($REQS-$ERRS)/$DUR))")
HZ=$(getconf CLK_TCK)
SERVER_US=$(python3 -c "print(round(($CPU1-$CPU0)/$HZ*1e6/max($REQS-$ERRS,1)))")
echo "==> ceilings (pgbench, $CONNS clients, $SECS s)"
PGOPTIONS="-c client_min_messages=warning" psql "$BASE/wrk_ceiling" -q -v naccounts="$ACCOUNTS" -f "$CEILING/schema.sql" >/dev/null
psql "$BASE/wrk_ceiling" -q -f "$CEILING/function.sql" -f "$CEILING/batch.sql" >/dev/null
pgbench_rate() {
  pgbench "$BASE/wrk_ceiling" -n -M prepared -c "$CONNS" -j 2 -T "$SECS" -D naccounts="$ACCOUNTS" -D hot=0 \
    -f "$CEILING/$1" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
}
MULTI=$(pgbench_rate transfer.sql)
SINGLE=$(pgbench_rate transfer_fn.sql)
python3 - "$TALLY_RATE" "$MULTI" "$SINGLE" "$ERRS" "$SERVER_US" <<'PY'
import sys
t, m, s, e, cpu = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
print(f"wrk uncontended: Tally {t:,.0f}/s ({e} errors; server CPU {cpu} µs per transfer); "
      f"transfer.sql {m:,.0f}/s -> {t/m:.2f}x; transfer_fn.sql {s:,.0f}/s -> {t/s:.2f}x")
PY
