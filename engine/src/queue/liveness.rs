//! When each waiting token was last polled: the transient half of the queue.
//!
//! A waiting token that stops polling for `WAITING_DROP_MS` drops out. Polls
//! are not events: logging each one would turn every poll of 100,000 waiting
//! users into a durable write, for facts that a restart may forget safely
//! (`Queue::after_recovery` treats every waiting token as just polled). So this
//! state is skipped by serde, and its `PartialEq` always answers true: a queue
//! rebuilt from events is equal to the live one whatever the poll times.
//!
//! Tokens are indexed by poll time so a tick finds the ones due to drop out
//! without scanning the line.

use crate::{QueueTokenId, Timestamp};
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, Default)]
pub(super) struct Liveness {
    /// token -> (last poll, join number)
    last_poll: HashMap<QueueTokenId, (Timestamp, u64)>,
    /// (last poll, join number) -> token, oldest poll first.
    by_time: BTreeMap<(Timestamp, u64), QueueTokenId>,
}

/// Always equal: poll times are transient by design (see the module docs).
impl PartialEq for Liveness {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Liveness {
    /// Records a poll (or the join itself). A poll never moves a token's time back.
    pub fn record(&mut self, token: QueueTokenId, seq: u64, at: Timestamp) {
        let at = match self.last_poll.get(&token) {
            Some(&(previous, _)) if previous >= at => return,
            Some(&(previous, previous_seq)) => {
                self.by_time.remove(&(previous, previous_seq));
                at
            }
            None => at,
        };
        self.last_poll.insert(token, (at, seq));
        self.by_time.insert((at, seq), token);
    }

    pub fn forget(&mut self, token: QueueTokenId) {
        if let Some(key) = self.last_poll.remove(&token) {
            self.by_time.remove(&key);
        }
    }

    pub fn last_poll(&self, token: QueueTokenId) -> Option<Timestamp> {
        self.last_poll.get(&token).map(|&(at, _)| at)
    }

    /// The oldest last poll.
    pub fn earliest(&self) -> Option<Timestamp> {
        self.by_time.keys().next().map(|&(at, _)| at)
    }

    /// Up to `limit` tokens whose last poll is at or before `cutoff`, oldest first.
    pub fn polled_by(&self, cutoff: Timestamp, limit: usize) -> Vec<QueueTokenId> {
        self.by_time
            .range(..=(cutoff, u64::MAX))
            .take(limit)
            .map(|(_, &token)| token)
            .collect()
    }

    /// Forgets every poll and records `tokens` as polled at `at`.
    pub fn reset(&mut self, tokens: impl Iterator<Item = (u64, QueueTokenId)>, at: Timestamp) {
        self.last_poll.clear();
        self.by_time.clear();
        for (seq, token) in tokens {
            self.record(token, seq, at);
        }
    }

    /// Every token this tracks, with its join number.
    pub fn tokens(&self) -> impl Iterator<Item = (QueueTokenId, u64)> + '_ {
        self.last_poll
            .iter()
            .map(|(&token, &(_, seq))| (token, seq))
    }

    /// Checks the two indexes agree.
    pub fn check(&self) -> Result<(), String> {
        if self.last_poll.len() != self.by_time.len() {
            return Err("liveness indexes differ in size".into());
        }
        for (token, key) in &self.last_poll {
            if self.by_time.get(key) != Some(token) {
                return Err(format!("liveness of token {token} is not indexed by time"));
            }
        }
        Ok(())
    }
}
