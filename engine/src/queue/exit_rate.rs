//! The measured rate at which tokens leave the active set, for waiting-time
//! estimates when admission is limited by room (`max_active`), not by the
//! batch clock.
//!
//! In a full room, one person is admitted per person who leaves, so the line
//! moves at the exit rate. The admission rate cannot show this: the first
//! batches fill the room at the batch clock's pace and then nobody is
//! admitted for a while, so a rate taken from admissions is huge exactly when
//! the wait is longest. Exits (payments ending a token, active time running
//! out) are counted instead.
//!
//! The rate is exits per second after the first exit bucket, over the last
//! `RATE_WINDOW_MS` (or since the first exit when that is shorter). Counting
//! from the first exit, not the first admission, matters: nobody leaves in
//! the first seconds after admission, and that dead time is not the pace
//! the line will move at (measured: from the first admission, estimates
//! during the first minute of a burst were 3 times too long).
//!
//! Kept from events only (`Ended`, `ActiveExpired`; `Admitted` moves the
//! clock), so a queue rebuilt from its log measures the same rate.
//! Bounded: exits are counted in `EXIT_BUCKET_MS` buckets over the last
//! `RATE_WINDOW_MS`, so at most `EXIT_BUCKETS` buckets are kept however many
//! people leave. Floats appear here and in the ETA only.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Exits more than this before the latest event are not recent.
pub const RATE_WINDOW_MS: i64 = 60_000;
/// Width of one counting bucket: coarse enough to bound memory, fine enough
/// against the window (1/60 of it).
pub const EXIT_BUCKET_MS: i64 = 1_000;
/// Most buckets kept: the window's worth, plus the one being filled.
pub const EXIT_BUCKETS: usize = (RATE_WINDOW_MS / EXIT_BUCKET_MS) as usize + 1;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ExitRate {
    /// (bucket start, exits in it), oldest first; no empty buckets.
    recent: VecDeque<(Timestamp, u32)>,
    /// The bucket of the first exit: the rate is measured from its end until
    /// the window is full.
    since: Option<Timestamp>,
    /// The latest admission or exit: the rate is measured as of then.
    latest: Option<Timestamp>,
}

impl ExitRate {
    /// An admission moves the clock on, so a window without exits ages out.
    pub fn record_admission(&mut self, at: Timestamp) {
        self.advance(at);
    }

    pub fn record_exits(&mut self, at: Timestamp, count: usize) {
        if count == 0 {
            return;
        }
        let bucket = bucket_of(at);
        self.since.get_or_insert(bucket);
        self.advance(at);
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        let newest = self.recent.back().map(|&(start, _)| start);
        if newest.is_none_or(|newest| newest < bucket) {
            self.recent.push_back((bucket, count));
        } else if let Some((_, exits)) = self
            .recent
            .iter_mut()
            .rev()
            .find(|(start, _)| *start == bucket)
        {
            *exits = exits.saturating_add(count);
        }
        // Otherwise an older, empty bucket: events come in time order, so it
        // can only be a replayed straggler; not worth reordering for.
        self.trim();
    }

    /// Exits per second in the buckets after `from` (the window's first
    /// bucket, or the first exit's when later) up to the latest event, over
    /// the time from the end of `from`'s bucket. Leaving out `from`'s own
    /// bucket avoids counting n exit moments over n - 1 gaps. `None` until
    /// there are exits after the first bucket.
    pub fn per_sec(&self) -> Option<f64> {
        let latest = self.latest?;
        let window_start = bucket_of(latest.plus_millis(-RATE_WINDOW_MS));
        let from = self.since?.max(window_start);
        let exits: u64 = self
            .recent
            .iter()
            .filter(|(start, _)| *start > from)
            .map(|&(_, exits)| u64::from(exits))
            .sum();
        if exits == 0 {
            return None;
        }
        // At least one bucket, so exits at one instant are not a rate of
        // infinity.
        let elapsed_ms = latest
            .millis_since(from.plus_millis(EXIT_BUCKET_MS))
            .max(EXIT_BUCKET_MS);
        Some(exits as f64 * 1_000.0 / elapsed_ms as f64)
    }

    pub fn buckets(&self) -> usize {
        self.recent.len()
    }

    fn advance(&mut self, at: Timestamp) {
        self.latest = Some(self.latest.map_or(at, |latest| latest.max(at)));
        self.trim();
    }

    /// Drops buckets that left the window.
    fn trim(&mut self) {
        let Some(latest) = self.latest else { return };
        let window_start = latest.plus_millis(-RATE_WINDOW_MS - EXIT_BUCKET_MS);
        while self
            .recent
            .front()
            .is_some_and(|&(start, _)| start < window_start)
            || self.recent.len() > EXIT_BUCKETS
        {
            self.recent.pop_front();
        }
        debug_assert!(self.recent.len() <= EXIT_BUCKETS);
    }
}

/// The start of the bucket holding `at`.
fn bucket_of(at: Timestamp) -> Timestamp {
    Timestamp(at.millis() - at.millis().rem_euclid(EXIT_BUCKET_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_exits_measure_their_rate() {
        let mut rate = ExitRate::default();
        rate.record_admission(Timestamp(0));
        assert_eq!(rate.per_sec(), None, "no exit yet");
        for second in 1..=120 {
            rate.record_exits(Timestamp(second * 1_000), 25);
        }
        let measured = rate.per_sec().unwrap();
        // 60 buckets of 25 after the window's first, over 59 s: within one
        // bucket of the true 25 a second.
        assert!((measured - 25.0 * 60.0 / 59.0).abs() < 1e-9, "{measured}");
        assert!(rate.buckets() <= EXIT_BUCKETS);
    }

    #[test]
    fn early_exits_count_from_the_first_exit() {
        let mut rate = ExitRate::default();
        rate.record_admission(Timestamp(0));
        rate.record_exits(Timestamp(9_500), 50);
        assert_eq!(rate.per_sec(), None, "one exit moment is no rate");
        rate.record_exits(Timestamp(10_200), 10);
        assert_eq!(
            rate.per_sec(),
            Some(10.0),
            "exits at one instant: one bucket"
        );
        rate.record_exits(Timestamp(12_000), 30);
        assert_eq!(rate.per_sec(), Some(20.0));
    }

    #[test]
    fn sparse_exits_are_not_double_counted() {
        let mut rate = ExitRate::default();
        for minute in 1..=3 {
            rate.record_exits(Timestamp(minute * 60_000), 2);
        }
        let measured = rate.per_sec().unwrap();
        assert!((measured - 2.0 / 59.0).abs() < 1e-9, "{measured}");
    }

    #[test]
    fn old_exits_leave_the_window() {
        let mut rate = ExitRate::default();
        rate.record_admission(Timestamp(0));
        rate.record_exits(Timestamp(1_000), 10_000);
        rate.record_exits(Timestamp(200_000), 6);
        rate.record_exits(Timestamp(250_000), 6);
        assert_eq!(rate.per_sec(), Some(12.0 / 59.0));
        assert_eq!(rate.buckets(), 2);
        // Admissions alone move the window on.
        rate.record_admission(Timestamp(400_000));
        assert_eq!(rate.per_sec(), None);
    }
}
