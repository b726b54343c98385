//! Hold throughput, from the pure engine up to durable holds through the actors.
//!
//! - `engine/hold_release`: `Schedule::hold` of one named seat, then `cancel`
//!   of that `Held` reservation, on a 50-seat and a 50,000-seat schedule.
//! - `engine/best_available`: best-available quantity 2 on a 50,000-seat map
//!   whose seats are 10%, 90% or 99% taken (scattered at random, seeded), then
//!   `cancel` of that hold.
//! - `actors/durable_hold`: `Registry::hold` of one named seat, then
//!   `Registry::cancel`, on a `SledStore` with the group commit, from 1, 64 or
//!   1,024 concurrent callers. Every hold and cancel is acknowledged only after
//!   the flush covering it, as in production.
//!
//! One criterion "element" is one hold + cancel pair, so the reported
//! throughput is pairs per second (commands per second are twice that).
//!
//! The engine keeps every reservation it ever made (ended ones included), so
//! the engine benches run in chunks of at most `ENGINE_CHUNK` pairs, each on a
//! fresh clone of the prepared schedule (cloning is not timed). The actor bench
//! cannot reset its schedule: its history grows for the whole run, as it would
//! in production; the schedule actor moves ended reservations to its archive at
//! snapshots, so its live state does not.
//!
//! Run: `cargo bench --bench durable_hold`. After each actor bench, the group
//! commit's counters go to stderr (flushes, records, commands per flush).
//! Diagnostic knobs, off by default: `DURABLE_HOLD_TRACE=1` prints each timed
//! actor run (its size, the history before it, pairs/s);
//! `DURABLE_HOLD_SNAPSHOT_EVERY=<events>` overrides the actors' snapshot interval.

use boxoffice_actors::{EngineConfig, HoldCommand, IdSource, Registry, ScheduleSpec, SystemClock};
use boxoffice_engine::ids::{ReservationId, ScheduleId, UserId};
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::schedule::{HoldRequest, Schedule, ScheduleRules, SeatIndex, SeatSelection};
use boxoffice_engine::Timestamp;
use boxoffice_storage::{FlushStats, SledStore, Store};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-24T00:00:00Z; the engine benches run at this fixed "now".
const NOW: Timestamp = Timestamp(1_795_478_400_000);
/// Most hold + cancel pairs run on one clone of a prepared schedule.
const ENGINE_CHUNK: u64 = 100_000;
/// Users the timed engine holds cycle through (none of them owns a seat before).
const ENGINE_USERS: u64 = 1_024;
/// Concurrent callers of the actor bench.
const CALLERS: [usize; 3] = [1, 64, 1_024];

/// A deterministic id: `kind` in the first byte, `n` in the last eight
/// (the UUID version and variant bits live in bytes 6 and 8, so `n < 2^56`).
fn id_bytes(kind: u8, n: u64) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[0] = kind;
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    bytes
}

fn user(n: u64) -> UserId {
    UserId::from_random_bytes(id_bytes(1, n))
}

fn reservation(n: u64) -> ReservationId {
    ReservationId::from_random_bytes(id_bytes(2, n))
}

fn schedule_id(n: u64) -> ScheduleId {
    ScheduleId::from_random_bytes(id_bytes(3, n))
}

/// 50 seats: one section, one row.
fn small_layout() -> SeatLayout {
    SeatLayout::uniform(1, 1, 50)
}

/// 50,000 seats: 10 sections of 100 rows of 50 seats.
fn large_layout() -> SeatLayout {
    SeatLayout::uniform(10, 100, 50)
}

fn schedule(layout: SeatLayout) -> Schedule {
    Schedule::new(schedule_id(1), layout, ScheduleRules::default()).expect("valid bench layout")
}

fn seat_ids(schedule: &Schedule) -> Vec<String> {
    (0..schedule.seat_count())
        .map(|i| schedule.seat_id(SeatIndex(i)))
        .collect()
}

/// Runs `iters` pairs of `op` on fresh clones of `base`, timing only the ops.
/// `op(schedule, n)` gets a number unique within this call.
fn run_in_chunks(base: &Schedule, iters: u64, mut op: impl FnMut(&mut Schedule, u64)) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let chunk = (iters - done).min(ENGINE_CHUNK);
        let mut schedule = base.clone();
        let start = Instant::now();
        for n in done..done + chunk {
            op(&mut schedule, n);
        }
        total += start.elapsed();
        done += chunk;
    }
    total
}

/// Holds `selection` for `user` as reservation `n`, then cancels it.
fn hold_then_cancel(schedule: &mut Schedule, n: u64, user: UserId, selection: SeatSelection) {
    let id = reservation(n);
    let held = schedule
        .hold(
            HoldRequest {
                reservation_id: id,
                number: "BX-BENCH".to_owned(),
                user,
                selection,
            },
            NOW,
        )
        .expect("bench hold succeeds");
    black_box(&held);
    let released = schedule
        .cancel(id, user, NOW)
        .expect("bench cancel succeeds");
    black_box(&released);
}

fn engine_hold_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine/hold_release");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    for (name, layout) in [
        ("50_seats", small_layout()),
        ("50000_seats", large_layout()),
    ] {
        let base = schedule(layout);
        let seats = seat_ids(&base);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                run_in_chunks(&base, iters, |schedule, n| {
                    let seat = seats[(n % seats.len() as u64) as usize].clone();
                    let who = user(n % ENGINE_USERS);
                    hold_then_cancel(schedule, n, who, SeatSelection::Ids(vec![seat]));
                })
            })
        });
    }
    group.finish();
}

/// A 50,000-seat schedule with `percent`% of its seats held, scattered at random
/// (seeded) over the whole map, four seats per user. The last two seats of the
/// last row stay free so a block of two always exists.
fn prefilled(percent: u64) -> (Schedule, u64) {
    let mut schedule = schedule(large_layout());
    let total = schedule.seat_count();
    let mut candidates: Vec<u32> = (0..total - 2).collect();
    candidates.shuffle(&mut SmallRng::seed_from_u64(percent));
    let taken = (u64::from(total) * percent / 100) as usize;
    let per_user = ScheduleRules::default().max_seats_per_user as usize;
    let mut n = 0u64;
    for chunk in candidates[..taken].chunks(per_user) {
        let ids = chunk
            .iter()
            .map(|&seat| schedule.seat_id(SeatIndex(seat)))
            .collect();
        // Fill users and reservations are numbered above every timed one.
        schedule
            .hold(
                HoldRequest {
                    reservation_id: reservation((1 << 40) | n),
                    number: "BX-FILL".to_owned(),
                    user: user((1 << 40) | n),
                    selection: SeatSelection::Ids(ids),
                },
                NOW,
            )
            .expect("pre-fill seats are free");
        n += 1;
    }
    let counts = schedule.counts();
    assert_eq!(counts.held as usize, taken, "pre-fill took every seat");
    (schedule, n)
}

fn engine_best_available(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine/best_available");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    for percent in [10u64, 90, 99] {
        let (base, fill_users) = prefilled(percent);
        eprintln!(
            "engine/best_available: {percent}% taken = {} seats held by {fill_users} users",
            base.counts().held
        );
        group.bench_function(
            BenchmarkId::new("qty2_50000_seats_taken_pct", percent),
            |b| {
                b.iter_custom(|iters| {
                    run_in_chunks(&base, iters, |schedule, n| {
                        let selection = SeatSelection::BestAvailable {
                            quantity: 2,
                            grade: None,
                            section_id: None,
                        };
                        hold_then_cancel(schedule, n, user(n % ENGINE_USERS), selection);
                    })
                })
            },
        );
    }
    group.finish();
}

/// The production defaults, except that `DURABLE_HOLD_SNAPSHOT_EVERY=<events>`
/// overrides how often the schedule actor snapshots (a diagnostic knob).
fn engine_config() -> EngineConfig {
    let mut config = EngineConfig::default();
    if let Some(every) = std::env::var("DURABLE_HOLD_SNAPSHOT_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.snapshot_every_events = every;
    }
    config
}

/// One engine on sled in a temporary directory, with one 50,000-seat schedule.
struct ActorBench {
    system: actix_rt::System,
    runner: actix_rt::SystemRunner,
    registry: Arc<Registry>,
    schedule_id: ScheduleId,
    seats: Vec<String>,
    callers: usize,
    /// Pairs completed so far, warm-up included (for commands per flush).
    pairs: AtomicU64,
    /// Next per-caller op number, so successive `iter_custom` calls move on to new seats.
    rounds: AtomicU64,
    stats_at_start: FlushStats,
    dir: tempfile::TempDir,
}

impl ActorBench {
    fn start(callers: usize) -> ActorBench {
        // Under target/tmp, i.e. on the disk being measured, not a tmpfs.
        let dir = tempfile::Builder::new()
            .prefix("durable_hold")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("create bench data directory");
        let runner = actix_rt::System::new();
        let system = actix_rt::System::current();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("open sled store"));
        let layout = large_layout();
        let seats = seat_ids(&schedule(layout.clone()));
        let (registry, schedule_id) = runner.block_on(async {
            let registry = Registry::start(
                store,
                Arc::new(SystemClock),
                Arc::new(IdSource::seeded(7)),
                engine_config(),
            )
            .await
            .expect("engine starts");
            let schedule_id = registry
                .create_schedule(ScheduleSpec {
                    schedule_id: schedule_id(1),
                    layout,
                    rules: ScheduleRules::default(),
                    queue: None,
                })
                .await
                .expect("create the bench schedule");
            (registry, schedule_id)
        });
        let stats_at_start = registry.flush_stats();
        ActorBench {
            system,
            runner,
            registry,
            schedule_id,
            seats,
            callers,
            pairs: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
            stats_at_start,
            dir,
        }
    }

    /// Runs `iters` hold + cancel pairs spread over the callers; returns the wall time.
    ///
    /// Caller `k` owns seats and users `k, k + C, k + 2C, ...` (C = callers), and
    /// runs its pairs one after another, so every hold is of a free seat and no
    /// user ever holds more than one seat.
    fn run(&self, iters: u64) -> Duration {
        let callers = self.callers as u64;
        let per_caller_slots = self.seats.len() as u64 / callers;
        let longest = iters.div_ceil(callers);
        let first_round = self.rounds.fetch_add(longest, Ordering::Relaxed);
        let registry = &self.registry;
        let schedule_id = self.schedule_id;
        let seats = &self.seats;
        let elapsed = self.runner.block_on(async {
            let tasks = (0..callers.min(iters)).map(|k| {
                let mine = iters / callers + u64::from(k < iters % callers);
                async move {
                    for round in first_round..first_round + mine {
                        let slot = k + callers * (round % per_caller_slots);
                        let who = user(slot);
                        let held = registry
                            .hold(
                                who,
                                HoldCommand {
                                    schedule_id,
                                    selection: SeatSelection::Ids(vec![
                                        seats[slot as usize].clone()
                                    ]),
                                    queue_token: None,
                                    idem: None,
                                },
                            )
                            .await
                            .expect("durable hold of a free seat");
                        let cancelled = registry
                            .cancel(who, held.reservation_id)
                            .await
                            .expect("durable cancel of a held seat");
                        black_box(cancelled);
                    }
                }
            });
            let start = Instant::now();
            futures_util::future::join_all(tasks).await;
            start.elapsed()
        });
        let before = self.pairs.fetch_add(iters, Ordering::Relaxed);
        if std::env::var_os("DURABLE_HOLD_TRACE").is_some() {
            let stats = self.registry.flush_stats();
            eprintln!(
                "trace callers={} history={before} iters={iters} elapsed={elapsed:?} \
                 pairs/s={:.0} flushes={} records={}",
                self.callers,
                iters as f64 / elapsed.as_secs_f64(),
                stats.flushes,
                stats.records
            );
        }
        elapsed
    }

    /// Prints the group commit's counters for this engine (warm-up included).
    fn report(&self) {
        let now = self.registry.flush_stats();
        let flushes = now.flushes - self.stats_at_start.flushes;
        let records = now.records - self.stats_at_start.records;
        let pairs = self.pairs.load(Ordering::Relaxed);
        if pairs == 0 {
            return; // filtered out on the command line
        }
        let per_flush = |x: u64| x as f64 / flushes.max(1) as f64;
        eprintln!(
            "actors/durable_hold/callers/{}: {pairs} pairs ({} commands), {flushes} flushes, \
             {records} records; records per flush {:.2}, commands per flush {:.2}, \
             max records in one flush {}",
            self.callers,
            2 * pairs,
            per_flush(records),
            per_flush(2 * pairs),
            now.max_batch_records,
        );
    }

    fn stop(self) {
        self.registry.shutdown();
        drop(self.registry);
        self.system.stop();
        drop(self.runner);
        drop(self.dir);
    }
}

fn actors_durable_hold(c: &mut Criterion) {
    let mut group = c.benchmark_group("actors/durable_hold");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(1));
    for callers in CALLERS {
        let bench = ActorBench::start(callers);
        group.bench_function(BenchmarkId::new("callers", callers), |b| {
            b.iter_custom(|iters| bench.run(iters))
        });
        bench.report();
        bench.stop();
    }
    group.finish();
}

criterion_group!(
    benches,
    engine_hold_release,
    engine_best_available,
    actors_durable_hold
);
criterion_main!(benches);
