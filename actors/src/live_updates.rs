//! Live updates as the API layer calls them: who may follow a schedule's
//! seat feed (`seat_feed`), and a queue token's answer for its stream. Both
//! are answered without a message to the queue actor; a gated schedule asks
//! its own actor once, when the subscription opens, the rule a seat map uses.
//! While a gated stream is open its admission is re-checked on the queue's
//! lock-free board (`admission_active`), so the stream ends when the ACTIVE
//! token expires or is ended by a payment.

use boxoffice_engine::ids::ScheduleId;
use boxoffice_engine::queue::TokenStatus;
use std::sync::Arc;

use crate::error::{EngineError, EngineResult};
use crate::queue_actor::QueueTicket;
use crate::queue_board::QueuePass;
use crate::registry::Registry;
use crate::schedule_actor::{CheckQueueAccess, QueueUse};
use crate::seat_feed::SeatFeed;

impl Registry {
    /// The seat feed of `schedule_id` for a new subscriber, and on a gated
    /// schedule the admission that must stay ACTIVE while the stream is open
    /// (see [`Registry::admission_active`]). `NotFound` for an unknown
    /// schedule; on a gated one, `QueueNotActive` unless `pass` is an ACTIVE
    /// admission for this schedule (no user token: the pass names its user,
    /// and its signature was checked by the caller).
    pub async fn seat_feed(
        &self,
        schedule_id: ScheduleId,
        pass: Option<&QueuePass>,
    ) -> EngineResult<(Arc<SeatFeed>, Option<QueuePass>)> {
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
            return Ok((handle.feed, Some(*pass)));
        }
        Ok((handle.feed, None))
    }

    /// Whether the admission `pass` proves is still ACTIVE now, read on the
    /// queue's board (a few atomic loads, no message): false once its
    /// `activeSeconds` ran out, a payment ended it, or the place is unknown.
    pub fn admission_active(&self, pass: &QueuePass) -> bool {
        self.watch_queue(pass)
            .is_ok_and(|ticket| ticket.view.status == TokenStatus::Active)
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
