//! Money: an integer amount in the smallest unit of the deployment's currency.
//! Never a float. Every arithmetic step is checked; overflow is an error, not a wrap.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in minor units (KRW by default, which has none smaller).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    pub fn checked_mul(self, times: i64) -> Option<Money> {
        self.0.checked_mul(times).map(Money)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
