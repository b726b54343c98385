//! Tickets: a ticket with the concert and schedule it admits to, its seat,
//! and its signed QR code.

use boxoffice_actors::schedule_actor::TicketView;
use boxoffice_actors::{TicketDetail, TicketEvent};
use boxoffice_engine::ids::ScheduleId;
use boxoffice_engine::schedule::TicketStatus;
use serde::Serialize;
use utoipa::ToSchema;

use crate::tickets_qr::QrSigner;
use crate::time_format::rfc3339;

/// A ticket's status.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketStatusName {
    Issued,
    Used,
    Void,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertRefBody {
    pub concert_id: String,
    pub title: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRefBody {
    pub schedule_id: String,
    #[schema(format = DateTime)]
    pub starts_at: String,
}

impl ConcertRefBody {
    /// The concert of `event`; empty fields for a schedule no concert names.
    pub fn of(event: Option<&TicketEvent>) -> Self {
        ConcertRefBody {
            concert_id: event.map(|e| e.concert_id.to_string()).unwrap_or_default(),
            title: event.map(|e| e.title.clone()).unwrap_or_default(),
        }
    }
}

impl ScheduleRefBody {
    /// The schedule, with its start from `event` (empty without one).
    pub fn of(schedule_id: ScheduleId, event: Option<&TicketEvent>) -> Self {
        ScheduleRefBody {
            schedule_id: schedule_id.to_string(),
            starts_at: event.map(|e| rfc3339(e.starts_at)).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketSeatBody {
    pub seat_id: String,
    pub section_id: String,
    pub row: String,
    pub number: u32,
}

impl From<&TicketView> for TicketSeatBody {
    fn from(t: &TicketView) -> Self {
        TicketSeatBody {
            seat_id: t.seat_id.clone(),
            section_id: t.section_id.clone(),
            row: t.row.clone(),
            number: t.number,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketBody {
    pub ticket_id: String,
    pub reservation_id: String,
    pub concert: ConcertRefBody,
    pub schedule: ScheduleRefBody,
    pub seat: TicketSeatBody,
    pub price: i64,
    #[schema(value_type = TicketStatusName)]
    pub status: &'static str,
    /// Signed, unforgeable; what the QR image encodes.
    pub qr_code: String,
    #[schema(format = DateTime)]
    pub issued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub used_at: Option<String>,
}

fn ticket_status(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::Issued => "ISSUED",
        TicketStatus::Used { .. } => "USED",
        TicketStatus::Void => "VOID",
    }
}

impl TicketBody {
    /// The ticket with its QR code signed by `qr`. A schedule no concert
    /// names renders with empty concert fields and start time.
    pub fn new(detail: &TicketDetail, qr: &QrSigner) -> Self {
        let ticket = &detail.ticket;
        TicketBody {
            ticket_id: ticket.ticket_id.to_string(),
            reservation_id: ticket.reservation_id.to_string(),
            concert: ConcertRefBody::of(detail.event.as_ref()),
            schedule: ScheduleRefBody::of(ticket.schedule_id, detail.event.as_ref()),
            seat: TicketSeatBody::from(ticket),
            price: ticket.price.0,
            status: ticket_status(ticket.status),
            qr_code: qr.code(ticket.ticket_id),
            issued_at: rfc3339(ticket.issued_at),
            used_at: match ticket.status {
                TicketStatus::Used { at } => Some(rfc3339(at)),
                _ => None,
            },
        }
    }
}
