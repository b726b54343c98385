//! Engine-wide figures for the metrics endpoint: seats held and sold over
//! every schedule, the group commit's flush counters, and how many wait in
//! waiting rooms.
//!
//! Best effort by design: a gauge is a sample, and `/metrics` must answer
//! while the engine is overloaded (that is when it is read), so a schedule
//! or queue that does not answer is left out rather than failing the scrape.

use boxoffice_storage::FlushStats;
use futures_util::future::join_all;

use crate::registry::Registry;
use crate::schedule_actor::GetCounts;

#[derive(Clone, Copy, Debug)]
pub struct EngineGauges {
    /// Seats in live holds, over the schedules that answered.
    pub seats_held: i64,
    /// Seats sold, over the schedules that answered.
    pub seats_sold: i64,
    pub flush: FlushStats,
    /// `None` when the queue actor did not answer.
    pub queue_waiting: Option<usize>,
}

impl Registry {
    /// The gauges, every schedule asked at once (see the module comment).
    pub async fn gauges(&self) -> EngineGauges {
        let handles: Vec<_> = self
            .schedule_ids()
            .into_iter()
            .filter_map(|id| self.schedule(id).ok())
            .collect();
        let counts = join_all(handles.iter().map(|h| h.actor.query(GetCounts))).await;
        let (mut seats_held, mut seats_sold) = (0i64, 0i64);
        for counts in counts.into_iter().flatten() {
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
