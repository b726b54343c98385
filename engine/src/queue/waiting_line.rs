//! The waiting line: waiting tokens in join order, with each one's position
//! in O(log n).
//!
//! Positions are asked for on every poll by 100,000+ waiting users, so they
//! cannot be a scan. A Fenwick tree over join sequence numbers holds 1 for each
//! sequence number still waiting; a token's position is the prefix count up to
//! its own number. The tree covers a window of sequence numbers starting at
//! `base`; when a join falls past the window, the tree is rebuilt over the
//! span from the oldest waiting token, with room to double. Rebuilds cost
//! O(window) and happen at most once per window's worth of joins, so joins
//! stay amortised O(log n).
//!
//! The tree is an index derived from `by_seq`: equality and serialization use
//! `by_seq` alone and deserialization rebuilds the tree, so a recovered line
//! equals the live one whatever window each happened to have.

use crate::QueueTokenId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Largest distance in join numbers between the oldest waiting token and the
/// newest. Bounds the tree's memory (4 bytes a slot, so 32 MiB at most); a join
/// that would pass it is refused as `Full`. Four times `MAX_WAITING`, so it is
/// reached only when one token stays at the front while millions join and drop.
pub const MAX_SEQ_SPAN: u64 = 1 << 23;
/// Smallest tree window, so an idle-then-busy line does not rebuild on every join.
const MIN_WINDOW: u64 = 1_024;

#[derive(Clone, Debug, Default)]
pub(super) struct WaitingLine {
    by_seq: BTreeMap<u64, QueueTokenId>,
    counts: SeqCounts,
}

impl PartialEq for WaitingLine {
    fn eq(&self, other: &Self) -> bool {
        self.by_seq == other.by_seq
    }
}

impl Serialize for WaitingLine {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.by_seq.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for WaitingLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let by_seq = BTreeMap::<u64, QueueTokenId>::deserialize(deserializer)?;
        WaitingLine::from_map(by_seq).map_err(serde::de::Error::custom)
    }
}

impl WaitingLine {
    /// Rebuilds a line (and its position tree) from its tokens by join number.
    fn from_map(by_seq: BTreeMap<u64, QueueTokenId>) -> Result<WaitingLine, &'static str> {
        if let (Some((&first, _)), Some((&last, _))) =
            (by_seq.first_key_value(), by_seq.last_key_value())
        {
            if last - first >= MAX_SEQ_SPAN {
                return Err("waiting line spans more than MAX_SEQ_SPAN join numbers");
            }
        }
        let mut line = WaitingLine {
            by_seq,
            counts: SeqCounts::default(),
        };
        line.rebuild_for(line.by_seq.last_key_value().map_or(0, |(&seq, _)| seq));
        Ok(line)
    }

    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// The join number of the front of the line.
    pub fn first_seq(&self) -> Option<u64> {
        self.by_seq.first_key_value().map(|(&seq, _)| seq)
    }

    /// The first `count` tokens, front first.
    pub fn front(&self, count: usize) -> impl Iterator<Item = QueueTokenId> + '_ {
        self.by_seq.values().take(count).copied()
    }

    /// Every waiting token, front first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, QueueTokenId)> + '_ {
        self.by_seq.iter().map(|(&seq, &token)| (seq, token))
    }

    /// False when a join numbered `seq` would stretch the line past `MAX_SEQ_SPAN`.
    pub fn fits(&self, seq: u64) -> bool {
        self.first_seq()
            .is_none_or(|first| seq.saturating_sub(first) < MAX_SEQ_SPAN)
    }

    /// Adds a token at the back. Join numbers only grow.
    pub fn push(&mut self, seq: u64, token: QueueTokenId) {
        debug_assert!(
            self.by_seq
                .last_key_value()
                .is_none_or(|(&last, _)| last < seq),
            "join numbers must grow"
        );
        self.by_seq.insert(seq, token);
        if !self.counts.covers(seq) {
            self.rebuild_for(seq);
        } else {
            self.counts.add(seq, 1);
        }
    }

    /// Removes the token numbered `seq`; `None` if it was not waiting.
    pub fn remove(&mut self, seq: u64) -> Option<QueueTokenId> {
        let token = self.by_seq.remove(&seq)?;
        self.counts.add(seq, -1);
        Some(token)
    }

    /// 1 for the front of the line; `None` if `seq` is not waiting.
    pub fn position(&self, seq: u64) -> Option<u64> {
        if !self.by_seq.contains_key(&seq) {
            return None;
        }
        Some(self.counts.prefix(seq))
    }

    /// Checks the tree against the line; linear, for tests.
    pub fn check(&self) -> Result<(), String> {
        if self.counts.total() != self.by_seq.len() as u64 {
            return Err(format!(
                "position tree counts {} waiting, line has {}",
                self.counts.total(),
                self.by_seq.len()
            ));
        }
        for (index, &seq) in self.by_seq.keys().enumerate() {
            let expected = index as u64 + 1;
            if self.counts.prefix(seq) != expected {
                return Err(format!(
                    "join number {seq} has a position other than {expected}"
                ));
            }
        }
        Ok(())
    }

    /// Rebuilds the tree over the oldest waiting number up to `newest`, with
    /// room to grow.
    fn rebuild_for(&mut self, newest: u64) {
        let base = self.first_seq().map_or(newest, |first| first.min(newest));
        let span = newest - base + 1;
        debug_assert!(
            span <= MAX_SEQ_SPAN,
            "join() refuses joins past MAX_SEQ_SPAN"
        );
        let window = span
            .saturating_mul(2)
            .clamp(MIN_WINDOW, MAX_SEQ_SPAN)
            .max(span);
        self.counts = SeqCounts::build(base, window, self.by_seq.keys().copied());
    }
}

/// A Fenwick tree of 0/1 counts over join numbers `base..base + window`.
#[derive(Clone, Debug, Default)]
struct SeqCounts {
    base: u64,
    /// 1-based Fenwick array; `tree[0]` is unused. Empty until the first build.
    tree: Vec<u32>,
}

impl SeqCounts {
    fn window(&self) -> u64 {
        self.tree.len().saturating_sub(1) as u64
    }

    fn covers(&self, seq: u64) -> bool {
        seq >= self.base && seq - self.base < self.window()
    }

    fn slot(&self, seq: u64) -> usize {
        debug_assert!(
            self.covers(seq),
            "join number {seq} outside the position window"
        );
        (seq - self.base) as usize + 1
    }

    /// Linear-time build from the waiting numbers (all inside the window).
    fn build(base: u64, window: u64, seqs: impl Iterator<Item = u64>) -> SeqCounts {
        let mut counts = SeqCounts {
            base,
            tree: vec![0; window as usize + 1],
        };
        for seq in seqs {
            let slot = counts.slot(seq);
            counts.tree[slot] += 1;
        }
        let len = counts.tree.len();
        for slot in 1..len {
            let parent = slot + (slot & slot.wrapping_neg());
            if parent < len {
                counts.tree[parent] += counts.tree[slot];
            }
        }
        counts
    }

    fn add(&mut self, seq: u64, delta: i32) {
        let mut slot = self.slot(seq);
        while slot < self.tree.len() {
            self.tree[slot] = self.tree[slot]
                .checked_add_signed(delta)
                .expect("a position count never goes below 0 or past MAX_WAITING");
            slot += slot & slot.wrapping_neg();
        }
    }

    /// How many waiting numbers are in `base..=seq`.
    fn prefix(&self, seq: u64) -> u64 {
        let mut slot = self.slot(seq);
        let mut sum = 0u64;
        while slot > 0 {
            sum += u64::from(self.tree[slot]);
            slot -= slot & slot.wrapping_neg();
        }
        sum
    }

    fn total(&self) -> u64 {
        if self.tree.len() <= 1 {
            return 0;
        }
        self.prefix(self.base + self.window() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(n: u64) -> QueueTokenId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        QueueTokenId::from_random_bytes(bytes)
    }

    #[test]
    fn positions_follow_removals_and_window_rebuilds() {
        let mut line = WaitingLine::default();
        for seq in 0..5_000 {
            line.push(seq, token(seq));
        }
        for seq in (0..5_000).step_by(3) {
            assert_eq!(line.remove(seq), Some(token(seq)));
        }
        // Window rebuilds (past MIN_WINDOW and doubling) kept every count.
        line.check().unwrap();
        assert_eq!(line.position(1), Some(1));
        assert_eq!(line.position(2), Some(2));
        assert_eq!(line.position(4), Some(3));
        assert_eq!(line.position(3), None);
        assert_eq!(line.len(), 5_000 - 1_667);
    }

    #[test]
    fn window_moves_forward_with_the_front() {
        let mut line = WaitingLine::default();
        for seq in 0..100_000u64 {
            line.push(seq, token(seq));
            if seq >= 10 {
                line.remove(seq - 10);
            }
        }
        line.check().unwrap();
        assert_eq!(line.position(99_995), Some(6));
        assert!(line.counts.window() <= 2 * MIN_WINDOW);
    }

    #[test]
    fn rebuilding_from_the_map_gives_an_equal_line() {
        let mut line = WaitingLine::default();
        for seq in 10..20 {
            line.push(seq, token(seq));
        }
        line.remove(12);
        let back = WaitingLine::from_map(line.by_seq.clone()).unwrap();
        assert_eq!(back, line);
        back.check().unwrap();
        assert_eq!(back.position(15), Some(5));
        let mut too_wide = BTreeMap::new();
        too_wide.insert(0, token(0));
        too_wide.insert(MAX_SEQ_SPAN, token(1));
        assert!(WaitingLine::from_map(too_wide).is_err());
    }

    #[test]
    fn fits_refuses_a_span_past_the_limit() {
        let mut line = WaitingLine::default();
        line.push(0, token(0));
        assert!(line.fits(MAX_SEQ_SPAN - 1));
        assert!(!line.fits(MAX_SEQ_SPAN));
        line.remove(0);
        assert!(line.fits(u64::MAX));
    }
}
