#!/usr/bin/env bash
# Durable holds over HTTP, measured from outside the server with wrk, next to
# an actix-web hello world driven by the very same wrk command and script
# (issue 21, item 3). See benches/wrk/README.md.
#
#   benches/wrk/run.sh                      # build, set up, 30 s per target
#   DURATION=5 SKIP_BUILD=1 benches/wrk/run.sh
#
# Knobs (environment): DURATION (seconds per target, default 30; SECONDS is
# honoured too when given on the command line), CONNECTIONS (64), THREADS
# (wrk threads, 1), WORKERS (HTTP workers of both servers, 2), ARBITERS
# (Boxoffice engine arbiters, 2), SCHEDULES (20), SEATS (per schedule,
# 5,000), HOLD_SECONDS (1), USERS (400), OUT (target/wrk), SKIP_BUILD=1,
# BOXOFFICE_BIN (the server binary; default target/release/boxoffice),
# PREVIOUS_BIN (another build, e.g. the previous one: measured in the same
# invocation, right after BOXOFFICE_BIN, on a fresh data dir and port),
# PERF_RECORD (a path: `perf record -g` of the BOXOFFICE_BIN server while wrk
# runs, written there), PERF_FREQ (its sampling frequency, 499),
# PERF_CALLGRAPH (its call-graph option, `-g`; `--call-graph dwarf` unwinds
# frames without frame pointers).
set -euo pipefail

# bash's own SECONDS counts seconds since the shell started (0 when not
# given), so read it before anything else and only when it came from the
# environment.
DURATION=${DURATION:-$(printenv SECONDS || echo 30)}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-2}
ARBITERS=${ARBITERS:-2}
SCHEDULES=${SCHEDULES:-20}
SEATS=${SEATS:-5000}
HOLD_SECONDS=${HOLD_SECONDS:-1}
USERS=${USERS:-400}

cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-target/wrk}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SCRIPT=$ROOT/benches/wrk/holds.lua

say() { printf '[wrk] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt-get install -y $tool)"
done

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    say "building boxoffice and hello-server (release)"
    cargo build --release -p boxoffice --bin boxoffice
    cargo build --release -p boxoffice-contention --bin hello-server
fi
# BOXOFFICE_BIN: another build of the server to measure (e.g. the previous one).
BOXOFFICE=${BOXOFFICE_BIN:-$ROOT/target/release/boxoffice}
HELLO=$ROOT/target/release/hello-server
[[ -x $BOXOFFICE && -x $HELLO ]] || die "no release binaries in target/release (run without SKIP_BUILD=1)"

DATA=$(mktemp -d "${TMPDIR:-/tmp}/boxoffice-wrk.XXXXXX")
SERVER_PID=
HELLO_PID=
# Stops the servers this script started (by pid) and removes the data dirs.
stop() {
    if [[ -n $1 ]]; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop "$SERVER_PID"
    stop "$HELLO_PID"
    rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The port a server printed in its log ("... http://127.0.0.1:PORT ...").
wait_port() {
    local log=$1 pid=$2 port
    for _ in $(seq 1 300); do
        port=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$log" | head -n1 | sed 's/.*://') || true
        [[ -n $port ]] && { echo "$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "server exited"; }
        sleep 0.1
    done
    die "no port in $log after 30 s"
}

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
ADMIN_EMAIL=wrk-admin@example.com
ADMIN_PASSWORD=$(python3 -c 'import secrets; print("Wrk-" + secrets.token_urlsafe(24))')
export ADMIN_EMAIL ADMIN_PASSWORD SECRET SCHEDULES SEATS HOLD_SECONDS USERS OUT

# Starts `$2 serve` on a fresh data dir as SERVER_PID, sets up its concert and
# tokens ($OUT/$1-schedules.txt, $OUT/$1-tokens.txt) and sets PORT.
start_boxoffice() {
    local name=$1 bin=$2
    say "starting $bin serve as '$name' (workers $WORKERS, arbiters $ARBITERS, data in $DATA/$name)"
    mkdir -p "$DATA/$name"
    BOXOFFICE_JWT_SECRET=$SECRET \
    BOXOFFICE_ADMIN_EMAIL=$ADMIN_EMAIL \
    BOXOFFICE_ADMIN_PASSWORD=$ADMIN_PASSWORD \
    BOXOFFICE_RATE_LIMITS=off \
        "$bin" serve --bind 127.0.0.1:0 --data-dir "$DATA/$name" \
        --workers "$WORKERS" --arbiters "$ARBITERS" >"$OUT/$name.log" 2>&1 &
    SERVER_PID=$!
    PORT=$(wait_port "$OUT/$name.log" "$SERVER_PID")
    say "$name on port $PORT"
    API=http://127.0.0.1:$PORT/api/v1 NAME=$name set_up
}

# Set-up of one server: venue, concert, tokens (not measured).
set_up() {
python3 - <<'EOF'
import base64, hashlib, hmac, json, os, sys, time, urllib.request, uuid
from datetime import datetime, timedelta, timezone

api = os.environ["API"]
out = os.environ["OUT"]
name = os.environ["NAME"]

def call(method, path, body=None, token=None, key=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(api + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if key:
        req.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")

def must(expected, answer, what):
    status, body = answer
    if status != expected:
        sys.exit(f"[wrk] {what}: expected {expected}, got {status} {body}")
    return body

admin = must(200, call("POST", "/auth/login",
                       {"email": os.environ["ADMIN_EMAIL"], "password": os.environ["ADMIN_PASSWORD"]}),
             "admin login")["accessToken"]

# SEATS seats in rows of at most 100 (the last row takes the rest).
seats = int(os.environ["SEATS"])
rows, row = [], 1
while seats > 0:
    n = min(100, seats)
    rows.append({"row": str(row), "seats": n})
    seats -= n
    row += 1
venue = must(201, call("POST", "/venues", {
    "name": "Wrk Arena", "address": "1 Loopback Road",
    "sections": [{"sectionId": "A", "name": "Floor", "rows": rows}],
}, admin), "POST /venues")

def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")

now = datetime.now(timezone.utc).replace(microsecond=0)
schedules = []
for i in range(int(os.environ["SCHEDULES"])):
    starts = now + timedelta(days=30 + i)
    schedules.append({
        "startsAt": rfc3339(starts),
        "endsAt": rfc3339(starts + timedelta(hours=3)),
        "bookingOpensAt": rfc3339(now - timedelta(hours=1)),
        "bookingClosesAt": rfc3339(starts - timedelta(days=1)),
    })
concert = must(201, call("POST", "/concerts", {
    "title": "Wrk Holds", "description": "benches/wrk/run.sh", "category": "ROCK",
    "venueId": venue["venueId"],
    "priceGrades": [{"grade": "A", "price": 10000, "sectionIds": ["A"]}],
    "schedules": schedules,
    "maxSeatsPerUser": 20,
    "holdSeconds": int(os.environ["HOLD_SECONDS"]),
}, admin), "POST /concerts")
ids = [s["scheduleId"] for s in concert["schedules"]]
with open(os.path.join(out, name + "-schedules.txt"), "w") as f:
    f.write("\n".join(ids) + "\n")

# Access tokens as http/src/auth.rs JwtKeys::issue makes them, for users
# without accounts (holding needs no account, only a valid token).
secret = os.environ["SECRET"].encode()
def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
def token(user):
    iat = int(time.time())
    header = b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    claims = b64(json.dumps({
        "sub": str(user), "role": "USER", "typ": "access",
        "iat": iat, "exp": iat + 24 * 3600, "jti": uuid.uuid4().hex,
    }, separators=(",", ":")).encode())
    signature = b64(hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest())
    return f"{header}.{claims}.{signature}"
tokens = [token(uuid.uuid4()) for _ in range(int(os.environ["USERS"]))]
with open(os.path.join(out, name + "-tokens.txt"), "w") as f:
    f.write("\n".join(tokens) + "\n")

# One hold by hand: a minted token of a user without an account gets a 201.
held = must(201, call("POST", "/reservations", {"scheduleId": ids[0], "quantity": 1},
                      tokens[0], "wrk-smoke-" + uuid.uuid4().hex), "smoke hold")
print(f"[wrk] {len(ids)} schedules x {os.environ['SEATS']} seats, hold "
      f"{os.environ['HOLD_SECONDS']} s, {len(tokens)} tokens; smoke hold {held['reservationNumber']} "
      f"expires {held['expiresAt']}", file=sys.stderr)
EOF

}

# --- Measure -----------------------------------------------------------------
# measure NAME URL PID FILES-PREFIX: the wrk run, and the server's CPU time
# over it ($OUT/NAME-cpu.txt: CPU seconds of the server process).
measure() {
    local name=$1 url=$2 pid=$3 files=$4 before after perf_pid=
    say "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s against $name"
    before=$(cpu_ticks "$pid")
    if [[ -n ${PERF_RECORD:-} && $name == holds ]]; then
        perf record -F "${PERF_FREQ:-499}" ${PERF_CALLGRAPH:--g} -p "$pid" -o "$PERF_RECORD" -- sleep "$DURATION" \
            >"$OUT/perf.log" 2>&1 &
        perf_pid=$!
    fi
    WRK_TOKENS=$OUT/$files-tokens.txt WRK_SCHEDULES=$OUT/$files-schedules.txt WRK_RUN=$name-$(date +%s) \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$SCRIPT" "$url" \
        | tee "$OUT/$name.txt" >&2
    after=$(cpu_ticks "$pid")
    [[ -n $perf_pid ]] && wait "$perf_pid"
    python3 -c 'import sys; print((int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]))' \
        "$before" "$after" "$CLK_TCK" >"$OUT/$name-cpu.txt"
}
field() { grep -o " $2=[^ ]*" "$OUT/$1.txt" | head -n1 | cut -d= -f2; }

NAMES=(holds)
start_boxoffice holds "$BOXOFFICE"
measure holds "http://127.0.0.1:$PORT" "$SERVER_PID" holds
curl -fsS "http://127.0.0.1:$PORT/metrics" >"$OUT/boxoffice-metrics.txt" 2>/dev/null || true
stop "$SERVER_PID"
SERVER_PID=

if [[ -n ${PREVIOUS_BIN:-} ]]; then
    [[ -x $PREVIOUS_BIN ]] || die "PREVIOUS_BIN $PREVIOUS_BIN is not an executable"
    NAMES+=(previous)
    start_boxoffice previous "$PREVIOUS_BIN"
    measure previous "http://127.0.0.1:$PORT" "$SERVER_PID" previous
    stop "$SERVER_PID"
    SERVER_PID=
fi

"$HELLO" --workers "$WORKERS" --port 0 >"$OUT/hello.log" 2>&1 &
HELLO_PID=$!
HELLO_PORT=$(wait_port "$OUT/hello.log" "$HELLO_PID")
measure hello "http://127.0.0.1:$HELLO_PORT" "$HELLO_PID" holds
stop "$HELLO_PID"
HELLO_PID=
NAMES+=(hello)

# --- Summary -----------------------------------------------------------------
# Server CPU per request: the server process's CPU time over the wrk run
# divided by the requests wrk completed (wrk's own CPU is not in it).
{
    echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $WORKERS HTTP workers, $SCHEDULES schedules x $SEATS seats, hold ${HOLD_SECONDS}s, $USERS users"
    for name in "${NAMES[@]}"; do
        printf '%-8s  %10s req/s  %10s 2xx/s  %10s 201/s  p50 %8s ms  p99 %8s ms  server CPU %6s us/req  (%s)\n' \
            "$name" "$(field "$name" rps)" "$(field "$name" ok2xx_per_s)" \
            "$(field "$name" created201_per_s)" "$(field "$name" p50_ms)" "$(field "$name" p99_ms)" \
            "$(python3 -c 'import sys; print(f"{float(sys.argv[1]) * 1e6 / max(int(sys.argv[2]), 1):.1f}")' \
                "$(cat "$OUT/$name-cpu.txt")" "$(field "$name" requests)")" \
            "$(grep '^statuses:' "$OUT/$name.txt")"
    done
    for name in "${NAMES[@]}"; do
        [[ $name == hello ]] && continue
        python3 -c 'import sys; n, h, w = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]); print(f"{n} 201/s / hello req/s = {h / w:.3f}" if w else "hello answered nothing")' \
            "$name" "$(field "$name" created201_per_s)" "$(field hello rps)"
    done
} | tee "$OUT/summary.txt"
