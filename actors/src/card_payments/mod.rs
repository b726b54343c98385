//! Card payments and card top-ups through a payment provider (issue 18).
//!
//! A card payment is the wallet saga's begin and confirm with the provider
//! in the middle instead of a debit:
//!
//! 1. a [`CardRecord`] is written and flushed (so start-up recovery knows the
//!    payment is a card's and leaves it pending rather than aborting it);
//! 2. the schedule's `BeginPayment` (durable): the hold stops expiring;
//! 3. the provider's intent, created with an idempotency key derived from the
//!    payment id (a retry, or the sweeper after a crash, gets the same
//!    intent); its checkout URL is recorded and answered (202 PENDING);
//! 4. the provider's webhook (`webhook.rs`) ends it: a success confirms the
//!    reservation with the wallet saga's own `FinishPayment` (tickets,
//!    booking events and mail follow as for the wallet), a failure aborts it
//!    (the hold resumes), and a success that cannot be honoured (the hold
//!    ended, or another amount or currency) is refunded through the provider;
//! 5. the sweeper (`upkeep.rs`) fails payments still pending at their
//!    deadline (the provider's timeout), re-creates intents a crash left
//!    uncreated, and retries owed refunds.
//!
//! Every change of a record's status happens under one turn lock and is
//! keyed on the record's status, not on the provider's event id, so each
//! event takes effect once however often and in whatever order it comes.
//! A top-up is the same without a reservation: a success credits the wallet
//! through its idempotent charge, keyed by the top-up's id.

pub mod record;
mod upkeep;
mod webhook;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use boxoffice_engine::ids::*;
use boxoffice_engine::{Money, Timestamp};
use boxoffice_provider::{Metadata, NewIntent, PaymentProvider};

use crate::error::{EngineError, EngineResult};
use crate::idempotency::{run_keyed, IdemRecord, IdemState, IdemTag};
use crate::journal::ReplyAt;
use crate::payment::PayCommand;
use crate::receipt::{CardChargeReceipt, CardPaymentReceipt, StoredReply};
use crate::registry::Registry;
use crate::schedule_actor::{BeginPayment, FinishPayment};
pub use record::{CardId, CardRecord, CardStatus, RefundState};

/// The provider's timeout by default (API.md: "default 10 minutes"): a card
/// payment still pending this long after it opened fails.
pub const DEFAULT_PROVIDER_TIMEOUT_MS: i64 = 10 * 60 * 1_000;
/// How often the sweeper looks at pending payments and owed refunds.
pub const SWEEP_INTERVAL_MS: u64 = 1_000;
/// A pending record without an intent this old was interrupted before its
/// intent was recorded (a crash or a provider outage): the sweeper creates it.
pub const INTENT_RETRY_AFTER_MS: i64 = 30_000;
/// The deployment's currency as the provider spells it (API.md: KRW by default).
pub const DEFAULT_CURRENCY: &str = "krw";

/// How card payments are set up.
#[derive(Clone)]
pub struct CardSettings {
    /// The name in the webhook's path (`/webhooks/payments/{provider}`): `mock` or `stripe`.
    pub provider_name: String,
    /// Verifies the provider's webhooks.
    pub webhook_secret: String,
    pub timeout_ms: i64,
    pub currency: String,
    /// How often the sweeper runs ([`SWEEP_INTERVAL_MS`] in a server). `None`:
    /// no sweeper of its own; the owner calls
    /// [`Registry::sweep_card_payments_now`] (the simulation, which drives time).
    pub sweep_every_ms: Option<u64>,
}

impl std::fmt::Debug for CardSettings {
    // The webhook secret stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardSettings")
            .field("provider_name", &self.provider_name)
            .field("timeout_ms", &self.timeout_ms)
            .field("currency", &self.currency)
            .finish_non_exhaustive()
    }
}

/// The provider and the card records (all of them in memory: each is small,
/// and they are what a payment's status is read from).
pub struct CardPayments {
    provider: Arc<dyn PaymentProvider>,
    settings: CardSettings,
    records: Mutex<HashMap<CardId, CardRecord>>,
    /// One change of a record's status at a time (see the module doc).
    turns: tokio::sync::Mutex<()>,
}

impl CardPayments {
    pub fn provider_name(&self) -> &str {
        &self.settings.provider_name
    }

    pub fn settings(&self) -> &CardSettings {
        &self.settings
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CardId, CardRecord>> {
        // A poisoned lock only means a thread panicked holding it; the map is
        // replaced entry by entry, so it is still consistent.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, id: CardId) -> Option<CardRecord> {
        self.lock().get(&id).cloned()
    }

    fn records(&self) -> Vec<CardRecord> {
        self.lock().values().cloned().collect()
    }
}

/// The idempotency record a card record restores at start-up: its 202.
fn replay_of(record: &CardRecord) -> Option<IdemRecord> {
    let tag = record.idem.as_ref()?;
    let checkout_url = record.checkout_url.clone()?;
    let reply = match (record.id, record.reservation) {
        (CardId::Payment(payment_id), Some((_, reservation_id))) => {
            StoredReply::CardPayment(Ok(CardPaymentReceipt {
                payment_id,
                reservation_id,
                amount: record.amount,
                checkout_url,
                expires_at: record.deadline,
            }))
        }
        (CardId::TopUp(transaction_id), None) => StoredReply::CardCharge(Ok(CardChargeReceipt {
            transaction_id,
            amount: record.amount,
            checkout_url,
            expires_at: record.deadline,
        })),
        _ => return None,
    };
    Some(IdemRecord {
        key: tag.key.clone(),
        digest: tag.digest,
        state: IdemState::Done(reply),
        at: record.created_at,
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, boxoffice_storage::StoreError> + Send + 'static,
) -> EngineResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| EngineError::Storage(format!("a store task failed: {err}")))?
        .map_err(|err| EngineError::Storage(err.to_string()))
}

impl Registry {
    /// Loads the card records, restores their idempotency keys, settles what
    /// a crash left (see `upkeep.rs`) and starts the sweeper. Once, at
    /// start-up, inside the actix system that serves.
    pub async fn attach_card_payments(
        self: &Arc<Self>,
        provider: Arc<dyn PaymentProvider>,
        settings: CardSettings,
    ) -> EngineResult<()> {
        let store = Arc::clone(self.context().commit.store());
        let loaded = blocking(move || record::load_all(store.as_ref())).await?;
        for record in &loaded {
            if let Some(replay) = replay_of(record) {
                self.context().idempotency.restore(&replay);
            }
        }
        let card = Arc::new(CardPayments {
            provider,
            settings,
            records: Mutex::new(loaded.into_iter().map(|r| (r.id, r)).collect()),
            turns: tokio::sync::Mutex::new(()),
        });
        self.set_card_payments(Arc::clone(&card));
        self.reconcile_card_payments(&card).await?;
        if let Some(every_ms) = card.settings.sweep_every_ms {
            upkeep::spawn_sweeper(Arc::downgrade(self), card, every_ms);
        }
        Ok(())
    }

    fn card(&self) -> EngineResult<Arc<CardPayments>> {
        self.card_payments()
            .cloned()
            .ok_or(EngineError::PaymentMethodUnavailable)
    }

    /// Writes a record durably, then shows it.
    async fn save_card(&self, card: &CardPayments, record: &CardRecord) -> EngineResult<()> {
        let store = Arc::clone(self.context().commit.store());
        let copy = record.clone();
        blocking(move || record::put(store.as_ref(), &copy)).await?;
        card.lock().insert(record.id, record.clone());
        Ok(())
    }

    /// Forgets a record whose payment never began (its begin was refused).
    async fn drop_card(&self, card: &CardPayments, id: CardId) {
        card.lock().remove(&id);
        let store = Arc::clone(self.context().commit.store());
        if let Err(err) = blocking(move || store.delete_meta(&id.key())).await {
            // Harmless if it stays: start-up finds no pending payment for it and fails it.
            tracing::warn!(?id, %err, "could not delete the record of a refused card payment");
        }
    }

    fn new_card_record(
        &self,
        card: &CardPayments,
        id: CardId,
        user: UserId,
        reservation: Option<(ScheduleId, ReservationId)>,
        amount: Money,
        idem: Option<IdemTag>,
    ) -> CardRecord {
        let now = self.context().clock.now();
        CardRecord {
            id,
            user,
            reservation,
            amount,
            currency: card.settings.currency.clone(),
            created_at: now,
            deadline: Timestamp(now.0.saturating_add(card.settings.timeout_ms)),
            intent_id: None,
            checkout_url: None,
            status: CardStatus::Pending,
            refund: RefundState::None,
            refund_reported: false,
            idem,
            updated_at: now,
            return_url: None,
        }
    }

    /// Pays for a hold by card: 202 PENDING with the checkout URL (module
    /// doc); after paying there the provider sends the payer to `return_url`.
    pub async fn pay_by_card(
        &self,
        user: UserId,
        cmd: PayCommand,
        return_url: Option<String>,
    ) -> EngineResult<CardPaymentReceipt> {
        let card = self.card()?;
        let now = || self.context().clock.now();
        let unwrap = |r: &StoredReply| match r {
            StoredReply::CardPayment(result) => Some(result.clone()),
            _ => None,
        };
        let tag = cmd.idem.clone();
        run_keyed(
            &self.context().idempotency,
            tag.as_ref(),
            now,
            StoredReply::CardPayment,
            unwrap,
            || async {
                let outcome = self.open_card_payment(card, user, cmd, return_url).await;
                match (&outcome, &tag) {
                    (Err(err), Some(tag)) if err.is_engine_decided() => {
                        let reply = StoredReply::CardPayment(Err(err.clone()));
                        self.persist_refusal(tag, reply).await?;
                    }
                    _ => {}
                }
                outcome
            },
        )
        .await
    }

    /// Makes a refusal's idempotency record durable before it is answered:
    /// no actor logs it (the wallet saga's begin logs its own; a card
    /// payment's begin carries no key), and a 202 is restored from its card
    /// record instead.
    async fn persist_refusal(&self, tag: &IdemTag, reply: StoredReply) -> EngineResult<()> {
        let record = IdemRecord {
            key: tag.key.clone(),
            digest: tag.digest,
            state: IdemState::Done(reply),
            at: self.context().clock.now(),
        };
        let index = Arc::clone(&self.context().idempotency);
        let store = Arc::clone(self.context().commit.store());
        blocking(move || {
            index.persist(&record)?;
            store.flush()
        })
        .await
    }

    async fn open_card_payment(
        &self,
        card: Arc<CardPayments>,
        user: UserId,
        cmd: PayCommand,
        return_url: Option<String>,
    ) -> EngineResult<CardPaymentReceipt> {
        let schedule = self.schedule_of(Some(user), cmd.reservation_id)?;
        let payment_id = self.context().ids.payment_id();
        let id = CardId::Payment(payment_id);
        let _turn = card.turns.lock().await;
        let mut record = self.new_card_record(
            &card,
            id,
            user,
            Some((schedule.id, cmd.reservation_id)),
            Money::ZERO,
            cmd.idem.clone(),
        );
        record.return_url = return_url;
        self.save_card(&card, &record).await?;
        let begun = schedule
            .actor
            .command(BeginPayment {
                user,
                reservation_id: cmd.reservation_id,
                payment_id,
                expected_amount: cmd.amount,
                queue_token: cmd.queue_token,
                idem: None,
                reply_at: ReplyAt::Durable,
            })
            .await;
        let begun = match begun {
            Ok(begun) => begun,
            Err(err) => {
                self.drop_card(&card, id).await;
                return Err(err);
            }
        };
        record.amount = begun.amount;
        // The provider refuses an amount of zero: nothing to pay by card.
        let opened = if begun.amount == Money::ZERO {
            Err(EngineError::Validation(
                "a free reservation is paid with method WALLET".into(),
            ))
        } else {
            self.create_intent(&card, &mut record).await
        };
        if let Err(err) = opened {
            self.end_pending(&card, &mut record).await?;
            return Err(err);
        }
        Ok(CardPaymentReceipt {
            payment_id,
            reservation_id: cmd.reservation_id,
            amount: record.amount,
            checkout_url: record.checkout_url.clone().unwrap_or_default(),
            expires_at: record.deadline,
        })
    }

    /// Tops the wallet up by card: 202 PENDING; the balance grows on the
    /// provider's success, and the provider sends the payer to `return_url`.
    pub async fn charge_by_card(
        &self,
        user: UserId,
        amount: Money,
        idem: Option<IdemTag>,
        return_url: Option<String>,
    ) -> EngineResult<CardChargeReceipt> {
        let card = self.card()?;
        let now = || self.context().clock.now();
        let unwrap = |r: &StoredReply| match r {
            StoredReply::CardCharge(result) => Some(result.clone()),
            _ => None,
        };
        let tag = idem.clone();
        run_keyed(
            &self.context().idempotency,
            tag.as_ref(),
            now,
            StoredReply::CardCharge,
            unwrap,
            || async move {
                let transaction_id = self.context().ids.transaction_id();
                let _turn = card.turns.lock().await;
                let mut record = self.new_card_record(
                    &card,
                    CardId::TopUp(transaction_id),
                    user,
                    None,
                    amount,
                    idem,
                );
                record.return_url = return_url;
                // Durable before the intent exists, as a payment's is: a crash
                // between the two would otherwise leave a payable intent that
                // no record names, whose success could be neither credited
                // nor refunded. Saved first, the sweeper re-creates the intent
                // under the same key, and a success finds the record by its
                // metadata.
                self.save_card(&card, &record).await?;
                if let Err(err) = self.create_intent(&card, &mut record).await {
                    // Nothing was promised: the record is kept as FAILED.
                    record.status = CardStatus::Failed;
                    self.save_card(&card, &record).await?;
                    return Err(err);
                }
                Ok(CardChargeReceipt {
                    transaction_id,
                    amount,
                    checkout_url: record.checkout_url.clone().unwrap_or_default(),
                    expires_at: record.deadline,
                })
            },
        )
        .await
    }

    /// Creates (or, with the same key, finds again) the record's intent and
    /// records its id and checkout URL. A provider that cannot be reached or
    /// refuses is `Unavailable` (503: nothing is promised, retry).
    async fn create_intent(
        &self,
        card: &CardPayments,
        record: &mut CardRecord,
    ) -> EngineResult<()> {
        let mut metadata = Metadata::new();
        match record.id {
            CardId::Payment(id) => metadata.insert("paymentId".into(), id.to_string()),
            CardId::TopUp(id) => metadata.insert("transactionId".into(), id.to_string()),
        };
        if let Some((_, reservation_id)) = record.reservation {
            metadata.insert("reservationId".into(), reservation_id.to_string());
        }
        metadata.insert("userId".into(), record.user.to_string());
        let new = NewIntent {
            amount_minor: record.amount.0,
            currency: record.currency.clone(),
            metadata,
            idempotency_key: record.id.intent_key(),
            return_url: record.return_url.clone(),
        };
        let created = card.provider.create_intent(&new).await.and_then(|intent| {
            let url = card.provider.checkout_url(&intent)?;
            Ok((intent.id, url))
        });
        let (intent_id, url) = created.map_err(|err| {
            tracing::warn!(id = ?record.id, %err, "the payment provider did not open an intent");
            EngineError::Unavailable
        })?;
        record.intent_id = Some(intent_id);
        record.checkout_url = Some(url);
        self.save_card(card, record).await
    }

    /// Ends a pending record as FAILED: the reservation's payment is aborted
    /// (the hold resumes its expiry, or expires at once if due). A reservation
    /// no longer pending with this payment is left as it is.
    async fn end_pending(&self, card: &CardPayments, record: &mut CardRecord) -> EngineResult<()> {
        if let (CardId::Payment(payment_id), Some((schedule_id, reservation_id))) =
            (record.id, record.reservation)
        {
            let aborted = self
                .schedule(schedule_id)?
                .actor
                .finish(FinishPayment {
                    reservation_id,
                    payment_id,
                    debit: Err(EngineError::CardPaymentFailed),
                })
                .await;
            match aborted {
                Ok(_) => {
                    tracing::error!(%payment_id, "an aborted card payment confirmed its reservation");
                }
                Err(EngineError::CardPaymentFailed) => {}
                Err(err @ (EngineError::Unavailable | EngineError::Storage(_))) => return Err(err),
                Err(err) => {
                    tracing::info!(%payment_id, %err, "a failed card payment's hold had already moved on");
                }
            }
        }
        record.status = CardStatus::Failed;
        record.updated_at = self.context().clock.now();
        self.save_card(card, record).await
    }

    /// Fails a card payment still pending for `reservation_id`'s owner
    /// (the owner cancels the hold while at checkout). True if one was.
    pub(crate) async fn fail_pending_card_payment(
        &self,
        payment_id: PaymentId,
    ) -> EngineResult<bool> {
        let Some(card) = self.card_payments().cloned() else {
            return Ok(false);
        };
        let _turn = card.turns.lock().await;
        let Some(mut record) = card.record(CardId::Payment(payment_id)) else {
            return Ok(false);
        };
        if record.status != CardStatus::Pending {
            return Ok(false);
        }
        self.cancel_intent(&card, &record).await;
        self.end_pending(&card, &mut record).await?;
        Ok(true)
    }

    /// Closes the record's intent so it can no longer be paid; best effort
    /// (a success that still comes is refunded).
    async fn cancel_intent(&self, card: &CardPayments, record: &CardRecord) {
        if let Some(intent_id) = &record.intent_id {
            let key = format!("{}-cancel", record.id.intent_key());
            if let Err(err) = card.provider.cancel_intent(intent_id, &key).await {
                tracing::info!(id = ?record.id, %err, "could not cancel a card payment's intent");
            }
        }
    }

    /// Refunds a CARD-paid reservation through the provider (its cancellation),
    /// then marks the schedule's refund settled. `Ok(false)`: not a card payment.
    /// A provider that cannot be reached leaves the refund owed: the sweeper retries.
    pub(crate) async fn refund_card_payment(&self, payment_id: PaymentId) -> EngineResult<bool> {
        let Some(card) = self.card_payments().cloned() else {
            return Ok(false);
        };
        let _turn = card.turns.lock().await;
        let Some(mut record) = card.record(CardId::Payment(payment_id)) else {
            return Ok(false);
        };
        if record.refund == RefundState::None {
            record.refund = RefundState::Owed;
            record.updated_at = self.context().clock.now();
            self.save_card(&card, &record).await?;
        }
        self.pay_owed_refund(&card, &mut record).await?;
        Ok(true)
    }

    /// The owed provider refund of `record`, once; a COMPLETED payment (its
    /// reservation cancelled) becomes REFUNDED and its schedule's refund settled.
    async fn pay_owed_refund(
        &self,
        card: &CardPayments,
        record: &mut CardRecord,
    ) -> EngineResult<()> {
        if record.refund != RefundState::Owed {
            return self.settle_card_refund(record).await;
        }
        let Some(intent_id) = record.intent_id.clone() else {
            tracing::error!(id = ?record.id, "a refund is owed for a payment without an intent");
            return Ok(());
        };
        let mut metadata = Metadata::new();
        if let CardId::Payment(id) = record.id {
            metadata.insert("paymentId".into(), id.to_string());
        }
        let refund = boxoffice_provider::NewRefund {
            intent_id,
            idempotency_key: record.id.refund_key(),
            metadata,
        };
        match card.provider.refund(&refund).await {
            Ok(_) => {}
            Err(err) if err.is_already_refunded() => {}
            Err(err) if err.is_retryable() => {
                tracing::warn!(id = ?record.id, %err, "a card refund failed; retried");
                return Ok(());
            }
            Err(err) => {
                tracing::error!(id = ?record.id, %err, "the provider refused a card refund; settle it by hand");
                record.refund = RefundState::Refused;
                record.updated_at = self.context().clock.now();
                return self.save_card(card, record).await;
            }
        }
        record.refund = RefundState::Done;
        if record.status == CardStatus::Completed {
            record.status = CardStatus::Refunded;
        }
        record.updated_at = self.context().clock.now();
        self.save_card(card, record).await?;
        self.settle_card_refund(record).await
    }

    /// A REFUNDED reservation payment: its schedule's owed refund is settled.
    async fn settle_card_refund(&self, record: &CardRecord) -> EngineResult<()> {
        if let (CardStatus::Refunded, Some((schedule_id, reservation_id))) =
            (record.status, record.reservation)
        {
            self.schedule(schedule_id)?
                .actor
                .finish(crate::schedule_actor::SettleRefund { reservation_id })
                .await
                .or_else(|err| match err {
                    // Already settled (a retry after its settlement was logged).
                    EngineError::Unavailable | EngineError::Storage(_) => Err(err),
                    _ => Ok(()),
                })?;
        }
        Ok(())
    }
}
