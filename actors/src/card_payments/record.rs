//! One card payment or card top-up as the server keeps it: what it pays for,
//! the provider's intent, where it stands, and whether its money went back.
//! Each record is one meta entry (`card/p/<paymentId>` or
//! `card/t/<transactionId>`), written and flushed before the step it
//! announces, so a crash leaves a record ahead of its effects, never behind.

use boxoffice_engine::ids::{PaymentId, ReservationId, ScheduleId, TransactionId, UserId};
use boxoffice_engine::{Money, Timestamp};
use boxoffice_storage::{codec, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::idempotency::IdemTag;

/// Prefix of every card record's key.
pub const PREFIX: &str = "card/";
/// Records read per page when loading them all at start-up.
const LOAD_PAGE: usize = 512;

/// What a card payment pays for: a reservation's payment, or a wallet top-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CardId {
    Payment(PaymentId),
    TopUp(TransactionId),
}

impl CardId {
    pub fn key(self) -> String {
        match self {
            CardId::Payment(id) => format!("{PREFIX}p/{id}"),
            CardId::TopUp(id) => format!("{PREFIX}t/{id}"),
        }
    }

    /// The provider's idempotency key for the intent: derived from the id, so
    /// creating it again after a crash or a retry answers the same intent.
    pub fn intent_key(self) -> String {
        match self {
            CardId::Payment(id) => format!("boxoffice-intent-p-{id}"),
            CardId::TopUp(id) => format!("boxoffice-intent-t-{id}"),
        }
    }

    /// The provider's idempotency key for the one refund an intent may get.
    pub fn refund_key(self) -> String {
        match self {
            CardId::Payment(id) => format!("boxoffice-refund-p-{id}"),
            CardId::TopUp(id) => format!("boxoffice-refund-t-{id}"),
        }
    }
}

/// Where a card payment stands (API.md: PENDING, COMPLETED, FAILED, REFUNDED).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CardStatus {
    /// Waiting for the payer and the provider's answer, until `deadline`.
    Pending,
    /// The provider captured the money and the reservation is confirmed (or the wallet credited).
    Completed,
    /// Declined, canceled, past its deadline, or a success that could not be honoured.
    Failed,
    /// Completed, then its reservation cancelled and the card refunded.
    Refunded,
}

/// The provider refund of a captured payment that is not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundState {
    None,
    /// Decided and recorded, not yet confirmed by the provider: retried.
    Owed,
    /// The provider accepted it.
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRecord {
    pub id: CardId,
    pub user: UserId,
    /// The reservation a payment pays for (none for a top-up).
    pub reservation: Option<(ScheduleId, ReservationId)>,
    pub amount: Money,
    /// ISO 4217, lower case, as sent to the provider.
    pub currency: String,
    pub created_at: Timestamp,
    /// The provider's timeout: still pending at this time, the payment fails.
    pub deadline: Timestamp,
    pub intent_id: Option<String>,
    pub checkout_url: Option<String>,
    pub status: CardStatus,
    pub refund: RefundState,
    /// The provider reported the refund (`charge.refunded`).
    pub refund_reported: bool,
    /// The request's Idempotency-Key: restored into the index at start-up so
    /// a retried request answers this payment's 202 after a restart too.
    pub idem: Option<IdemTag>,
    /// When the status last changed.
    pub updated_at: Timestamp,
}

/// Writes `record` and makes it durable before returning.
pub fn put(store: &dyn Store, record: &CardRecord) -> Result<(), StoreError> {
    store.put_meta(&record.id.key(), &codec::encode(record)?)?;
    store.flush()
}

/// Every card record in the store.
pub fn load_all(store: &dyn Store) -> Result<Vec<CardRecord>, StoreError> {
    let mut records = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_meta(PREFIX, after.as_deref(), LOAD_PAGE)?;
        for (_, bytes) in &page {
            records.push(codec::decode(bytes)?);
        }
        match page.last() {
            Some((key, _)) if page.len() == LOAD_PAGE => after = Some(key.clone()),
            _ => return Ok(records),
        }
    }
}

/// Whether `payment_id` is a card payment (start-up recovery leaves those to
/// the card module: the wallet was never debited for them).
pub fn is_card_payment(store: &dyn Store, payment_id: PaymentId) -> Result<bool, StoreError> {
    Ok(store
        .get_meta(&CardId::Payment(payment_id).key())?
        .is_some())
}
