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
    /// The provider refused it for good (not a retryable failure): logged as
    /// an error for someone to settle by hand, not retried.
    Refused,
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
    /// Where the provider's checkout page sends the payer back after paying
    /// (this site's checkout or wallet page, as the payer reached it); kept so
    /// that creating the intent again asks for the very same intent.
    pub return_url: Option<String>,
}

/// A record as written before `return_url` existed (session 14): bincode is
/// positional, so such bytes are read with this layout and get no return URL.
#[derive(Deserialize)]
struct CardRecordV1 {
    id: CardId,
    user: UserId,
    reservation: Option<(ScheduleId, ReservationId)>,
    amount: Money,
    currency: String,
    created_at: Timestamp,
    deadline: Timestamp,
    intent_id: Option<String>,
    checkout_url: Option<String>,
    status: CardStatus,
    refund: RefundState,
    refund_reported: bool,
    idem: Option<IdemTag>,
    updated_at: Timestamp,
}

impl From<CardRecordV1> for CardRecord {
    fn from(old: CardRecordV1) -> Self {
        CardRecord {
            id: old.id,
            user: old.user,
            reservation: old.reservation,
            amount: old.amount,
            currency: old.currency,
            created_at: old.created_at,
            deadline: old.deadline,
            intent_id: old.intent_id,
            checkout_url: old.checkout_url,
            status: old.status,
            refund: old.refund,
            refund_reported: old.refund_reported,
            idem: old.idem,
            updated_at: old.updated_at,
            return_url: None,
        }
    }
}

/// Reads a record of this layout or the previous one (the decoder refuses
/// bytes left over or missing, so the two cannot be mistaken for each other).
fn decode(bytes: &[u8]) -> Result<CardRecord, StoreError> {
    codec::decode::<CardRecord>(bytes).or_else(|err| {
        codec::decode::<CardRecordV1>(bytes)
            .map(Into::into)
            .map_err(|_| err)
    })
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
            records.push(decode(bytes)?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_storage::MemoryStore;

    fn record(id: CardId, reservation: Option<(ScheduleId, ReservationId)>) -> CardRecord {
        CardRecord {
            id,
            user: UserId::from_random_bytes([1; 16]),
            reservation,
            amount: Money(150_000),
            currency: "krw".into(),
            created_at: Timestamp(10),
            deadline: Timestamp(600_010),
            intent_id: Some("pi_1".into()),
            checkout_url: Some("http://127.0.0.1/mock-provider/checkout/pi_1".into()),
            status: CardStatus::Pending,
            refund: RefundState::None,
            refund_reported: false,
            idem: None,
            updated_at: Timestamp(10),
            return_url: Some("http://127.0.0.1/checkout/r".into()),
        }
    }

    /// The fields of `CardRecordV1`, written as it was (the previous layout).
    #[derive(Serialize)]
    struct WrittenV1<'a>(
        CardId,
        UserId,
        Option<(ScheduleId, ReservationId)>,
        Money,
        &'a str,
        Timestamp,
        Timestamp,
        Option<String>,
        Option<String>,
        CardStatus,
        RefundState,
        bool,
        Option<IdemTag>,
        Timestamp,
    );

    #[test]
    fn a_record_of_the_previous_layout_still_loads_without_a_return_url() {
        let store = MemoryStore::new();
        let mut expected = record(
            CardId::TopUp(TransactionId::from_random_bytes([6; 16])),
            None,
        );
        expected.return_url = None;
        let r = &expected;
        let old = WrittenV1(
            r.id,
            r.user,
            r.reservation,
            r.amount,
            &r.currency,
            r.created_at,
            r.deadline,
            r.intent_id.clone(),
            r.checkout_url.clone(),
            r.status,
            r.refund,
            r.refund_reported,
            r.idem.clone(),
            r.updated_at,
        );
        store
            .put_meta(&r.id.key(), &codec::encode(&old).expect("encode"))
            .expect("put");
        assert_eq!(load_all(&store).expect("load"), vec![expected]);
    }

    #[test]
    fn records_round_trip_and_name_card_payments() {
        let store = MemoryStore::new();
        let payment = PaymentId::from_random_bytes([2; 16]);
        let top_up = TransactionId::from_random_bytes([3; 16]);
        let paid = record(
            CardId::Payment(payment),
            Some((
                ScheduleId::from_random_bytes([4; 16]),
                ReservationId::from_random_bytes([5; 16]),
            )),
        );
        let mut topped = record(CardId::TopUp(top_up), None);
        put(&store, &paid).expect("put");
        put(&store, &topped).expect("put");
        topped.status = CardStatus::Completed;
        put(&store, &topped).expect("a later put replaces");
        let mut loaded = load_all(&store).expect("load");
        loaded.sort_by_key(|r| r.id.key());
        let mut expected = vec![paid, topped];
        expected.sort_by_key(|r| r.id.key());
        assert_eq!(loaded, expected);
        assert!(is_card_payment(&store, payment).expect("read"));
        assert!(!is_card_payment(&store, PaymentId::from_random_bytes([9; 16])).expect("read"));
        // Keys differ by kind, and so do the provider's idempotency keys.
        assert_ne!(
            CardId::Payment(payment).intent_key(),
            CardId::Payment(payment).refund_key()
        );
        assert!(CardId::TopUp(top_up).key().starts_with("card/t/"));
    }
}
