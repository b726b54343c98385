//! A schedule's published seat counts: what catalogue listings and the
//! `/metrics` gauges read without asking the schedule's actor.
//!
//! A public concert list shows every schedule's `availableSeats`; asking each
//! schedule actor per request cost one mailbox round trip per schedule (95 ms
//! for 100 concerts x 20 dates, issue 20 item 7), and one busy schedule
//! slowed every anonymous listing. Instead each schedule actor publishes its
//! counts here, in one atomic word, and readers load it.
//!
//! Freshness rule: the actor publishes when a change is applied to its
//! in-memory state (every staged batch of events, see
//! `ScheduleActor::stage_at`), when it starts and when it reloads from storage
//! after a restart. So a listing shows the counts of the last applied change,
//! at most the few microseconds between applying and publishing old, and, like
//! the actor's own `GetCounts`, possibly a change whose flush is still under
//! way (a failed append restarts the actor, which republishes what storage
//! holds). The seat map (`GetSeatMap`) and every hold still go through the
//! actor and stay exact.
//!
//! Packing: total, held and sold in 21 bits each of one `AtomicU64`, so a
//! reader never sees a torn triple (`available = total - held - sold`).
//! 21 bits hold [`MAX_SEATS_PER_SCHEDULE`] (200,000 < 2^21), checked at compile time.

use boxoffice_engine::layout::MAX_SEATS_PER_SCHEDULE;
use boxoffice_engine::schedule::SeatCounts;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const _: () = assert!(MAX_SEATS_PER_SCHEDULE as u64 <= FIELD_MASK);

/// One schedule's counts, written by its actor only (see the module doc).
#[derive(Debug, Default)]
pub struct SeatBoard {
    packed: AtomicU64,
    /// The schedule was cancelled (listings show it `CANCELLED`).
    cancelled: AtomicBool,
}

impl SeatBoard {
    pub fn new(counts: SeatCounts) -> Self {
        let board = SeatBoard::default();
        board.publish(counts);
        board
    }

    /// Publishes `counts` (by the schedule's actor, after applying a change).
    pub fn publish(&self, counts: SeatCounts) {
        let field = |n: u32| u64::from(n) & FIELD_MASK;
        let packed = field(counts.total)
            | field(counts.held) << FIELD_BITS
            | field(counts.sold) << (2 * FIELD_BITS);
        self.packed.store(packed, Ordering::Release);
    }

    /// Publishes whether the schedule is cancelled (with the counts).
    pub fn publish_cancelled(&self, cancelled: bool) {
        self.cancelled.store(cancelled, Ordering::Release);
    }

    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// The counts last published.
    pub fn counts(&self) -> SeatCounts {
        let packed = self.packed.load(Ordering::Acquire);
        let field = |shift: u32| ((packed >> shift) & FIELD_MASK) as u32;
        let (total, held, sold) = (field(0), field(FIELD_BITS), field(2 * FIELD_BITS));
        SeatCounts {
            total,
            // Saturating: only a board never published with consistent counts could underflow.
            available: total.saturating_sub(held).saturating_sub(sold),
            held,
            sold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_trip_up_to_the_largest_schedule() {
        let max = MAX_SEATS_PER_SCHEDULE as u32;
        for (total, held, sold) in [
            (0, 0, 0),
            (10, 3, 4),
            (max, max / 2, max / 2),
            (max, 0, max),
        ] {
            let counts = SeatCounts {
                total,
                available: total - held - sold,
                held,
                sold,
            };
            assert_eq!(SeatBoard::new(counts).counts(), counts);
        }
        let board = SeatBoard::default();
        assert_eq!(board.counts().total, 0);
        let later = SeatCounts {
            total: 5,
            available: 1,
            held: 2,
            sold: 2,
        };
        board.publish(later);
        assert_eq!(board.counts(), later);
    }
}
