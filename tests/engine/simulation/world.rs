//! One simulated world: everything a seed decides (engine configuration,
//! schedules, users), the engine running on a fault-injecting memory store
//! and a manual clock, and its life cycle: operations raced against the
//! store's death, kills, restarts on the same store, and the settling that
//! makes a restarted engine's background work (admissions pushed to schedule
//! actors, expiry timers) happen at a known point rather than at a random one.

use boxoffice_actors::queue_actor::{QueueStats, TickNow};
use boxoffice_actors::recovery::RecoveryReport;
use boxoffice_actors::schedule_actor::{ExpireNow, GetCounts};
use boxoffice_actors::wallet_actor::GetWallet;
use boxoffice_actors::{Clock, EngineConfig, IdSource, ManualClock, Registry, ScheduleSpec};
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::schedule::ScheduleRules;
use boxoffice_engine::wallet::WalletLimits;
use boxoffice_engine::Money;
use boxoffice_storage::{MemoryStore, Store};
use futures_util::future::join_all;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::crash::{choose_kept, CrashPoint};
use super::model::{Model, RowModel, ScheduleModel};
use test_support::engine::T0;

/// Longest any one operation (or a start-up) may take before the run is
/// declared hung. Generous: a debug build on a loaded 2-core machine.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a pending operation looks whether the store has died.
const DEATH_POLL: Duration = Duration::from_millis(1);
/// Once the store is dead, how long a pending operation may still finish
/// before it is abandoned, as a killed process abandons its requests. Every
/// operation ends within microseconds of the death but a payment whose debit
/// failed, which retries for half a second (payment.rs); the grace is long
/// enough that whether an answer arrives does not depend on thread timing.
const DEATH_GRACE: Duration = Duration::from_millis(100);
/// Trace lines kept for a failure report (all of them when one seed is replayed).
/// Rounds of "quiesce the actors, wait for the archive writer" before a
/// quiesce gives up: each round's forgetting can start at most one snapshot
/// per actor, which rarely archives again.
const QUIESCE_ROUNDS_MAX: usize = 16;
/// 1 ms polls of the archive writer per round (10 s).
const ARCHIVE_WAIT_POLLS_MAX: usize = 10_000;
pub const TRACE_LINES: usize = 60;
pub const TRACE_LINES_REPLAY: usize = 100_000;
/// Idempotency keys per user and endpoint: few, so keys get replayed and reused.
pub const KEYS_PER_USER: u32 = 3;

/// The last operations of a run, printed when a seed fails, and a digest
/// of every line, to tell whether two runs of a seed went the same way.
#[derive(Clone)]
pub struct Trace(Arc<Mutex<TraceLines>>);

pub struct TraceLines {
    last: VecDeque<String>,
    capacity: usize,
    digest: u64,
}

impl Trace {
    pub fn new(capacity: usize) -> Trace {
        assert!(capacity > 0);
        Trace(Arc::new(Mutex::new(TraceLines {
            last: VecDeque::new(),
            capacity,
            digest: 0,
        })))
    }

    pub fn push(&self, line: String) {
        let mut trace = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // FNV-1a: stable across runs and builds, unlike a randomly keyed hasher.
        for byte in line.bytes().chain([b'\n']) {
            trace.digest = (trace.digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        if trace.last.len() == trace.capacity {
            trace.last.pop_front();
        }
        trace.last.push_back(line);
    }

    pub fn dump(&self) -> String {
        let trace = self.0.lock().unwrap_or_else(|p| p.into_inner());
        trace.last.iter().map(|l| format!("    {l}\n")).collect()
    }

    pub fn digest(&self) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).digest
    }
}

/// Counters of one seed, summed over the run for the report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub operations: u64,
    /// Operations whose answer never came because the store died.
    pub in_flight: u64,
    /// Of those, abandoned while still running (a payment retrying its debit).
    pub abandoned: u64,
    pub crashes_by_point: [u64; super::crash::CRASH_POINT_NAMES.len()],
    pub restarts: u64,
    /// Records left unflushed at the kills, and how many of them survived.
    pub pending_at_kill: u64,
    pub kept_at_kill: u64,
    /// In-flight operations the restarted engine showed as done.
    pub in_flight_done: u64,
    pub in_flight_not_done: u64,
    pub payments_confirmed_by_recovery: u64,
    pub payments_aborted_by_recovery: u64,
    pub refunds_settled_by_recovery: u64,
    /// What the store saw (successful writes, including ones a crash lost).
    pub appends: u64,
    pub snapshots: u64,
    pub trims: u64,
    pub archived_keys: u64,
    pub archived_reservations: u64,
    /// Ledger entries in the store's archive at the end, and wallets found
    /// (at a check) with entries archived ahead of their snapshot.
    pub archived_ledger_entries: u64,
    pub ledgers_archived_ahead: u64,
    /// Crash points armed as a step crossed a pre-queue's opening, and
    /// shuffles then found durable after a restart.
    pub shuffle_crashes_armed: u64,
    pub shuffles_seen: u64,
    /// Schedule cancellations acknowledged; crash points aimed inside one,
    /// and where the store then died: before the cancel was acknowledged
    /// (at its record) or after, before the driver was seen done (in its
    /// batches, refunds, settlements, or just after its last record);
    /// cancellations start-up found unfinished and resumed; cancellations
    /// in flight at a crash found done after it.
    pub cancellations: u64,
    pub cancel_crashes_armed: u64,
    pub cancel_crashes_at_record: u64,
    pub cancel_crashes_in_driver: u64,
    pub cancellations_resumed: u64,
    pub cancellations_adopted: u64,
    /// Payments sent together with a cancel, racing it.
    pub payments_racing_cancel: u64,
    /// Blocks, unblocks and comps acknowledged, and admin refusals checked;
    /// crash points aimed at their writes, stores that died inside one, and
    /// those in flight found applied after the restart.
    pub blocks: u64,
    pub unblocks: u64,
    pub comps: u64,
    pub admin_refusals: u64,
    pub block_crashes_armed: u64,
    pub block_crashes_fired: u64,
    pub block_ops_adopted: u64,
}

impl Stats {
    pub fn add(&mut self, other: &Stats) {
        self.operations += other.operations;
        self.in_flight += other.in_flight;
        self.abandoned += other.abandoned;
        for (sum, n) in self.crashes_by_point.iter_mut().zip(other.crashes_by_point) {
            *sum += n;
        }
        self.restarts += other.restarts;
        self.pending_at_kill += other.pending_at_kill;
        self.kept_at_kill += other.kept_at_kill;
        self.in_flight_done += other.in_flight_done;
        self.in_flight_not_done += other.in_flight_not_done;
        self.payments_confirmed_by_recovery += other.payments_confirmed_by_recovery;
        self.payments_aborted_by_recovery += other.payments_aborted_by_recovery;
        self.refunds_settled_by_recovery += other.refunds_settled_by_recovery;
        self.appends += other.appends;
        self.snapshots += other.snapshots;
        self.trims += other.trims;
        self.archived_keys += other.archived_keys;
        self.archived_reservations += other.archived_reservations;
        self.archived_ledger_entries += other.archived_ledger_entries;
        self.ledgers_archived_ahead += other.ledgers_archived_ahead;
        self.shuffle_crashes_armed += other.shuffle_crashes_armed;
        self.shuffles_seen += other.shuffles_seen;
        self.cancellations += other.cancellations;
        self.cancel_crashes_armed += other.cancel_crashes_armed;
        self.cancel_crashes_at_record += other.cancel_crashes_at_record;
        self.cancel_crashes_in_driver += other.cancel_crashes_in_driver;
        self.cancellations_resumed += other.cancellations_resumed;
        self.cancellations_adopted += other.cancellations_adopted;
        self.payments_racing_cancel += other.payments_racing_cancel;
        self.blocks += other.blocks;
        self.unblocks += other.unblocks;
        self.comps += other.comps;
        self.admin_refusals += other.admin_refusals;
        self.block_crashes_armed += other.block_crashes_armed;
        self.block_crashes_fired += other.block_crashes_fired;
        self.block_ops_adopted += other.block_ops_adopted;
    }
}

pub struct World {
    pub seed: u64,
    pub rng: SmallRng,
    pub clock: ManualClock,
    pub store: Arc<MemoryStore>,
    pub config: EngineConfig,
    pub registry: Arc<Registry>,
    pub model: Model,
    pub trace: Trace,
    pub stats: Stats,
    /// The crash point armed last, for the trace and the statistics.
    pub armed: Option<CrashPoint>,
    /// Operations abandoned because the store died (see `DEATH_GRACE`).
    pub abandoned: Cell<u64>,
}

impl World {
    /// Builds the seed's world: engine configuration, schedules, users.
    pub async fn create(seed: u64, trace: Trace) -> World {
        let mut rng = SmallRng::seed_from_u64(seed);
        let clock = ManualClock::new(T0);
        let store = Arc::new(MemoryStore::new());
        let config = EngineConfig {
            // Small, so snapshots and trims (and crashes during them) are frequent.
            snapshot_every_events: rng.gen_range(3..=30),
            wallet_shards: rng.gen_range(1..=4),
            arbiters: rng.gen_range(1..=2),
            // Small, so ended reservations move to the archive (and crashes
            // hit that too) within a seed.
            archive_after_ended: rng.gen_range(1..=6),
            // Small, so wallet ledgers move to the store (and crashes hit
            // that) within a seed; 0 archives at every snapshot. From the
            // seed, not `rng`, so every other draw is what it was before.
            archive_ledger_after: (seed % 5) as usize,
            // Small, so wallets reach their daily charge count (and crashes
            // must keep the count) within a seed.
            wallet_limits: WalletLimits {
                max_charges_per_day: rng.gen_range(2..=8),
                ..WalletLimits::default()
            },
            // Tiny, so a few reservations make several cancellation batches
            // (and crash points between them). From the seed, like the
            // above; not `seed % 3`, which picks the seeds that cancel.
            cancel_batch: (seed / 3 % 3 + 1) as usize,
            // Half the seeds write archive batches on the background writer
            // thread, as a server does (its timing then varies from run to
            // run: such a seed may not replay exactly); the other half write
            // them on the actor's thread, so those seeds replay.
            archive_in_background: seed / 5 % 2 == 1,
            // 1-3 reservations per archive write, so batches take several
            // writes (and crashes fall between them). From the seed.
            archive_reservations_per_write: (seed / 7 % 3 + 1) as usize,
            ..EngineConfig::default()
        };
        let registry = start_registry(&store, &clock, seed, 0, &config).await;
        let mut world = World {
            seed,
            rng,
            clock,
            store,
            config,
            registry,
            model: Model::default(),
            trace,
            stats: Stats::default(),
            armed: None,
            abandoned: Cell::new(0),
        };
        world.create_schedules().await;
        let users = world.rng.gen_range(6..=16);
        world.model.users = (0..users)
            .map(|_| UserId::from_random_bytes(world.rng.gen()))
            .collect();
        world.trace.push(format!(
            "seed {seed}: {:?}, {} users, schedules {:?}",
            world.config,
            users,
            world
                .model
                .schedules
                .iter()
                .map(|s| (s.id, s.gated, s.seat_ids.len()))
                .collect::<Vec<_>>()
        ));
        world
    }

    /// Two open schedules and one gated by the waiting room, each small so
    /// that users fight over seats.
    async fn create_schedules(&mut self) {
        for gated in [false, false, true] {
            let sections = self.rng.gen_range(1..=2);
            let rows = self.rng.gen_range(1..=2);
            let seats_per_row = self.rng.gen_range(3..=8);
            let mut layout = SeatLayout::uniform(sections, rows, seats_per_row);
            // Now and then the cheapest section is free: a payment of 0 moves no money.
            if self.rng.gen_range(0..4) == 0 {
                if let Some(last) = layout.sections.last_mut() {
                    last.price = Money::ZERO;
                }
            }
            let mut rules = ScheduleRules {
                max_seats_per_user: self.rng.gen_range(2..=6),
                hold_ms: [5_000, 20_000, 60_000][self.rng.gen_range(0..3)],
                ..ScheduleRules::default()
            };
            // Half the seeds open the gated schedule a little after the start,
            // behind a pre-queue already open: early joiners are shuffled at
            // opening (and `advance` aims crash points at that moment).
            let pre_queue = (gated && self.rng.gen_bool(0.5)).then(|| {
                let opens_in_ms = self.rng.gen_range(2_000..=40_000);
                (opens_in_ms, opens_in_ms + self.rng.gen_range(0..=600_000))
            });
            if let Some((opens_in_ms, _)) = pre_queue {
                rules.booking_opens_at = T0.plus_millis(opens_in_ms);
            }
            // max_active is never the limit: ending a token then frees no room,
            // so a payment's end of token (pushed to the queue after the reply)
            // cannot trigger an admission behind the workload's back.
            let queue = gated.then(|| QueueConfig {
                enabled: true,
                batch_size: self.rng.gen_range(1..=3),
                interval_ms: self.rng.gen_range(200..=3_000),
                max_active: 1_000,
                active_ms: self.rng.gen_range(10_000..=40_000),
                pre_queue_ms: pre_queue.map_or(0, |(_, window_ms)| window_ms),
                ..QueueConfig::default()
            });
            let opens_at = pre_queue.map(|_| rules.booking_opens_at);
            let max_seats_per_user = rules.max_seats_per_user;
            let spec = ScheduleSpec {
                schedule_id: ScheduleId::from_random_bytes(self.rng.gen()),
                layout: layout.clone(),
                rules,
                queue,
            };
            let id = self
                .registry
                .create_schedule(spec)
                .await
                .expect("a schedule is created on a healthy store");
            let mut seat_ids = Vec::new();
            let mut row_models = Vec::new();
            for (index, section) in layout.sections.iter().enumerate() {
                for row in &section.rows {
                    let seats: Vec<String> = (1..=row.seats)
                        .map(|n| format!("{}-{}-{n}", section.section_id, row.row))
                        .collect();
                    seat_ids.extend(seats.iter().cloned());
                    row_models.push(RowModel {
                        section: index,
                        grade: section.grade.clone(),
                        seats,
                    });
                }
            }
            let grades = layout.sections.iter().map(|s| s.grade.clone()).collect();
            self.model.schedules.push(ScheduleModel {
                id,
                gated,
                pre_queue_opens_at: opens_at,
                seat_ids,
                grades,
                rows: row_models,
                max_seats_per_user,
            });
        }
    }

    pub fn gated_schedule(&self) -> ScheduleId {
        self.model
            .schedules
            .iter()
            .find(|s| s.gated)
            .expect("one schedule is gated")
            .id
    }

    /// Runs one engine call. `None` when the store died and the call was
    /// abandoned (its outcome is unknown, as for a killed process).
    pub async fn run<T>(&self, what: &str, call: impl Future<Output = T>) -> Option<T> {
        let store = Arc::clone(&self.store);
        let watch = async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(DEATH_POLL).await;
                if store.is_dead() {
                    tokio::time::sleep(DEATH_GRACE).await;
                    return;
                }
                assert!(
                    started.elapsed() < OPERATION_TIMEOUT,
                    "{what} did not answer within {OPERATION_TIMEOUT:?}: the engine hangs"
                );
            }
        };
        let answer = tokio::select! {
            biased;
            answer = call => Some(answer),
            () = watch => None,
        };
        if answer.is_none() {
            self.abandoned.set(self.abandoned.get() + 1);
        }
        answer
    }

    /// Waits until every actor, and the background archive writer, has
    /// finished what it was doing: an actor may still be writing a snapshot
    /// and trimming its log after its answer went out (and a crash point may
    /// fire there), and a snapshot may have handed ended reservations to the
    /// archive writer, whose callback then tells the actor to forget them.
    /// Without the wait, the checks could read the archive's entries before a
    /// batch lands and its tallies after.
    pub async fn quiesce(&self) {
        for _ in 0..QUIESCE_ROUNDS_MAX {
            self.quiesce_actors().await;
            if self.registry.archive_batches_in_flight() == 0 {
                return;
            }
            for _ in 0..ARCHIVE_WAIT_POLLS_MAX {
                if self.registry.archive_batches_in_flight() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        panic!(
            "the archive writer did not settle in {QUIESCE_ROUNDS_MAX} rounds: {} batches in flight",
            self.registry.archive_batches_in_flight()
        );
    }

    /// Each actor answers a query only after the handler in progress, so one
    /// query to each is enough.
    async fn quiesce_actors(&self) {
        let mut waits: Vec<Pin<Box<dyn Future<Output = ()>>>> = Vec::new();
        for id in self.schedule_ids() {
            let handle = self.registry.schedule(id).expect("schedule exists");
            waits.push(Box::pin(async move {
                let _ = handle.actor.query(GetCounts).await;
            }));
        }
        let user = self
            .model
            .users
            .first()
            .copied()
            .unwrap_or(UserId::from_random_bytes([0; 16]));
        for shard in self.registry.wallet_shards() {
            let shard = shard.clone();
            waits.push(Box::pin(async move {
                let _ = shard.query(GetWallet { user }).await;
            }));
        }
        let queue = self.registry.queue().clone();
        waits.push(Box::pin(async move {
            let _ = queue.query(QueueStats).await;
        }));
        join_all(waits).await;
    }

    pub fn arm(&mut self, point: CrashPoint) {
        self.trace.push(format!("  arm: {point}"));
        point.arm(&self.store);
        self.armed = Some(point);
    }

    /// Kills the process (at once if no crash point fired), drops a seeded
    /// part of the unflushed tail, and starts a new engine on the same store
    /// with the clock where it was. Returns what start-up recovery finished.
    pub async fn kill_and_restart(&mut self) -> RecoveryReport {
        if !self.store.is_dead() {
            // Planned or not, the crash point did not fire: kill at a quiet moment.
            self.arm(CrashPoint::Now);
        }
        let point = self.armed.take().unwrap_or(CrashPoint::Now);
        self.stats.crashes_by_point[point.kind()] += 1;
        self.registry.shutdown();
        let pending = self.store.pending_appends();
        let kept = choose_kept(&mut self.rng, pending);
        self.store.crash_keeping_appends(kept);
        self.stats.restarts += 1;
        self.stats.pending_at_kill += pending as u64;
        self.stats.kept_at_kill += kept as u64;
        self.trace.push(format!(
            "KILL ({point}); {kept} of {pending} unflushed records kept; in flight: {:?}",
            self.model.in_flight
        ));
        self.registry = start_registry(
            &self.store,
            &self.clock,
            self.seed,
            self.stats.restarts,
            &self.config,
        )
        .await;
        let report = self.registry.recovery_report();
        assert_eq!(
            report.payments_stuck, 0,
            "start-up recovery left payments between saga steps: {report:?}"
        );
        self.stats.payments_confirmed_by_recovery += u64::from(report.payments_confirmed);
        self.stats.payments_aborted_by_recovery += u64::from(report.payments_aborted);
        self.stats.refunds_settled_by_recovery += u64::from(report.refunds_settled);
        self.stats.cancellations_resumed += u64::from(report.cancellations_resumed);
        self.trace.push(format!("restarted: recovery {report:?}"));
        report
    }

    /// Makes a freshly started engine's background work happen now: each
    /// schedule sweeps due holds (the actor answering also means it has
    /// started and asked the queue for its admissions); the queue ticks
    /// (having answered that request first); each gated schedule then has
    /// its admissions (pushed before the tick's answer). Acknowledged, so
    /// the model records the sweeps.
    pub async fn settle(&mut self) {
        // A cancellation the kill interrupted: start-up's
        // `resume_cancellations` restarted its driver; let it finish.
        for schedule in self.schedule_ids() {
            let handle = self.registry.schedule(schedule).expect("schedule exists");
            if handle.seats.cancelled() && !super::admin::wait_for_driver(self, schedule).await {
                panic!("the store died while {schedule}'s cancellation resumed");
            }
        }
        let now = self.clock.now();
        for schedule in self.schedule_ids() {
            let handle = self.registry.schedule(schedule).expect("schedule exists");
            let swept = self
                .run("settling expiry", handle.actor.command(ExpireNow))
                .await
                .expect("the store is alive after a restart");
            if let Err(err) = swept {
                panic!("expiry sweep of {schedule} after a restart failed: {err}");
            }
            self.model.record_expiry(schedule, now);
        }
        self.tick_queue("settling the queue").await;
        for schedule in self.model.schedules.iter().filter(|s| s.gated) {
            let handle = self
                .registry
                .schedule(schedule.id)
                .expect("schedule exists");
            handle
                .actor
                .query(GetCounts)
                .await
                .expect("a gated schedule answers");
        }
        // The sweep and the resumed cancellation end reservations; the
        // snapshots after them may hand archive batches to the writer.
        self.quiesce().await;
    }

    /// Runs the queue's tick now and waits for it to be durable, which also
    /// waits for anything the queue logged before (a token ended by a payment).
    /// Returns false if the store died meanwhile.
    pub async fn tick_queue(&mut self, why: &str) -> bool {
        let queue = self.registry.queue().clone();
        match self.run(why, queue.command(TickNow)).await {
            Some(Ok(())) => true,
            Some(Err(err)) if !self.store.is_dead() => {
                panic!("queue tick failed on a healthy store: {err}")
            }
            _ => false,
        }
    }

    pub fn schedule_ids(&self) -> Vec<ScheduleId> {
        self.model.schedules.iter().map(|s| s.id).collect()
    }

    pub fn pick_user(&mut self) -> UserId {
        let i = self.rng.gen_range(0..self.model.users.len());
        self.model.users[i]
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.rng.gen_range(0..items.len())])
    }
}

async fn start_registry(
    store: &Arc<MemoryStore>,
    clock: &ManualClock,
    seed: u64,
    restarts: u64,
    config: &EngineConfig,
) -> Arc<Registry> {
    // A restart gets a fresh id stream: ids must never repeat across restarts.
    let ids = IdSource::seeded(seed ^ restarts);
    let store: Arc<dyn Store> = Arc::clone(store) as Arc<dyn Store>;
    let started = tokio::time::timeout(
        OPERATION_TIMEOUT,
        Registry::start(
            store,
            Arc::new(clock.clone()),
            Arc::new(ids),
            config.clone(),
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("start-up (restart {restarts}) hangs"));
    match started {
        Ok(registry) => registry,
        Err(err) => {
            panic!("start-up (restart {restarts}) failed: recovery refused the store: {err}")
        }
    }
}
