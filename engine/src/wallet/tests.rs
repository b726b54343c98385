//! Unit tests for each wallet rule and error.

use super::*;

fn user() -> UserId {
    UserId::from_random_bytes([1; 16])
}

fn tx(n: u8) -> TransactionId {
    TransactionId::from_random_bytes([n; 16])
}

fn pay(n: u8) -> PaymentId {
    PaymentId::from_random_bytes([n; 16])
}

/// 2026-03-15T10:00:00Z
const MARCH: Timestamp = Timestamp(1_773_568_800_000);
/// 2026-04-01T00:00:00Z
const APRIL_FIRST: Timestamp = Timestamp(1_775_001_600_000);

fn funded(amount: i64) -> Wallet {
    let mut wallet = Wallet::new(user());
    wallet
        .charge(tx(0), Money(amount), &WalletLimits::default(), MARCH)
        .expect("test funding fits the default limits");
    wallet
}

#[test]
fn charge_adds_to_balance_and_ledger() {
    let mut wallet = Wallet::new(user());
    let event = wallet
        .charge(tx(1), Money(5_000), &WalletLimits::default(), MARCH)
        .unwrap();
    assert_eq!(
        event,
        WalletEvent::Charged {
            transaction_id: tx(1),
            amount: Money(5_000),
            at: MARCH
        }
    );
    assert_eq!(wallet.balance(), Money(5_000));
    assert_eq!(wallet.total_charged(), Money(5_000));
    assert_eq!(wallet.updated_at(), Some(MARCH));
    assert_eq!(
        wallet.recent_ledger(),
        &[LedgerEntry {
            transaction_id: tx(1),
            kind: LedgerKind::Charge,
            amount: Money(5_000),
            balance_after: Money(5_000),
            at: MARCH,
            reference: None
        }]
    );
    wallet.check_invariants().unwrap();
}

#[test]
fn charge_rejects_non_positive_and_oversized_amounts() {
    let limits = WalletLimits::default();
    let mut wallet = Wallet::new(user());
    for amount in [0, -1, i64::MIN, limits.max_charge.0 + 1, i64::MAX] {
        assert_eq!(
            wallet.charge(tx(1), Money(amount), &limits, MARCH),
            Err(WalletError::InvalidAmount),
            "amount {amount}"
        );
    }
    assert!(wallet
        .charge(tx(1), limits.max_charge, &limits, MARCH)
        .is_ok());
    assert_eq!(wallet.recent_ledger().len(), 1);
}

#[test]
fn charge_respects_balance_cap_inclusively() {
    let limits = WalletLimits {
        max_charge: Money(100),
        balance_cap: Money(150),
        monthly_charge_limit: Money(1_000),
        ..WalletLimits::default()
    };
    let mut wallet = Wallet::new(user());
    wallet.charge(tx(1), Money(100), &limits, MARCH).unwrap();
    assert_eq!(
        wallet.charge(tx(2), Money(51), &limits, MARCH),
        Err(WalletError::ChargeLimitExceeded)
    );
    assert_eq!(wallet.balance(), Money(100));
    wallet.charge(tx(3), Money(50), &limits, MARCH).unwrap();
    assert_eq!(wallet.balance(), Money(150));
}

#[test]
fn monthly_limit_counts_charges_not_balance() {
    let limits = WalletLimits {
        max_charge: Money(100),
        balance_cap: Money(1_000),
        monthly_charge_limit: Money(150),
        ..WalletLimits::default()
    };
    let mut wallet = Wallet::new(user());
    wallet.charge(tx(1), Money(100), &limits, MARCH).unwrap();
    wallet.debit(tx(2), pay(1), Money(100), MARCH).unwrap();
    // Spending does not give monthly room back.
    assert_eq!(
        wallet.charge(tx(3), Money(51), &limits, MARCH),
        Err(WalletError::ChargeLimitExceeded)
    );
    wallet.charge(tx(4), Money(50), &limits, MARCH).unwrap();
    assert_eq!(wallet.charged_this_month(), Money(150));
}

#[test]
fn monthly_limit_rolls_over_at_utc_month_start() {
    let limits = WalletLimits {
        max_charge: Money(100),
        balance_cap: Money(1_000),
        monthly_charge_limit: Money(100),
        ..WalletLimits::default()
    };
    let mut wallet = Wallet::new(user());
    wallet.charge(tx(1), Money(100), &limits, MARCH).unwrap();
    let last_march_ms = APRIL_FIRST.plus_millis(-1);
    assert_eq!(
        wallet.charge(tx(2), Money(1), &limits, last_march_ms),
        Err(WalletError::ChargeLimitExceeded)
    );
    wallet
        .charge(tx(3), Money(100), &limits, APRIL_FIRST)
        .unwrap();
    assert_eq!(wallet.charged_this_month(), Money(100));
    assert_eq!(wallet.balance(), Money(200));
}

#[test]
fn clock_stepping_back_a_month_does_not_reset_the_monthly_limit() {
    let limits = WalletLimits {
        max_charge: Money(100),
        balance_cap: Money(1_000),
        monthly_charge_limit: Money(100),
        ..WalletLimits::default()
    };
    let mut wallet = Wallet::new(user());
    wallet
        .charge(tx(1), Money(100), &limits, APRIL_FIRST)
        .unwrap();
    assert_eq!(
        wallet.charge(tx(2), Money(1), &limits, MARCH),
        Err(WalletError::ChargeLimitExceeded)
    );
}

#[test]
fn charge_overflow_is_an_error_not_a_wrap() {
    let limits = WalletLimits {
        max_charge: Money(i64::MAX),
        balance_cap: Money(i64::MAX),
        monthly_charge_limit: Money(i64::MAX),
        ..WalletLimits::default()
    };
    let mut wallet = Wallet::new(user());
    wallet
        .charge(tx(1), Money(i64::MAX), &limits, MARCH)
        .unwrap();
    assert_eq!(
        wallet.charge(tx(2), Money(1), &limits, MARCH),
        Err(WalletError::Overflow)
    );
    // Spend it all: the balance has room, but the total charged does not.
    wallet.debit(tx(3), pay(1), Money(i64::MAX), MARCH).unwrap();
    assert_eq!(
        wallet.charge(tx(4), Money(1), &limits, APRIL_FIRST),
        Err(WalletError::Overflow)
    );
    wallet.check_invariants().unwrap();
}

#[test]
fn debit_takes_money_once_per_payment() {
    let mut wallet = funded(1_000);
    let event = wallet.debit(tx(1), pay(1), Money(300), MARCH).unwrap();
    assert!(matches!(
        event,
        Some(WalletEvent::Debited {
            amount: Money(300),
            ..
        })
    ));
    assert_eq!(wallet.balance(), Money(700));
    assert_eq!(wallet.debited(pay(1)), Some(Money(300)));
    // A retry with another transaction id is still the same payment.
    assert_eq!(wallet.debit(tx(2), pay(1), Money(300), MARCH), Ok(None));
    assert_eq!(wallet.balance(), Money(700));
    assert_eq!(wallet.total_used(), Money(300));
    assert_eq!(wallet.recent_ledger().len(), 2);
    wallet.check_invariants().unwrap();
}

#[test]
fn debit_of_a_known_payment_with_another_amount_is_a_mismatch() {
    let mut wallet = funded(1_000);
    wallet.debit(tx(1), pay(1), Money(300), MARCH).unwrap();
    assert_eq!(
        wallet.debit(tx(2), pay(1), Money(301), MARCH),
        Err(WalletError::PaymentMismatch)
    );
    assert_eq!(wallet.balance(), Money(700));
}

#[test]
fn debit_rejects_non_positive_amounts() {
    let mut wallet = funded(1_000);
    for amount in [0, -5, i64::MIN] {
        assert_eq!(
            wallet.debit(tx(1), pay(1), Money(amount), MARCH),
            Err(WalletError::InvalidAmount)
        );
    }
    assert_eq!(wallet.debited(pay(1)), None);
}

#[test]
fn insufficient_balance_leaves_state_unchanged() {
    let mut wallet = funded(1_000);
    let before = wallet.clone();
    assert_eq!(
        wallet.debit(tx(1), pay(1), Money(1_001), MARCH),
        Err(WalletError::InsufficientBalance {
            balance: Money(1_000),
            required: Money(1_001)
        })
    );
    assert_eq!(wallet, before);
    // The payment id is not burnt: the same payment may be retried after a charge.
    wallet
        .charge(tx(2), Money(1), &WalletLimits::default(), MARCH)
        .unwrap();
    assert!(wallet
        .debit(tx(3), pay(1), Money(1_001), MARCH)
        .unwrap()
        .is_some());
    assert_eq!(wallet.balance(), Money(0));
}

#[test]
fn refused_commands_leave_state_unchanged() {
    let mut wallet = funded(1_000);
    wallet.debit(tx(1), pay(1), Money(300), MARCH).unwrap();
    let before = wallet.clone();
    let limits = WalletLimits::default();
    assert!(wallet.charge(tx(2), Money(0), &limits, MARCH).is_err());
    assert!(wallet
        .charge(tx(2), Money(limits.balance_cap.0), &limits, MARCH)
        .is_err());
    assert!(wallet.debit(tx(2), pay(1), Money(1), MARCH).is_err());
    assert!(wallet.refund(tx(2), pay(9), MARCH).is_err());
    assert_eq!(wallet, before);
}

#[test]
fn refund_returns_exactly_the_debit_once() {
    let mut wallet = funded(1_000);
    wallet.debit(tx(1), pay(1), Money(300), MARCH).unwrap();
    let event = wallet.refund(tx(2), pay(1), MARCH).unwrap();
    assert_eq!(
        event,
        Some(WalletEvent::Refunded {
            transaction_id: tx(2),
            payment_id: pay(1),
            amount: Money(300),
            at: MARCH
        })
    );
    assert!(wallet.refunded(pay(1)));
    assert_eq!(wallet.balance(), Money(1_000));
    assert_eq!(wallet.refund(tx(3), pay(1), MARCH), Ok(None));
    assert_eq!(wallet.balance(), Money(1_000));
    assert_eq!(wallet.total_refunded(), Money(300));
    // A refunded payment still counts as debited: it cannot pay a second time.
    assert_eq!(wallet.debit(tx(4), pay(1), Money(300), MARCH), Ok(None));
    assert_eq!(wallet.balance(), Money(1_000));
    wallet.check_invariants().unwrap();
}

#[test]
fn refund_of_unknown_payment_is_an_error() {
    let mut wallet = funded(1_000);
    assert_eq!(
        wallet.refund(tx(1), pay(1), MARCH),
        Err(WalletError::UnknownPayment)
    );
    assert!(!wallet.refunded(pay(1)));
}

#[test]
fn refund_may_pass_the_balance_cap() {
    let limits = WalletLimits {
        max_charge: Money(100),
        balance_cap: Money(100),
        monthly_charge_limit: Money(1_000),
        ..WalletLimits::default()
    };
    let mut wallet = Wallet::new(user());
    wallet.charge(tx(1), Money(100), &limits, MARCH).unwrap();
    wallet.debit(tx(2), pay(1), Money(100), MARCH).unwrap();
    wallet.charge(tx(3), Money(100), &limits, MARCH).unwrap();
    wallet.refund(tx(4), pay(1), MARCH).unwrap();
    assert_eq!(wallet.balance(), Money(200));
    wallet.check_invariants().unwrap();
}

#[test]
fn replaying_events_rebuilds_an_equal_wallet() {
    let mut wallet = Wallet::new(user());
    let limits = WalletLimits::default();
    let events = vec![
        wallet.charge(tx(1), Money(1_000), &limits, MARCH).unwrap(),
        wallet
            .debit(tx(2), pay(1), Money(400), MARCH)
            .unwrap()
            .unwrap(),
        wallet.refund(tx(3), pay(1), MARCH).unwrap().unwrap(),
        wallet
            .charge(tx(4), Money(7), &limits, APRIL_FIRST)
            .unwrap(),
    ];
    let mut rebuilt = Wallet::new(user());
    for event in &events {
        rebuilt.apply(event).unwrap();
    }
    assert_eq!(rebuilt, wallet);
    assert_eq!(rebuilt.charged_this_month(), Money(7));
}

#[test]
fn check_invariants_catches_a_tampered_balance() {
    let mut wallet = funded(1_000);
    wallet.balance = Money(999);
    assert!(wallet.check_invariants().is_err());
    let mut wallet = funded(1_000);
    wallet.ledger[0].balance_after = Money(1);
    assert!(wallet.check_invariants().is_err());
    let mut wallet = funded(1_000);
    wallet.debit(tx(1), pay(1), Money(10), MARCH).unwrap();
    wallet.payments.get_mut(&pay(1)).unwrap().refunded = true;
    assert!(wallet.check_invariants().is_err());
}

#[test]
fn apply_refuses_a_repeated_debit_or_refund_and_changes_nothing() {
    let mut wallet = funded(1_000);
    let debit = wallet
        .debit(tx(1), pay(1), Money(100), MARCH)
        .unwrap()
        .unwrap();
    let before = wallet.clone();
    assert_eq!(wallet.apply(&debit), Err(ApplyError::DebitedTwice(pay(1))));
    assert_eq!(wallet, before, "a refused event changes nothing");
    let refund = wallet.refund(tx(2), pay(1), MARCH).unwrap().unwrap();
    let before = wallet.clone();
    assert_eq!(
        wallet.apply(&refund),
        Err(ApplyError::RefundedTwice(pay(1)))
    );
    assert_eq!(wallet, before);
    wallet.check_invariants().unwrap();
}

#[test]
fn apply_refuses_events_no_command_could_have_produced() {
    let mut wallet = funded(100);
    let unknown = WalletEvent::Refunded {
        transaction_id: tx(1),
        payment_id: pay(9),
        amount: Money(5),
        at: MARCH,
    };
    assert_eq!(
        wallet.apply(&unknown),
        Err(ApplyError::RefundOfUnknownPayment(pay(9)))
    );
    let overdraw = WalletEvent::Debited {
        transaction_id: tx(2),
        payment_id: pay(1),
        amount: Money(101),
        at: MARCH,
    };
    assert!(matches!(
        wallet.apply(&overdraw),
        Err(ApplyError::Overdrawn { .. })
    ));
    let zero = WalletEvent::Charged {
        transaction_id: tx(3),
        amount: Money(0),
        at: MARCH,
    };
    assert_eq!(
        wallet.apply(&zero),
        Err(ApplyError::NonPositiveAmount(Money(0)))
    );
    let huge = WalletEvent::Charged {
        transaction_id: tx(4),
        amount: Money(i64::MAX),
        at: MARCH,
    };
    assert_eq!(wallet.apply(&huge), Err(ApplyError::Overflow));
    wallet.debit(tx(5), pay(2), Money(40), MARCH).unwrap();
    let wrong_amount = WalletEvent::Refunded {
        transaction_id: tx(6),
        payment_id: pay(2),
        amount: Money(41),
        at: MARCH,
    };
    assert!(matches!(
        wallet.apply(&wrong_amount),
        Err(ApplyError::RefundAmountDiffers { .. })
    ));
    assert_eq!(wallet.balance(), Money(60));
    wallet.check_invariants().unwrap();
}

#[test]
fn check_invariants_requires_unique_transaction_ids() {
    let mut wallet = Wallet::new(user());
    let charge = wallet
        .charge(tx(1), Money(500), &WalletLimits::default(), MARCH)
        .unwrap();
    wallet.check_invariants().unwrap();
    // A repeated charge record applies (apply has no transaction index) but
    // leaves the ledger with the same transaction twice: the audit refuses it.
    wallet.apply(&charge).unwrap();
    let broken = wallet.check_invariants().unwrap_err();
    assert!(broken.contains("appears twice"), "{broken}");
}

/// A wallet with charges, a debit and a refund, as (wallet, whole ledger).
fn with_history() -> Wallet {
    let mut wallet = funded(10_000);
    let limits = WalletLimits::default();
    wallet.charge(tx(1), Money(500), &limits, MARCH).unwrap();
    wallet.debit(tx(2), pay(1), Money(3_000), MARCH).unwrap();
    wallet.debit(tx(3), pay(2), Money(1_000), MARCH).unwrap();
    wallet.refund(tx(4), pay(1), MARCH).unwrap();
    wallet
}

#[test]
fn forgetting_archived_entries_keeps_every_invariant_and_the_numbering() {
    let whole = with_history();
    let ledger = whole.recent_ledger().to_vec();
    for cut in 0..=ledger.len() {
        let mut wallet = whole.clone();
        wallet.forget_archived(cut);
        assert_eq!(wallet.recent_ledger(), &ledger[cut..]);
        assert_eq!(wallet.archived_ledger().entries, cut as u64);
        assert_eq!(wallet.ledger_len(), ledger.len() as u64);
        wallet.check_invariants().unwrap();
        wallet.check_with_archive(&ledger[..cut]).unwrap();
        // A refund after its debit was archived, and a new debit, still check.
        wallet.refund(tx(9), pay(2), MARCH).unwrap();
        wallet.debit(tx(10), pay(3), Money(7), MARCH).unwrap();
        wallet.check_invariants().unwrap();
        wallet.check_with_archive(&ledger[..cut]).unwrap();
    }
}

#[test]
fn the_archive_check_refuses_an_archive_that_differs_from_the_counts() {
    let whole = with_history();
    let ledger = whole.recent_ledger().to_vec();
    let mut wallet = whole.clone();
    wallet.forget_archived(3);
    // One entry missing, one changed, a transaction repeated in memory.
    assert!(wallet.check_with_archive(&ledger[..2]).is_err());
    let mut changed = ledger[..3].to_vec();
    changed[1].amount = Money(501);
    changed[1].balance_after = Money(10_501);
    assert!(wallet.check_with_archive(&changed).is_err());
    let mut repeated = ledger[..3].to_vec();
    repeated[0].transaction_id = ledger[4].transaction_id;
    assert!(wallet.check_with_archive(&repeated).is_err());
    wallet.check_with_archive(&ledger[..3]).unwrap();
}

#[test]
fn the_invariants_refuse_archived_sums_that_disagree_with_the_totals() {
    let mut wallet = with_history();
    wallet.forget_archived(2);
    wallet.archived.charged = Money(wallet.archived.charged.0 - 1);
    assert!(wallet.check_invariants().is_err());
    let mut wallet = with_history();
    wallet.forget_archived(3);
    wallet.archived.debits += 1;
    assert!(wallet.check_invariants().is_err());
}

#[test]
fn a_wallet_of_the_previous_format_converts_with_nothing_archived() {
    let wallet = with_history();
    let previous = wallet.as_previous_format().expect("nothing archived");
    let converted = Wallet::from(previous);
    assert_eq!(converted, wallet);
    converted.check_invariants().unwrap();
    let mut archived = wallet.clone();
    archived.forget_archived(1);
    assert!(archived.as_previous_format().is_none());
}

/// 2026-03-16T00:00:00Z, the UTC day after `MARCH`.
const MARCH_16: Timestamp = Timestamp(1_773_619_200_000);

fn three_a_day() -> WalletLimits {
    WalletLimits {
        max_charges_per_day: 3,
        ..WalletLimits::default()
    }
}

#[test]
fn daily_charge_count_is_inclusive_and_names_its_limit() {
    let limits = three_a_day();
    let mut wallet = Wallet::new(user());
    for n in 1..=3 {
        wallet.charge(tx(n), Money(1), &limits, MARCH).unwrap();
    }
    assert_eq!(wallet.charges_today(), 3);
    let refused = wallet.charge(tx(4), Money(1), &limits, MARCH);
    assert_eq!(
        refused,
        Err(WalletError::DailyChargeCountExceeded { limit: 3 })
    );
    assert!(refused
        .unwrap_err()
        .to_string()
        .contains("daily limit of 3 charges"));
    // A refused charge changes nothing; debits and refunds are not counted.
    assert_eq!(wallet.balance(), Money(3));
    wallet.debit(tx(5), pay(1), Money(2), MARCH).unwrap();
    wallet.refund(tx(6), pay(1), MARCH).unwrap();
    assert_eq!(wallet.charges_today(), 3);
}

#[test]
fn daily_charge_count_rolls_over_at_utc_midnight() {
    let limits = three_a_day();
    let mut wallet = Wallet::new(user());
    for n in 1..=3 {
        wallet.charge(tx(n), Money(1), &limits, MARCH).unwrap();
    }
    let last_ms_of_the_day = MARCH_16.plus_millis(-1);
    assert_eq!(
        wallet.charge(tx(4), Money(1), &limits, last_ms_of_the_day),
        Err(WalletError::DailyChargeCountExceeded { limit: 3 })
    );
    wallet.charge(tx(5), Money(1), &limits, MARCH_16).unwrap();
    assert_eq!(wallet.charges_today(), 1);
}

#[test]
fn clock_stepping_back_a_day_does_not_reset_the_daily_count() {
    let limits = three_a_day();
    let mut wallet = Wallet::new(user());
    for n in 1..=3 {
        wallet.charge(tx(n), Money(1), &limits, MARCH_16).unwrap();
    }
    assert_eq!(
        wallet.charge(tx(4), Money(1), &limits, MARCH),
        Err(WalletError::DailyChargeCountExceeded { limit: 3 })
    );
    // A charge stamped earlier than the tracked day counts in the tracked day.
    let mut stepped = Wallet::new(user());
    stepped.charge(tx(1), Money(1), &limits, MARCH_16).unwrap();
    stepped.charge(tx(2), Money(1), &limits, MARCH).unwrap();
    assert_eq!(stepped.charges_today(), 2);
}

#[test]
fn replay_and_the_older_stored_form_rebuild_the_daily_count() {
    let limits = three_a_day();
    let mut wallet = Wallet::new(user());
    let events = vec![
        wallet.charge(tx(1), Money(5), &limits, MARCH).unwrap(),
        wallet.charge(tx(2), Money(5), &limits, MARCH_16).unwrap(),
        wallet
            .debit(tx(3), pay(1), Money(4), MARCH_16)
            .unwrap()
            .unwrap(),
        wallet.charge(tx(4), Money(5), &limits, MARCH_16).unwrap(),
    ];
    let mut replayed = Wallet::new(user());
    for event in &events {
        replayed.apply(event).unwrap();
    }
    assert_eq!(replayed, wallet);
    assert_eq!(replayed.charges_today(), 2);

    let migrated = Wallet::from(wallet.as_previous_format().expect("nothing archived"));
    assert_eq!(migrated, wallet);
    let mut migrated = migrated;
    migrated.charge(tx(5), Money(1), &limits, MARCH_16).unwrap();
    assert_eq!(
        migrated.charge(tx(6), Money(1), &limits, MARCH_16),
        Err(WalletError::DailyChargeCountExceeded { limit: 3 })
    );
}
