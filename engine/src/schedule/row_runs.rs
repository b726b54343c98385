//! Which lengths of free runs each row has, so that best-available skips
//! the rows that cannot hold the block asked for without scanning them.
//!
//! Measured first: in the open-holds harness in process (64 schedules of
//! 10,000 seats, 1-second holds), `find_block` was the largest single cost
//! (16% of samples): expired and released holds leave rows with free seats
//! but no block, and every hold scanned them all again.
//!
//! Derived, never stored: the cache is not serialized and compares equal to
//! any other (two schedules with the same seats are the same schedule). It
//! is rebuilt in full after a load (it starts empty) and row by row after
//! changes: `SeatTable::take` and `free` mark the row dirty, and
//! [`RowRuns::refresh`] recomputes the dirty rows before a search. A skip it
//! allows is always one the full scan would make: it only says "no run of
//! that length here"; the scan still picks the seats.

use super::seat_map::SeatMap;
use super::seat_table::{SeatCell, SeatStatus};

/// Bit `k` (k < 63) of a row's mask: a maximal run of exactly k + 1 free
/// seats. Bit 63: a run of 64 or more (its length unknown to the mask).
const LONG_RUN_BIT: u32 = 63;

#[derive(Clone, Debug, Default)]
pub(super) struct RowRuns {
    /// Per global row; empty until the first refresh (then one per row).
    masks: Vec<u64>,
    /// Rows changed since their mask was computed, each once.
    dirty: Vec<u32>,
    is_dirty: Vec<bool>,
}

impl PartialEq for RowRuns {
    /// A cache, not state: see the module doc.
    fn eq(&self, _: &RowRuns) -> bool {
        true
    }
}
impl Eq for RowRuns {}

impl RowRuns {
    /// The row's seats changed; its mask is stale until the next refresh.
    pub fn mark(&mut self, row: u32) {
        let Some(flag) = self.is_dirty.get_mut(row as usize) else {
            return; // not built yet: the first refresh computes every row
        };
        if !*flag {
            *flag = true;
            self.dirty.push(row);
        }
    }

    /// Brings every mask up to date: all rows when never built, else the dirty ones.
    pub fn refresh(&mut self, map: &SeatMap, cells: &[SeatCell]) {
        let rows = map.row_count() as usize;
        if self.masks.len() != rows {
            self.masks = (0..rows as u32)
                .map(|row| row_mask(map, cells, row))
                .collect();
            self.is_dirty = vec![false; rows];
            self.dirty.clear();
            return;
        }
        for row in self.dirty.drain(..) {
            self.masks[row as usize] = row_mask(map, cells, row);
            self.is_dirty[row as usize] = false;
        }
    }

    /// False only if the row surely has no run of at least `quantity` free seats.
    pub fn may_fit(&self, row: u32, quantity: u32) -> bool {
        let Some(&mask) = self.fresh_mask(row) else {
            return true;
        };
        let from = quantity.saturating_sub(1).min(LONG_RUN_BIT);
        mask >> from != 0
    }

    /// False only if the row surely has no block of `quantity` that leaves
    /// no single seat stranded (a run of exactly `quantity`, or of `quantity + 2` or more).
    pub fn may_fit_cleanly(&self, row: u32, quantity: u32) -> bool {
        let Some(&mask) = self.fresh_mask(row) else {
            return true;
        };
        let exact = quantity.saturating_sub(1);
        let exact_fit = exact < LONG_RUN_BIT && mask & (1 << exact) != 0;
        let roomy_from = (quantity + 1).min(LONG_RUN_BIT);
        exact_fit || mask >> roomy_from != 0
    }

    fn fresh_mask(&self, row: u32) -> Option<&u64> {
        if self.is_dirty.get(row as usize).copied().unwrap_or(true) {
            return None;
        }
        self.masks.get(row as usize)
    }
}

fn row_mask(map: &SeatMap, cells: &[SeatCell], row: u32) -> u64 {
    let range = map.row(row).seat_range();
    let mut mask = 0u64;
    let mut run = 0u32;
    for cell in &cells[range.start as usize..range.end as usize] {
        if cell.status == SeatStatus::Available {
            run += 1;
            continue;
        }
        mask |= run_bit(run);
        run = 0;
    }
    mask | run_bit(run)
}

fn run_bit(run: u32) -> u64 {
    match run {
        0 => 0,
        n => 1 << (n - 1).min(LONG_RUN_BIT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs_of(mask: u64) -> RowRuns {
        RowRuns {
            masks: vec![mask],
            dirty: Vec::new(),
            is_dirty: vec![false],
        }
    }

    #[test]
    fn fit_and_clean_fit_follow_the_run_lengths() {
        // Runs of 2 and 5.
        let runs = runs_of(run_bit(2) | run_bit(5));
        assert!(runs.may_fit(0, 1) && runs.may_fit(0, 5));
        assert!(!runs.may_fit(0, 6));
        // 4 in a run of 5 strands one seat; 3 leaves two; 5 fits exactly.
        assert!(!runs.may_fit_cleanly(0, 4));
        assert!(runs.may_fit_cleanly(0, 3) && runs.may_fit_cleanly(0, 5));
        // 1 in the run of 2 strands one, but in the run of 5 it does not.
        assert!(runs.may_fit_cleanly(0, 1));
        assert!(!runs_of(run_bit(2)).may_fit_cleanly(0, 1));
    }

    #[test]
    fn a_long_run_may_fit_anything_and_a_stale_row_is_never_skipped() {
        let long = runs_of(run_bit(100));
        assert!(long.may_fit(0, 64) && long.may_fit(0, 200) && long.may_fit_cleanly(0, 63));
        let mut stale = runs_of(0);
        assert!(!stale.may_fit(0, 1));
        stale.mark(0);
        assert!(stale.may_fit(0, 1) && stale.may_fit_cleanly(0, 1));
        assert!(RowRuns::default().may_fit(7, 3), "never built: no skips");
    }
}
