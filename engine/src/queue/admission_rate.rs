//! The measured admission rate, for waiting-time estimates.
//!
//! Kept from `Admitted` events only, so a queue rebuilt from its log measures
//! the same rate as the live one. Bounded: only the last `RATE_SAMPLES`
//! admissions are kept. Floats appear here and in the ETA only; never in money.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How many recent admissions the rate is measured over (at most).
pub const RATE_SAMPLES: usize = 32;
/// Admissions more than this before the latest one are not recent.
pub const RATE_WINDOW_MS: i64 = 60_000;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct AdmissionRate {
    /// (when, how many tokens), oldest first.
    recent: VecDeque<(Timestamp, u32)>,
}

impl AdmissionRate {
    pub fn record(&mut self, at: Timestamp, admitted: usize) {
        if self.recent.len() == RATE_SAMPLES {
            self.recent.pop_front();
        }
        self.recent
            .push_back((at, u32::try_from(admitted).unwrap_or(u32::MAX)));
        debug_assert!(self.recent.len() <= RATE_SAMPLES);
    }

    pub fn samples(&self) -> usize {
        self.recent.len()
    }

    /// Tokens per second, or `None` before any admission.
    ///
    /// Each admission is taken to stand for one interval: the rate is the
    /// tokens admitted in the recent window over (the window's span + one
    /// interval). With full batches every interval this is exactly
    /// batch/interval, and it already means something after one admission.
    pub fn per_sec(&self, interval_ms: i64) -> Option<f64> {
        let &(newest, _) = self.recent.back()?;
        let window_start = newest.plus_millis(-RATE_WINDOW_MS);
        let mut oldest = newest;
        let mut admitted = 0u64;
        for &(at, count) in self.recent.iter().rev() {
            if at < window_start {
                break;
            }
            oldest = at;
            admitted += u64::from(count);
        }
        let elapsed_ms = newest
            .millis_since(oldest)
            .saturating_add(interval_ms)
            .max(1);
        Some(admitted as f64 * 1_000.0 / elapsed_ms as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_full_batches_measure_batch_per_interval() {
        let mut rate = AdmissionRate::default();
        for n in 0..10 {
            rate.record(Timestamp(n * 1_000), 100);
        }
        assert_eq!(rate.per_sec(1_000), Some(100.0));
    }

    #[test]
    fn old_admissions_leave_the_window_and_the_ring_is_bounded() {
        let mut rate = AdmissionRate::default();
        rate.record(Timestamp(0), 10_000);
        rate.record(Timestamp(100_000), 5);
        assert_eq!(rate.per_sec(1_000), Some(5.0));
        for n in 0..100 {
            rate.record(Timestamp(200_000 + n), 1);
        }
        assert_eq!(rate.samples(), RATE_SAMPLES);
    }

    #[test]
    fn no_admission_no_rate() {
        assert_eq!(AdmissionRate::default().per_sec(1_000), None);
    }
}
