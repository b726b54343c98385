//! Baselines: the same scenarios against what people build instead of
//! Boxoffice, measured by the same harness in the same invocation, so the
//! report can give Boxoffice ÷ baseline for each (scenario, clients) pair.
//!
//! - [`postgres`]: `pg-update` (conditional UPDATE) and `pg-for-update`
//!   (`SELECT ... FOR UPDATE` transaction), seats as rows;
//! - [`redis`]: `redis-setnx` (`SET NX EX` per seat, Lua for several seats),
//!   named after the server's `appendfsync` (`always` or `everysec`);
//! - [`store`]: the one interface the baseline scenarios use;
//! - [`hot_seats`], [`stadium`]: the scenarios (the stadium without its
//!   waiting room); [`runner`]: their client threads;
//! - [`cpu`]: who used the cores during the run.
//!
//! The servers are not started here: `benches/baselines.sh` installs and
//! starts them on loopback and passes `--postgres` / `--redis`. Nothing runs
//! unless a baseline mode is asked for (none in CI).

pub mod cpu;
pub mod hot_seats;
pub mod postgres;
pub mod redis;
pub mod runner;
pub mod stadium;
pub mod store;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::report::{self, RunContext, RunReport};
use crate::scenarios::{ScenarioRun, Size};
use crate::stats::Window;
use cpu::CpuSample;
use store::Store;

/// Connections a baseline's clients share unless told otherwise.
pub const DEFAULT_POOL: usize = 128;
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
pub struct Baseline {
    pub kind: Kind,
    /// A libpq-style connection string, or a `redis://` URL.
    pub endpoint: String,
}

/// What the observer saw of the server and the machine during the window.
pub struct Observation {
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
    pub fn into_facts(self, facts: &mut BTreeMap<String, Value>) {
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
pub fn observe(
    store: Arc<Store>,
    window: Window,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> actix_rt::task::JoinHandle<Observation> {
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
        while Instant::now() < window.until && !stop.load(std::sync::atomic::Ordering::Relaxed) {
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
    })
}

async fn open(
    baseline: &Baseline,
    pool: usize,
    seats: u32,
    wallets: usize,
    funding: i64,
) -> Result<Store, String> {
    Ok(match baseline.kind {
        Kind::PgUpdate | Kind::PgForUpdate => {
            let style = if baseline.kind == Kind::PgUpdate {
                postgres::Style::Update
            } else {
                postgres::Style::ForUpdate
            };
            Store::Postgres(
                postgres::PgStore::open(&baseline.endpoint, style, pool, seats, wallets, funding)
                    .await?,
            )
        }
        Kind::Redis => {
            Store::Redis(redis::RedisStore::open(&baseline.endpoint, pool, wallets, funding).await?)
        }
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

/// Runs `scenario` ("hot-seats" or "stadium-onsale") against `baseline`
/// with `pool` shared connections, and reports it like a Boxoffice run.
pub async fn run(
    baseline: &Baseline,
    scenario: &str,
    size: &Size,
    pool: usize,
) -> Result<RunReport, String> {
    let pool = pool.clamp(1, size.clients.max(1));
    let (store, run): (Arc<Store>, ScenarioRun) = match scenario {
        "hot-seats" => {
            let seats = size.seats.unwrap_or(hot_seats::DEFAULT_SEATS).max(1);
            let store = Arc::new(open(baseline, pool, seats, 0, 0).await?);
            let run = hot_seats::run(Arc::clone(&store), size).await?;
            (store, run)
        }
        "stadium-onsale" => {
            let seats = size
                .seats
                .unwrap_or(crate::scenarios::stadium::DEFAULT_SEATS)
                .max(1);
            let users = size.users.max(1);
            let store = Arc::new(open(baseline, pool, seats, users, stadium::FUNDING).await?);
            let run = stadium::run(Arc::clone(&store), size, seats).await?;
            (store, run)
        }
        other => {
            return Err(format!(
                "the baselines run hot-seats and stadium-onsale, not {other}"
            ))
        }
    };
    let mut run = run;
    run.notes.push(format!(
        "baseline: {} connection(s) shared by all clients (a pool; a client waits for a free one, and the wait is in its latency)",
        store.connections()
    ));
    let name = system_name(&store, baseline.kind);
    let mut report = report::build(
        RunContext {
            scenario: scenario.into(),
            mode: "baseline".into(),
            clients: if scenario == "stadium-onsale" { size.users } else { size.clients },
            connections: store.connections(),
            client_threads: size.threads,
            peak_rss_kib: crate::system::peak_rss_kib(),
            rss_of: "harness process only (clients); the baseline server is another process, not measured".into(),
        },
        run,
    );
    report.system = name;
    Ok(report)
}
