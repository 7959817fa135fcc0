#!/usr/bin/env bash
# Runs the benchmark harness against a throwaway PostgreSQL server (same
# provisioning as the tests) and SQLite; writes bench-results.json,
# BENCHMARKS.md and docs/bench.svg. Extra arguments go to the harness
# (e.g. `bash scripts/bench.sh --duration 5 --clients 1,32`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
cargo build --release --locked -p api -p bench
./target/release/bench --pg-url "$TALLY_PG_URL" "$@"
