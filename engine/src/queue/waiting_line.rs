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
//! The line itself is a deque of token-table slots by join number, from the
//! front's number on (4 bytes a number; a number that left the line is a
//! gap until the front or back passes it): a crowd's line costs 4 bytes a
//! place, not a tree node's share of a 24-byte entry. Both ends are always
//! waiting numbers, so the deque spans at most `MAX_SEQ_SPAN` numbers.
//! Serialization is `Queue`'s (the line was always written as the map of
//! join number to token).

use std::collections::VecDeque;

/// Largest distance in join numbers between the oldest waiting token and the
/// newest. Bounds the tree's and the deque's memory (4 bytes a slot each, so
/// 32 MiB at most each); a join that would pass it is refused as `Full`. Four
/// times `MAX_WAITING`, so it is reached only when one token stays at the
/// front while millions join and drop.
pub const MAX_SEQ_SPAN: u64 = 1 << 23;
/// Smallest tree window, so an idle-then-busy line does not rebuild on every join.
const MIN_WINDOW: u64 = 1_024;
/// A join number no longer waiting, between two that are.
const GAP: u32 = u32::MAX;

#[derive(Clone, Debug, Default)]
pub(super) struct WaitingLine {
    /// Slot of join number `first + i` at `i`, or `GAP`.
    slots: VecDeque<u32>,
    /// The join number at the front of `slots`; meaningless when empty.
    first: u64,
    len: usize,
    counts: SeqCounts,
}

impl WaitingLine {
    pub fn len(&self) -> usize {
        self.len
    }

    /// The join number of the front of the line.
    pub fn first_seq(&self) -> Option<u64> {
        (!self.slots.is_empty()).then_some(self.first)
    }

    /// The slots of the first `count` waiting tokens, front first.
    pub fn front(&self, count: usize) -> impl Iterator<Item = u32> + '_ {
        self.iter().take(count).map(|(_, slot)| slot)
    }

    /// Every waiting token's join number and slot, front first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|&(_, &slot)| slot != GAP)
            .map(|(offset, &slot)| (self.first + offset as u64, slot))
    }

    /// The slot of the token waiting with join number `seq`.
    pub fn slot_of(&self, seq: u64) -> Option<u32> {
        let offset = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        self.slots.get(offset).copied().filter(|&slot| slot != GAP)
    }

    /// False when a join numbered `seq` would stretch the line past `MAX_SEQ_SPAN`.
    pub fn fits(&self, seq: u64) -> bool {
        self.first_seq()
            .is_none_or(|first| seq.saturating_sub(first) < MAX_SEQ_SPAN)
    }

    /// Adds a token (by its table slot) at the back. Join numbers only grow.
    pub fn push(&mut self, seq: u64, slot: u32) {
        debug_assert!(slot != GAP, "slot {slot} is reserved for gaps");
        if self.slots.is_empty() {
            self.first = seq;
        } else {
            let next = self.first + self.slots.len() as u64;
            debug_assert!(seq >= next, "join numbers must grow");
            debug_assert!(self.fits(seq), "join() refuses joins past MAX_SEQ_SPAN");
            for _ in next..seq {
                self.slots.push_back(GAP);
            }
        }
        self.slots.push_back(slot);
        self.len += 1;
        if !self.counts.covers(seq) {
            self.rebuild_for(seq);
        } else {
            self.counts.add(seq, 1);
        }
    }

    /// Removes the token numbered `seq`; its slot, or `None` if it was not waiting.
    pub fn remove(&mut self, seq: u64) -> Option<u32> {
        let offset = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        let entry = self.slots.get_mut(offset)?;
        let slot = std::mem::replace(entry, GAP);
        if slot == GAP {
            return None;
        }
        self.len -= 1;
        self.counts.add(seq, -1);
        // Both ends stay waiting numbers.
        while self.slots.front() == Some(&GAP) {
            self.slots.pop_front();
            self.first += 1;
        }
        while self.slots.back() == Some(&GAP) {
            self.slots.pop_back();
        }
        Some(slot)
    }

    /// 1 for the front of the line; `None` if `seq` is not waiting.
    pub fn position(&self, seq: u64) -> Option<u64> {
        self.slot_of(seq)?;
        Some(self.counts.prefix(seq))
    }

    /// Checks the tree and the count against the line; linear, for tests.
    pub fn check(&self) -> Result<(), String> {
        if self.iter().count() != self.len {
            return Err("the waiting line's count is off".into());
        }
        if self.slots.front() == Some(&GAP) || self.slots.back() == Some(&GAP) {
            return Err("the waiting line ends in a gap".into());
        }
        if self.counts.total() != self.len as u64 {
            return Err(format!(
                "position tree counts {} waiting, line has {}",
                self.counts.total(),
                self.len
            ));
        }
        for (index, (seq, _)) in self.iter().enumerate() {
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
        let seqs: Vec<u64> = self.iter().map(|(seq, _)| seq).collect();
        self.counts = SeqCounts::build(base, window, seqs.into_iter());
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

    fn slot(n: u64) -> u32 {
        n as u32 + 7
    }

    #[test]
    fn positions_follow_removals_and_window_rebuilds() {
        let mut line = WaitingLine::default();
        for seq in 0..5_000 {
            line.push(seq, slot(seq));
        }
        for seq in (0..5_000).step_by(3) {
            assert_eq!(line.remove(seq), Some(slot(seq)));
        }
        // Window rebuilds (past MIN_WINDOW and doubling) kept every count.
        line.check().unwrap();
        assert_eq!(line.position(1), Some(1));
        assert_eq!(line.position(2), Some(2));
        assert_eq!(line.position(4), Some(3));
        assert_eq!(line.position(3), None);
        assert_eq!(line.remove(3), None, "already gone");
        assert_eq!(line.len(), 5_000 - 1_667);
        assert_eq!(line.slot_of(4), Some(slot(4)));
        assert_eq!(line.front(2).collect::<Vec<_>>(), vec![slot(1), slot(2)]);
    }

    #[test]
    fn window_moves_forward_with_the_front() {
        let mut line = WaitingLine::default();
        for seq in 0..100_000u64 {
            line.push(seq, slot(seq));
            if seq >= 10 {
                line.remove(seq - 10);
            }
        }
        line.check().unwrap();
        assert_eq!(line.position(99_995), Some(6));
        assert!(line.counts.window() <= 2 * MIN_WINDOW);
        assert!(line.slots.len() <= 10, "the deque follows the front");
    }

    #[test]
    fn gaps_at_the_ends_are_dropped_and_joins_may_skip_numbers() {
        let mut line = WaitingLine::default();
        line.push(10, slot(10));
        line.push(15, slot(15));
        line.push(16, slot(16));
        assert_eq!(
            line.iter().collect::<Vec<_>>(),
            vec![(10, slot(10)), (15, slot(15)), (16, slot(16))]
        );
        line.remove(16);
        line.remove(10);
        assert_eq!(line.first_seq(), Some(15));
        assert_eq!(line.slots.len(), 1);
        line.check().unwrap();
        line.remove(15);
        assert_eq!(line.first_seq(), None);
        line.push(40, slot(40));
        assert_eq!(line.position(40), Some(1));
        line.check().unwrap();
    }

    #[test]
    fn fits_refuses_a_span_past_the_limit() {
        let mut line = WaitingLine::default();
        line.push(0, slot(0));
        assert!(line.fits(MAX_SEQ_SPAN - 1));
        assert!(!line.fits(MAX_SEQ_SPAN));
        line.remove(0);
        assert!(line.fits(u64::MAX));
    }
}
