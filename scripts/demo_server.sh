# A throwaway `boxoffice serve --demo` for the scripts that test through a
# real server (scripts/browser/run.sh, scripts/clients/run.sh). Sourced, not
# run. The server listens on a free loopback port with its data in a temp dir
# and rate limits off (the suites drive many requests from one address).
#
#   demo_server_start BIN DIR   start BIN; data in DIR/data, output in
#                               DIR/server.log and DIR/server.err; sets
#                               demo_server_pid and demo_server_base (the
#                               http://127.0.0.1:PORT the server printed) once
#                               /readyz answers; exits the calling script with
#                               the server's output if it exits or is not ready
#                               within 30 s.
#   demo_server_stop            stop it at once (for the caller's EXIT trap).
#   demo_server_alive           whether it still runs.

demo_server_pid=""
demo_server_base=""
# 150 tries, 0.2 s apart.
demo_server_start_tries=150

demo_server_start() {
  local bin="$1" dir="$2"
  BOXOFFICE_RATE_LIMITS=off "$bin" serve --demo --bind 127.0.0.1:0 --data-dir "$dir/data" \
    >"$dir/server.log" 2>"$dir/server.err" &
  demo_server_pid=$!
  local base="" _
  for _ in $(seq 1 "$demo_server_start_tries"); do
    base=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$dir/server.log" | head -1 || true)
    if [ -n "$base" ] && curl -fsS "$base/readyz" >/dev/null 2>&1; then
      demo_server_base="$base"
      return 0
    fi
    if ! demo_server_alive; then
      echo "the server exited:"; cat "$dir/server.log" "$dir/server.err"; exit 1
    fi
    sleep 0.2
  done
  echo "the server did not become ready"; cat "$dir/server.log" "$dir/server.err"; exit 1
}

demo_server_alive() {
  [ -n "$demo_server_pid" ] && kill -0 "$demo_server_pid" 2>/dev/null
}

demo_server_stop() {
  if [ -n "$demo_server_pid" ]; then
    # Nothing here needs SIGTERM's drain, which waits out idle keep-alive
    # connections: stop the throwaway server at once.
    kill -KILL "$demo_server_pid" 2>/dev/null || true
    wait "$demo_server_pid" 2>/dev/null || true
    demo_server_pid=""
  fi
}
