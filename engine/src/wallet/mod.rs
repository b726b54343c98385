//! One user's prepaid wallet: balance, ledger, and the payments it paid.
//!
//! The wallet actor owns one `Wallet` per user. Charges add money within
//! [`WalletLimits`]; the payment saga debits a payment and may later refund
//! it. Debits and refunds are keyed by `PaymentId` so that a retried saga step
//! takes or returns money at most once: a repeat answers `Ok(None)`.
//!
//! Commands check the rules and return a [`WalletEvent`]; [`Wallet::apply`] is
//! the only code that changes state, and recovery replays logged events
//! through it. `apply` checks every rule an event could break against the
//! current state (a payment debited twice, a refund of an unknown or refunded
//! payment, a balance below zero, an overflow) and refuses such an event with
//! an [`ApplyError`], changing nothing: a log that repeats or reorders
//! records is refused at start-up instead of panicking or being applied
//! twice. A charge repeated with the same transaction id is the one thing
//! `apply` cannot see in O(1) (there is no transaction-id index in memory);
//! replay checks it while loading (against the entries in memory and the
//! archive's index), and [`Wallet::check_invariants`] requires unique
//! transaction ids among the entries in memory.
//!
//! Size: the ledger is the user's history, so only its newest entries stay
//! here; the wallet actor moves older ones to the store (`wallet_ledger` in
//! the actors crate) and the wallet keeps an [`ArchivedLedger`]: their count
//! (the sequence number of the next entry) and sums, which
//! [`Wallet::check_invariants`] starts from. The payment index still grows by
//! one small record per payment: refunds and saga recovery look payments up
//! by id. Charges are bounded by the limits in amount, and in count per UTC day.

mod ledger;
mod limits;
mod older_format;
#[cfg(test)]
mod tests;

pub use ledger::{ArchivedLedger, LedgerEntry, LedgerKind};
pub use limits::{
    DailyCharges, MonthlyCharges, WalletLimits, DEFAULT_BALANCE_CAP, DEFAULT_MAX_CHARGE,
    DEFAULT_MAX_CHARGES_PER_DAY, DEFAULT_MONTHLY_CHARGE_LIMIT,
};
pub use older_format::WalletPreviousFormat;

use crate::{Money, PaymentId, Timestamp, TransactionId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

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

impl WalletEvent {
    /// The money this event moves (always > 0 in a sound log).
    pub fn amount(&self) -> Money {
        match *self {
            WalletEvent::Charged { amount, .. }
            | WalletEvent::Debited { amount, .. }
            | WalletEvent::Refunded { amount, .. } => amount,
        }
    }

    /// The ledger transaction this event creates.
    pub fn transaction_id(&self) -> TransactionId {
        match *self {
            WalletEvent::Charged { transaction_id, .. }
            | WalletEvent::Debited { transaction_id, .. }
            | WalletEvent::Refunded { transaction_id, .. } => transaction_id,
        }
    }
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
    #[error("the daily limit of {limit} charges is reached; charge again after 00:00 UTC")]
    DailyChargeCountExceeded { limit: u32 },
}

/// Why [`Wallet::apply`] refused an event: applying it would break a rule,
/// so the log holding it is corrupt (or repeats a record). Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("event amount {0} is not positive")]
    NonPositiveAmount(Money),
    #[error("payment {0} is already debited")]
    DebitedTwice(PaymentId),
    #[error("debit of {amount} for payment {payment_id} takes the balance {balance} below zero")]
    Overdrawn {
        payment_id: PaymentId,
        amount: Money,
        balance: Money,
    },
    #[error("refund of payment {0}, which was never debited")]
    RefundOfUnknownPayment(PaymentId),
    #[error("payment {0} is already refunded")]
    RefundedTwice(PaymentId),
    #[error("refund of {refund} for payment {payment_id}, which debited {debit}")]
    RefundAmountDiffers {
        payment_id: PaymentId,
        refund: Money,
        debit: Money,
    },
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
    /// The entries not yet archived, oldest first; the first one's sequence
    /// number is `archived.entries`.
    ledger: Vec<LedgerEntry>,
    /// Keyed by payment id; a BTreeMap so snapshots serialize in one order.
    payments: BTreeMap<PaymentId, PaymentRecord>,
    monthly: MonthlyCharges,
    archived: ArchivedLedger,
    /// Last: a snapshot without it or `archived` is the previous format
    /// ([`WalletPreviousFormat`]).
    daily: DailyCharges,
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
            archived: ArchivedLedger::default(),
            daily: DailyCharges::default(),
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

    /// The balance changes still in memory, oldest first: the ledger's
    /// entries from sequence number `archived_ledger().entries` on.
    pub fn recent_ledger(&self) -> &[LedgerEntry] {
        &self.ledger
    }

    /// What was archived of the ledger (count and sums).
    pub fn archived_ledger(&self) -> &ArchivedLedger {
        &self.archived
    }

    /// This wallet as the previous snapshot format stored it, if nothing of
    /// it was archived (that format could not say so): for tests that the
    /// previous format still loads.
    pub fn as_previous_format(&self) -> Option<WalletPreviousFormat> {
        (self.archived == ArchivedLedger::default()).then(|| WalletPreviousFormat::of(self))
    }

    /// Entries in the whole ledger, archived or not.
    pub fn ledger_len(&self) -> u64 {
        self.archived.entries + self.ledger.len() as u64
    }

    /// Drops the oldest `count` entries from memory once the caller has
    /// stored them (sequence numbers `archived_ledger().entries..+count`),
    /// adding them to the archived count and sums.
    pub fn forget_archived(&mut self, count: usize) {
        let count = count.min(self.ledger.len());
        for entry in self.ledger.drain(..count) {
            // The sums of entries that applied cannot overflow: the totals
            // over every entry did not.
            let pushed = self.archived.push(&entry);
            debug_assert!(pushed.is_some(), "archived sums are within the totals");
        }
    }

    /// The sum charged in the UTC month of the latest charge.
    pub fn charged_this_month(&self) -> Money {
        self.monthly.charged()
    }

    /// The charges taken in the UTC day of the latest charge.
    pub fn charges_today(&self) -> u32 {
        self.daily.count()
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
        if !self.daily.allows_one_more(limits.max_charges_per_day, now) {
            return Err(WalletError::DailyChargeCountExceeded {
                limit: limits.max_charges_per_day,
            });
        }
        let event = WalletEvent::Charged {
            transaction_id,
            amount,
            at: now,
        };
        self.apply(&event)
            .expect("charge() checked every rule apply() checks");
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
        self.apply(&event)
            .expect("debit() checked every rule apply() checks");
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
        self.apply(&event)
            .expect("refund() checked every rule apply() checks");
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

    /// Applies an event, or refuses it with the rule it would break (see
    /// the module doc); a refused event changes nothing. Every event a
    /// command returns applies: the commands check the same rules first.
    pub fn apply(&mut self, event: &WalletEvent) -> Result<(), ApplyError> {
        let amount = event.amount();
        if !amount.is_positive() {
            return Err(ApplyError::NonPositiveAmount(amount));
        }
        match *event {
            WalletEvent::Charged {
                transaction_id,
                amount,
                at,
            } => {
                let total_charged = self
                    .total_charged
                    .checked_add(amount)
                    .ok_or(ApplyError::Overflow)?;
                let balance = self
                    .balance
                    .checked_add(amount)
                    .ok_or(ApplyError::Overflow)?;
                // `record` below cannot overflow once this did not.
                self.monthly
                    .total_with(amount, at)
                    .ok_or(ApplyError::Overflow)?;
                self.total_charged = total_charged;
                self.monthly.record(amount, at);
                self.daily.record(at);
                self.balance = balance;
                self.push_entry(transaction_id, LedgerKind::Charge, amount, at, None);
            }
            WalletEvent::Debited {
                transaction_id,
                payment_id,
                amount,
                at,
            } => {
                if self.payments.contains_key(&payment_id) {
                    return Err(ApplyError::DebitedTwice(payment_id));
                }
                let total_used = self
                    .total_used
                    .checked_add(amount)
                    .ok_or(ApplyError::Overflow)?;
                let balance = self
                    .balance
                    .checked_sub(amount)
                    .filter(|balance| balance.0 >= 0)
                    .ok_or(ApplyError::Overdrawn {
                        payment_id,
                        amount,
                        balance: self.balance,
                    })?;
                self.payments.insert(
                    payment_id,
                    PaymentRecord {
                        amount,
                        refunded: false,
                    },
                );
                self.total_used = total_used;
                self.balance = balance;
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
                let record = self
                    .payments
                    .get(&payment_id)
                    .ok_or(ApplyError::RefundOfUnknownPayment(payment_id))?;
                if record.refunded {
                    return Err(ApplyError::RefundedTwice(payment_id));
                }
                if record.amount != amount {
                    return Err(ApplyError::RefundAmountDiffers {
                        payment_id,
                        refund: amount,
                        debit: record.amount,
                    });
                }
                let total_refunded = self
                    .total_refunded
                    .checked_add(amount)
                    .ok_or(ApplyError::Overflow)?;
                let balance = self
                    .balance
                    .checked_add(amount)
                    .ok_or(ApplyError::Overflow)?;
                if let Some(record) = self.payments.get_mut(&payment_id) {
                    record.refunded = true;
                }
                self.total_refunded = total_refunded;
                self.balance = balance;
                self.push_entry(
                    transaction_id,
                    LedgerKind::Refund,
                    amount,
                    at,
                    Some(payment_id),
                );
            }
        }
        Ok(())
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
    /// archived sums, the ledger in memory and the payment index. Linear in
    /// the entries in memory and the payments: for tests and audits.
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

        let mut replay = Replay::from_archived(&self.archived)?;
        replay.entries(&self.ledger, self.archived.entries)?;
        if replay.running != self.balance {
            return Err(format!(
                "ledger ends at {}, balance is {}",
                replay.running, self.balance
            ));
        }
        if (replay.charged, replay.used, replay.refunded)
            != (self.total_charged, self.total_used, self.total_refunded)
        {
            return Err(format!(
                "ledger sums (charged {}, used {}, refunded {}) differ from totals",
                replay.charged, replay.used, replay.refunded
            ));
        }
        // Debits and refunds in memory must agree with the index; those
        // archived are checked by count and sum.
        for (payment, amount) in &replay.debits {
            if self.payments.get(payment).map(|r| r.amount) != Some(*amount) {
                return Err(format!(
                    "payment {payment} amount differs from its ledger debit"
                ));
            }
        }
        for (payment, amount) in &replay.refunds {
            let record = self.payments.get(payment);
            if !record.is_some_and(|r| r.refunded && r.amount == *amount) {
                return Err(format!(
                    "payment {payment} refund flag differs from the ledger"
                ));
            }
        }
        if replay.debit_count != self.payments.len() as u64 {
            return Err("payment index and ledger debits differ in count".into());
        }
        let refunded_records = self.payments.values().filter(|r| r.refunded).count() as u64;
        if replay.refund_count != refunded_records {
            return Err("refunded payments and ledger refunds differ in count".into());
        }
        let (mut used, mut refunded) = (Money::ZERO, Money::ZERO);
        for record in self.payments.values() {
            used = used.checked_add(record.amount).ok_or("payments overflow")?;
            if record.refunded {
                refunded = refunded
                    .checked_add(record.amount)
                    .ok_or("refunds overflow")?;
            }
        }
        if (used, refunded) != (self.total_used, self.total_refunded) {
            return Err("payment index sums differ from the totals".into());
        }
        if self.updated_at
            != self
                .ledger
                .last()
                .map(|entry| entry.at)
                .or(self.archived.last_at)
        {
            return Err("updated_at is not the last entry's time".into());
        }
        Ok(())
    }

    /// [`Self::check_invariants`], plus the archived part of the ledger as
    /// read back from the store (`archived`, oldest first): it must be
    /// exactly what the archived count and sums say, and transaction ids
    /// must be unique across the whole ledger. Linear in the whole history.
    pub fn check_with_archive(&self, archived: &[LedgerEntry]) -> Result<(), String> {
        self.check_invariants()?;
        if archived.len() as u64 != self.archived.entries {
            return Err(format!(
                "{} archived entries read, {} archived",
                archived.len(),
                self.archived.entries
            ));
        }
        let mut replay = Replay::from_archived(&ArchivedLedger::default())?;
        replay.entries(archived, 0)?;
        let mut summed = ArchivedLedger::default();
        for entry in archived {
            summed.push(entry).ok_or("archived sums overflow")?;
        }
        if summed != self.archived {
            return Err(format!(
                "the archived entries sum to {summed:?}, the wallet says {:?}",
                self.archived
            ));
        }
        // The refunds in memory of payments debited in the archive.
        for entry in &self.ledger {
            if entry.kind == LedgerKind::Refund {
                let payment = entry.reference.ok_or("refund without a payment id")?;
                if replay.refunds.contains_key(&payment) {
                    return Err(format!("payment {payment} refunded twice"));
                }
            }
        }
        let mut seen: HashSet<TransactionId> = replay.transactions;
        for entry in &self.ledger {
            if !seen.insert(entry.transaction_id) {
                return Err(format!(
                    "transaction {} appears twice in the ledger",
                    entry.transaction_id
                ));
            }
        }
        Ok(())
    }
}

/// A replay of ledger entries in order, from the archived sums on.
struct Replay {
    running: Money,
    charged: Money,
    used: Money,
    refunded: Money,
    debit_count: u64,
    refund_count: u64,
    /// The debits and refunds replayed here (not those only summed).
    debits: BTreeMap<PaymentId, Money>,
    refunds: BTreeMap<PaymentId, Money>,
    transactions: HashSet<TransactionId>,
}

impl Replay {
    fn from_archived(archived: &ArchivedLedger) -> Result<Replay, String> {
        let running = archived.balance_after().ok_or("archived sums overflow")?;
        if running.0 < 0 {
            return Err(format!(
                "the archived entries end at a negative balance {running}"
            ));
        }
        Ok(Replay {
            running,
            charged: archived.charged,
            used: archived.used,
            refunded: archived.refunded,
            debit_count: archived.debits,
            refund_count: archived.refunds,
            debits: BTreeMap::new(),
            refunds: BTreeMap::new(),
            transactions: HashSet::new(),
        })
    }

    /// Replays `entries`, the first of which has sequence number `first`.
    fn entries(&mut self, entries: &[LedgerEntry], first: u64) -> Result<(), String> {
        for (offset, entry) in entries.iter().enumerate() {
            let index = first + offset as u64;
            if !self.transactions.insert(entry.transaction_id) {
                return Err(format!(
                    "entry {index}: transaction {} appears twice in the ledger",
                    entry.transaction_id
                ));
            }
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
                    self.charged = self
                        .charged
                        .checked_add(entry.amount)
                        .ok_or_else(overflow)?;
                }
                LedgerKind::Payment => {
                    let payment = entry
                        .reference
                        .ok_or_else(|| format!("payment entry {index} has no payment id"))?;
                    if self.debits.insert(payment, entry.amount).is_some() {
                        return Err(format!("payment {payment} debited twice"));
                    }
                    if self.refunds.contains_key(&payment) {
                        return Err(format!("payment {payment} refunded before its debit"));
                    }
                    self.debit_count += 1;
                    self.used = self.used.checked_add(entry.amount).ok_or_else(overflow)?;
                }
                LedgerKind::Refund => {
                    let payment = entry
                        .reference
                        .ok_or_else(|| format!("refund entry {index} has no payment id"))?;
                    // A debit archived earlier is not replayed here: the
                    // payment index vouches for it (checked by the caller).
                    if let Some(debit) = self.debits.get(&payment) {
                        if *debit != entry.amount {
                            return Err(format!(
                                "refund {index} of payment {payment} differs from its debit"
                            ));
                        }
                    }
                    if self.refunds.insert(payment, entry.amount).is_some() {
                        return Err(format!("payment {payment} refunded twice"));
                    }
                    self.refund_count += 1;
                    self.refunded = self
                        .refunded
                        .checked_add(entry.amount)
                        .ok_or_else(overflow)?;
                }
            }
            self.running = if entry.kind.raises_balance() {
                self.running.checked_add(entry.amount)
            } else {
                self.running.checked_sub(entry.amount)
            }
            .ok_or_else(overflow)?;
            if self.running != entry.balance_after {
                return Err(format!(
                    "entry {index}: replayed balance {} != balance_after {}",
                    self.running, entry.balance_after
                ));
            }
            if self.running.0 < 0 {
                return Err(format!("entry {index} takes the balance below zero"));
            }
        }
        Ok(())
    }
}
