//! Recovery: build rich state (holds, sold seats, expired holds, cancelled and
//! refunded reservations, check-ins, balances and ledgers, idempotency keys,
//! a waiting room with admitted and waiting users, payments stopped between
//! saga steps), with snapshots and log trimming along the way; drop every
//! actor; reopen the same sled data dir; the state is identical, except that
//! the interrupted payments were driven to one end.

use boxoffice_actors::idempotency::Endpoint;
use boxoffice_actors::journal::ReplyAt;
use boxoffice_actors::queue_actor::TickNow;
use boxoffice_actors::schedule_actor::{BeginPayment, ExpireNow};
use boxoffice_actors::wallet_actor::Debit;
use boxoffice_actors::{EngineError, HoldCommand, ManualClock, PayCommand};
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::queue::{QueueConfig, TokenStatus};
use boxoffice_engine::schedule::{ReservationStatus, ScheduleRules, SeatSelection};
use boxoffice_engine::Money;
use test_support::engine::*;

fn ids(list: &[&str]) -> SeatSelection {
    SeatSelection::Ids(list.iter().map(|s| s.to_string()).collect())
}

#[actix_rt::test]
async fn reopening_the_data_dir_restores_identical_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 11).await;
    let rules = ScheduleRules {
        hold_ms: 60_000,
        ..ScheduleRules::default()
    };
    let open = registry
        .create_schedule(spec(1, SeatLayout::uniform(2, 5, 10), rules.clone(), None))
        .await
        .expect("open schedule");
    let queue = QueueConfig {
        enabled: true,
        batch_size: 2,
        interval_ms: 100,
        max_active: 4,
        active_ms: 60_000,
        ..QueueConfig::default()
    };
    let gated = registry
        .create_schedule(spec(
            2,
            SeatLayout::uniform(1, 2, 10),
            rules.clone(),
            Some(queue),
        ))
        .await
        .expect("gated schedule");
    let saga = registry
        .create_schedule(spec(3, SeatLayout::uniform(1, 1, 10), rules.clone(), None))
        .await
        .expect("saga schedule");

    // Balances and ledgers, some under idempotency keys.
    for n in 1..=20u64 {
        let key = format!("charge-{n}");
        let idem = (n % 2 == 0).then(|| tag(user(n), Endpoint::Charges, &key, "100000"));
        registry
            .charge(user(n), Money(100_000 + n as i64), idem)
            .await
            .expect("charge");
    }
    // Holds, payments, a cancel with refund, a check-in, expiries.
    let mut paid = Vec::new();
    for n in 1..=12u64 {
        let seat = format!("S0-{}-{}", (n - 1) / 10 + 1, (n - 1) % 10 + 1);
        let hold = registry
            .hold(
                user(n),
                HoldCommand {
                    schedule_id: open,
                    selection: ids(&[&seat]),
                    queue_token: None,
                    idem: Some(tag(user(n), Endpoint::Reservations, "h", &seat)),
                },
            )
            .await
            .expect("hold");
        if n % 3 != 0 {
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
            paid.push((n, receipt));
        }
    }
    let (n, cancelled) = &paid[0];
    registry
        .cancel(user(*n), cancelled.reservation_id)
        .await
        .expect("cancel with refund");
    let (_, used) = &paid[1];
    registry
        .check_in(used.tickets[0].ticket_id)
        .await
        .expect("check in");
    registry
        .hold(
            user(13),
            HoldCommand {
                schedule_id: open,
                selection: SeatSelection::BestAvailable {
                    quantity: 3,
                    grade: None,
                    section_id: None,
                },
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("best available");
    // Let the unpaid holds expire, then make fresh ones that stay held.
    clock.advance_ms(61_000);
    let expired = registry
        .schedule(open)
        .expect("open")
        .actor
        .command(ExpireNow)
        .await
        .expect("expire");
    assert!(expired >= 4, "unpaid holds expired: {expired}");
    registry
        .hold(
            user(14),
            HoldCommand {
                schedule_id: open,
                selection: ids(&["S1-1-1", "S1-1-2"]),
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("live hold");

    // The waiting room: six join, two are admitted, one of those buys (ending its token).
    let mut tokens = Vec::new();
    let mut passes = Vec::new();
    for n in 1..=6u64 {
        let ticket = registry.join_queue(user(n), gated).await.expect("join");
        tokens.push(ticket.view.token);
        passes.push(ticket.pass);
    }
    clock.advance_ms(100);
    registry.queue().command(TickNow).await.expect("tick");
    let first = registry.poll_queue(user(1), &passes[0]).expect("status");
    assert_eq!(first.view.status, TokenStatus::Active);
    actix_rt::time::sleep(std::time::Duration::from_millis(50)).await; // admissions reach the schedule after their flush
    let gated_hold = registry
        .hold(
            user(1),
            HoldCommand {
                schedule_id: gated,
                selection: ids(&["S0-1-1"]),
                queue_token: Some(tokens[0]),
                idem: None,
            },
        )
        .await
        .expect("hold with an active token");
    let gated_paid = registry
        .pay(
            user(1),
            PayCommand {
                reservation_id: gated_hold.reservation_id,
                amount: None,
                queue_token: Some(tokens[0]),
                idem: None,
            },
        )
        .await
        .expect("pay with the token");
    assert!(gated_paid.queue_token_expired);

    // Two payments stopped between saga steps: one before the debit, one after.
    let saga_handle = registry.schedule(saga).expect("saga schedule");
    let before_debit = registry
        .hold(
            user(15),
            HoldCommand {
                schedule_id: saga,
                selection: ids(&["S0-1-1"]),
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("hold");
    let after_debit = registry
        .hold(
            user(16),
            HoldCommand {
                schedule_id: saga,
                selection: ids(&["S0-1-2"]),
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("hold");
    let (p1, p2) = (
        PaymentId::from_random_bytes([7; 16]),
        PaymentId::from_random_bytes([8; 16]),
    );
    let pay_key = tag(user(15), Endpoint::Payments, "stuck", "x");
    saga_handle
        .actor
        .command(BeginPayment {
            user: user(15),
            reservation_id: before_debit.reservation_id,
            payment_id: p1,
            expected_amount: None,
            queue_token: None,
            idem: Some(pay_key.clone()),
            reply_at: ReplyAt::Durable,
        })
        .await
        .expect("begin 1");
    saga_handle
        .actor
        .command(BeginPayment {
            user: user(16),
            reservation_id: after_debit.reservation_id,
            payment_id: p2,
            expected_amount: None,
            queue_token: None,
            idem: None,
            reply_at: ReplyAt::Durable,
        })
        .await
        .expect("begin 2");
    registry
        .wallet(user(16))
        .command(Debit {
            user: user(16),
            payment_id: p2,
            amount: after_debit.total_amount,
            reply_at: ReplyAt::Durable,
        })
        .await
        .expect("debit 2");

    let stats = registry.flush_stats();
    assert!(stats.flushes > 0 && stats.records > stats.flushes / 2);
    let before = export(&registry).await;
    registry.shutdown();
    drop(registry);

    // Reopen the same directory: new actors, new id seed.
    let registry = start(sled_store(dir.path()), &clock, 12).await;
    let report = registry.recovery_report();
    assert_eq!(
        (
            report.payments_confirmed,
            report.payments_aborted,
            report.payments_stuck
        ),
        (1, 1, 0),
        "{report:?}"
    );
    let after = export(&registry).await;

    assert_eq!(
        before.wallets, after.wallets,
        "wallets, ledgers and charge keys survive exactly"
    );
    assert_eq!(
        before.queue, after.queue,
        "the waiting room survives exactly"
    );
    assert_eq!(
        before.schedules[&open], after.schedules[&open],
        "holds, sales, refunds, check-ins and expiries survive exactly"
    );
    assert_eq!(before.schedules[&gated], after.schedules[&gated]);
    // The waiting room's board is rebuilt: a client's token (its pass) still
    // reads its place, a rejoin returns the very same pass (so the same
    // signed token), and a token a payment ended stays ended.
    for n in 2..=6u64 {
        let i = n as usize - 1;
        let polled = registry
            .poll_queue(user(n), &passes[i])
            .expect("a live place survives the restart");
        assert!(polled.view.status.is_live());
        let rejoined = registry.join_queue(user(n), gated).await.expect("rejoin");
        assert!(!rejoined.created);
        assert_eq!(rejoined.pass, passes[i], "same place after a restart");
    }
    assert_eq!(
        registry.poll_queue(user(1), &passes[0]),
        Err(EngineError::QueueTokenInvalid),
        "the paid token stays ended"
    );
    let saga_after = &after.schedules[&saga].schedule;
    assert_eq!(
        saga_after
            .reservation(before_debit.reservation_id)
            .expect("r1")
            .status,
        ReservationStatus::Held,
        "not debited: aborted"
    );
    assert_eq!(
        saga_after
            .reservation(after_debit.reservation_id)
            .expect("r2")
            .status,
        ReservationStatus::Confirmed { payment_id: p2 },
        "debited: confirmed"
    );
    saga_after
        .check_invariants()
        .expect("saga schedule invariants");

    // Routing and keys work after the restart: a replayed charge returns the first receipt and moves no money.
    let again = registry
        .charge(
            user(2),
            Money(100_002),
            Some(tag(user(2), Endpoint::Charges, "charge-2", "100000")),
        )
        .await
        .expect("replay");
    let balance = registry.wallet_view(user(2)).await.expect("wallet").balance;
    let replayed = registry
        .charge(
            user(2),
            Money(100_002),
            Some(tag(user(2), Endpoint::Charges, "charge-2", "100000")),
        )
        .await
        .expect("replay 2");
    assert_eq!(again, replayed);
    assert_eq!(
        registry.wallet_view(user(2)).await.expect("wallet").balance,
        balance
    );
    assert_eq!(again.amount, Money(100_002));
    let view = registry
        .reservation(
            Some(user(14)),
            after.schedules[&open]
                .schedule
                .reservations()
                .last()
                .expect("one")
                .id,
        )
        .await;
    assert!(view.is_ok(), "the directory is rebuilt: {view:?}");
    // The interrupted payment's key is free again: the retry runs afresh and succeeds.
    let retry = registry
        .pay(
            user(15),
            PayCommand {
                reservation_id: before_debit.reservation_id,
                amount: None,
                queue_token: None,
                idem: Some(pay_key),
            },
        )
        .await;
    assert!(
        retry.is_ok(),
        "retry after an aborted-by-recovery payment: {retry:?}"
    );
    registry.shutdown();
}

/// RELIABILITY.md F2, schedule half: the record that confirmed a payment,
/// appended a second time (as a buggy retry would), must make recovery refuse
/// with an error naming the log and the lsn: no panic, no double apply.
#[actix_rt::test]
async fn a_repeated_schedule_record_is_refused_naming_log_and_lsn() {
    use boxoffice_actors::journal::Record;
    use boxoffice_actors::schedule_actor::ScheduleLogEvent;
    use boxoffice_actors::{IdSource, Registry};
    use boxoffice_engine::schedule::ScheduleEvent;
    use boxoffice_storage::{codec, Store};
    use std::sync::Arc;

    let store = memory_store();
    let clock = ManualClock::new(T0);
    let config = boxoffice_actors::EngineConfig {
        // No snapshot in the way: the whole history stays in the log.
        snapshot_every_events: 1_000_000,
        ..test_config()
    };
    let registry = start_with(store.clone() as Arc<dyn Store>, &clock, 51, config.clone()).await;
    let schedule = registry
        .create_schedule(spec(1, one_row(4), ScheduleRules::default(), None))
        .await
        .expect("schedule");
    let held = registry
        .hold(
            user(1),
            HoldCommand {
                schedule_id: schedule,
                selection: ids(&["S0-1-1"]),
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("hold");
    registry
        .charge(user(1), held.total_amount, None)
        .await
        .expect("charge");
    registry
        .pay(
            user(1),
            PayCommand {
                reservation_id: held.reservation_id,
                amount: None,
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("pay");
    registry.shutdown();
    drop(registry);

    let log = format!("schedule/{schedule}");
    let confirming = store
        .read_log(&log, 0)
        .expect("read log")
        .into_iter()
        .find(|(_, bytes)| {
            let record: Record<ScheduleLogEvent> = codec::decode(bytes).expect("decode");
            record
                .events
                .iter()
                .any(|e| matches!(e, ScheduleLogEvent::Engine(ScheduleEvent::Confirmed { .. })))
        })
        .expect("a record confirms the payment");
    let repeated = store.append(&log, &confirming.1).expect("append again");
    store.flush().expect("flush");

    let refused = Registry::start(
        store.clone() as Arc<dyn Store>,
        Arc::new(clock.clone()),
        Arc::new(IdSource::seeded(52)),
        config,
    )
    .await;
    let Err(err) = refused else {
        panic!("recovery accepted a payment confirmed twice");
    };
    let message = err.to_string();
    assert!(
        message.contains(&format!("record {repeated} of log {log}")),
        "{message}"
    );
    assert!(message.contains("confirmed while Confirmed"), "{message}");
}

/// A wallet snapshot written before wallets counted their daily charges still
/// loads; each wallet's count is rebuilt from its ledger, so the daily limit
/// holds across the upgrade.
#[test]
fn a_wallet_snapshot_without_daily_charge_counts_loads_and_keeps_the_count() {
    use boxoffice_actors::wallet_actor::{
        log_name, WalletShardState, WalletShardStatePreviousFormat,
    };
    use boxoffice_engine::wallet::{Wallet, WalletLimits};
    use boxoffice_storage::{codec, MemoryStore, Store};

    let limits = WalletLimits {
        max_charges_per_day: 3,
        ..WalletLimits::default()
    };
    let user = UserId::from_random_bytes([7; 16]);
    let mut wallet = Wallet::new(user);
    for n in 1..=3u8 {
        wallet
            .charge(
                TransactionId::from_random_bytes([n; 16]),
                Money(10),
                &limits,
                T0,
            )
            .expect("within the limits");
    }
    let older = WalletShardStatePreviousFormat {
        wallets: [(user, wallet.as_previous_format().expect("nothing archived"))].into(),
        idempotency: Default::default(),
    };
    let store = MemoryStore::new();
    let log = log_name(0);
    store
        .write_snapshot(&log, 0, &codec::encode(&older).expect("encode"))
        .expect("write");
    let mut loaded = WalletShardState::load(&store, &log).expect("the older form loads");
    let migrated = loaded.wallets.get_mut(&user).expect("the wallet");
    assert_eq!(*migrated, wallet);
    assert_eq!(migrated.charges_today(), 3);
    assert!(migrated
        .charge(
            TransactionId::from_random_bytes([9; 16]),
            Money(1),
            &limits,
            T0
        )
        .is_err());
    assert!(
        WalletShardState::decode_snapshot(b"\x01garbage").is_err(),
        "neither form: still an error"
    );
}

/// Before anyone has left, a waiting room's estimate expects each admitted
/// user to stay one hold lifetime (`Queue::expect_stay_ms`). That is not
/// stored, so start-up must give it again: the estimate is the same after a
/// restart.
#[actix_rt::test]
async fn the_first_estimate_expects_a_stay_of_one_hold_also_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 21).await;
    let rules = ScheduleRules {
        hold_ms: 20_000,
        ..ScheduleRules::default()
    };
    // Room for 2, each admission good for 10 minutes, 2 a second by the clock.
    let queue = QueueConfig {
        enabled: true,
        batch_size: 2,
        interval_ms: 1_000,
        max_active: 2,
        active_ms: 600_000,
        ..QueueConfig::default()
    };
    let gated = registry
        .create_schedule(spec(1, one_row(10), rules, Some(queue)))
        .await
        .expect("gated schedule");
    let mut passes = Vec::new();
    for n in 1..=12u64 {
        passes.push(
            registry
                .join_queue(user(n), gated)
                .await
                .expect("join")
                .pass,
        );
    }
    // A batch interval on: the tick admits its batch even if the queue's own
    // timer (real time) already ran one while a slow machine was joining.
    clock.advance_ms(1_000);
    registry.queue().command(TickNow).await.expect("tick");
    // Two admitted, the room full, nobody left yet: the last joiner has 10
    // ahead, at 2 per 20-second hold (not 2 per 10-minute active time).
    let view = registry
        .poll_queue(user(12), &passes[11])
        .expect("poll")
        .view;
    assert_eq!((view.position, view.estimated_wait_seconds), (10, 100));

    registry.shutdown();
    drop(registry);
    let registry = start(sled_store(dir.path()), &clock, 22).await;
    let view = registry
        .poll_queue(user(12), &passes[11])
        .expect("poll after the restart")
        .view;
    assert_eq!((view.position, view.estimated_wait_seconds), (10, 100));
    registry.shutdown();
}
