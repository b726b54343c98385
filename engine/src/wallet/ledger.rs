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
