# Issue 13 (session 12, branch queue): the commands behind BENCHMARKS.md's session-12 rows.
# before = /work/baseline-bin/contention-s11b (main at 58045f3's harness), after = this branch's release build.
# Load average at each step: queue13-load*.txt (other helpers' builds ran throughout: 6-15 on 2 cores).
contention queue-polls --mode in-process --clients 64 --seconds 10 --json queue13-polls-{before,after,final,before3}.json
contention stadium-onsale --mode in-process --seconds 120 --json queue13-stadium-inproc-{before,after,after2,before2,final,before3}.json
# after, after2: the batch-pace prior (reverted in c43b07d); final: this branch's last build; before3: main right after it
# the engine's share, old engine (58045f3, built alone in /tmp) and new:
cargo test -p boxoffice-engine --test queue_memory -- --nocapture   # queue13-engine-memory-{before,after}.txt
