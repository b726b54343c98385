#!/usr/bin/env bash
# Issue 21 figures, previous build vs this one, one after the other
# (2026-12-06, 12:45-12:54 UTC). PREV: the harness built at 09:39 UTC from
# session 6 at commit 362426b (09:38),
# before any change of this session; NEW: main at the merge of the
# stadium-timeline branch. log.txt has the load average at each step.
set -u
cd /work/main
NEW=target/release/contention
PREV=/work/baseline-bin/contention-prev
M=/work/measure
log() { echo "== $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): $*" | tee -a $M/log.txt; }
cd /tmp
log "expiring holds, 20 schedules, new (with hello)"
$OLDPWD/$NEW open-holds --mode http,hello --clients 64 --schedules 20 --hold-seconds 1 --seconds 40 --warmup 2 --json $M/exp20-new.json > $M/exp20-new.txt 2>&1
log "expiring holds, 20 schedules, prev"
$PREV open-holds --mode http --clients 64 --schedules 20 --hold-seconds 1 --seconds 40 --warmup 2 --json $M/exp20-prev.json > $M/exp20-prev.txt 2>&1
log "expiring holds, 1 schedule, new (with hello)"
$OLDPWD/$NEW open-holds --mode http,hello --clients 64 --schedules 1 --hold-seconds 1 --seconds 40 --warmup 2 --json $M/exp1-new.json > $M/exp1-new.txt 2>&1
log "expiring holds, 1 schedule, prev"
$PREV open-holds --mode http --clients 64 --schedules 1 --hold-seconds 1 --seconds 40 --warmup 2 --json $M/exp1-prev.json > $M/exp1-prev.txt 2>&1
log "in process, 1000 callers, new"
$OLDPWD/$NEW open-holds --mode in-process --clients 1000 --seconds 10 --warmup 2 --json $M/inproc-new.json > $M/inproc-new.txt 2>&1
log "in process, 1000 callers, prev"
$PREV open-holds --mode in-process --clients 1000 --seconds 10 --warmup 2 --json $M/inproc-prev.json > $M/inproc-prev.txt 2>&1
log "stadium in process, new"
$OLDPWD/$NEW stadium-onsale --mode in-process --seconds 120 --json $M/stadium-inproc-new.json --timeline-svg $M/stadium-inproc-timeline.svg > $M/stadium-inproc-new.txt 2>&1
log "stadium in process, prev"
$PREV stadium-onsale --mode in-process --seconds 120 --json $M/stadium-inproc-prev.json > $M/stadium-inproc-prev.txt 2>&1
log "stadium http, new"
$OLDPWD/$NEW stadium-onsale --mode http --seconds 120 --json $M/stadium-http-new.json --timeline-svg $M/stadium-http-timeline.svg > $M/stadium-http-new.txt 2>&1
log "stadium http, prev"
$PREV stadium-onsale --mode http --seconds 120 --json $M/stadium-http-prev.json > $M/stadium-http-prev.txt 2>&1
log "done"
