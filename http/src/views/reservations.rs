//! Reservations (holds): the hold request, the list filter, and the
//! reservation as every reservation endpoint answers it.

use boxoffice_actors::receipt::{HoldReceipt, SeatLine, TicketLine};
use boxoffice_actors::schedule_actor::ReservationView;
use boxoffice_actors::{CancelReceipt, CustomerStatus};
use boxoffice_engine::schedule::{ReservationStatus, SeatSelection, MAX_SEATS_PER_USER_LIMIT};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Limit;
use crate::error::{ApiError, ApiResult};
use crate::time_format::rfc3339;

pub const LIMITS: &[Limit] = &[Limit::maximum(
    "HoldRequestBody",
    "quantity",
    MAX_SEATS_PER_USER_LIMIT as i64,
)];

/// Hold seats: `seatIds` (all or nothing) or `quantity` (best available, optionally in a `grade` or `sectionId`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoldRequestBody {
    pub schedule_id: String,
    /// Distinct seat ids (`sectionId-row-number`); all are held or none.
    #[schema(min_items = 1)]
    pub seat_ids: Option<Vec<String>>,
    /// Best available: this many adjacent seats in one row.
    #[schema(minimum = 1)]
    pub quantity: Option<u32>,
    pub grade: Option<String>,
    pub section_id: Option<String>,
}

impl HoldRequestBody {
    /// The seats asked for; 400 for both or neither of seatIds and quantity,
    /// an empty or repeated seatIds, or a quantity of 0.
    pub fn selection(self) -> ApiResult<SeatSelection> {
        match (self.seat_ids, self.quantity) {
            (Some(_), Some(_)) | (None, None) => {
                Err(ApiError::validation("give either seatIds or quantity"))
            }
            (Some(ids), None) => {
                if ids.is_empty() {
                    return Err(ApiError::validation("seatIds must not be empty"));
                }
                // No length cap here: more seats than the user's room is the engine's
                // 422 SEAT_LIMIT_EXCEEDED (API.md), and the 64 KiB body limit already
                // bounds the list, so this sort stays cheap.
                let mut sorted = ids.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != ids.len() {
                    return Err(ApiError::validation("seatIds must be distinct"));
                }
                Ok(SeatSelection::Ids(ids))
            }
            (None, Some(quantity)) => {
                if quantity == 0 {
                    return Err(ApiError::validation("quantity must be at least 1"));
                }
                Ok(SeatSelection::BestAvailable {
                    quantity,
                    grade: self.grade,
                    section_id: self.section_id,
                })
            }
        }
    }
}

/// A reservation's status.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatusName {
    Held,
    Confirmed,
    Expired,
    Cancelled,
}

fn reservation_status(status: ReservationStatus) -> &'static str {
    match CustomerStatus::of(status) {
        CustomerStatus::Held => "HELD",
        CustomerStatus::Confirmed => "CONFIRMED",
        CustomerStatus::Expired => "EXPIRED",
        CustomerStatus::Cancelled => "CANCELLED",
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ReservationFilter {
    /// Only reservations in this status.
    #[param(value_type = Option<ReservationStatusName>)]
    pub status: Option<String>,
}

impl ReservationFilter {
    /// The status asked for (`None`: any); 400 for one the API does not name.
    pub fn wanted(&self) -> ApiResult<Option<CustomerStatus>> {
        let Some(name) = self.status.as_deref() else {
            return Ok(None);
        };
        match name {
            "HELD" => Ok(Some(CustomerStatus::Held)),
            "CONFIRMED" => Ok(Some(CustomerStatus::Confirmed)),
            "EXPIRED" => Ok(Some(CustomerStatus::Expired)),
            "CANCELLED" => Ok(Some(CustomerStatus::Cancelled)),
            _ => Err(ApiError::validation(
                "status must be HELD, CONFIRMED, EXPIRED or CANCELLED",
            )),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatLineBody {
    pub seat_id: String,
    pub grade: String,
    pub price: i64,
}

impl From<&SeatLine> for SeatLineBody {
    fn from(s: &SeatLine) -> Self {
        SeatLineBody {
            seat_id: s.seat_id.clone(),
            grade: s.grade.clone(),
            price: s.price.0,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketLineBody {
    pub ticket_id: String,
    pub seat_id: String,
}

impl From<&TicketLine> for TicketLineBody {
    fn from(t: &TicketLine) -> Self {
        TicketLineBody {
            ticket_id: t.ticket_id.to_string(),
            seat_id: t.seat_id.clone(),
        }
    }
}

/// A reservation (hold). `status` is HELD, CONFIRMED, EXPIRED or CANCELLED.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationBody {
    pub reservation_id: String,
    pub reservation_number: String,
    pub schedule_id: String,
    pub seats: Vec<SeatLineBody>,
    pub total_amount: i64,
    #[schema(value_type = ReservationStatusName)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub held_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub paid_at: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<TicketLineBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub cancelled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub expired_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<i64>,
}

impl From<&HoldReceipt> for ReservationBody {
    fn from(r: &HoldReceipt) -> Self {
        ReservationBody {
            reservation_id: r.reservation_id.to_string(),
            reservation_number: r.reservation_number.clone(),
            schedule_id: r.schedule_id.to_string(),
            seats: r.seats.iter().map(SeatLineBody::from).collect(),
            total_amount: r.total_amount.0,
            status: "HELD",
            held_at: rfc3339(r.held_at),
            expires_at: rfc3339(r.expires_at),
            payment_id: None,
            paid_at: None,
            tickets: Vec::new(),
            cancelled_at: None,
            expired_at: None,
            refund_amount: None,
        }
    }
}

impl From<&ReservationView> for ReservationBody {
    fn from(r: &ReservationView) -> Self {
        let payment_id = match r.status {
            ReservationStatus::Confirmed { payment_id } => Some(payment_id.to_string()),
            _ => None,
        };
        ReservationBody {
            reservation_id: r.reservation_id.to_string(),
            reservation_number: r.reservation_number.clone(),
            schedule_id: r.schedule_id.to_string(),
            seats: r.seats.iter().map(SeatLineBody::from).collect(),
            total_amount: r.total_amount.0,
            status: reservation_status(r.status),
            held_at: rfc3339(r.held_at),
            expires_at: rfc3339(r.expires_at),
            payment_id,
            paid_at: r.paid_at.map(rfc3339),
            tickets: r.tickets.iter().map(TicketLineBody::from).collect(),
            cancelled_at: (r.status == ReservationStatus::Cancelled)
                .then_some(r.ended_at)
                .flatten()
                .map(rfc3339),
            expired_at: (r.status == ReservationStatus::Expired)
                .then_some(r.ended_at)
                .flatten()
                .map(rfc3339),
            refund_amount: r.refund_amount.map(|m| m.0),
        }
    }
}

/// A cancellation: the reservation as it is now, with what was refunded (0 for a hold).
impl From<&CancelReceipt> for ReservationBody {
    fn from(c: &CancelReceipt) -> Self {
        let mut body = ReservationBody::from(&c.reservation);
        body.refund_amount = Some(c.refund_amount.0);
        body
    }
}
