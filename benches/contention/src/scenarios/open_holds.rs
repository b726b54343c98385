//! `open-holds`: the successful-hold rate when there is room. Many schedules
//! with many seats, 1-second holds that expire by themselves, and each client
//! cycling over several users so nobody reaches the per-user seat limit: most
//! attempts should succeed (201), refusals (409) are reported apart. This is
//! the scenario the issue's HTTP target names ("durable holds at >= 50% of an
//! actix-web hello world's requests/s").
//!
//! Checks: every schedule's seats and reservations, and that the engine holds
//! exactly the reservations clients were told about (plus at most the holds
//! whose answer was lost).

use boxoffice_actors::{Registry, ScheduleSpec};
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::schedule::{ScheduleRules, SeatSelection, MIN_HOLD_MS};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{schedule_id, user, ScenarioRun, Size};
use crate::clients;
use crate::driver::DriverSpec;
use crate::invariants;
use crate::stats::{Op, Outcome};

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

pub async fn run(
    registry: &Arc<Registry>,
    driver: &DriverSpec,
    size: &Size,
) -> Result<ScenarioRun, String> {
    let count = size.schedules.max(1);
    let seats = size.seats.unwrap_or(DEFAULT_SEATS).max(100);
    let hold_ms = size
        .hold_seconds
        .map_or(MIN_HOLD_MS, |s| i64::from(s) * 1_000);
    let layout = SeatLayout::uniform(4, (seats / 400).max(1) as usize, 100);
    let seats_each: u32 = layout
        .sections
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| r.seats)
        .sum();
    let mut schedules = Vec::new();
    for n in 0..count {
        let spec = ScheduleSpec {
            schedule_id: schedule_id(KIND, n as u64),
            layout: layout.clone(),
            rules: ScheduleRules {
                hold_ms,
                max_seats_per_user: boxoffice_engine::schedule::MAX_SEATS_PER_USER_LIMIT,
                ..ScheduleRules::default()
            },
            queue: None,
        };
        schedules.push(
            registry
                .create_schedule(spec)
                .await
                .map_err(|e| format!("create schedule: {e}"))?,
        );
    }
    let shared = Arc::new(Shared {
        schedules,
        won: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
    });
    let recorder = clients::run(
        driver,
        size.plan(),
        Arc::clone(&shared),
        Arc::new(AtomicBool::new(false)),
        |client| async move {
            let s = Arc::clone(&client.shared);
            let mut turn = client.index;
            let (mut won, mut unknown) = (0u64, 0u64);
            while client.running() {
                turn += 1;
                let schedule = s.schedules[turn % s.schedules.len()];
                let who = user(
                    KIND,
                    client.index as u64 * USERS_PER_CLIENT + turn as u64 % USERS_PER_CLIENT,
                );
                let selection = SeatSelection::BestAvailable {
                    quantity: 1,
                    grade: None,
                    section_id: None,
                };
                match client
                    .timed(Op::Hold, client.driver.hold(who, schedule, selection, None))
                    .await
                {
                    Ok(_) => won += 1,
                    Err(outcome) if outcome.effect_unknown() => unknown += 1,
                    Err(_) => {}
                }
            }
            s.won.fetch_add(won, Ordering::Relaxed);
            s.unknown.fetch_add(unknown, Ordering::Relaxed);
        },
    )
    .await;

    let state = invariants::export(registry).await?;
    let mut checks = invariants::check_schedules(&state);
    let total: u64 = state
        .schedules
        .values()
        // Ended reservations may have moved to the archive: count them too.
        .map(|s| s.reservations_made())
        .sum();
    let (won, unknown) = (
        shared.won.load(Ordering::Relaxed),
        shared.unknown.load(Ordering::Relaxed),
    );
    checks.push(invariants::Check {
        name: "acknowledged = durable: reservations == acknowledged holds".into(),
        ok: total >= won && total <= won + unknown,
        detail: format!("{total} reservations in the engine, {won} holds acknowledged, {unknown} without an answer"),
    });
    let counts = invariants::reservation_counts(&state);
    let mut facts = std::collections::BTreeMap::new();
    facts.insert("schedules".into(), json!(count));
    facts.insert("seats_per_schedule".into(), json!(seats_each));
    facts.insert("hold_ms".into(), json!(hold_ms));
    facts.insert(
        "reservations_expired".into(),
        json!(counts.get("expired").copied().unwrap_or(0)),
    );
    let hold = recorder.op(Op::Hold);
    let ratio = hold.outcome(Outcome::Ok) as f64 / hold.count().max(1) as f64;
    facts.insert("hold_success_ratio".into(), json!(ratio));
    Ok(ScenarioRun {
        elapsed: recorder.window().length(),
        recorder,
        checks,
        facts,
        notes: vec![format!(
            "each client: hold 1 best-available seat, schedules round-robin over {count}, {USERS_PER_CLIENT} users per client; holds expire after {hold_ms} ms"
        )],
    })
}
