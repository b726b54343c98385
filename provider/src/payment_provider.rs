//! What the payment saga asks of a card processor, independent of which one.
//!
//! A payment intent is the provider's record of one amount to collect; the
//! payer completes it on the provider's checkout page and the provider reports
//! the outcome by webhook ([`crate::webhook_event`]). Every call that creates
//! something carries an idempotency key, so a retried call (after a timeout
//! or a crash) never opens a second intent or pays a second refund.
//!
//! The futures are `!Send` ([`LocalBoxFuture`]): the HTTP client is actix's,
//! which runs on the calling thread's runtime (actors and handlers both do).

use futures_util::future::LocalBoxFuture;
use std::collections::BTreeMap;

/// Keys and values attached to an intent or refund (Stripe's `metadata`):
/// the saga's `paymentId`/`reservationId` or `transactionId`.
pub type Metadata = BTreeMap<String, String>;

/// Most metadata keys on one object (Stripe's limit).
pub const MAX_METADATA_KEYS: usize = 50;
/// Longest metadata key, in characters (Stripe's limit).
pub const MAX_METADATA_KEY_CHARS: usize = 40;
/// Longest metadata value, in characters (Stripe's limit).
pub const MAX_METADATA_VALUE_CHARS: usize = 500;
/// Longest idempotency key (Stripe's limit).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// Longest provider object id (`pi_…`, `re_…`) accepted from a caller or an answer.
pub const MAX_OBJECT_ID_CHARS: usize = 255;

/// An intent to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIntent {
    /// In the currency's smallest unit; positive.
    pub amount_minor: i64,
    /// ISO 4217, lower case (`eur`).
    pub currency: String,
    pub metadata: Metadata,
    /// The same key always answers the same intent.
    pub idempotency_key: String,
    /// Where the checkout page sends the payer back, if anywhere.
    pub return_url: Option<String>,
}

/// Where an intent stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntentStatus {
    /// Paid: the money is captured.
    Succeeded,
    /// Closed without payment (by a cancel or the provider's timeout).
    Canceled,
    /// Anything else: the payer has not finished (the provider's own word kept).
    Pending(String),
}

impl IntentStatus {
    pub(crate) fn from_wire(status: &str) -> Self {
        match status {
            "succeeded" => IntentStatus::Succeeded,
            "canceled" => IntentStatus::Canceled,
            other => IntentStatus::Pending(other.to_string()),
        }
    }
}

/// A payment intent as the provider answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    /// The amount asked, in the currency's smallest unit.
    pub amount_minor: i64,
    /// The amount captured (0 until it succeeds).
    pub amount_received_minor: i64,
    pub currency: String,
    pub status: IntentStatus,
    pub metadata: Metadata,
    /// The hosted page where the payer pays, while the intent is open.
    pub checkout_url: Option<String>,
    /// The last failed attempt's reason (a declined card), if any.
    pub last_error: Option<String>,
}

/// A full refund of a succeeded intent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRefund {
    pub intent_id: String,
    /// The same key always answers the same refund.
    pub idempotency_key: String,
    pub metadata: Metadata,
}

/// A refund as the provider answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub intent_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// The provider's word (`succeeded`, `pending`, `failed`).
    pub status: String,
}

/// Why a provider call failed. Never a panic, whatever the provider answers.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// Not reachable, or it answered 5xx/429: retry later.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// No complete answer in time: the call may or may not have taken effect;
    /// retry with the same idempotency key.
    #[error("the payment provider did not answer in time")]
    Timeout,
    /// A definite no (4xx), with the provider's error code when it gave one.
    #[error("the payment provider refused ({status}, {code:?}): {message}")]
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// An answer that is not what the wire format promises (not JSON, too
    /// large, missing fields, an unsafe id).
    #[error("the payment provider gave a bad answer: {0}")]
    BadAnswer(String),
    /// The caller's own input cannot be sent (an id with unsafe characters,
    /// a key too long, a non-positive amount): nothing was sent.
    #[error("invalid request to the payment provider: {0}")]
    InvalidInput(String),
}

impl ProviderError {
    /// Whether the same call may succeed later (with the same idempotency key).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProviderError::Unavailable(_) | ProviderError::Timeout)
    }

    /// A refund refused because the intent was already refunded: for a saga
    /// retrying a refund, that is the outcome it wanted.
    pub fn is_already_refunded(&self) -> bool {
        matches!(self, ProviderError::Rejected { code: Some(code), .. } if code == "charge_already_refunded")
    }
}

/// The operations the payment saga needs from a card processor.
pub trait PaymentProvider: Send + Sync {
    /// Opens an intent for the payer to complete on the checkout page; the
    /// same idempotency key answers the same intent.
    fn create_intent<'a>(
        &'a self,
        intent: &'a NewIntent,
    ) -> LocalBoxFuture<'a, Result<Intent, ProviderError>>;

    /// The intent as the provider has it now.
    fn retrieve_intent<'a>(
        &'a self,
        id: &'a str,
    ) -> LocalBoxFuture<'a, Result<Intent, ProviderError>>;

    /// Closes an open intent so it can no longer be paid.
    fn cancel_intent<'a>(
        &'a self,
        id: &'a str,
        idempotency_key: &'a str,
    ) -> LocalBoxFuture<'a, Result<Intent, ProviderError>>;

    /// Refunds a succeeded intent in full; the same idempotency key answers
    /// the same refund.
    fn refund<'a>(
        &'a self,
        refund: &'a NewRefund,
    ) -> LocalBoxFuture<'a, Result<Refund, ProviderError>>;

    /// Where the payer completes `intent`.
    fn checkout_url(&self, intent: &Intent) -> Result<String, ProviderError> {
        intent.checkout_url.clone().ok_or_else(|| {
            ProviderError::BadAnswer(format!("intent {} has no checkout URL", intent.id))
        })
    }
}

/// Whether `id` is safe to put in a URL path and to log: ASCII letters,
/// digits and `_`, 1 to [`MAX_OBJECT_ID_CHARS`] long.
pub fn is_valid_object_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_OBJECT_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks metadata against Stripe's limits.
pub fn check_metadata(metadata: &Metadata) -> Result<(), String> {
    if metadata.len() > MAX_METADATA_KEYS {
        return Err(format!("at most {MAX_METADATA_KEYS} metadata keys"));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_CHARS {
            return Err(format!(
                "metadata keys are 1 to {MAX_METADATA_KEY_CHARS} characters"
            ));
        }
        if key.contains(['[', ']']) {
            return Err("metadata keys may not contain brackets".into());
        }
        if value.chars().count() > MAX_METADATA_VALUE_CHARS {
            return Err(format!(
                "metadata values are at most {MAX_METADATA_VALUE_CHARS} characters"
            ));
        }
    }
    Ok(())
}

/// Checks an idempotency key: 1 to [`MAX_IDEMPOTENCY_KEY_CHARS`] visible ASCII characters.
pub fn check_idempotency_key(key: &str) -> Result<(), String> {
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_CHARS
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        ));
    }
    Ok(())
}

/// Checks a currency: three ASCII lower-case letters (Stripe's form).
pub fn check_currency(currency: &str) -> Result<(), String> {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err("a currency is three lower-case letters (ISO 4217)".into())
    }
}
