#!/usr/bin/env bash
# benches/reproduce.sh: every figure of BENCHMARKS.md in one command.
#   1. the criterion benches (engine, actors, wallet, storage flush, recovery)
#      and the seat-memory bench;
#   2. the contention harness's open-holds against an actix-web hello world
#      (the HTTP target's yardstick), in process and over HTTP; then with
#      1-second holds concentrated on 20 schedules and on one, for 40 s;
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
cargo bench --bench seat_memory 2>&1 | tee "$OUT/seat-memory.txt"

cargo build --release -p boxoffice-contention --bin contention
target/release/contention open-holds --mode in-process,http,hello --clients 100 1000 \
  --seconds 10 --warmup 2 --json "$OUT/open-holds.json" --svg "$OUT/open-holds.svg" 2>&1 | tee "$OUT/open-holds.txt"

# Expiry and archiving under concentrated load (issue 21, item 2): 1-second
# holds on 20 schedules, then on one, long enough (40 s) for ended
# reservations to pile up and be archived; target hold p99 < 20 ms over HTTP.
for schedules in 20 1; do
  target/release/contention open-holds --mode http,hello --clients 64 --schedules "$schedules" \
    --hold-seconds 1 --seconds 40 --warmup 2 --json "$OUT/expiring-holds-$schedules.json" 2>&1 \
    | tee "$OUT/expiring-holds-$schedules.txt"
done

SKIP_BUILD=1 OUT="$OUT/baselines" bash benches/baselines.sh
