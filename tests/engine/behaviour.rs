//! Engine behaviour through the actors, one rule per test: idempotency keys,
//! the waiting room's gate, expiry by the actor's own timer, failed payments,
//! cancellation with refund, check-in, a failed log write, group commit.

use boxoffice_actors::idempotency::Endpoint;
use boxoffice_actors::queue_actor::TickNow;
use boxoffice_actors::queue_board::QueuePass;
use boxoffice_actors::{EngineError, HoldCommand, ManualClock, Missing, PayCommand, Registry};
use boxoffice_engine::ids::*;
use boxoffice_engine::queue::{QueueConfig, TokenStatus};
use boxoffice_engine::schedule::{ReservationStatus, ScheduleRules, SeatSelection};
use boxoffice_engine::Money;
use boxoffice_storage::Store;
use std::sync::Arc;
use std::time::Duration;
use test_support::engine::*;

fn ids(list: &[&str]) -> SeatSelection {
    SeatSelection::Ids(list.iter().map(|s| s.to_string()).collect())
}

fn hold_cmd(schedule_id: ScheduleId, seats: &[&str]) -> HoldCommand {
    HoldCommand {
        schedule_id,
        selection: ids(seats),
        queue_token: None,
        idem: None,
    }
}

fn pay_cmd(reservation_id: ReservationId) -> PayCommand {
    PayCommand {
        reservation_id,
        amount: None,
        queue_token: None,
        idem: None,
    }
}

async fn engine_with_one_schedule(
    rules: ScheduleRules,
) -> (tempfile::TempDir, ManualClock, Arc<Registry>, ScheduleId) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 31).await;
    let id = registry
        .create_schedule(spec(1, one_row(10), rules, None))
        .await
        .expect("create");
    (dir, clock, registry, id)
}

#[actix_rt::test]
async fn a_charge_key_replays_refuses_another_body_and_moves_money_once_under_a_storm() {
    let (_dir, _clock, registry, _) = engine_with_one_schedule(ScheduleRules::default()).await;
    let u = user(1);
    let first = registry
        .charge(
            u,
            Money(10_000),
            Some(tag(u, Endpoint::Charges, "k1", "10000")),
        )
        .await
        .expect("charge");
    let again = registry
        .charge(
            u,
            Money(10_000),
            Some(tag(u, Endpoint::Charges, "k1", "10000")),
        )
        .await
        .expect("replay");
    assert_eq!(first, again, "same key, same body: the first reply");
    assert_eq!(
        registry
            .charge(
                u,
                Money(20_000),
                Some(tag(u, Endpoint::Charges, "k1", "20000"))
            )
            .await
            .unwrap_err(),
        EngineError::IdempotencyKeyReused
    );
    // Keys are per user: another user's identical key is unrelated.
    registry
        .charge(
            user(2),
            Money(10_000),
            Some(tag(user(2), Endpoint::Charges, "k1", "10000")),
        )
        .await
        .expect("other user");

    // 50 concurrent duplicates of a new key: one effect; the rest replay it or are told it is in progress.
    let storm = (0..50).map(|_| {
        registry.charge(
            u,
            Money(5_000),
            Some(tag(u, Endpoint::Charges, "k2", "5000")),
        )
    });
    let outcomes = futures_util::future::join_all(storm).await;
    let receipts: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert!(!receipts.is_empty());
    assert!(
        receipts
            .iter()
            .all(|r| r.transaction_id == receipts[0].transaction_id),
        "one transaction"
    );
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Ok(_) | Err(EngineError::IdempotencyInProgress))));
    assert_eq!(
        registry.wallet_view(u).await.expect("wallet").balance,
        Money(15_000),
        "money moved once per key"
    );
    registry.shutdown();
}

#[actix_rt::test]
async fn hold_keys_store_business_refusals_but_not_validation_errors() {
    let (_dir, _clock, registry, id) = engine_with_one_schedule(ScheduleRules::default()).await;
    let (a, b) = (user(1), user(2));
    let mine = registry
        .hold(a, hold_cmd(id, &["S0-1-1"]))
        .await
        .expect("a holds");
    let key = || Some(tag(b, Endpoint::Reservations, "h1", "S0-1-1"));
    let refused = registry
        .hold(
            b,
            HoldCommand {
                idem: key(),
                ..hold_cmd(id, &["S0-1-1"])
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused, EngineError::SeatUnavailable(vec!["S0-1-1".into()]));
    registry
        .cancel(a, mine.reservation_id)
        .await
        .expect("a releases");
    // The seat is free now, but the key's answer was decided: it replays.
    assert_eq!(
        registry
            .hold(
                b,
                HoldCommand {
                    idem: key(),
                    ..hold_cmd(id, &["S0-1-1"])
                }
            )
            .await
            .unwrap_err(),
        refused
    );
    // A validation error is not stored: the same key works once the request is fixed.
    let bad = registry
        .hold(
            b,
            HoldCommand {
                idem: Some(tag(b, Endpoint::Reservations, "h2", "bad")),
                ..hold_cmd(id, &["S0-1-99"])
            },
        )
        .await;
    assert_eq!(bad.unwrap_err(), EngineError::UnknownSeat("S0-1-99".into()));
    let fixed = registry
        .hold(
            b,
            HoldCommand {
                idem: Some(tag(b, Endpoint::Reservations, "h2", "bad")),
                ..hold_cmd(id, &["S0-1-2"])
            },
        )
        .await;
    assert!(fixed.is_ok(), "{fixed:?}");
    registry.shutdown();
}

#[actix_rt::test]
async fn the_waiting_room_gates_holds_admits_in_join_order_and_payment_ends_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 41).await;
    let queue = QueueConfig {
        enabled: true,
        batch_size: 1,
        interval_ms: 1_000,
        max_active: 1,
        active_ms: 60_000,
        ..QueueConfig::default()
    };
    let id = registry
        .create_schedule(spec(1, one_row(10), ScheduleRules::default(), Some(queue)))
        .await
        .expect("create");
    for n in 1..=3 {
        registry
            .charge(user(n), Money(1_000_000), None)
            .await
            .expect("fund");
    }
    let mut tokens = Vec::new();
    let mut passes = Vec::new();
    for n in 1..=3 {
        let ticket = registry.join_queue(user(n), id).await.expect("join");
        passes.push(ticket.pass);
        // The queue's own timer may already have admitted the first joiner.
        match ticket.view.status {
            TokenStatus::Waiting => assert!(
                ticket.view.position == n || ticket.view.position == n - 1,
                "place {} for joiner {n}",
                ticket.view.position
            ),
            TokenStatus::Active => {
                assert_eq!(n, 1, "only the first joiner can be admitted this early")
            }
            other => panic!("unexpected {other:?}"),
        }
        tokens.push(ticket.view.token);
    }
    // Joining again keeps the place.
    assert_eq!(
        registry
            .join_queue(user(2), id)
            .await
            .expect("rejoin")
            .view
            .token,
        tokens[1]
    );
    // The first batch (one user) is admitted by the queue's own timer.
    let gated = |n: u64, token: Option<QueueTokenId>| HoldCommand {
        queue_token: token,
        ..hold_cmd(id, &[&format!("S0-1-{n}")])
    };
    let admitted = wait_for_active(&registry, user(1), &passes[0]).await;
    assert_eq!(admitted.view.position, 0);
    // Those still waiting are refused, with or without their token, for holds and seat maps.
    assert_eq!(
        registry.hold(user(2), gated(2, None)).await.unwrap_err(),
        EngineError::QueueNotActive
    );
    assert_eq!(
        registry
            .hold(user(2), gated(2, Some(tokens[1])))
            .await
            .unwrap_err(),
        EngineError::QueueNotActive
    );
    assert_eq!(
        registry
            .seat_map(id, Some((user(2), Some(tokens[1]))), None)
            .await
            .unwrap_err(),
        EngineError::QueueNotActive
    );
    assert_eq!(
        registry.seat_map(id, None, None).await.unwrap_err(),
        EngineError::QueueNotActive
    );
    registry.queue().command(TickNow).await.expect("tick");
    assert_eq!(
        registry
            .poll_queue(user(2), &passes[1])
            .expect("status")
            .view
            .status,
        TokenStatus::Waiting,
        "max_active is 1"
    );
    assert_eq!(
        registry
            .poll_queue(user(2), &passes[1])
            .expect("status")
            .view
            .position,
        1,
        "user 2 is next"
    );
    assert_eq!(
        registry
            .poll_queue(user(3), &passes[2])
            .expect("status")
            .view
            .position,
        2
    );
    wait_until_schedule_honours(&registry, user(1), id, tokens[0]).await;
    // Someone else's token, or a waiting one, does not open the gate.
    assert_eq!(
        registry
            .hold(user(2), gated(2, Some(tokens[0])))
            .await
            .unwrap_err(),
        EngineError::QueueNotActive
    );
    assert_eq!(
        registry
            .hold(user(2), gated(2, Some(tokens[1])))
            .await
            .unwrap_err(),
        EngineError::QueueNotActive
    );
    let hold = registry
        .hold(user(1), gated(1, Some(tokens[0])))
        .await
        .expect("admitted user holds");
    let paid = registry
        .pay(
            user(1),
            PayCommand {
                queue_token: Some(tokens[0]),
                ..pay_cmd(hold.reservation_id)
            },
        )
        .await
        .expect("pay");
    assert!(paid.queue_token_expired);
    // The token is spent: it opens nothing any more.
    assert_eq!(
        registry
            .hold(user(1), gated(3, Some(tokens[0])))
            .await
            .unwrap_err(),
        EngineError::QueueNotActive
    );
    // Its place went to the next in line, in join order.
    clock.advance_ms(1_000);
    wait_for_ended(&registry, user(1), &passes[0]).await;
    registry.queue().command(TickNow).await.expect("tick");
    assert_eq!(
        wait_for_active(&registry, user(2), &passes[1])
            .await
            .view
            .status,
        TokenStatus::Active
    );
    assert_eq!(
        registry
            .poll_queue(user(3), &passes[2])
            .expect("status")
            .view
            .status,
        TokenStatus::Waiting
    );
    registry.shutdown();
}

/// Polls (as a client would, through the board) until admitted; the board
/// shows an admission once it is durable.
async fn wait_for_active(
    registry: &Registry,
    holder: UserId,
    pass: &QueuePass,
) -> boxoffice_actors::queue_actor::QueueTicket {
    for _ in 0..100 {
        let ticket = registry.poll_queue(holder, pass).expect("status");
        if ticket.view.status == TokenStatus::Active {
            return ticket;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("token {} never became active", pass.token);
}

/// Polls until the token is no longer current (a payment ended it).
async fn wait_for_ended(registry: &Registry, holder: UserId, pass: &QueuePass) {
    for _ in 0..100 {
        if registry.poll_queue(holder, pass) == Err(EngineError::QueueTokenInvalid) {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("token {} never ended", pass.token);
}

/// Admissions reach the schedule actor once durable: wait for the gate to open.
async fn wait_until_schedule_honours(
    registry: &Registry,
    user: UserId,
    id: ScheduleId,
    token: QueueTokenId,
) {
    for _ in 0..100 {
        if registry
            .seat_map(id, Some((user, Some(token))), None)
            .await
            .is_ok()
        {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("schedule never honoured token {token}");
}

#[actix_rt::test]
async fn an_unpaid_hold_expires_by_itself_and_a_late_payment_is_refused() {
    let rules = ScheduleRules {
        hold_ms: 5_000,
        ..ScheduleRules::default()
    };
    let (_dir, clock, registry, id) = engine_with_one_schedule(rules).await;
    registry
        .charge(user(1), Money(1_000_000), None)
        .await
        .expect("fund");
    let late = registry
        .hold(user(1), hold_cmd(id, &["S0-1-1"]))
        .await
        .expect("hold");
    clock.advance_ms(5_000);
    // At expiresAt exactly, payment is refused even before any sweep ran.
    assert_eq!(
        registry
            .pay(user(1), pay_cmd(late.reservation_id))
            .await
            .unwrap_err(),
        EngineError::ReservationExpired
    );
    // The actor's own timer (no ExpireNow here) frees the seat within about a second.
    let mut freed = false;
    for _ in 0..30 {
        if registry.seat_counts(id).await.expect("counts").available == 10 {
            freed = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "the expiry timer did not free the seat");
    let view = registry
        .reservation(Some(user(1)), late.reservation_id)
        .await
        .expect("view");
    assert_eq!(view.status, ReservationStatus::Expired);
    assert_eq!(
        registry
            .cancel(user(1), late.reservation_id)
            .await
            .unwrap_err(),
        EngineError::NotCancellable
    );
    registry
        .hold(user(2), hold_cmd(id, &["S0-1-1"]))
        .await
        .expect("the seat is free again");
    registry.shutdown();
}

#[actix_rt::test]
async fn a_declined_payment_leaves_the_hold_and_the_wallet_as_they_were() {
    let (_dir, _clock, registry, id) = engine_with_one_schedule(ScheduleRules::default()).await;
    let u = user(1);
    registry
        .charge(u, Money(1_000), None)
        .await
        .expect("fund a little");
    let hold = registry
        .hold(u, hold_cmd(id, &["S0-1-1"]))
        .await
        .expect("hold");
    let before = registry
        .reservation(Some(u), hold.reservation_id)
        .await
        .expect("view");
    let wallet_before = registry.wallet_view(u).await.expect("wallet");
    let declined = registry
        .pay(u, pay_cmd(hold.reservation_id))
        .await
        .unwrap_err();
    assert!(
        matches!(declined, EngineError::InsufficientBalance { .. }),
        "{declined:?}"
    );
    assert_eq!(
        registry
            .reservation(Some(u), hold.reservation_id)
            .await
            .expect("view"),
        before
    );
    assert_eq!(
        registry.wallet_view(u).await.expect("wallet"),
        wallet_before
    );
    assert_eq!(
        registry.ledger(u, 0, 100).await.expect("ledger").1,
        1,
        "only the charge is in the ledger"
    );
    // A wrong amount is refused before any money moves.
    registry
        .charge(u, Money(1_000_000), None)
        .await
        .expect("fund");
    let wrong = registry
        .pay(
            u,
            PayCommand {
                amount: Some(Money(1)),
                ..pay_cmd(hold.reservation_id)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        wrong,
        EngineError::AmountMismatch {
            expected: hold.total_amount
        }
    );
    registry
        .pay(
            u,
            PayCommand {
                amount: Some(hold.total_amount),
                ..pay_cmd(hold.reservation_id)
            },
        )
        .await
        .expect("right amount");
    assert_eq!(
        registry
            .pay(u, pay_cmd(hold.reservation_id))
            .await
            .unwrap_err(),
        EngineError::AlreadyPaid
    );
    registry.shutdown();
}

#[actix_rt::test]
async fn cancelling_a_paid_reservation_refunds_voids_tickets_and_frees_seats() {
    let (_dir, _clock, registry, id) = engine_with_one_schedule(ScheduleRules::default()).await;
    let u = user(1);
    registry
        .charge(u, Money(1_000_000), None)
        .await
        .expect("fund");
    let hold = registry
        .hold(u, hold_cmd(id, &["S0-1-1", "S0-1-2"]))
        .await
        .expect("hold");
    let paid = registry
        .pay(u, pay_cmd(hold.reservation_id))
        .await
        .expect("pay");
    assert_eq!(paid.tickets.len(), 2);
    assert_eq!(paid.balance_after, Money(1_000_000 - hold.total_amount.0));
    // Someone else cannot cancel it, or even see it.
    assert_eq!(
        registry
            .cancel(user(2), hold.reservation_id)
            .await
            .unwrap_err(),
        EngineError::NotFound(Missing::Reservation)
    );
    let checked = registry
        .check_in(paid.tickets[0].ticket_id)
        .await
        .expect("check in");
    assert_eq!(checked.ticket.seat_id, paid.tickets[0].seat_id);
    assert!(matches!(
        registry
            .check_in(paid.tickets[0].ticket_id)
            .await
            .unwrap_err(),
        EngineError::TicketAlreadyUsed { .. }
    ));
    // A reservation with a used ticket is not refundable; cancel another one instead.
    assert_eq!(
        registry.cancel(u, hold.reservation_id).await.unwrap_err(),
        EngineError::NotCancellable
    );
    let second = registry
        .hold(u, hold_cmd(id, &["S0-1-3"]))
        .await
        .expect("hold");
    let paid2 = registry
        .pay(u, pay_cmd(second.reservation_id))
        .await
        .expect("pay");
    let cancelled = registry
        .cancel(u, second.reservation_id)
        .await
        .expect("cancel");
    assert_eq!(cancelled.refund_amount, second.total_amount);
    assert_eq!(cancelled.reservation.status, ReservationStatus::Cancelled);
    assert_eq!(
        registry
            .wallet_view(u)
            .await
            .expect("wallet")
            .total_refunded,
        second.total_amount
    );
    assert_eq!(
        registry
            .check_in(paid2.tickets[0].ticket_id)
            .await
            .unwrap_err(),
        EngineError::InvalidTicket,
        "void ticket refused"
    );
    assert_eq!(
        registry.cancel(u, second.reservation_id).await.unwrap_err(),
        EngineError::NotCancellable
    );
    registry
        .hold(user(2), hold_cmd(id, &["S0-1-3"]))
        .await
        .expect("the seat is free again");
    registry.shutdown();
}

#[actix_rt::test]
async fn a_failed_log_write_fails_the_command_and_the_schedule_reloads_clean() {
    let clock = ManualClock::new(T0);
    let store = memory_store();
    let registry = start(Arc::clone(&store) as Arc<dyn Store>, &clock, 51).await;
    let id = registry
        .create_schedule(spec(1, one_row(10), ScheduleRules::default(), None))
        .await
        .expect("create");
    registry
        .hold(user(1), hold_cmd(id, &["S0-1-1"]))
        .await
        .expect("first hold");
    store.fail_appends(1);
    let failed = registry
        .hold(user(2), hold_cmd(id, &["S0-1-2"]))
        .await
        .unwrap_err();
    assert!(matches!(failed, EngineError::Storage(_)), "{failed:?}");
    // The actor reloaded from storage: the failed hold left no trace, the earlier one stays.
    registry
        .hold(user(3), hold_cmd(id, &["S0-1-2"]))
        .await
        .expect("the seat of the failed hold is free");
    assert_eq!(
        registry
            .hold(user(3), hold_cmd(id, &["S0-1-1"]))
            .await
            .unwrap_err(),
        EngineError::SeatUnavailable(vec!["S0-1-1".into()])
    );
    check_all_invariants(&registry).await;
    registry.shutdown();
}

#[actix_rt::test]
async fn many_concurrent_commands_share_log_records_and_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 61).await;
    let id = registry
        .create_schedule(spec(
            1,
            boxoffice_engine::layout::SeatLayout::uniform(1, 10, 100),
            ScheduleRules::default(),
            None,
        ))
        .await
        .expect("create");
    let before = registry.flush_stats();
    let holds = (0..1_000u64).map(|i| {
        registry.hold(
            user(i),
            hold_cmd(id, &[&format!("S0-{}-{}", i / 100 + 1, i % 100 + 1)]),
        )
    });
    let outcomes = futures_util::future::join_all(holds).await;
    assert!(outcomes.iter().all(|o| o.is_ok()));
    let after = registry.flush_stats();
    let (records, flushes) = (
        after.records - before.records,
        after.flushes - before.flushes,
    );
    eprintln!("1,000 concurrent holds: {records} log records, {flushes} flushes");
    assert!(
        records < 1_000,
        "holds are batched into fewer records ({records})"
    );
    assert!(flushes <= records, "every flush covers at least one record");
    registry.shutdown();
}

#[actix_rt::test]
async fn a_free_ticket_is_paid_and_cancelled_without_moving_money() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 71).await;
    let mut layout = one_row(4);
    layout.sections[0].price = Money::ZERO;
    let id = registry
        .create_schedule(spec(1, layout, ScheduleRules::default(), None))
        .await
        .expect("create");
    let u = user(1);
    let hold = registry
        .hold(u, hold_cmd(id, &["S0-1-1"]))
        .await
        .expect("hold");
    assert_eq!(hold.total_amount, Money::ZERO);
    let paid = registry
        .pay(u, pay_cmd(hold.reservation_id))
        .await
        .expect("a free ticket is paid");
    assert_eq!(
        (paid.amount, paid.balance_after, paid.tickets.len()),
        (Money::ZERO, Money::ZERO, 1)
    );
    let cancelled = registry
        .cancel(u, hold.reservation_id)
        .await
        .expect("and can be cancelled");
    assert_eq!(cancelled.refund_amount, Money::ZERO);
    assert_eq!(
        registry.ledger(u, 0, 10).await.expect("ledger").1,
        0,
        "no ledger entry of 0"
    );
    check_all_invariants(&registry).await;
    registry.shutdown();
}

/// A flush that never returns (a hung disk, or one out of file descriptors)
/// must not leave callers waiting for ever: past `flush_timeout` the group
/// commit is poisoned, the waiting write fails, later writes fail at once,
/// and `health()` (what /readyz reads) reports it.
#[actix_rt::test]
async fn a_hung_flush_poisons_the_store_instead_of_hanging_every_caller() {
    let store = memory_store();
    let clock = ManualClock::new(T0);
    let config = boxoffice_actors::EngineConfig {
        flush_timeout: Duration::from_millis(300),
        ..test_config()
    };
    let registry = start_with(store.clone() as Arc<dyn Store>, &clock, 71, config).await;
    let u = user(1);
    registry
        .charge(u, Money(1_000), None)
        .await
        .expect("a charge before the disk hangs");
    assert!(registry.context().commit.health().is_ok());

    store.block_flushes();
    // Generous bound: the point is "answers", not how fast (the watchdog polls).
    let hung = tokio::time::timeout(Duration::from_secs(30), registry.charge(u, Money(1), None))
        .await
        .expect("the caller got an answer instead of waiting for ever");
    assert!(
        hung.is_err(),
        "a write whose flush hung is not acknowledged: {hung:?}"
    );
    assert!(
        registry.context().commit.health().is_err(),
        "the group commit reports itself poisoned"
    );
    let later = tokio::time::timeout(Duration::from_secs(30), registry.charge(u, Money(1), None))
        .await
        .expect("later writes answer too");
    assert!(
        later.is_err(),
        "a poisoned store takes no more writes: {later:?}"
    );
    store.unblock_flushes();
    // The two refused charges are in doubt, as after a crash (their records
    // were appended before the flush hung): the store is fail-stop, and only
    // a restart settles them. The acknowledged one must be there.
    let view = registry.wallet_view(u).await.expect("reads still answer");
    assert!(
        view.balance >= Money(1_000),
        "the acknowledged charge survives: {view:?}"
    );
    let again = registry.charge(u, Money(1), None).await;
    assert!(
        again.is_err(),
        "still poisoned after the disk came back: {again:?}"
    );
}

#[actix_rt::test]
async fn a_payment_waits_for_one_flush_that_covers_all_three_saga_steps() {
    let store = memory_store();
    let clock = ManualClock::new(T0);
    let registry = start(store.clone() as Arc<dyn Store>, &clock, 81).await;
    let id = registry
        .create_schedule(spec(1, one_row(10), ScheduleRules::default(), None))
        .await
        .expect("create");
    let u = user(1);
    registry
        .charge(u, Money(1_000_000), None)
        .await
        .expect("fund");
    let hold = registry
        .hold(u, hold_cmd(id, &["S0-1-1"]))
        .await
        .expect("hold");
    let keyed = |body: &str| PayCommand {
        idem: Some(tag(u, Endpoint::Payments, "pay-once", body)),
        ..pay_cmd(hold.reservation_id)
    };

    // While the disk takes no flush, the payment is not acknowledged, even
    // though its first two steps answered at append.
    let before = registry.flush_stats();
    store.block_flushes();
    let pay = registry.pay(u, keyed("p"));
    tokio::pin!(pay);
    let early = tokio::time::timeout(Duration::from_millis(200), &mut pay).await;
    assert!(
        early.is_err(),
        "a payment answered before any flush: {early:?}"
    );
    let appended = registry.flush_stats();
    assert_eq!(
        appended.records - before.records,
        3,
        "begin, debit and finish were all appended before any flush"
    );
    store.unblock_flushes();
    let receipt = pay.await.expect("paid once the flush returns");
    assert_eq!(receipt.tickets.len(), 1);
    let after = registry.flush_stats();
    assert_eq!(
        after.flushes - before.flushes,
        1,
        "one flush for the whole saga (it was one per step)"
    );

    // The keyed reply replays; the money moved once.
    let replay = registry.pay(u, keyed("p")).await.expect("replay");
    assert_eq!(replay.payment_id, receipt.payment_id);
    assert_eq!(
        registry.wallet_view(u).await.expect("wallet").balance,
        Money(1_000_000 - hold.total_amount.0)
    );
    check_all_invariants(&registry).await;
    registry.shutdown();
}
