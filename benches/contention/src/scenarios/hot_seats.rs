//! `hot-seats`: N clients storm the seats (default 50) of one schedule. Each
//! client picks a random seat, tries to hold it, and when it wins releases it
//! at once (cancels its own hold), then goes again: the worst contention a
//! schedule can see, all on one actor (or on one table / key range).
//!
//! Checks, besides the target's own (for Boxoffice: the schedule's seats and
//! reservations): while running, each seat has an owner slot in the harness
//! that a winner claims, so a claim that finds another owner means the
//! target granted one seat to two clients at once; at the end, the holds the
//! target still has must be exactly the holds clients still believe they
//! have (plus at most the holds whose answer was lost).

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::SeatSelection;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{schedule_id, ScenarioRun, Size};
use crate::clients;
use crate::invariants::Check;
use crate::stats::{Op, Outcome};
use crate::target::{self, Claims, Client, Held, NewSchedule, Seats, Target, User};

pub const DEFAULT_SEATS: u32 = 50;
const KIND: u8 = 1;

struct Shared {
    schedule: ScheduleId,
    seats: Seats,
    seed: u64,
    /// Seat → the client (index + 1) the harness saw win it, 0 if none.
    owners: Vec<AtomicU64>,
    double_grants: AtomicU64,
    /// Holds clients still had when they stopped (won, not released).
    live: Mutex<Vec<(User, Held)>>,
    unknown_holds: AtomicU64,
}

pub async fn run<T: Target>(target: &Arc<T>, size: &Size) -> Result<ScenarioRun, String> {
    let wanted = size.seats.unwrap_or(DEFAULT_SEATS).max(1);
    let per_row = wanted.min(boxoffice_engine::layout::MAX_SEATS_PER_ROW);
    let seats = Seats {
        sections: 1,
        rows: wanted.div_ceil(per_row),
        per_row,
    };
    let schedule = target
        .create_schedule(NewSchedule {
            id: schedule_id(KIND, 0),
            seats,
            hold_ms: size.hold_seconds.map(|s| i64::from(s) * 1_000),
            max_seats_per_user: None,
            queue: None,
            pre_queue_seconds: None,
            booking_opens_in_ms: None,
        })
        .await?;
    let shared = Arc::new(Shared {
        schedule,
        seats,
        seed: size.seed,
        owners: (0..seats.capacity()).map(|_| AtomicU64::new(0)).collect(),
        double_grants: AtomicU64::new(0),
        live: Mutex::new(Vec::new()),
        unknown_holds: AtomicU64::new(0),
    });
    let plan = size.plan();
    let stop = Arc::new(AtomicBool::new(false));
    let observer = target.observe(plan.window, Arc::clone(&stop));
    let recorder = clients::run(
        clients::connect(target),
        plan,
        Arc::clone(&shared),
        stop,
        client,
    )
    .await?;
    let observed = target::observed(observer).await?;

    let live = shared.live.lock().map(|l| l.clone()).unwrap_or_default();
    let unknown = shared.unknown_holds.load(Ordering::Relaxed);
    let verdict = target
        .verify(&Claims {
            live_holds: Some((live, unknown)),
            ..Claims::default()
        })
        .await?;
    let double = shared.double_grants.load(Ordering::Relaxed);
    let mut checks = vec![Check {
        name: "oversell (client view): no seat granted to two clients at once".into(),
        ok: double == 0,
        detail: format!("{double} double grant(s) seen"),
    }];
    checks.extend(verdict.checks);
    let hold = recorder.op(Op::Hold);
    let mut facts = verdict.facts;
    facts.insert("seats".into(), json!(seats.capacity()));
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
                / f64::from(seats.capacity())
        ),
    );
    facts.extend(observed);
    Ok(ScenarioRun {
        elapsed: recorder.window().length(),
        recorder,
        checks,
        facts,
        notes: vec![format!(
            "each client: hold one random seat of {}; on a win, release it at once; repeat",
            seats.capacity()
        )],
        timeline: Vec::new(),
    })
}

async fn client<C: Client>(client: clients::Client<Shared, C>) {
    let s = Arc::clone(&client.shared);
    let me = User::new(KIND, client.index as u64);
    let owner = client.index as u64 + 1;
    let mut rng = SmallRng::seed_from_u64(s.seed ^ client.index as u64);
    let mut mine: Vec<Held> = Vec::new();
    while client.running() {
        let n = rng.gen_range(0..s.seats.capacity());
        let selection = SeatSelection::Ids(vec![s.seats.name(n)]);
        let hold = client
            .timed(Op::Hold, client.api.hold(me, s.schedule, selection, None))
            .await;
        match hold {
            Ok(held) => {
                let slot = &s.owners[n as usize];
                if slot
                    .compare_exchange(0, owner, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    s.double_grants.fetch_add(1, Ordering::Relaxed);
                }
                // Cleared before the release is sent: the next winner can only
                // win after the target released it, so never sees us.
                let _ = slot.compare_exchange(owner, 0, Ordering::SeqCst, Ordering::SeqCst);
                let cancel = client.timed(Op::Cancel, client.api.cancel(me, &held)).await;
                if cancel.is_err() {
                    mine.push(held);
                }
            }
            Err(outcome) if outcome.effect_unknown() => {
                s.unknown_holds.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }
    // Holds whose release failed: release them now so the seats are free,
    // keeping the ones that still refuse as "acknowledged live".
    let mut kept = Vec::new();
    for held in mine {
        if client.api.cancel(me, &held).await.is_err() {
            kept.push((me, held));
        }
    }
    if let Ok(mut live) = s.live.lock() {
        live.extend(kept);
    };
}
