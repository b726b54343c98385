//! Payments: turn a hold into tickets with wallet money (the saga), and read
//! one back. The saga and a payment's status are the actor layer's
//! (`boxoffice_actors::payment`, `boxoffice_actors::payment_record`).

use actix_web::{web, HttpRequest, HttpResponse};
use boxoffice_actors::idempotency::Endpoint;
use boxoffice_actors::{EngineError, PayCommand, QueueTarget};
use boxoffice_engine::ids::PaymentId;

use super::{queue_token, resource};
use crate::auth::AuthUser;
use crate::card_provider::{as_reached, reached_origin};
use crate::checks::body_after;
use crate::error::ApiResult;
use crate::extract::{path_id, JsonBody};
use crate::idempotency_key::IdempotencyKey;
use crate::rate_limit::{Limited, PaymentPosts};
use crate::state::AppState;
use crate::views::payments::{
    method_of, CardPaymentBody, PaymentBody, PaymentReceiptBody, PaymentRequestBody,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/payments").route(web::post().to(create)))
        .service(resource("/payments/{paymentId}").route(web::get().to(get)));
}

route_api!(
    /// The payments' operations.
    PaymentsApi: [create, get]
);

#[utoipa::path(post, path = "/api/v1/payments", summary = "Pay for a hold with the wallet or by card", tag = "payments", operation_id = "create_payment", request_body(content = PaymentRequestBody, examples(("wallet" = (value = json!({"reservationId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "amount": 440000}))), ("card" = (value = json!({"reservationId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "method": "CARD"}))))),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1-255 visible ASCII characters; the same key and body replay the first answer"), ("Queue-Token" = Option<String>, Header, description = "the token the hold was made under, for gated schedules")),
    responses(
        (status = 201, description = "paid: the reservation is CONFIRMED, its tickets issued", body = PaymentReceiptBody),
        (status = 202, description = "method CARD: the payment is PENDING; the payer pays on checkoutUrl, and the hold cannot expire until the provider answers or expiresAt (the provider's timeout) passes", body = CardPaymentBody, example = json!({"paymentId": "0b8e4c2a-1f3d-4e5a-9c7b-6d2e8f0a1b3c", "reservationId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "amount": 440000, "status": "PENDING", "checkoutUrl": "http://127.0.0.1:8080/mock-provider/checkout/pi_3MtwBwLkdIwHu7ix28a3tqPa", "expiresAt": "2026-12-06T10:10:00Z"})),
        (status = 400, description = "VALIDATION_ERROR (also a method other than WALLET or CARD), INVALID_AMOUNT, or IDEMPOTENCY_KEY_REQUIRED"),
        (status = 402, description = "INSUFFICIENT_BALANCE (details.balance, details.required)"),
        (status = 403, description = "QUEUE_NOT_ACTIVE: a gated schedule without the caller's token for it"),
        (status = 404, description = "NOT_FOUND: reservationId names nothing of the caller's"),
        (status = 409, description = "ALREADY_PAID, RESERVATION_CANCELLED, AMOUNT_MISMATCH (details.expectedAmount), CONFLICT (a payment in progress), IDEMPOTENCY_IN_PROGRESS, or PAYMENT_METHOD_UNAVAILABLE (method CARD on a server without a payment provider)"),
        (status = 410, description = "RESERVATION_EXPIRED"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED"),
        (status = 503, description = "UNAVAILABLE: method CARD and the payment provider could not be reached; the hold is as it was, retry with the same key"),
        (status = 429, description = "RATE_LIMITED (details.retryAfterSeconds, header Retry-After): past the caller's per-minute limit of these requests, or past their daily quota of new Idempotency-Keys; nothing was run or stored, so the same key can be sent again later. With rate limits on, every answer to an authenticated caller carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (seconds until the allowance is whole)"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    user: Limited<PaymentPosts>,
    key: IdempotencyKey,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let tag = key.tag(user.user_id, Endpoint::Payments, body.value()?);
    let body = body.value()?;
    let reservation_id = PaymentRequestBody::reservation_id(body)?;
    let by_card = method_of(body, &["WALLET", "CARD"])? == Some("CARD");
    // Before anything is looked up or claimed: no provider, no card payment.
    if by_card && state.registry.card_payments().is_none() {
        return Err(EngineError::PaymentMethodUnavailable.into());
    }
    let token = queue_token(&req);
    // The reservation (404) and its waiting room (403) before the amount
    // (400); paying checks both itself.
    let amount = body_after(
        PaymentRequestBody::amount(body),
        state.engine(state.registry.check_queue_access(
            user.user_id,
            QueueTarget::Payment(reservation_id),
            token,
        )),
    )
    .await?;
    let command = PayCommand {
        reservation_id,
        amount,
        queue_token: token,
        idem: Some(tag),
    };
    if by_card {
        // After paying on the provider's page the payer comes back to this
        // site's checkout page for the hold, which shows the tickets.
        let return_url = reached_origin(&state.trusted_proxies, &req)
            .map(|origin| format!("{origin}/checkout/{reservation_id}"));
        let receipt = state
            .engine(
                state
                    .registry
                    .pay_by_card(user.user_id, command, return_url),
            )
            .await?;
        let mut body = CardPaymentBody::from(&receipt);
        body.checkout_url = as_reached(
            state.mock_origin.get(),
            &state.trusted_proxies,
            &req,
            body.checkout_url,
        );
        return Ok(HttpResponse::Accepted().json(body));
    }
    let receipt = state
        .engine(state.registry.pay(user.user_id, command))
        .await?;
    Ok(HttpResponse::Created().json(PaymentReceiptBody::from(&receipt)))
}

#[utoipa::path(get, path = "/api/v1/payments/{paymentId}", summary = "A payment of the caller's", tag = "payments", operation_id = "get_payment",
    params(("paymentId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the caller's payment: its status (PENDING or FAILED for a card payment; COMPLETED; REFUNDED after a cancellation) and method (WALLET or CARD)", body = PaymentBody, example = json!({"paymentId": "0b8e4c2a-1f3d-4e5a-9c7b-6d2e8f0a1b3c", "reservationId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "amount": 440000, "status": "COMPLETED", "method": "CARD", "paidAt": "2026-12-06T10:02:00Z", "tickets": [{"ticketId": "5c1d9a8b-2e4f-4d8c-0a12-7f3c2a105b6e", "seatId": "VIP-1-3"}]})),
        (status = 404, description = "NOT_FOUND (also another user's payment)"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let payment_id = path_id(&path, PaymentId::parse, "payment")?;
    let record = state
        .engine(state.registry.payment_record(user.user_id, payment_id))
        .await?;
    Ok(HttpResponse::Ok().json(PaymentBody::from(&record)))
}
