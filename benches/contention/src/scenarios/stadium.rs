//! `stadium-onsale`: V virtual users (default 100,000) rush one schedule of
//! S seats (default 50,000) behind a waiting room, until it is sold out.
//!
//! Each user: joins the waiting room; polls (at a pace set by its estimated
//! wait) until ACTIVE; asks for 1-4 best-available seats with its queue
//! token (fewer if refused, then waits for seats to come back); then pays
//! from its wallet, or, for `ABANDON_RATE` of them, walks away and lets the
//! hold expire (holds last `hold_seconds`, default 5 s) so the seats return.
//! The run ends when every seat is sold, every user is done, or at the
//! time limit. Wallets are funded through the engine before the clock starts.
//!
//! Checks: no oversell (engine and clients' view), money, no payment stuck,
//! and admission order == join order (engine record and client observations).
//!
//! [`run_with`] without the waiting room (`--no-waiting-room`) is the
//! simplified on-sale the baselines run (`baselines/stadium.rs`): users go
//! straight to their hold, with no queue token, and there is no admission
//! order to check.

use boxoffice_actors::{Registry, ScheduleSpec};
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::schedule::{ScheduleRules, SeatSelection};
use boxoffice_engine::Money;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{in_batches, schedule_id, user, ScenarioRun, Size};
use crate::clients;
use crate::driver::DriverSpec;
use crate::invariants::{self, MoneyAcks, QueueObservation};
use crate::stats::{Op, Outcome};

pub const DEFAULT_USERS: usize = 100_000;
pub const DEFAULT_SEATS: u32 = 50_000;
pub const DEFAULT_HOLD_SECONDS: u32 = 5;
/// Share of users who win a hold and let it expire instead of paying.
pub const ABANDON_RATE: f64 = 0.1;
/// Each wallet gets this before the run: more than 4 of the dearest seats.
const FUNDING: i64 = 500_000;
/// Sections (best first, dearest first) and seats per row of the stadium.
const SECTIONS: usize = 5;
const SEATS_PER_ROW: u32 = 100;
/// The waiting room admits a fiftieth of the crowd per tick, every
/// `INTERVAL_MS`, while fewer than a tenth of it are active; an admission
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
/// Pause after a 503 before retrying.
const BUSY_RETRY_MS: u64 = 50;
/// How often the harness checks whether the schedule is sold out.
const MONITOR_MS: u64 = 50;
const KIND: u8 = 2;

struct Shared {
    schedule: ScheduleId,
    waiting_room: bool,
    seed: u64,
    stop: Arc<AtomicBool>,
    acks: MoneyAcks,
    observations: Mutex<Vec<QueueObservation>>,
    paid_seats: Mutex<Vec<(ScheduleId, Vec<String>)>>,
    admitted: AtomicU64,
    paid: AtomicU64,
    abandoned: AtomicU64,
    gave_up: AtomicU64,
    finished: AtomicU64,
}

fn layout(seats: u32) -> SeatLayout {
    let per_row = SEATS_PER_ROW.min((seats / SECTIONS as u32).max(1));
    let rows = (seats / (SECTIONS as u32 * per_row)).max(1) as usize;
    SeatLayout::uniform(SECTIONS, rows, per_row)
}

fn queue_config(users: usize) -> QueueConfig {
    let batch = (users / 50).clamp(1, 10_000) as u32;
    QueueConfig {
        enabled: true,
        batch_size: batch,
        interval_ms: INTERVAL_MS,
        max_active: (users as u32 / 10).max(batch),
        active_ms: ACTIVE_MS,
    }
}

/// The on-sale, with its waiting room unless `waiting_room` is false.
pub async fn run_with(
    registry: &Arc<Registry>,
    driver: &DriverSpec,
    size: &Size,
    waiting_room: bool,
) -> Result<ScenarioRun, String> {
    let users = size.users.max(1);
    let layout = layout(size.seats.unwrap_or(DEFAULT_SEATS));
    let capacity: u32 = layout
        .sections
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| r.seats)
        .sum();
    let hold_seconds = size.hold_seconds.unwrap_or(DEFAULT_HOLD_SECONDS);
    let queue = queue_config(users);
    let schedule = registry
        .create_schedule(ScheduleSpec {
            schedule_id: schedule_id(KIND, 0),
            layout,
            rules: ScheduleRules {
                hold_ms: i64::from(hold_seconds) * 1_000,
                ..ScheduleRules::default()
            },
            queue: waiting_room.then(|| queue.clone()),
        })
        .await
        .map_err(|e| format!("create schedule: {e}"))?;

    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        schedule,
        waiting_room,
        seed: size.seed,
        stop: Arc::clone(&stop),
        acks: MoneyAcks::default(),
        observations: Mutex::new(vec![QueueObservation::default(); users]),
        paid_seats: Mutex::new(Vec::new()),
        admitted: AtomicU64::new(0),
        paid: AtomicU64::new(0),
        abandoned: AtomicU64::new(0),
        gave_up: AtomicU64::new(0),
        finished: AtomicU64::new(0),
    });

    let funding_started = Instant::now();
    let funded = in_batches(users, 1_000, |n| {
        let registry = Arc::clone(registry);
        async move {
            registry
                .charge(user(KIND, n as u64), Money(FUNDING), None)
                .await
                .is_ok()
        }
    })
    .await;
    let funded = funded.into_iter().filter(|ok| *ok).count();
    MoneyAcks::add(&shared.acks.charged, funded as i64 * FUNDING);
    let funding_secs = funding_started.elapsed().as_secs_f64();

    let mut plan = size.plan();
    plan.clients = users;
    let start = Instant::now();
    plan.window.from = start;
    plan.window.until = start + Duration::from_secs_f64(size.seconds);
    plan.deadline = plan.window.until;

    // Stops the run when the schedule is sold out or every user is done.
    let sold_out_at = Arc::new(Mutex::new(None::<Instant>));
    let monitor = {
        let (registry, shared, sold_out_at) = (
            Arc::clone(registry),
            Arc::clone(&shared),
            Arc::clone(&sold_out_at),
        );
        actix_rt::spawn(async move {
            while !shared.stop.load(Ordering::Relaxed) && Instant::now() < plan.deadline {
                actix_rt::time::sleep(Duration::from_millis(MONITOR_MS)).await;
                if let Ok(counts) = registry.seat_counts(shared.schedule).await {
                    if counts.sold == counts.total {
                        if let Ok(mut at) = sold_out_at.lock() {
                            *at = Some(Instant::now());
                        }
                        shared.stop.store(true, Ordering::Relaxed);
                    }
                }
                if shared.finished.load(Ordering::Relaxed) >= users as u64 {
                    shared.stop.store(true, Ordering::Relaxed);
                }
            }
        })
    };

    let recorder = clients::run(driver, plan, Arc::clone(&shared), stop, virtual_user).await;
    let ended = Instant::now();
    shared.stop.store(true, Ordering::Relaxed);
    let _ = monitor.await;
    let sold_out_at = sold_out_at.lock().ok().and_then(|at| *at);
    let elapsed = sold_out_at
        .unwrap_or(ended)
        .saturating_duration_since(start);

    let state = invariants::export(registry).await?;
    let mut checks = invariants::check_schedules(&state);
    checks.extend(invariants::check_money(&state, &shared.acks));
    let paid_seats = shared
        .paid_seats
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    checks.push(invariants::check_paid_seats(&paid_seats));
    let observations = shared
        .observations
        .lock()
        .map(|o| o.clone())
        .unwrap_or_default();
    let users_seen: Vec<_> = observations
        .into_iter()
        .enumerate()
        .map(|(n, o)| (user(KIND, n as u64), o))
        .collect();
    if waiting_room {
        checks.extend(invariants::check_admission_order(
            &state.queue,
            schedule,
            &users_seen,
        ));
    }

    let counts = invariants::reservation_counts(&state);
    let sold = state
        .schedules
        .get(&schedule)
        .map_or(0, |s| s.schedule.counts().sold);
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut facts = std::collections::BTreeMap::new();
    facts.insert("users".into(), json!(users));
    facts.insert("seats".into(), json!(capacity));
    facts.insert("seats_sold".into(), json!(sold));
    facts.insert("sold_out".into(), json!(sold_out_at.is_some()));
    facts.insert(
        "sold_out_after_s".into(),
        json!(sold_out_at.map(|at| at.saturating_duration_since(start).as_secs_f64())),
    );
    facts.insert("users_admitted".into(), json!(load(&shared.admitted)));
    facts.insert("users_paid".into(), json!(load(&shared.paid)));
    facts.insert("holds_abandoned".into(), json!(load(&shared.abandoned)));
    facts.insert("users_gave_up".into(), json!(load(&shared.gave_up)));
    facts.insert(
        "reservations_expired".into(),
        json!(counts.get("expired").copied().unwrap_or(0)),
    );
    facts.insert("hold_seconds".into(), json!(hold_seconds));
    facts.insert("waiting_room".into(), json!(waiting_room));
    facts.insert(
        "queue".into(),
        json!({"batchSize": queue.batch_size, "intervalMs": queue.interval_ms, "maxActive": queue.max_active, "activeMs": queue.active_ms}),
    );
    facts.insert("wallets_funded".into(), json!(funded));
    facts.insert("funding_seconds_untimed".into(), json!(funding_secs));
    Ok(ScenarioRun {
        recorder,
        elapsed,
        checks,
        facts,
        notes: vec![
            format!("{users} users join at once; 1-4 best-available seats each; {:.0}% let their hold expire ({hold_seconds} s holds)", ABANDON_RATE * 100.0),
            "wallets funded and (HTTP) access tokens minted by the harness, not through /auth: no argon2 in the run".into(),
            "rates are over the time to sell out (or to the end, if it did not)".into(),
            if waiting_room {
                "with the waiting room: join, poll until admitted, then hold with the queue token".into()
            } else {
                "without the waiting room (as the baselines): users hold at once, no queue token".into()
            },
        ],
    })
}

fn poll_delay(rng: &mut SmallRng, eta_seconds: u64) -> Duration {
    let base = (eta_seconds * 1_000 / 2).clamp(MIN_POLL_MS, MAX_POLL_MS);
    Duration::from_millis(base + rng.gen_range(0..MIN_POLL_MS))
}

async fn virtual_user(client: clients::Client<Shared>) {
    let s = Arc::clone(&client.shared);
    let me = user(KIND, client.index as u64);
    let mut rng = SmallRng::seed_from_u64(s.seed ^ (client.index as u64).wrapping_mul(0x9E37_79B9));
    let mut seen = QueueObservation::default();
    let outcome = buy(&client, &s, me, &mut rng, &mut seen).await;
    if let Ok(mut all) = s.observations.lock() {
        if let Some(slot) = all.get_mut(client.index) {
            *slot = seen;
        }
    }
    if !outcome {
        s.gave_up.fetch_add(1, Ordering::Relaxed);
    }
    s.finished.fetch_add(1, Ordering::Relaxed);
}

/// Sleeps `d`, but never past the run's deadline (a user far back in line
/// may wait 20 s between polls; the run must still end on time).
async fn nap(client: &clients::Client<Shared>, d: Duration) {
    let left = client.deadline.saturating_duration_since(Instant::now());
    actix_rt::time::sleep(d.min(left)).await
}

/// One user's whole visit; false if they left without paying or abandoning.
async fn buy(
    client: &clients::Client<Shared>,
    s: &Shared,
    me: UserId,
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
    hold_and_pay(client, s, me, rng, token).await
}

/// Joins the waiting room and polls until admitted; the queue token, or
/// None if the user left the line.
async fn wait_in_line(
    client: &clients::Client<Shared>,
    s: &Shared,
    me: UserId,
    rng: &mut SmallRng,
    seen: &mut QueueObservation,
) -> Option<QueueTokenId> {
    let mut place = loop {
        if !client.running() {
            return None;
        }
        let sent = Instant::now();
        match client
            .timed(Op::Join, client.driver.join(me, s.schedule))
            .await
        {
            Ok(place) => {
                if place.active {
                    seen.first_active_received = Some(Instant::now());
                } else {
                    seen.last_waiting_sent = Some(sent);
                }
                break place;
            }
            // Joining again returns the same place, so a lost answer is safe to retry.
            Err(Outcome::Unavailable | Outcome::Transport) => {
                nap(client, Duration::from_millis(BUSY_RETRY_MS)).await
            }
            Err(_) => return None,
        }
    };
    while !place.active {
        nap(client, poll_delay(rng, place.estimated_wait_seconds)).await;
        if !client.running() {
            return None; // sold out while waiting: leave the line
        }
        let sent = Instant::now();
        match client
            .timed(Op::Poll, client.driver.poll(me, place.token))
            .await
        {
            Ok(now) => {
                if now.active {
                    seen.first_active_received = Some(Instant::now());
                } else {
                    seen.last_waiting_sent = Some(sent);
                }
                place = now;
            }
            Err(Outcome::Unavailable | Outcome::Transport) => {}
            Err(_) => return None,
        }
    }
    Some(place.token)
}

/// Holds 1-4 best-available seats, then pays or walks away.
async fn hold_and_pay(
    client: &clients::Client<Shared>,
    s: &Shared,
    me: UserId,
    rng: &mut SmallRng,
    token: Option<QueueTokenId>,
) -> bool {
    let mut quantity = rng.gen_range(1..=4u32);
    while client.running() {
        let selection = SeatSelection::BestAvailable {
            quantity,
            grade: None,
            section_id: None,
        };
        let hold = client
            .timed(
                Op::Hold,
                client.driver.hold(me, s.schedule, selection, token),
            )
            .await;
        let held = match hold {
            Ok(held) => held,
            Err(Outcome::Conflict) if quantity > 1 => {
                quantity -= 1;
                continue;
            }
            Err(Outcome::Conflict) => {
                nap(client, Duration::from_millis(SOLD_OUT_RETRY_MS)).await;
                continue;
            }
            Err(Outcome::Unavailable) => {
                nap(client, Duration::from_millis(BUSY_RETRY_MS)).await;
                continue;
            }
            Err(_) => return false,
        };
        if rng.gen_bool(ABANDON_RATE) {
            s.abandoned.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        return match client
            .timed(Op::Pay, client.driver.pay(me, held.reservation_id, token))
            .await
        {
            Ok(amount) => {
                MoneyAcks::add(&s.acks.paid, amount);
                s.paid.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut paid) = s.paid_seats.lock() {
                    paid.push((s.schedule, held.seats));
                }
                true
            }
            Err(outcome) => {
                // A 503 may come after the debit (the saga's last step refused
                // or timed out): the money may have moved.
                if outcome.effect_unknown() || outcome == Outcome::Unavailable {
                    s.acks.unknown_requests.fetch_add(1, Ordering::Relaxed);
                    MoneyAcks::add(&s.acks.unknown_paid, held.amount);
                }
                false
            }
        };
    }
    false
}
