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
//! Checks (the target's, on the clients' claims): no oversell (target and
//! clients' view), money, acknowledged payments are sold, and admission
//! order == join order (engine record and client observations).
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

use super::{schedule_id, ScenarioRun, Size};
use crate::clients;
use crate::invariants::{MoneyAcks, QueueObservation};
use crate::stats::{Op, Outcome};
use crate::target::{self, Claims, Client, NewSchedule, Paid, Seats, Target, User};

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
/// Without best-available: rows looked at without finding a block before
/// asking for one seat fewer, and before waiting for seats to come back.
const MISSES_PER_STEP_DOWN: u32 = 3;
const MISSES_BEFORE_WAIT: u32 = 40;
const KIND: u8 = 2;

struct Shared {
    schedule: ScheduleId,
    seats: Seats,
    waiting_room: bool,
    best_available: bool,
    seed: u64,
    stop: Arc<AtomicBool>,
    acks: Arc<MoneyAcks>,
    observations: Mutex<Vec<QueueObservation>>,
    /// Acknowledged payments, and the seats in them (counted as they come,
    /// for the sold-out monitor of a target that cannot tell).
    paid: Mutex<Vec<Paid>>,
    seats_paid: AtomicU64,
    /// Seats in payments whose answer was lost.
    unknown_seats: AtomicU64,
    admitted: AtomicU64,
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

fn queue_config(users: usize) -> QueueConfig {
    let batch = (users / 50).clamp(1, 10_000) as u32;
    QueueConfig {
        enabled: true,
        batch_size: batch,
        interval_ms: INTERVAL_MS,
        max_active: (users as u32 / 10).max(batch),
        active_ms: ACTIVE_MS,
        ..QueueConfig::default()
    }
}

/// The on-sale, with its waiting room unless `waiting_room` is false (or
/// the target has none).
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
    let queue = queue_config(users);
    let schedule = target
        .create_schedule(NewSchedule {
            id: schedule_id(KIND, 0),
            seats,
            hold_ms: Some(i64::from(hold_seconds) * 1_000),
            max_seats_per_user: None,
            queue: waiting_room.then(|| queue.clone()),
        })
        .await?;

    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        schedule,
        seats,
        waiting_room,
        best_available: features.best_available,
        seed: size.seed,
        stop: Arc::clone(&stop),
        acks: Arc::new(MoneyAcks::default()),
        observations: Mutex::new(vec![QueueObservation::default(); users]),
        paid: Mutex::new(Vec::new()),
        seats_paid: AtomicU64::new(0),
        unknown_seats: AtomicU64::new(0),
        admitted: AtomicU64::new(0),
        paid_users: AtomicU64::new(0),
        abandoned: AtomicU64::new(0),
        gave_up: AtomicU64::new(0),
        finished: AtomicU64::new(0),
    });

    let funding_started = Instant::now();
    let funded = target.fund(KIND, users, FUNDING).await?;
    MoneyAcks::add(&shared.acks.charged, funded as i64 * FUNDING);
    let funding_secs = funding_started.elapsed().as_secs_f64();

    let mut plan = size.plan();
    plan.clients = users;
    let start = Instant::now();
    plan.window.from = start;
    plan.window.until = start + Duration::from_secs_f64(size.seconds);
    plan.deadline = plan.window.until;
    let observer = target.observe(plan.window, Arc::clone(&stop));

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

    let recorder = clients::run(
        clients::connect(target),
        plan,
        Arc::clone(&shared),
        stop,
        virtual_user,
    )
    .await;
    let ended = Instant::now();
    shared.stop.store(true, Ordering::Relaxed);
    let _ = monitor.await;
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
        .map(|(n, o)| (User::new(KIND, n as u64), o))
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
    facts.extend(observed);
    Ok(ScenarioRun {
        recorder,
        elapsed,
        checks: verdict.checks,
        facts,
        notes: vec![
            format!(
                "{users} users join at once; 1-4 {} each; {:.0}% let their hold expire ({hold_seconds} s holds)",
                if features.best_available { "best-available seats" } else { "adjacent seats in a random row" },
                ABANDON_RATE * 100.0
            ),
            "wallets funded and (HTTP) access tokens minted by the harness, not through the API: no argon2 in the run".into(),
            "rates are over the time to sell out (or to the end, if it did not)".into(),
            if waiting_room {
                "with the waiting room: join, poll until admitted, then hold with the queue token".into()
            } else {
                "without the waiting room: users hold at once, no queue token".into()
            },
        ],
    })
}

fn poll_delay(rng: &mut SmallRng, eta_seconds: u64) -> Duration {
    let base = (eta_seconds * 1_000 / 2).clamp(MIN_POLL_MS, MAX_POLL_MS);
    Duration::from_millis(base + rng.gen_range(0..MIN_POLL_MS))
}

async fn virtual_user<C: Client>(client: clients::Client<Shared, C>) {
    let s = Arc::clone(&client.shared);
    let me = User::new(KIND, client.index as u64);
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
    hold_and_pay(client, s, me, rng, token).await
}

/// Joins the waiting room and polls until admitted; the queue token, or
/// None if the user left the line.
async fn wait_in_line<C: Client>(
    client: &clients::Client<Shared, C>,
    s: &Shared,
    me: User,
    rng: &mut SmallRng,
    seen: &mut QueueObservation,
) -> Option<QueueTokenId> {
    let mut place = loop {
        if !client.running() {
            return None;
        }
        let sent = Instant::now();
        match client
            .timed(Op::Join, client.api.join(me, s.schedule))
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
            .timed(Op::Poll, client.api.poll(me, place.token))
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
        Err(Outcome::Unavailable | Outcome::Transport) => return Pick::Again,
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
    token: Option<QueueTokenId>,
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
        let hold = client
            .timed(Op::Hold, client.api.hold(me, s.schedule, selection, token))
            .await;
        let held = match hold {
            Ok(held) => held,
            // Picked in a row: a lost race or a refusal sends the user to another row.
            Err(Outcome::Conflict | Outcome::Unavailable) if !s.best_available => continue,
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
            .timed(Op::Pay, client.api.pay(me, &held, token))
            .await
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
