//! Booking events as the admin feed shows them: `{eventId, type, createdAt,
//! data}`, with `data` rendered from the actor layer's stored views by the
//! same bodies the reservation, payment and cancel answers use (API.md
//! "Booking events and webhooks"), and the feed's cursor.

use boxoffice_actors::booking_events::{
    BookingEvent, BookingEventData, BookingEventKind, EventCursor, EventPage,
    DEFAULT_EVENTS_PER_PAGE, MAX_EVENTS_PER_PAGE, MAX_EVENTS_WAIT_SECONDS,
};
use boxoffice_actors::schedule_actor::ReservationView;
use boxoffice_actors::{PaymentMethod, PaymentRecord, PaymentStatus};
use boxoffice_engine::schedule::CancellationSummary;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

use super::payments::PaymentBody;
use super::reservations::ReservationBody;
use super::schedule_admin::ScheduleCancelledBody;
use crate::error::{ApiError, ApiResult};
use crate::time_format::rfc3339;

/// The feed's query. Each is read as text and checked here, so that a
/// wrong type is the same 400 VALIDATION_ERROR as a value out of range.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct EventFeedQuery {
    /// A cursor from a page's `next` (opaque); absent: from the oldest event kept.
    #[param(example = "42-3")]
    pub after: Option<String>,
    /// Events per page, 1-1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Seconds to wait, 0-30 (default 0), when no event is newer than `after`.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 30)]
    pub wait_seconds: Option<String>,
}

/// A checked feed query.
pub struct EventFeedRequest {
    pub after: Option<EventCursor>,
    pub limit: usize,
    pub wait: Duration,
}

impl EventFeedQuery {
    pub fn validate(self) -> ApiResult<EventFeedRequest> {
        let after = self.after.as_deref().map(parse_cursor).transpose()?;
        let limit = match self.limit.as_deref() {
            None => DEFAULT_EVENTS_PER_PAGE,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_EVENTS_PER_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "limit must be a whole number from 1 to {MAX_EVENTS_PER_PAGE}"
                    ))
                })?,
        };
        let wait_seconds = match self.wait_seconds.as_deref() {
            None => 0,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= MAX_EVENTS_WAIT_SECONDS)
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "waitSeconds must be a whole number from 0 to {MAX_EVENTS_WAIT_SECONDS}"
                    ))
                })?,
        };
        Ok(EventFeedRequest {
            after,
            limit,
            wait: Duration::from_secs(wait_seconds),
        })
    }
}

/// `"<outbox lsn>-<events served of that record>"`; clients treat it as opaque.
pub fn cursor_text(cursor: EventCursor) -> String {
    format!("{}-{}", cursor.lsn, cursor.consumed)
}

fn parse_cursor(text: &str) -> ApiResult<EventCursor> {
    let bad = || ApiError::validation("after must be a cursor from a page's next");
    let (lsn, consumed) = text.split_once('-').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(lsn) || !digits(consumed) {
        return Err(bad());
    }
    Ok(EventCursor {
        lsn: lsn.parse().map_err(|_| bad())?,
        consumed: consumed.parse().map_err(|_| bad())?,
    })
}

/// One booking event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingEventBody {
    /// Unique; webhook receivers deduplicate by it.
    pub event_id: String,
    /// booking.created, booking.confirmed, booking.cancelled, booking.expired,
    /// payment.completed, payment.failed, refund.issued or schedule.cancelled.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// By type: `booking.*` the reservation as GET /reservations/{id} shows
    /// it; `payment.*` the payment as GET /payments/{id} shows it (status
    /// FAILED and no paidAt for payment.failed); `refund.issued`
    /// `{paymentId, reservationId, amount, refundedAt}`; `schedule.cancelled`
    /// the answer of the schedule's cancel.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// One page of the feed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPageBody {
    /// In commit order.
    pub items: Vec<BookingEventBody>,
    /// Pass as `after` for the events after these (always present).
    pub next: String,
}

impl From<&EventPage> for EventPageBody {
    fn from(page: &EventPage) -> Self {
        EventPageBody {
            items: page.items.iter().map(BookingEventBody::from).collect(),
            next: cursor_text(page.next),
        }
    }
}

impl From<&BookingEvent> for BookingEventBody {
    fn from(event: &BookingEvent) -> Self {
        BookingEventBody {
            event_id: event.event_id.to_string(),
            kind: event.kind.name(),
            created_at: rfc3339(event.created_at),
            data: data_body(event.kind, &event.data),
        }
    }
}

fn data_body(kind: BookingEventKind, data: &BookingEventData) -> Value {
    match data {
        BookingEventData::Reservation(view) => json!(ReservationBody::from(view)),
        BookingEventData::Payment {
            payment_id,
            reservation,
        } => payment_body(kind, *payment_id, reservation, PaymentMethod::Wallet),
        BookingEventData::CardPayment {
            payment_id,
            reservation,
        } => payment_body(kind, *payment_id, reservation, PaymentMethod::Card),
        BookingEventData::Refund {
            payment_id,
            reservation_id,
            amount,
            refunded_at,
        } => json!({
            "paymentId": payment_id.to_string(),
            "reservationId": reservation_id.to_string(),
            "amount": amount.0,
            "refundedAt": rfc3339(*refunded_at),
        }),
        BookingEventData::ScheduleCancelled {
            schedule_id,
            released_holds,
            refunded_reservations,
            refunded_amount,
        } => json!(ScheduleCancelledBody::new(
            *schedule_id,
            &CancellationSummary {
                released_holds: *released_holds,
                refunded_reservations: *refunded_reservations,
                refunded_amount: *refunded_amount,
            }
        )),
    }
}

/// The payment read off its reservation, as `GET /payments/{id}` renders it;
/// a failed one says FAILED and has no `paidAt`.
fn payment_body(
    kind: BookingEventKind,
    payment_id: boxoffice_engine::ids::PaymentId,
    reservation: &ReservationView,
    method: PaymentMethod,
) -> Value {
    let record = PaymentRecord {
        payment_id,
        reservation_id: reservation.reservation_id,
        amount: reservation.total_amount,
        status: PaymentStatus::Completed,
        method,
        paid_at: reservation.paid_at,
        tickets: reservation.tickets.clone(),
        // As GET shows a card payment then: no refund reported yet.
        refund_confirmed: (method == PaymentMethod::Card).then_some(false),
    };
    let mut body = json!(PaymentBody::from(&record));
    if kind == BookingEventKind::PaymentFailed {
        body["status"] = json!("FAILED");
        body["tickets"] = json!([]);
        if let Some(fields) = body.as_object_mut() {
            fields.remove("paidAt");
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_anything_else_is_refused() {
        let cursor = EventCursor {
            lsn: 42,
            consumed: 3,
        };
        assert_eq!(parse_cursor(&cursor_text(cursor)).ok(), Some(cursor));
        for bad in [
            "",
            "42",
            "42-",
            "-3",
            "x-1",
            "1-x",
            "+1-2",
            "1-2-3",
            " 1-2",
            "99999999999999999999999-1",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
