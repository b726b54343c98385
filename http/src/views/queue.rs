//! The waiting room: joining a schedule's queue, and the token its holder polls.

use boxoffice_actors::queue_actor::QueueTicket;
use boxoffice_engine::queue::TokenStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time_format::rfc3339;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequestBody {
    pub schedule_id: String,
}

/// A waiting-room token's status as its holder sees it (a token that ended or
/// expired is no longer current: 401 QUEUE_TOKEN_INVALID).
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueueTokenStatusName {
    PreQueue,
    Waiting,
    Active,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueTokenBody {
    /// Signed; send it back verbatim in the `Queue-Token` header.
    pub token: String,
    pub schedule_id: String,
    #[schema(value_type = QueueTokenStatusName)]
    pub status: &'static str,
    /// 0 when ACTIVE; 1 = next in line; null in PRE_QUEUE.
    pub position: Option<u64>,
    /// null in PRE_QUEUE.
    pub estimated_wait_seconds: Option<u64>,
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Wait this long before polling again (100-60,000; grows with the crowd).
    #[schema(minimum = 100, maximum = 60000)]
    pub poll_after_ms: i64,
}

fn token_status(status: TokenStatus) -> &'static str {
    match status {
        TokenStatus::Waiting => "WAITING",
        TokenStatus::Active => "ACTIVE",
        TokenStatus::Ended => "ENDED",
        TokenStatus::Expired => "EXPIRED",
        TokenStatus::PreQueue => "PRE_QUEUE",
    }
}

impl QueueTokenBody {
    /// The answer for `ticket`, whose signed token is `token`.
    pub fn new(ticket: &QueueTicket, token: String) -> Self {
        let view = &ticket.view;
        let placed = view.status != TokenStatus::PreQueue;
        QueueTokenBody {
            token,
            schedule_id: ticket.schedule_id.to_string(),
            status: token_status(view.status),
            position: placed.then_some(view.position),
            estimated_wait_seconds: placed.then_some(view.estimated_wait_seconds),
            expires_at: rfc3339(view.expires_at),
            poll_after_ms: view.poll_after_ms,
        }
    }
}
