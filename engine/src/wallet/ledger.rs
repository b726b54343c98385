//! The wallet ledger: one entry per balance change, oldest first.
//!
//! The ledger is what a user sees as their history and what
//! `Wallet::check_invariants` replays to prove the balance is right.

use crate::{Money, PaymentId, Timestamp, TransactionId};
use serde::{Deserialize, Serialize};

/// What moved the balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerKind {
    /// Money added by the user (balance up).
    Charge,
    /// Money taken for a ticket payment (balance down).
    Payment,
    /// A payment given back (balance up).
    Refund,
}

impl LedgerKind {
    /// The sign of this kind's effect on the balance.
    pub fn raises_balance(self) -> bool {
        matches!(self, LedgerKind::Charge | LedgerKind::Refund)
    }
}

/// One balance change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub transaction_id: TransactionId,
    pub kind: LedgerKind,
    /// Always > 0; `kind` gives the direction.
    pub amount: Money,
    pub balance_after: Money,
    pub at: Timestamp,
    /// The payment a `Payment` or `Refund` belongs to; `None` for a `Charge`.
    pub reference: Option<PaymentId>,
}

/// What a wallet remembers of the oldest part of its ledger once that part
/// has moved to the store (the actors' `wallet_ledger` archive): how many
/// entries, and their sums, so that new entries are numbered and the part
/// still in memory can be checked against the balance without the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedLedger {
    /// Entries archived: the sequence number (0-based, oldest first) of the
    /// first entry still in memory.
    pub entries: u64,
    /// Sums of the archived entries, by kind.
    pub charged: Money,
    pub used: Money,
    pub refunded: Money,
    /// Payment and refund entries among them.
    pub debits: u64,
    pub refunds: u64,
    /// The time of the last archived entry.
    pub last_at: Option<Timestamp>,
}

impl ArchivedLedger {
    /// The balance right after the last archived entry.
    pub fn balance_after(&self) -> Option<Money> {
        self.charged
            .checked_sub(self.used)
            .and_then(|sum| sum.checked_add(self.refunded))
    }

    /// Adds `entry` (the next one, in order) to the archived part.
    pub fn push(&mut self, entry: &LedgerEntry) -> Option<()> {
        match entry.kind {
            LedgerKind::Charge => self.charged = self.charged.checked_add(entry.amount)?,
            LedgerKind::Payment => {
                self.used = self.used.checked_add(entry.amount)?;
                self.debits += 1;
            }
            LedgerKind::Refund => {
                self.refunded = self.refunded.checked_add(entry.amount)?;
                self.refunds += 1;
            }
        }
        self.entries += 1;
        self.last_at = Some(entry.at);
        Some(())
    }
}
