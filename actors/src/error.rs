//! The one error type that leaves the actor layer.
//!
//! Engine errors are flattened into owned, serializable variants because some
//! of them are stored: an idempotent request's reply is logged with its effect,
//! business refusals included, and must replay identically after a restart.
//! The HTTP layer maps each variant to a status and code in one place.

use boxoffice_engine::queue::QueueError;
use boxoffice_engine::schedule::ScheduleError;
use boxoffice_engine::wallet::WalletError;
use boxoffice_engine::{Money, Timestamp};
use serde::{Deserialize, Serialize};

/// What kind of thing was not found (all are 404 to a client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Missing {
    Schedule,
    Reservation,
    Payment,
    Ticket,
    User,
    Venue,
    Concert,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum EngineError {
    #[error("invalid request: {0}")]
    Validation(String),
    #[error("unknown seat {0}")]
    UnknownSeat(String),
    #[error("seats unavailable: {0:?}")]
    SeatUnavailable(Vec<String>),
    #[error("seat limit {limit} per user exceeded ({already} already held or bought)")]
    SeatLimitExceeded { limit: u32, already: u32 },
    #[error("booking is closed for this schedule")]
    BookingClosed,
    #[error("{0:?} not found")]
    NotFound(Missing),
    #[error("the reservation cannot be cancelled")]
    NotCancellable,
    #[error("a payment for this reservation is in progress")]
    PaymentInProgress,
    #[error("the reservation is already paid")]
    AlreadyPaid,
    #[error("the reservation was cancelled")]
    ReservationCancelled,
    #[error("the reservation expired")]
    ReservationExpired,
    #[error("the amount does not match the reservation total {expected}")]
    AmountMismatch { expected: Money },
    #[error("insufficient balance: {balance} < {required}")]
    InsufficientBalance { balance: Money, required: Money },
    #[error("invalid amount")]
    InvalidAmount,
    #[error("charge limit exceeded")]
    ChargeLimitExceeded,
    #[error("invalid ticket")]
    InvalidTicket,
    #[error("ticket already used")]
    TicketAlreadyUsed { at: Timestamp },
    #[error("no active queue token for this schedule")]
    QueueNotActive,
    #[error("queue token unknown or expired")]
    QueueTokenInvalid,
    #[error("a request with this idempotency key is in progress")]
    IdempotencyInProgress,
    #[error("this idempotency key was used with a different request")]
    IdempotencyKeyReused,
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Too many recent failed logins on one account from one address (see `accounts::throttle`).
    #[error("too many failed logins: retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("overloaded or restarting: try again")]
    Unavailable,
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A login with an unknown email or a wrong password (one answer for both).
    // Last on purpose: stored replies name variants by position (bincode).
    #[error("wrong email or password")]
    InvalidCredentials,
    /// A waiting room with a pre-queue is joined before its window opens.
    #[error("the waiting room is not open yet (opens at {} ms)", opens_at.0)]
    QueueNotOpen { opens_at: Timestamp },
    /// Demoting the only ADMIN would leave nobody to run the box office.
    #[error("the last ADMIN cannot be demoted")]
    LastAdmin,
    /// A refresh token that is unknown, spent, expired or of an ended login.
    #[error("the refresh token is not the live one of a login")]
    InvalidRefreshToken,
    /// The wallet took its most charges for this UTC day (`WalletLimits::max_charges_per_day`).
    #[error("the daily limit of {limit} charges is reached; charge again after 00:00 UTC")]
    DailyChargeCountExceeded { limit: u32 },
    /// The user stored their most new idempotency keys for this UTC day
    /// (`idempotency::KeyQuota`); nothing was run or stored.
    #[error(
        "the daily quota of {limit} new Idempotency-Keys is used up: retry in {retry_after_secs} s"
    )]
    KeyQuotaExceeded { limit: u32, retry_after_secs: u64 },
    /// Publishing a concert that is not a DRAFT (409 CONFLICT).
    #[error("the concert is already published")]
    AlreadyPublished,
    /// A check-in at one schedule's door of a ticket for another; names the
    /// ticket's own concert and schedule so the staff can send the fan on.
    #[error("the ticket is for another schedule")]
    WrongSchedule {
        concert_id: String,
        title: String,
        schedule_id: String,
        /// `None` for a schedule no concert names.
        starts_at: Option<Timestamp>,
    },
    /// A hold or payment on a cancelled schedule.
    #[error("the schedule is cancelled")]
    ScheduleCancelled,
    /// Cancelling a schedule that is already cancelled.
    #[error("the schedule is already cancelled")]
    AlreadyCancelled,
    /// Unblocking or comping seats that are not blocked.
    #[error("seats not blocked: {0:?}")]
    SeatsNotBlocked(Vec<String>),
    /// A mailed code that is unknown, used, expired or for something else.
    #[error("the code is unknown, used or expired")]
    InvalidCode,
    /// A waiting room that wants verified addresses, joined by an account
    /// whose address is not verified.
    #[error("this waiting room requires a verified e-mail address")]
    EmailNotVerified,
    /// `method: CARD` on a server with no payment provider configured.
    #[error("card payments are not available: no payment provider is configured")]
    PaymentMethodUnavailable,
    /// The card payment did not go through (declined, canceled, or past the
    /// provider's timeout): the hold is back as it was.
    #[error("the card payment failed")]
    CardPaymentFailed,
}

impl EngineError {
    /// True for outcomes the engine decided on the request's merits. These are
    /// stored under an idempotency key (a retry gets the same answer); anything
    /// else (validation, not found, overload, failures) is not, so the same key
    /// can be retried after fixing it. See API.md, Idempotency-Key.
    pub fn is_engine_decided(&self) -> bool {
        use EngineError::*;
        matches!(
            self,
            SeatUnavailable(_)
                | SeatLimitExceeded { .. }
                | BookingClosed
                | NotCancellable
                | PaymentInProgress
                | AlreadyPaid
                | ReservationCancelled
                | ReservationExpired
                | AmountMismatch { .. }
                | InsufficientBalance { .. }
                | ChargeLimitExceeded
                | DailyChargeCountExceeded { .. }
                | ScheduleCancelled
        )
    }
}

/// Schedule errors need the schedule to turn seat indexes into seat ids, so
/// this is a function rather than a `From`.
pub fn from_schedule_error(
    err: ScheduleError,
    seat_id: impl Fn(boxoffice_engine::schedule::SeatIndex) -> String,
) -> EngineError {
    use ScheduleError as S;
    match err {
        S::UnknownSeat(id) => EngineError::UnknownSeat(id),
        S::SeatUnavailable(seats) => {
            EngineError::SeatUnavailable(seats.into_iter().map(seat_id).collect())
        }
        S::SeatLimitExceeded { limit, already } => {
            EngineError::SeatLimitExceeded { limit, already }
        }
        S::BookingClosed => EngineError::BookingClosed,
        S::InvalidSelection(why) => EngineError::Validation(why.to_string()),
        S::ReservationNotFound => EngineError::NotFound(Missing::Reservation),
        S::NotCancellable => EngineError::NotCancellable,
        S::PaymentInProgress => EngineError::PaymentInProgress,
        S::AlreadyPaid => EngineError::AlreadyPaid,
        S::ReservationCancelled => EngineError::ReservationCancelled,
        S::ReservationExpired => EngineError::ReservationExpired,
        S::AmountMismatch { expected } => EngineError::AmountMismatch { expected },
        S::PaymentMismatch => {
            EngineError::Internal("payment id does not match the pending payment".into())
        }
        S::TicketNotFound | S::TicketVoid => EngineError::InvalidTicket,
        S::TicketAlreadyUsed { at } => EngineError::TicketAlreadyUsed { at },
        S::RefundNotOwed => EngineError::Internal("no refund owed".into()),
        S::ScheduleCancelled => EngineError::ScheduleCancelled,
        S::AlreadyCancelled => EngineError::AlreadyCancelled,
        S::SeatsNotBlocked(seats) => {
            EngineError::SeatsNotBlocked(seats.into_iter().map(seat_id).collect())
        }
    }
}

impl From<WalletError> for EngineError {
    fn from(err: WalletError) -> Self {
        match err {
            WalletError::InvalidAmount => EngineError::InvalidAmount,
            WalletError::ChargeLimitExceeded => EngineError::ChargeLimitExceeded,
            WalletError::InsufficientBalance { balance, required } => {
                EngineError::InsufficientBalance { balance, required }
            }
            WalletError::PaymentMismatch => {
                EngineError::Internal("payment debited twice with different amounts".into())
            }
            WalletError::UnknownPayment => EngineError::NotFound(Missing::Payment),
            WalletError::Overflow => EngineError::InvalidAmount,
            WalletError::DailyChargeCountExceeded { limit } => {
                EngineError::DailyChargeCountExceeded { limit }
            }
        }
    }
}

impl From<QueueError> for EngineError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::UnknownToken => EngineError::QueueTokenInvalid,
            QueueError::Full => EngineError::Unavailable,
            QueueError::NotOpen { opens_at } => EngineError::QueueNotOpen { opens_at },
            // The queue actor shuffles before every join and tick; reaching
            // this is a bug, and "try again" is the truthful answer.
            QueueError::ShuffleDue => EngineError::Internal("pre-queue not shuffled".into()),
        }
    }
}

impl From<boxoffice_storage::StoreError> for EngineError {
    fn from(err: boxoffice_storage::StoreError) -> Self {
        EngineError::Storage(err.to_string())
    }
}

pub type EngineResult<T> = Result<T, EngineError>;
