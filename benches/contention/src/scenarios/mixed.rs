//! `mixed`: a normal busy day over many schedules. Concerts are created
//! through the catalogue (so the concert list has something to list); each
//! client is one funded user who, in a loop, browses (concert list, seat
//! maps), holds seats (best available or chosen ids), pays its oldest hold,
//! cancels a hold or a paid reservation (refunded), and tops up its wallet.
//! Holds last `hold_seconds` (default 5 s), so some expire before payment.
//!
//! Checks: no oversell (engine and clients' view), money against the
//! acknowledgements, no payment stuck, acknowledged payments confirmed.

use boxoffice_actors::catalog_actor::{PriceGrade, VenueSection};
use boxoffice_actors::{NewConcert, NewSchedule, Registry};
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::RowLayout;
use boxoffice_engine::schedule::{ReservationStatus, SeatSelection};
use boxoffice_engine::{Money, Timestamp};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{user, ScenarioRun, Size};
use crate::clients;
use crate::driver::{DriverSpec, Held};
use crate::invariants::{self, Check, MoneyAcks};
use crate::stats::{Op, Outcome};

pub const DEFAULT_SCHEDULES: usize = 16;
pub const DEFAULT_HOLD_SECONDS: u32 = 5;
const SCHEDULES_PER_CONCERT: usize = 4;
/// The venue: (section, rows, seats per row, price), best first: 490 seats.
const SECTIONS: [(&str, u32, u32, i64); 4] = [
    ("VIP", 2, 20, 150_000),
    ("R", 4, 25, 100_000),
    ("S", 6, 25, 70_000),
    ("A", 8, 25, 40_000),
];
const FUNDING: i64 = 2_000_000;
const KIND: u8 = 3;
const DAY_MS: i64 = 86_400_000;

struct Shared {
    schedules: Vec<ScheduleId>,
    seed: u64,
    acks: MoneyAcks,
    /// Reservations clients were told are paid and did not cancel.
    paid: Mutex<Vec<(ScheduleId, ReservationId, Vec<String>)>>,
    unknown_holds: AtomicU64,
}

async fn create_catalogue(
    registry: &Registry,
    schedules: usize,
    hold_seconds: u32,
) -> Result<Vec<ScheduleId>, String> {
    let sections = SECTIONS
        .iter()
        .map(|(id, rows, seats, _)| VenueSection {
            section_id: id.to_string(),
            name: format!("Section {id}"),
            rows: (1..=*rows)
                .map(|r| RowLayout {
                    row: r.to_string(),
                    seats: *seats,
                })
                .collect(),
        })
        .collect();
    let venue = registry
        .create_venue("Harness Arena".into(), "1 Benchmark Road".into(), sections)
        .await
        .map_err(|e| format!("create venue: {e}"))?;
    let now = registry.context().clock.now();
    let mut ids = Vec::new();
    let concerts = schedules.div_ceil(SCHEDULES_PER_CONCERT);
    for c in 0..concerts {
        let in_this = SCHEDULES_PER_CONCERT.min(schedules - ids.len());
        let new = NewConcert {
            title: format!("Harness Concert {c}"),
            description: "created by the contention harness".into(),
            category: "ROCK".into(),
            venue_id: venue.venue_id,
            price_grades: SECTIONS
                .iter()
                .map(|(id, _, _, price)| PriceGrade {
                    grade: id.to_string(),
                    price: Money(*price),
                    section_ids: vec![id.to_string()],
                })
                .collect(),
            schedules: (0..in_this)
                .map(|d| {
                    let starts = now.plus_millis(DAY_MS * (30 + d as i64));
                    NewSchedule {
                        starts_at: starts,
                        ends_at: starts.plus_millis(3 * 3_600_000),
                        booking_opens_at: Timestamp(now.0 - DAY_MS),
                        booking_closes_at: starts.plus_millis(-DAY_MS),
                        queue: None,
                    }
                })
                .collect(),
            max_seats_per_user: 4,
            hold_seconds,
            queue: None,
        };
        let concert = registry
            .create_concert(new)
            .await
            .map_err(|e| format!("create concert: {e}"))?;
        ids.extend(concert.schedules.iter().map(|s| s.schedule_id));
    }
    Ok(ids)
}

pub async fn run(
    registry: &Arc<Registry>,
    driver: &DriverSpec,
    size: &Size,
) -> Result<ScenarioRun, String> {
    let hold_seconds = size.hold_seconds.unwrap_or(DEFAULT_HOLD_SECONDS);
    let schedules = create_catalogue(registry, size.schedules.max(1), hold_seconds).await?;
    let shared = Arc::new(Shared {
        schedules,
        seed: size.seed,
        acks: MoneyAcks::default(),
        paid: Mutex::new(Vec::new()),
        unknown_holds: AtomicU64::new(0),
    });
    let funded = super::in_batches(size.clients, 1_000, |n| {
        let registry = Arc::clone(registry);
        async move {
            registry
                .charge(user(KIND, n as u64), Money(FUNDING), None)
                .await
                .is_ok()
        }
    })
    .await;
    let funded = funded.into_iter().filter(|ok| *ok).count() as i64;
    MoneyAcks::add(&shared.acks.charged, funded * FUNDING);

    let recorder = clients::run(
        driver,
        size.plan(),
        Arc::clone(&shared),
        Arc::new(AtomicBool::new(false)),
        shopper,
    )
    .await;

    let state = invariants::export(registry).await?;
    let mut checks = invariants::check_schedules(&state);
    checks.extend(invariants::check_money(&state, &shared.acks));
    let paid = shared.paid.lock().map(|p| p.clone()).unwrap_or_default();
    let seats: Vec<_> = paid
        .iter()
        .map(|(s, _, seats)| (*s, seats.clone()))
        .collect();
    checks.push(invariants::check_paid_seats(&seats));
    let confirmed: HashMap<ReservationId, bool> = state
        .schedules
        .values()
        .flat_map(|s| s.schedule.reservations())
        .map(|r| {
            (
                r.id,
                matches!(r.status, ReservationStatus::Confirmed { .. }),
            )
        })
        .collect();
    let not_confirmed = paid
        .iter()
        .filter(|(_, id, _)| confirmed.get(id) != Some(&true))
        .count();
    checks.push(Check {
        name: "acknowledged = durable: acknowledged payments are confirmed".into(),
        ok: not_confirmed == 0,
        detail: format!(
            "{} paid and not cancelled by their clients, {not_confirmed} not CONFIRMED in the engine",
            paid.len()
        ),
    });
    let counts = invariants::reservation_counts(&state);
    let mut facts = std::collections::BTreeMap::new();
    facts.insert("schedules".into(), json!(shared.schedules.len()));
    facts.insert(
        "seats_per_schedule".into(),
        json!(SECTIONS.iter().map(|s| s.1 * s.2).sum::<u32>()),
    );
    facts.insert("users".into(), json!(size.clients));
    facts.insert(
        "reservations_expired".into(),
        json!(counts.get("expired").copied().unwrap_or(0)),
    );
    facts.insert("reservations_by_status".into(), json!(counts));
    facts.insert(
        "holds_without_answer".into(),
        json!(shared.unknown_holds.load(Ordering::Relaxed)),
    );
    Ok(ScenarioRun {
        elapsed: recorder.window().length(),
        recorder,
        checks,
        facts,
        notes: vec![
            "each client is one funded user; per step: 15% concert list, 20% seat map, 35% hold, 15% pay, 10% cancel, 5% charge".into(),
        ],
    })
}

fn random_seats(rng: &mut SmallRng) -> SeatSelection {
    if rng.gen_bool(0.5) {
        return SeatSelection::BestAvailable {
            quantity: rng.gen_range(1..=2),
            grade: None,
            section_id: None,
        };
    }
    let (section, rows, per_row, _) = SECTIONS[rng.gen_range(0..SECTIONS.len())];
    let row = rng.gen_range(1..=rows);
    let first = rng.gen_range(1..per_row);
    let count = rng.gen_range(1..=2);
    SeatSelection::Ids(
        (first..first + count)
            .map(|n| format!("{section}-{row}-{n}"))
            .collect(),
    )
}

async fn shopper(client: clients::Client<Shared>) {
    let s = Arc::clone(&client.shared);
    let me = user(KIND, client.index as u64);
    let mut rng = SmallRng::seed_from_u64(s.seed ^ (client.index as u64).wrapping_mul(0x2545_F491));
    let mut held: Vec<(ScheduleId, Held)> = Vec::new();
    let mut paid: Vec<(ScheduleId, Held)> = Vec::new();
    let unknown = |acks: &MoneyAcks| acks.unknown_requests.fetch_add(1, Ordering::Relaxed);
    while client.running() {
        let schedule = s.schedules[rng.gen_range(0..s.schedules.len())];
        match rng.gen_range(0..100) {
            0..=14 => {
                let _ = client.timed(Op::Concerts, client.driver.concerts()).await;
            }
            15..=34 => {
                let section = rng
                    .gen_bool(0.7)
                    .then(|| SECTIONS[rng.gen_range(0..SECTIONS.len())].0);
                let _ = client
                    .timed(Op::SeatMap, client.driver.seat_map(me, schedule, section))
                    .await;
            }
            35..=69 => {
                let selection = random_seats(&mut rng);
                match client
                    .timed(Op::Hold, client.driver.hold(me, schedule, selection, None))
                    .await
                {
                    Ok(h) => held.push((schedule, h)),
                    Err(o) if o.effect_unknown() => {
                        s.unknown_holds.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {}
                }
            }
            70..=84 => {
                if held.is_empty() {
                    continue;
                }
                let (schedule, h) = held.remove(0);
                match client
                    .timed(Op::Pay, client.driver.pay(me, h.reservation_id, None))
                    .await
                {
                    Ok(amount) => {
                        MoneyAcks::add(&s.acks.paid, amount);
                        paid.push((schedule, h));
                    }
                    Err(o) if o.effect_unknown() || o == Outcome::Unavailable => {
                        unknown(&s.acks);
                        MoneyAcks::add(&s.acks.unknown_paid, h.amount);
                    }
                    Err(_) => {}
                }
            }
            85..=94 => {
                let from_paid = rng.gen_bool(0.5);
                let list = if from_paid { &mut paid } else { &mut held };
                if list.is_empty() {
                    continue;
                }
                let (schedule, h) = list.swap_remove(rng.gen_range(0..list.len()));
                match client
                    .timed(Op::Cancel, client.driver.cancel(me, h.reservation_id))
                    .await
                {
                    Ok(refund) => MoneyAcks::add(&s.acks.refunded, refund),
                    Err(o) if from_paid && (o.effect_unknown() || o == Outcome::Unavailable) => {
                        unknown(&s.acks);
                        MoneyAcks::add(&s.acks.unknown_refund, h.amount);
                    }
                    // Still paid (the cancel was refused): keep it in the client's view.
                    Err(_) if from_paid => paid.push((schedule, h)),
                    Err(_) => {}
                }
            }
            _ => {
                let amount = rng.gen_range(1..=5) * 10_000;
                match client
                    .timed(Op::Charge, client.driver.charge(me, amount))
                    .await
                {
                    Ok(()) => MoneyAcks::add(&s.acks.charged, amount),
                    Err(o) if o.effect_unknown() || o == Outcome::Unavailable => {
                        unknown(&s.acks);
                        MoneyAcks::add(&s.acks.unknown_charge, amount);
                    }
                    Err(_) => {}
                }
            }
        }
    }
    if let Ok(mut all) = s.paid.lock() {
        all.extend(
            paid.into_iter()
                .map(|(schedule, h)| (schedule, h.reservation_id, h.seats)),
        );
    };
}
