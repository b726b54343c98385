//! Replies of the commands that take an idempotency key.
//!
//! A receipt is a snapshot of the outcome at the moment the engine decided it,
//! not a live view: a replayed request must return the first response again
//! (same status, same body) even if the reservation has moved on since.

use boxoffice_engine::ids::*;
use boxoffice_engine::{Money, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::EngineError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatLine {
    pub seat_id: String,
    pub grade: String,
    pub price: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldReceipt {
    pub reservation_id: ReservationId,
    pub reservation_number: String,
    pub schedule_id: ScheduleId,
    pub seats: Vec<SeatLine>,
    pub total_amount: Money,
    pub held_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeReceipt {
    pub transaction_id: TransactionId,
    pub amount: Money,
    pub balance: Money,
    pub charged_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLine {
    pub ticket_id: TicketId,
    pub seat_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReceipt {
    pub payment_id: PaymentId,
    pub reservation_id: ReservationId,
    pub schedule_id: ScheduleId,
    pub amount: Money,
    pub paid_at: Timestamp,
    pub balance_after: Money,
    pub tickets: Vec<TicketLine>,
    pub queue_token_expired: bool,
}

/// The stored outcome of an idempotent command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredReply {
    Hold(Result<HoldReceipt, EngineError>),
    Charge(Result<ChargeReceipt, EngineError>),
    Payment(Result<PaymentReceipt, EngineError>),
    // Appended after the first stored format: bincode names variants by
    // position, so new replies go last.
    /// A card payment opened (202 PENDING).
    CardPayment(Result<CardPaymentReceipt, EngineError>),
    /// A card top-up opened (202 PENDING).
    CardCharge(Result<CardChargeReceipt, EngineError>),
}

/// The answer to a card payment: the payer completes it on `checkout_url`;
/// the hold cannot expire until the provider answers or `expires_at` passes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPaymentReceipt {
    pub payment_id: PaymentId,
    pub reservation_id: ReservationId,
    pub amount: Money,
    pub checkout_url: String,
    pub expires_at: Timestamp,
}

/// The answer to a card top-up: the balance grows once the provider confirms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardChargeReceipt {
    pub transaction_id: TransactionId,
    pub amount: Money,
    pub checkout_url: String,
    pub expires_at: Timestamp,
}
