//! Whether a waiting-room token would let a user act on this schedule, asked
//! without acting: the answer comes from the same rule the hold and payment
//! handlers apply (`queue_allows_hold`, `queue_allows_payment`), so nobody
//! outside this actor keeps a copy of it.
//!
//! The HTTP layer asks it only when a request fails before reaching the
//! operation (a bad body), to answer 403 before 400 as API.md orders them; on
//! the success path the operation itself applies the rule, with no extra
//! round trip.

use actix::prelude::*;
use boxoffice_engine::ids::{QueueTokenId, UserId};

use super::ScheduleActor;

/// What the token is wanted for: a hold (and a seat map) needs an ACTIVE
/// admission; a payment also accepts one whose active time ran out, since a
/// hold made under it may be paid until the hold's own expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueUse {
    Hold,
    Payment,
}

/// True when `token` admits `user` for `purpose` (always, on an ungated schedule).
pub struct CheckQueueAccess {
    pub user: UserId,
    pub token: Option<QueueTokenId>,
    pub purpose: QueueUse,
}

impl Message for CheckQueueAccess {
    type Result = bool;
}

impl Handler<CheckQueueAccess> for ScheduleActor {
    type Result = bool;

    fn handle(&mut self, msg: CheckQueueAccess, _: &mut Context<Self>) -> bool {
        match msg.purpose {
            QueueUse::Hold => self.queue_allows_hold(msg.user, msg.token, self.now()),
            QueueUse::Payment => self.queue_allows_payment(msg.user, msg.token),
        }
    }
}
