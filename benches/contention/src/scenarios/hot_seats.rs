//! `hot-seats`: N clients storm the seats (default 50) of one schedule. Each
//! client picks a random seat, tries to hold it, and when it wins releases it
//! at once (cancels its own hold), then goes again: the worst contention a
//! schedule can see, all on one actor.
//!
//! Checks: the schedule's seats and reservations (no oversell), and that the
//! holds clients still believe they have are exactly the live ones.

use boxoffice_actors::Registry;
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::schedule::{ScheduleRules, SeatSelection};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{schedule_id, user, ScenarioRun, Size};
use crate::clients;
use crate::driver::DriverSpec;
use crate::invariants;
use crate::stats::{Op, Outcome};

pub const DEFAULT_SEATS: u32 = 50;
const KIND: u8 = 1;

struct Shared {
    schedule: ScheduleId,
    seats: u32,
    seed: u64,
    /// Holds clients still had when they stopped (won, not released).
    live: Mutex<Vec<ReservationId>>,
    unknown_holds: AtomicU64,
}

pub async fn run(
    registry: &Arc<Registry>,
    driver: &DriverSpec,
    size: &Size,
) -> Result<ScenarioRun, String> {
    let seats = size.seats.unwrap_or(DEFAULT_SEATS);
    let per_row = seats.min(boxoffice_engine::layout::MAX_SEATS_PER_ROW);
    let rows = seats.div_ceil(per_row) as usize;
    let schedule = schedule_id(KIND, 0);
    registry
        .create_schedule(boxoffice_actors::ScheduleSpec {
            schedule_id: schedule,
            layout: SeatLayout::uniform(1, rows, per_row),
            rules: ScheduleRules::default(),
            queue: None,
        })
        .await
        .map_err(|e| format!("create schedule: {e}"))?;
    let shared = Arc::new(Shared {
        schedule,
        seats: rows as u32 * per_row,
        seed: size.seed,
        live: Mutex::new(Vec::new()),
        unknown_holds: AtomicU64::new(0),
    });
    let plan = size.plan();
    let recorder = clients::run(
        driver,
        plan,
        Arc::clone(&shared),
        Arc::new(AtomicBool::new(false)),
        |client| async move {
            let s = Arc::clone(&client.shared);
            let me = user(KIND, client.index as u64);
            let mut rng = SmallRng::seed_from_u64(s.seed ^ client.index as u64);
            let per_row = s.seats.min(boxoffice_engine::layout::MAX_SEATS_PER_ROW);
            let mut mine: Vec<ReservationId> = Vec::new();
            while client.running() {
                let n = rng.gen_range(0..s.seats);
                let seat = format!("S0-{}-{}", n / per_row + 1, n % per_row + 1);
                let hold = client
                    .timed(
                        Op::Hold,
                        client
                            .driver
                            .hold(me, s.schedule, SeatSelection::Ids(vec![seat]), None),
                    )
                    .await;
                match hold {
                    Ok(held) => {
                        let cancel = client
                            .timed(Op::Cancel, client.driver.cancel(me, held.reservation_id))
                            .await;
                        if cancel.is_err() {
                            mine.push(held.reservation_id);
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
            for reservation in mine {
                if client.driver.cancel(me, reservation).await.is_err() {
                    kept.push(reservation);
                }
            }
            if let Ok(mut live) = s.live.lock() {
                live.extend(kept);
            };
        },
    )
    .await;

    let state = invariants::export(registry).await?;
    let mut checks = invariants::check_schedules(&state);
    let live = shared.live.lock().map(|l| l.clone()).unwrap_or_default();
    checks.push(invariants::check_live_holds(
        &state,
        &live,
        shared.unknown_holds.load(Ordering::Relaxed),
    ));
    let hold = recorder.op(Op::Hold);
    let mut facts = std::collections::BTreeMap::new();
    facts.insert("seats".into(), json!(shared.seats));
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
                / shared.seats as f64
        ),
    );
    Ok(ScenarioRun {
        elapsed: recorder.window().length(),
        recorder,
        checks,
        facts,
        notes: vec![format!(
            "each client: hold one random seat of {}; on a win, cancel it at once; repeat",
            shared.seats
        )],
    })
}
