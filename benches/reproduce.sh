#!/usr/bin/env bash
# benches/reproduce.sh: every figure of BENCHMARKS.md in one command.
#   1. the criterion benches (engine, actors, wallet, storage flush, recovery);
#   2. the contention harness's open-holds against an actix-web hello world
#      (the HTTP target's yardstick), in process and over HTTP;
#   3. benches/baselines.sh: hot-seats and the simplified stadium on-sale
#      against PostgreSQL and Redis (installs and starts them itself).
# Release builds; about 30 minutes on 2 cores. Not run in CI (CI runs the
# harness at a tiny size through scripts/harness-smoke.sh).
# Output: criterion's reports under target/criterion, the rest under
# $OUT (default target/reproduce).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/reproduce}
mkdir -p "$OUT"

echo "reproduce: machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" | tee "$OUT/machine.txt"

cargo bench --bench durable_hold --bench wallet_debit --bench storage_flush --bench recovery 2>&1 | tee "$OUT/criterion.txt"

cargo build --release -p boxoffice-contention --bin contention
target/release/contention open-holds --mode in-process,http,hello --clients 100 1000 \
  --seconds 10 --warmup 2 --json "$OUT/open-holds.json" --svg "$OUT/open-holds.svg" 2>&1 | tee "$OUT/open-holds.txt"

SKIP_BUILD=1 OUT="$OUT/baselines" bash benches/baselines.sh
