#!/usr/bin/env bash
# A loopback-only, highly available PostgreSQL 15 cluster for Tally's fault
# tests: 3 etcd members, 3 Patroni nodes, one HAProxy. Everything listens on
# 127.0.0.1 on free ports picked at start; nothing is left behind by `down`.
#
#   bash scripts/cluster.sh up [DIR]     # default DIR: target/cluster (then: source DIR/env)
#   bash scripts/cluster.sh status       # patronictl list, etcd health, HAProxy ports
#   bash scripts/cluster.sh down [DIR]   # stop what `up` started, remove DIR (idempotent)
#
# Fault helpers for a driver (DIR from $CLUSTER_DIR, else target/cluster; they
# work from any directory and print one `key=value ...` line on stdout):
#   leader | sync-standby            print the node number (1-3) holding that role
#   kill-primary-postgres            kill -9 the leader's postmaster (Patroni fails over)
#   kill-sync-standby                kill -9 the sync standby's postmaster
#   kill-node [N]                    kill -9 node N's Patroni + postmaster + backends (default: the leader)
#   start-node N                     start node N's Patroni again (it starts/rewinds PostgreSQL)
#   switchover                       patronictl switchover --force, leader -> sync standby
#   kill-etcd [N|leader] | start-etcd N   kill -9 etcd member N (default: the raft leader) / restart it
#   etcd-leader                      print the etcd member number that is raft leader
#   healthy                          exit 0 iff Leader + Sync Standby + Replica run, 3 etcd
#                                    members are healthy and both HAProxy ports reach the right role
#   wait-healthy [SECONDS]           wait (default 120 s) until `healthy`
#   pid etcd|patroni|postgres N | pid haproxy
#
# Topology (N = 1, 2, 3; every port chosen free at `up`, written to DIR/env):
#
#   etcdN  (etcd 3.4, v3 API, user postgres)  client + peer port, data DIR/etcdN/data
#      ^  leader lock, member keys, /sync key (Patroni's DCS, `etcd3:` section;
#      |  etcd 3.4 has the v2 API off, so `etcd:` would not work)
#   nodeN  (Patroni 3.0.2, user postgres)     REST port, DIR/nodeN/patroni.{yml,log}
#      |-- PostgreSQL 15 postmaster           pg port, data DIR/nodeN/data, log DIR/nodeN/postgres.log
#   HAProxy (root)  PRIMARY port  -> the node whose Patroni REST `OPTIONS /primary` is 200
#                   REPLICAS port -> the first node (in order) whose `OPTIONS /replica` is 200
#                                    (`balance first`: one server for every pooled connection, which
#                                    Tally's consistency tokens need; the next replica when it fails)
#                   stats page on a third port
#   pid files: DIR/run/{etcdN,patroniN,postgresN,haproxy,reaperN}.pid (postgresN.pid
#   is refreshed by every subcommand; the live truth is DIR/nodeN/data/postmaster.pid;
#   reaperN is Patroni's parent, see start_patroni)
#
# Durability: synchronous_mode + synchronous_mode_strict. Patroni keeps exactly
# one standby in synchronous_standby_names, so a COMMIT is acknowledged only once
# its WAL is flushed on two nodes, and an automatic failover only ever promotes
# that sync standby: no acknowledged commit is lost. If the sync standby dies,
# commits wait (they are not refused) until Patroni's next loop names the other
# standby (measured: under 1 s). With EVERY standby down, writes BLOCK (strict
# mode keeps the dead standby's name, then '*', in synchronous_standby_names)
# until a standby streams again; reads keep working. A client that gives up on
# a blocked COMMIT does not undo it: it commits once a standby is back (an
# unknown outcome, like any lost connection). Note that '*' lets any replication
# connection (even a pg_basebackup) count as the synchronous standby.
# fsync=on, synchronous_commit=on.
#
# etcd needs a majority, 2 of 3 members: losing one changes nothing visible
# (measured); losing two leaves no quorum, Patroni cannot renew the leader lock
# and the primary demotes itself (failsafe_mode is off; measured: ~7 s after
# the second member died): writes are refused until 2 members are back.
#
# Timings (chosen for fast failover on one loopback host):
#   ttl 10 s             leader lock lease. A dead leader (node loss) is replaced
#                        ~ttl after its last renewal. Lower = faster failover but a
#                        primary stalled longer than this (CPU starvation, slow
#                        etcd) is demoted. Patroni >= 3.2 refuses ttl < 20 (it
#                        would raise it); 3.0.2, Debian bookworm's, accepts 10.
#   loop_wait 1 s        Patroni's HA loop period: how soon a crashed postmaster,
#                        a dead sync standby or a switchover request is acted on.
#                        Costs one etcd write + one SQL query per node per second.
#   retry_timeout 4 s    how long DCS/PostgreSQL calls are retried before Patroni
#                        gives up (a primary that cannot reach etcd that long
#                        demotes). Rule: loop_wait + 2*retry_timeout <= ttl
#                        (1 + 8 <= 10), so a brief etcd hiccup never loses the lock
#                        (5 would break the rule with ttl 10).
#   primary_start_timeout 0   a crashed primary postmaster is not restarted in
#                        place: Patroni fails over to the sync standby at once
#                        (safe here: sync mode means no data loss).
#   maximum_lag_on_failover 1 MiB  a replica further behind may not be promoted
#                        (in sync mode only the sync standby is promoted anyway).
#   wal_retrieve_retry_interval 500ms  how soon a standby retries the primary;
#                        after a failover its first try fails (its slot does not
#                        exist yet on the new primary) and strict sync mode makes
#                        writes wait for it. The default 5 s cost ~2.5 s per failover.
#   HAProxy checks every 500 ms (250 ms after a first failure), down after 2
#                        failures (~0.75 s), up after 1 success (rise 1: a new
#                        primary gets traffic within 0.5 s; while the old one
#                        is not yet marked down some connections reach it and
#                        fail or block: it cannot acknowledge a write, as its
#                        sync standby has left it).
#                        `on-marked-down shutdown-sessions` cuts pooled client
#                        connections to a node that lost its role. timeout connect
#                        1 s; client/server 30 min (connections are pooled).
#                        The checks use OPTIONS: Patroni answers it with the
#                        status line only; with GET, HAProxy hangs up before the
#                        JSON body is written and every check logs a traceback.
#   etcd heartbeat 100 ms, election 1000 ms (defaults): a dead etcd leader is
#                        replaced in ~1 s, well within retry_timeout.
#
# Measured (2-core VM, a Rust build running beside; psql inserting through PRIMARY
# every 50 ms, connect_timeout=1; time from the fault to the first successful
# insert started after it; 5 runs each, p50 / max):
#   kill -9 primary postmaster (kill-primary-postgres)   3.4 s / 3.8 s  (failover to the sync standby)
#   node loss, Patroni + PostgreSQL (kill-node)         12.4 s / 12.8 s (ttl 10 + promotion)
#   switchover (switchover): writes refused or waiting   3.6 s / 3.7 s
#   kill -9 sync standby postmaster (kill-sync-standby)  0.8 s / 1.0 s  (commits wait, none fail)
#   kill -9 etcd raft leader (kill-etcd)                 no gap: 0.1 s / 0.2 s between inserts
#
# PostgreSQL refuses root: etcd, Patroni and PostgreSQL run as `postgres` (setpriv
# execs, so the recorded pid is the daemon's own; runuser would stay in between
# as a parent process). HAProxy runs as root. `down` and the kill helpers only
# signal pids recorded under DIR, or processes whose cwd or command line lies in
# DIR, so other PostgreSQL servers on the machine are never touched.
set -euo pipefail
# Debian's packaged tools first (a pyenv/pip `patronictl` shim must not win).
export PATH="/usr/bin:/usr/sbin:/bin:/sbin:$PATH"

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
ROOT="$(cd "$(dirname "$SELF")/.." && pwd)"

# ---- settings ---------------------------------------------------------------
SCOPE=tally
TTL=10
LOOP_WAIT=1
RETRY_TIMEOUT=4
PRIMARY_START_TIMEOUT=0
MAX_LAG_ON_FAILOVER=1048576
CHECK_INTER=500ms       # HAProxy health check period
CHECK_FASTINTER=250ms   # period after a first failed check (a failing server goes down faster)
CHECK_FALL=2            # failed checks before a server is marked down
CHECK_RISE=1            # good checks before a server is marked up
ETCD_HEARTBEAT_MS=100
ETCD_ELECTION_MS=1000
UP_TIMEOUT="${CLUSTER_UP_TIMEOUT:-180}"
RUN_USER=postgres

PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

log() { echo "==> $*" >&2; }
die() { echo "cluster.sh: $*" >&2; exit 1; }
now() { date +%s.%3N; }

usage() { sed -n '2,23p' "$SELF" | sed 's/^# \{0,1\}//'; }

# ---- locating the cluster ---------------------------------------------------
set_dir() { # [DIR]
  local d="${1:-${CLUSTER_DIR:-$ROOT/target/cluster}}"
  case "$d" in /*) ;; *) d="$PWD/$d" ;; esac
  DIR="$(realpath -m "$d")"
  case "$DIR" in /|/root|/home|/tmp|/usr|/var|/etc|"$ROOT") die "refusing DIR=$DIR" ;; esac
  RUN="$DIR/run"
}

load_env() {
  [ -f "$DIR/env" ] || die "no cluster at $DIR (run: bash scripts/cluster.sh up)"
  # shellcheck disable=SC1091
  source "$DIR/env"
}

find_pg_bin() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}

# ---- processes --------------------------------------------------------------
alive() { # PID: running and not a zombie
  local p="$1" st
  [ -n "$p" ] && [ -r "/proc/$p/stat" ] || return 1
  st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

is_ours() { # PID: a live process whose cwd or command line lies inside DIR
  local p="$1" cwd
  alive "$p" || return 1
  cwd=$(readlink "/proc/$p/cwd" 2>/dev/null || true)
  case "$cwd" in "$DIR"|"$DIR"/*) return 0 ;; esac
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$DIR/"
}

read_pid() { # FILE -> first line, if any
  [ -f "$1" ] && head -n1 "$1" 2>/dev/null | tr -dc '0-9' || true
}

postmaster_pid() { # N -> live postmaster pid of node N, or nothing
  local p; p=$(read_pid "$DIR/node$1/data/postmaster.pid")
  if [ -n "$p" ] && is_ours "$p"; then echo "$p"; fi
}

refresh_pg_pidfiles() {
  local n p
  [ -d "$RUN" ] || return 0
  for n in 1 2 3; do
    p=$(postmaster_pid "$n")
    if [ -n "$p" ]; then echo "$p" >"$RUN/postgres$n.pid"; else rm -f "$RUN/postgres$n.pid"; fi
  done
}

# All processes of this cluster: recorded pids, postmasters, and (to catch
# orphaned PostgreSQL backends) any etcd/patroni/postgres/haproxy process
# whose working directory is inside DIR.
cluster_pids() {
  local f p comm cwd
  {
    for f in "$RUN"/*.pid; do [ -f "$f" ] && read_pid "$f" && echo; done
    for f in "$DIR"/node*/data/postmaster.pid; do [ -f "$f" ] && read_pid "$f" && echo; done
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      comm=$(cat "/proc/$p/comm" 2>/dev/null || true)
      case "$comm" in postgres|etcd|patroni|haproxy|pg_*) ;; *) continue ;; esac
      cwd=$(readlink "/proc/$p/cwd" 2>/dev/null || true)
      case "$cwd" in "$DIR"|"$DIR"/*) echo "$p" ;; esac
    done
  } | grep -E '^[0-9]+$' | sort -un | while read -r p; do
    [ "$p" != "$$" ] && is_ours "$p" && echo "$p"
  done
  return 0
}

signal_and_wait() { # SIGNAL SECONDS PID...
  local sig="$1" secs="$2" p deadline; shift 2
  [ "$#" -gt 0 ] || return 0
  kill "-$sig" "$@" 2>/dev/null || true
  deadline=$(( $(date +%s) + secs ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    local any=0
    for p in "$@"; do alive "$p" && any=1; done
    [ "$any" -eq 0 ] && return 0
    sleep 0.2
  done
  return 1
}

# Start a daemon detached (own session), its pid recorded by the process itself
# right before it execs the daemon, so the pid file names the daemon.
start_daemon() { # PIDFILE LOGFILE CWD AS_USER(yes|no) CMD...
  local pidfile="$1" logfile="$2" cwd="$3" as_user="$4" i; shift 4
  local pre=()
  if [ "$as_user" = yes ] && [ "$(id -u)" -eq 0 ]; then
    pre=(env HOME="$(getent passwd "$RUN_USER" | cut -d: -f6)" USER="$RUN_USER" LOGNAME="$RUN_USER"
         setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups --)
  fi
  rm -f "$pidfile"
  ( cd "$cwd" && exec setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "${pre[@]}" "$@" ) \
    >>"$logfile" 2>&1 </dev/null &
  disown "$!" 2>/dev/null || true
  for i in $(seq 1 50); do [ -s "$pidfile" ] && return 0; sleep 0.1; done
  die "could not start $* (see $logfile)"
}

# ---- packages ---------------------------------------------------------------
missing_packages() {
  local pkgs=()
  command -v patroni >/dev/null && command -v patronictl >/dev/null || pkgs+=(patroni)
  "$PY" -c 'import etcd, psycopg2' 2>/dev/null || pkgs+=(python3-etcd python3-psycopg2)
  command -v etcd >/dev/null || pkgs+=(etcd-server)
  command -v etcdctl >/dev/null || pkgs+=(etcd-client)
  command -v haproxy >/dev/null || pkgs+=(haproxy)
  find_pg_bin >/dev/null || pkgs+=(postgresql)
  echo "${pkgs[*]}"
}

install_packages() {
  local pkgs; read -r -a pkgs <<<"$(missing_packages)"
  [ "${#pkgs[@]}" -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages (${pkgs[*]}): run as root, or apt-get install them"
  log "installing ${pkgs[*]} (Debian packages; their services are kept from starting)"
  # Debian starts (and enables) a package's service at install: etcd on 2379/2380,
  # haproxy, the postgresql 15/main cluster on 5432. A policy-rc.d that exits 101
  # forbids invoke-rc.d to start anything; the original file is put back after.
  local policy=/usr/sbin/policy-rc.d backup="" rc=0
  if [ -e "$policy" ]; then backup=$(mktemp); cp -p "$policy" "$backup"; fi
  printf '#!/bin/sh\n# written by scripts/cluster.sh during apt-get install\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq "${pkgs[@]}" >/dev/null; } || rc=$?
  if [ -n "$backup" ]; then mv -f "$backup" "$policy"; else rm -f "$policy"; fi
  [ "$rc" -eq 0 ] || die "apt-get install ${pkgs[*]} failed ($rc)"
  # Under systemd, also make sure the packaged units are stopped and disabled.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    local unit
    for unit in etcd haproxy patroni postgresql; do
      case " ${pkgs[*]} " in
        *" $unit "*|*" $unit-server "*) systemctl disable --now "$unit" >/dev/null 2>&1 || true ;;
      esac
    done
  fi
}

# ---- configuration ----------------------------------------------------------
free_ports() { # N -> N distinct free loopback ports
  "$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

write_patroni_yml() { # N
  local n="$1" i
  local f="$DIR/node$n/patroni.yml"
  {
    cat <<EOF
# Patroni 3.0.2 configuration of node$n (generated by scripts/cluster.sh)
scope: $SCOPE
name: node$n
namespace: /service/

restapi:
  listen: 127.0.0.1:${REST_PORT[$n]}
  connect_address: 127.0.0.1:${REST_PORT[$n]}

etcd3:
  protocol: http
  hosts:
EOF
    for i in 1 2 3; do echo "  - 127.0.0.1:${ETCD_CLIENT_PORT[$i]}"; done
    cat <<EOF

bootstrap:
  # Written to etcd (/service/$SCOPE/config) by the node that initializes the
  # cluster; see the timing notes at the top of scripts/cluster.sh.
  dcs:
    ttl: $TTL
    loop_wait: $LOOP_WAIT
    retry_timeout: $RETRY_TIMEOUT
    maximum_lag_on_failover: $MAX_LAG_ON_FAILOVER
    primary_start_timeout: $PRIMARY_START_TIMEOUT
    synchronous_mode: true
    synchronous_mode_strict: true
    synchronous_node_count: 1
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        wal_log_hints: 'on'
        wal_keep_size: 128MB
        # A standby retries a failed connection to the primary after this
        # (default 5 s). After a failover the new primary creates the standbys'
        # replication slots only in its first loop as leader, so their first
        # attempt often fails; with strict sync mode writes wait for that retry.
        wal_retrieve_retry_interval: 500ms
        max_connections: 200
        shared_buffers: 128MB
        fsync: 'on'
        synchronous_commit: 'on'
        full_page_writes: 'on'
  initdb:
  - encoding: UTF8
  - locale: C.UTF-8

postgresql:
  listen: 127.0.0.1:${PG_PORT[$n]}
  connect_address: 127.0.0.1:${PG_PORT[$n]}
  data_dir: $DIR/node$n/data
  bin_dir: $PG_BIN
  pgpass: $DIR/node$n/pgpass
  authentication:
    superuser:
      username: postgres
    replication:
      username: replicator
  # A node that cannot rewind (or whose timeline diverged) is re-cloned from
  # the leader instead of staying broken: this is a disposable test cluster.
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  basebackup:
  - checkpoint: fast
  pg_hba:
  - local all all trust
  - local replication all trust
  - host all all 127.0.0.1/32 trust
  - host replication all 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: '$DIR/node$n'
    logging_collector: 'on'
    log_directory: '$DIR/node$n'
    log_filename: 'postgres.log'
    log_file_mode: '0644'
    log_rotation_age: 0
    log_rotation_size: 0
    log_line_prefix: '%m [%p] %q%u@%d '

watchdog:
  mode: 'off'

tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
EOF
  } >"$f"
}

write_haproxy_cfg() {
  local n
  {
    cat <<EOF
# HAProxy 2.6 (generated by scripts/cluster.sh). Health checks ask each node's
# Patroni REST API; the traffic goes to its PostgreSQL port.
global
    maxconn 2000
    stats socket $RUN/haproxy.sock mode 600 level admin

defaults
    mode tcp
    retries 1
    timeout connect 1s
    timeout client 30m
    timeout server 30m
    timeout check 1s
    default-server inter $CHECK_INTER fastinter $CHECK_FASTINTER downinter $CHECK_INTER fall $CHECK_FALL rise $CHECK_RISE on-marked-down shutdown-sessions

listen stats
    mode http
    bind 127.0.0.1:$STATS_PORT
    stats enable
    stats uri /
    stats refresh 1s

listen primary
    bind 127.0.0.1:$PRIMARY_PORT
    option httpchk
    http-check send meth OPTIONS uri /primary
    http-check expect status 200
EOF
    for n in 1 2 3; do echo "    server node$n 127.0.0.1:${PG_PORT[$n]} check port ${REST_PORT[$n]}"; done
    cat <<EOF

listen replicas
    bind 127.0.0.1:$REPLICA_PORT
    balance first
    option httpchk
    http-check send meth OPTIONS uri /replica
    http-check expect status 200
EOF
    for n in 1 2 3; do echo "    server node$n 127.0.0.1:${PG_PORT[$n]} check port ${REST_PORT[$n]}"; done
  } >"$DIR/haproxy.cfg"
}

write_env() {
  local n pids_etcd="" pids_patroni=""
  for n in 1 2 3; do
    pids_etcd+="$(read_pid "$RUN/etcd$n.pid") "
    pids_patroni+="$(read_pid "$RUN/patroni$n.pid") "
  done
  {
    echo "# Tally HA test cluster (scripts/cluster.sh); source this file."
    printf "export %s='%s'\n" \
      CLUSTER_DIR "$DIR" \
      CLUSTER_SCRIPT "$SELF" \
      CLUSTER_RUN_DIR "$RUN" \
      CLUSTER_PRIMARY_PORT "$PRIMARY_PORT" \
      CLUSTER_REPLICA_PORT "$REPLICA_PORT" \
      CLUSTER_STATS_PORT "$STATS_PORT" \
      CLUSTER_PRIMARY_URL "postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres" \
      CLUSTER_REPLICA_URL "postgres://postgres@127.0.0.1:$REPLICA_PORT/postgres" \
      CLUSTER_STATS_URL "http://127.0.0.1:$STATS_PORT/" \
      CLUSTER_PG_PORTS "${PG_PORT[1]} ${PG_PORT[2]} ${PG_PORT[3]}" \
      CLUSTER_REST_PORTS "${REST_PORT[1]} ${REST_PORT[2]} ${REST_PORT[3]}" \
      CLUSTER_ETCD_CLIENT_PORTS "${ETCD_CLIENT_PORT[1]} ${ETCD_CLIENT_PORT[2]} ${ETCD_CLIENT_PORT[3]}" \
      CLUSTER_ETCD_PEER_PORTS "${ETCD_PEER_PORT[1]} ${ETCD_PEER_PORT[2]} ${ETCD_PEER_PORT[3]}" \
      CLUSTER_ETCD_ENDPOINTS "$ETCD_ENDPOINTS" \
      CLUSTER_ETCD_PIDS "${pids_etcd% }" \
      CLUSTER_PATRONI_PIDS "${pids_patroni% }" \
      CLUSTER_HAPROXY_PID "$(read_pid "$RUN/haproxy.pid")" \
      CLUSTER_SCOPE "$SCOPE" \
      PATRONICTL "patronictl -c $DIR/node1/patroni.yml" \
      PG_BIN "$PG_BIN"
    echo "# Pids change when a process is restarted: the live ones are in \$CLUSTER_RUN_DIR/*.pid"
    echo "# (postgresN.pid refreshed by cluster.sh; the truth: \$CLUSTER_DIR/nodeN/data/postmaster.pid)."
  } >"$DIR/env.tmp"
  mv "$DIR/env.tmp" "$DIR/env"
}

# Ports are kept in DIR/ports so that helpers (and a restart) use the same ones.
load_ports() {
  # shellcheck disable=SC1091
  source "$DIR/ports"
  ETCD_ENDPOINTS="http://127.0.0.1:${ETCD_CLIENT_PORT[1]},http://127.0.0.1:${ETCD_CLIENT_PORT[2]},http://127.0.0.1:${ETCD_CLIENT_PORT[3]}"
  INITIAL_CLUSTER="etcd1=http://127.0.0.1:${ETCD_PEER_PORT[1]},etcd2=http://127.0.0.1:${ETCD_PEER_PORT[2]},etcd3=http://127.0.0.1:${ETCD_PEER_PORT[3]}"
  PATRONICTL=(patronictl -c "$DIR/node1/patroni.yml")
}

# ---- starting pieces ----------------------------------------------------------
start_etcd() { # N
  local n="$1"
  start_daemon "$RUN/etcd$n.pid" "$DIR/etcd$n/etcd.log" "$DIR/etcd$n" yes \
    "$(command -v etcd)" --name "etcd$n" --data-dir "$DIR/etcd$n/data" \
    --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT_PORT[$n]}" \
    --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT_PORT[$n]}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT[$n]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT[$n]}" \
    --initial-cluster "$INITIAL_CLUSTER" --initial-cluster-state new \
    --initial-cluster-token "$ETCD_TOKEN" \
    --heartbeat-interval "$ETCD_HEARTBEAT_MS" --election-timeout "$ETCD_ELECTION_MS" \
    --logger zap --log-level warn
}

# Patroni runs under a small parent that is a "child subreaper": the postmaster
# Patroni double-forks is reparented to it instead of to PID 1, and it reaps
# a killed postmaster at once. (This VM's PID 1 reaps orphans only every ~1.5 s;
# until then the zombie looks alive to Patroni, which delayed crash detection
# by that much.) It drops to $RUN_USER before exec'ing Patroni, forwards
# SIGTERM/SIGINT/SIGHUP to it, writes Patroni's pid, and exits when no child is left.
REAPER_PY='
import ctypes, os, pwd, signal, sys
pidfile, user, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
child = os.fork()
if child == 0:
    if user and os.getuid() == 0:
        pw = pwd.getpwnam(user)
        os.initgroups(user, pw.pw_gid); os.setgid(pw.pw_gid); os.setuid(pw.pw_uid)
        os.environ.update(HOME=pw.pw_dir, USER=user, LOGNAME=user)
    os.execv(argv[0], argv)
with open(pidfile + ".tmp", "w") as f:
    f.write("%d\n" % child)
os.rename(pidfile + ".tmp", pidfile)
def forward(signo, frame):
    try:
        os.kill(child, signo)
    except OSError:
        pass
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, forward)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
'

start_patroni() { # N
  local n="$1" i user=""
  [ "$(id -u)" -eq 0 ] && user="$RUN_USER"
  rm -f "$RUN/patroni$n.pid"
  start_daemon "$RUN/reaper$n.pid" "$DIR/node$n/patroni.log" "$DIR/node$n" no \
    "$PY" -c "$REAPER_PY" "$RUN/patroni$n.pid" "$user" "$(command -v patroni)" "$DIR/node$n/patroni.yml"
  for i in $(seq 1 50); do [ -s "$RUN/patroni$n.pid" ] && return 0; sleep 0.1; done
  die "Patroni node$n did not start (see $DIR/node$n/patroni.log)"
}

start_haproxy() {
  start_daemon "$RUN/haproxy.pid" "$DIR/haproxy.log" "$DIR" no \
    "$(command -v haproxy)" -db -f "$DIR/haproxy.cfg"
}

etcdctl_() { ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINTS" --dial-timeout=1s --command-timeout=2s "$@"; }

# "N role state" per member, role in leader|sync_standby|replica|...
members() {
  "${PATRONICTL[@]}" list -f json 2>/dev/null | "$PY" -c '
import json, sys
try:
    data = json.load(sys.stdin)
except Exception:
    sys.exit(0)
for m in data:
    print(m["Member"].replace("node", ""), m.get("Role", "").lower().replace(" ", "_"), m.get("State", "").replace(" ", "_"))
' || true
}
role_node() { members | awk -v r="$1" '$2 == r { print $1; exit }'; }

psql_at() { # URL SQL
  PGCONNECT_TIMEOUT=1 "$PG_BIN/psql" "$1" -X -At -v ON_ERROR_STOP=1 -c "$2" 2>/dev/null
}

# One line describing what is missing, or nothing when healthy.
health_problem() {
  local m leader sync replica healthy n
  # Local processes first: Patroni's member keys outlive a killed node by up to ttl.
  for n in 1 2 3; do
    is_ours "$(read_pid "$RUN/etcd$n.pid")" || { echo "etcd$n is not running"; return; }
    is_ours "$(read_pid "$RUN/patroni$n.pid")" || { echo "node$n: Patroni is not running"; return; }
    [ -n "$(postmaster_pid "$n")" ] || { echo "node$n: PostgreSQL is not running"; return; }
  done
  is_ours "$(read_pid "$RUN/haproxy.pid")" || { echo "HAProxy is not running"; return; }
  healthy=$(etcdctl_ endpoint health 2>&1 | grep -c 'is healthy' || true)
  [ "$healthy" -eq 3 ] || { echo "etcd: $healthy/3 members healthy"; return; }
  m=$(members)
  leader=$(awk '$2 == "leader" && $3 == "running"' <<<"$m" | wc -l)
  sync=$(awk '$2 == "sync_standby" && ($3 == "running" || $3 == "streaming")' <<<"$m" | wc -l)
  replica=$(awk '$2 == "replica" && ($3 == "running" || $3 == "streaming")' <<<"$m" | wc -l)
  [ "$leader" -eq 1 ] && [ "$sync" -eq 1 ] && [ "$replica" -eq 1 ] || {
    echo "patroni: $(tr '\n' ';' <<<"$m")"; return; }
  [ "$(psql_at "$CLUSTER_PRIMARY_URL" "select not pg_is_in_recovery()
          and count(*) filter (where state = 'streaming') = 2
          and count(*) filter (where sync_state = 'sync') >= 1 from pg_stat_replication")" = t ] || {
    echo "haproxy PRIMARY port $PRIMARY_PORT does not reach a primary with 2 streaming standbys (1 sync)"; return; }
  [ "$(psql_at "$CLUSTER_REPLICA_URL" 'select pg_is_in_recovery()')" = t ] || {
    echo "haproxy REPLICAS port $REPLICA_PORT does not reach a standby"; return; }
}

wait_healthy() { # SECONDS
  local secs="$1" start problem=""
  start=$(date +%s)
  while :; do
    problem=$(health_problem)
    [ -z "$problem" ] && { echo "healthy=1 waited=$(( $(date +%s) - start ))"; return 0; }
    [ $(( $(date +%s) - start )) -ge "$secs" ] && break
    sleep 0.5
  done
  echo "cluster.sh: not healthy after ${secs}s: $problem" >&2
  return 1
}

dump_logs() {
  local f
  for f in "$DIR"/etcd*/etcd.log "$DIR"/node*/patroni.log "$DIR"/node*/postgres.log "$DIR"/haproxy.log; do
    [ -f "$f" ] || continue
    echo "----- tail of $f" >&2
    tail -n 25 "$f" >&2 || true
  done
}

# ---- subcommands ------------------------------------------------------------
cmd_up() {
  set_dir "${1:-}"
  install_packages
  PG_BIN=$(find_pg_bin) || die "PostgreSQL binaries not found"
  [ "$(id -u)" -eq 0 ] || [ "$(id -un)" = "$RUN_USER" ] || die "run as root (or as $RUN_USER)"
  [ "$(id -u)" -ne 0 ] || id "$RUN_USER" >/dev/null 2>&1 || useradd --system --create-home "$RUN_USER"

  # A leftover DIR (a crashed run, or `up` twice) is torn down first.
  if [ -e "$DIR" ]; then cmd_down "$DIR"; fi

  UP_OK=0
  trap 'up_cleanup' EXIT
  trap 'exit 130' INT TERM

  mkdir -p "$DIR" "$RUN"
  touch "$DIR/.tally-cluster"
  local p n
  read -r -a p <<<"$(free_ports 15)"
  {
    echo "ETCD_CLIENT_PORT=(0 ${p[0]} ${p[1]} ${p[2]})"
    echo "ETCD_PEER_PORT=(0 ${p[3]} ${p[4]} ${p[5]})"
    echo "PG_PORT=(0 ${p[6]} ${p[7]} ${p[8]})"
    echo "REST_PORT=(0 ${p[9]} ${p[10]} ${p[11]})"
    echo "PRIMARY_PORT=${p[12]}"
    echo "REPLICA_PORT=${p[13]}"
    echo "STATS_PORT=${p[14]}"
    echo "ETCD_TOKEN=tally-$$-$(date +%s)"
    echo "PG_BIN=$PG_BIN"
  } >"$DIR/ports"
  load_ports
  for n in 1 2 3; do mkdir -p "$DIR/etcd$n" "$DIR/node$n"; write_patroni_yml "$n"; done
  write_haproxy_cfg
  [ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:" "$DIR/etcd1" "$DIR/etcd2" "$DIR/etcd3" "$DIR/node1" "$DIR/node2" "$DIR/node3"
  CLUSTER_PRIMARY_URL="postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres"
  CLUSTER_REPLICA_URL="postgres://postgres@127.0.0.1:$REPLICA_PORT/postgres"

  log "etcd x3 on 127.0.0.1:${ETCD_CLIENT_PORT[1]},${ETCD_CLIENT_PORT[2]},${ETCD_CLIENT_PORT[3]}"
  for n in 1 2 3; do start_etcd "$n"; done
  local start; start=$(date +%s)
  until [ "$(etcdctl_ endpoint health 2>&1 | grep -c 'is healthy')" -eq 3 ]; do
    [ $(( $(date +%s) - start )) -lt 60 ] || die "etcd did not become healthy"
    sleep 0.3
  done

  log "Patroni x3 (PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}') on ${PG_PORT[1]},${PG_PORT[2]},${PG_PORT[3]}; REST ${REST_PORT[1]},${REST_PORT[2]},${REST_PORT[3]})"
  for n in 1 2 3; do start_patroni "$n"; done
  log "HAProxy: PRIMARY $PRIMARY_PORT, REPLICAS $REPLICA_PORT, stats http://127.0.0.1:$STATS_PORT/"
  start_haproxy
  write_env

  log "waiting for Leader + Sync Standby + Replica (up to ${UP_TIMEOUT}s)"
  wait_healthy "$UP_TIMEOUT" >/dev/null || die "cluster did not become healthy"
  refresh_pg_pidfiles
  write_env
  UP_OK=1
  "${PATRONICTL[@]}" list >&2 || true
  log "ready: source $DIR/env   (CLUSTER_PRIMARY_URL=$CLUSTER_PRIMARY_URL)"
}

up_cleanup() {
  local rc=$?
  [ "${UP_OK:-1}" -eq 1 ] && return 0
  echo "cluster.sh: up failed (exit $rc); logs follow, then the cluster is removed" >&2
  dump_logs
  local keep; keep=$(mktemp -d /tmp/tally-cluster-failed.XXXXXX)
  (cd "$DIR" && find . \( -name "*.log" -o -name "*.yml" -o -name "*.cfg" \) -exec cp --parents {} "$keep" \;) 2>/dev/null || true
  echo "cluster.sh: logs kept in $keep" >&2
  cmd_down "$DIR" || true
}

cmd_down() {
  set_dir "${1:-}"
  if [ ! -e "$DIR" ]; then log "no cluster at $DIR"; return 0; fi
  if [ ! -e "$DIR/.tally-cluster" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
    die "$DIR exists but was not made by cluster.sh (no .tally-cluster): not touching it"
  fi
  local n pids=()
  # 1. HAProxy and Patroni: a Patroni on SIGTERM stops its PostgreSQL (fast).
  for n in haproxy patroni1 patroni2 patroni3; do
    local p; p=$(read_pid "$RUN/$n.pid")
    [ -n "$p" ] && is_ours "$p" && pids+=("$p")
  done
  signal_and_wait TERM 10 "${pids[@]}" || true
  # 2. PostgreSQL left running (its Patroni was killed): fast shutdown.
  pids=()
  for n in 1 2 3; do local p; p=$(postmaster_pid "$n"); [ -n "$p" ] && pids+=("$p"); done
  for n in reaper1 reaper2 reaper3; do
    local p; p=$(read_pid "$RUN/$n.pid")
    [ -n "$p" ] && is_ours "$p" && pids+=("$p")
  done
  signal_and_wait TERM 5 "${pids[@]}" || true
  # 3. etcd last. Stopped all at once, its members spend ~9 s trying to hand
  #    over raft leadership to each other; their data is thrown away anyway.
  pids=()
  for n in etcd1 etcd2 etcd3; do
    local p; p=$(read_pid "$RUN/$n.pid")
    [ -n "$p" ] && is_ours "$p" && pids+=("$p")
  done
  signal_and_wait TERM 2 "${pids[@]}" || signal_and_wait KILL 3 "${pids[@]}" || true
  # 4. Anything of ours still alive (incl. orphaned backends): SIGKILL.
  read -r -a pids <<<"$(cluster_pids | tr '\n' ' ')"
  if [ "${#pids[@]}" -gt 0 ]; then
    log "SIGKILL ${#pids[@]} leftover process(es): ${pids[*]}"
    signal_and_wait KILL 5 "${pids[@]}" || true
  fi
  read -r -a pids <<<"$(cluster_pids | tr '\n' ' ')"
  [ "${#pids[@]}" -eq 0 ] || die "processes still alive: ${pids[*]}"
  rm -rf "$DIR"
  log "cluster at $DIR stopped and removed"
}

helper_init() {
  set_dir ""
  load_env
  load_ports
  CLUSTER_PRIMARY_URL="postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres"
  CLUSTER_REPLICA_URL="postgres://postgres@127.0.0.1:$REPLICA_PORT/postgres"
  refresh_pg_pidfiles
}

node_arg() { case "${1:-}" in 1|2|3) echo "$1" ;; *) die "node number 1, 2 or 3 expected, got '${1:-}'" ;; esac; }

cmd_status() {
  set_dir "${1:-}"
  load_env; load_ports; refresh_pg_pidfiles
  echo "== patronictl list"
  "${PATRONICTL[@]}" list || true
  echo "== etcd"
  etcdctl_ endpoint status -w table 2>&1 || true
  etcdctl_ endpoint health 2>&1 || true
  echo "== haproxy"
  echo "PRIMARY  127.0.0.1:$PRIMARY_PORT  ($CLUSTER_PRIMARY_URL)"
  echo "REPLICAS 127.0.0.1:$REPLICA_PORT  ($CLUSTER_REPLICA_URL)"
  echo "stats    http://127.0.0.1:$STATS_PORT/"
  echo "== pids"
  local f
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    local p; p=$(read_pid "$f")
    printf '%-14s %-8s %s\n' "$(basename "$f" .pid)" "$p" "$(alive "$p" && echo alive || echo dead)"
  done
}

kill_postmaster_of() { # N WHAT
  local n="$1" pm
  pm=$(postmaster_pid "$n")
  [ -n "$pm" ] || die "node$n has no running postmaster"
  kill -9 "$pm"
  echo "killed=postmaster node=$n pid=$pm role=$2 t=$(now)"
}

cmd_kill_node() { # [N]
  local n="${1:-}" pm pat pids=()
  [ -n "$n" ] || n=$(role_node leader)
  n=$(node_arg "$n")
  pat=$(read_pid "$RUN/patroni$n.pid"); is_ours "$pat" && pids+=("$pat") || pat=""
  pm=$(postmaster_pid "$n")
  if [ -n "$pm" ]; then
    pids+=("$pm")
    read -r -a kids <<<"$(ps -o pid= --ppid "$pm" | tr '\n' ' ')"
    pids+=("${kids[@]}")
  fi
  [ -n "$pat" ] && { read -r -a kids <<<"$(ps -o pid= --ppid "$pat" | tr '\n' ' ')"; pids+=("${kids[@]}"); }
  [ "${#pids[@]}" -gt 0 ] || die "node$n has nothing running"
  kill -9 "${pids[@]}" 2>/dev/null || true
  echo "killed=node node=$n patroni=${pat:-none} postmaster=${pm:-none} processes=${#pids[@]} t=$(now)"
}

cmd_start_node() { # N
  local n; n=$(node_arg "${1:-}")
  local p; p=$(read_pid "$RUN/patroni$n.pid")
  if is_ours "$p"; then echo "started=none node=$n patroni=$p (already running)"; return 0; fi
  start_patroni "$n"
  write_env
  echo "started=patroni node=$n patroni=$(read_pid "$RUN/patroni$n.pid") t=$(now)"
}

etcd_leader() { # -> member number of the current raft leader
  etcdctl_ endpoint status -w json 2>/dev/null | "$PY" -c '
import json, sys
for e in json.load(sys.stdin):
    st = e["Status"]
    if st["header"]["member_id"] == st["leader"]:
        print(e["Endpoint"].rsplit(":", 1)[1]); break
' | { read -r port || exit 0; for i in 1 2 3; do if [ "${ETCD_CLIENT_PORT[$i]}" = "$port" ]; then echo "$i"; fi; done; }
}

cmd_kill_etcd() { # N | leader (default)
  local n="${1:-leader}"
  if [ "$n" = leader ]; then n=$(etcd_leader); [ -n "$n" ] || die "no etcd leader found"; fi
  n=$(node_arg "$n")
  local p; p=$(read_pid "$RUN/etcd$n.pid")
  is_ours "$p" || die "etcd$n is not running"
  kill -9 "$p"
  echo "killed=etcd node=$n pid=$p t=$(now)"
}

cmd_start_etcd() { # N
  local n; n=$(node_arg "${1:-}")
  local p; p=$(read_pid "$RUN/etcd$n.pid")
  if is_ours "$p"; then echo "started=none node=$n etcd=$p (already running)"; return 0; fi
  start_etcd "$n"
  write_env
  echo "started=etcd node=$n pid=$(read_pid "$RUN/etcd$n.pid") t=$(now)"
}

cmd_switchover() {
  local l s
  l=$(role_node leader); s=$(role_node sync_standby)
  [ -n "$l" ] && [ -n "$s" ] || die "switchover needs a leader and a sync standby: $(members | tr '\n' ';')"
  local t0; t0=$(now)
  "${PATRONICTL[@]}" switchover "$SCOPE" --leader "node$l" --candidate "node$s" --force >&2
  echo "switchover from=$l to=$s t=$t0 done=$(now)"
}

cmd_pid() { # what [N]
  case "${1:-}" in
    haproxy) read_pid "$RUN/haproxy.pid"; echo ;;
    etcd|patroni) read_pid "$RUN/$1$(node_arg "${2:-}").pid"; echo ;;
    postgres|postmaster) postmaster_pid "$(node_arg "${2:-}")" ;;
    *) die "pid etcd|patroni|postgres N, or pid haproxy" ;;
  esac
}

main() {
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    leader) helper_init; n=$(role_node leader); [ -n "$n" ] || die "no leader"; echo "$n" ;;
    sync-standby) helper_init; n=$(role_node sync_standby); [ -n "$n" ] || die "no sync standby"; echo "$n" ;;
    kill-primary-postgres) helper_init; n=$(role_node leader); [ -n "$n" ] || die "no leader"; kill_postmaster_of "$n" leader ;;
    kill-sync-standby) helper_init; n=$(role_node sync_standby); [ -n "$n" ] || die "no sync standby"; kill_postmaster_of "$n" sync_standby ;;
    kill-node) helper_init; cmd_kill_node "$@" ;;
    start-node) helper_init; cmd_start_node "$@" ;;
    switchover) helper_init; cmd_switchover ;;
    kill-etcd) helper_init; cmd_kill_etcd "$@" ;;
    etcd-leader) helper_init; etcd_leader ;;
    start-etcd) helper_init; cmd_start_etcd "$@" ;;
    wait-healthy) helper_init; wait_healthy "${1:-120}" ;;
    healthy) helper_init; problem=$(health_problem)
      if [ -z "$problem" ]; then echo "healthy=1"; else echo "cluster.sh: not healthy: $problem" >&2; exit 1; fi ;;
    pid) helper_init; cmd_pid "$@" ;;
    -h|--help|help|"") usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
