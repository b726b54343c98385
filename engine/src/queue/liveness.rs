//! When each waiting token was last polled: the transient half of the queue.
//!
//! A waiting token that stops polling for `WAITING_DROP_MS` drops out. Polls
//! are not events: logging each one would turn every poll of 100,000 waiting
//! users into a durable write, for facts that a restart may forget safely
//! (`Queue::after_recovery` treats every waiting token as just polled). So this
//! state is never serialized, and its `PartialEq` always answers true: a queue
//! rebuilt from events is equal to the live one whatever the poll times.
//!
//! Tokens are indexed by (poll time, join number) so a tick finds the ones
//! due to drop out without scanning the line; each token's own last poll is
//! kept in its token-table record (the queue passes it in), and its token
//! is found from its join number through the waiting line. 16 bytes an
//! entry, where a map from token to time and a map back cost about 110.

use crate::Timestamp;
use std::collections::BTreeSet;

#[derive(Clone, Debug, Default)]
pub(super) struct Liveness {
    /// (last poll, join number), oldest poll first.
    by_time: BTreeSet<(Timestamp, u64)>,
}

/// Always equal: poll times are transient by design (see the module docs).
impl PartialEq for Liveness {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Liveness {
    /// Records a poll (or the join itself) of the token numbered `seq`, last
    /// polled at `previous`. A poll never moves a token's time back: returns
    /// the time now kept, or `None` if `previous` stays.
    pub fn record(
        &mut self,
        seq: u64,
        previous: Option<Timestamp>,
        at: Timestamp,
    ) -> Option<Timestamp> {
        if let Some(previous) = previous {
            if previous >= at {
                return None;
            }
            self.by_time.remove(&(previous, seq));
        }
        self.by_time.insert((at, seq));
        Some(at)
    }

    pub fn forget(&mut self, seq: u64, previous: Option<Timestamp>) {
        if let Some(previous) = previous {
            self.by_time.remove(&(previous, seq));
        }
    }

    /// The oldest last poll.
    pub fn earliest(&self) -> Option<Timestamp> {
        self.by_time.first().map(|&(at, _)| at)
    }

    /// Join numbers of up to `limit` tokens whose last poll is at or before
    /// `cutoff`, oldest first.
    pub fn polled_by(&self, cutoff: Timestamp, limit: usize) -> Vec<u64> {
        self.by_time
            .range(..=(cutoff, u64::MAX))
            .take(limit)
            .map(|&(_, seq)| seq)
            .collect()
    }

    pub fn clear(&mut self) {
        self.by_time.clear();
    }

    pub fn len(&self) -> usize {
        self.by_time.len()
    }

    /// Every (last poll, join number) kept.
    pub fn entries(&self) -> impl Iterator<Item = (Timestamp, u64)> + '_ {
        self.by_time.iter().copied()
    }
}
