#!/usr/bin/env bash
# The fault suite: three `tally serve` instances on one throwaway PostgreSQL
# server (provisioned like the tests'), 32 clients retrying every unknown
# outcome under its idempotency key, and a cycle of faults — kill -9 and
# restart of an instance, pg_terminate_backend on every connection, a fast
# restart of PostgreSQL, an immediate stop (crash) and start, a row lock
# held past the statement timeout. Then every acknowledged transfer is
# reconciled with the ledger. Exit status 0 only when everything holds.
#
#   bash scripts/chaos.sh                   # 60 s (what CI runs)
#   bash scripts/chaos.sh --duration 600    # the documented 10-minute run
#
# Extra arguments go to the driver (chaos/src/main.rs; --help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg.sh
echo "==> cargo build -p api -p chaos"
cargo build --locked -p api -p chaos
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
[ -z "${PG_RUN_AS:-}" ] && unset PG_RUN_AS
echo "==> chaos"
"$TARGET/debug/chaos" --binary "$TARGET/debug/tally" --dir "$TARGET/chaos" "$@"
