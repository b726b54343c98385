//! The stored form of a [`Wallet`] before [`DailyCharges`] and the
//! [`ArchivedLedger`] were added (the whole ledger in memory), and its
//! migration. Snapshots are bincode (not self-describing), so an added field
//! cannot be defaulted on read: a snapshot loader tries the current form
//! first and falls back to this one.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{
    ArchivedLedger, DailyCharges, LedgerEntry, LedgerKind, MonthlyCharges, PaymentRecord, Wallet,
};
use crate::{Money, PaymentId, Timestamp, UserId};

/// A wallet as snapshots stored it before the daily charge count and the
/// archived ledger: the same fields, in the same order, without `archived`
/// and `daily`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletPreviousFormat {
    user: UserId,
    balance: Money,
    total_charged: Money,
    total_used: Money,
    total_refunded: Money,
    updated_at: Option<Timestamp>,
    ledger: Vec<LedgerEntry>,
    payments: BTreeMap<PaymentId, PaymentRecord>,
    monthly: MonthlyCharges,
}

impl From<WalletPreviousFormat> for Wallet {
    /// The day's count is rebuilt from the ledger's charges, in order, exactly
    /// as replaying them through `apply` would have counted them.
    fn from(older: WalletPreviousFormat) -> Wallet {
        let mut daily = DailyCharges::default();
        for entry in &older.ledger {
            if entry.kind == LedgerKind::Charge {
                daily.record(entry.at);
            }
        }
        Wallet {
            user: older.user,
            balance: older.balance,
            total_charged: older.total_charged,
            total_used: older.total_used,
            total_refunded: older.total_refunded,
            updated_at: older.updated_at,
            ledger: older.ledger,
            payments: older.payments,
            monthly: older.monthly,
            // Nothing archived yet: the next snapshot archives what is due.
            archived: ArchivedLedger::default(),
            daily,
        }
    }
}

impl WalletPreviousFormat {
    /// The older form of a wallet whose ledger is all in memory (see
    /// [`Wallet::as_previous_format`]); tests write older snapshots with it.
    pub(super) fn of(wallet: &Wallet) -> WalletPreviousFormat {
        WalletPreviousFormat {
            user: wallet.user,
            balance: wallet.balance,
            total_charged: wallet.total_charged,
            total_used: wallet.total_used,
            total_refunded: wallet.total_refunded,
            updated_at: wallet.updated_at,
            ledger: wallet.ledger.clone(),
            payments: wallet.payments.clone(),
            monthly: wallet.monthly.clone(),
        }
    }
}
