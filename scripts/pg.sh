#!/usr/bin/env bash
# Sourced by test.sh and bench.sh: provisions a throwaway PostgreSQL server
# (installing Debian's `postgresql` package when absent), exports
# TALLY_PG_URL (an admin URL) and PG_BIN, and removes the server on exit.

find_pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

if ! PG_BIN=$(find_pg_bin); then
  echo "==> installing PostgreSQL (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql >/dev/null
  PG_BIN=$(find_pg_bin)
fi
export PG_BIN PATH="$PG_BIN:$PATH"

# PostgreSQL refuses to run as root: as root, run it as the `postgres` user.
RUN_AS=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --create-home postgres
  RUN_AS=(runuser -u postgres --)
fi

PG_DIR=$(mktemp -d /tmp/tally-pg.XXXXXX)
chmod 755 "$PG_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres "$PG_DIR"
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)

pg_cleanup() {
  "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap pg_cleanup EXIT

echo "==> starting a throwaway PostgreSQL on 127.0.0.1:$PG_PORT (durable commits: fsync on, synchronous_commit on)"
"${RUN_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >/dev/null
export PG_START_OPTIONS="-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=400 -c shared_buffers=256MB"
"${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w start -o "$PG_START_OPTIONS" >/dev/null
export TALLY_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
# For scripts that restart or crash the server (chaos.sh).
export PG_DATA="$PG_DIR/data" PG_LOG="$PG_DIR/log" PG_RUN_AS="${RUN_AS[2]:-}"
