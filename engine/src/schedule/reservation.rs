//! Reservations: what a user asked for (`HoldRequest`) and what the schedule
//! keeps about each hold through its life, from `Held` through payment to
//! `Confirmed`, or to `Expired` / `Cancelled`. Ended reservations stay in the
//! schedule until its owner archives them and calls `forget_ended` (`ended.rs`).

use super::seat_map::SeatIndex;
use crate::{Money, PaymentId, ReservationId, TicketId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// Longest reservation number (the human-readable `BX-7K3Q9D`) a hold accepts.
pub const MAX_RESERVATION_NUMBER_LEN: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeatSelection {
    /// These exact seats, all or nothing; distinct; at least one.
    Ids(Vec<String>),
    /// `quantity` adjacent seats in one row, best section first.
    BestAvailable {
        quantity: u32,
        grade: Option<String>,
        section_id: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRequest {
    pub reservation_id: ReservationId,
    /// Human-readable number, for example `BX-7K3Q9D`, chosen by the caller.
    pub number: String,
    pub user: UserId,
    pub selection: SeatSelection,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReservationStatus {
    Held,
    /// A payment saga is in flight: the hold cannot expire until it ends.
    PaymentPending {
        payment_id: PaymentId,
    },
    Confirmed {
        payment_id: PaymentId,
    },
    Expired,
    Cancelled,
}

impl ReservationStatus {
    /// Held, payment-pending or confirmed: the reservation occupies its seats.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Self::Held | Self::PaymentPending { .. } | Self::Confirmed { .. }
        )
    }
}

/// Money owed back to the user after a confirmed reservation was cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub payment_id: PaymentId,
    pub amount: Money,
    /// True once the wallet has credited it.
    pub settled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: ReservationId,
    pub number: String,
    pub user: UserId,
    pub seats: Vec<SeatIndex>,
    /// Sum of the seats' prices.
    pub amount: Money,
    pub status: ReservationStatus,
    pub held_at: Timestamp,
    pub expires_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    /// Parallel to `seats` once confirmed; empty before.
    pub tickets: Vec<TicketId>,
    /// When it expired or was cancelled.
    pub ended_at: Option<Timestamp>,
    pub refund: Option<Refund>,
    /// Reservations made on its schedule before it (`Schedule::reservations_made`
    /// when it was made). Orders holds made in the same millisecond in a
    /// user's list, live and archived alike, and never changes: forgetting
    /// other reservations does not move it (a position in memory would).
    pub ordinal: u64,
}
