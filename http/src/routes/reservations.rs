//! Reservations (holds): create by seat ids or best-available quantity, read,
//! list the caller's, cancel (a paid one is refunded).

use actix_web::{web, HttpRequest, HttpResponse};
use boxoffice_actors::idempotency::Endpoint;
use boxoffice_actors::HoldCommand;
use boxoffice_engine::ids::{ReservationId, ScheduleId};
use boxoffice_engine::schedule::SeatSelection;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::queue::{queue_not_active, token_admits};
use super::{queue_token, resource};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::path_id;
use crate::extract::JsonBody;
use crate::idempotency_key::IdempotencyKey;
use crate::pagination::{List, PageQuery};
use crate::state::AppState;
use crate::views::{reservation_status, ReservationBody, ReservationStatusName};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/reservations")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(resource("/reservations/{reservationId}").route(web::get().to(get)))
    .service(resource("/reservations/{reservationId}/cancel").route(web::post().to(cancel)));
}

/// Hold seats: `seatIds` (all or nothing) or `quantity` (best available, optionally in a `grade` or `sectionId`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoldRequestBody {
    pub schedule_id: String,
    /// Distinct seat ids (`sectionId-row-number`); all are held or none.
    #[schema(min_items = 1)]
    pub seat_ids: Option<Vec<String>>,
    /// Best available: this many adjacent seats in one row.
    #[schema(minimum = 1, maximum = 20)]
    pub quantity: Option<u32>,
    pub grade: Option<String>,
    pub section_id: Option<String>,
}

fn selection(body: HoldRequestBody) -> ApiResult<SeatSelection> {
    match (body.seat_ids, body.quantity) {
        (Some(_), Some(_)) | (None, None) => {
            Err(ApiError::validation("give either seatIds or quantity"))
        }
        (Some(ids), None) => {
            if ids.is_empty() {
                return Err(ApiError::validation("seatIds must not be empty"));
            }
            // No length cap here: more seats than the user's room is the engine's
            // 422 SEAT_LIMIT_EXCEEDED (API.md), and the 64 KiB body limit already
            // bounds the list, so this sort stays cheap.
            let mut sorted = ids.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != ids.len() {
                return Err(ApiError::validation("seatIds must be distinct"));
            }
            Ok(SeatSelection::Ids(ids))
        }
        (None, Some(quantity)) => {
            if quantity == 0 {
                return Err(ApiError::validation("quantity must be at least 1"));
            }
            Ok(SeatSelection::BestAvailable {
                quantity,
                grade: body.grade,
                section_id: body.section_id,
            })
        }
    }
}

#[utoipa::path(post, path = "/api/v1/reservations", tag = "reservations", operation_id = "create_reservation", request_body = HoldRequestBody,
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1-255 visible ASCII characters; the same key and body replay the first answer"), ("Queue-Token" = Option<String>, Header, description = "the caller's ACTIVE token, for gated schedules")),
    responses(
        (status = 201, description = "the hold (status HELD) until expiresAt", body = ReservationBody),
        (status = 400, description = "VALIDATION_ERROR (seatIds empty or repeated, both or neither of seatIds and quantity, ...), UNKNOWN_SEAT, or IDEMPOTENCY_KEY_REQUIRED"),
        (status = 403, description = "QUEUE_NOT_ACTIVE: a gated schedule without the caller's ACTIVE token for it"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
        (status = 409, description = "SEAT_UNAVAILABLE (details.unavailableSeats), BOOKING_CLOSED, or IDEMPOTENCY_IN_PROGRESS"),
        (status = 422, description = "SEAT_LIMIT_EXCEEDED (over maxSeatsPerUser), or IDEMPOTENCY_KEY_REUSED"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    key: IdempotencyKey,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let tag = key.tag(user.user_id, Endpoint::Reservations, body.value()?);
    let input: HoldRequestBody = body.parse()?;
    let schedule_id = path_id(&input.schedule_id, ScheduleId::parse, "schedule")?;
    let handle = state
        .registry
        .schedule(schedule_id)
        .map_err(ApiError::from)?;
    let selection = match selection(input) {
        Ok(selection) => selection,
        Err(invalid) => {
            // Permission (the waiting room) is judged before the body.
            let token = queue_token(&req);
            if handle.gated && !token_admits(&state, user.user_id, schedule_id, token, false).await
            {
                return Err(queue_not_active());
            }
            return Err(invalid);
        }
    };
    let command = HoldCommand {
        schedule_id,
        selection,
        queue_token: queue_token(&req),
        idem: Some(tag),
    };
    let receipt = state
        .engine(state.registry.hold(user.user_id, command))
        .await?;
    Ok(HttpResponse::Created().json(ReservationBody::from(&receipt)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ReservationFilter {
    /// Only reservations in this status.
    #[param(value_type = Option<ReservationStatusName>)]
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reservations", tag = "reservations", operation_id = "list_reservations", params(ReservationFilter, PageQuery),
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
    if let Some(status) = filter.status.as_deref() {
        if !["HELD", "CONFIRMED", "EXPIRED", "CANCELLED"].contains(&status) {
            return Err(ApiError::validation(
                "status must be HELD, CONFIRMED, EXPIRED or CANCELLED",
            ));
        }
    }
    let mut all = state
        .engine(state.registry.reservations_of(user.user_id))
        .await?;
    all.reverse(); // newest first
    let bodies: Vec<ReservationBody> = all
        .iter()
        .filter(|r| {
            filter
                .status
                .as_deref()
                .is_none_or(|s| reservation_status(r.status) == s)
        })
        .map(ReservationBody::from)
        .collect();
    Ok(HttpResponse::Ok().json(page.slice(bodies)))
}

#[utoipa::path(get, path = "/api/v1/reservations/{reservationId}", tag = "reservations", operation_id = "get_reservation",
    params(("reservationId" = String, Path)),
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

#[utoipa::path(post, path = "/api/v1/reservations/{reservationId}/cancel", tag = "reservations", operation_id = "cancel_reservation",
    params(("reservationId" = String, Path)),
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
    let mut body = ReservationBody::from(&receipt.reservation);
    body.refund_amount = Some(receipt.refund_amount.0);
    Ok(HttpResponse::Ok().json(body))
}
