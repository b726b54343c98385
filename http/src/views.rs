//! The JSON bodies of successful responses, exactly as API.md names their
//! fields (camelCase, RFC 3339 UTC times, integer money). Each is built from an
//! actor-layer receipt or view; the OpenAPI document is derived from these.

use boxoffice_actors::receipt::{ChargeReceipt, HoldReceipt, PaymentReceipt, SeatLine, TicketLine};
use boxoffice_actors::schedule_actor::{ReservationView, SeatMapView, TicketView};
use boxoffice_actors::wallet_actor::WalletView;
use boxoffice_engine::queue::TokenStatus;
use boxoffice_engine::schedule::{ReservationStatus, SeatStatus, TicketStatus};
use boxoffice_engine::wallet::{LedgerEntry, LedgerKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::time_format::rfc3339;

// The names the API gives each kind of status, as closed sets in the OpenAPI
// document (the bodies hold `&'static str`s; these types only describe
// them): a response naming anything else fails the fuzzer's schema check.

/// A reservation's status.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatusName {
    Held,
    Confirmed,
    Expired,
    Cancelled,
}

/// A payment's status: REFUNDED once its reservation was cancelled.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatusName {
    Completed,
    Refunded,
}

/// A seat's status in a seat map.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeatStatusName {
    Available,
    Held,
    Sold,
}

/// A ticket's status.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketStatusName {
    Issued,
    Used,
    Void,
}

/// A wallet ledger entry's kind.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LedgerKindName {
    Charge,
    Payment,
    Refund,
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

pub fn reservation_status(status: ReservationStatus) -> &'static str {
    match status {
        // A payment in flight does not change what the customer holds.
        ReservationStatus::Held | ReservationStatus::PaymentPending { .. } => "HELD",
        ReservationStatus::Confirmed { .. } => "CONFIRMED",
        ReservationStatus::Expired => "EXPIRED",
        ReservationStatus::Cancelled => "CANCELLED",
    }
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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletBody {
    pub user_id: String,
    pub balance: i64,
    pub total_charged: i64,
    pub total_used: i64,
    pub total_refunded: i64,
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
}

impl From<&WalletView> for WalletBody {
    fn from(w: &WalletView) -> Self {
        WalletBody {
            user_id: w.user.to_string(),
            balance: w.balance.0,
            total_charged: w.total_charged.0,
            total_used: w.total_used.0,
            total_refunded: w.total_refunded.0,
            updated_at: w.updated_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeBody {
    pub transaction_id: String,
    pub amount: i64,
    pub balance: i64,
    #[schema(format = DateTime)]
    pub charged_at: String,
}

impl From<&ChargeReceipt> for ChargeBody {
    fn from(c: &ChargeReceipt) -> Self {
        ChargeBody {
            transaction_id: c.transaction_id.to_string(),
            amount: c.amount.0,
            balance: c.balance.0,
            charged_at: rfc3339(c.charged_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntryBody {
    pub transaction_id: String,
    #[schema(value_type = LedgerKindName)]
    pub kind: &'static str,
    pub amount: i64,
    pub balance_after: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// The payment a PAYMENT or REFUND belongs to.
    pub reference: Option<String>,
}

impl From<&LedgerEntry> for LedgerEntryBody {
    fn from(e: &LedgerEntry) -> Self {
        LedgerEntryBody {
            transaction_id: e.transaction_id.to_string(),
            kind: match e.kind {
                LedgerKind::Charge => "CHARGE",
                LedgerKind::Payment => "PAYMENT",
                LedgerKind::Refund => "REFUND",
            },
            amount: e.amount.0,
            balance_after: e.balance_after.0,
            at: rfc3339(e.at),
            reference: e.reference.map(|p| p.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentBody {
    pub payment_id: String,
    pub reservation_id: String,
    pub amount: i64,
    #[schema(value_type = PaymentStatusName)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub paid_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_after: Option<i64>,
    pub tickets: Vec<TicketLineBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_token_expired: Option<bool>,
}

impl From<&PaymentReceipt> for PaymentBody {
    fn from(p: &PaymentReceipt) -> Self {
        PaymentBody {
            payment_id: p.payment_id.to_string(),
            reservation_id: p.reservation_id.to_string(),
            amount: p.amount.0,
            status: "COMPLETED",
            paid_at: rfc3339(p.paid_at),
            balance_after: Some(p.balance_after.0),
            tickets: p.tickets.iter().map(TicketLineBody::from).collect(),
            queue_token_expired: Some(p.queue_token_expired),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatBody {
    pub seat_id: String,
    #[schema(value_type = SeatStatusName)]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowBody {
    pub row: String,
    pub seats: Vec<SeatBody>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SectionBody {
    pub section_id: String,
    pub grade: String,
    pub price: i64,
    pub rows: Vec<RowBody>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatSummaryBody {
    pub total: u32,
    pub available: u32,
    pub held: u32,
    pub sold: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapBody {
    pub schedule_id: String,
    pub sections: Vec<SectionBody>,
    pub summary: SeatSummaryBody,
}

pub fn seat_status(status: SeatStatus) -> &'static str {
    match status {
        SeatStatus::Available => "AVAILABLE",
        SeatStatus::Held => "HELD",
        SeatStatus::Sold => "SOLD",
    }
}

impl From<&SeatMapView> for SeatMapBody {
    fn from(m: &SeatMapView) -> Self {
        SeatMapBody {
            schedule_id: m.schedule_id.to_string(),
            sections: m
                .sections
                .iter()
                .map(|s| SectionBody {
                    section_id: s.section_id.clone(),
                    grade: s.grade.clone(),
                    price: s.price.0,
                    rows: s
                        .rows
                        .iter()
                        .map(|r| RowBody {
                            row: r.row.clone(),
                            seats: r
                                .seats
                                .iter()
                                .map(|seat| SeatBody {
                                    seat_id: seat.seat_id.clone(),
                                    status: seat_status(seat.status),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            summary: SeatSummaryBody {
                total: m.summary.total,
                available: m.summary.available,
                held: m.summary.held,
                sold: m.summary.sold,
            },
        }
    }
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

pub fn token_status(status: TokenStatus) -> &'static str {
    match status {
        TokenStatus::Waiting => "WAITING",
        TokenStatus::Active => "ACTIVE",
        TokenStatus::Ended => "ENDED",
        TokenStatus::Expired => "EXPIRED",
    }
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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketSeatBody {
    pub seat_id: String,
    pub section_id: String,
    pub row: String,
    pub number: u32,
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

pub fn ticket_status(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::Issued => "ISSUED",
        TicketStatus::Used { .. } => "USED",
        TicketStatus::Void => "VOID",
    }
}

pub fn ticket_seat(t: &TicketView) -> TicketSeatBody {
    TicketSeatBody {
        seat_id: t.seat_id.clone(),
        section_id: t.section_id.clone(),
        row: t.row.clone(),
        number: t.number,
    }
}
