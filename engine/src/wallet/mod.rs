//! One user's prepaid wallet: balance, ledger, and the payments it paid.
//!
//! The wallet actor owns one `Wallet` per user. Charges add money within
//! [`WalletLimits`]; the payment saga debits a payment and may later refund
//! it. Debits and refunds are keyed by `PaymentId` so that a retried saga step
//! takes or returns money at most once: a repeat answers `Ok(None)`.
//!
//! Commands check the rules and return a [`WalletEvent`]; [`Wallet::apply`] is
//! the only code that changes state, and recovery replays logged events
//! through it.
//!
//! Size: the ledger and the payment index grow by one entry per operation for
//! the life of the wallet (they are the user's history). Charges are bounded in
//! amount by the limits, not in count.

mod ledger;
mod limits;
#[cfg(test)]
mod tests;

pub use ledger::{LedgerEntry, LedgerKind};
pub use limits::{
    MonthlyCharges, WalletLimits, DEFAULT_BALANCE_CAP, DEFAULT_MAX_CHARGE,
    DEFAULT_MONTHLY_CHARGE_LIMIT,
};

use crate::{Money, PaymentId, Timestamp, TransactionId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A durable change to a wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalletEvent {
    Charged {
        transaction_id: TransactionId,
        amount: Money,
        at: Timestamp,
    },
    Debited {
        transaction_id: TransactionId,
        payment_id: PaymentId,
        amount: Money,
        at: Timestamp,
    },
    Refunded {
        transaction_id: TransactionId,
        payment_id: PaymentId,
        amount: Money,
        at: Timestamp,
    },
}

/// Why a wallet command was refused. A refused command changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    #[error("amount must be positive and at most the largest single charge")]
    InvalidAmount,
    #[error("the charge would pass the balance cap or this month's charge limit")]
    ChargeLimitExceeded,
    #[error("insufficient balance: {balance} available, {required} required")]
    InsufficientBalance { balance: Money, required: Money },
    #[error("this payment was already debited with a different amount")]
    PaymentMismatch,
    #[error("this payment was never debited from this wallet")]
    UnknownPayment,
    #[error("amount arithmetic overflowed")]
    Overflow,
}

/// What the wallet remembers about one debited payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PaymentRecord {
    amount: Money,
    refunded: bool,
}

/// One user's balance and history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    user: UserId,
    balance: Money,
    total_charged: Money,
    total_used: Money,
    total_refunded: Money,
    updated_at: Option<Timestamp>,
    ledger: Vec<LedgerEntry>,
    /// Keyed by payment id; a BTreeMap so snapshots serialize in one order.
    payments: BTreeMap<PaymentId, PaymentRecord>,
    monthly: MonthlyCharges,
}

impl Wallet {
    pub fn new(user: UserId) -> Wallet {
        Wallet {
            user,
            balance: Money::ZERO,
            total_charged: Money::ZERO,
            total_used: Money::ZERO,
            total_refunded: Money::ZERO,
            updated_at: None,
            ledger: Vec::new(),
            payments: BTreeMap::new(),
            monthly: MonthlyCharges::default(),
        }
    }

    pub fn user(&self) -> UserId {
        self.user
    }

    pub fn balance(&self) -> Money {
        self.balance
    }

    pub fn total_charged(&self) -> Money {
        self.total_charged
    }

    pub fn total_used(&self) -> Money {
        self.total_used
    }

    pub fn total_refunded(&self) -> Money {
        self.total_refunded
    }

    /// When the last event happened; `None` for a wallet never touched.
    pub fn updated_at(&self) -> Option<Timestamp> {
        self.updated_at
    }

    /// Every balance change, oldest first.
    pub fn ledger(&self) -> &[LedgerEntry] {
        &self.ledger
    }

    /// The sum charged in the UTC month of the latest charge.
    pub fn charged_this_month(&self) -> Money {
        self.monthly.charged()
    }

    /// Adds `amount` to the balance, within `limits`.
    pub fn charge(
        &mut self,
        transaction_id: TransactionId,
        amount: Money,
        limits: &WalletLimits,
        now: Timestamp,
    ) -> Result<WalletEvent, WalletError> {
        if !amount.is_positive() || amount > limits.max_charge {
            return Err(WalletError::InvalidAmount);
        }
        let balance_after = self
            .balance
            .checked_add(amount)
            .ok_or(WalletError::Overflow)?;
        self.total_charged
            .checked_add(amount)
            .ok_or(WalletError::Overflow)?;
        let month_total = self
            .monthly
            .total_with(amount, now)
            .ok_or(WalletError::Overflow)?;
        if balance_after > limits.balance_cap || month_total > limits.monthly_charge_limit {
            return Err(WalletError::ChargeLimitExceeded);
        }
        let event = WalletEvent::Charged {
            transaction_id,
            amount,
            at: now,
        };
        self.apply(&event);
        Ok(event)
    }

    /// Takes `amount` for `payment_id`, at most once per payment id.
    ///
    /// `Ok(None)` when this payment was already debited with this same amount
    /// (a retried saga step), even if it was refunded since: a payment id pays
    /// once in its life.
    pub fn debit(
        &mut self,
        transaction_id: TransactionId,
        payment_id: PaymentId,
        amount: Money,
        now: Timestamp,
    ) -> Result<Option<WalletEvent>, WalletError> {
        if !amount.is_positive() {
            return Err(WalletError::InvalidAmount);
        }
        if let Some(record) = self.payments.get(&payment_id) {
            return if record.amount == amount {
                Ok(None)
            } else {
                Err(WalletError::PaymentMismatch)
            };
        }
        if self.balance < amount {
            return Err(WalletError::InsufficientBalance {
                balance: self.balance,
                required: amount,
            });
        }
        self.total_used
            .checked_add(amount)
            .ok_or(WalletError::Overflow)?;
        let event = WalletEvent::Debited {
            transaction_id,
            payment_id,
            amount,
            at: now,
        };
        self.apply(&event);
        Ok(Some(event))
    }

    /// Gives back exactly what `payment_id` took, at most once.
    ///
    /// The balance cap does not apply: this is the user's own money returning.
    pub fn refund(
        &mut self,
        transaction_id: TransactionId,
        payment_id: PaymentId,
        now: Timestamp,
    ) -> Result<Option<WalletEvent>, WalletError> {
        let record = self
            .payments
            .get(&payment_id)
            .ok_or(WalletError::UnknownPayment)?;
        if record.refunded {
            return Ok(None);
        }
        let amount = record.amount;
        self.balance
            .checked_add(amount)
            .ok_or(WalletError::Overflow)?;
        self.total_refunded
            .checked_add(amount)
            .ok_or(WalletError::Overflow)?;
        let event = WalletEvent::Refunded {
            transaction_id,
            payment_id,
            amount,
            at: now,
        };
        self.apply(&event);
        Ok(Some(event))
    }

    /// The amount `payment_id` took from this wallet, if it was debited.
    pub fn debited(&self, payment_id: PaymentId) -> Option<Money> {
        self.payments.get(&payment_id).map(|record| record.amount)
    }

    /// True once `payment_id` has been refunded.
    pub fn refunded(&self, payment_id: PaymentId) -> bool {
        self.payments
            .get(&payment_id)
            .is_some_and(|record| record.refunded)
    }

    /// Applies an event. Total for every event the commands produce: the
    /// commands checked every sum below, so a failed check here means the log
    /// is corrupt and panicking (which the actor contains) is the safe answer.
    pub fn apply(&mut self, event: &WalletEvent) {
        match *event {
            WalletEvent::Charged {
                transaction_id,
                amount,
                at,
            } => {
                self.total_charged = add(self.total_charged, amount);
                self.monthly.record(amount, at);
                self.balance = add(self.balance, amount);
                self.push_entry(transaction_id, LedgerKind::Charge, amount, at, None);
            }
            WalletEvent::Debited {
                transaction_id,
                payment_id,
                amount,
                at,
            } => {
                debug_assert!(
                    !self.payments.contains_key(&payment_id),
                    "payment {payment_id} debited twice"
                );
                self.payments.insert(
                    payment_id,
                    PaymentRecord {
                        amount,
                        refunded: false,
                    },
                );
                self.total_used = add(self.total_used, amount);
                self.balance = self
                    .balance
                    .checked_sub(amount)
                    .filter(|balance| balance.0 >= 0)
                    .expect("debit below zero: debit() checks the balance before emitting Debited");
                self.push_entry(
                    transaction_id,
                    LedgerKind::Payment,
                    amount,
                    at,
                    Some(payment_id),
                );
            }
            WalletEvent::Refunded {
                transaction_id,
                payment_id,
                amount,
                at,
            } => {
                let record = self.payments.get_mut(&payment_id).expect(
                    "refund of an unknown payment: refund() checks it before emitting Refunded",
                );
                debug_assert!(!record.refunded, "payment {payment_id} refunded twice");
                debug_assert_eq!(record.amount, amount, "refund amount differs from debit");
                record.refunded = true;
                self.total_refunded = add(self.total_refunded, amount);
                self.balance = add(self.balance, amount);
                self.push_entry(
                    transaction_id,
                    LedgerKind::Refund,
                    amount,
                    at,
                    Some(payment_id),
                );
            }
        }
    }

    fn push_entry(
        &mut self,
        transaction_id: TransactionId,
        kind: LedgerKind,
        amount: Money,
        at: Timestamp,
        reference: Option<PaymentId>,
    ) {
        debug_assert!(amount.is_positive(), "ledger amounts are positive");
        self.ledger.push(LedgerEntry {
            transaction_id,
            kind,
            amount,
            balance_after: self.balance,
            at,
            reference,
        });
        self.updated_at = Some(at);
    }

    /// Checks everything that must hold between the balance, the totals, the
    /// ledger and the payment index. Linear in the ledger: for tests and audits.
    pub fn check_invariants(&self) -> Result<(), String> {
        let expected = self
            .total_charged
            .checked_sub(self.total_used)
            .and_then(|sum| sum.checked_add(self.total_refunded))
            .ok_or("charged - used + refunded overflows")?;
        if self.balance != expected {
            return Err(format!(
                "balance {} != charged {} - used {} + refunded {}",
                self.balance, self.total_charged, self.total_used, self.total_refunded
            ));
        }
        if self.balance.0 < 0 {
            return Err(format!("negative balance {}", self.balance));
        }

        let mut running = Money::ZERO;
        let (mut charged, mut used, mut refunded) = (Money::ZERO, Money::ZERO, Money::ZERO);
        let mut seen_debits: BTreeMap<PaymentId, Money> = BTreeMap::new();
        let mut seen_refunds: BTreeMap<PaymentId, Money> = BTreeMap::new();
        for (index, entry) in self.ledger.iter().enumerate() {
            if !entry.amount.is_positive() {
                return Err(format!(
                    "entry {index} has non-positive amount {}",
                    entry.amount
                ));
            }
            let overflow = || format!("entry {index} overflows");
            match entry.kind {
                LedgerKind::Charge => {
                    if entry.reference.is_some() {
                        return Err(format!("charge entry {index} references a payment"));
                    }
                    charged = charged.checked_add(entry.amount).ok_or_else(overflow)?;
                }
                LedgerKind::Payment => {
                    let payment = entry
                        .reference
                        .ok_or_else(|| format!("payment entry {index} has no payment id"))?;
                    if seen_debits.insert(payment, entry.amount).is_some() {
                        return Err(format!("payment {payment} debited twice"));
                    }
                    used = used.checked_add(entry.amount).ok_or_else(overflow)?;
                }
                LedgerKind::Refund => {
                    let payment = entry
                        .reference
                        .ok_or_else(|| format!("refund entry {index} has no payment id"))?;
                    if seen_debits.get(&payment) != Some(&entry.amount) {
                        return Err(format!(
                            "refund {index} of payment {payment} without a matching earlier debit"
                        ));
                    }
                    if seen_refunds.insert(payment, entry.amount).is_some() {
                        return Err(format!("payment {payment} refunded twice"));
                    }
                    refunded = refunded.checked_add(entry.amount).ok_or_else(overflow)?;
                }
            }
            running = if entry.kind.raises_balance() {
                running.checked_add(entry.amount)
            } else {
                running.checked_sub(entry.amount)
            }
            .ok_or_else(overflow)?;
            if running != entry.balance_after {
                return Err(format!(
                    "entry {index}: replayed balance {running} != balance_after {}",
                    entry.balance_after
                ));
            }
            if running.0 < 0 {
                return Err(format!("entry {index} takes the balance below zero"));
            }
        }
        if running != self.balance {
            return Err(format!(
                "ledger ends at {running}, balance is {}",
                self.balance
            ));
        }
        if (charged, used, refunded) != (self.total_charged, self.total_used, self.total_refunded) {
            return Err(format!(
                "ledger sums (charged {charged}, used {used}, refunded {refunded}) differ from totals"
            ));
        }
        if seen_debits.len() != self.payments.len() {
            return Err("payment index and ledger debits differ in count".into());
        }
        for (payment, record) in &self.payments {
            if seen_debits.get(payment) != Some(&record.amount) {
                return Err(format!(
                    "payment {payment} amount differs from its ledger debit"
                ));
            }
            if record.refunded != seen_refunds.contains_key(payment) {
                return Err(format!(
                    "payment {payment} refund flag differs from the ledger"
                ));
            }
        }
        if self.updated_at != self.ledger.last().map(|entry| entry.at) {
            return Err("updated_at is not the last entry's time".into());
        }
        Ok(())
    }
}

/// Addition the commands already checked; a failure means a corrupt log.
fn add(total: Money, amount: Money) -> Money {
    total
        .checked_add(amount)
        .expect("money overflow in apply: the command checks every sum before emitting its event")
}
