#!/usr/bin/env bash
# CI smoke run of the contention harness (benches/contention), so it cannot
# rot: every scenario at a tiny size, in process and over HTTP, in the dev
# profile (CI builds one profile). The harness exits non-zero if any
# invariant fails (oversell, money, admission order, acknowledged = durable),
# and so does this script.
#
# Bounds: 5 invocations (and the waiting room's memory script, 400 users), each run measured for at most 2.5 s (the stadium:
# until sold out, at most 20 s per mode), a hard `timeout` on each; about
# 1.5 minutes in all on 2 cores once built (measured: 2m07s including a
# rebuild of the harness; `cargo test --workspace` builds it before this).
# The search run loads 300 concerts per mode (seconds, see its comment).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${HARNESS_SMOKE_OUT:-target/harness-smoke}"
mkdir -p "$OUT"
export RUST_LOG="${RUST_LOG:-error}"

run() {
  local name="$1"
  shift
  echo "== contention $name $*"
  timeout 300 cargo run --quiet -p boxoffice-contention --bin contention -- "$@" \
    --json "$OUT/$name.json" --svg "$OUT/$name.svg"
}

run hot-seats hot-seats --mode both --clients 200 --seconds 2 --warmup 0.5
run mixed mixed --mode both --clients 200 --seconds 2 --warmup 0.5 --schedules 8
run open-holds open-holds --mode in-process,http,hello --clients 200 --seconds 2 --warmup 0.5 --schedules 8 --seats 2000
run stadium stadium-onsale --mode both --users 400 --seats 500 --connections 100 --seconds 20
run search search --mode both --clients 4 --concerts 300 --seconds 2 --warmup 0.5

echo "== scripts/queue-memory.py at a tiny size (every join and poll must be 2xx)"
timeout 120 python3 scripts/queue-memory.py target/debug/boxoffice --users 400 --warmup 40

echo "harness smoke: every invariant held (reports in $OUT)"
