#!/bin/bash
# Old (main's search internals, 1e12c38) vs new (w-search16) harness builds, back to back, same command.
cd /tmp
R=/work/wt-search16/benches/results/2026-12-06
for build in ${ORDER:-new old}; do
  echo "== $build build, $(date -u +%H:%M:%S), load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# contention search --mode in-process,http,hello --clients 1 64 --seconds 10 --warmup 2 ($build build)"
  RUST_LOG=error timeout 900 /tmp/contention-s16-$build search --mode in-process,http,hello --clients 1 64 --seconds 10 --warmup 2 \
     --json $R/search-session10-harness-$build${SUFFIX:-}.json 2>&1 | grep -v "^contention: search\|^contention: hello"
  echo "== done $build, $(date -u +%H:%M:%S), load: $(cut -d' ' -f1-3 /proc/loadavg)"
done
# r1: ORDER="new old" (default); r2: ORDER="old new" SUFFIX=-r2.
# /tmp/contention-s16-new: `cargo build --release -p boxoffice-contention --bin contention` at w-search16 (82b422d's code).
# /tmp/contention-s16-old: the same harness with search/src/{query,schema}.rs and http/src/routes/search.rs
#   as on main (1e12c38) and the queued calls run inline on the caller (main's behaviour): the script
#   /tmp/search16-make-old.sh below, applied, built, then undone.
# criterion (search-session10-r1-criterion-old-then-new.txt): main's bench binary (target/release/deps/search-*
#   built from 1e12c38) then this branch's, each `<bench binary> --bench nomatch` (the timed loops; criterion skipped).
#   #!/bin/bash
#   # Turns the worktree's search internals into main's (1e12c38) for the "old" harness build; undo with git checkout.
#   set -e
#   cd /work/wt-search16
#   git show 1e12c38:search/src/query.rs > search/src/query.rs
#   git show 1e12c38:search/src/schema.rs > search/src/schema.rs
#   git show 1e12c38:http/src/routes/search.rs > http/src/routes/search.rs
#   python3 - <<'PY'
#   p='search/src/lib.rs'
#   s=open(p).read()
#   s=s.replace(".submit(move || index.search(&request))", ".inline(move || index.search(&request))")
#   s=s.replace(".submit(move || index.autocomplete(&q, limit))", ".inline(move || index.autocomplete(&q, limit))")
#   open(p,'w').write(s)
#   p='search/src/pool.rs'
#   s=open(p).read()
#   s=s.replace("""    /// Queues `query`; its answer comes back through the [`Pending`].""","""    /// OLD-BUILD EMULATION: runs `query` on the caller's thread, as main did.
#       pub fn inline<T: Send + 'static>(
#           &self,
#           query: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
#       ) -> Pending<T> {
#           let (reply, answer) = oneshot::channel();
#           let _ = reply.send(query());
#           Pending { answer: Ok(answer) }
#       }
#   
#       /// Queues `query`; its answer comes back through the [`Pending`].""")
#   open(p,'w').write(s)
#   PY
#   grep -c inline search/src/lib.rs
