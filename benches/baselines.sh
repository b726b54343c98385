#!/usr/bin/env bash
# benches/baselines.sh: Boxoffice against PostgreSQL and Redis, side by side,
# by the contention harness (benches/contention), in one invocation per
# scenario so every ratio compares runs of the same invocation.
#
# What it does:
#   1. installs Debian's `postgresql` and `redis-server` if missing (apt-get,
#      with sudo unless root);
#   2. starts, on loopback, in a temporary dir, as an unprivileged user
#      (`postgres` / `nobody` when run as root, else the current user):
#      - PostgreSQL with synchronous_commit=on, fsync=on, max_connections = POOL + 100;
#      - Redis twice, appendonly yes: once with appendfsync always, once with
#        the default appendfsync everysec;
#   3. runs hot-seats (50 seats; 100, 1,000, 10,000 clients; with an actix-web
#      hello world as the HTTP yardstick) and the
#      simplified stadium-onsale (no waiting room; 100,000 users, 50,000
#      seats) against Boxoffice in process and over HTTP, pg-update,
#      pg-for-update and both Redis servers;
#   4. stops the servers (trap) and removes the temporary dir.
#
# Output: $OUT (default target/baselines): <scenario>.txt (the terminal
# table), .json, .svg. Environment knobs (defaults = the full run):
#   POINT_SECONDS=10 STADIUM_SECONDS=90 CLIENTS="100 1000 10000"
#   STADIUM_USERS=100000 STADIUM_SEATS=50000 POOL=128 OUT=target/baselines SCENARIOS="hot-seats stadium-onsale"
#   PG_PORT=54329 REDIS_ALWAYS_PORT=63791 REDIS_EVERYSEC_PORT=63792
#   SKIP_BUILD=1 (use the target/release/contention already built)
# Not run in CI (it installs packages and takes ~15 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

POINT_SECONDS=${POINT_SECONDS:-10}
STADIUM_SECONDS=${STADIUM_SECONDS:-90}
CLIENTS=${CLIENTS:-"100 1000 10000"}
STADIUM_USERS=${STADIUM_USERS:-100000}
STADIUM_SEATS=${STADIUM_SEATS:-50000}
POOL=${POOL:-128}
OUT=${OUT:-target/baselines}
SCENARIOS=${SCENARIOS:-"hot-seats stadium-onsale"}
PG_PORT=${PG_PORT:-54329}
REDIS_ALWAYS_PORT=${REDIS_ALWAYS_PORT:-63791}
REDIS_EVERYSEC_PORT=${REDIS_EVERYSEC_PORT:-63792}
# PostgreSQL's connection limit: the pool plus the harness's admin connection and slack.
PG_MAX_CONNECTIONS=$((POOL + 100))

say() { echo "baselines: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

pg_bin() {
  local initdb
  initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] && dirname "$initdb"
}

if [ -z "$(pg_bin)" ] || ! command -v redis-server >/dev/null; then
  say "installing postgresql and redis-server"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null
fi
PG_BIN=$(pg_bin)
[ -n "$PG_BIN" ] || { say "no PostgreSQL binaries after install"; exit 2; }

# 10,000 client connections (+ the in-process server's ends over HTTP).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
say "open-file limit $(ulimit -n)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/boxoffice-baselines.XXXXXX")
chmod 755 "$TMP"
if [ "$(id -u)" = 0 ]; then
  PG_USER=postgres
  REDIS_USER=nobody
  id "$PG_USER" >/dev/null 2>&1 || { say "no user $PG_USER to run PostgreSQL as"; exit 2; }
else
  PG_USER=$(id -un)
  REDIS_USER=$PG_USER
fi
as_user() {
  local user=$1; shift
  if [ "$(id -un)" = "$user" ]; then "$@"; else runuser -u "$user" -- "$@"; fi
}

stop_all() {
  set +e
  if [ -f "$TMP/pg/data/postmaster.pid" ]; then
    as_user "$PG_USER" "$PG_BIN/pg_ctl" -D "$TMP/pg/data" -m fast -w stop >/dev/null 2>&1
  fi
  for port in "$REDIS_ALWAYS_PORT" "$REDIS_EVERYSEC_PORT"; do
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1
  done
  for pidfile in "$TMP"/redis-*/redis.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

say "starting PostgreSQL ($PG_BIN) on 127.0.0.1:$PG_PORT in $TMP/pg"
mkdir -p "$TMP/pg"
[ "$(id -u)" = 0 ] && chown "$PG_USER" "$TMP/pg"
as_user "$PG_USER" "$PG_BIN/initdb" -D "$TMP/pg/data" -U postgres --auth=trust >"$TMP/pg/initdb.log" 2>&1
as_user "$PG_USER" "$PG_BIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$TMP/pg \
      -c synchronous_commit=on -c fsync=on -c max_connections=$PG_MAX_CONNECTIONS \
      -c shared_buffers=512MB -c track_wal_io_timing=on" start >/dev/null

start_redis() {
  local name=$1 port=$2 fsync=$3
  local dir="$TMP/redis-$name"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown "$REDIS_USER" "$dir"
  say "starting Redis ($name: appendfsync $fsync) on 127.0.0.1:$port in $dir"
  as_user "$REDIS_USER" redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
    --appendonly yes --appendfsync "$fsync" --save '' --maxclients 20000 \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  say "Redis on $port did not start:"; cat "$dir/redis.log" >&2; return 1
}
start_redis always "$REDIS_ALWAYS_PORT" always
start_redis everysec "$REDIS_EVERYSEC_PORT" everysec

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building the harness (release)"
  cargo build --release -p boxoffice-contention --bin contention >&2
fi
mkdir -p "$OUT"

COMMON=(--postgres "host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
  --redis "redis://127.0.0.1:$REDIS_ALWAYS_PORT/" "redis://127.0.0.1:$REDIS_EVERYSEC_PORT/"
  --baseline-pool "$POOL")

status=0
for scenario in $SCENARIOS; do
  case "$scenario" in
    hot-seats)
      # shellcheck disable=SC2086
      # hello: the HTTP yardstick on the same chart (same clients and connections).
      args=(hot-seats --mode in-process,http,hello,pg-update,pg-for-update,redis
        --clients $CLIENTS --seconds "$POINT_SECONDS" --warmup 1) ;;
    stadium-onsale)
      args=(stadium-onsale --mode in-process,http,pg-update,pg-for-update,redis
        --no-waiting-room --users "$STADIUM_USERS" --seats "$STADIUM_SEATS" --seconds "$STADIUM_SECONDS") ;;
    *) say "unknown scenario $scenario"; exit 2 ;;
  esac
  say "$(date -u +%FT%TZ) $scenario; load $(cut -d' ' -f1-3 /proc/loadavg)"
  set +e
  target/release/contention "${args[@]}" "${COMMON[@]}" \
    --json "$OUT/$scenario.json" --svg "$OUT/$scenario.svg" | tee "$OUT/$scenario.txt"
  rc=${PIPESTATUS[0]}
  set -e
  say "$(date -u +%FT%TZ) $scenario exited $rc; load $(cut -d' ' -f1-3 /proc/loadavg)"
  [ "$rc" -gt "$status" ] && status=$rc
done
say "results in $OUT"
exit "$status"
