//! The facts a schedule records. Commands produce them, `Schedule::apply`
//! folds them into state, and the actors log them so that recovery can replay
//! them through the same `apply`. Each event carries everything `apply`
//! needs, so applying never re-runs a decision (no best-available search, no
//! clock, no rule that could have changed since).

use super::seat_map::SeatIndex;
use crate::{Money, PaymentId, ReservationId, TicketId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScheduleEvent {
    /// A new reservation holds these seats until `expires_at`.
    Held {
        reservation_id: ReservationId,
        number: String,
        user: UserId,
        seats: Vec<SeatIndex>,
        amount: Money,
        at: Timestamp,
        expires_at: Timestamp,
    },
    /// The owner cancelled a `Held` reservation: it is `Cancelled` and its seats are free.
    Released {
        reservation_id: ReservationId,
        at: Timestamp,
    },
    /// These `Held` reservations passed their `expires_at`: `Expired`, seats free.
    Expired {
        reservation_ids: Vec<ReservationId>,
        at: Timestamp,
    },
    /// `Held` -> `PaymentPending`: the hold stops expiring while the saga runs.
    PaymentBegun {
        reservation_id: ReservationId,
        payment_id: PaymentId,
        amount: Money,
        at: Timestamp,
    },
    /// `PaymentPending` -> `Held` again, with its original `expires_at`.
    PaymentAborted {
        reservation_id: ReservationId,
        payment_id: PaymentId,
        at: Timestamp,
    },
    /// `PaymentPending` -> `Confirmed`: seats sold, one ticket per seat (parallel to the seats).
    Confirmed {
        reservation_id: ReservationId,
        payment_id: PaymentId,
        tickets: Vec<TicketId>,
        at: Timestamp,
    },
    /// A `Confirmed` reservation cancelled: seats free, tickets void, refund owed.
    Cancelled {
        reservation_id: ReservationId,
        refund_amount: Money,
        at: Timestamp,
    },
    /// The refund of a cancelled reservation reached the wallet.
    RefundSettled {
        reservation_id: ReservationId,
        at: Timestamp,
    },
    /// An issued ticket was used at the door.
    CheckedIn { ticket_id: TicketId, at: Timestamp },
    // Appended after the first stored format: bincode names variants by
    // position, so new events go last.
    /// The whole schedule is called off: no hold or payment from now on; its
    /// reservations are ended by the `CancellationBatch`es that follow.
    ScheduleCancelled { at: Timestamp },
    /// One bounded step of a schedule's cancellation: these `Held`
    /// reservations are released (`Cancelled`, no money moved) and these
    /// `Confirmed` ones cancelled with a full refund owed (tickets void).
    CancellationBatch {
        released: Vec<ReservationId>,
        refunded: Vec<(ReservationId, Money)>,
        at: Timestamp,
    },
    /// These available seats are taken off sale, for `reason`.
    SeatsBlocked {
        seats: Vec<SeatIndex>,
        reason: String,
        at: Timestamp,
    },
    /// These blocked seats are back on sale.
    SeatsUnblocked {
        seats: Vec<SeatIndex>,
        at: Timestamp,
    },
    /// These blocked seats are issued free to `user`: a `Confirmed`
    /// reservation of amount 0 with one ticket per seat (a comp).
    Comped {
        reservation_id: ReservationId,
        number: String,
        user: UserId,
        payment_id: PaymentId,
        seats: Vec<SeatIndex>,
        tickets: Vec<TicketId>,
        at: Timestamp,
    },
}
