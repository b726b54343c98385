//! Charge limits of a wallet and the calendar windows they are counted in.
//!
//! Limits are configuration, not wallet state: the caller passes them to every
//! `charge`, so changing them never needs a migration of stored wallets. What
//! the wallet must remember is how much it was charged in the current UTC
//! month ([`MonthlyCharges`]) and how many charges it took in the current UTC
//! day ([`DailyCharges`]: each charge is a ledger entry kept for the life of
//! the wallet, so their count, not just their sum, must be bounded).

use crate::{Money, Timestamp};
use serde::{Deserialize, Serialize};

/// Default largest single charge.
pub const DEFAULT_MAX_CHARGE: Money = Money(10_000_000);
/// Default largest balance a charge may produce.
pub const DEFAULT_BALANCE_CAP: Money = Money(50_000_000);
/// Default largest sum of charges in one UTC calendar month.
pub const DEFAULT_MONTHLY_CHARGE_LIMIT: Money = Money(100_000_000);
/// Default most charges in one UTC day: far above a person topping up, far
/// below the hundreds of thousands of tiny charges that grew memory and disk
/// without bound (issue 20, item 3).
pub const DEFAULT_MAX_CHARGES_PER_DAY: u32 = 100;
/// Milliseconds in a UTC day (UTC has no daylight saving; leap seconds are
/// not counted in Unix time).
const DAY_MS: i64 = 86_400_000;

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
    /// Charges in one UTC day may not number more than this (inclusive).
    pub max_charges_per_day: u32,
}

impl Default for WalletLimits {
    fn default() -> Self {
        WalletLimits {
            max_charge: DEFAULT_MAX_CHARGE,
            balance_cap: DEFAULT_BALANCE_CAP,
            monthly_charge_limit: DEFAULT_MONTHLY_CHARGE_LIMIT,
            max_charges_per_day: DEFAULT_MAX_CHARGES_PER_DAY,
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

/// How many charges were taken in the UTC day of the latest charge.
///
/// Kept like [`MonthlyCharges`]: one day only, a charge in a later day starts
/// from zero, and a charge stamped in an EARLIER day than the one tracked (a
/// clock that stepped back) is counted in the tracked day, so a clock step can
/// never reset the limit. Rebuilt on replay by [`DailyCharges::record`] from
/// each logged charge, so the count survives a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyCharges {
    /// Days since the Unix epoch (UTC) of the tracked day.
    day: Option<i64>,
    count: u32,
}

impl DailyCharges {
    /// The day a charge at `at` is counted in, and the charges already in it.
    fn window_for(&self, at: Timestamp) -> (i64, u32) {
        let day = at.0.div_euclid(DAY_MS);
        match self.day {
            Some(tracked) if tracked >= day => (tracked, self.count),
            _ => (day, 0),
        }
    }

    /// True when one more charge at `at` stays within `max_per_day`.
    pub fn allows_one_more(&self, max_per_day: u32, at: Timestamp) -> bool {
        self.window_for(at).1 < max_per_day
    }

    /// Records a charge (saturating: a count this large is refused long before).
    pub fn record(&mut self, at: Timestamp) {
        let (day, count) = self.window_for(at);
        self.day = Some(day);
        self.count = count.saturating_add(1);
    }

    /// The charges taken in the tracked day (zero before any charge).
    pub fn count(&self) -> u32 {
        self.count
    }
}
