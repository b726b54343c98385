//! How a webhook delivery goes out: the event rendered exactly as the admin
//! feed shows it (`views::events`), signed (API.md: `Boxoffice-Signature:
//! t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`), and POSTed with
//! actix-web's own client (`awc`, already in the tree for the tests). The
//! dispatcher (`boxoffice_actors::webhooks::dispatcher`) decides when and
//! what; this only makes the call.
//!
//! Not yet: `https` URLs are accepted but fail every attempt (the build
//! carries no TLS stack for clients), so they end FAILED after 3 days.

use boxoffice_actors::webhooks::deliveries::{AttemptResult, DELIVERY_TIMEOUT_MS};
use boxoffice_actors::webhooks::dispatcher::{DeliveryRequest, Transport};
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

use crate::views::events::BookingEventBody;

/// The header naming the event (the receivers' deduplication key).
pub const EVENT_ID_HEADER: &str = "Boxoffice-Event-Id";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Boxoffice-Signature";

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={unix_seconds},v1={digest}")
}

/// The dispatcher's transport over `awc` (lives on the dispatcher's thread).
pub struct AwcTransport {
    client: awc::Client,
}

impl AwcTransport {
    pub fn new() -> AwcTransport {
        AwcTransport {
            client: awc::Client::builder()
                .timeout(Duration::from_millis(DELIVERY_TIMEOUT_MS as u64))
                // A redirect is not a 2xx: retried like any other answer.
                .disable_redirects()
                .finish(),
        }
    }
}

impl Default for AwcTransport {
    fn default() -> Self {
        AwcTransport::new()
    }
}

impl Transport for AwcTransport {
    fn deliver(&self, request: DeliveryRequest) -> LocalBoxFuture<'static, AttemptResult> {
        let body = match serde_json::to_vec(&BookingEventBody::from(&request.event)) {
            Ok(body) => body,
            Err(err) => return Box::pin(async move { AttemptResult::NoAnswer(err.to_string()) }),
        };
        let unix_seconds = request.sent_at.millis().div_euclid(1_000);
        let sent = self
            .client
            .post(&request.url)
            .insert_header(("Content-Type", "application/json"))
            .insert_header((EVENT_ID_HEADER, request.event.event_id.to_string()))
            .insert_header((
                SIGNATURE_HEADER,
                signature(&request.secret, unix_seconds, &body),
            ))
            .send_body(body);
        Box::pin(async move {
            match sent.await {
                Ok(response) => AttemptResult::Answered(response.status().as_u16()),
                Err(err) => AttemptResult::NoAnswer(err.to_string()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_t_dot_body_in_hex() {
        // Computed independently: Python's hmac.new(b"secret",
        // b"1700000000.{}", hashlib.sha256).hexdigest().
        assert_eq!(
            signature("secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
