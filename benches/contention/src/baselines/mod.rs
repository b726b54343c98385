//! Baselines: the same scenarios against what people build instead of
//! Boxoffice, measured by the same harness in the same invocation, so the
//! report can give Boxoffice ÷ baseline for each (scenario, clients) pair.
//! [`Baseline`] is their [`Target`]: the scenarios (`crate::scenarios`) run
//! on it unchanged; it has no waiting room, no catalogue and no
//! best-available (see [`Features`]), so only hot-seats and the stadium
//! without its waiting room run here.
//!
//! - [`postgres`]: `pg-update` (conditional UPDATE) and `pg-for-update`
//!   (`SELECT ... FOR UPDATE` transaction), seats as rows;
//! - [`redis`]: `redis-setnx` (`SET NX EX` per seat, Lua for several seats),
//!   named after the server's `appendfsync` (`always` or `everysec`);
//! - [`store`]: the seat store both implement, numbered seats and wallets;
//! - [`cpu`]: who used the cores during the run.
//!
//! The servers are not started here: `benches/baselines.sh` installs and
//! starts them on loopback and passes `--postgres` / `--redis`. Nothing runs
//! unless a baseline mode is asked for (none in CI).

pub mod cpu;
pub mod postgres;
pub mod redis;
pub mod store;

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::SeatSelection;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::invariants::Check;
use crate::stats::{Outcome, Window};
use crate::target::{
    self, Claims, Client, Features, Held, NewSchedule, Paid, QueueCredential, Seats, Target, User,
    Verdict,
};
use cpu::CpuSample;
use store::{FinalState, Store};

/// Connections a baseline's clients share unless told otherwise.
pub const DEFAULT_POOL: usize = 128;
/// Price of one seat (every seat costs the same here).
pub const PRICE: i64 = 5_000;
/// A hold's lifetime when the scenario does not say: Boxoffice's default.
const DEFAULT_HOLD_SECONDS: u32 = 300;
/// How often PostgreSQL's wait events are sampled during a run.
const WAIT_SAMPLE_EVERY: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PgUpdate,
    PgForUpdate,
    Redis,
}

/// One baseline server to run against.
#[derive(Clone, Debug)]
pub struct BaselineServer {
    pub kind: Kind,
    /// A libpq-style connection string, or a `redis://` URL.
    pub endpoint: String,
}

/// What the observer saw of the server and the machine during the window.
struct Observation {
    seconds: f64,
    before: BTreeMap<String, f64>,
    after: BTreeMap<String, f64>,
    cores: (f64, f64, f64),
    server_process: &'static str,
    waits: BTreeMap<String, i64>,
    wait_samples: u64,
    settings: Value,
}

impl Observation {
    fn into_facts(self, facts: &mut BTreeMap<String, Value>) {
        let seconds = self.seconds.max(1e-9);
        let delta = |name: &str| {
            self.after.get(name).copied().unwrap_or(0.0)
                - self.before.get(name).copied().unwrap_or(0.0)
        };
        let per_sec: BTreeMap<String, f64> = self
            .after
            .keys()
            .map(|k| (k.clone(), delta(k) / seconds))
            .collect();
        facts.insert("server".into(), self.settings);
        facts.insert("server_counters_per_sec".into(), json!(per_sec));
        facts.insert(
            "cpu_cores_used".into(),
            json!({
                "machine_all_processes": self.cores.0,
                "harness_process": self.cores.1,
                self.server_process: self.cores.2,
                "of": crate::system::cores(),
            }),
        );
        if self.after.contains_key("wal_sync") {
            let syncs = delta("wal_sync");
            facts.insert(
                "pg_commits_per_wal_sync".into(),
                json!(if syncs > 0.0 {
                    delta("xact_commit") / syncs
                } else {
                    0.0
                }),
            );
            facts.insert(
                "pg_wal_sync_ms_avg".into(),
                json!(if syncs > 0.0 {
                    delta("wal_sync_time_ms") / syncs
                } else {
                    0.0
                }),
            );
        }
        if self.after.contains_key("used_cpu_user") {
            facts.insert(
                "redis_server_cpu_cores".into(),
                json!((delta("used_cpu_user") + delta("used_cpu_sys")) / seconds),
            );
        }
        if self.wait_samples > 0 {
            let total: i64 = self.waits.values().sum();
            let shares: BTreeMap<&String, String> = self
                .waits
                .iter()
                .map(|(k, v)| {
                    (
                        k,
                        format!("{:.1}%", *v as f64 * 100.0 / total.max(1) as f64),
                    )
                })
                .collect();
            facts.insert(
                "pg_active_backends_avg".into(),
                json!(total as f64 / self.wait_samples as f64),
            );
            facts.insert("pg_active_backends_by_wait_event".into(), json!(shares));
        }
    }
}

/// Watches the server from `window.from` until `window.until` or `stop`:
/// its counters and the CPU at both ends, PostgreSQL's wait events between.
fn observe(
    store: Arc<Store>,
    window: Window,
    stop: Arc<AtomicBool>,
) -> actix_rt::task::JoinHandle<BTreeMap<String, Value>> {
    actix_rt::spawn(async move {
        let server_process = match &*store {
            Store::Postgres(_) => "postgres",
            Store::Redis(_) => "redis-server",
        };
        actix_rt::time::sleep(window.from.saturating_duration_since(Instant::now())).await;
        let before = store.counters().await.unwrap_or_default();
        let cpu_before = CpuSample::now(Some(server_process));
        let started = Instant::now();
        let mut waits = BTreeMap::new();
        let mut wait_samples = 0;
        while Instant::now() < window.until && !stop.load(Ordering::Relaxed) {
            let left = window.until.saturating_duration_since(Instant::now());
            actix_rt::time::sleep(WAIT_SAMPLE_EVERY.min(left)).await;
            if let Store::Postgres(pg) = &*store {
                if let Ok(sample) = pg.wait_sample().await {
                    wait_samples += 1;
                    for (event, n) in sample {
                        *waits.entry(event).or_insert(0) += n;
                    }
                }
            }
        }
        let cpu_after = CpuSample::now(Some(server_process));
        let seconds = started.elapsed().as_secs_f64();
        let after = store.counters().await.unwrap_or_default();
        let mut facts = BTreeMap::new();
        Observation {
            seconds,
            before,
            after,
            cores: cpu_after.cores_since(&cpu_before),
            server_process,
            waits,
            wait_samples,
            settings: store.settings().await,
        }
        .into_facts(&mut facts);
        facts
    })
}

fn system_name(store: &Store, kind: Kind) -> String {
    match (kind, store) {
        (Kind::PgUpdate, _) => "pg-update".into(),
        (Kind::PgForUpdate, _) => "pg-for-update".into(),
        (Kind::Redis, Store::Redis(r)) => format!("redis-setnx-{}", r.appendfsync),
        (Kind::Redis, _) => "redis-setnx".into(),
    }
}

/// The one schedule of a baseline run.
#[derive(Clone, Copy, Debug)]
struct Schedule {
    id: ScheduleId,
    seats: Seats,
    hold_secs: u32,
}

/// A baseline server as a [`Target`]: one schedule of numbered seats, and
/// wallets numbered 1, 2, ... (see [`store`]).
pub struct Baseline {
    store: Arc<Store>,
    kind: Kind,
    schedule: Mutex<Option<Schedule>>,
    /// What each wallet got before the run.
    funding: AtomicI64,
}

impl Baseline {
    /// Connects to `baseline` with `pool` connections the clients will
    /// share, and empties it (fresh tables, or an empty Redis).
    pub async fn open(baseline: &BaselineServer, pool: usize) -> Result<Baseline, String> {
        let store = match baseline.kind {
            Kind::PgUpdate | Kind::PgForUpdate => {
                let style = if baseline.kind == Kind::PgUpdate {
                    postgres::Style::Update
                } else {
                    postgres::Style::ForUpdate
                };
                Store::Postgres(postgres::PgStore::open(&baseline.endpoint, style, pool).await?)
            }
            Kind::Redis => Store::Redis(redis::RedisStore::open(&baseline.endpoint, pool).await?),
        };
        Ok(Baseline {
            store: Arc::new(store),
            kind: baseline.kind,
            schedule: Mutex::new(None),
            funding: AtomicI64::new(0),
        })
    }

    fn schedule(&self) -> Option<Schedule> {
        self.schedule.lock().ok().and_then(|s| *s)
    }
}

impl Target for Baseline {
    type Client = BaselineClient;

    fn system(&self) -> String {
        system_name(&self.store, self.kind)
    }

    fn features(&self) -> Features {
        Features::NONE
    }

    fn client(&self, _thread: usize, _connections: usize) -> BaselineClient {
        // The connections are shared by every thread (and driven by the
        // harness's main runtime, where they were opened).
        BaselineClient {
            store: Arc::clone(&self.store),
            schedule: self.schedule(),
        }
    }

    async fn create_schedule(&self, schedule: NewSchedule) -> Result<ScheduleId, String> {
        if schedule.queue.is_some() {
            return Err(format!("{} has no waiting room", self.system()));
        }
        if self.schedule().is_some() {
            return Err("a baseline run has one schedule".into());
        }
        self.store.create_seats(schedule.seats.capacity()).await?;
        let hold_secs = schedule.hold_ms.map_or(DEFAULT_HOLD_SECONDS, |ms| {
            (ms / 1_000).clamp(1, i64::from(u32::MAX)) as u32
        });
        if let Ok(mut slot) = self.schedule.lock() {
            *slot = Some(Schedule {
                id: schedule.id,
                seats: schedule.seats,
                hold_secs,
            });
        }
        Ok(schedule.id)
    }

    async fn fund(&self, _kind: u8, users: usize, amount: i64) -> Result<usize, String> {
        // Wallets are numbered as `User::holder` numbers users: 1..=users.
        self.store.fund(users, amount).await?;
        self.funding.store(amount, Ordering::Relaxed);
        Ok(users)
    }

    fn observe(
        &self,
        window: Window,
        stop: Arc<AtomicBool>,
    ) -> Option<actix_rt::task::JoinHandle<BTreeMap<String, Value>>> {
        Some(observe(Arc::clone(&self.store), window, stop))
    }

    async fn verify(&self, claims: &Claims) -> Result<Verdict, String> {
        let schedule = self.schedule().ok_or("no schedule was created")?;
        let end = self.store.final_state().await?;
        let mut checks = Vec::new();
        let sold = end.seats_in(true);
        if let Some((live, unknown)) = &claims.live_holds {
            checks.push(check_live(
                &schedule,
                &end,
                live,
                *unknown,
                claims.paid.is_none(),
            ));
        }
        if let Some((paid, unknown_seats)) = &claims.paid {
            checks.push(target::check_paid_seats(paid));
            checks.push(check_sold(&schedule, &sold, paid, *unknown_seats));
        }
        if let Some(acks) = &claims.money {
            let load = |a: &AtomicI64| a.load(Ordering::Relaxed);
            let funding = self.funding.load(Ordering::Relaxed);
            let debited = funding * end.wallets as i64 - end.wallet_total;
            let (paid, unknown) = (load(&acks.paid), load(&acks.unknown_paid));
            let price = PRICE * sold.len() as i64;
            checks.push(Check {
                name: "money: wallet debits = price of the seats sold = acknowledged payments"
                    .into(),
                ok: debited == price && debited >= paid && debited <= paid + unknown,
                detail: format!(
                    "{debited} debited from {} wallets, {price} for {} sold seats, {paid} acknowledged (+ ≤ {unknown} unknown)",
                    end.wallets,
                    sold.len()
                ),
            });
        }
        if claims.admission.is_some() || claims.holds_made.is_some() {
            return Err(format!(
                "{} cannot check admission order or holds made",
                self.system()
            ));
        }
        Ok(Verdict {
            checks,
            seats_sold: sold.len() as u64,
            facts: BTreeMap::new(),
        })
    }

    fn shared_connections(&self) -> Option<usize> {
        Some(self.store.connections())
    }
}

/// The seats the store still holds at the end are the holds clients still
/// have (plus at most those whose answer was lost); none sold unless the
/// scenario pays.
fn check_live(
    schedule: &Schedule,
    end: &FinalState,
    live: &[(User, Held)],
    unknown: u64,
    no_payments: bool,
) -> Check {
    let live = claimed(
        &schedule.seats,
        live.iter().map(|(user, held)| (user, held)),
    );
    let held = end.seats_in(false);
    let sold = end.seats.len() - held.len();
    let missing = live.difference(&held).count();
    let extra = held.difference(&live).count() as u64;
    let capacity = schedule.seats.capacity();
    Check {
        name: "oversell (store): held seats at the end are the holds clients still have".into(),
        ok: missing == 0
            && extra <= unknown
            && (sold == 0 || !no_payments)
            && end.seats.iter().all(|(s, _)| (*s as u32) < capacity),
        detail: format!(
            "{} held in the store, {} acknowledged live, {missing} of those missing, {extra} extra (≤ {unknown} holds with no answer allowed), {sold} sold",
            held.len(),
            live.len()
        ),
    }
}

/// The store's sold seats are the acknowledged payments (plus at most the
/// seats of payments whose answer was lost).
fn check_sold(
    schedule: &Schedule,
    sold: &BTreeSet<(i32, i64)>,
    paid: &[Paid],
    unknown_seats: u64,
) -> Check {
    let paid = claimed(
        &schedule.seats,
        paid.iter().map(|(_, user, held)| (user, held)),
    );
    let missing = paid.difference(sold).count();
    let extra = sold.difference(&paid).count() as u64;
    let capacity = schedule.seats.capacity();
    Check {
        name: "oversell (store): sold seats are the acknowledged payments".into(),
        ok: missing == 0 && extra <= unknown_seats && sold.len() as u64 <= u64::from(capacity),
        detail: format!(
            "{} sold in the store of {capacity}, {} acknowledged, {missing} missing, {extra} extra (≤ {unknown_seats} with no answer allowed)",
            sold.len(),
            paid.len()
        ),
    }
}

/// (seat, holder) of the holds clients were told about, in the store's numbers.
fn claimed<'a>(
    seats: &Seats,
    holds: impl Iterator<Item = (&'a User, &'a Held)>,
) -> BTreeSet<(i32, i64)> {
    holds
        .flat_map(|(user, held)| {
            numbers(seats, &held.seats)
                .unwrap_or_default()
                .into_iter()
                .map(move |seat| (seat, user.holder()))
        })
        .collect()
}

/// The store's numbers of seats named as [`Seats::name`] names them.
fn numbers(seats: &Seats, names: &[String]) -> Option<Vec<i32>> {
    names
        .iter()
        .map(|name| seats.number(name).and_then(|n| i32::try_from(n).ok()))
        .collect()
}

/// One client thread's client of a baseline: the shared connections, and
/// the schedule (to turn seat names into the store's numbers).
pub struct BaselineClient {
    store: Arc<Store>,
    schedule: Option<Schedule>,
}

impl BaselineClient {
    /// The schedule and the store's numbers of `names`; Other if unknown.
    fn seats(&self, names: &[String]) -> Result<(Schedule, Vec<i32>), Outcome> {
        let schedule = self.schedule.ok_or(Outcome::Other)?;
        let numbers = numbers(&schedule.seats, names).ok_or(Outcome::Other)?;
        Ok((schedule, numbers))
    }
}

impl Client for BaselineClient {
    async fn hold(
        &self,
        user: User,
        schedule: ScheduleId,
        selection: SeatSelection,
        _queue_token: Option<&QueueCredential>,
    ) -> Result<Held, Outcome> {
        // No best-available here: the scenario picks the seats.
        let SeatSelection::Ids(names) = selection else {
            return Err(Outcome::Other);
        };
        let (schedule, seats) = match self.seats(&names)? {
            (ours, seats) if ours.id == schedule => (ours, seats),
            _ => return Err(Outcome::Other),
        };
        self.store
            .hold(user.holder(), &seats, schedule.hold_secs)
            .await?;
        Ok(Held {
            reservation_id: None,
            amount: PRICE * seats.len() as i64,
            seats: names,
        })
    }

    async fn cancel(&self, user: User, held: &Held) -> Result<i64, Outcome> {
        let (_, seats) = self.seats(&held.seats)?;
        self.store.release(user.holder(), &seats).await?;
        Ok(0)
    }

    async fn pay(
        &self,
        user: User,
        held: &Held,
        _queue_token: Option<&QueueCredential>,
    ) -> Result<i64, Outcome> {
        let (_, seats) = self.seats(&held.seats)?;
        self.store.pay(user.holder(), &seats, held.amount).await?;
        Ok(held.amount)
    }

    async fn free_seats(
        &self,
        _user: User,
        _schedule: ScheduleId,
        row: u32,
    ) -> Result<Vec<String>, Outcome> {
        let schedule = self.schedule.ok_or(Outcome::Other)?;
        let (from, to) = schedule.seats.row_range(row);
        let to = to.min(schedule.seats.capacity());
        let (from, to) = (
            i32::try_from(from).map_err(|_| Outcome::Other)?,
            i32::try_from(to).map_err(|_| Outcome::Other)?,
        );
        let free = self.store.free_in(from, to).await?;
        Ok(free
            .into_iter()
            .map(|n| schedule.seats.name(n as u32))
            .collect())
    }
}
