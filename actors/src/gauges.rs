//! Engine-wide figures for the metrics endpoint: seats held and sold over
//! every schedule, the group commit's flush counters, and how many wait in
//! waiting rooms.
//!
//! Best effort by design: a gauge is a sample, and `/metrics` must answer
//! while the engine is overloaded (that is when it is read). Seat counts come
//! from the schedules' published boards (`seat_board`), so no schedule actor
//! is asked; a queue actor that does not answer is left out rather than
//! failing the scrape.

use boxoffice_storage::FlushStats;

use crate::registry::Registry;

#[derive(Clone, Copy, Debug)]
pub struct EngineGauges {
    /// Seats in live holds, over every schedule.
    pub seats_held: i64,
    /// Seats sold, over every schedule.
    pub seats_sold: i64,
    pub flush: FlushStats,
    /// `None` when the queue actor did not answer.
    pub queue_waiting: Option<usize>,
}

impl Registry {
    /// The gauges: seat counts from every schedule's published board (no
    /// actor asked, see `seat_board`), the queue actor asked.
    pub async fn gauges(&self) -> EngineGauges {
        let (mut seats_held, mut seats_sold) = (0i64, 0i64);
        for counts in self.schedules().all_seat_counts() {
            seats_held += i64::from(counts.held);
            seats_sold += i64::from(counts.sold);
        }
        EngineGauges {
            seats_held,
            seats_sold,
            flush: self.flush_stats(),
            queue_waiting: self.queue_waiting().await.ok(),
        }
    }
}
