//! `hot-seats` against a baseline store: N clients storm the seats (default
//! 50) of one schedule, as `scenarios/hot_seats.rs` does against Boxoffice:
//! pick a random seat, hold it, and on a win release it at once; repeat.
//!
//! Oversell is checked twice: while running, each seat has an owner slot in
//! the harness that a winner claims (a claim that finds another owner means
//! the store granted one seat to two clients at once); at the end, the seats
//! the store still holds must be exactly the holds clients still have.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::runner::{self, BaselineClient};
use super::store::{SeatState, Store};
use crate::invariants::Check;
use crate::scenarios::{ScenarioRun, Size};
use crate::stats::{Op, Outcome};

pub const DEFAULT_SEATS: u32 = 50;
/// As Boxoffice's default hold: nothing expires during a run.
pub const DEFAULT_HOLD_SECONDS: u32 = 300;

pub struct Shared {
    pub store: Arc<Store>,
    seats: u32,
    seed: u64,
    hold_secs: u32,
    /// Seat → the client (holder id) the harness saw win it, 0 if none.
    owners: Vec<AtomicI64>,
    double_grants: AtomicU64,
    /// Holds whose release failed even after the run (acknowledged live).
    live: Mutex<Vec<(i32, i64)>>,
    unknown_holds: AtomicU64,
}

async fn client(client: BaselineClient<Shared>) {
    let s = Arc::clone(&client.shared);
    let me = client.index as i64 + 1;
    let mut rng = SmallRng::seed_from_u64(s.seed ^ client.index as u64);
    let mut mine: Vec<i32> = Vec::new();
    while client.running() {
        let seat = rng.gen_range(0..s.seats) as i32;
        match client
            .timed(Op::Hold, s.store.hold(me, &[seat], s.hold_secs))
            .await
        {
            Ok(()) => {
                let slot = &s.owners[seat as usize];
                if slot
                    .compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    s.double_grants.fetch_add(1, Ordering::Relaxed);
                }
                // Cleared before the release is sent: the next winner can only
                // win after the store released it, so never sees us.
                let _ = slot.compare_exchange(me, 0, Ordering::SeqCst, Ordering::SeqCst);
                if client
                    .timed(Op::Cancel, s.store.release(me, &[seat]))
                    .await
                    .is_err()
                {
                    mine.push(seat);
                }
            }
            Err(outcome) if outcome.effect_unknown() => {
                s.unknown_holds.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }
    let mut kept = Vec::new();
    for seat in mine {
        if s.store.release(me, &[seat]).await.is_err() {
            kept.push((seat, me));
        }
    }
    if let Ok(mut live) = s.live.lock() {
        live.extend(kept);
    };
}

pub async fn run(store: Arc<Store>, size: &Size) -> Result<ScenarioRun, String> {
    let seats = size.seats.unwrap_or(DEFAULT_SEATS).max(1);
    let shared = Arc::new(Shared {
        store: Arc::clone(&store),
        seats,
        seed: size.seed,
        hold_secs: size.hold_seconds.unwrap_or(DEFAULT_HOLD_SECONDS),
        owners: (0..seats).map(|_| AtomicI64::new(0)).collect(),
        double_grants: AtomicU64::new(0),
        live: Mutex::new(Vec::new()),
        unknown_holds: AtomicU64::new(0),
    });
    let plan = size.plan();
    let stop = Arc::new(AtomicBool::new(false));
    let observer = super::observe(Arc::clone(&store), plan.window, Arc::clone(&stop));
    let recorder = runner::run(plan, Arc::clone(&shared), stop, client).await;
    let observed = observer.await.map_err(|e| format!("observer: {e}"))?;

    let end = store.final_state().await?;
    let double = shared.double_grants.load(Ordering::Relaxed);
    let unknown = shared.unknown_holds.load(Ordering::Relaxed);
    let live: BTreeSet<(i32, i64)> = shared
        .live
        .lock()
        .map(|l| l.iter().copied().collect())
        .unwrap_or_default();
    let held: BTreeSet<(i32, i64)> = end
        .seats
        .iter()
        .filter_map(|(seat, st)| match st {
            SeatState::Held(h) => Some((*seat, *h)),
            SeatState::Sold(_) => None,
        })
        .collect();
    let sold = end.seats.len() - held.len();
    let missing = live.difference(&held).count();
    let extra = held.difference(&live).count() as u64;
    let checks = vec![
        Check {
            name: "oversell (client view): no seat granted to two clients at once".into(),
            ok: double == 0,
            detail: format!("{double} double grant(s) seen"),
        },
        Check {
            name: "oversell (store): held seats at the end are the holds clients still have".into(),
            ok: missing == 0 && extra <= unknown && sold == 0 && end.seats.iter().all(|(s, _)| (*s as u32) < seats),
            detail: format!(
                "{} held in the store, {} acknowledged live, {missing} of those missing, {extra} extra (≤ {unknown} holds with no answer allowed), {sold} sold",
                held.len(),
                live.len()
            ),
        },
    ];
    let hold = recorder.op(Op::Hold);
    let mut facts = BTreeMap::new();
    facts.insert("seats".into(), json!(seats));
    facts.insert("schedules".into(), json!(1));
    facts.insert(
        "releases".into(),
        json!(recorder.op(Op::Cancel).outcome(Outcome::Ok)),
    );
    facts.insert(
        "wins_per_seat_per_sec".into(),
        json!(
            hold.outcome(Outcome::Ok) as f64
                / recorder.window().length().as_secs_f64()
                / seats as f64
        ),
    );
    observed.into_facts(&mut facts);
    Ok(ScenarioRun {
        elapsed: recorder.window().length(),
        recorder,
        checks,
        facts,
        notes: vec![format!(
            "each client: hold one random seat of {seats}; on a win, release it at once; repeat"
        )],
    })
}
