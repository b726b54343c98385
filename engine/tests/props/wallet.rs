//! Property tests of `Wallet` over random command sequences: amounts include
//! zero, negatives and values near `i64::MAX`, payment ids repeat, and time
//! crosses month boundaries. After every step the invariants hold, money is
//! conserved, and a refused command changed nothing; at the end, replaying
//! the events on a fresh wallet rebuilds an equal one.

use boxoffice_engine::wallet::{Wallet, WalletError, WalletEvent, WalletLimits};
use boxoffice_engine::{Money, PaymentId, Timestamp, TransactionId, UserId};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Charge(i64),
    Debit(u8, i64),
    Refund(u8),
    Advance(i64),
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 1i64..=20_000_000,
        1 => -10i64..=10,
        1 => Just(0i64),
        1 => i64::MIN..0,
        1 => (i64::MAX - 1_000)..=i64::MAX,
        1 => Just(10_000_000i64),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => amount().prop_map(Op::Charge),
        4 => (0u8..6, amount()).prop_map(|(payment, amount)| Op::Debit(payment, amount)),
        2 => (0u8..7).prop_map(Op::Refund),
        // Up to ~46 days, so month boundaries are crossed often.
        1 => (0i64..4_000_000_000).prop_map(Op::Advance),
    ]
}

fn limits() -> impl Strategy<Value = WalletLimits> {
    prop_oneof![
        Just(WalletLimits::default()),
        // No practical limits: reaches the overflow paths.
        Just(WalletLimits {
            max_charge: Money(i64::MAX),
            balance_cap: Money(i64::MAX),
            monthly_charge_limit: Money(i64::MAX),
            max_charges_per_day: u32::MAX,
        }),
        (1i64..1_000, 1i64..3_000, 1i64..5_000).prop_map(|(max, cap, monthly)| WalletLimits {
            max_charge: Money(max),
            balance_cap: Money(cap),
            monthly_charge_limit: Money(monthly),
            ..WalletLimits::default()
        }),
    ]
}

fn payment(n: u8) -> PaymentId {
    PaymentId::from_random_bytes([n; 16])
}

fn transaction(n: u64) -> TransactionId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    TransactionId::from_random_bytes(bytes)
}

/// The signed effect of an event on the balance, in i128 so it cannot overflow.
fn effect(event: &WalletEvent) -> i128 {
    match event {
        WalletEvent::Charged { amount, .. } | WalletEvent::Refunded { amount, .. } => {
            i128::from(amount.0)
        }
        WalletEvent::Debited { amount, .. } => -i128::from(amount.0),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn wallet_sequences_keep_invariants_and_replay_equal(
        limits in limits(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let user = UserId::from_random_bytes([9; 16]);
        let mut wallet = Wallet::new(user);
        let mut events: Vec<WalletEvent> = Vec::new();
        // 2026-01-20T00:00:00Z: a few advances reach the next month.
        let mut now = Timestamp(1_768_867_200_000);
        let mut next_tx = 0u64;

        for op in ops {
            next_tx += 1;
            let tx = transaction(next_tx);
            let before = wallet.clone();
            let outcome: Result<Option<WalletEvent>, WalletError> = match op {
                Op::Charge(amount) => wallet.charge(tx, Money(amount), &limits, now).map(Some),
                Op::Debit(p, amount) => {
                    let earlier = before.debited(payment(p));
                    let outcome = wallet.debit(tx, payment(p), Money(amount), now);
                    if amount > 0 {
                        match earlier {
                            Some(debited) if debited.0 == amount => prop_assert_eq!(&outcome, &Ok(None)),
                            Some(_) => prop_assert_eq!(&outcome, &Err(WalletError::PaymentMismatch)),
                            None if before.balance().0 < amount => prop_assert_eq!(
                                &outcome,
                                &Err(WalletError::InsufficientBalance {
                                    balance: before.balance(),
                                    required: Money(amount),
                                })
                            ),
                            None => {}
                        }
                    } else {
                        prop_assert_eq!(&outcome, &Err(WalletError::InvalidAmount));
                    }
                    outcome
                }
                Op::Refund(p) => {
                    let outcome = wallet.refund(tx, payment(p), now);
                    match before.debited(payment(p)) {
                        None => prop_assert_eq!(&outcome, &Err(WalletError::UnknownPayment)),
                        Some(_) if before.refunded(payment(p)) => prop_assert_eq!(&outcome, &Ok(None)),
                        Some(_) => {}
                    }
                    outcome
                }
                Op::Advance(ms) => {
                    now = now.plus_millis(ms);
                    Ok(None)
                }
            };
            match outcome {
                Ok(Some(event)) => {
                    let delta = effect(&event);
                    prop_assert_eq!(
                        i128::from(wallet.balance().0),
                        i128::from(before.balance().0) + delta,
                        "the balance moved by exactly the event's amount"
                    );
                    prop_assert_eq!(wallet.recent_ledger().len(), before.recent_ledger().len() + 1);
                    events.push(event);
                }
                Ok(None) | Err(_) => prop_assert_eq!(&wallet, &before, "no event, no change"),
            }
            if let Err(problem) = wallet.check_invariants() {
                return Err(TestCaseError::fail(problem));
            }
            prop_assert!(wallet.balance().0 >= 0);
            prop_assert_eq!(
                i128::from(wallet.balance().0),
                i128::from(wallet.total_charged().0) - i128::from(wallet.total_used().0)
                    + i128::from(wallet.total_refunded().0),
                "balance == charged - used + refunded"
            );
            prop_assert_eq!(
                i128::from(wallet.balance().0),
                events.iter().map(effect).sum::<i128>(),
                "no money created or lost"
            );
            if let Some(max) = wallet.recent_ledger().iter().filter(|e| e.kind == boxoffice_engine::wallet::LedgerKind::Charge).map(|e| e.amount).max() {
                prop_assert!(max <= limits.max_charge);
            }
        }

        let mut rebuilt = Wallet::new(user);
        for event in &events {
            rebuilt.apply(event).expect("every event a command returned applies again");
        }
        prop_assert_eq!(&rebuilt, &wallet);
    }
}
