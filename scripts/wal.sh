#!/usr/bin/env bash
# Where each transfer's WAL goes: a release `tally serve` on a throwaway
# PostgreSQL, 10,000 funded accounts, wrk (scripts/wrk/transfer.lua, 32
# connections) for SECONDS, then PostgreSQL's own accounting of the WAL
# written meanwhile (pg_walinspect): bytes per committed transfer in all,
# by record type, by relation (table or index), and server CPU per transfer.
# Usage: bash scripts/wal.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
source scripts/pg.sh
cargo build --release --locked -p api -p bench
BASE=${TALLY_PG_URL%/*}
P=(psql "$BASE/wal" -qAt)
psql "$TALLY_PG_URL" -qc "CREATE DATABASE wal"
"${P[@]}" -c "CREATE EXTENSION pg_walinspect"
WORK=$(mktemp -d); PORT=18310
./target/release/tally serve --listen 127.0.0.1:$PORT --database-url "$BASE/wal" --data-dir "$WORK" >"$WORK/log" 2>&1 &
TALLY_PID=$!
trap 'kill $TALLY_PID 2>/dev/null || true; rm -rf "$WORK"; pg_cleanup' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
./target/release/bench --url "http://127.0.0.1:$PORT" --accounts 10000 --prepare-only "$WORK/ids" \
  --json "$WORK/b.json" --markdown "$WORK/b.md" --plot "$WORK/b.svg" >/dev/null
WRK_IDS="$WORK/ids" WRK_RUN="warm$RANDOM" wrk -t2 -c32 -d2s -s scripts/wrk/transfer.lua "http://127.0.0.1:$PORT/graphql" >/dev/null
sleep 1
L0=$("${P[@]}" -c "SELECT pg_current_wal_lsn()")
N0=$("${P[@]}" -c "SELECT count(*) FROM transfer")
C0=$(awk '{print $14+$15}' /proc/$TALLY_PID/stat)
WRK_IDS="$WORK/ids" WRK_RUN="run$RANDOM" wrk -t2 -c32 -d"${SECS}s" -s scripts/wrk/transfer.lua \
  "http://127.0.0.1:$PORT/graphql" | grep -E "Requests/sec|^WRK"
C1=$(awk '{print $14+$15}' /proc/$TALLY_PID/stat)
sleep 1  # the sealer's journal for the last transfers
L1=$("${P[@]}" -c "SELECT pg_current_wal_lsn()")
N=$(( $("${P[@]}" -c "SELECT count(*) FROM transfer") - N0 ))
HZ=$(getconf CLK_TCK)
echo "transfers: $N; server CPU per transfer: $(( (C1 - C0) * 1000000 / HZ / N )) µs;" \
  "WAL per transfer: $("${P[@]}" -c "SELECT round(pg_wal_lsn_diff('$L1', '$L0') / $N)") B"
echo "== by record type: records and bytes per transfer"
"${P[@]}" -F ' ' -c "SELECT \"resource_manager/record_type\", round(count::numeric / $N, 2),
  round(combined_size::numeric / $N) FROM pg_get_wal_stats('$L0', '$L1', true)
  WHERE count > 0 ORDER BY combined_size DESC LIMIT 12"
echo "== by relation: bytes and records per transfer"
"${P[@]}" -F ' ' -c "WITH r AS (SELECT record_length, (regexp_match(block_ref, 'rel \d+/\d+/(\d+)'))[1]::oid AS node
    FROM pg_get_wal_records_info('$L0', '$L1'))
  SELECT coalesce(c.relname, 'other'), round(sum(record_length)::numeric / $N), round(count(*)::numeric / $N, 2)
  FROM r LEFT JOIN pg_class c ON c.relfilenode = r.node GROUP BY 1 HAVING sum(record_length) >= $N
  ORDER BY 2 DESC"
