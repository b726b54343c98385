//! Stripe's JSON objects, as far as this crate reads or writes them: the
//! adapter parses answers with these, the mock serializes its state with them,
//! so the two cannot drift apart. Conversion to the typed values checks what
//! serde cannot (ids safe to put in a path, amounts not negative).

use crate::payment_provider::{
    check_currency, is_valid_object_id, Intent, IntentStatus, Metadata, ProviderError, Refund,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireIntent {
    pub id: String,
    #[serde(default = "intent_object")]
    pub object: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub next_action: Option<NextAction>,
    #[serde(default)]
    pub last_payment_error: Option<WireError>,
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    #[serde(default)]
    pub latest_charge: Option<String>,
}

fn intent_object() -> String {
    "payment_intent".into()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct NextAction {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub redirect_to_url: Option<RedirectToUrl>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RedirectToUrl {
    pub url: String,
    #[serde(default)]
    pub return_url: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireRefund {
    pub id: String,
    #[serde(default)]
    pub object: String,
    pub amount: i64,
    pub currency: String,
    pub payment_intent: String,
    #[serde(default)]
    pub charge: Option<String>,
    pub status: String,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub created: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireCharge {
    pub id: String,
    #[serde(default)]
    pub object: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_refunded: i64,
    pub currency: String,
    pub payment_intent: String,
    #[serde(default)]
    pub refunded: bool,
    #[serde(default)]
    pub metadata: Metadata,
}

/// Stripe's error body: `{"error": {...}}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireErrorBody {
    pub error: WireError,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
}

/// A webhook event: `{"id", "object": "event", "type", "created", "data": {"object": {...}}}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireEvent {
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub created: i64,
    pub data: WireEventData,
    #[serde(default)]
    pub livemode: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireEventData {
    pub object: serde_json::Value,
}

fn bad(reason: impl Into<String>) -> ProviderError {
    ProviderError::BadAnswer(reason.into())
}

impl WireIntent {
    pub fn into_intent(self) -> Result<Intent, ProviderError> {
        if !is_valid_object_id(&self.id) {
            return Err(bad("an intent id with unsafe characters"));
        }
        if self.amount <= 0 || self.amount_received < 0 {
            return Err(bad("an intent amount out of range"));
        }
        check_currency(&self.currency).map_err(bad)?;
        let checkout_url = self
            .next_action
            .and_then(|action| action.redirect_to_url)
            .map(|redirect| redirect.url);
        Ok(Intent {
            id: self.id,
            amount_minor: self.amount,
            amount_received_minor: self.amount_received,
            currency: self.currency,
            status: IntentStatus::from_wire(&self.status),
            metadata: self.metadata,
            checkout_url,
            last_error: self.last_payment_error.map(|e| e.message),
        })
    }
}

impl WireRefund {
    pub fn into_refund(self) -> Result<Refund, ProviderError> {
        if !is_valid_object_id(&self.id) || !is_valid_object_id(&self.payment_intent) {
            return Err(bad("a refund id with unsafe characters"));
        }
        if self.amount <= 0 {
            return Err(bad("a refund amount out of range"));
        }
        check_currency(&self.currency).map_err(bad)?;
        Ok(Refund {
            id: self.id,
            intent_id: self.payment_intent,
            amount_minor: self.amount,
            currency: self.currency,
            status: self.status,
        })
    }
}
