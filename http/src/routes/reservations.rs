//! Reservations (holds): create by seat ids or best-available quantity, read,
//! list the caller's, cancel (a paid one is refunded).

use actix_web::{web, HttpRequest, HttpResponse};
use boxoffice_actors::idempotency::Endpoint;
use boxoffice_actors::{HoldCommand, QueueTarget};
use boxoffice_engine::ids::{ReservationId, ScheduleId};

use super::{queue_token, resource};
use crate::auth::AuthUser;
use crate::checks::body_after;
use crate::error::ApiResult;
use crate::extract::{path_id, JsonBody};
use crate::idempotency_key::IdempotencyKey;
use crate::pagination::{List, PageQuery};
use crate::rate_limit::{Limited, ReservationPosts};
use crate::state::AppState;
use crate::views::reservations::{HoldRequestBody, ReservationBody, ReservationFilter};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/reservations")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(resource("/reservations/{reservationId}").route(web::get().to(get)))
    .service(resource("/reservations/{reservationId}/cancel").route(web::post().to(cancel)));
}

route_api!(
    /// The reservations' operations.
    ReservationsApi: [create, list, get, cancel]
);

#[utoipa::path(post, path = "/api/v1/reservations", summary = "Hold seats (by id or best available)", tag = "reservations", operation_id = "create_reservation", request_body(content = HoldRequestBody, example = json!({"scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "quantity": 2, "grade": "VIP"})),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1-255 visible ASCII characters; the same key and body replay the first answer"), ("Queue-Token" = Option<String>, Header, description = "the caller's ACTIVE token, for gated schedules")),
    responses(
        (status = 201, description = "the hold (status HELD) until expiresAt", body = ReservationBody),
        (status = 400, description = "VALIDATION_ERROR (seatIds empty or repeated, both or neither of seatIds and quantity, ...), UNKNOWN_SEAT, or IDEMPOTENCY_KEY_REQUIRED"),
        (status = 403, description = "QUEUE_NOT_ACTIVE: a gated schedule without the caller's ACTIVE token for it"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
        (status = 409, description = "SEAT_UNAVAILABLE (details.unavailableSeats), BOOKING_CLOSED, or IDEMPOTENCY_IN_PROGRESS"),
        (status = 422, description = "SEAT_LIMIT_EXCEEDED (over maxSeatsPerUser), or IDEMPOTENCY_KEY_REUSED"),
        (status = 429, description = "RATE_LIMITED (details.retryAfterSeconds, header Retry-After): past the caller's per-minute limit of these requests, or past their daily quota of new Idempotency-Keys; nothing was run or stored, so the same key can be sent again later. With rate limits on, every answer to an authenticated caller carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (seconds until the allowance is whole)"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    user: Limited<ReservationPosts>,
    key: IdempotencyKey,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let tag = key.tag(user.user_id, Endpoint::Reservations, body.value()?);
    let input: HoldRequestBody = body.parse()?;
    let schedule_id = path_id(&input.schedule_id, ScheduleId::parse, "schedule")?;
    let token = queue_token(&req);
    // The schedule (404) and its waiting room (403) before the seats asked
    // for (400); the hold checks both itself.
    let selection = body_after(
        input
            .selection()
            .map_err(|e| body.explain::<HoldRequestBody>(e)),
        state.engine(state.registry.check_queue_access(
            user.user_id,
            QueueTarget::Hold(schedule_id),
            token,
        )),
    )
    .await?;
    let command = HoldCommand {
        schedule_id,
        selection,
        queue_token: token,
        idem: Some(tag),
    };
    let receipt = state
        .engine(state.registry.hold(user.user_id, command))
        .await?;
    Ok(HttpResponse::Created().json(ReservationBody::from(&receipt)))
}

#[utoipa::path(get, path = "/api/v1/reservations", summary = "The caller's reservations", tag = "reservations", operation_id = "list_reservations", params(ReservationFilter, PageQuery),
    responses(
        (status = 200, description = "one page of the caller's reservations, newest first", body = List<ReservationBody>),
        (status = 400, description = "VALIDATION_ERROR: a bad status, page, pageSize or query string"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    filter: web::Query<ReservationFilter>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = page.validate()?;
    let status = filter.wanted()?;
    let (views, total) = state
        .engine(
            state
                .registry
                .reservations_page(user.user_id, status, page.offset(), page.limit()),
        )
        .await?;
    let bodies = views.iter().map(ReservationBody::from).collect();
    Ok(HttpResponse::Ok().json(page.of(bodies, total)))
}

#[utoipa::path(get, path = "/api/v1/reservations/{reservationId}", summary = "A reservation of the caller's", tag = "reservations", operation_id = "get_reservation",
    params(("reservationId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the caller's reservation", body = ReservationBody),
        (status = 404, description = "NOT_FOUND (also another user's reservation)"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, ReservationId::parse, "reservation")?;
    let view = state
        .engine(state.registry.reservation(Some(user.user_id), id))
        .await?;
    Ok(HttpResponse::Ok().json(ReservationBody::from(&view)))
}

#[utoipa::path(post, path = "/api/v1/reservations/{reservationId}/cancel", summary = "Cancel a hold, or a paid reservation with a refund", tag = "reservations", operation_id = "cancel_reservation",
    params(("reservationId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the reservation, CANCELLED, with refundAmount (0 for a hold)", body = ReservationBody),
        (status = 404, description = "NOT_FOUND (also another user's reservation)"),
        (status = 409, description = "NOT_CANCELLABLE (already cancelled or expired, a ticket used, or past bookingClosesAt), or CONFLICT (a payment in progress)"),
    ),
    security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, ReservationId::parse, "reservation")?;
    let receipt = state
        .engine(state.registry.cancel(user.user_id, id))
        .await?;
    Ok(HttpResponse::Ok().json(ReservationBody::from(&receipt)))
}
