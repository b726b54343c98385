//! The mutable state of every seat: a dense `Vec` of small cells indexed by
//! [`SeatIndex`], each saying whether the seat is free and which reservation
//! holds it, plus counters (per row, and for the whole schedule) that let
//! best-available skip full rows and let `counts()` answer in O(1).
//!
//! Only `Schedule::apply` changes it, through `take`, `sell` and `free`.

use super::row_runs::RowRuns;
use super::seat_map::{SeatIndex, SeatMap};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeatStatus {
    Available,
    /// Held by a reservation that is `Held` or `PaymentPending`.
    Held,
    Sold,
    // Appended after the first stored format (bincode names variants by position).
    /// Taken off sale by the box office (`blocks.rs`): held by no reservation.
    Blocked,
}

/// How many seats are in each state; `available + held + sold == total`.
/// `Schedule::counts` counts blocked seats as sold (what the public sees).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatCounts {
    pub total: u32,
    pub available: u32,
    pub held: u32,
    pub sold: u32,
}

/// The `holder` of an available seat.
pub(super) const NO_HOLDER: u32 = u32::MAX;

/// One seat: its status and the slot (position in the schedule's reservation
/// list) of the reservation that holds or bought it. Eight bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SeatCell {
    pub status: SeatStatus,
    pub holder: u32,
}

impl SeatCell {
    const FREE: SeatCell = SeatCell {
        status: SeatStatus::Available,
        holder: NO_HOLDER,
    };
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SeatTable {
    cells: Vec<SeatCell>,
    /// Available seats per global row number.
    free_per_row: Vec<u32>,
    held: u32,
    sold: u32,
    /// Derived, not stored (see `row_runs.rs`).
    #[serde(skip)]
    runs: RowRuns,
}

impl SeatTable {
    /// All seats available; `row_sizes` in global row order.
    pub fn new(row_sizes: impl Iterator<Item = u32>) -> SeatTable {
        let free_per_row: Vec<u32> = row_sizes.collect();
        let seats: u32 = free_per_row.iter().sum();
        SeatTable {
            cells: vec![SeatCell::FREE; seats as usize],
            free_per_row,
            held: 0,
            sold: 0,
            runs: RowRuns::default(),
        }
    }

    pub fn cell(&self, seat: SeatIndex) -> SeatCell {
        self.cells[seat.0 as usize]
    }

    pub fn cells(&self) -> &[SeatCell] {
        &self.cells
    }

    pub fn status(&self, seat: SeatIndex) -> SeatStatus {
        self.cell(seat).status
    }

    pub fn is_available(&self, seat: SeatIndex) -> bool {
        self.status(seat) == SeatStatus::Available
    }

    pub fn free_in_row(&self, row: u32) -> u32 {
        self.free_per_row[row as usize]
    }

    /// Which rows may hold a block (see `row_runs.rs`); fresh after [`Self::refresh_runs`].
    pub fn runs(&self) -> &RowRuns {
        &self.runs
    }

    /// Recomputes the run lengths of the rows changed since the last call.
    pub fn refresh_runs(&mut self, map: &SeatMap) {
        self.runs.refresh(map, &self.cells);
    }

    #[cfg(test)]
    pub fn free_per_row(&self) -> &[u32] {
        &self.free_per_row
    }

    pub fn counts(&self) -> SeatCounts {
        let total = self.cells.len() as u32;
        SeatCounts {
            total,
            available: total - self.held - self.sold,
            held: self.held,
            sold: self.sold,
        }
    }

    /// Available -> Held by reservation `holder`.
    pub fn take(&mut self, seat: SeatIndex, row: u32, holder: u32) {
        let cell = &mut self.cells[seat.0 as usize];
        assert_eq!(
            cell.status,
            SeatStatus::Available,
            "seat {} taken twice",
            seat.0
        );
        debug_assert_ne!(holder, NO_HOLDER);
        *cell = SeatCell {
            status: SeatStatus::Held,
            holder,
        };
        self.free_per_row[row as usize] -= 1;
        self.runs.mark(row);
        self.held += 1;
    }

    /// Held -> Sold, by the same reservation.
    pub fn sell(&mut self, seat: SeatIndex, holder: u32) {
        let cell = &mut self.cells[seat.0 as usize];
        assert!(
            cell.status == SeatStatus::Held && cell.holder == holder,
            "seat {} sold by a reservation that does not hold it",
            seat.0
        );
        cell.status = SeatStatus::Sold;
        self.held -= 1;
        self.sold += 1;
    }

    /// The reservation holding `seat` moved from slot `from` to slot `to`
    /// (ended reservations before it were forgotten); status is unchanged.
    pub fn rehome(&mut self, seat: SeatIndex, from: u32, to: u32) {
        let cell = &mut self.cells[seat.0 as usize];
        assert!(
            cell.status != SeatStatus::Available && cell.holder == from,
            "seat {} rehomed by a reservation that does not hold it",
            seat.0
        );
        debug_assert_ne!(to, NO_HOLDER);
        cell.holder = to;
    }

    /// Available -> Blocked: off sale, held by nobody. Counted by the
    /// schedule (its block list), not here: `counts` sees it as available.
    pub fn block(&mut self, seat: SeatIndex, row: u32) {
        let cell = &mut self.cells[seat.0 as usize];
        assert_eq!(
            cell.status,
            SeatStatus::Available,
            "seat {} blocked while taken",
            seat.0
        );
        cell.status = SeatStatus::Blocked;
        self.free_per_row[row as usize] -= 1;
        self.runs.mark(row);
    }

    /// Blocked -> Available.
    pub fn unblock(&mut self, seat: SeatIndex, row: u32) {
        let cell = &mut self.cells[seat.0 as usize];
        assert_eq!(
            cell.status,
            SeatStatus::Blocked,
            "seat {} unblocked while not blocked",
            seat.0
        );
        cell.status = SeatStatus::Available;
        self.free_per_row[row as usize] += 1;
        self.runs.mark(row);
    }

    /// Blocked -> Sold to reservation `holder` (a comp: a free ticket).
    pub fn comp(&mut self, seat: SeatIndex, holder: u32) {
        let cell = &mut self.cells[seat.0 as usize];
        assert_eq!(
            cell.status,
            SeatStatus::Blocked,
            "seat {} comped while not blocked",
            seat.0
        );
        debug_assert_ne!(holder, NO_HOLDER);
        *cell = SeatCell {
            status: SeatStatus::Sold,
            holder,
        };
        self.sold += 1;
    }

    /// Held or Sold by `holder` -> Available.
    pub fn free(&mut self, seat: SeatIndex, row: u32, holder: u32) {
        let cell = &mut self.cells[seat.0 as usize];
        assert!(
            cell.status != SeatStatus::Available && cell.holder == holder,
            "seat {} freed by a reservation that does not hold it",
            seat.0
        );
        match cell.status {
            SeatStatus::Held => self.held -= 1,
            SeatStatus::Sold => self.sold -= 1,
            SeatStatus::Available | SeatStatus::Blocked => unreachable!("checked above"),
        }
        *cell = SeatCell::FREE;
        self.free_per_row[row as usize] += 1;
        self.runs.mark(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_every_transition() {
        let mut table = SeatTable::new([2, 3].into_iter());
        assert_eq!(
            table.counts(),
            SeatCounts {
                total: 5,
                available: 5,
                held: 0,
                sold: 0
            }
        );
        table.take(SeatIndex(0), 0, 7);
        table.take(SeatIndex(3), 1, 7);
        assert_eq!(table.free_per_row(), &[1, 2]);
        table.sell(SeatIndex(3), 7);
        assert_eq!(
            table.counts(),
            SeatCounts {
                total: 5,
                available: 3,
                held: 1,
                sold: 1
            }
        );
        assert_eq!(table.status(SeatIndex(3)), SeatStatus::Sold);
        table.free(SeatIndex(3), 1, 7);
        table.free(SeatIndex(0), 0, 7);
        assert_eq!(
            table.counts(),
            SeatCounts {
                total: 5,
                available: 5,
                held: 0,
                sold: 0
            }
        );
        assert_eq!(table.free_per_row(), &[2, 3]);
        assert_eq!(table.cell(SeatIndex(0)).holder, NO_HOLDER);
    }

    #[test]
    #[should_panic(expected = "taken twice")]
    fn taking_a_held_seat_is_refused() {
        let mut table = SeatTable::new([2].into_iter());
        table.take(SeatIndex(1), 0, 1);
        table.take(SeatIndex(1), 0, 2);
    }

    #[test]
    #[should_panic(expected = "does not hold it")]
    fn freeing_someone_elses_seat_is_refused() {
        let mut table = SeatTable::new([2].into_iter());
        table.take(SeatIndex(1), 0, 1);
        table.free(SeatIndex(1), 0, 2);
    }
}
