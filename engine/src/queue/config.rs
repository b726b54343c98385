//! How a schedule's waiting room admits people: batch size, pace, room, and
//! how long an admission lasts. Set by an admin per schedule; validated by
//! [`QueueConfig::validate`] before it reaches a [`super::Queue`].

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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// When false, a join is admitted at once, without a `max_active` limit.
    pub enabled: bool,
    pub batch_size: u32,
    pub interval_ms: i64,
    pub max_active: u32,
    pub active_ms: i64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: false,
            batch_size: 100,
            interval_ms: 1_000,
            max_active: 1_000,
            active_ms: 600_000,
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
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
