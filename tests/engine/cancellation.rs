//! Cancelling a whole schedule across a crash: a cancellation stopped between
//! batches, with some refunds credited to wallets but not yet recorded as
//! settled, is finished at start-up, every paid reservation refunded exactly
//! once. And a schedule snapshot of the format before cancellation existed
//! still loads.

use boxoffice_actors::schedule_actor::{
    log_name, CancelSchedule, ContinueCancellation, ScheduleState,
};
use boxoffice_actors::wallet_actor::Refund;
use boxoffice_actors::{HoldCommand, ManualClock, PayCommand};
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::schedule::{
    ReservationStatus, ScheduleRules, SeatSelection, MAX_CANCEL_BATCH,
};
use boxoffice_engine::Money;
use test_support::engine::*;

/// Paid reservations of two seats each: more than two batches' worth.
const PAID: u64 = 300;
const FUNDS: Money = Money(1_000_000);

#[actix_rt::test]
async fn a_cancellation_stopped_midway_finishes_at_start_up_with_each_refund_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 21).await;
    let rules = ScheduleRules {
        hold_ms: 600_000,
        ..ScheduleRules::default()
    };
    let id = registry
        .create_schedule(spec(1, SeatLayout::uniform(1, 10, 100), rules, None))
        .await
        .expect("schedule");
    let mut paid_total = Money::ZERO;
    for n in 1..=PAID + 5 {
        registry.charge(user(n), FUNDS, None).await.expect("charge");
        let seats = [0, 1].map(|k| {
            let seat = 2 * (n - 1) + k;
            format!("S0-{}-{}", seat / 100 + 1, seat % 100 + 1)
        });
        let hold = registry
            .hold(
                user(n),
                HoldCommand {
                    schedule_id: id,
                    selection: SeatSelection::Ids(seats.to_vec()),
                    queue_token: None,
                    idem: None,
                },
            )
            .await
            .expect("hold");
        // The last five stay held.
        if n <= PAID {
            let receipt = registry
                .pay(
                    user(n),
                    PayCommand {
                        reservation_id: hold.reservation_id,
                        amount: None,
                        queue_token: None,
                        idem: None,
                    },
                )
                .await
                .expect("pay");
            paid_total = paid_total.checked_add(receipt.amount).expect("small sums");
        }
    }

    // Cancel and run one batch by hand (no driver), then credit a few of its
    // refunds without recording them: a crash between the two steps.
    let schedule = registry.schedule(id).expect("handle");
    let summary = schedule
        .actor
        .command(CancelSchedule)
        .await
        .expect("cancelled");
    assert_eq!(
        (
            summary.released_holds,
            summary.refunded_reservations,
            summary.refunded_amount
        ),
        (5, PAID as u32, paid_total)
    );
    let step = schedule
        .actor
        .finish(ContinueCancellation)
        .await
        .expect("one batch");
    assert_eq!(step.ended, MAX_CANCEL_BATCH);
    assert!(step.unfinished);
    for &(_, payment_id, owner, _) in step.refunds.iter().take(10) {
        registry
            .wallet(owner)
            .finish(Refund {
                user: owner,
                payment_id,
            })
            .await
            .expect("credited");
    }
    registry.shutdown();
    drop(registry);

    let registry = start(sled_store(dir.path()), &clock, 22).await;
    let report = registry.recovery_report();
    assert_eq!(
        (report.refunds_settled, report.cancellations_resumed),
        (step.refunds.len() as u32, 1),
        "{report:?}"
    );
    // The resumed driver runs in the background; a second one is harmless
    // and lets the test wait for the end.
    registry.finish_cancellation(id).await.expect("finished");
    for n in 1..=PAID + 5 {
        let wallet = registry.wallet_view(user(n)).await.expect("wallet");
        assert_eq!(wallet.balance, FUNDS, "user {n} refunded exactly once");
    }
    let state = export(&registry).await;
    let schedule = &state.schedules[&id].schedule;
    assert!(schedule.reservations().all(|r| {
        r.status == ReservationStatus::Cancelled && r.refund.as_ref().is_none_or(|f| f.settled)
    }));
    assert_eq!(schedule.refunded_total(), paid_total);
    assert_eq!(schedule.counts().available, 1_000);
    check_all_invariants(&registry).await;
    registry.shutdown();
}

/// A snapshot written before schedules could be cancelled loads as a
/// schedule never cancelled, with its refunds counted.
#[actix_rt::test]
async fn a_schedule_snapshot_of_the_previous_format_loads() {
    use boxoffice_storage::{codec, MemoryStore, Store};

    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 23).await;
    let id = registry
        .create_schedule(spec(1, one_row(10), ScheduleRules::default(), None))
        .await
        .expect("schedule");
    registry.charge(user(1), FUNDS, None).await.expect("charge");
    let hold = registry
        .hold(
            user(1),
            HoldCommand {
                schedule_id: id,
                selection: SeatSelection::Ids(vec!["S0-1-1".into()]),
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("hold");
    registry
        .pay(
            user(1),
            PayCommand {
                reservation_id: hold.reservation_id,
                amount: None,
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("pay");
    registry
        .cancel(user(1), hold.reservation_id)
        .await
        .expect("refunded");
    let state = export(&registry).await.schedules[&id].clone();
    registry.shutdown();

    let older = state
        .as_format_before_cancellation()
        .expect("not cancelled");
    let store = MemoryStore::new();
    store
        .write_snapshot(&log_name(id), 0, &codec::encode(&older).expect("encode"))
        .expect("write");
    let loaded = ScheduleState::load(&store, &log_name(id)).expect("the older form loads");
    assert_eq!(loaded, state);
    // The format between (cancellation, no ordinals) loads the same way:
    // nothing was archived, so the ordinals are the positions.
    let between = codec::encode(&state.as_format_before_ordinals()).expect("encode");
    assert_eq!(
        ScheduleState::decode_snapshot(&between).expect("the format before ordinals loads"),
        state
    );
    assert!(!loaded.schedule.is_cancelled());
    assert_eq!(
        loaded.schedule.refunded_total(),
        state.schedule.refunded_total()
    );
    assert!(
        ScheduleState::decode_snapshot(b"\x01garbage").is_err(),
        "neither form: still an error"
    );
}

/// Blocks, an unblock and a comp survive a restart (they are schedule
/// events like any other), and the restored schedule keeps its invariants.
#[actix_rt::test]
async fn blocks_and_comps_survive_a_restart() {
    use boxoffice_actors::schedule_actor::{BlockSeats, CompSeats, UnblockSeats};

    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 24).await;
    let id = registry
        .create_schedule(spec(1, one_row(10), ScheduleRules::default(), None))
        .await
        .expect("schedule");
    let schedule = registry.schedule(id).expect("handle");
    let names = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    schedule
        .actor
        .command(BlockSeats {
            seat_ids: names(&["S0-1-1", "S0-1-2", "S0-1-3"]),
            reason: "camera platform".into(),
        })
        .await
        .expect("blocked");
    schedule
        .actor
        .command(UnblockSeats {
            seat_ids: names(&["S0-1-3"]),
        })
        .await
        .expect("unblocked");
    let comp = schedule
        .actor
        .command(CompSeats {
            user: user(5),
            seat_ids: names(&["S0-1-2"]),
        })
        .await
        .expect("comped");
    let before = export(&registry).await.schedules[&id].clone();
    registry.shutdown();
    drop(registry);

    let registry = start(sled_store(dir.path()), &clock, 25).await;
    let after = export(&registry).await.schedules[&id].clone();
    assert_eq!(after, before);
    let restored = &after.schedule;
    assert_eq!(
        restored
            .blocked_seats()
            .map(|(seat, reason)| (restored.seat_id(seat), reason.to_string()))
            .collect::<Vec<_>>(),
        vec![("S0-1-1".to_string(), "camera platform".to_string())]
    );
    assert!(restored.is_comp(comp.reservation_id));
    let sales = registry.sales(id).await.expect("sales");
    assert_eq!(
        (sales.blocked, sales.comps, sales.revenue),
        (1, 1, Money::ZERO)
    );
    check_all_invariants(&registry).await;
    registry.shutdown();
}
