//! The stored form of a [`Wallet`] before [`DailyCharges`] was added, and its
//! migration. Snapshots are bincode (not self-describing), so an added field
//! cannot be defaulted on read: a snapshot loader tries the current form
//! first and falls back to this one.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{DailyCharges, LedgerEntry, LedgerKind, MonthlyCharges, PaymentRecord, Wallet};
use crate::{Money, PaymentId, Timestamp, UserId};

/// A wallet as snapshots stored it before the daily charge count: the same
/// fields, in the same order, without `daily`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletWithoutDailyCharges {
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

impl From<WalletWithoutDailyCharges> for Wallet {
    /// The day's count is rebuilt from the ledger's charges, in order, exactly
    /// as replaying them through `apply` would have counted them.
    fn from(older: WalletWithoutDailyCharges) -> Wallet {
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
            daily,
        }
    }
}

impl From<&Wallet> for WalletWithoutDailyCharges {
    /// The older form of a wallet (what an older version would have stored);
    /// tests write older snapshots with it.
    fn from(wallet: &Wallet) -> WalletWithoutDailyCharges {
        WalletWithoutDailyCharges {
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
