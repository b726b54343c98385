//! Waiting-room operations as the API layer calls them.

use boxoffice_engine::ids::*;
use boxoffice_engine::queue::TokenStatus;

use crate::error::{EngineError, EngineResult};
use crate::queue_actor::{JoinQueue, QueueStats, QueueStatus, QueueTicket};
use crate::registry::Registry;
use crate::schedule_actor::{CheckQueueAccess, QueueUse};

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

/// What a request under a waiting room's token is about to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueTarget {
    /// Hold seats (or read the seat map) of this schedule.
    Hold(ScheduleId),
    /// Pay for this reservation of the caller's.
    Payment(ReservationId),
}

impl Registry {
    /// API.md's checks that come before a request's body, for an operation
    /// under a waiting room: `NotFound` when the target does not exist (for
    /// this user), `QueueNotActive` when its schedule is gated and `token`
    /// does not admit the user for that use. The decision is the schedule
    /// actor's own (`CheckQueueAccess`), the one a hold or payment applies,
    /// so it is never re-derived elsewhere. The operations check this
    /// themselves; callers ask only when a request fails before reaching them.
    pub async fn check_queue_access(
        &self,
        user: UserId,
        target: QueueTarget,
        token: Option<QueueTokenId>,
    ) -> EngineResult<()> {
        let (schedule, purpose) = match target {
            QueueTarget::Hold(schedule_id) => (self.schedule(schedule_id)?, QueueUse::Hold),
            QueueTarget::Payment(reservation_id) => {
                let view = self.reservation(Some(user), reservation_id).await?;
                (self.schedule(view.schedule_id)?, QueueUse::Payment)
            }
        };
        if !schedule.gated {
            return Ok(());
        }
        let admitted = schedule
            .actor
            .query(CheckQueueAccess {
                user,
                token,
                purpose,
            })
            .await?;
        if admitted {
            Ok(())
        } else {
            Err(EngineError::QueueNotActive)
        }
    }
}

impl Registry {
    /// The caller's current place in a waiting room: a token is bound to its
    /// user, and only a WAITING or ACTIVE one is current; anything else
    /// (none, another user's, ended, expired) is `QueueTokenInvalid`.
    pub async fn current_queue_token(
        &self,
        user: UserId,
        token: Option<QueueTokenId>,
    ) -> EngineResult<QueueTicket> {
        let token = token.ok_or(EngineError::QueueTokenInvalid)?;
        let ticket = self.queue_status(token).await?;
        let current = matches!(
            ticket.view.status,
            TokenStatus::Waiting | TokenStatus::Active
        );
        if ticket.view.user != user || !current {
            return Err(EngineError::QueueTokenInvalid);
        }
        Ok(ticket)
    }
}
