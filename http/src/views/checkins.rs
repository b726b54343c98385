//! Check-in at the door: the QR code staff scan, and the seat it admits to.

use boxoffice_actors::ticket_detail::DoorCheckIn;
use serde::Serialize;
use utoipa::ToSchema;

use super::tickets::{ConcertRefBody, ScheduleRefBody, TicketSeatBody};
use crate::time_format::rfc3339;

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckInRequestBody {
    pub qr_code: String,
    /// The schedule this door admits to: a ticket for another one is 409
    /// WRONG_SCHEDULE and stays unused. Any schedule when left out.
    pub schedule_id: Option<String>,
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
    pub concert: ConcertRefBody,
    pub schedule: ScheduleRefBody,
}

impl From<&DoorCheckIn> for CheckInBody {
    fn from(door: &DoorCheckIn) -> Self {
        let checked = &door.checked;
        CheckInBody {
            valid: true,
            ticket_id: checked.ticket.ticket_id.to_string(),
            seat: TicketSeatBody::from(&checked.ticket),
            used_at: rfc3339(checked.used_at),
            concert: ConcertRefBody::of(door.event.as_ref()),
            schedule: ScheduleRefBody::of(checked.ticket.schedule_id, door.event.as_ref()),
        }
    }
}
