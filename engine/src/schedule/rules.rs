//! The booking rules of one schedule: how many seats a user may take, how long
//! a hold lasts, and when booking is open. Chosen by the concert's admin,
//! validated once at the edge, then read by every command of the schedule.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// Upper bound of `max_seats_per_user` (the API's `maxSeatsPerUser` is 1..=20).
pub const MAX_SEATS_PER_USER_LIMIT: u32 = 20;
/// `maxSeatsPerUser` when the concert does not say.
pub const DEFAULT_MAX_SEATS_PER_USER: u32 = 4;
/// `holdSeconds` default (300 s), in milliseconds.
pub const DEFAULT_HOLD_MS: i64 = 300_000;
/// Shortest hold the API accepts (`holdSeconds` 1).
pub const MIN_HOLD_MS: i64 = 1_000;
/// Longest hold the API accepts (`holdSeconds` 3600).
pub const MAX_HOLD_MS: i64 = 3_600_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRules {
    /// Seats held, payment-pending and bought together, per user, on this schedule.
    pub max_seats_per_user: u32,
    /// How long a hold lasts before it expires, in milliseconds.
    pub hold_ms: i64,
    /// Holds are allowed when `booking_opens_at <= now < booking_closes_at`.
    pub booking_opens_at: Timestamp,
    /// Also the last moment (exclusive) a confirmed reservation may be cancelled for a refund.
    pub booking_closes_at: Timestamp,
}

impl Default for ScheduleRules {
    fn default() -> Self {
        ScheduleRules {
            max_seats_per_user: DEFAULT_MAX_SEATS_PER_USER,
            hold_ms: DEFAULT_HOLD_MS,
            booking_opens_at: Timestamp::MIN,
            booking_closes_at: Timestamp::MAX,
        }
    }
}

impl ScheduleRules {
    /// Checks the ranges the API documents; the message names the bad field.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !(1..=MAX_SEATS_PER_USER_LIMIT).contains(&self.max_seats_per_user) {
            return Err("maxSeatsPerUser must be 1-20");
        }
        if !(MIN_HOLD_MS..=MAX_HOLD_MS).contains(&self.hold_ms) {
            return Err("holdSeconds must be 1-3600");
        }
        if self.booking_opens_at >= self.booking_closes_at {
            return Err("bookingOpensAt must be before bookingClosesAt");
        }
        Ok(())
    }

    /// True when holds are allowed at `now`.
    pub fn is_booking_open(&self, now: Timestamp) -> bool {
        self.booking_opens_at <= now && now < self.booking_closes_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_are_valid_and_always_open() {
        let rules = ScheduleRules::default();
        assert_eq!(rules.validate(), Ok(()));
        assert!(rules.is_booking_open(Timestamp(0)));
        assert!(rules.is_booking_open(Timestamp::MIN));
        // The window is half-open, so even the default excludes its upper end.
        assert!(!rules.is_booking_open(Timestamp::MAX));
    }

    #[test]
    fn validate_rejects_each_out_of_range_field() {
        let ok = ScheduleRules::default();
        for seats in [0, MAX_SEATS_PER_USER_LIMIT + 1] {
            let rules = ScheduleRules {
                max_seats_per_user: seats,
                ..ok.clone()
            };
            assert_eq!(rules.validate(), Err("maxSeatsPerUser must be 1-20"));
        }
        for hold_ms in [0, MIN_HOLD_MS - 1, MAX_HOLD_MS + 1, -5] {
            let rules = ScheduleRules {
                hold_ms,
                ..ok.clone()
            };
            assert_eq!(rules.validate(), Err("holdSeconds must be 1-3600"));
        }
        let rules = ScheduleRules {
            booking_opens_at: Timestamp(10),
            booking_closes_at: Timestamp(10),
            ..ok.clone()
        };
        assert_eq!(
            rules.validate(),
            Err("bookingOpensAt must be before bookingClosesAt")
        );
        let edges = ScheduleRules {
            max_seats_per_user: MAX_SEATS_PER_USER_LIMIT,
            hold_ms: MAX_HOLD_MS,
            ..ok
        };
        assert_eq!(edges.validate(), Ok(()));
    }

    #[test]
    fn booking_window_is_half_open() {
        let rules = ScheduleRules {
            booking_opens_at: Timestamp(100),
            booking_closes_at: Timestamp(200),
            ..ScheduleRules::default()
        };
        assert!(!rules.is_booking_open(Timestamp(99)));
        assert!(rules.is_booking_open(Timestamp(100)));
        assert!(rules.is_booking_open(Timestamp(199)));
        assert!(!rules.is_booking_open(Timestamp(200)));
    }
}
