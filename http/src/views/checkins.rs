//! Check-in at the door: the QR code staff scan, and the seat it admits to.

use boxoffice_actors::schedule_actor::CheckedIn;
use serde::Serialize;
use utoipa::ToSchema;

use super::tickets::TicketSeatBody;
use crate::time_format::rfc3339;

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckInRequestBody {
    pub qr_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckInBody {
    /// Always true (a refused code is an error).
    pub valid: bool,
    pub ticket_id: String,
    pub seat: TicketSeatBody,
    #[schema(format = DateTime)]
    pub used_at: String,
}

impl From<&CheckedIn> for CheckInBody {
    fn from(checked: &CheckedIn) -> Self {
        CheckInBody {
            valid: true,
            ticket_id: checked.ticket.ticket_id.to_string(),
            seat: TicketSeatBody::from(&checked.ticket),
            used_at: rfc3339(checked.used_at),
        }
    }
}
