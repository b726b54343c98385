//! The provider's webhook: a signed event about an intent, taken into
//! account once. The effect is keyed on the record's status, so a repeated
//! event finds its work done, and an event that comes late (a success after
//! a failure, a deadline or a cancellation) is met by a refund, or for a
//! top-up by its (keyed, so single) credit.

use std::sync::Arc;

use boxoffice_engine::ids::{PaymentId, TransactionId};
use boxoffice_provider::signature;
use boxoffice_provider::webhook_event::parse_event;
use boxoffice_provider::{EventKind, IntentFacts, RefundFacts};
use sha2::{Digest, Sha256};

use super::{CardId, CardPayments, CardRecord, CardStatus, RefundState};
use crate::error::{EngineError, EngineResult};
use crate::idempotency::{Endpoint, IdemKey, IdemTag, RequestDigest};
use crate::registry::Registry;
use crate::schedule_actor::FinishPayment;

/// Whether an error means "try again later" (the provider will redeliver).
fn transient(err: &EngineError) -> bool {
    matches!(
        err,
        EngineError::Unavailable
            | EngineError::Storage(_)
            | EngineError::IdempotencyInProgress
            | EngineError::KeyQuotaExceeded { .. }
            | EngineError::RateLimited { .. }
    )
}

/// The record an event's metadata (or, failing that, its intent id) names.
fn find(
    card: &CardPayments,
    intent_id: &str,
    metadata: &boxoffice_provider::Metadata,
) -> Option<CardRecord> {
    let by_metadata = metadata
        .get("paymentId")
        .and_then(|id| PaymentId::parse(id))
        .map(CardId::Payment)
        .or_else(|| {
            metadata
                .get("transactionId")
                .and_then(|id| TransactionId::parse(id))
                .map(CardId::TopUp)
        })
        .and_then(|id| card.record(id));
    by_metadata.or_else(|| {
        card.lock()
            .values()
            .find(|r| r.intent_id.as_deref() == Some(intent_id))
            .cloned()
    })
}

/// The idempotency key of a top-up's wallet credit: one per top-up, so a
/// repeated success credits once (the wallet logs the key with the charge).
fn credit_tag(record: &CardRecord, id: TransactionId) -> IdemTag {
    let key = format!("card-top-up-{id}");
    IdemTag {
        key: IdemKey {
            user: record.user,
            endpoint: Endpoint::Charges,
            key: key.clone(),
        },
        digest: RequestDigest(Sha256::digest(key.as_bytes()).into()),
    }
}

impl Registry {
    /// Checks the signature against the injected clock (a bad, missing or
    /// stale one is `Validation` and changes nothing), then takes the event
    /// into account. `Unavailable`: not taken yet, the provider should redeliver.
    pub async fn receive_card_webhook(
        &self,
        card: &Arc<CardPayments>,
        signature_header: Option<&str>,
        body: &[u8],
    ) -> EngineResult<()> {
        let now_s = self.context().clock.now().0.div_euclid(1_000);
        signature::verify(signature_header, body, &card.settings.webhook_secret, now_s)
            .map_err(|err| EngineError::Validation(format!("Stripe-Signature: {err}")))?;
        let event = parse_event(body).map_err(|err| EngineError::Validation(err.to_string()))?;
        let _turn = card.turns.lock().await;
        match event.kind {
            EventKind::IntentSucceeded(facts) => self.card_succeeded(card, facts).await,
            EventKind::IntentPaymentFailed(facts) | EventKind::IntentCanceled(facts) => {
                self.card_failed(card, facts).await
            }
            EventKind::ChargeRefunded(facts) => self.card_refunded(card, facts).await,
            EventKind::Ignored { .. } => Ok(()),
        }
    }

    async fn card_succeeded(&self, card: &CardPayments, facts: IntentFacts) -> EngineResult<()> {
        let Some(mut record) = find(card, &facts.intent_id, &facts.metadata) else {
            tracing::warn!(intent = %facts.intent_id, "a card success for no payment of ours; ignored");
            return Ok(());
        };
        if record
            .intent_id
            .as_deref()
            .is_some_and(|id| id != facts.intent_id)
        {
            tracing::warn!(id = ?record.id, intent = %facts.intent_id, "a card success for another intent than the payment's; ignored");
            return Ok(());
        }
        record.intent_id = Some(facts.intent_id.clone());
        match record.status {
            CardStatus::Pending => {}
            // A top-up has no hold to lose: a success after it failed
            // (declined, canceled, its deadline) still credits the wallet,
            // once (the credit is keyed). So does one whose credit a crash
            // left unrecorded before the top-up failed: refunding that one
            // would pay the money out twice.
            CardStatus::Failed
                if record.refund == RefundState::None && matches!(record.id, CardId::TopUp(_)) => {}
            // A success after the payment failed (declined, canceled, its
            // deadline, or its hold cancelled): the money goes back.
            CardStatus::Failed if record.refund == RefundState::None => {
                tracing::warn!(id = ?record.id, "a card success after its payment failed: refunded");
                return self.owe_refund(card, &mut record).await;
            }
            CardStatus::Failed => return self.pay_owed_refund(card, &mut record).await,
            // Already taken into account.
            CardStatus::Completed | CardStatus::Refunded => return Ok(()),
        }
        if facts.amount_received_minor != record.amount.0 || facts.currency != record.currency {
            tracing::warn!(
                id = ?record.id,
                asked = record.amount.0,
                asked_currency = %record.currency,
                captured = facts.amount_received_minor,
                captured_currency = %facts.currency,
                "a card success for another amount or currency than asked: FAILED and refunded"
            );
            self.end_pending(card, &mut record).await?;
            return self.owe_refund(card, &mut record).await;
        }
        let honoured = match (record.id, record.reservation) {
            (CardId::Payment(payment_id), Some((schedule_id, reservation_id))) => {
                // The receipt's balance is the wallet's, which a card leaves as it is.
                let balance = self.wallet_view(record.user).await.map(|w| w.balance)?;
                self.schedule(schedule_id)?
                    .actor
                    .finish(FinishPayment {
                        reservation_id,
                        payment_id,
                        debit: Ok(balance),
                    })
                    .await
                    .map(|_| ())
            }
            // The ledger entry takes the id the top-up's 202 answered.
            (CardId::TopUp(id), _) => self
                .charge_as(
                    record.user,
                    record.amount,
                    Some(credit_tag(&record, id)),
                    Some(id),
                )
                .await
                .map(|_| ()),
            (CardId::Payment(_), None) => Err(EngineError::Internal(
                "a card payment record without its reservation".into(),
            )),
        };
        match honoured {
            Ok(()) => {
                record.status = CardStatus::Completed;
                record.updated_at = self.context().clock.now();
                self.save_card(card, &record).await
            }
            Err(err) if transient(&err) => Err(err),
            // The hold is gone, or the wallet refuses the credit: refunded.
            Err(err) => {
                tracing::warn!(id = ?record.id, %err, "a card success that cannot be honoured: FAILED and refunded");
                record.status = CardStatus::Failed;
                self.owe_refund(card, &mut record).await
            }
        }
    }

    /// Records the refund as owed (durably), then pays it.
    async fn owe_refund(&self, card: &CardPayments, record: &mut CardRecord) -> EngineResult<()> {
        record.refund = RefundState::Owed;
        record.updated_at = self.context().clock.now();
        self.save_card(card, record).await?;
        self.pay_owed_refund(card, record).await
    }

    async fn card_failed(&self, card: &CardPayments, facts: IntentFacts) -> EngineResult<()> {
        let Some(mut record) = find(card, &facts.intent_id, &facts.metadata) else {
            return Ok(());
        };
        if record.status != CardStatus::Pending
            || record
                .intent_id
                .as_deref()
                .is_some_and(|id| id != facts.intent_id)
        {
            return Ok(());
        }
        record.intent_id = Some(facts.intent_id);
        self.end_pending(card, &mut record).await
    }

    async fn card_refunded(&self, card: &CardPayments, facts: RefundFacts) -> EngineResult<()> {
        let Some(mut record) = find(card, &facts.intent_id, &facts.metadata) else {
            return Ok(());
        };
        if record.refund_reported {
            return Ok(());
        }
        if record.refund == RefundState::None {
            tracing::warn!(id = ?record.id, "the provider reports a refund Boxoffice did not make");
        }
        record.refund_reported = true;
        record.updated_at = self.context().clock.now();
        self.save_card(card, &record).await
    }
}
