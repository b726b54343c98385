//! Deterministic simulation with injected crashes, in the style of
//! TigerBeetle's VOPR and FoundationDB's simulator.
//!
//! One `u64` seed drives everything: the engine's configuration, the schedules
//! (two open, one gated by the waiting room) and users, a manual clock, the
//! ids (`IdSource::seeded(seed ^ restarts)`: a restart gets a fresh stream, so
//! ids never repeat), a random workload of 100-300 operations (holds by id and
//! best-available, releases, expiries, charges and payments with and without
//! idempotency keys, replays and reused keys, funded and unfunded payments,
//! cancellations with refunds, queue joins, polls and admissions, check-ins;
//! blocks, unblocks and comps of seats, and on one seed in three an admin's
//! cancel of a whole schedule, its batches and refunds run by the registry's
//! driver; see `simulation/admin.rs`), and 1-3 crashes. A crash point makes
//! the fault-injecting `MemoryStore` die after the n-th append (between a log
//! append and its flush), the n-th write of any kind, the n-th snapshot
//! (before its trim), in the middle of a trim (half its records removed),
//! after the n-th write to the idempotency key store (decided keys moving
//! out of a schedule's table, on the key writer thread in the seeds that use
//! background writers, inline in the others), between a payment's saga
//! steps, or inside a schedule cancellation (its record, a batch, a wallet
//! refund, a settlement) or a block. The process is
//! then stopped, a seeded prefix of the unflushed records survives (none, all
//! or some, as a background flush may have been part way), and a new engine
//! starts on the same store with the clock where it was. After each restart
//! `checks` verifies every invariant and that every acknowledged operation
//! survived with its acknowledged outcome (see `simulation/checks.rs`); during
//! the run `oracle` and the workload check each answer against the model.
//!
//! The workload is driven sequentially (each operation awaited, then every
//! actor quiesced, before the next), and every piece of background work an
//! actor would start on its own timer is started explicitly right after the
//! event that makes it due, so a seed replays the same operations and crash
//! points. What a seed cannot pin down is thread timing inside one payment:
//! a schedule actor writes its snapshot while the saga's next step already
//! runs on a wallet actor, so a crash point that fires on that snapshot can
//! land before or after the debit. About 1 seed in 100 then replays
//! differently (measured by comparing `BOXOFFICE_SIM_DIGESTS` of two runs);
//! the checks hold for every interleaving. A schedule cancellation adds two
//! such places, on purpose: its driver pays a batch's refunds on several
//! wallet actors at once (which append lands first, and so where an
//! `Appends(n)` crash point fires, is thread timing), and a payment may race
//! the cancel (its outcome, paid then refunded or refused, is adopted from
//! the answers; no crash point is armed then).
//!
//! Seeds: `BOXOFFICE_SIM_SEEDS=N` runs seeds 0..N (or `A..B`), default
//! [`DEFAULT_SEEDS`], two at a time (`BOXOFFICE_SIM_LANES`), starting no
//! new seed after `BOXOFFICE_SIM_BUDGET_SECS` (default 300);
//! `BOXOFFICE_SIM_SEED=n` replays one seed with its whole trace. A failure
//! prints the seed, the last operations and the command that replays it.
//! `BOXOFFICE_SIM_DIGESTS=1` prints a digest of each seed's trace, to compare
//! two runs of the same seeds; `BOXOFFICE_SIM_TRACE=1` prints the traces.
//!
//! # Defects found
//!
//! - Admission lost on restart (fixed): a hold made on a gated schedule under
//!   an ACTIVE queue token may be paid until the hold expires, even after the
//!   token's active time ends. That grace lived only in the schedule actor's
//!   memory, so after a restart the payment was refused with QueueNotActive
//!   (seed 162). `ResendAdmissions` now also resends tokens whose active time
//!   ended less than one hold time ago.

mod accounts;
mod admin;
mod cards;
mod checks;
mod crash;
mod keys;
mod mail;
mod model;
mod oracle;
mod outbox;
mod side_crashes;
mod webhooks;
mod workload;
mod world;

use futures_util::future::join_all;
use futures_util::FutureExt;
use rand::Rng;
use std::cell::Cell;
use std::ops::{Range, RangeInclusive};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crash::{choose_plan, CrashPlan, ARMED_PATIENCE_OPS, CRASH_POINT_NAMES};
use world::{Stats, Trace, World, TRACE_LINES, TRACE_LINES_REPLAY};

/// Seeds run by default (issue 5 asks for thousands per CI run): 1,000 took
/// 78 s on 2 lightly loaded cores (12.8 seeds/s) and 135-153 s on busy ones;
/// the time budget below is the hard stop.
pub const DEFAULT_SEEDS: u64 = 2_000;
/// Seeds run at once by default (`BOXOFFICE_SIM_LANES`): each seed is still
/// sequential; two lanes keep both cores busy while one waits on a flush.
const DEFAULT_LANES: u64 = 2;
const MAX_LANES: u64 = 16;
/// No new seed starts after this many seconds (`BOXOFFICE_SIM_BUDGET_SECS`),
/// so the test stays within its CI budget on a slow day; it says so when it stops early.
const DEFAULT_BUDGET_SECS: u64 = 300;
/// Operations per seed.
const OPERATIONS_PER_SEED: RangeInclusive<usize> = 100..=300;
/// Planned crashes per seed (a final kill and check always follows the workload).
const CRASHES_PER_SEED: RangeInclusive<usize> = 1..=3;
/// No crash is planned before this many operations: there must be something to lose.
const FIRST_CRASH_AFTER: usize = 5;
/// Every decided idempotency key is probed this often (and after every restart).
const KEY_PROBE_EVERY_OPS: usize = 10;

fn seeds_from_env() -> Range<u64> {
    seed_range("BOXOFFICE_SIM_SEED", "BOXOFFICE_SIM_SEEDS", DEFAULT_SEEDS)
}

/// The seeds a simulation runs: the one in `one_var`, else those in
/// `many_var` (`N` for 0..N, or `A..B`), else 0..`default`.
pub(super) fn seed_range(one_var: &str, many_var: &str, default: u64) -> Range<u64> {
    let parse = |name: &str, text: &str| -> u64 {
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {text:?}"))
    };
    if let Ok(one) = std::env::var(one_var) {
        let seed = parse(one_var, &one);
        return seed..seed.saturating_add(1);
    }
    match std::env::var(many_var) {
        Ok(text) => match text.split_once("..") {
            Some((from, to)) => parse(many_var, from)..parse(many_var, to),
            None => 0..parse(many_var, &text),
        },
        Err(_) => 0..default,
    }
}

/// Runs the side simulations' seeds one after another (the main one runs
/// lanes of its own), each with a trace (a long one when a single seed is
/// replayed), and hands each seed's statistics to `add`. Panics on the first
/// failing seed with its message, its last operations, and how to replay it
/// (`replay`: the command, with `{seed}` where the seed goes).
pub(super) async fn run_seeds<S, Fut>(
    name: &str,
    seeds: Range<u64>,
    replay: &str,
    run: impl Fn(u64, Trace) -> Fut,
    mut add: impl FnMut(S),
) where
    Fut: std::future::Future<Output = S>,
{
    let single = seeds.end.saturating_sub(seeds.start) == 1;
    for seed in seeds {
        let trace = Trace::new(if single {
            TRACE_LINES_REPLAY
        } else {
            TRACE_LINES
        });
        match AssertUnwindSafe(run(seed, trace.clone()))
            .catch_unwind()
            .await
        {
            Ok(stats) => add(stats),
            Err(payload) => panic!(
                "{name} failed at seed {seed}: {}\n  last operations:\n{}\n  replay: {}",
                panic_message(payload.as_ref()),
                trace.dump(),
                replay.replace("{seed}", &seed.to_string())
            ),
        }
    }
}

/// One seed from start to final check; panics (with the reason) on the first violation.
async fn run_seed(seed: u64, trace: Trace) -> Stats {
    let mut w = World::create(seed, trace).await;
    let operations = w.rng.gen_range(OPERATIONS_PER_SEED);
    let crashes = w.rng.gen_range(CRASHES_PER_SEED);
    let mut crash_at: Vec<usize> = (0..crashes)
        .map(|_| w.rng.gen_range(FIRST_CRASH_AFTER..operations))
        .collect();
    crash_at.sort_unstable();
    let mut armed_at: Option<usize> = None;
    let mut pay_crash = None;
    for op in 0..operations {
        while crash_at.first().is_some_and(|&at| at <= op) {
            crash_at.remove(0);
            if armed_at.is_some() {
                continue; // one crash point at a time; this one merges with it
            }
            match choose_plan(&mut w.rng) {
                CrashPlan::Point(point) => w.arm(point),
                CrashPlan::DuringPayment(point) => {
                    w.trace
                        .push(format!("  plan: {point} inside the next payment"));
                    pay_crash = Some(point);
                }
            }
            armed_at = Some(op);
        }
        w.trace.push(format!("#{op}"));
        workload::step(&mut w, &mut pay_crash).await;
        w.quiesce().await;
        // Appends only: whether an actor's snapshot lands before the store
        // dies can depend on thread timing, and changes no state.
        w.trace
            .push(format!("  store: {} appends", w.store.stats().appends));
        w.stats.operations += 1;
        if op % KEY_PROBE_EVERY_OPS == 0 && !w.store.is_dead() {
            checks::probe_all_keys(&mut w).await;
        }
        let patience_over = armed_at.is_some_and(|at| op - at >= ARMED_PATIENCE_OPS);
        if w.store.is_dead() || patience_over {
            restart_and_check(&mut w).await;
            armed_at = None;
            pay_crash = None;
        }
    }
    // A last kill: everything acknowledged since the last crash must be there too.
    restart_and_check(&mut w).await;
    w.registry.shutdown();
    let store = w.store.stats();
    w.stats.abandoned = w.abandoned.get();
    w.stats.appends = store.appends;
    w.stats.snapshots = store.snapshots;
    w.stats.trims = store.trims;
    use boxoffice_storage::Store;
    // Keys that moved to the key store (and were replayed from it by the
    // workload's repeated keys, checked like every other answer).
    w.stats.archived_keys = w
        .store
        .list_meta("idem/k/", usize::MAX)
        .map_or(0, |keys| keys.len() as u64);
    w.stats.archived_reservations = w
        .store
        .list_meta("archive/u/", usize::MAX)
        .map_or(0, |keys| keys.len() as u64);
    w.stats.archived_ledger_entries = w.store.list_meta("ledger/", usize::MAX).map_or(0, |keys| {
        keys.iter().filter(|key| key.contains("/e/")).count() as u64
    });
    w.stats
}

async fn restart_and_check(w: &mut World) {
    w.kill_and_restart().await;
    w.settle().await;
    checks::after_restart(w).await;
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// What one seed left: its statistics or its failure report, and its trace digest.
struct SeedResult {
    seed: u64,
    outcome: Result<Stats, String>,
    digest: u64,
    trace: String,
}

async fn run_guarded(seed: u64, trace_lines: usize) -> SeedResult {
    let trace = Trace::new(trace_lines);
    let outcome = match AssertUnwindSafe(run_seed(seed, trace.clone()))
        .catch_unwind()
        .await
    {
        Ok(stats) => Ok(stats),
        Err(payload) => Err(format!(
            "simulation failed at seed {seed}: {}\n  last operations, oldest first:\n{}\n  replay: BOXOFFICE_SIM_SEED={seed} cargo test --test simulation -- --nocapture",
            panic_message(payload.as_ref()),
            trace.dump()
        )),
    };
    SeedResult {
        seed,
        outcome,
        digest: trace.digest(),
        trace: if trace_lines == TRACE_LINES_REPLAY {
            trace.dump()
        } else {
            String::new()
        },
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {text:?}")),
        Err(_) => default,
    }
}

#[actix_rt::test]
async fn simulated_crashes_lose_nothing_acknowledged() {
    let seeds = seeds_from_env();
    let single = seeds.end.saturating_sub(seeds.start) == 1;
    let print_digests = std::env::var_os("BOXOFFICE_SIM_DIGESTS").is_some();
    let print_trace = std::env::var_os("BOXOFFICE_SIM_TRACE").is_some();
    let lanes = if single {
        1
    } else {
        env_number("BOXOFFICE_SIM_LANES", DEFAULT_LANES).clamp(1, MAX_LANES)
    };
    let budget = Duration::from_secs(env_number("BOXOFFICE_SIM_BUDGET_SECS", DEFAULT_BUDGET_SECS));
    // One seed replayed: keep its whole trace for the report.
    let trace_lines = if single || print_trace {
        TRACE_LINES_REPLAY
    } else {
        TRACE_LINES
    };
    let started = Instant::now();
    let failed = Rc::new(Cell::new(false));
    let lane_runs = (0..lanes).map(|lane| {
        let (seeds, failed) = (seeds.clone(), Rc::clone(&failed));
        async move {
            let mut results = Vec::new();
            let mut seed = seeds.start + lane;
            // A failure elsewhere or the time budget stops a lane between seeds.
            while seed < seeds.end && !failed.get() && (single || started.elapsed() < budget) {
                let result = run_guarded(seed, trace_lines).await;
                failed.set(failed.get() || result.outcome.is_err());
                results.push(result);
                seed += lanes;
            }
            results
        }
    });
    let mut results: Vec<SeedResult> = join_all(lane_runs).await.into_iter().flatten().collect();
    results.sort_by_key(|r| r.seed);
    let elapsed = started.elapsed().as_secs_f64();
    let mut total = Stats::default();
    for result in &results {
        if print_digests {
            println!("seed {} digest {:016x}", result.seed, result.digest);
        }
        if print_trace {
            println!("{}", result.trace);
        }
        match &result.outcome {
            Ok(stats) => total.add(stats),
            Err(report) => panic!("{report}"),
        }
    }
    let count = results.len() as u64;
    let requested = seeds.end.saturating_sub(seeds.start);
    if count < requested {
        println!(
            "simulation: the {}-second budget ran out after {count} of {requested} seeds (BOXOFFICE_SIM_BUDGET_SECS)",
            budget.as_secs()
        );
    }
    let crashes: Vec<String> = CRASH_POINT_NAMES
        .iter()
        .zip(total.crashes_by_point)
        .map(|(name, n)| format!("{name}: {n}"))
        .collect();
    println!(
        "simulation: {count} seeds from {} in {elapsed:.1} s on {lanes} lanes = {:.1} seeds/s; {} operations, \
         {} records appended, {} snapshots, {} trims, {} idempotency keys in the key store and {} reservations and {} ledger entries in the archive at the end \
         ({} wallets seen with entries archived ahead of their snapshot after a crash); {} restarts ({}); \
         {} operations in flight at a crash ({} abandoned after the grace; {} found done, {} not); {} of {} unflushed records kept at kills; \
         recovery confirmed {} and aborted {} payments, settled {} refunds; {} crash points at a pre-queue shuffle, {} shuffles checked across restarts; \
         {} schedule cancellations acknowledged ({} crash points aimed inside one: the store died {} times before the acknowledgement and {} times after it, before the driver was seen done; \
         {} cancellations resumed at start-up, {} in flight at a crash found done; {} with a payment racing the cancel); {} blocks, {} unblocks, {} comps, {} admin refusals checked \
         ({} crash points aimed at their writes, {} fired inside one, {} in flight found applied)",
        seeds.start,
        count as f64 / elapsed,
        total.operations,
        total.appends,
        total.snapshots,
        total.trims,
        total.archived_keys,
        total.archived_reservations,
        total.archived_ledger_entries,
        total.ledgers_archived_ahead,
        total.restarts,
        crashes.join(", "),
        total.in_flight,
        total.abandoned,
        total.in_flight_done,
        total.in_flight_not_done,
        total.kept_at_kill,
        total.pending_at_kill,
        total.payments_confirmed_by_recovery,
        total.payments_aborted_by_recovery,
        total.refunds_settled_by_recovery,
        total.shuffle_crashes_armed,
        total.shuffles_seen,
        total.cancellations,
        total.cancel_crashes_armed,
        total.cancel_crashes_at_record,
        total.cancel_crashes_in_driver,
        total.cancellations_resumed,
        total.cancellations_adopted,
        total.payments_racing_cancel,
        total.blocks,
        total.unblocks,
        total.comps,
        total.admin_refusals,
        total.block_crashes_armed,
        total.block_crashes_fired,
        total.block_ops_adopted,
    );
}
