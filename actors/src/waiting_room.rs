//! Waiting-room operations as the API layer calls them.

use boxoffice_engine::ids::*;

use crate::error::EngineResult;
use crate::queue_actor::{JoinQueue, QueueStats, QueueStatus, QueueTicket};
use crate::registry::Registry;

impl Registry {
    /// Joins the schedule's waiting room; joining again returns the same place.
    pub async fn join_queue(
        &self,
        user: UserId,
        schedule_id: ScheduleId,
    ) -> EngineResult<QueueTicket> {
        self.schedule(schedule_id)?;
        self.queue().command(JoinQueue { schedule_id, user }).await
    }

    /// A token's current status, with a fresh position and ETA; counts as a poll.
    pub async fn queue_status(&self, token: QueueTokenId) -> EngineResult<QueueTicket> {
        self.queue().query(QueueStatus { token }).await?
    }

    /// Users waiting, over every waiting room.
    pub async fn queue_waiting(&self) -> EngineResult<usize> {
        self.queue().query(QueueStats).await
    }
}
