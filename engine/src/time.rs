//! Time as the engine sees it: milliseconds since the Unix epoch (UTC), passed
//! in by the caller. The engine never reads a clock.

use serde::{Deserialize, Serialize};

/// An instant, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// `self + ms`, saturating at the ends of the range rather than wrapping.
    pub fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The UTC calendar month containing this instant, as `(year, month 1..=12)`.
    /// Used for monthly wallet limits.
    pub fn utc_year_month(self) -> (i64, u32) {
        let days = self.0.div_euclid(86_400_000);
        let (year, month, _day) = civil_from_days(days);
        (year, month)
    }
}

/// Converts days since the epoch to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`, valid over the whole i64 day range we use.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_months_match_known_dates() {
        assert_eq!(Timestamp(0).utc_year_month(), (1970, 1));
        // 2026-03-15T10:00:00Z
        assert_eq!(Timestamp(1_773_568_800_000).utc_year_month(), (2026, 3));
        // 2024-02-29T23:59:59.999Z, then one millisecond later
        assert_eq!(Timestamp(1_709_251_199_999).utc_year_month(), (2024, 2));
        assert_eq!(Timestamp(1_709_251_200_000).utc_year_month(), (2024, 3));
        // before the epoch
        assert_eq!(Timestamp(-1).utc_year_month(), (1969, 12));
    }
}
