//! Charge limits of a wallet and the calendar-month window they are counted in.
//!
//! Limits are configuration, not wallet state: the caller passes them to every
//! `charge`, so changing them never needs a migration of stored wallets. What
//! the wallet must remember is how much it was charged in the current UTC
//! month, which this module's [`MonthlyCharges`] keeps.

use crate::{Money, Timestamp};
use serde::{Deserialize, Serialize};

/// Default largest single charge.
pub const DEFAULT_MAX_CHARGE: Money = Money(10_000_000);
/// Default largest balance a charge may produce.
pub const DEFAULT_BALANCE_CAP: Money = Money(50_000_000);
/// Default largest sum of charges in one UTC calendar month.
pub const DEFAULT_MONTHLY_CHARGE_LIMIT: Money = Money(100_000_000);

/// Limits on charging a wallet. Debits and refunds are not limited by these:
/// a refund is the user's own money coming back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletLimits {
    /// Largest single charge (inclusive).
    pub max_charge: Money,
    /// A charge may not make the balance exceed this (inclusive).
    pub balance_cap: Money,
    /// Charges in one UTC calendar month may not sum past this (inclusive).
    pub monthly_charge_limit: Money,
}

impl Default for WalletLimits {
    fn default() -> Self {
        WalletLimits {
            max_charge: DEFAULT_MAX_CHARGE,
            balance_cap: DEFAULT_BALANCE_CAP,
            monthly_charge_limit: DEFAULT_MONTHLY_CHARGE_LIMIT,
        }
    }
}

/// The sum charged in the UTC calendar month of the latest charge.
///
/// Only one month is kept: a charge in a later month starts from zero. A charge
/// stamped in an EARLIER month than the one tracked (a clock that stepped back)
/// is counted in the tracked month, so a clock step can never reset the limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyCharges {
    month: Option<(i64, u32)>,
    charged: Money,
}

impl MonthlyCharges {
    /// The month a charge at `at` is counted in, and the sum already charged in it.
    fn window_for(&self, at: Timestamp) -> ((i64, u32), Money) {
        let month = at.utc_year_month();
        match self.month {
            Some(tracked) if tracked >= month => (tracked, self.charged),
            _ => (month, Money::ZERO),
        }
    }

    /// What this month's charges would sum to with `amount` added at `at`;
    /// `None` on overflow.
    pub fn total_with(&self, amount: Money, at: Timestamp) -> Option<Money> {
        let (_, charged) = self.window_for(at);
        charged.checked_add(amount)
    }

    /// Records a charge. The command already checked `total_with` did not
    /// overflow, so an overflow here means a corrupt log.
    pub fn record(&mut self, amount: Money, at: Timestamp) {
        let (month, charged) = self.window_for(at);
        self.month = Some(month);
        self.charged = charged
            .checked_add(amount)
            .expect("monthly charge sum overflow: charge() checks it before emitting Charged");
    }

    /// The sum charged in the tracked month (zero before any charge).
    pub fn charged(&self) -> Money {
        self.charged
    }
}
