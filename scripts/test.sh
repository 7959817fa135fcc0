#!/usr/bin/env bash
# Runs every test on SQLite and on PostgreSQL, then (with no arguments) the
# browser tests of the example wallet and the IDEs (scripts/web-test.sh,
# scripts/ide-test.sh) and the Apollo Client proof (scripts/apollo-test.sh).
#
# Provisions a throwaway PostgreSQL server (installing Debian's `postgresql`
# package when absent), points the tests at it through TALLY_TEST_PG_URL,
# and removes it afterwards, whatever the outcome. Extra arguments go to
# `cargo test` (e.g. `bash scripts/test.sh races`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
export TALLY_TEST_PG_URL="$TALLY_PG_URL"
# Process-level tests (SIGTERM, TLS, the keys commands) run the real binary.
echo "==> cargo build -p api (the tally binary for process tests)"
cargo build -p api --locked
export TALLY_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/tally"
echo "==> cargo test (SQLite and PostgreSQL)"
cargo test --workspace --locked "$@"
if [ "$#" -eq 0 ]; then
  echo "==> browser test (examples/web, headless Chromium)"
  bash scripts/web-test.sh
  echo "==> browser test of the IDEs (GraphiQL, Playground; offline assets)"
  bash scripts/ide-test.sh
  echo "==> Apollo Client 4 (Node.js, HTTP and graphql-ws)"
  bash scripts/apollo-test.sh
fi
