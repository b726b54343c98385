//! Payments as their owner reads them back, and paying for one's own
//! reservation in API.md's order of checks.
//!
//! A wallet payment has no record of its own: it is a step in the life of
//! the reservation it paid for (see `payment.rs`). Its status is read off
//! that reservation here, so the API only renders it. A card payment has its
//! card record (`card_payments`), which says PENDING and FAILED too.

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::ReservationStatus;
use boxoffice_engine::{Money, Timestamp};

use crate::card_payments::{CardId, CardRecord, CardStatus};
use crate::error::{EngineError, EngineResult, Missing};
use crate::receipt::{PaymentReceipt, TicketLine};
use crate::registry::Registry;

/// Where a payment stands. A payment that was aborted, or is still between
/// saga steps, has no receipt to show: it is not found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// The reservation it paid for is CONFIRMED by this payment.
    Completed,
    /// The reservation was cancelled and the payment refunded.
    Refunded,
    /// A card payment waiting for the provider's answer.
    Pending,
    /// A card payment declined, canceled, past its deadline, or not honoured.
    Failed,
}

/// How a payment was paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentMethod {
    Wallet,
    Card,
}

/// A payment as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payment_id: PaymentId,
    pub reservation_id: ReservationId,
    pub amount: Money,
    pub status: PaymentStatus,
    pub method: PaymentMethod,
    pub paid_at: Option<Timestamp>,
    pub tickets: Vec<TicketLine>,
    /// A card payment's money went back: true once the provider reported
    /// the refund (`charge.refunded`). `None` for a wallet payment.
    pub refund_confirmed: Option<bool>,
}

/// A receipt is the payment's record at the moment it completed.
impl From<&PaymentReceipt> for PaymentRecord {
    fn from(p: &PaymentReceipt) -> Self {
        PaymentRecord {
            payment_id: p.payment_id,
            reservation_id: p.reservation_id,
            amount: p.amount,
            status: PaymentStatus::Completed,
            method: PaymentMethod::Wallet,
            paid_at: Some(p.paid_at),
            tickets: p.tickets.clone(),
            refund_confirmed: None,
        }
    }
}

impl Registry {
    /// The caller's payment, or `NotFound(Payment)` (also another user's, an
    /// aborted one, or one still in progress).
    pub async fn payment_record(
        &self,
        user: UserId,
        payment_id: PaymentId,
    ) -> EngineResult<PaymentRecord> {
        let card = self
            .card_payments()
            .and_then(|card| card.record(CardId::Payment(payment_id)));
        if let Some(card) = card {
            return self.card_payment_record(user, card).await;
        }
        let (payment_id, view) = self.payment(user, payment_id).await?;
        let status = match view.status {
            ReservationStatus::Confirmed { payment_id: paid } if paid == payment_id => {
                PaymentStatus::Completed
            }
            ReservationStatus::Cancelled if view.refund_amount.is_some() => PaymentStatus::Refunded,
            _ => return Err(EngineError::NotFound(Missing::Payment)),
        };
        Ok(PaymentRecord {
            payment_id,
            reservation_id: view.reservation_id,
            amount: view.total_amount,
            status,
            method: PaymentMethod::Wallet,
            paid_at: view.paid_at,
            tickets: view.tickets,
            refund_confirmed: None,
        })
    }

    /// A card payment: its status from its card record, its tickets from
    /// its reservation once it completed.
    async fn card_payment_record(
        &self,
        user: UserId,
        card: CardRecord,
    ) -> EngineResult<PaymentRecord> {
        let (CardId::Payment(payment_id), Some((_, reservation_id))) = (card.id, card.reservation)
        else {
            return Err(EngineError::NotFound(Missing::Payment));
        };
        if card.user != user {
            return Err(EngineError::NotFound(Missing::Payment));
        }
        let status = match card.status {
            CardStatus::Pending => PaymentStatus::Pending,
            CardStatus::Failed => PaymentStatus::Failed,
            CardStatus::Completed => PaymentStatus::Completed,
            CardStatus::Refunded => PaymentStatus::Refunded,
        };
        let (paid_at, tickets) = match card.status {
            CardStatus::Completed | CardStatus::Refunded => {
                let (_, view) = self.payment(user, payment_id).await?;
                (view.paid_at, view.tickets)
            }
            _ => (None, Vec::new()),
        };
        Ok(PaymentRecord {
            payment_id,
            reservation_id,
            amount: card.amount,
            status,
            method: PaymentMethod::Card,
            paid_at,
            tickets,
            refund_confirmed: Some(card.refund_reported),
        })
    }
}
