//! Typed identifiers. Every id is a UUID wrapped in its own type so that a
//! reservation id can never be passed where a payment id is expected.
//!
//! The engine never creates ids: callers (the actors) draw them from an
//! injected random source, which keeps the engine deterministic.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Builds an id from 16 random bytes (a version-4 UUID).
            pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }

            /// Parses the canonical hyphenated form; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                Uuid::parse_str(text).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

typed_id!(
    /// A registered user (customer, staff or admin).
    UserId
);
typed_id!(
    /// One schedule (a dated performance of a concert).
    ScheduleId
);
typed_id!(
    /// A hold, later possibly paid, on one or more seats of one schedule.
    ReservationId
);
typed_id!(
    /// One payment attempt for one reservation; keys the wallet debit and refund.
    PaymentId
);
typed_id!(
    /// One ticket: one seat of one confirmed reservation.
    TicketId
);
typed_id!(
    /// One wallet ledger entry.
    TransactionId
);
typed_id!(
    /// A waiting-room token.
    QueueTokenId
);
typed_id!(
    /// A venue (its seat layout is copied into each schedule at creation).
    VenueId
);
typed_id!(
    /// A concert: a title with price grades and one or more schedules.
    ConcertId
);
