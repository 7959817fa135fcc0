#!/usr/bin/env bash
# Compares two `tally` binaries on one throwaway PostgreSQL server (same
# provisioning as the tests), alternating them, each on its own database:
# uncontended transfers at 32 clients and postTransfers of 100 at 1 client,
# ROUNDS times each (default 2). For telling a change from the machine:
# the harness's ceilings move between machines, two binaries in one run do
# not. Use an even number of rounds: the order alternates. Example, this
# tree against the commit before a change:
#
#   git worktree add /tmp/before <commit> && (cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target cargo build --release -p api)
#   cargo build --release -p api -p bench
#   bash scripts/ab.sh /tmp/before-target/release/tally target/release/tally
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -lt 2 ]; then
  echo "usage: bash scripts/ab.sh BINARY_A BINARY_B [ROUNDS]" >&2
  exit 2
fi
A=$(realpath "$1") B=$(realpath "$2") ROUNDS=${3:-4}
BENCH="${CARGO_TARGET_DIR:-$PWD/target}/release/bench"
cargo build --release --locked -p bench
source scripts/pg.sh
PREFIX=${TALLY_PG_URL%/*}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for round in $(seq "$ROUNDS"); do
  # Alternate which binary goes first: the second run of a round inherits
  # the first one's checkpoint and autovacuum work, which favours the first.
  ORDER="a b"; [ $((round % 2)) -eq 0 ] && ORDER="b a"
  for side in $ORDER; do
    BINARY=$A; [ "$side" = b ] && BINARY=$B
    DIR=$(mktemp -d); EXTRA=()
    psql "$TALLY_PG_URL" -qc "CREATE DATABASE ab_${side}_$round"
    # Binaries with rate limiting get it out of the way (older ones lack the flag).
    "$BINARY" serve --help | grep -q -- --rate-limit && EXTRA=(--rate-limit 0)
    RUST_LOG=warn "$BINARY" serve --listen "127.0.0.1:$PORT" --database-url "$PREFIX/ab_${side}_$round" --data-dir "$DIR" "${EXTRA[@]}" 2>"$DIR/log" &
    PID=$!
    up=""
    for _ in $(seq 150); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && { up=1; break; }; sleep 0.2; done
    [ -n "$up" ] || { echo "$BINARY did not come up:" >&2; cat "$DIR/log" >&2; exit 1; }
    for scenario in "uncontended 32" "batch100 1"; do
      set -- $scenario
      "$BENCH" --url "http://127.0.0.1:$PORT" --scenario "$1" --clients "$2" --duration 10 --warmup 2 --accounts 2000 \
        --json "$DIR/r.json" --markdown "$DIR/r.md" --plot "$DIR/r.svg" 2>/dev/null | grep "^| external" | sed "s/^/round $round $side: /"
    done
    kill "$PID"; wait "$PID" || true
    rm -rf "$DIR"
  done
done
