#!/usr/bin/env bash
# The fault suite: three `tally serve` instances, 32 clients retrying every
# unknown outcome under its idempotency key, faults, then every acknowledged
# transfer reconciled with the ledger. Exit status 0 only when everything holds.
#
# On one throwaway PostgreSQL server (provisioned like the tests'), a cycle
# of kill -9 and restart of an instance, pg_terminate_backend on every
# connection, a fast restart, an immediate stop (crash) and start, a row
# lock held past the statement timeout:
#
#   bash scripts/chaos.sh                   # 60 s (what CI runs)
#   bash scripts/chaos.sh --duration 600    # the documented 10-minute run
#
# On a replicated cluster (scripts/cluster.sh: three PostgreSQL nodes under
# Patroni, etcd, HAProxy; Tally through HAProxy's primary port), each
# cluster fault in turn — kill -9 of the primary's postmaster, loss of the
# primary node, a planned switchover, kill -9 of the synchronous standby,
# kill -9 of an etcd member — ROUNDS times, with a plain psql insert through
# HAProxy measuring the cluster's own recovery beside Tally's:
#
#   bash scripts/chaos.sh --cluster            # one round (what CI runs)
#   bash scripts/chaos.sh --cluster --rounds 5 # the documented long run
#
# Extra arguments go to the driver (chaos/src/main.rs; --help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
CLUSTER=""
if [ "${1:-}" = "--cluster" ]; then
  CLUSTER=1
  shift
fi
echo "==> cargo build -p api -p chaos"
cargo build --locked -p api -p chaos
if [ -n "$CLUSTER" ]; then
  CLUSTER_DIR="$TARGET/chaos-cluster"
  cluster_down() { bash scripts/cluster.sh down "$CLUSTER_DIR" || true; }
  trap cluster_down EXIT
  echo "==> cluster up (Patroni, etcd, HAProxy)"
  bash scripts/cluster.sh up "$CLUSTER_DIR"
  # shellcheck disable=SC1091
  source "$CLUSTER_DIR/env"
  echo "==> chaos on the cluster"
  "$TARGET/debug/chaos" --binary "$TARGET/debug/tally" --dir "$TARGET/chaos" \
    --pg-url "$CLUSTER_PRIMARY_URL" --cluster-dir "$CLUSTER_DIR" --cluster-script scripts/cluster.sh "$@"
else
  source scripts/pg.sh
  [ -z "${PG_RUN_AS:-}" ] && unset PG_RUN_AS
  echo "==> chaos"
  "$TARGET/debug/chaos" --binary "$TARGET/debug/tally" --dir "$TARGET/chaos" "$@"
fi
