//! A simplified `stadium-onsale` against a baseline store, without the
//! waiting room: V users (default 100,000) rush one schedule of S seats
//! (default 50,000, rows of 100) until it is sold out.
//!
//! Each user wants 1-4 adjacent seats. It looks at one row (a query of that
//! row's free seats; recorded as `seat_map`), takes the first run of free
//! adjacent seats long enough in it, and holds them all or nothing. A row
//! without such a run, or a lost race, sends it to another row; every few
//! misses it asks for one seat fewer, and after many it waits for held seats
//! to come back. Then it pays (one transaction or script: debit the wallet,
//! mark the seats sold), or, for `ABANDON_RATE` of users, lets the hold
//! expire (holds last `hold_seconds`, default 5 s).
//!
//! "Best-available-like": the row is chosen at random, not best first. A real
//! best-available would send every user to the same front rows; spreading
//! them makes the baselines' races rarer, so this favours the baselines.
//!
//! Checks: no seat in two acknowledged payments; the store's sold seats are
//! the acknowledged payments (plus at most those whose answer was lost);
//! money: what left the wallets = the price of the seats sold.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::runner::{self, BaselineClient};
use super::store::{SeatState, Store};
use crate::invariants::Check;
use crate::scenarios::stadium::{ABANDON_RATE, DEFAULT_HOLD_SECONDS};
use crate::scenarios::{ScenarioRun, Size};
use crate::stats::{Op, Outcome};

/// Seats per row.
pub const ROW: u32 = 100;
/// Price of one seat, and what every wallet holds before the run (as much as
/// Boxoffice's stadium funds: more than 4 seats).
pub const PRICE: i64 = 5_000;
pub const FUNDING: i64 = 500_000;
/// Rows looked at without finding a block before asking for one seat fewer.
const MISSES_PER_STEP_DOWN: u32 = 3;
/// Rows looked at without finding any free seat before waiting.
const MISSES_BEFORE_WAIT: u32 = 40;
const SOLD_OUT_RETRY: Duration = Duration::from_millis(500);
const MONITOR: Duration = Duration::from_millis(50);

pub struct Shared {
    store: Arc<Store>,
    capacity: u32,
    seed: u64,
    hold_secs: u32,
    stop: Arc<AtomicBool>,
    /// Seats in acknowledged payments, and who paid.
    paid: Mutex<Vec<(i32, i64)>>,
    paid_seats: AtomicU64,
    paid_amount: AtomicI64,
    /// Payments with no answer: (seats, amount) that may or may not have moved.
    unknown_seats: AtomicU64,
    unknown_amount: AtomicI64,
    users_paid: AtomicU64,
    abandoned: AtomicU64,
    gave_up: AtomicU64,
    finished: AtomicU64,
}

/// The first `quantity` adjacent seats of one row among `free` (ascending).
fn first_block(free: &[i32], quantity: usize) -> Option<Vec<i32>> {
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

async fn nap(client: &BaselineClient<Shared>, d: Duration) {
    let left = client.deadline.saturating_duration_since(Instant::now());
    actix_rt::time::sleep(d.min(left)).await
}

/// One user's visit; false if it left without paying or abandoning.
async fn buy(client: &BaselineClient<Shared>, s: &Shared, rng: &mut SmallRng) -> bool {
    let me = client.index as i64 + 1;
    let rows = s.capacity.div_ceil(ROW);
    let mut quantity = rng.gen_range(1..=4usize);
    let mut misses = 0u32;
    while client.running() {
        let row = rng.gen_range(0..rows);
        let from = (row * ROW) as i32;
        let to = ((row + 1) * ROW).min(s.capacity) as i32;
        let free = match client.timed(Op::SeatMap, s.store.free_in(from, to)).await {
            Ok(free) => free,
            Err(Outcome::Unavailable | Outcome::Transport) => continue,
            Err(_) => return false,
        };
        let Some(seats) = first_block(&free, quantity) else {
            misses += 1;
            if misses.is_multiple_of(MISSES_PER_STEP_DOWN) && quantity > 1 {
                quantity -= 1;
            }
            if misses >= MISSES_BEFORE_WAIT {
                misses = 0;
                nap(client, SOLD_OUT_RETRY).await;
            }
            continue;
        };
        match client
            .timed(Op::Hold, s.store.hold(me, &seats, s.hold_secs))
            .await
        {
            Ok(()) => {}
            Err(Outcome::Conflict | Outcome::Unavailable) => continue,
            Err(_) => return false,
        }
        if rng.gen_bool(ABANDON_RATE) {
            s.abandoned.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let amount = PRICE * seats.len() as i64;
        return match client.timed(Op::Pay, s.store.pay(me, &seats, amount)).await {
            Ok(()) => {
                s.paid_amount.fetch_add(amount, Ordering::Relaxed);
                s.users_paid.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut paid) = s.paid.lock() {
                    paid.extend(seats.iter().map(|seat| (*seat, me)));
                }
                s.paid_seats
                    .fetch_add(seats.len() as u64, Ordering::Relaxed);
                true
            }
            Err(outcome) => {
                if outcome.effect_unknown() {
                    s.unknown_seats
                        .fetch_add(seats.len() as u64, Ordering::Relaxed);
                    s.unknown_amount.fetch_add(amount, Ordering::Relaxed);
                }
                false
            }
        };
    }
    false
}

async fn virtual_user(client: BaselineClient<Shared>) {
    let s = Arc::clone(&client.shared);
    let mut rng = SmallRng::seed_from_u64(s.seed ^ (client.index as u64).wrapping_mul(0x9E37_79B9));
    if !buy(&client, &s, &mut rng).await {
        s.gave_up.fetch_add(1, Ordering::Relaxed);
    }
    s.finished.fetch_add(1, Ordering::Relaxed);
}

pub async fn run(store: Arc<Store>, size: &Size, capacity: u32) -> Result<ScenarioRun, String> {
    let users = size.users.max(1);
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        store: Arc::clone(&store),
        capacity,
        seed: size.seed,
        hold_secs: size.hold_seconds.unwrap_or(DEFAULT_HOLD_SECONDS),
        stop: Arc::clone(&stop),
        paid: Mutex::new(Vec::new()),
        paid_seats: AtomicU64::new(0),
        paid_amount: AtomicI64::new(0),
        unknown_seats: AtomicU64::new(0),
        unknown_amount: AtomicI64::new(0),
        users_paid: AtomicU64::new(0),
        abandoned: AtomicU64::new(0),
        gave_up: AtomicU64::new(0),
        finished: AtomicU64::new(0),
    });
    let mut plan = size.plan();
    plan.clients = users;
    let start = Instant::now();
    plan.window.from = start;
    plan.window.until = start + Duration::from_secs_f64(size.seconds);
    plan.deadline = plan.window.until;
    let observer = super::observe(Arc::clone(&store), plan.window, Arc::clone(&stop));

    let sold_out_at = Arc::new(Mutex::new(None::<Instant>));
    let monitor = {
        let (shared, sold_out_at) = (Arc::clone(&shared), Arc::clone(&sold_out_at));
        actix_rt::spawn(async move {
            while !shared.stop.load(Ordering::Relaxed) && Instant::now() < plan.deadline {
                actix_rt::time::sleep(MONITOR).await;
                if shared.paid_seats.load(Ordering::Relaxed) >= u64::from(shared.capacity) {
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
    let recorder = runner::run(plan, Arc::clone(&shared), stop, virtual_user).await;
    let ended = Instant::now();
    shared.stop.store(true, Ordering::Relaxed);
    let _ = monitor.await;
    let observed = observer.await.map_err(|e| format!("observer: {e}"))?;
    let sold_out_at = sold_out_at.lock().ok().and_then(|at| *at);
    let elapsed = sold_out_at
        .unwrap_or(ended)
        .saturating_duration_since(start);

    let end = store.final_state().await?;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let paid: Vec<(i32, i64)> = shared.paid.lock().map(|p| p.clone()).unwrap_or_default();
    let paid_set: BTreeSet<(i32, i64)> = paid.iter().copied().collect();
    let paid_twice = paid.len()
        - paid
            .iter()
            .map(|(seat, _)| *seat)
            .collect::<BTreeSet<_>>()
            .len();
    let sold: BTreeSet<(i32, i64)> = end
        .seats
        .iter()
        .filter_map(|(seat, st)| match st {
            SeatState::Sold(h) => Some((*seat, *h)),
            SeatState::Held(_) => None,
        })
        .collect();
    let unknown_seats = load(&shared.unknown_seats);
    let missing = paid_set.difference(&sold).count();
    let extra = sold.difference(&paid_set).count() as u64;
    let debited = FUNDING * end.wallets as i64 - end.wallet_total;
    let paid_amount = shared.paid_amount.load(Ordering::Relaxed);
    let unknown_amount = shared.unknown_amount.load(Ordering::Relaxed);
    let checks = vec![
        Check {
            name: "oversell (client view): no seat in two acknowledged payments".into(),
            ok: paid_twice == 0,
            detail: format!("{} paid seat(s) acknowledged, {paid_twice} twice", paid.len()),
        },
        Check {
            name: "oversell (store): sold seats are the acknowledged payments".into(),
            ok: missing == 0 && extra <= unknown_seats && sold.len() as u64 <= u64::from(capacity),
            detail: format!(
                "{} sold in the store of {capacity}, {} acknowledged, {missing} missing, {extra} extra (≤ {unknown_seats} with no answer allowed)",
                sold.len(),
                paid_set.len()
            ),
        },
        Check {
            name: "money: wallet debits = price of the seats sold = acknowledged payments".into(),
            ok: debited == PRICE * sold.len() as i64
                && debited >= paid_amount
                && debited <= paid_amount + unknown_amount,
            detail: format!(
                "{debited} debited from {} wallets, {} for {} sold seats, {paid_amount} acknowledged (+ ≤ {unknown_amount} unknown)",
                end.wallets,
                PRICE * sold.len() as i64,
                sold.len()
            ),
        },
    ];
    let mut facts = BTreeMap::new();
    facts.insert("users".into(), json!(users));
    facts.insert("seats".into(), json!(capacity));
    facts.insert("seats_sold".into(), json!(sold.len()));
    facts.insert("sold_out".into(), json!(sold_out_at.is_some()));
    facts.insert(
        "sold_out_after_s".into(),
        json!(sold_out_at.map(|at| at.saturating_duration_since(start).as_secs_f64())),
    );
    facts.insert("users_paid".into(), json!(load(&shared.users_paid)));
    facts.insert("holds_abandoned".into(), json!(load(&shared.abandoned)));
    facts.insert("users_gave_up".into(), json!(load(&shared.gave_up)));
    facts.insert("hold_seconds".into(), json!(shared.hold_secs));
    facts.insert("waiting_room".into(), json!(false));
    observed.into_facts(&mut facts);
    Ok(ScenarioRun {
        recorder,
        elapsed,
        checks,
        facts,
        notes: vec![
            format!("{users} users at once, no waiting room; 1-4 adjacent seats in a random row each; {:.0}% let their hold expire", ABANDON_RATE * 100.0),
            "rates are over the time to sell out (or to the end, if it did not)".into(),
        ],
    })
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
