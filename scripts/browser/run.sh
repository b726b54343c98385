#!/usr/bin/env bash
# The pages in real Chromium (issue 19): installs the pinned playwright-core and
# axe-core (tests/browser/package-lock.json) into a temp dir, fresh each run,
# starts `boxoffice serve --demo` on a free loopback port with a temp data dir
# and rate limits off (the demo mounts the built-in test card provider), waits
# for /readyz, runs every tests/browser/*.test.mjs with node's test runner
# (one file at a time: each starts its own Chromium), stops the server, and
# fails on any failure. Chromium is Debian's /usr/bin/chromium (.ci/run
# installs it); browser downloads are not possible here.
#
# Usage: bash scripts/browser/run.sh [--perf] [path/to/boxoffice] [tests/browser/X.test.mjs...]
#   (default binary: target/debug/boxoffice; default scenarios: tests/browser/*.test.mjs)
#   --perf   run the seat map measurement (tests/browser/seat_map_perf.mjs) instead of
#            the scenarios; it prints figures and fails only if it cannot measure
#            (BOXOFFICE_PERF_DEVICE=phone measures at 375 px).
#   --docs   after the scenarios, copy the screenshots README.md shows
#            (docs/screenshots/*.png) from this run into docs/screenshots/.
# Environment:
#   BOXOFFICE_SCREENSHOTS  where screenshots go (default: a new temp dir, kept and
#                          printed); --docs refreshes the README's from it.
#   BOXOFFICE_CHROMIUM     the Chromium binary (default /usr/bin/chromium).
#   BOXOFFICE_PAGES_DIR    (read by `serve`) pages from this dir instead of the binary's
#                          copies: BOXOFFICE_PAGES_DIR=http/assets tries page edits unbuilt.
# Needs node 20 and npm, and network access to npm.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
tests="$repo/tests/browser"
perf=""
docs=""
case "${1:-}" in
  --perf) perf=1; shift ;;
  --docs) docs=1; shift ;;
esac
bin="$(realpath -m "${1:-target/debug/boxoffice}")"
shift || true
files=()
for f in "$@"; do
  f="$(realpath -m "$f")"
  case "$f" in
    "$tests"/*.mjs) [ -f "$f" ] && files+=("$f") || { echo "no scenario file $f"; exit 1; } ;;
    *) echo "$f: scenarios live in tests/browser/ (they run next to its node_modules)"; exit 1 ;;
  esac
done
if [ ${#files[@]} -eq 0 ]; then files=("$tests"/*.test.mjs); fi
chromium_bin="${BOXOFFICE_CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium_bin" ] || { echo "no Chromium at $chromium_bin (apt-get install chromium)"; exit 1; }
[ -x "$bin" ] || { echo "no boxoffice binary at $bin (cargo build --bin boxoffice)"; exit 1; }
shots="${BOXOFFICE_SCREENSHOTS:-$(mktemp -d /tmp/boxoffice-screenshots.XXXXXX)}"
mkdir -p "$shots"
shots="$(realpath "$shots")"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    # Nothing here needs SIGTERM's drain, which waits out idle keep-alive
    # connections: stop the throwaway server at once.
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
started=$SECONDS
phase() { echo "-- browser: $1 (${SECONDS}s)"; }

phase "$("$chromium_bin" --version 2>/dev/null); installing the pinned packages in $work"
# The scenarios run from the temp dir so that they import its node_modules.
tar -C "$tests" --exclude=node_modules -cf - . | tar -C "$work" -xf -
(cd "$work" && npm ci --no-audit --no-fund --silent --cache "$work/npm-cache")

phase "starting $bin serve --demo"
BOXOFFICE_RATE_LIMITS=off "$bin" serve --demo --bind 127.0.0.1:0 --data-dir "$work/data" \
  >"$work/server.log" 2>"$work/server.err" &
server_pid=$!
base=""
for _ in $(seq 1 150); do
  base=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/server.log" | head -1 || true)
  if [ -n "$base" ] && curl -fsS "$base/readyz" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "the server exited:"; cat "$work/server.log" "$work/server.err"; exit 1
  fi
  base=""
  sleep 0.2
done
[ -n "$base" ] || { echo "the server did not become ready"; cat "$work/server.log" "$work/server.err"; exit 1; }
export BOXOFFICE_BASE_URL="$base" BOXOFFICE_SCREENSHOTS="$shots" BOXOFFICE_CHROMIUM="$chromium_bin" BOXOFFICE_REPO="$repo"

status=0
if [ -n "$perf" ]; then
  phase "measuring the seat map against $base"
  (cd "$work" && node seat_map_perf.mjs) || status=$?
else
  # The scenarios were copied next to node_modules; run the copies.
  copies=()
  for f in "${files[@]}"; do copies+=("$work/${f#"$tests"/}"); done
  phase "running ${#copies[@]} scenario file(s) against $base"
  (cd "$work" && node --test --test-concurrency=1 "${copies[@]}") || status=$?
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "the server died during the run:"; tail -50 "$work/server.err"; status=1
elif [ "$status" -ne 0 ]; then
  echo "-- server stderr (last 30 lines)"; tail -30 "$work/server.err"
fi
if [ -n "$docs" ] && [ "$status" -eq 0 ]; then
  # README.md names the screenshots it shows; refresh exactly those.
  for name in $(grep -o 'docs/screenshots/[A-Za-z0-9._-]*\.png' "$repo/README.md" | sort -u); do
    if [ -f "$shots/$(basename "$name")" ]; then
      cp "$shots/$(basename "$name")" "$repo/$name"; echo "updated $name"
    else
      echo "README.md shows $name, which no scenario saved"; status=1
    fi
  done
fi
phase "screenshots in $shots"
phase "done in $((SECONDS - started)) s, exit $status"
exit "$status"
