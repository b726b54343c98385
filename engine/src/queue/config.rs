//! How a schedule's waiting room admits people: batch size, pace, room, how
//! long an admission lasts, and how long before opening the pre-queue starts.
//! Set by an admin per schedule; validated by [`QueueConfig::validate`] before
//! it reaches a [`super::Queue`].

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// Allowed `batch_size`: tokens admitted per admission tick.
pub const BATCH_SIZE_RANGE: RangeInclusive<u32> = 1..=10_000;
/// Allowed `interval_ms`: time between two admissions.
pub const INTERVAL_MS_RANGE: RangeInclusive<i64> = 100..=60_000;
/// Allowed `max_active`: tokens active at once.
pub const MAX_ACTIVE_RANGE: RangeInclusive<u32> = 1..=1_000_000;
/// Allowed `active_ms`: lifetime of an admission.
pub const ACTIVE_MS_RANGE: RangeInclusive<i64> = 10_000..=3_600_000;
/// Allowed `pre_queue_ms`: how long before `opens_at` the waiting room opens
/// (0 = no pre-queue; at most 24 hours).
pub const PRE_QUEUE_MS_RANGE: RangeInclusive<i64> = 0..=86_400_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// When false, a join is admitted at once, without a `max_active` limit.
    pub enabled: bool,
    pub batch_size: u32,
    pub interval_ms: i64,
    pub max_active: u32,
    pub active_ms: i64,
    /// How long before `opens_at` the waiting room opens; 0 = off. Everyone
    /// who joins in that window is placed in the line in a random order at
    /// `opens_at`, ahead of later joins. Ignored when `enabled` is false.
    pub pre_queue_ms: i64,
    /// The schedule's `bookingOpensAt`, filled in by whoever configures the
    /// queue. Only meaningful when `pre_queue_ms > 0`; left at
    /// `Timestamp::MIN`, the pre-queue is simply over before anyone can join.
    pub opens_at: Timestamp,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: false,
            batch_size: 100,
            interval_ms: 1_000,
            max_active: 1_000,
            active_ms: 600_000,
            pre_queue_ms: 0,
            opens_at: Timestamp::MIN,
        }
    }
}

impl QueueConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !BATCH_SIZE_RANGE.contains(&self.batch_size) {
            return Err("batch_size must be 1..=10000");
        }
        if !INTERVAL_MS_RANGE.contains(&self.interval_ms) {
            return Err("interval_ms must be 100..=60000");
        }
        if !MAX_ACTIVE_RANGE.contains(&self.max_active) {
            return Err("max_active must be 1..=1000000");
        }
        if !ACTIVE_MS_RANGE.contains(&self.active_ms) {
            return Err("active_ms must be 10000..=3600000");
        }
        if !PRE_QUEUE_MS_RANGE.contains(&self.pre_queue_ms) {
            return Err("pre_queue_ms must be 0..=86400000");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bounds_are_inclusive() {
        assert_eq!(QueueConfig::default().validate(), Ok(()));
        let edge = QueueConfig {
            enabled: true,
            batch_size: 10_000,
            interval_ms: 100,
            max_active: 1_000_000,
            active_ms: 3_600_000,
            pre_queue_ms: 86_400_000,
            opens_at: Timestamp(0),
        };
        assert_eq!(edge.validate(), Ok(()));
    }

    #[test]
    fn each_field_out_of_range_is_rejected() {
        let base = QueueConfig::default();
        let bad = [
            QueueConfig {
                batch_size: 0,
                ..base.clone()
            },
            QueueConfig {
                batch_size: 10_001,
                ..base.clone()
            },
            QueueConfig {
                interval_ms: 99,
                ..base.clone()
            },
            QueueConfig {
                interval_ms: 60_001,
                ..base.clone()
            },
            QueueConfig {
                max_active: 0,
                ..base.clone()
            },
            QueueConfig {
                max_active: 1_000_001,
                ..base.clone()
            },
            QueueConfig {
                active_ms: 9_999,
                ..base.clone()
            },
            QueueConfig {
                active_ms: 3_600_001,
                ..base.clone()
            },
            QueueConfig {
                pre_queue_ms: -1,
                ..base.clone()
            },
            QueueConfig {
                pre_queue_ms: 86_400_001,
                ..base.clone()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
