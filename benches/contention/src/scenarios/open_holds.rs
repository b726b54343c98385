//! `open-holds`: the successful-hold rate when there is room. Many schedules
//! with many seats, 1-second holds that expire by themselves, and each client
//! cycling over several users so nobody reaches the per-user seat limit: most
//! attempts should succeed (201), refusals (409) are reported apart. This is
//! the scenario the issue's HTTP target names ("durable holds at >= 50% of an
//! actix-web hello world's requests/s").
//!
//! Checks: every schedule's seats and reservations, and that the engine holds
//! exactly the reservations clients were told about (plus at most the holds
//! whose answer was lost). Boxoffice only (it needs best-available).

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::{SeatSelection, MAX_SEATS_PER_USER_LIMIT, MIN_HOLD_MS};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{schedule_id, ScenarioRun, Size};
use crate::clients;
use crate::stats::{Op, Outcome};
use crate::target::{Claims, Client, NewSchedule, Seats, Target, User};

pub const DEFAULT_SCHEDULES: usize = 64;
/// Seats per schedule: 4 sections × 25 rows × 100.
pub const DEFAULT_SEATS: u32 = 10_000;
/// Users each client cycles over.
const USERS_PER_CLIENT: u64 = 8;
const KIND: u8 = 4;

struct Shared {
    schedules: Vec<ScheduleId>,
    won: AtomicU64,
    unknown: AtomicU64,
}

pub async fn run<T: Target>(target: &Arc<T>, size: &Size) -> Result<ScenarioRun, String> {
    if !target.features().best_available {
        return Err(format!(
            "open-holds needs best-available, which {} has not",
            target.system()
        ));
    }
    let count = size.schedules.max(1);
    let seats = size.seats.unwrap_or(DEFAULT_SEATS).max(100);
    let hold_ms = size
        .hold_seconds
        .map_or(MIN_HOLD_MS, |s| i64::from(s) * 1_000);
    let layout = Seats {
        sections: 4,
        rows: (seats / 400).max(1),
        per_row: 100,
    };
    let mut schedules = Vec::new();
    for n in 0..count {
        let schedule = NewSchedule {
            id: schedule_id(KIND, n as u64),
            seats: layout,
            hold_ms: Some(hold_ms),
            max_seats_per_user: Some(MAX_SEATS_PER_USER_LIMIT),
            queue: None,
            pre_queue_seconds: None,
            booking_opens_in_ms: None,
        };
        schedules.push(target.create_schedule(schedule).await?);
    }
    let shared = Arc::new(Shared {
        schedules,
        won: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
    });
    let recorder = clients::run(
        clients::connect(target),
        size.plan(),
        Arc::clone(&shared),
        Arc::new(AtomicBool::new(false)),
        client,
    )
    .await?;
    // Open loop: clients late at the deadline still send what was due in
    // the window (up to `clients::MAX_DRAIN`), so the rates are over the
    // window and that drain: over the window alone they would count a
    // backlog's requests as served within it. Closed loop: the window, as
    // every scenario.
    let window = recorder.window();
    let elapsed = match size.rate {
        Some(_) => window.length().max(window.from.elapsed()),
        None => window.length(),
    };

    let (won, unknown) = (
        shared.won.load(Ordering::Relaxed),
        shared.unknown.load(Ordering::Relaxed),
    );
    let verdict = target
        .verify(&Claims {
            holds_made: Some((won, unknown)),
            ..Claims::default()
        })
        .await?;
    let mut facts = verdict.facts;
    facts.insert("schedules".into(), json!(count));
    facts.insert("seats_per_schedule".into(), json!(layout.capacity()));
    facts.insert("hold_ms".into(), json!(hold_ms));
    let hold = recorder.op(Op::Hold);
    let ratio = hold.outcome(Outcome::Ok) as f64 / hold.count().max(1) as f64;
    facts.insert("hold_success_ratio".into(), json!(ratio));
    // Open loop: the rate asked, and the one achieved (requests due in the
    // window and answered, over the window and the drain; short of the
    // asked one if the clients could not keep up).
    let elapsed_s = elapsed.as_secs_f64().max(f64::EPSILON);
    facts.insert(
        "load".into(),
        json!(if size.rate.is_some() {
            "open"
        } else {
            "closed"
        }),
    );
    facts.insert("rate_asked_per_s".into(), json!(size.rate));
    facts.insert(
        "rate_achieved_per_s".into(),
        json!(hold.count() as f64 / elapsed_s),
    );
    Ok(ScenarioRun {
        elapsed,
        recorder,
        checks: verdict.checks,
        facts,
        notes: vec![
            format!(
                "each client: hold 1 best-available seat, schedules round-robin over {count}, {USERS_PER_CLIENT} users per client; holds expire after {hold_ms} ms"
            ),
            match size.rate {
                Some(rate) => format!(
                    "open loop: {rate} requests/s in all, each client's due on a fixed schedule, latency from the due time (a stall counts for every request due during it)"
                ),
                None => "closed loop: each client sends when answered".into(),
            },
        ],
        timeline: Vec::new(),
    })
}

async fn client<C: Client>(client: clients::Client<Shared, C>) {
    let s = Arc::clone(&client.shared);
    let mut turn = client.index;
    let (mut won, mut unknown) = (0u64, 0u64);
    while client.running() {
        turn += 1;
        let schedule = s.schedules[turn % s.schedules.len()];
        let who = User::new(
            KIND,
            client.index as u64 * USERS_PER_CLIENT + turn as u64 % USERS_PER_CLIENT,
        );
        let selection = SeatSelection::BestAvailable {
            quantity: 1,
            grade: None,
            section_id: None,
        };
        match client
            .timed(Op::Hold, client.api.hold(who, schedule, selection, None))
            .await
        {
            Ok(_) => won += 1,
            Err(outcome) if outcome.effect_unknown() => unknown += 1,
            Err(_) => {}
        }
    }
    s.won.fetch_add(won, Ordering::Relaxed);
    s.unknown.fetch_add(unknown, Ordering::Relaxed);
}
