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
    Waiting,
    Active,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueTokenBody {
    pub token: String,
    pub schedule_id: String,
    #[schema(value_type = QueueTokenStatusName)]
    pub status: &'static str,
    /// 0 when ACTIVE; 1 = next in line.
    pub position: u64,
    pub estimated_wait_seconds: u64,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

fn token_status(status: TokenStatus) -> &'static str {
    match status {
        TokenStatus::Waiting => "WAITING",
        TokenStatus::Active => "ACTIVE",
        TokenStatus::Ended => "ENDED",
        TokenStatus::Expired => "EXPIRED",
    }
}

impl From<&QueueTicket> for QueueTokenBody {
    fn from(ticket: &QueueTicket) -> Self {
        let view = &ticket.view;
        QueueTokenBody {
            token: view.token.to_string(),
            schedule_id: ticket.schedule_id.to_string(),
            status: token_status(view.status),
            position: view.position,
            estimated_wait_seconds: view.estimated_wait_seconds,
            expires_at: rfc3339(view.expires_at),
        }
    }
}
