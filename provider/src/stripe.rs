//! [`StripeAdapter`]: [`PaymentProvider`] over HTTP in Stripe's shape.
//!
//! Requests are form-encoded (`amount=1250&currency=eur&metadata[paymentId]=…`)
//! with the secret key as Bearer auth and an `Idempotency-Key` on every
//! POST; answers are JSON objects, or `{"error": {...}}` with a 4xx/5xx. Every
//! call has a deadline and reads at most [`MAX_RESPONSE_BYTES`], so a slow or
//! hostile provider gives a typed error, never a hang or a panic.
//!
//! Tested against the built-in test provider ([`crate::mock`]) over real HTTP.
//! A real account needs HTTPS, which this build's `awc` has no TLS feature for.

use crate::payment_provider::{
    check_currency, check_idempotency_key, check_metadata, is_valid_object_id, Intent, NewIntent,
    NewRefund, PaymentProvider, ProviderError, Refund,
};
use crate::wire::{WireErrorBody, WireIntent, WireRefund};
use awc::error::{PayloadError, SendRequestError};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Largest answer body read; Stripe's objects are a few KiB.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Default deadline of one call, from sending to the last byte of the answer.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 10_000;
/// Longest base URL accepted.
pub const MAX_BASE_URL_CHARS: usize = 2_048;

/// Where the provider is and how to authenticate to it: configuration, not code.
#[derive(Clone)]
pub struct StripeConfig {
    /// `https://api.stripe.com` for Stripe; the test provider's address for the mock.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <secret_key>`.
    pub secret_key: String,
    /// Verifies the provider's webhooks ([`crate::signature::verify`]).
    pub webhook_secret: String,
    /// Deadline of one call.
    pub call_timeout_ms: u64,
}

impl std::fmt::Debug for StripeConfig {
    // The keys stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("base_url", &self.base_url)
            .field("call_timeout_ms", &self.call_timeout_ms)
            .finish_non_exhaustive()
    }
}

impl StripeConfig {
    /// A config with the default call timeout; checks the URL and the keys.
    pub fn new(
        base_url: impl Into<String>,
        secret_key: impl Into<String>,
        webhook_secret: impl Into<String>,
    ) -> Result<Self, String> {
        let config = StripeConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            secret_key: secret_key.into(),
            webhook_secret: webhook_secret.into(),
            call_timeout_ms: DEFAULT_CALL_TIMEOUT_MS,
        };
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), String> {
        let url = &self.base_url;
        if url.len() > MAX_BASE_URL_CHARS
            || !(url.starts_with("http://") || url.starts_with("https://"))
            || url.parse::<awc::http::Uri>().is_err()
        {
            return Err(format!(
                "the provider's base URL must be an http(s) URL of at most {MAX_BASE_URL_CHARS} characters"
            ));
        }
        // The key goes into a header: no control characters, not empty.
        if self.secret_key.is_empty() || !self.secret_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the provider's secret key must be visible ASCII, not empty".into());
        }
        if self.webhook_secret.is_empty() {
            return Err("the provider's webhook secret must not be empty".into());
        }
        if self.call_timeout_ms == 0 {
            return Err("the provider call timeout must be positive".into());
        }
        Ok(())
    }
}

/// The Stripe-shaped adapter. Holds configuration only (`Send + Sync`); each
/// call runs on the caller's actix runtime.
#[derive(Clone, Debug)]
pub struct StripeAdapter {
    config: StripeConfig,
}

impl StripeAdapter {
    pub fn new(config: StripeConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(StripeAdapter { config })
    }

    pub fn config(&self) -> &StripeConfig {
        &self.config
    }

    /// One POST (form) or GET, answered by a `T` or a typed error.
    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        form: Option<(&[(String, String)], &str)>,
    ) -> Result<T, ProviderError> {
        let timeout = Duration::from_millis(self.config.call_timeout_ms);
        let url = format!("{}{path}", self.config.base_url);
        let client = awc::Client::builder().timeout(timeout).finish();
        let exchange = async {
            let sent = match form {
                Some((fields, idempotency_key)) => {
                    client
                        .post(&url)
                        .bearer_auth(&self.config.secret_key)
                        .insert_header(("Idempotency-Key", idempotency_key))
                        .send_form(&fields)
                        .await
                }
                None => {
                    client
                        .get(&url)
                        .bearer_auth(&self.config.secret_key)
                        .send()
                        .await
                }
            };
            let mut response = sent.map_err(send_error)?;
            let status = response.status();
            let body = response
                .body()
                .limit(MAX_RESPONSE_BYTES)
                .await
                .map_err(payload_error)?;
            Ok::<_, ProviderError>((status, body))
        };
        // One deadline over the whole exchange: awc's own timeout covers only
        // the head, a provider trickling its body would otherwise hold us.
        let (status, body) = actix_rt::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ProviderError::Timeout)??;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| ProviderError::BadAnswer(format!("answer to {path}: {e}")));
        }
        let code = status.as_u16();
        let error = serde_json::from_slice::<WireErrorBody>(&body).ok();
        if status.is_server_error() || code == 429 {
            let message = error.map(|e| e.error.message).unwrap_or_default();
            return Err(ProviderError::Unavailable(format!(
                "{code} {}",
                clip(&message)
            )));
        }
        if code == 408 {
            return Err(ProviderError::Timeout);
        }
        Err(match error {
            Some(body) => ProviderError::Rejected {
                status: code,
                code: body.error.code.map(|c| clip(&c)),
                message: clip(&body.error.message),
            },
            None => ProviderError::Rejected {
                status: code,
                code: None,
                message: "(no error body)".into(),
            },
        })
    }
}

/// A provider's message shortened for logs and errors.
fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

fn send_error(error: SendRequestError) -> ProviderError {
    match error {
        SendRequestError::Timeout => ProviderError::Timeout,
        other => ProviderError::Unavailable(other.to_string()),
    }
}

fn payload_error(error: PayloadError) -> ProviderError {
    match error {
        PayloadError::Overflow => {
            ProviderError::BadAnswer(format!("an answer over {MAX_RESPONSE_BYTES} bytes"))
        }
        other => ProviderError::Unavailable(format!("the answer broke off: {other}")),
    }
}

fn input(reason: impl Into<String>) -> ProviderError {
    ProviderError::InvalidInput(reason.into())
}

fn check_id(id: &str) -> Result<(), ProviderError> {
    if is_valid_object_id(id) {
        Ok(())
    } else {
        Err(input("an object id is letters, digits and '_'"))
    }
}

fn metadata_fields(fields: &mut Vec<(String, String)>, metadata: &crate::Metadata) {
    for (key, value) in metadata {
        fields.push((format!("metadata[{key}]"), value.clone()));
    }
}

impl PaymentProvider for StripeAdapter {
    fn create_intent<'a>(
        &'a self,
        intent: &'a NewIntent,
    ) -> LocalBoxFuture<'a, Result<Intent, ProviderError>> {
        Box::pin(async move {
            if intent.amount_minor <= 0 {
                return Err(input("the amount must be positive"));
            }
            check_currency(&intent.currency).map_err(input)?;
            check_metadata(&intent.metadata).map_err(input)?;
            check_idempotency_key(&intent.idempotency_key).map_err(input)?;
            let mut fields = vec![
                ("amount".to_string(), intent.amount_minor.to_string()),
                ("currency".to_string(), intent.currency.clone()),
            ];
            metadata_fields(&mut fields, &intent.metadata);
            if let Some(url) = &intent.return_url {
                fields.push(("return_url".into(), url.clone()));
            }
            let wire: WireIntent = self
                .call(
                    "/v1/payment_intents",
                    Some((&fields, &intent.idempotency_key)),
                )
                .await?;
            wire.into_intent()
        })
    }

    fn retrieve_intent<'a>(
        &'a self,
        id: &'a str,
    ) -> LocalBoxFuture<'a, Result<Intent, ProviderError>> {
        Box::pin(async move {
            check_id(id)?;
            let wire: WireIntent = self
                .call(&format!("/v1/payment_intents/{id}"), None)
                .await?;
            wire.into_intent()
        })
    }

    fn cancel_intent<'a>(
        &'a self,
        id: &'a str,
        idempotency_key: &'a str,
    ) -> LocalBoxFuture<'a, Result<Intent, ProviderError>> {
        Box::pin(async move {
            check_id(id)?;
            check_idempotency_key(idempotency_key).map_err(input)?;
            let wire: WireIntent = self
                .call(
                    &format!("/v1/payment_intents/{id}/cancel"),
                    Some((&[], idempotency_key)),
                )
                .await?;
            wire.into_intent()
        })
    }

    fn refund<'a>(
        &'a self,
        refund: &'a NewRefund,
    ) -> LocalBoxFuture<'a, Result<Refund, ProviderError>> {
        Box::pin(async move {
            check_id(&refund.intent_id)?;
            check_metadata(&refund.metadata).map_err(input)?;
            check_idempotency_key(&refund.idempotency_key).map_err(input)?;
            // No `amount`: a full refund.
            let mut fields = vec![("payment_intent".to_string(), refund.intent_id.clone())];
            metadata_fields(&mut fields, &refund.metadata);
            let wire: WireRefund = self
                .call("/v1/refunds", Some((&fields, &refund.idempotency_key)))
                .await?;
            wire.into_refund()
        })
    }
}
