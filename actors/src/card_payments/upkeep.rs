//! What keeps card payments moving when no webhook comes: the start-up
//! reconciliation of what a crash left, and the sweeper (every
//! [`super::SWEEP_INTERVAL_MS`] in a server) that fails payments past their deadline, creates
//! intents a crash or an outage left uncreated, and retries owed refunds.

use std::sync::{Arc, Weak};
use std::time::Duration;

use boxoffice_engine::schedule::ReservationStatus;
use boxoffice_engine::{Money, Timestamp};

use super::INTENT_RETRY_AFTER_MS;
use super::{CardId, CardPayments, CardRecord, CardStatus, RefundState};
use crate::error::{EngineError, EngineResult};
use crate::registry::Registry;
use crate::schedule_actor::{GetReservation, GetUnfinishedWork};

/// Runs the sweeper on the calling actix arbiter until the engine is dropped.
pub(super) fn spawn_sweeper(registry: Weak<Registry>, card: Arc<CardPayments>, every_ms: u64) {
    actix::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(every_ms.max(1))).await;
            let Some(registry) = registry.upgrade() else {
                return;
            };
            registry.sweep_card_payments(&card).await;
        }
    });
}

impl Registry {
    /// At start-up: a pending record whose reservation is not pending with
    /// it any more is ended as that reservation says (confirmed: COMPLETED;
    /// anything else: its begin never became durable, or it was aborted:
    /// FAILED); a cancelled CARD-paid reservation whose refund a crash
    /// interrupted is refunded (start-up recovery leaves those here).
    pub(super) async fn reconcile_card_payments(&self, card: &CardPayments) -> EngineResult<()> {
        let _turn = card.turns.lock().await;
        for mut record in card.records() {
            let (
                CardStatus::Pending,
                CardId::Payment(payment_id),
                Some((schedule_id, reservation_id)),
            ) = (record.status, record.id, record.reservation)
            else {
                continue;
            };
            let view = match self.schedule(schedule_id) {
                Ok(schedule) => schedule
                    .actor
                    .query(GetReservation {
                        user: None,
                        reservation_id,
                    })
                    .await?
                    .ok(),
                Err(_) => None,
            };
            match view.as_ref().map(|view| view.status) {
                Some(ReservationStatus::PaymentPending {
                    payment_id: pending,
                }) if pending == payment_id => {
                    // Interrupted before its intent: the amount to ask is the reservation's.
                    if let Some(view) = view.filter(|v| v.total_amount != record.amount) {
                        record.amount = view.total_amount;
                        self.save_card(card, &record).await?;
                    }
                }
                Some(ReservationStatus::Confirmed { payment_id: paid }) if paid == payment_id => {
                    record.status = CardStatus::Completed;
                    self.save_card(card, &record).await?;
                }
                _ => {
                    record.status = CardStatus::Failed;
                    self.save_card(card, &record).await?;
                }
            }
        }
        drop(_turn);
        for schedule_id in self.schedule_ids() {
            let work = self
                .schedule(schedule_id)?
                .actor
                .query(GetUnfinishedWork)
                .await?;
            for (_, payment_id, _, _) in work.refunds {
                if card.record(CardId::Payment(payment_id)).is_some() {
                    self.refund_card_payment(payment_id).await?;
                }
            }
        }
        Ok(())
    }

    /// One pass of the sweeper now, if card payments are attached (for an
    /// owner that runs no sweeper: [`super::CardSettings::sweep_every_ms`]).
    pub async fn sweep_card_payments_now(&self) {
        if let Some(card) = self.card_payments().cloned() {
            self.sweep_card_payments(&card).await;
        }
    }

    /// One pass of the sweeper; failures are logged and retried next pass.
    async fn sweep_card_payments(&self, card: &CardPayments) {
        let now = self.context().clock.now();
        let due: Vec<CardRecord> = card
            .records()
            .into_iter()
            .filter(|r| needs_work(r, now))
            .collect();
        for record in due {
            if let Err(err) = self.sweep_one(card, record.id, now).await {
                tracing::warn!(id = ?record.id, %err, "card payment upkeep failed; retried");
            }
        }
    }

    async fn sweep_one(&self, card: &CardPayments, id: CardId, now: Timestamp) -> EngineResult<()> {
        let _turn = card.turns.lock().await;
        // Read again under the turn: a webhook may have ended it meanwhile.
        let Some(mut record) = card.record(id) else {
            return Ok(());
        };
        if record.status == CardStatus::Pending && now >= record.deadline {
            tracing::info!(id = ?record.id, "a card payment passed the provider's timeout: FAILED");
            self.cancel_intent(card, &record).await;
            return self.end_pending(card, &mut record).await;
        }
        if record.status == CardStatus::Pending && record.intent_id.is_none() {
            // A free reservation is never paid by card (the provider refuses
            // an amount of 0): a crash before `open_card_payment` ended it
            // leaves it here, and it ends now rather than at its deadline.
            // (Start-up set the amount of every other such record.)
            if record.amount == Money::ZERO {
                return self.end_pending(card, &mut record).await;
            }
            return match self.create_intent(card, &mut record).await {
                Ok(()) | Err(EngineError::Unavailable) => Ok(()),
                Err(err) => Err(err),
            };
        }
        if record.refund == RefundState::Owed {
            return self.pay_owed_refund(card, &mut record).await;
        }
        Ok(())
    }
}

fn needs_work(record: &CardRecord, now: Timestamp) -> bool {
    let pending = record.status == CardStatus::Pending;
    (pending && now >= record.deadline)
        || (pending
            && record.intent_id.is_none()
            && now.0 >= record.created_at.0.saturating_add(INTENT_RETRY_AFTER_MS))
        || record.refund == RefundState::Owed
}
