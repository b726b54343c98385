//! How long the engine's heavy single pieces of work take: the longest of
//! each since start, for finding what stalls the holds.
//!
//! A hold that waits for seconds means something held its schedule's actor,
//! or the store's write lock, that long. The group commit times its own
//! flushes (`FlushStats`); this times the rest that can: a schedule's
//! snapshot (encode, write) on the actor's thread, the trim of its log
//! behind it, and one store write of decided idempotency keys or of an
//! archive batch (the last three mostly on the background writers' threads). The contention harness reports them beside the hold
//! latencies, so a long hold can be matched with its cause.
//!
//! Atomics only: recording costs a few nanoseconds and never blocks.

use boxoffice_storage::FlushStats;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The engine's timed kinds of work.
#[derive(Default)]
pub struct WorkTimes {
    /// A schedule's snapshot: encode, write, hand the trim off (on its actor's thread).
    pub snapshot: Timings,
    /// Of a schedule's snapshot: encoding the state.
    pub snapshot_encode: Timings,
    /// Trimming a schedule's log behind its snapshot: the mark, then every
    /// record since the last snapshot removed one by one (`SledStore`'s
    /// "Trims"). On the log trimmer's thread (`log_trimmer.rs`), off the
    /// actor's path, so no longer part of `snapshot`; inline, and part of
    /// it, only in deterministic runs without background writers.
    pub log_trim: Timings,
    /// One store write of decided idempotency keys to the key store (a
    /// schedule's on the key writer thread, a wallet's at its snapshot on
    /// its thread; both under the store's write lock).
    pub key_archive: Timings,
    /// One store write of an archive batch (under the store's write lock).
    pub archive_write: Timings,
    /// Rendering a schedule's ended reservations into an archive batch (on
    /// its actor's thread: the actor serves nothing meanwhile).
    pub archive_prepare: Timings,
    /// Forgetting a written archive batch's reservations (on its actor's
    /// thread: the live state's indexes are rebuilt).
    pub archive_forget: Timings,
}

impl WorkTimes {
    /// Every kind's reading by name (what `/metrics` and the harness
    /// report), the flushes first: the group commit times those itself.
    pub fn readings(&self, flush: &FlushStats) -> [(&'static str, TimingsReading); 8] {
        let flushes = TimingsReading {
            count: flush.flushes,
            total_us: flush.flush_us_total,
            longest_us: flush.longest_flush_us,
        };
        [
            ("flush", flushes),
            ("snapshot", self.snapshot.reading()),
            ("snapshot_encode", self.snapshot_encode.reading()),
            ("log_trim", self.log_trim.reading()),
            ("key_archive", self.key_archive.reading()),
            ("archive_write", self.archive_write.reading()),
            ("archive_prepare", self.archive_prepare.reading()),
            ("archive_forget", self.archive_forget.reading()),
        ]
    }
}

/// Count, total and longest duration of one kind of work.
#[derive(Default)]
pub struct Timings {
    count: AtomicU64,
    total_us: AtomicU64,
    longest_us: AtomicU64,
}

/// A reading of [`Timings`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TimingsReading {
    pub count: u64,
    pub total_us: u64,
    pub longest_us: u64,
}

impl Timings {
    /// Runs `work` and records how long it took.
    pub fn time<T>(&self, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = work();
        self.record(started.elapsed());
        result
    }

    pub fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_us.fetch_add(us, Ordering::Relaxed);
        self.longest_us.fetch_max(us, Ordering::Relaxed);
    }

    pub fn reading(&self) -> TimingsReading {
        TimingsReading {
            count: self.count.load(Ordering::Relaxed),
            total_us: self.total_us.load(Ordering::Relaxed),
            longest_us: self.longest_us.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_counts_sums_and_keeps_the_longest() {
        let timings = Timings::default();
        timings.record(Duration::from_micros(30));
        timings.record(Duration::from_micros(500));
        timings.record(Duration::from_micros(70));
        assert_eq!(
            timings.reading(),
            TimingsReading {
                count: 3,
                total_us: 600,
                longest_us: 500
            }
        );
        assert_eq!(timings.time(|| 7), 7);
        assert_eq!(timings.reading().count, 4);
    }
}
