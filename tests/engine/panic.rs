//! A panic inside one schedule's engine code is contained: the other schedules
//! (here on the very same arbiter thread) keep serving, and the failed one is
//! restarted by its supervisor from storage with every acknowledged change.

use boxoffice_actors::schedule_actor::{ExportState, InjectPanic};
use boxoffice_actors::{EngineConfig, EngineError, HoldCommand, ManualClock};
use boxoffice_engine::schedule::{ReservationStatus, ScheduleRules, SeatSelection};
use test_support::engine::*;

fn seats(ids: &[&str]) -> SeatSelection {
    SeatSelection::Ids(ids.iter().map(|s| s.to_string()).collect())
}

#[actix_rt::test]
async fn a_panicking_schedule_restarts_from_storage_while_others_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    // One arbiter: both schedules share a thread, so a panic that escaped would take both down.
    let config = EngineConfig {
        arbiters: 1,
        ..test_config()
    };
    let registry = start_with(sled_store(dir.path()), &clock, 5, config).await;
    let a = registry
        .create_schedule(spec(1, one_row(50), ScheduleRules::default(), None))
        .await
        .expect("create a");
    let b = registry
        .create_schedule(spec(2, one_row(50), ScheduleRules::default(), None))
        .await
        .expect("create b");

    let held = registry
        .hold(
            user(1),
            HoldCommand {
                schedule_id: a,
                selection: seats(&["S0-1-1", "S0-1-2"]),
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("hold on a");
    registry
        .hold(
            user(2),
            HoldCommand {
                schedule_id: b,
                selection: seats(&["S0-1-1"]),
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("hold on b");
    let handle_a = registry.schedule(a).expect("a");
    let before = handle_a
        .actor
        .query(ExportState)
        .await
        .expect("export")
        .expect("state");

    // Fire the fault together with a burst of holds on both schedules.
    let burst_a: Vec<_> = (0..40u64)
        .map(|i| {
            registry.hold(
                user(100 + i),
                HoldCommand {
                    schedule_id: a,
                    selection: seats(&[&format!("S0-1-{}", 3 + i)]),
                    queue_token: None,
                    idem: None,
                },
            )
        })
        .collect();
    let burst_b: Vec<_> = (0..40u64)
        .map(|i| {
            registry.hold(
                user(200 + i),
                HoldCommand {
                    schedule_id: b,
                    selection: seats(&[&format!("S0-1-{}", 2 + i)]),
                    queue_token: None,
                    idem: None,
                },
            )
        })
        .collect();
    let fault = handle_a.actor.command(InjectPanic);
    let (fault, outcomes_a, outcomes_b) = futures_util::join!(
        fault,
        futures_util::future::join_all(burst_a),
        futures_util::future::join_all(burst_b)
    );
    assert!(
        matches!(fault, Err(EngineError::Internal(_))),
        "the fault is reported: {fault:?}"
    );

    // The other schedule never noticed.
    assert!(
        outcomes_b.iter().all(|o| o.is_ok()),
        "schedule b kept serving: {outcomes_b:?}"
    );
    registry
        .hold(
            user(3),
            HoldCommand {
                schedule_id: b,
                selection: seats(&["S0-1-50"]),
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("b serves after the fault");

    // Holds on a were either acknowledged (and must survive the restart) or refused with a retryable error.
    for outcome in &outcomes_a {
        match outcome {
            Ok(_) | Err(EngineError::Unavailable) | Err(EngineError::Storage(_)) => {}
            other => panic!("unexpected outcome on the failed schedule: {other:?}"),
        }
    }

    // a is back, with its state from storage.
    let after = handle_a
        .actor
        .query(ExportState)
        .await
        .expect("export")
        .expect("a reloaded its state");
    let reservation = after
        .schedule
        .reservation(held.reservation_id)
        .expect("the hold acknowledged before the fault survived");
    assert_eq!(reservation.status, ReservationStatus::Held);
    for receipt in outcomes_a.iter().flatten() {
        assert!(
            after.schedule.reservation(receipt.reservation_id).is_some(),
            "acknowledged hold lost in the restart"
        );
    }
    assert!(after.schedule.reservations().count() >= before.schedule.reservations().count());
    after
        .schedule
        .check_invariants()
        .expect("invariants after restart");

    // And it serves again: taken seats stay taken, free ones can be held.
    let again = registry
        .hold(
            user(4),
            HoldCommand {
                schedule_id: a,
                selection: seats(&["S0-1-1"]),
                queue_token: None,
                idem: None,
            },
        )
        .await;
    assert_eq!(
        again.unwrap_err(),
        EngineError::SeatUnavailable(vec!["S0-1-1".into()])
    );
    registry
        .hold(
            user(4),
            HoldCommand {
                schedule_id: a,
                selection: seats(&["S0-1-50"]),
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("a serves after restart");
    registry.shutdown();
}
