//! `stadium-onsale`: V virtual users (default 100,000) rush one schedule of
//! S seats (default 50,000) behind a waiting room, until it is sold out.
//!
//! Each user: joins the waiting room; polls until ACTIVE, as a real client
//! paces itself: it waits the server's `pollAfterMs` between polls (plus a
//! little jitter, never less; from a server that does not say, its own pace
//! set by the estimated wait), and after a 503 its `Retry-After` (1 s when
//! absent, and in process); asks for 1-4 best-available seats with its queue
//! token (fewer if refused, then waits for seats to come back); then pays
//! from its wallet, or, for `ABANDON_RATE` of them, walks away and lets the
//! hold expire (holds last `hold_seconds`, default 5 s) so the seats return.
//! The run ends when every seat is sold, every user is done, or at the
//! time limit. Wallets are funded through the engine before the clock starts.
//!
//! Arrivals (`--arrival-seconds N`, see [`stadium_arrival`]): by default
//! every user joins at the start, all at once; with N > 0 each user's first
//! join is due at a seeded offset, uniform over N s. Users due after the
//! run stopped (sold out) never join (`users_not_arrived`).
//!
//! Latency in two parts: `runs[].ops` is the time each user saw, which over
//! HTTP includes its wait for a free connection of the harness's pool
//! (1,000 connections shared by every user); the facts
//! `<operation>_conn_wait_p50_ms` / `_p99_ms` give that wait alone and
//! `<operation>_wire_p50_ms` / `_p99_ms` / `_max_ms` the rest, from having a
//! connection to the answer read (the server's time, loopback, and the
//! client thread's own delay in reading it), for join, poll, hold and pay.
//! In process there is no pool: no such facts.
//!
//! Checks (the target's, on the clients' claims): no oversell (target and
//! clients' view), money, acknowledged payments are sold, and admission
//! order == join order (engine record and client observations).
//!
//! With a pre-queue (`--pre-queue-seconds N`): booking opens
//! [`PRE_QUEUE_OPENS_IN_SECONDS`] (at most N) after the schedule is made,
//! its waiting room N seconds before that; the users join at once, so they
//! are PRE_QUEUE, keep polling at `pollAfterMs`, and are shuffled into the
//! line at opening. Admission order is then checked as "the PRE_QUEUE
//! joiners first, in any order, then the later joiners FIFO"
//! (`admission_order_fifo_after_shuffle`), and the run's time limit is
//! counted from opening. Over HTTP the schedule is then created through the
//! API (a venue and a concert), which alone can say `bookingOpensAt` and
//! `preQueueSeconds`.
//!
//! Facts beyond the counts: how good the first estimated wait was
//! (`eta_*`: each admitted user's first `estimatedWaitSeconds`, after
//! PRE_QUEUE, against the time from sending that request to the first
//! ACTIVE answer; `eta_*_excl_conn_wait`: the same less those two
//! requests' waits for a connection, see `stadium_eta.rs`), and the server's resident memory before the crowd
//! joined, while it was in line and at its peak (`server_rss_*`, from
//! `/proc/<pid>/status` of the server: this process in process and over
//! HTTP, since the harness runs the server in it; `--server-pid` otherwise).
//!
//! The timeline (`runs[].timeline`, `--timeline-svg`): every
//! [`timeline::SAMPLE_EVERY`] from the start, the seats in acknowledged
//! payments, the users in line and admitted (as the clients know them:
//! there is no server endpoint for it), and each operation's count and
//! latency over the requests that completed in that second.
//!
//! Without the waiting room (`--no-waiting-room`, and always on a target
//! that has none: the baselines), users go straight to their hold, with no
//! queue token, and there is no admission order to check.
//!
//! On a target without best-available (the baselines), a user picks seats as
//! a front-end would: it reads one row's free seats (recorded as `seat_map`),
//! takes the first run of free adjacent seats long enough, and holds them
//! all or nothing. A row without such a run, or a lost race, sends it to
//! another row; every few misses it asks for one seat fewer, and after many
//! it waits for held seats to come back. The row is chosen at random, not
//! best first: a real best-available would send every user to the same front
//! rows, so spreading them makes the baselines' races rarer (this favours
//! the baselines).

use boxoffice_engine::ids::*;
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::schedule::SeatSelection;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::stadium_arrival;
pub use super::stadium_arrival::MAX_ARRIVAL_SECONDS;
use super::stadium_eta::{EtaAccuracy, EtaRecord, FirstEta};
use super::{schedule_id, ScenarioRun, Size};
use crate::clients;
use crate::invariants::{MoneyAcks, QueueObservation};
use crate::stats::{Op, Outcome};
use crate::system;
use crate::target::{
    self, Claims, Client, NewSchedule, Paid, QueueCredential, QueuePlace, Seats, Target, User,
};
use crate::timeline::{self, Gauges, Sampler, Windows};

pub const DEFAULT_USERS: usize = 100_000;
pub const DEFAULT_SEATS: u32 = 50_000;
pub const DEFAULT_HOLD_SECONDS: u32 = 5;
/// Share of users who win a hold and let it expire instead of paying.
pub const ABANDON_RATE: f64 = 0.1;
/// Each wallet gets this before the run: more than 4 of the dearest seats.
pub const FUNDING: i64 = 500_000;
/// Sections (best first, dearest first) and seats per row of the stadium.
const SECTIONS: u32 = 5;
const SEATS_PER_ROW: u32 = 100;
/// The waiting room admits a fiftieth of the crowd per tick, every
/// `INTERVAL_MS`, while fewer than a tenth of it (or `--max-active`) are
/// active; an admission
/// lasts a minute (the API allows 10 s - 1 h; 10 s proved shorter than a
/// poll's round trip under the rush, so admitted users expired unseen).
const INTERVAL_MS: i64 = 200;
const ACTIVE_MS: i64 = 60_000;
/// Poll pace bounds while waiting: half the estimated wait, within these.
/// 100,000 users polling every 5 s would alone be 20,000 requests/s.
const MIN_POLL_MS: u64 = 250;
const MAX_POLL_MS: u64 = 20_000;
/// Pause before asking again when no seat is free (held seats may come back).
const SOLD_OUT_RETRY_MS: u64 = 500;
/// Pause after a 503 without `Retry-After` (and in process, where a refusal
/// has none), and after a request that got no answer.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Jitter added to a wait the server asked for: up to a tenth of it, at
/// most this; never subtracted.
const MAX_JITTER_MS: u64 = 250;
/// With `--pre-queue-seconds N`: booking opens this long after the schedule
/// is created (at most N), so that the users, who join at once, wait in
/// PRE_QUEUE this long and are shuffled in at opening.
pub const PRE_QUEUE_OPENS_IN_SECONDS: u32 = 10;
/// Largest `preQueueSeconds` the API takes.
pub const MAX_PRE_QUEUE_SECONDS: u32 = 86_400;
/// The server's resident memory is sampled this often during the run...
const RSS_SAMPLE_MS: u64 = 100;
/// ...and "with the crowd in line" is the peak over this long after every
/// user joined (while some still wait).
const CROWD_IN_LINE_MS: u64 = 3_000;
/// How often the harness checks whether the schedule is sold out.
const MONITOR_MS: u64 = 50;
/// Without best-available: rows looked at without finding a block before
/// asking for one seat fewer, and before waiting for seats to come back.
const MISSES_PER_STEP_DOWN: u32 = 3;
const MISSES_BEFORE_WAIT: u32 = 40;
const KIND: u8 = 2;

struct Shared {
    schedule: ScheduleId,
    /// The run's start, and the window the users' arrivals are spread over
    /// (0: all at the start).
    start: Instant,
    arrival_seconds: f64,
    /// Users due to arrive after the run stopped (they never joined).
    not_arrived: AtomicU64,
    seats: Seats,
    waiting_room: bool,
    best_available: bool,
    seed: u64,
    stop: Arc<AtomicBool>,
    acks: Arc<MoneyAcks>,
    /// What each user saw of the line; None for a user who never arrived
    /// (not in line, so left out of the admission-order check).
    observations: Mutex<Vec<Option<QueueObservation>>>,
    /// The longest line a user was told it stood in (`position`).
    max_position: AtomicU64,
    /// Users whose join ended (answered, or given up), and those answered PRE_QUEUE.
    joins_ended: AtomicU64,
    joined_pre_queue: AtomicU64,
    /// Users who joined and left the line without being admitted.
    left_line: AtomicU64,
    /// Each admitted user's first estimated wait against the actual one.
    etas: Mutex<Vec<EtaRecord>>,
    /// Waits between polls: as the server asked (`pollAfterMs`), or at the
    /// client's own pace (no `pollAfterMs`); waits after a 503.
    paced_by_server: AtomicU64,
    paced_by_client: AtomicU64,
    waits_after_503: AtomicU64,
    /// Acknowledged payments, and the seats in them (counted as they come,
    /// for the sold-out monitor of a target that cannot tell).
    paid: Mutex<Vec<Paid>>,
    seats_paid: AtomicU64,
    /// Seats in payments whose answer was lost.
    unknown_seats: AtomicU64,
    admitted: AtomicU64,
    /// For the timeline: users with a place in line now (joined, not yet
    /// ACTIVE nor gone), and admitted users not yet done.
    waiting_now: AtomicU64,
    active_now: AtomicU64,
    paid_users: AtomicU64,
    abandoned: AtomicU64,
    gave_up: AtomicU64,
    finished: AtomicU64,
}

fn layout(seats: u32) -> Seats {
    let per_row = SEATS_PER_ROW.min((seats / SECTIONS).max(1));
    Seats {
        sections: SECTIONS,
        rows: (seats / (SECTIONS * per_row)).max(1),
        per_row,
    }
}

fn queue_config(users: usize, max_active: Option<u32>) -> QueueConfig {
    let max_active = max_active.unwrap_or((users / 10) as u32).max(1);
    let batch = ((users / 50).clamp(1, 10_000) as u32).min(max_active);
    QueueConfig {
        enabled: true,
        batch_size: batch,
        interval_ms: INTERVAL_MS,
        max_active,
        active_ms: ACTIVE_MS,
        ..QueueConfig::default()
    }
}

/// The on-sale, with its waiting room unless `waiting_room` is false (or
/// the target has none), and a pre-queue of `size.pre_queue_seconds` if
/// not 0 (with the waiting room only).
pub async fn run<T: Target>(
    target: &Arc<T>,
    size: &Size,
    waiting_room: bool,
) -> Result<ScenarioRun, String> {
    let features = target.features();
    let waiting_room = waiting_room && features.waiting_room;
    let users = size.users.max(1);
    let seats = layout(size.seats.unwrap_or(DEFAULT_SEATS));
    let capacity = seats.capacity();
    let hold_seconds = size.hold_seconds.unwrap_or(DEFAULT_HOLD_SECONDS);
    let queue = queue_config(users, size.max_active);
    let pre_queue_seconds = if waiting_room {
        size.pre_queue_seconds.min(MAX_PRE_QUEUE_SECONDS)
    } else {
        0
    };
    let pre_queue = pre_queue_seconds > 0;
    // Booking opens W = min(PRE_QUEUE_OPENS_IN_SECONDS, N) after creation.
    let opens_in_ms =
        pre_queue.then(|| i64::from(PRE_QUEUE_OPENS_IN_SECONDS.min(pre_queue_seconds)) * 1_000);
    let created_at = Instant::now();
    let schedule = target::create_schedule(
        &**target,
        NewSchedule {
            id: schedule_id(KIND, 0),
            seats,
            hold_ms: Some(i64::from(hold_seconds) * 1_000),
            max_seats_per_user: None,
            queue: waiting_room.then(|| queue.clone()),
            pre_queue_seconds: pre_queue.then_some(pre_queue_seconds),
            booking_opens_in_ms: opens_in_ms,
        },
    )
    .await?;

    let acks = Arc::new(MoneyAcks::default());
    let funding_started = Instant::now();
    let funded = target.fund(KIND, users, FUNDING).await?;
    MoneyAcks::add(&acks.charged, funded as i64 * FUNDING);
    let funding_secs = funding_started.elapsed().as_secs_f64();

    let mut plan = size.plan();
    plan.clients = users;
    let start = Instant::now();
    let arrival_seconds = size.arrival_seconds.clamp(0.0, MAX_ARRIVAL_SECONDS);
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        schedule,
        start,
        arrival_seconds,
        not_arrived: AtomicU64::new(0),
        seats,
        waiting_room,
        best_available: features.best_available,
        seed: size.seed,
        stop: Arc::clone(&stop),
        acks,
        observations: Mutex::new(vec![None; users]),
        max_position: AtomicU64::new(0),
        joins_ended: AtomicU64::new(0),
        joined_pre_queue: AtomicU64::new(0),
        left_line: AtomicU64::new(0),
        etas: Mutex::new(Vec::new()),
        paced_by_server: AtomicU64::new(0),
        paced_by_client: AtomicU64::new(0),
        waits_after_503: AtomicU64::new(0),
        paid: Mutex::new(Vec::new()),
        seats_paid: AtomicU64::new(0),
        unknown_seats: AtomicU64::new(0),
        admitted: AtomicU64::new(0),
        waiting_now: AtomicU64::new(0),
        active_now: AtomicU64::new(0),
        paid_users: AtomicU64::new(0),
        abandoned: AtomicU64::new(0),
        gave_up: AtomicU64::new(0),
        finished: AtomicU64::new(0),
    });

    // With a pre-queue the time limit counts from opening (funding may
    // have taken part of the wait for it).
    let opens_at = opens_in_ms.map(|ms| created_at + Duration::from_millis(ms as u64));
    let limit_from = opens_at.map_or(start, |at| at.max(start));
    plan.window.from = start;
    plan.window.until = limit_from + Duration::from_secs_f64(size.seconds);
    plan.deadline = plan.window.until;
    let observer = target.observe(plan.window, Arc::clone(&stop));
    // The server's memory before the first join, then sampled while the crowd waits.
    let rss_before = size.server_pid.and_then(system::rss_kib_of);
    let sampler = size
        .server_pid
        .map(|pid| actix_rt::spawn(sample_rss(pid, Arc::clone(&shared), users, plan.deadline)));

    // Stops the run when the schedule is sold out (as the target says, or
    // as the acknowledged payments show) or every user is done.
    let sold_out_at = Arc::new(Mutex::new(None::<Instant>));
    let monitor = {
        let (target, shared, sold_out_at) = (
            Arc::clone(target),
            Arc::clone(&shared),
            Arc::clone(&sold_out_at),
        );
        actix_rt::spawn(async move {
            while !shared.stop.load(Ordering::Relaxed) && Instant::now() < plan.deadline {
                actix_rt::time::sleep(Duration::from_millis(MONITOR_MS)).await;
                let sold_out = shared.seats_paid.load(Ordering::Relaxed) >= u64::from(capacity)
                    || target.sold_out(shared.schedule).await == Some(true);
                if sold_out {
                    if let Ok(mut at) = sold_out_at.lock() {
                        *at = Some(Instant::now());
                    }
                    shared.stop.store(true, Ordering::Relaxed);
                }
                if shared.finished.load(Ordering::Relaxed) >= users as u64 {
                    shared.stop.store(true, Ordering::Relaxed);
                }
            }
        })
    };

    // The timeline: a sample every second from `start`, and the last one
    // once every client is done (so every recorded request is in one).
    let windows = Arc::new(Windows::default());
    let timeline_sampler = Arc::new(Mutex::new(Sampler::new(
        Arc::clone(&windows),
        start,
        plan.deadline,
    )));
    let ticker = {
        let shared = Arc::clone(&shared);
        actix_rt::spawn(timeline::tick(Arc::clone(&timeline_sampler), move || {
            gauges(&shared)
        }))
    };

    let recorder = clients::run_sampled(
        clients::connect(target),
        plan,
        Arc::clone(&shared),
        stop,
        virtual_user,
        Some(windows),
    )
    .await;
    let ended = Instant::now();
    shared.stop.store(true, Ordering::Relaxed);
    ticker.abort();
    let _ = ticker.await;
    let (timeline, timeline_capacity) = match timeline_sampler.lock() {
        Ok(mut sampler) => {
            sampler.sample(Instant::now(), gauges(&shared));
            (sampler.take_samples(), sampler.capacity())
        }
        Err(_) => (Vec::new(), 0),
    };
    let _ = monitor.await;
    let rss_sampled = match sampler {
        Some(handle) => handle.await.unwrap_or_default(),
        None => RssSamples::default(),
    };
    let recorder = recorder?;
    let observed = target::observed(observer).await?;
    let sold_out_at = sold_out_at.lock().ok().and_then(|at| *at);
    let elapsed = sold_out_at
        .unwrap_or(ended)
        .saturating_duration_since(start);

    let paid = shared.paid.lock().map(|p| p.clone()).unwrap_or_default();
    let observations = shared
        .observations
        .lock()
        .map(|o| o.clone())
        .unwrap_or_default();
    let users_seen: Vec<_> = observations
        .into_iter()
        .enumerate()
        .filter_map(|(n, o)| Some((User::new(KIND, n as u64), o?)))
        .collect();
    let verdict = target
        .verify(&Claims {
            paid: Some((paid, shared.unknown_seats.load(Ordering::Relaxed))),
            money: Some(Arc::clone(&shared.acks)),
            admission: waiting_room.then_some((schedule, users_seen)),
            ..Claims::default()
        })
        .await?;

    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut facts = verdict.facts;
    facts.insert("users".into(), json!(users));
    facts.insert("seats".into(), json!(capacity));
    facts.insert("seats_sold".into(), json!(verdict.seats_sold));
    facts.insert("sold_out".into(), json!(sold_out_at.is_some()));
    facts.insert(
        "sold_out_after_s".into(),
        json!(sold_out_at.map(|at| at.saturating_duration_since(start).as_secs_f64())),
    );
    facts.insert("users_admitted".into(), json!(load(&shared.admitted)));
    facts.insert("users_paid".into(), json!(load(&shared.paid_users)));
    facts.insert("holds_abandoned".into(), json!(load(&shared.abandoned)));
    facts.insert("users_gave_up".into(), json!(load(&shared.gave_up)));
    facts.insert("hold_seconds".into(), json!(hold_seconds));
    facts.insert("waiting_room".into(), json!(waiting_room));
    facts.insert(
        "queue".into(),
        json!({"batchSize": queue.batch_size, "intervalMs": queue.interval_ms, "maxActive": queue.max_active, "activeMs": queue.active_ms}),
    );
    facts.insert("wallets_funded".into(), json!(funded));
    facts.insert("funding_seconds_untimed".into(), json!(funding_secs));
    // Pacing: how the users waited.
    facts.insert(
        "polls_paced_by_server".into(),
        json!(load(&shared.paced_by_server)),
    );
    facts.insert(
        "polls_paced_by_client".into(),
        json!(load(&shared.paced_by_client)),
    );
    facts.insert(
        "waits_after_503".into(),
        json!(load(&shared.waits_after_503)),
    );
    // The arrivals.
    facts.insert("arrival_seconds".into(), json!(arrival_seconds));
    facts.insert(
        "arrival_model".into(),
        json!(stadium_arrival::describe(arrival_seconds)),
    );
    facts.insert("users_not_arrived".into(), json!(load(&shared.not_arrived)));
    // Each operation's time in two parts (over HTTP).
    facts.extend(recorder.split_facts());
    // The pre-queue.
    facts.insert(
        "pre_queue_seconds".into(),
        json!(pre_queue.then_some(pre_queue_seconds)),
    );
    facts.insert(
        "booking_opened_after_s".into(),
        json!(opens_at.map(|at| at.saturating_duration_since(start).as_secs_f64())),
    );
    facts.insert(
        "queue_position_max".into(),
        json!(load(&shared.max_position)),
    );
    facts.insert(
        "users_pre_queue_at_join".into(),
        json!(load(&shared.joined_pre_queue)),
    );
    // How good the first estimated wait was.
    let etas = shared.etas.lock().map(|e| e.clone()).unwrap_or_default();
    let accuracy = EtaAccuracy::of(&etas, start);
    facts.insert("eta_users".into(), json!(accuracy.users));
    facts.insert(
        "eta_within_25pct_share".into(),
        json!(accuracy.within_25pct_share),
    );
    facts.insert("eta_error_p50_pct".into(), json!(accuracy.error_p50_pct));
    facts.insert("eta_error_p90_pct".into(), json!(accuracy.error_p90_pct));
    facts.insert("eta_by_position".into(), accuracy.by_position);
    facts.insert(
        "eta_within_25pct_share_excl_conn_wait".into(),
        json!(accuracy.excl_conn_wait_within_25pct_share),
    );
    facts.insert(
        "eta_error_p50_pct_excl_conn_wait".into(),
        json!(accuracy.excl_conn_wait_error_p50_pct),
    );
    facts.insert(
        "eta_error_p90_pct_excl_conn_wait".into(),
        json!(accuracy.excl_conn_wait_error_p90_pct),
    );
    // The server's memory.
    let mb = |kib: Option<u64>| kib.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0);
    let peak = size
        .server_pid
        .and_then(system::peak_rss_kib_of)
        .max(rss_sampled.peak);
    facts.insert("server_pid".into(), json!(size.server_pid));
    facts.insert("server_rss_of".into(), json!(size.server_rss_of));
    facts.insert("server_rss_before_crowd_mb".into(), json!(mb(rss_before)));
    facts.insert(
        "server_rss_crowd_in_line_mb".into(),
        json!(mb(rss_sampled.crowd_in_line)),
    );
    facts.insert("server_rss_peak_mb".into(), json!(mb(peak)));
    facts.extend(observed);
    let mut notes = vec![
        format!(
            "{users} users arrive {}; 1-4 {} each; {:.0}% let their hold expire ({hold_seconds} s holds)",
            if arrival_seconds > 0.0 { format!("over {arrival_seconds} s (uniform, seeded)") } else { "at once".into() },
            if features.best_available { "best-available seats" } else { "adjacent seats in a random row" },
            ABANDON_RATE * 100.0
        ),
        "<op>_conn_wait_*_ms: the wait for a free connection of the harness's pool (HTTP); <op>_wire_*_ms: the rest of the same requests (ops.<op> is the whole); eta_*_excl_conn_wait: the ETA facts with the two requests' connection waits taken out of the actual wait".into(),
        "wallets funded and (HTTP) access tokens minted by the harness, not through the API: no argon2 in the run".into(),
        "rates are over the time to sell out (or to the end, if it did not)".into(),
        if waiting_room {
            "with the waiting room: join, poll until admitted (waiting the server's pollAfterMs, or the client's own pace if it gives none; a 503's Retry-After, 1 s if none), then hold with the queue token".into()
        } else {
            "without the waiting room: users hold at once, no queue token".into()
        },
        "eta_*: each admitted user's first estimatedWaitSeconds (after PRE_QUEUE) against the time from sending that request to the first ACTIVE answer; error = |actual - ETA| / ETA (an ETA of 0: 0% if admitted within 1 s, else against 1 s); eta_by_position: the same in ten equal groups by the position told with that ETA, front to back (eta_given_at: since the start)".into(),
        format!(
            "timeline: a sample every {} ms from the start (at most {timeline_capacity}: the run's whole seconds + the last, when the clients ended); seats_sold: seats in payments acknowledged to the clients; waiting: users with a place in line, not yet ACTIVE (clients' view; PRE_QUEUE included); active: admitted (or, without a waiting room, started) and not done; ops: the requests recorded in the totals that completed in that window",
            timeline::SAMPLE_EVERY.as_millis()
        ),
        format!("server_rss_*: VmRSS of the server process ({}), MiB: before the first join, peak while the crowd was in line (sampled every {RSS_SAMPLE_MS} ms for {CROWD_IN_LINE_MS} ms after every user joined), peak (VmHWM)", size.server_rss_of),
    ];
    if pre_queue {
        notes.push(format!(
            "pre-queue: preQueueSeconds {pre_queue_seconds}, booking opened {} s after the schedule was created; the run's time limit counts from opening; rates include the wait before it",
            PRE_QUEUE_OPENS_IN_SECONDS.min(pre_queue_seconds)
        ));
    }
    Ok(ScenarioRun {
        recorder,
        elapsed,
        checks: verdict.checks,
        facts,
        notes,
        timeline,
    })
}

/// The timeline's counters now, from the clients' own state.
fn gauges(s: &Shared) -> Gauges {
    Gauges {
        seats_sold: s.seats_paid.load(Ordering::Relaxed),
        waiting: s.waiting_now.load(Ordering::Relaxed),
        active: s.active_now.load(Ordering::Relaxed),
    }
}

/// The server's RSS samples of a run, in KiB.
#[derive(Clone, Copy, Debug, Default)]
struct RssSamples {
    /// Peak while the crowd was in line (see [`CROWD_IN_LINE_MS`]).
    crowd_in_line: Option<u64>,
    /// Peak over every sample.
    peak: Option<u64>,
}

/// Samples the RSS of process `pid` every [`RSS_SAMPLE_MS`] until the run
/// stops; "in line" from the moment every user's join ended, for
/// [`CROWD_IN_LINE_MS`], while some of them are still waiting.
async fn sample_rss(pid: u32, s: Arc<Shared>, users: usize, deadline: Instant) -> RssSamples {
    let mut samples = RssSamples::default();
    let mut all_joined = None::<Instant>;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    while !s.stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let rss = system::rss_kib_of(pid);
        samples.peak = samples.peak.max(rss);
        let now = Instant::now();
        if all_joined.is_none() && s.waiting_room && load(&s.joins_ended) >= users as u64 {
            all_joined = Some(now);
        }
        let waiting = load(&s.joins_ended)
            .saturating_sub(load(&s.admitted))
            .saturating_sub(load(&s.left_line));
        let in_window = all_joined.is_some_and(|at| {
            now.saturating_duration_since(at) <= Duration::from_millis(CROWD_IN_LINE_MS)
        });
        if in_window && waiting > 0 {
            samples.crowd_in_line = samples.crowd_in_line.max(rss);
        }
        actix_rt::time::sleep(Duration::from_millis(RSS_SAMPLE_MS)).await;
    }
    samples
}

/// The wait before the next poll after `place`: the server's `pollAfterMs`
/// plus a little jitter (never less than asked), or, from a server that
/// does not say, the client's own pace: half the estimated wait, within
/// [`MIN_POLL_MS`]-[`MAX_POLL_MS`], plus jitter.
fn poll_delay(rng: &mut SmallRng, s: &Shared, place: &QueuePlace) -> Duration {
    match place.poll_after_ms {
        Some(asked) => {
            s.paced_by_server.fetch_add(1, Ordering::Relaxed);
            Duration::from_millis(asked + jitter(rng, asked))
        }
        None => {
            s.paced_by_client.fetch_add(1, Ordering::Relaxed);
            let eta = place.estimated_wait_seconds.unwrap_or(0);
            let base = (eta * 1_000 / 2).clamp(MIN_POLL_MS, MAX_POLL_MS);
            Duration::from_millis(base + rng.gen_range(0..MIN_POLL_MS))
        }
    }
}

/// Up to a tenth of `asked` ms (at most [`MAX_JITTER_MS`]), so that users
/// told the same thing at the same moment do not come back together.
fn jitter(rng: &mut SmallRng, asked: u64) -> u64 {
    rng.gen_range(0..=(asked / 10).min(MAX_JITTER_MS))
}

/// The wait after a 503 to `me`: its `Retry-After` ([`DEFAULT_RETRY_AFTER`]
/// when it has none, and in process), plus a little jitter.
fn after_503<C: Client>(
    client: &clients::Client<Shared, C>,
    s: &Shared,
    me: User,
    rng: &mut SmallRng,
) -> Duration {
    s.waits_after_503.fetch_add(1, Ordering::Relaxed);
    let asked = client
        .api
        .take_retry_after(me)
        .unwrap_or(DEFAULT_RETRY_AFTER);
    let ms = asked.as_millis() as u64;
    Duration::from_millis(ms + jitter(rng, ms))
}

async fn virtual_user<C: Client>(client: clients::Client<Shared, C>) {
    let s = Arc::clone(&client.shared);
    let me = User::new(KIND, client.index as u64);
    let mut rng = SmallRng::seed_from_u64(s.seed ^ (client.index as u64).wrapping_mul(0x9E37_79B9));
    let mut seen = QueueObservation::default();
    let arrives = stadium_arrival::offset(s.seed, client.index, s.arrival_seconds);
    if !arrives.is_zero() {
        nap(
            &client,
            (s.start + arrives).saturating_duration_since(Instant::now()),
        )
        .await;
        if !client.running() {
            // Sold out (or out of time) before this user came.
            s.not_arrived.fetch_add(1, Ordering::Relaxed);
            s.joins_ended.fetch_add(1, Ordering::Relaxed);
            s.finished.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let outcome = buy(&client, &s, me, &mut rng, &mut seen).await;
    if let Ok(mut all) = s.observations.lock() {
        if let Some(slot) = all.get_mut(client.index) {
            *slot = Some(seen);
        }
    }
    if !outcome {
        s.gave_up.fetch_add(1, Ordering::Relaxed);
    }
    s.finished.fetch_add(1, Ordering::Relaxed);
}

/// Sleeps `d`, but never past the run's deadline (a user far back in line
/// may wait 20 s between polls; the run must still end on time).
async fn nap<C>(client: &clients::Client<Shared, C>, d: Duration) {
    let left = client.deadline.saturating_duration_since(Instant::now());
    actix_rt::time::sleep(d.min(left)).await
}

/// One user's whole visit; false if they left without paying or abandoning.
async fn buy<C: Client>(
    client: &clients::Client<Shared, C>,
    s: &Shared,
    me: User,
    rng: &mut SmallRng,
    seen: &mut QueueObservation,
) -> bool {
    let token = if s.waiting_room {
        match wait_in_line(client, s, me, rng, seen).await {
            Some(token) => Some(token),
            None => return false,
        }
    } else {
        None
    };
    s.admitted.fetch_add(1, Ordering::Relaxed);
    s.active_now.fetch_add(1, Ordering::Relaxed);
    let done = hold_and_pay(client, s, me, rng, token.as_ref()).await;
    s.active_now.fetch_sub(1, Ordering::Relaxed);
    done
}

/// Keeps an admitted user's first estimate against its actual wait.
fn record_eta(s: &Shared, record: Option<EtaRecord>) {
    if let (Some(record), Ok(mut etas)) = (record, s.etas.lock()) {
        etas.push(record);
    }
}

/// Notes what an answer to a request sent at `sent` showed of the line.
fn observe(s: &Shared, seen: &mut QueueObservation, place: &QueuePlace, sent: Instant) {
    if let Some(position) = place.position {
        s.max_position.fetch_max(position, Ordering::Relaxed);
    }
    if place.active {
        seen.first_active_received.get_or_insert_with(Instant::now);
    } else {
        seen.last_waiting_sent = Some(sent);
    }
}

/// Joins the waiting room and polls until admitted; the queue token, or
/// None if the user left the line.
async fn wait_in_line<C: Client>(
    client: &clients::Client<Shared, C>,
    s: &Shared,
    me: User,
    rng: &mut SmallRng,
    seen: &mut QueueObservation,
) -> Option<QueueCredential> {
    let mut eta = FirstEta::default();
    let joined = loop {
        if !client.running() {
            break None;
        }
        let sent = Instant::now();
        let (joined, conn_wait) = client
            .timed_split(Op::Join, me, client.api.join(me, s.schedule))
            .await;
        match joined {
            Ok(place) => {
                observe(s, seen, &place, sent);
                record_eta(s, eta.answered(&place, sent, conn_wait));
                seen.pre_queue_at_join = place.pre_queue;
                break Some(place);
            }
            // Joining again returns the same place, so a lost answer is safe to retry.
            Err(Outcome::Unavailable) => nap(client, after_503(client, s, me, rng)).await,
            Err(Outcome::Transport) => nap(client, DEFAULT_RETRY_AFTER).await,
            Err(_) => break None,
        }
    };
    s.joins_ended.fetch_add(1, Ordering::Relaxed);
    let mut place = joined?;
    s.waiting_now.fetch_add(1, Ordering::Relaxed);
    if place.pre_queue {
        s.joined_pre_queue.fetch_add(1, Ordering::Relaxed);
    }
    let mut wait = poll_delay(rng, s, &place);
    while !place.active {
        nap(client, wait).await;
        if !client.running() {
            // Sold out (or out of time) while waiting: leave the line.
            s.left_line.fetch_add(1, Ordering::Relaxed);
            s.waiting_now.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let sent = Instant::now();
        let (polled, conn_wait) = client
            .timed_split(Op::Poll, me, client.api.poll(me, &place.token))
            .await;
        match polled {
            Ok(now) => {
                observe(s, seen, &now, sent);
                record_eta(s, eta.answered(&now, sent, conn_wait));
                place = now;
                wait = poll_delay(rng, s, &place);
            }
            Err(Outcome::Unavailable) => wait = after_503(client, s, me, rng),
            // No answer: again at the last pace.
            Err(Outcome::Transport) => wait = poll_delay(rng, s, &place),
            Err(_) => {
                s.left_line.fetch_add(1, Ordering::Relaxed);
                s.waiting_now.fetch_sub(1, Ordering::Relaxed);
                return None;
            }
        }
    }
    s.waiting_now.fetch_sub(1, Ordering::Relaxed);
    Some(place.token)
}

/// What a user without best-available does next after reading a row.
enum Pick {
    Seats(Vec<String>),
    /// Nothing to hold in that row (or no answer): look at another.
    Again,
    GiveUp,
}

/// Reads the free seats of a random row and picks the first `quantity`
/// adjacent ones; counts a miss when there are none, asking for fewer seats
/// every few misses and waiting after many.
async fn pick_in_a_row<C: Client>(
    client: &clients::Client<Shared, C>,
    s: &Shared,
    me: User,
    rng: &mut SmallRng,
    quantity: &mut u32,
    misses: &mut u32,
) -> Pick {
    let row = rng.gen_range(0..s.seats.row_count());
    let free = match client
        .timed(Op::SeatMap, client.api.free_seats(me, s.schedule, row))
        .await
    {
        Ok(free) => free,
        Err(Outcome::Unavailable) => {
            nap(client, after_503(client, s, me, rng)).await;
            return Pick::Again;
        }
        Err(Outcome::Transport) => return Pick::Again,
        Err(_) => return Pick::GiveUp,
    };
    let numbers: Vec<u32> = free.iter().filter_map(|n| s.seats.number(n)).collect();
    if let Some(block) = first_block(&numbers, *quantity as usize) {
        return Pick::Seats(block.into_iter().map(|n| s.seats.name(n)).collect());
    }
    *misses += 1;
    if misses.is_multiple_of(MISSES_PER_STEP_DOWN) && *quantity > 1 {
        *quantity -= 1;
    }
    if *misses >= MISSES_BEFORE_WAIT {
        *misses = 0;
        nap(client, Duration::from_millis(SOLD_OUT_RETRY_MS)).await;
    }
    Pick::Again
}

/// The first `quantity` adjacent seats among `free` (ascending).
fn first_block(free: &[u32], quantity: usize) -> Option<Vec<u32>> {
    let mut start = 0;
    for i in 0..free.len() {
        if i > 0 && free[i] != free[i - 1] + 1 {
            start = i;
        }
        if i + 1 - start == quantity {
            return Some(free[start..=i].to_vec());
        }
    }
    None
}

/// Holds 1-4 seats (best-available, or picked in a row), then pays or walks away.
async fn hold_and_pay<C: Client>(
    client: &clients::Client<Shared, C>,
    s: &Shared,
    me: User,
    rng: &mut SmallRng,
    token: Option<&QueueCredential>,
) -> bool {
    let mut quantity = rng.gen_range(1..=4u32);
    let mut misses = 0u32;
    while client.running() {
        let selection = if s.best_available {
            SeatSelection::BestAvailable {
                quantity,
                grade: None,
                section_id: None,
            }
        } else {
            match pick_in_a_row(client, s, me, rng, &mut quantity, &mut misses).await {
                Pick::Seats(seats) => SeatSelection::Ids(seats),
                Pick::Again => continue,
                Pick::GiveUp => return false,
            }
        };
        let (hold, _) = client
            .timed_split(
                Op::Hold,
                me,
                client.api.hold(me, s.schedule, selection, token),
            )
            .await;
        let held = match hold {
            Ok(held) => held,
            // Picked in a row: a lost race sends the user to another row.
            Err(Outcome::Conflict) if !s.best_available => continue,
            Err(Outcome::Conflict) if quantity > 1 => {
                quantity -= 1;
                continue;
            }
            Err(Outcome::Conflict) => {
                nap(client, Duration::from_millis(SOLD_OUT_RETRY_MS)).await;
                continue;
            }
            Err(Outcome::Unavailable) => {
                nap(client, after_503(client, s, me, rng)).await;
                continue;
            }
            Err(_) => return false,
        };
        if rng.gen_bool(ABANDON_RATE) {
            s.abandoned.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        return match client
            .timed_split(Op::Pay, me, client.api.pay(me, &held, token))
            .await
            .0
        {
            Ok(amount) => {
                MoneyAcks::add(&s.acks.paid, amount);
                s.paid_users.fetch_add(1, Ordering::Relaxed);
                s.seats_paid
                    .fetch_add(held.seats.len() as u64, Ordering::Relaxed);
                if let Ok(mut paid) = s.paid.lock() {
                    paid.push((s.schedule, me, held));
                }
                true
            }
            Err(outcome) => {
                // A 503 may come after the debit (the saga's last step refused
                // or timed out): the money may have moved.
                if outcome.effect_unknown() || outcome == Outcome::Unavailable {
                    s.acks.unknown_requests.fetch_add(1, Ordering::Relaxed);
                    MoneyAcks::add(&s.acks.unknown_paid, held.amount);
                    s.unknown_seats
                        .fetch_add(held.seats.len() as u64, Ordering::Relaxed);
                }
                false
            }
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::first_block;

    #[test]
    fn finds_the_first_run_of_adjacent_free_seats() {
        assert_eq!(first_block(&[1, 3, 4, 5, 8], 3), Some(vec![3, 4, 5]));
        assert_eq!(first_block(&[1, 3, 4, 6], 3), None);
        assert_eq!(first_block(&[7], 1), Some(vec![7]));
        assert_eq!(first_block(&[], 1), None);
    }
}
