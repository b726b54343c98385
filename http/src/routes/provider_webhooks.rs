//! The payment provider's webhook (API.md, "Paying through a payment
//! provider"): no user token, the `Stripe-Signature` over the raw body is
//! the credential. What an event does is `boxoffice_actors::card_payments`.

use actix_web::{web, HttpRequest, HttpResponse};
use boxoffice_provider::signature::SIGNATURE_HEADER;

use super::resource;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/webhooks/payments/{provider}").route(web::post().to(receive)));
}

route_api!(
    /// The payment provider's webhook.
    ProviderWebhooksApi: [receive]
);

/// The answer to a webhook taken into account (or already taken).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReceivedBody {
    pub received: bool,
}

#[utoipa::path(post, path = "/api/v1/webhooks/payments/{provider}", summary = "The payment provider's webhook (signed, no user token)", tag = "payments", operation_id = "receive_payment_webhook",
    request_body(content = Object, content_type = "application/json", description = "the provider's event, exactly as sent (the signature covers the raw bytes)", example = json!({"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event", "type": "payment_intent.succeeded", "created": 1765015320, "data": {"object": {"id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent", "amount": 440000, "amount_received": 440000, "currency": "krw", "status": "succeeded", "metadata": {"paymentId": "0b8e4c2a-1f3d-4e5a-9c7b-6d2e8f0a1b3c"}}}})),
    params(
        ("provider" = String, Path, description = "the configured provider: mock or stripe", example = "stripe"),
        ("Stripe-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" under the webhook secret>; the timestamp within 5 minutes of the server's clock"),
    ),
    responses(
        (status = 200, description = "taken into account once (a repeated or late event changes nothing more)", body = ReceivedBody, example = json!({"received": true})),
        (status = 400, description = "VALIDATION_ERROR: a missing, malformed, wrong or stale signature, or a body that is not a provider event; nothing changed"),
        (status = 404, description = "NOT_FOUND: no such provider is configured"),
        (status = 413, description = "PAYLOAD_TOO_LARGE"),
        (status = 503, description = "UNAVAILABLE: not taken into account yet; the provider redelivers"),
    ))]
pub async fn receive(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let card = state
        .registry
        .card_payments()
        .filter(|card| card.provider_name() == path.as_str())
        .cloned()
        .ok_or_else(|| ApiError::not_found("no such payment provider is configured"))?;
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok());
    state
        .engine(state.registry.receive_card_webhook(&card, signature, &body))
        .await?;
    Ok(HttpResponse::Ok().json(ReceivedBody { received: true }))
}
