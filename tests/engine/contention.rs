//! Real concurrency on one schedule: 1,000 clients, spread over several OS
//! threads with their own runtimes, race for the 50 seats of one schedule
//! through the actors (durable, on sled). Exactly one wins each seat, and no
//! seat ends up in two live reservations.

use boxoffice_actors::{EngineError, HoldCommand, ManualClock, Registry};
use boxoffice_engine::ids::ScheduleId;
use boxoffice_engine::schedule::{ScheduleRules, SeatSelection};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::sync::Arc;
use test_support::engine::*;

const CLIENTS: u64 = 1_000;
const THREADS: u64 = 4;

/// Runs `CLIENTS` hold attempts at once from `THREADS` OS threads; client i asks for `selection(i)`.
fn race(
    registry: &Arc<Registry>,
    schedule_id: ScheduleId,
    selection: fn(u64) -> SeatSelection,
) -> Vec<(u64, Result<Vec<String>, EngineError>)> {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let registry = Arc::clone(registry);
            std::thread::spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let attempts = (0..CLIENTS).filter(|i| i % THREADS == t).map(|i| {
                        let registry = Arc::clone(&registry);
                        async move {
                            let outcome = registry
                                .hold(
                                    user(i),
                                    HoldCommand {
                                        schedule_id,
                                        selection: selection(i),
                                        queue_token: None,
                                        idem: None,
                                    },
                                )
                                .await
                                .map(|receipt| {
                                    receipt.seats.into_iter().map(|s| s.seat_id).collect()
                                });
                            (i, outcome)
                        }
                    });
                    futures_util::future::join_all(attempts).await
                })
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect()
}

#[actix_rt::test]
async fn a_thousand_clients_one_seat_each_exactly_fifty_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 1).await;
    let id = registry
        .create_schedule(spec(1, one_row(50), ScheduleRules::default(), None))
        .await
        .expect("create");

    let outcomes = race(&registry, id, |i| {
        SeatSelection::Ids(vec![format!("S0-1-{}", i % 50 + 1)])
    });
    let won: Vec<_> = outcomes
        .iter()
        .filter_map(|(_, o)| o.as_ref().ok())
        .collect();
    assert_eq!(won.len(), 50, "exactly one winner per seat");
    let seats: HashSet<_> = won.iter().flat_map(|s| s.iter()).collect();
    assert_eq!(seats.len(), 50, "no seat won twice");
    for (i, outcome) in &outcomes {
        if let Err(err) = outcome {
            assert_eq!(
                *err,
                EngineError::SeatUnavailable(vec![format!("S0-1-{}", i % 50 + 1)]),
                "client {i}"
            );
        }
    }
    let counts = registry.seat_counts(id).await.expect("counts");
    assert_eq!((counts.held, counts.available, counts.sold), (50, 0, 0));
    check_all_invariants(&registry).await;
    registry.shutdown();
}

#[actix_rt::test]
async fn multi_seat_all_or_nothing_holds_never_overlap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 2).await;
    let id = registry
        .create_schedule(spec(2, one_row(50), ScheduleRules::default(), None))
        .await
        .expect("create");

    // Client i wants 1-4 random seats (seeded by i), all or nothing.
    let outcomes = race(&registry, id, |i| {
        let mut rng = SmallRng::seed_from_u64(i);
        let wanted: HashSet<u32> = (0..rng.gen_range(1..=4))
            .map(|_| rng.gen_range(1..=50))
            .collect();
        SeatSelection::Ids(wanted.into_iter().map(|n| format!("S0-1-{n}")).collect())
    });
    let mut taken = HashSet::new();
    for (_, outcome) in &outcomes {
        if let Ok(seats) = outcome {
            for seat in seats {
                assert!(
                    taken.insert(seat.clone()),
                    "seat {seat} in two live reservations"
                );
            }
        }
    }
    // Every refusal names seats that someone else actually won.
    for (i, outcome) in &outcomes {
        if let Err(EngineError::SeatUnavailable(seats)) = outcome {
            assert!(
                !seats.is_empty() && seats.iter().all(|s| taken.contains(s)),
                "client {i}: refused for {seats:?}"
            );
        } else if let Err(other) = outcome {
            panic!("client {i}: unexpected {other:?}");
        }
    }
    let counts = registry.seat_counts(id).await.expect("counts");
    assert_eq!(counts.held as usize, taken.len());
    check_all_invariants(&registry).await;
    registry.shutdown();
}

#[actix_rt::test]
async fn best_available_under_contention_hands_out_each_seat_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 3).await;
    let id = registry
        .create_schedule(spec(3, one_row(50), ScheduleRules::default(), None))
        .await
        .expect("create");

    let outcomes = race(&registry, id, |i| SeatSelection::BestAvailable {
        quantity: (i % 2 + 1) as u32,
        grade: None,
        section_id: None,
    });
    let mut taken = HashSet::new();
    for (_, outcome) in &outcomes {
        if let Ok(seats) = outcome {
            for seat in seats {
                assert!(taken.insert(seat.clone()), "seat {seat} handed out twice");
            }
        }
    }
    assert!(
        taken.len() >= 49,
        "a 50-seat row should be (nearly) filled by 1-2 seat requests, got {}",
        taken.len()
    );
    check_all_invariants(&registry).await;
    registry.shutdown();
}
