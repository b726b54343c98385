//! Money is conserved across thousands of random, concurrent operations over
//! many users and schedules: charges (valid and invalid), holds, payments
//! (funded and not), cancellations with refunds, and expiries. At the end,
//! per wallet and in total: balance = charges − payments + refunds, where the
//! right-hand side is summed from the operations the engine acknowledged; and
//! what the wallets spent, net of refunds, is exactly what confirmed seats cost.

use boxoffice_actors::audit;
use boxoffice_actors::schedule_actor::ExpireNow;
use boxoffice_actors::{EngineError, HoldCommand, ManualClock, PayCommand, Registry};
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::schedule::{ReservationStatus, ScheduleRules, SeatSelection};
use boxoffice_engine::Money;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex};
use test_support::engine::*;

const USERS: u64 = 30;
const SCHEDULES: u64 = 4;
const ROUNDS: usize = 40;
const OPS_PER_ROUND: usize = 100;

#[derive(Default)]
struct Acknowledged {
    charged: i64,
    paid: i64,
    refunded: i64,
    held: Vec<(UserId, ReservationId)>,
    bought: Vec<(UserId, ReservationId)>,
}

async fn random_op(
    registry: Arc<Registry>,
    schedules: Arc<Vec<ScheduleId>>,
    seed: u64,
    acks: Arc<Mutex<Acknowledged>>,
) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let user = user(rng.gen_range(0..USERS));
    let take = |list: &mut Vec<(UserId, ReservationId)>, rng: &mut SmallRng| {
        (!list.is_empty()).then(|| list.swap_remove(rng.gen_range(0..list.len())))
    };
    match rng.gen_range(0..100) {
        0..=24 => {
            let amount = Money(
                *[0, -1, 5_000, 20_000, 50_000, 10_000_001, i64::MAX]
                    .get(rng.gen_range(0..7))
                    .unwrap_or(&0),
            );
            match registry.charge(user, amount, None).await {
                Ok(receipt) => acks.lock().unwrap().charged += receipt.amount.0,
                Err(EngineError::InvalidAmount | EngineError::ChargeLimitExceeded) => {}
                Err(other) => panic!("charge: {other:?}"),
            }
        }
        25..=59 => {
            let schedule_id = schedules[rng.gen_range(0..schedules.len())];
            let selection = if rng.gen_bool(0.5) {
                SeatSelection::BestAvailable {
                    quantity: rng.gen_range(1..=3),
                    grade: None,
                    section_id: None,
                }
            } else {
                SeatSelection::Ids(vec![format!(
                    "S{}-{}-{}",
                    rng.gen_range(0..2),
                    rng.gen_range(1..=3),
                    rng.gen_range(1..=10)
                )])
            };
            match registry
                .hold(
                    user,
                    HoldCommand {
                        schedule_id,
                        selection,
                        queue_token: None,
                        idem: None,
                    },
                )
                .await
            {
                Ok(receipt) => acks
                    .lock()
                    .unwrap()
                    .held
                    .push((user, receipt.reservation_id)),
                Err(EngineError::SeatUnavailable(_) | EngineError::SeatLimitExceeded { .. }) => {}
                Err(other) => panic!("hold: {other:?}"),
            }
        }
        60..=84 => {
            let Some((owner, reservation_id)) = take(&mut acks.lock().unwrap().held, &mut rng)
            else {
                return;
            };
            match registry
                .pay(
                    owner,
                    PayCommand {
                        reservation_id,
                        amount: None,
                        queue_token: None,
                        idem: None,
                    },
                )
                .await
            {
                Ok(receipt) => {
                    let mut acks = acks.lock().unwrap();
                    acks.paid += receipt.amount.0;
                    acks.bought.push((owner, reservation_id));
                }
                Err(EngineError::InsufficientBalance { .. }) => {
                    acks.lock().unwrap().held.push((owner, reservation_id))
                }
                Err(
                    EngineError::ReservationExpired
                    | EngineError::ReservationCancelled
                    | EngineError::PaymentInProgress
                    | EngineError::AlreadyPaid,
                ) => {}
                Err(other) => panic!("pay: {other:?}"),
            }
        }
        85..=94 => {
            let bought = rng.gen_bool(0.7);
            let picked = {
                let mut acks = acks.lock().unwrap();
                if bought {
                    take(&mut acks.bought, &mut rng)
                } else {
                    take(&mut acks.held, &mut rng)
                }
            };
            let Some((owner, reservation_id)) = picked else {
                return;
            };
            match registry.cancel(owner, reservation_id).await {
                Ok(receipt) => acks.lock().unwrap().refunded += receipt.refund_amount.0,
                Err(EngineError::NotCancellable | EngineError::PaymentInProgress) => {}
                Err(other) => panic!("cancel: {other:?}"),
            }
        }
        _ => {
            // Someone else's reservation: never found, never paid, never cancelled.
            let Some((owner, reservation_id)) = acks.lock().unwrap().held.last().copied() else {
                return;
            };
            let stranger = if owner == user {
                self::user(USERS + 1)
            } else {
                user
            };
            assert_eq!(
                registry.cancel(stranger, reservation_id).await.unwrap_err(),
                EngineError::NotFound(boxoffice_actors::Missing::Reservation)
            );
            assert_eq!(
                registry
                    .pay(
                        stranger,
                        PayCommand {
                            reservation_id,
                            amount: None,
                            queue_token: None,
                            idem: None
                        }
                    )
                    .await
                    .unwrap_err(),
                EngineError::NotFound(boxoffice_actors::Missing::Reservation)
            );
        }
    }
}

#[actix_rt::test]
async fn balances_always_equal_charges_minus_payments_plus_refunds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 21).await;
    let rules = ScheduleRules {
        hold_ms: 20_000,
        ..ScheduleRules::default()
    };
    let mut schedules = Vec::new();
    for n in 0..SCHEDULES {
        schedules.push(
            registry
                .create_schedule(spec(n, SeatLayout::uniform(2, 3, 10), rules.clone(), None))
                .await
                .expect("create"),
        );
    }
    let schedules = Arc::new(schedules);
    let acks = Arc::new(Mutex::new(Acknowledged::default()));
    for round in 0..ROUNDS {
        let ops = (0..OPS_PER_ROUND).map(|i| {
            random_op(
                Arc::clone(&registry),
                Arc::clone(&schedules),
                (round * OPS_PER_ROUND + i) as u64,
                Arc::clone(&acks),
            )
        });
        futures_util::future::join_all(ops).await;
        // Time moves: some holds expire between rounds.
        clock.advance_ms(3_000);
        for id in schedules.iter() {
            registry
                .schedule(*id)
                .expect("schedule")
                .actor
                .command(ExpireNow)
                .await
                .expect("expire");
        }
    }

    let state = export(&registry).await;
    let acks = acks.lock().unwrap();
    let (mut charged, mut used, mut refunded, mut balance) = (0i64, 0i64, 0i64, 0i64);
    // Every wallet equals its ledger, seats and sagas are consistent: the
    // shared checker. The rest compares the engine with what was acknowledged.
    if let Err(broken) = audit::verdict(&audit::check_at_rest(&state)) {
        panic!("invariants broken:\n{broken}");
    }
    for wallet in state.wallets.iter().flat_map(|s| s.wallets.values()) {
        charged += wallet.total_charged().0;
        used += wallet.total_used().0;
        refunded += wallet.total_refunded().0;
        balance += wallet.balance().0;
    }
    assert_eq!(
        charged, acks.charged,
        "charges in wallets = acknowledged charges"
    );
    assert_eq!(
        used, acks.paid,
        "payments in wallets = acknowledged payments"
    );
    assert_eq!(
        refunded, acks.refunded,
        "refunds in wallets = acknowledged refunds"
    );
    assert_eq!(
        balance,
        acks.charged - acks.paid + acks.refunded,
        "no money created or lost"
    );
    let confirmed: i64 = state
        .schedules
        .values()
        .flat_map(|s| s.schedule.reservations())
        .filter(|r| matches!(r.status, ReservationStatus::Confirmed { .. }))
        .map(|r| r.amount.0)
        .sum();
    assert_eq!(
        used - refunded,
        confirmed,
        "money kept = price of seats sold"
    );
    assert!(
        acks.paid > 0 && acks.refunded > 0 && acks.charged > 0,
        "the workload exercised every money path"
    );
    registry.shutdown();
}
