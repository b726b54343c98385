//! Live updates as the API layer calls them: who may follow a schedule's
//! seat feed (`seat_feed`), and a queue token's answer for its stream. Both
//! are answered without a message to the queue actor; a gated schedule asks
//! its own actor once, when the subscription opens, the rule a seat map uses.

use boxoffice_engine::ids::ScheduleId;
use std::sync::Arc;

use crate::error::{EngineError, EngineResult};
use crate::queue_actor::QueueTicket;
use crate::queue_board::QueuePass;
use crate::registry::Registry;
use crate::schedule_actor::{CheckQueueAccess, QueueUse};
use crate::seat_feed::SeatFeed;

impl Registry {
    /// The seat feed of `schedule_id` for a new subscriber. `NotFound` for an
    /// unknown schedule; on a gated one, `QueueNotActive` unless `pass` is an
    /// ACTIVE admission for this schedule (no user token: the pass names its
    /// user, and its signature was checked by the caller).
    pub async fn seat_feed(
        &self,
        schedule_id: ScheduleId,
        pass: Option<&QueuePass>,
    ) -> EngineResult<Arc<SeatFeed>> {
        let handle = self.schedule(schedule_id)?;
        if handle.gated {
            let pass = pass
                .filter(|pass| pass.schedule_id == schedule_id)
                .ok_or(EngineError::QueueNotActive)?;
            let admitted = handle
                .actor
                .query(CheckQueueAccess {
                    user: pass.user,
                    token: Some(pass.token),
                    purpose: QueueUse::Hold,
                })
                .await?;
            if !admitted {
                return Err(EngineError::QueueNotActive);
            }
        }
        Ok(handle.feed)
    }

    /// The current answer for the place `pass` proves, for its stream: the
    /// token is the credential, so no user is compared. Counts as a poll
    /// (the place does not drop out while its stream is open).
    /// `QueueTokenInvalid` unless the place is still WAITING, ACTIVE or PRE_QUEUE.
    pub fn watch_queue(&self, pass: &QueuePass) -> EngineResult<QueueTicket> {
        let board = self
            .schedules()
            .board(pass.schedule_id)
            .ok_or(EngineError::QueueTokenInvalid)?;
        let now = self.context().clock.now();
        let view = board
            .poll(pass, now)
            .ok_or(EngineError::QueueTokenInvalid)?;
        Ok(QueueTicket {
            schedule_id: pass.schedule_id,
            view,
            pass: *pass,
            created: false,
        })
    }
}
