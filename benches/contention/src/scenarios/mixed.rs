//! `mixed`: a normal busy day over many schedules. Concerts are created
//! through the catalogue (so the concert list has something to list); each
//! client is one funded user who, in a loop, browses (concert list, seat
//! maps), holds seats (best available or chosen ids), pays its oldest hold,
//! cancels a hold or a paid reservation (refunded), and tops up its wallet.
//! Holds last `hold_seconds` (default 5 s), so some expire before payment.
//!
//! Checks: no oversell (engine and clients' view), money against the
//! acknowledgements, no payment stuck, acknowledged payments confirmed.
//! Boxoffice only: it needs the catalogue ([`crate::target::Features`]).

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::SeatSelection;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{ScenarioRun, Size};
use crate::clients;
use crate::invariants::MoneyAcks;
use crate::stats::{Op, Outcome};
use crate::target::{Claims, Client, Held, Paid, Target, User, VenueSpec};

pub const DEFAULT_SCHEDULES: usize = 16;
pub const DEFAULT_HOLD_SECONDS: u32 = 5;
/// The venue: (section, rows, seats per row, price), best first: 490 seats.
const SECTIONS: [VenueSpec; 4] = [
    ("VIP", 2, 20, 150_000),
    ("R", 4, 25, 100_000),
    ("S", 6, 25, 70_000),
    ("A", 8, 25, 40_000),
];
const FUNDING: i64 = 2_000_000;
const KIND: u8 = 3;

struct Shared {
    schedules: Vec<ScheduleId>,
    seed: u64,
    acks: Arc<MoneyAcks>,
    /// Reservations clients were told are paid and did not cancel.
    paid: Mutex<Vec<Paid>>,
    unknown_holds: AtomicU64,
}

pub async fn run<T: Target>(target: &Arc<T>, size: &Size) -> Result<ScenarioRun, String> {
    if !target.features().catalogue {
        return Err(format!(
            "mixed needs a catalogue, which {} has not",
            target.system()
        ));
    }
    let hold_seconds = size.hold_seconds.unwrap_or(DEFAULT_HOLD_SECONDS);
    let schedules = target
        .create_catalogue(&SECTIONS, size.schedules.max(1), hold_seconds)
        .await?;
    let shared = Arc::new(Shared {
        schedules,
        seed: size.seed,
        acks: Arc::new(MoneyAcks::default()),
        paid: Mutex::new(Vec::new()),
        unknown_holds: AtomicU64::new(0),
    });
    let funded = target.fund(KIND, size.clients, FUNDING).await? as i64;
    MoneyAcks::add(&shared.acks.charged, funded * FUNDING);

    let recorder = clients::run(
        clients::connect(target),
        size.plan(),
        Arc::clone(&shared),
        Arc::new(AtomicBool::new(false)),
        shopper,
    )
    .await?;

    let paid = shared.paid.lock().map(|p| p.clone()).unwrap_or_default();
    let verdict = target
        .verify(&Claims {
            paid: Some((paid, 0)),
            money: Some(Arc::clone(&shared.acks)),
            ..Claims::default()
        })
        .await?;
    let mut facts = verdict.facts;
    facts.insert("schedules".into(), json!(shared.schedules.len()));
    facts.insert(
        "seats_per_schedule".into(),
        json!(SECTIONS.iter().map(|s| s.1 * s.2).sum::<u32>()),
    );
    facts.insert("users".into(), json!(size.clients));
    facts.insert(
        "holds_without_answer".into(),
        json!(shared.unknown_holds.load(Ordering::Relaxed)),
    );
    Ok(ScenarioRun {
        elapsed: recorder.window().length(),
        recorder,
        checks: verdict.checks,
        facts,
        notes: vec![
            "each client is one funded user; per step: 15% concert list, 20% seat map, 35% hold, 15% pay, 10% cancel, 5% charge".into(),
        ],
        timeline: Vec::new(),
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

async fn shopper<C: Client>(client: clients::Client<Shared, C>) {
    let s = Arc::clone(&client.shared);
    let me = User::new(KIND, client.index as u64);
    let mut rng = SmallRng::seed_from_u64(s.seed ^ (client.index as u64).wrapping_mul(0x2545_F491));
    let mut held: Vec<(ScheduleId, Held)> = Vec::new();
    let mut paid: Vec<(ScheduleId, Held)> = Vec::new();
    let unknown = |acks: &MoneyAcks| acks.unknown_requests.fetch_add(1, Ordering::Relaxed);
    while client.running() {
        let schedule = s.schedules[rng.gen_range(0..s.schedules.len())];
        match rng.gen_range(0..100) {
            0..=14 => {
                let _ = client.timed(Op::Concerts, client.api.concerts()).await;
            }
            15..=34 => {
                let section = rng
                    .gen_bool(0.7)
                    .then(|| SECTIONS[rng.gen_range(0..SECTIONS.len())].0);
                let _ = client
                    .timed(Op::SeatMap, client.api.seat_map(me, schedule, section))
                    .await;
            }
            35..=69 => {
                let selection = random_seats(&mut rng);
                match client
                    .timed(Op::Hold, client.api.hold(me, schedule, selection, None))
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
                match client.timed(Op::Pay, client.api.pay(me, &h, None)).await {
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
                match client.timed(Op::Cancel, client.api.cancel(me, &h)).await {
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
                    .timed(Op::Charge, client.api.charge(me, amount))
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
        all.extend(paid.into_iter().map(|(schedule, h)| (schedule, me, h)));
    };
}
