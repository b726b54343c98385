//! Why a schedule command was refused. Each variant maps to one HTTP status
//! and code (noted beside it); the mapping itself lives in the actors/http
//! layers. A refused command changes nothing.

use super::seat_map::SeatIndex;
use crate::{Money, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// 400 UNKNOWN_SEAT: the seat id is not in this layout.
    #[error("unknown seat {0:?}")]
    UnknownSeat(String),
    /// 409 SEAT_UNAVAILABLE: the requested seats that are taken, or empty when
    /// best-available found no block.
    #[error("seats unavailable: {0:?}")]
    SeatUnavailable(Vec<SeatIndex>),
    /// 422 SEAT_LIMIT_EXCEEDED.
    #[error("at most {limit} seats per user ({already} already held or bought)")]
    SeatLimitExceeded { limit: u32, already: u32 },
    /// 409 BOOKING_CLOSED: outside `[booking_opens_at, booking_closes_at)`.
    #[error("booking is closed")]
    BookingClosed,
    /// 400 VALIDATION_ERROR.
    #[error("invalid selection: {0}")]
    InvalidSelection(&'static str),
    /// 404: unknown, or another user's (never reveal which).
    #[error("reservation not found")]
    ReservationNotFound,
    /// 409 NOT_CANCELLABLE.
    #[error("the reservation cannot be cancelled")]
    NotCancellable,
    /// 409 CONFLICT: a payment is in flight for this reservation.
    #[error("a payment is in progress for this reservation")]
    PaymentInProgress,
    /// 409 ALREADY_PAID.
    #[error("the reservation is already paid")]
    AlreadyPaid,
    /// 409 RESERVATION_CANCELLED.
    #[error("the reservation was cancelled")]
    ReservationCancelled,
    /// 410 RESERVATION_EXPIRED (also a payment at or after `expires_at` before the sweep).
    #[error("the reservation expired")]
    ReservationExpired,
    /// 409 AMOUNT_MISMATCH: `expected` is the reservation's total.
    #[error("amount does not match the reservation total {expected}")]
    AmountMismatch { expected: Money },
    /// The payment id is not the pending one (a saga bug, not a client error).
    #[error("payment id does not match the pending payment")]
    PaymentMismatch,
    /// 400 INVALID_TICKET.
    #[error("ticket not found")]
    TicketNotFound,
    /// 400 INVALID_TICKET.
    #[error("ticket is void")]
    TicketVoid,
    /// 409 TICKET_ALREADY_USED.
    #[error("ticket already used at {at:?}")]
    TicketAlreadyUsed { at: Timestamp },
    /// No unsettled refund on this reservation.
    #[error("no refund is owed")]
    RefundNotOwed,
    /// 409 SCHEDULE_CANCELLED: the schedule was cancelled (no hold or payment).
    #[error("the schedule is cancelled")]
    ScheduleCancelled,
    /// 409 CONFLICT: the schedule is already cancelled.
    #[error("the schedule is already cancelled")]
    AlreadyCancelled,
    /// 409 SEAT_NOT_BLOCKED: these seats are not blocked (unblock, comp).
    #[error("seats not blocked: {0:?}")]
    SeatsNotBlocked(Vec<SeatIndex>),
}
