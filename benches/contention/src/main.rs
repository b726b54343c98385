//! `contention`: the contention benchmark harness of Boxoffice.
//!
//! ```sh
//! cargo run --release -p boxoffice-contention -- hot-seats --mode both --clients 100 1000 10000 \
//!     --seconds 10 --json hot.json --svg hot.svg
//! ```
//!
//! For each mode (`in-process`: the engine's `Registry`; `http`: the whole
//! server on loopback; `hello`: an actix-web hello world as the yardstick)
//! and each client count, it starts a fresh Boxoffice on a temporary data
//! dir, runs the scenario's virtual clients (see `scenarios/`), stops them,
//! exports every actor's state and checks the invariants (`invariants.rs`).
//! It prints a table, optionally writes JSON and SVG charts, and exits 1
//! if any invariant failed (2 if a run could not be set up).
//!
//! Baselines (`--mode pg-update,pg-for-update,redis` with `--postgres` /
//! `--redis`): the same hot-seats and (simplified) stadium against
//! PostgreSQL and Redis servers started by `benches/baselines.sh`; the
//! report then gives Boxoffice ÷ baseline for each pair measured in the run.
//!
//! Module map: `target/` (the [`target::Target`] trait every scenario runs
//! on, and Boxoffice's implementation: in process and over HTTP),
//! `baselines/` (PostgreSQL and Redis as targets), `scenarios/` (each written
//! once, generic over the target), `clients` (threads and tasks),
//! `pace` (open-loop schedules), `invariants` (end-of-run checks), `stats` + `histogram`
//! (recording), `timeline` (the stadium's second-by-second samples),
//! `report/` (JSON schema, table, SVGs), `hello`, `system` (fd limit, RSS),
//! `heap` (the allocator, with a live-heap counter for memory facts).

/// The same allocator as the `boxoffice` binary (src/main.rs), so the
/// harness measures what the server runs; `heap` adds a live-heap counter
/// that is off unless a scenario measures memory.
#[global_allocator]
static ALLOCATOR: heap::CountingMimalloc = heap::CountingMimalloc;

mod baselines;
mod clients;
mod heap;
mod hello;
mod histogram;
mod invariants;
mod pace;
mod report;
mod scenarios;
mod server_latency;
mod stats;
mod system;
mod target;
mod timeline;

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use baselines::Baseline;
use report::{Comparison, HarnessReport, RunContext, RunReport};
use scenarios::{ScenarioRun, Size};
use target::boxoffice::{Boxoffice, EngineOptions};
use target::Target;

/// Most client counts one invocation may run (each is a fresh engine).
const MAX_CLIENT_COUNTS: usize = 8;
/// Largest client count (virtual users of the stadium excepted).
const MAX_CLIENTS: usize = 20_000;
/// Most virtual users of the stadium.
const MAX_USERS: usize = 1_000_000;
/// Highest open-loop rate (requests/s in all): far above what one machine serves.
const MAX_RATE: u64 = 10_000_000;
/// Longest measured time of one run, in seconds.
const MAX_SECONDS: f64 = 600.0;
/// Connections the stadium's users share over HTTP unless told otherwise.
const STADIUM_CONNECTIONS: usize = 1_000;
/// The issue's targets.
const TARGET_IN_PROCESS_HOLDS_PER_SEC: f64 = 500_000.0;
const TARGET_STADIUM_P99_MS: f64 = 20.0;
const TARGET_HTTP_HELLO_RATIO: f64 = 0.5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    HotSeats,
    StadiumOnsale,
    Mixed,
    OpenHolds,
    QueuePolls,
    Search,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::HotSeats => "hot-seats",
            Scenario::StadiumOnsale => "stadium-onsale",
            Scenario::Mixed => "mixed",
            Scenario::OpenHolds => "open-holds",
            Scenario::QueuePolls => "queue-polls",
            Scenario::Search => "search",
        }
    }

    fn default_clients(self) -> Vec<usize> {
        match self {
            Scenario::HotSeats => vec![100, 1_000, 10_000],
            Scenario::StadiumOnsale => vec![scenarios::stadium::DEFAULT_USERS],
            Scenario::Mixed => vec![100, 1_000],
            Scenario::OpenHolds => vec![100, 1_000],
            Scenario::QueuePolls => vec![64, 1_000],
            Scenario::Search => vec![1, 64],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    InProcess,
    Http,
    /// in-process and http
    Both,
    /// An actix-web hello world with the same client (the HTTP yardstick).
    Hello,
    /// Baseline: PostgreSQL conditional UPDATE (needs --postgres).
    PgUpdate,
    /// Baseline: PostgreSQL SELECT ... FOR UPDATE transaction (needs --postgres).
    PgForUpdate,
    /// Baseline: Redis SET NX EX / Lua, once per --redis server.
    Redis,
}

#[derive(Parser, Debug)]
#[command(
    name = "contention",
    about = "Boxoffice contention benchmark harness: scenarios in process and over HTTP, with invariant checks"
)]
struct Args {
    scenario: Scenario,
    /// Modes to run, in this order: in-process, http, hello, pg-update, pg-for-update, redis (`both` = in-process + http).
    #[arg(long, value_enum, num_args = 1.., value_delimiter = ',', default_values_t = [Mode::Both])]
    mode: Vec<Mode>,
    /// Concurrent clients; one run per value (stadium: use --users).
    #[arg(long, num_args = 1..)]
    clients: Vec<usize>,
    /// Measured seconds per run (stadium: the most it may take to sell out).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured seconds before the measured window (not in the stadium).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seats: hot-seats (default 50), stadium (default 50,000), open-holds per schedule (10,000).
    #[arg(long)]
    seats: Option<u32>,
    /// Stadium virtual users; queue-polls: users waiting in line.
    #[arg(long, default_value_t = scenarios::stadium::DEFAULT_USERS)]
    users: usize,
    /// Hold lifetime in seconds (stadium 5, mixed 5, open-holds 1, hot-seats 300).
    #[arg(long)]
    hold_seconds: Option<u32>,
    /// Schedules (mixed default 16, open-holds default 64).
    #[arg(long)]
    schedules: Option<usize>,
    /// HTTP connections (default: one per client; stadium: 1,000 shared by all users).
    #[arg(long)]
    connections: Option<usize>,
    /// open-holds: open loop at N requests/s in all, spread evenly over the
    /// clients (one in flight each), each timed from when it was due (see
    /// `pace.rs`); default: closed loop.
    #[arg(long)]
    rate: Option<u64>,
    /// OS threads the clients run on.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// The server's HTTP worker threads (as `boxoffice serve --workers`).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// The engine's actor threads (as `boxoffice serve --arbiters`).
    #[arg(long, default_value_t = 2)]
    arbiters: usize,
    /// Requests in flight per actor before 503 (as `boxoffice serve --in-flight-per-actor`).
    #[arg(long, default_value_t = 4_096)]
    in_flight_per_actor: usize,
    /// sled's page cache in MiB (as `boxoffice serve --store-cache-mb`).
    #[arg(long, default_value_t = boxoffice_http::settings::DEFAULT_STORE_CACHE_MB)]
    store_cache_mb: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the temporary data dirs go.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    data_dir: PathBuf,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the chart here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// stadium-onsale: write the timeline chart here (seats sold, users
    /// waiting and active, p99 per operation, second by second; with
    /// --render-only: of the --baseline-json files' runs).
    #[arg(long)]
    timeline_svg: Option<PathBuf>,
    /// Earlier results (this JSON schema, e.g. from the baselines) to draw on the chart too.
    #[arg(long, num_args = 1..)]
    baseline_json: Vec<PathBuf>,
    /// PostgreSQL connection string for the pg-* modes (e.g. "host=127.0.0.1 port=54329 user=postgres").
    #[arg(long)]
    postgres: Option<String>,
    /// Redis URLs for the redis mode; one run per server (e.g. one with appendfsync always, one everysec).
    #[arg(long, num_args = 1..)]
    redis: Vec<String>,
    /// Connections a baseline's clients share (PostgreSQL pool; Redis multiplexed connections).
    #[arg(long, default_value_t = baselines::DEFAULT_POOL)]
    baseline_pool: usize,
    /// stadium-onsale without the waiting room (as the baselines run it).
    #[arg(long)]
    no_waiting_room: bool,
    /// stadium-onsale with a pre-queue: the waiting room opens N seconds
    /// (0-86400) before booking, which opens 10 s (at most N) after the
    /// schedule is made; users join at once (PRE_QUEUE), poll at the
    /// server's pollAfterMs, and are shuffled in at opening. The time limit
    /// (--seconds) counts from opening. Over HTTP the schedule is created
    /// through the API. 0: no pre-queue.
    #[arg(long, default_value_t = 0)]
    pre_queue_seconds: u32,
    /// stadium-onsale: each user's first join at a time drawn (from --seed)
    /// uniformly over N seconds (0-3600) from the start, as a crowd
    /// arrives; 0: every user at once (the default, as before the flag).
    #[arg(long, default_value_t = 0.0)]
    arrival_seconds: f64,
    /// stadium-onsale: the waiting room's `maxActive` (users shopping at
    /// once); default a tenth of the users. Each tick admits at most this.
    #[arg(long)]
    max_active: Option<u32>,
    /// The pid of the server process whose memory stadium-onsale reports
    /// (server_rss_* facts, from /proc/<pid>/status). Default: this
    /// process in the in-process and http modes (the harness runs the
    /// server in it), none for the baselines (their server is another
    /// process: pass its pid here).
    #[arg(long)]
    server_pid: Option<u32>,
    /// search: concerts in the catalogue (1-10,000).
    #[arg(long, default_value_t = scenarios::search::DEFAULT_CONCERTS)]
    concerts: usize,
    /// Run nothing: draw the --baseline-json files' runs into --svg.
    #[arg(long)]
    render_only: bool,
}

fn validate(args: &Args) -> Result<(), String> {
    if !(0.5..=MAX_SECONDS).contains(&args.seconds) || !(0.0..=60.0).contains(&args.warmup) {
        return Err(format!(
            "--seconds must be 0.5-{MAX_SECONDS}, --warmup 0-60"
        ));
    }
    if args.clients.len() > MAX_CLIENT_COUNTS {
        return Err(format!("at most {MAX_CLIENT_COUNTS} client counts"));
    }
    if args.clients.iter().any(|c| !(1..=MAX_CLIENTS).contains(c)) {
        return Err(format!("--clients must be 1-{MAX_CLIENTS}"));
    }
    if !(1..=MAX_USERS).contains(&args.users) {
        return Err(format!("--users must be 1-{MAX_USERS}"));
    }
    if args
        .connections
        .is_some_and(|c| !(1..=MAX_CLIENTS).contains(&c))
    {
        return Err(format!("--connections must be 1-{MAX_CLIENTS}"));
    }
    if !(1..=clients::MAX_CLIENT_THREADS).contains(&args.client_threads) {
        return Err(format!(
            "--client-threads must be 1-{}",
            clients::MAX_CLIENT_THREADS
        ));
    }
    if args.rate.is_some_and(|r| !(1..=MAX_RATE).contains(&r)) {
        return Err(format!("--rate must be 1-{MAX_RATE}"));
    }
    if args.rate.is_some() && args.scenario != Scenario::OpenHolds {
        return Err("--rate needs open-holds (the only open-loop scenario)".into());
    }
    if args.schedules.is_some_and(|s| !(1..=10_000).contains(&s)) {
        return Err("--schedules must be 1-10000".into());
    }
    if args.pre_queue_seconds > scenarios::stadium::MAX_PRE_QUEUE_SECONDS {
        return Err(format!(
            "--pre-queue-seconds must be 0-{}",
            scenarios::stadium::MAX_PRE_QUEUE_SECONDS
        ));
    }
    if args.pre_queue_seconds > 0
        && (args.scenario != Scenario::StadiumOnsale || args.no_waiting_room)
    {
        return Err("--pre-queue-seconds needs stadium-onsale with its waiting room".into());
    }
    if !(0.0..=scenarios::stadium::MAX_ARRIVAL_SECONDS).contains(&args.arrival_seconds) {
        return Err(format!(
            "--arrival-seconds must be 0-{}",
            scenarios::stadium::MAX_ARRIVAL_SECONDS
        ));
    }
    if args.arrival_seconds > 0.0 && args.scenario != Scenario::StadiumOnsale {
        return Err("--arrival-seconds needs stadium-onsale".into());
    }
    if args.timeline_svg.is_some() && args.scenario != Scenario::StadiumOnsale && !args.render_only
    {
        return Err(
            "--timeline-svg needs stadium-onsale (the only scenario with a timeline)".into(),
        );
    }
    if !(1..=boxoffice_actors::catalog_actor::MAX_CONCERTS).contains(&args.concerts) {
        return Err(format!(
            "--concerts must be 1-{}",
            boxoffice_actors::catalog_actor::MAX_CONCERTS
        ));
    }
    if args.scenario == Scenario::Search && args.mode.iter().any(|m| is_baseline(*m)) {
        return Err(
            "the baselines have no search: run search with --mode in-process, http or hello".into(),
        );
    }
    if !(1..=baselines::postgres::MAX_POOL).contains(&args.baseline_pool) {
        return Err(format!(
            "--baseline-pool must be 1-{}",
            baselines::postgres::MAX_POOL
        ));
    }
    Ok(())
}

fn modes(args: &Args) -> Vec<Mode> {
    let mut out = Vec::new();
    for wanted in [
        Mode::InProcess,
        Mode::Http,
        Mode::Hello,
        Mode::PgUpdate,
        Mode::PgForUpdate,
        Mode::Redis,
    ] {
        let asked = args.mode.iter().any(|m| {
            *m == wanted || (*m == Mode::Both && matches!(wanted, Mode::InProcess | Mode::Http))
        });
        if asked {
            out.push(wanted);
        }
    }
    out
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::InProcess => "in-process",
        Mode::Http | Mode::Both => "http",
        Mode::Hello => "hello",
        Mode::PgUpdate => "pg-update",
        Mode::PgForUpdate => "pg-for-update",
        Mode::Redis => "redis",
    }
}

/// The baseline servers a mode runs against (none for Boxoffice's modes).
fn baselines_of(args: &Args, mode: Mode) -> Result<Vec<baselines::BaselineServer>, String> {
    let postgres = |kind| {
        args.postgres
            .clone()
            .map(|endpoint| vec![baselines::BaselineServer { kind, endpoint }])
            .ok_or_else(|| format!("--mode {} needs --postgres", mode_name(mode)))
    };
    match mode {
        Mode::PgUpdate => postgres(baselines::Kind::PgUpdate),
        Mode::PgForUpdate => postgres(baselines::Kind::PgForUpdate),
        Mode::Redis if args.redis.is_empty() => Err("--mode redis needs --redis".into()),
        Mode::Redis => Ok(args
            .redis
            .iter()
            .map(|endpoint| baselines::BaselineServer {
                kind: baselines::Kind::Redis,
                endpoint: endpoint.clone(),
            })
            .collect()),
        _ => Ok(Vec::new()),
    }
}

fn is_baseline(mode: Mode) -> bool {
    matches!(mode, Mode::PgUpdate | Mode::PgForUpdate | Mode::Redis)
}

fn size_for(args: &Args, mode: Mode, clients: usize, connection_cap: usize) -> Size {
    let stadium = args.scenario == Scenario::StadiumOnsale;
    let connections = match mode {
        Mode::InProcess => 0,
        _ if stadium => args
            .connections
            .unwrap_or(STADIUM_CONNECTIONS.min(args.users)),
        _ => args.connections.unwrap_or(clients),
    }
    .min(connection_cap);
    Size {
        clients,
        connections,
        threads: args.client_threads,
        seconds: args.seconds,
        warmup: if stadium { 0.0 } else { args.warmup },
        seats: args.seats,
        users: args.users,
        hold_seconds: args.hold_seconds,
        schedules: args.schedules.unwrap_or(match args.scenario {
            Scenario::OpenHolds => scenarios::open_holds::DEFAULT_SCHEDULES,
            _ => scenarios::mixed::DEFAULT_SCHEDULES,
        }),
        seed: args.seed,
        rate: args.rate,
        pre_queue_seconds: args.pre_queue_seconds,
        arrival_seconds: args.arrival_seconds,
        max_active: args.max_active,
        server_pid: args.server_pid.or_else(|| {
            matches!(mode, Mode::InProcess | Mode::Http | Mode::Both).then(std::process::id)
        }),
        server_rss_of: match (args.server_pid, mode) {
            (Some(_), _) => "the process given by --server-pid",
            (None, Mode::InProcess) => "the harness process: engine and clients",
            (None, Mode::Http | Mode::Both) => {
                "the harness process: HTTP server, engine and clients"
            }
            (None, _) => "unknown: the server is another process (see --server-pid)",
        },
        concerts: args.concerts,
    }
}

/// Runs the scenario on `target`, then stops it.
async fn scenario_on<T: Target>(
    target: T,
    scenario: Scenario,
    size: &Size,
    waiting_room: bool,
) -> Result<ScenarioRun, String> {
    let target = Arc::new(target);
    let run = match scenario {
        Scenario::HotSeats => scenarios::hot_seats::run(&target, size).await,
        Scenario::StadiumOnsale => scenarios::stadium::run(&target, size, waiting_room).await,
        Scenario::Mixed => scenarios::mixed::run(&target, size).await,
        Scenario::OpenHolds => scenarios::open_holds::run(&target, size).await,
        Scenario::QueuePolls => scenarios::queue_polls::run(&target, size).await,
        Scenario::Search => scenarios::search::run(&target, size).await,
    };
    // The clients and the scenario's tasks have ended: this is the last handle.
    match Arc::try_unwrap(target) {
        Ok(target) => target.stop().await,
        Err(_) => eprintln!("contention: the target is still in use; not stopped"),
    }
    run
}

async fn one_run(
    args: &Args,
    options: &EngineOptions,
    mode: Mode,
    clients: usize,
    connection_cap: usize,
) -> Result<RunReport, String> {
    let size = size_for(args, mode, clients, connection_cap);
    let rss_reset = system::reset_peak_rss();
    let waiting_room = !args.no_waiting_room;
    let run = match mode {
        Mode::Hello => hello::run(&size, args.workers).await?,
        Mode::PgUpdate | Mode::PgForUpdate | Mode::Redis => {
            return Err("a baseline mode is run by baseline_run".into())
        }
        Mode::InProcess => {
            let target = Boxoffice::in_process(options).await?;
            scenario_on(target, args.scenario, &size, waiting_room).await?
        }
        Mode::Http | Mode::Both => {
            let target = Boxoffice::http(options).await?;
            scenario_on(target, args.scenario, &size, waiting_room).await?
        }
    };
    let rss_of = format!(
        "whole harness process: clients and the {} in one process{}",
        match mode {
            Mode::InProcess => "engine",
            Mode::Hello => "hello-world server",
            _ => "HTTP server and engine",
        },
        if rss_reset {
            ""
        } else {
            "; peak not reset between runs"
        }
    );
    Ok(report::build(
        RunContext {
            scenario: if mode == Mode::Hello {
                "hello".into()
            } else {
                args.scenario.name().into()
            },
            mode: mode_name(mode).into(),
            clients: if args.scenario == Scenario::StadiumOnsale && mode != Mode::Hello {
                size.users
            } else {
                clients
            },
            connections: size.connections,
            client_threads: size.threads,
            peak_rss_kib: system::peak_rss_kib(),
            rss_of,
        },
        run,
    ))
}

/// One run of the scenario against a baseline server, with `pool` shared
/// connections, reported like a Boxoffice run.
async fn baseline_run(
    args: &Args,
    server: &baselines::BaselineServer,
    size: &Size,
) -> Result<RunReport, String> {
    if !matches!(args.scenario, Scenario::HotSeats | Scenario::StadiumOnsale) {
        return Err(format!(
            "the baselines run hot-seats and stadium-onsale, not {}",
            args.scenario.name()
        ));
    }
    let pool = args.baseline_pool.clamp(1, size.clients.max(1));
    let target = Baseline::open(server, pool).await?;
    let system = target.system();
    let connections = target.shared_connections().unwrap_or(pool);
    // The baselines have no waiting room: the stadium runs without.
    let mut run = scenario_on(target, args.scenario, size, false).await?;
    run.notes.push(format!(
        "baseline: {connections} connection(s) shared by all clients (a pool; a client waits for a free one, and the wait is in its latency)"
    ));
    let mut report = report::build(
        RunContext {
            scenario: args.scenario.name().into(),
            mode: "baseline".into(),
            clients: if args.scenario == Scenario::StadiumOnsale {
                size.users
            } else {
                size.clients
            },
            connections,
            client_threads: size.threads,
            peak_rss_kib: system::peak_rss_kib(),
            rss_of: "harness process only (clients); the baseline server is another process, not measured".into(),
        },
        run,
    );
    report.system = system;
    Ok(report)
}

/// Each of the issue's targets that the runs measured, as measured ÷ target.
fn targets(runs: &[RunReport]) -> Vec<Comparison> {
    let mut out = report::compare(runs);
    out.extend(report::compare_baselines(runs));
    for run in runs.iter().filter(|r| r.system == "boxoffice") {
        if run.mode == "in-process" && matches!(run.scenario.as_str(), "hot-seats" | "open-holds") {
            out.push(Comparison {
                name: format!(
                    "{} in-process successful holds/s ÷ 500k/s target @ {} clients",
                    run.scenario, run.clients
                ),
                ratio: run.successful_holds_per_sec / TARGET_IN_PROCESS_HOLDS_PER_SEC,
                detail: format!("{:.0} holds/s; target ≥ 1.0", run.successful_holds_per_sec),
            });
        }
        if run.scenario == "stadium-onsale" {
            let p99 = run.main_op().map_or(f64::NAN, |o| o.p99_ms);
            out.push(Comparison {
                name: format!(
                    "stadium-onsale {} p99 hold latency ÷ 20 ms target",
                    run.mode
                ),
                ratio: p99 / TARGET_STADIUM_P99_MS,
                detail: format!(
                    "p99 {p99:.2} ms, sold out: {}; target ≤ 1.0",
                    run.facts.get("sold_out").cloned().unwrap_or_default()
                ),
            });
        }
    }
    let _ = TARGET_HTTP_HELLO_RATIO; // stated in report::compare's detail
    out
}

fn load_baselines(paths: &[PathBuf]) -> Result<Vec<RunReport>, String> {
    let mut runs = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let report: HarnessReport =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        runs.extend(report.runs);
    }
    Ok(runs)
}

async fn run(args: Args) -> Result<bool, String> {
    validate(&args)?;
    let baselines = load_baselines(&args.baseline_json)?;
    if args.render_only {
        if args.svg.is_none() && args.timeline_svg.is_none() {
            return Err("--render-only needs --svg or --timeline-svg".into());
        }
        if let Some(path) = &args.svg {
            let title = format!(
                "Boxoffice contention: {} ({} cores, client and server on one machine)",
                args.scenario.name(),
                system::cores()
            );
            std::fs::write(path, report::svg::render(&baselines, &title))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if let Some(path) = &args.timeline_svg {
            write_timeline(path, &baselines, system::cores())?;
        }
        return Ok(true);
    }
    let counts = if args.clients.is_empty() || args.scenario == Scenario::StadiumOnsale {
        if args.scenario == Scenario::StadiumOnsale {
            vec![args.users]
        } else {
            args.scenario.default_clients()
        }
    } else {
        args.clients.clone()
    };
    let most = counts.iter().max().copied().unwrap_or(1);
    let connections = match args.scenario {
        Scenario::StadiumOnsale => args.connections.unwrap_or(STADIUM_CONNECTIONS),
        _ => args.connections.unwrap_or(most),
    }
    .min(MAX_CLIENTS);
    let mut notes = Vec::new();
    let connection_cap = match system::raise_fd_limit(system::wanted_fd_limit(connections)) {
        Ok(limit) => {
            notes.push(format!("open-file limit {limit}"));
            system::connections_within(limit)
        }
        Err(err) => {
            notes.push(format!("could not raise the open-file limit: {err}"));
            system::connections_within(8_192)
        }
    };
    if connection_cap < connections {
        let note = format!(
            "WARNING: the open-file limit allows at most {connection_cap} HTTP connections with the server in this process (2 descriptors each); runs asking for more use {connection_cap}, shared by their clients"
        );
        eprintln!("contention: {note}");
        notes.push(note);
    }
    notes.push("HTTP mode: the server is boxoffice_http::Application::build on 127.0.0.1:0 in this process, with a temporary sled data dir; access tokens are minted by the harness with the JWT secret it configured for that server (no /auth, no argon2)".into());
    notes.push("users and wallets are created through the engine (Registry::charge) before the measured time; set-up and the final invariant checks use the engine directly in both modes".into());
    let options = EngineOptions {
        arbiters: args.arbiters,
        workers: args.workers,
        in_flight_per_actor: args.in_flight_per_actor,
        store_cache_mb: args.store_cache_mb,
        data_root: args.data_dir.clone(),
    };
    let mut runs = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for mode in modes(&args) {
        let servers = baselines_of(&args, mode)?;
        if is_baseline(mode) {
            for server in &servers {
                for &clients in &counts {
                    eprintln!(
                        "contention: {} {} ({}) with {} clients...",
                        args.scenario.name(),
                        mode_name(mode),
                        server.endpoint,
                        clients
                    );
                    let size = size_for(&args, mode, clients, connection_cap);
                    // A baseline that cannot run (server down, bad URL) must
                    // not lose the runs already made: report it at the end.
                    match baseline_run(&args, server, &size).await {
                        Ok(report) => {
                            print!("{}", report::table::render_run(&report));
                            runs.push(report);
                        }
                        Err(err) => {
                            let failure = format!(
                                "{} ({}) with {clients} clients: {err}",
                                mode_name(mode),
                                server.endpoint
                            );
                            eprintln!("contention: baseline failed: {failure}");
                            failures.push(failure);
                        }
                    }
                }
            }
            continue;
        }
        for &clients in &counts {
            eprintln!(
                "contention: {} {} with {} clients...",
                args.scenario.name(),
                mode_name(mode),
                clients
            );
            let report = one_run(&args, &options, mode, clients, connection_cap).await?;
            // Printed as soon as it is known, so a later hang or crash cannot lose it.
            print!("{}", report::table::render_run(&report));
            runs.push(report);
        }
    }
    notes.extend(failures.iter().map(|f| format!("baseline failed: {f}")));
    let comparisons = targets(&runs);
    let harness = HarnessReport {
        schema: report::SCHEMA,
        tool: "boxoffice contention harness".into(),
        command: std::env::args().collect(),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        cores: system::cores(),
        runs,
        comparisons,
        notes,
    };
    println!("{}", report::table::render_summary(&harness));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&harness).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        let mut all = harness.runs.clone();
        all.extend(baselines);
        let title = format!(
            "Boxoffice contention: {} ({} cores, client and server on one machine)",
            args.scenario.name(),
            harness.cores
        );
        std::fs::write(path, report::svg::render(&all, &title))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.timeline_svg {
        write_timeline(path, &harness.runs, harness.cores)?;
    }
    if !failures.is_empty() {
        return Err(format!(
            "{} baseline run(s) failed: {}",
            failures.len(),
            failures.join("; ")
        ));
    }
    Ok(harness.runs.iter().all(RunReport::passed))
}

/// The stadium timeline chart of `runs` (those with a timeline) at `path`.
fn write_timeline(path: &std::path::Path, runs: &[RunReport], cores: usize) -> Result<(), String> {
    let title = format!(
        "Boxoffice stadium-onsale timeline ({cores} cores, client and server on one machine)"
    );
    std::fs::write(path, report::timeline_svg::render(runs, &title))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    // As the `boxoffice` binary (src/main.rs), so the harness measures what it runs.
    boxoffice_actors::memory_release::use_mimalloc();
    // The engine logs through tracing: without a subscriber its errors (a
    // failed flush, a restarted actor) would go unseen.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let system = actix_rt::System::new();
    match system.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("contention: an invariant failed (see FAIL above)");
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("contention: {err}");
            ExitCode::from(2)
        }
    }
}
