//! Payments: turn a hold into tickets with wallet money (the saga), and read one back.

use actix_web::{web, HttpRequest, HttpResponse};
use boxoffice_actors::idempotency::Endpoint;
use boxoffice_actors::PayCommand;
use boxoffice_engine::ids::{PaymentId, ReservationId};
use boxoffice_engine::schedule::ReservationStatus;
use boxoffice_engine::Money;
use serde_json::Value;
use utoipa::ToSchema;

use super::queue::{queue_not_active, token_admits};
use super::{queue_token, resource};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::path_id;
use crate::extract::JsonBody;
use crate::idempotency_key::IdempotencyKey;
use crate::state::AppState;
use crate::time_format::rfc3339;
use crate::views::{PaymentBody, TicketLineBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/payments").route(web::post().to(create)))
        .service(resource("/payments/{paymentId}").route(web::get().to(get)));
}

/// Pay for a held reservation. `amount`, when given, must equal the reservation's total.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequestBody {
    pub reservation_id: String,
    /// The total the client saw; when given it must equal the reservation's.
    pub amount: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/payments", tag = "payments", operation_id = "create_payment", request_body = PaymentRequestBody,
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1-255 visible ASCII characters; the same key and body replay the first answer"), ("Queue-Token" = Option<String>, Header, description = "the token the hold was made under, for gated schedules")),
    responses(
        (status = 201, description = "paid: the reservation is CONFIRMED, its tickets issued", body = PaymentBody),
        (status = 400, description = "VALIDATION_ERROR, INVALID_AMOUNT, or IDEMPOTENCY_KEY_REQUIRED"),
        (status = 402, description = "INSUFFICIENT_BALANCE (details.balance, details.required)"),
        (status = 403, description = "QUEUE_NOT_ACTIVE: a gated schedule without the caller's token for it"),
        (status = 404, description = "NOT_FOUND: reservationId names nothing of the caller's"),
        (status = 409, description = "ALREADY_PAID, RESERVATION_CANCELLED, AMOUNT_MISMATCH (details.expectedAmount), CONFLICT (a payment in progress), or IDEMPOTENCY_IN_PROGRESS"),
        (status = 410, description = "RESERVATION_EXPIRED"),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    key: IdempotencyKey,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let tag = key.tag(user.user_id, Endpoint::Payments, body.value()?);
    let body = body.value()?;
    if !body.is_object() {
        return Err(ApiError::validation("the body must be a JSON object"));
    }
    let reservation = match body.get("reservationId") {
        Some(Value::String(id)) => path_id(id, ReservationId::parse, "reservation")?,
        None | Some(Value::Null) => return Err(ApiError::validation("reservationId is required")),
        Some(_) => return Err(ApiError::validation("reservationId must be a string")),
    };
    // Existence before anything else about the body (API.md's order of checks).
    let view = state
        .engine(state.registry.reservation(Some(user.user_id), reservation))
        .await?;
    let amount = match body.get("amount") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|v| Some(Money(v)))
            .ok_or_else(|| ApiError::validation("amount must be a whole number")),
        Some(_) => Err(ApiError::validation("amount must be a number")),
    };
    let amount = match amount {
        Ok(amount) => amount,
        Err(invalid) => {
            // Permission (the waiting room) is judged before the body.
            let gated = state
                .registry
                .schedule(view.schedule_id)
                .is_ok_and(|s| s.gated);
            let token = queue_token(&req);
            if gated && !token_admits(&state, user.user_id, view.schedule_id, token, true).await {
                return Err(queue_not_active());
            }
            return Err(invalid);
        }
    };
    let command = PayCommand {
        reservation_id: reservation,
        amount,
        queue_token: queue_token(&req),
        idem: Some(tag),
    };
    let receipt = state
        .engine(state.registry.pay(user.user_id, command))
        .await?;
    Ok(HttpResponse::Created().json(PaymentBody::from(&receipt)))
}

#[utoipa::path(get, path = "/api/v1/payments/{paymentId}", tag = "payments", operation_id = "get_payment",
    params(("paymentId" = String, Path)),
    responses(
        (status = 200, description = "the caller's payment (COMPLETED, or REFUNDED after a cancellation)", body = PaymentBody),
        (status = 404, description = "NOT_FOUND (also another user's payment)"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let payment_id = path_id(&path, PaymentId::parse, "payment")?;
    let (payment_id, view) = state
        .engine(state.registry.payment(user.user_id, payment_id))
        .await?;
    let status = match view.status {
        ReservationStatus::Confirmed { payment_id: paid } if paid == payment_id => "COMPLETED",
        ReservationStatus::Cancelled if view.refund_amount.is_some() => "REFUNDED",
        // A payment that was aborted, or is still between saga steps, has no receipt to show.
        _ => return Err(ApiError::not_found("payment not found")),
    };
    let body = PaymentBody {
        payment_id: payment_id.to_string(),
        reservation_id: view.reservation_id.to_string(),
        amount: view.total_amount.0,
        status,
        paid_at: view.paid_at.map(rfc3339).unwrap_or_default(),
        balance_after: None,
        tickets: view.tickets.iter().map(TicketLineBody::from).collect(),
        queue_token_expired: None,
    };
    Ok(HttpResponse::Ok().json(body))
}
