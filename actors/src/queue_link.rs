//! The protocol between the queue actor and the schedule actors.
//!
//! The waiting room lives in one `QueueActor`, the seats in one
//! `ScheduleActor` per schedule, and each must tell the other a few things:
//! the queue pushes admitted tokens to a schedule ([`QueueAdmitted`]); a
//! schedule tells the queue that a payment used up a token ([`EndQueueToken`])
//! and, when it (re)starts, asks for the tokens still payable
//! ([`ResendAdmissions`]). The messages live here, and each side holds the
//! other only as `actix::Recipient`s of them, so neither actor module names
//! the other's actor type: the dependency runs from both actors to this
//! module, never between them.

use actix::dev::ToEnvelope;
use actix::prelude::*;
use boxoffice_engine::ids::*;
use boxoffice_engine::Timestamp;

/// Pushed by the queue actor: these tokens are ACTIVE for these users until `until`.
#[derive(Clone, Debug)]
pub struct QueueAdmitted {
    pub tokens: Vec<(QueueTokenId, UserId, Timestamp)>,
}
impl Message for QueueAdmitted {
    type Result = ();
}

/// Sent by a schedule actor once a payment that used `token` is durable.
pub struct EndQueueToken {
    pub schedule_id: ScheduleId,
    pub token: QueueTokenId,
}
impl Message for EndQueueToken {
    type Result = ();
}

/// A (re)started schedule actor asks for the tokens a hold may still be paid
/// under: the ACTIVE ones, and those whose active time ran out less than
/// `grace_ms` (the schedule's hold time) ago.
pub struct ResendAdmissions {
    pub schedule_id: ScheduleId,
    pub to: Recipient<QueueAdmitted>,
    pub grace_ms: i64,
}
impl Message for ResendAdmissions {
    type Result = ();
}

/// What a schedule actor holds of the queue actor: where to send the two
/// messages it sends there.
#[derive(Clone)]
pub struct QueueLink {
    pub end_token: Recipient<EndQueueToken>,
    pub resend: Recipient<ResendAdmissions>,
}

impl QueueLink {
    /// The link to whichever actor runs the waiting room (the registry passes
    /// the `QueueActor`'s address; this module need not know its type).
    pub fn to<A>(queue: &Addr<A>) -> Self
    where
        A: Actor + Handler<EndQueueToken> + Handler<ResendAdmissions>,
        A::Context: ToEnvelope<A, EndQueueToken> + ToEnvelope<A, ResendAdmissions>,
    {
        QueueLink {
            end_token: queue.clone().recipient(),
            resend: queue.clone().recipient(),
        }
    }
}
