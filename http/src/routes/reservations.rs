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
use crate::views::{reservation_status, ReservationBody};

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
    pub seat_ids: Option<Vec<String>>,
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

#[utoipa::path(post, path = "/api/v1/reservations", tag = "reservations", request_body = HoldRequestBody,
    params(("Idempotency-Key" = String, Header), ("Queue-Token" = Option<String>, Header, description = "ACTIVE token, for gated schedules")),
    responses((status = 201, body = ReservationBody), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409), (status = 422)),
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
    /// HELD, CONFIRMED, EXPIRED or CANCELLED.
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reservations", tag = "reservations", params(ReservationFilter, PageQuery),
    responses((status = 200, body = List<ReservationBody>), (status = 400), (status = 401)), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/api/v1/reservations/{reservationId}", tag = "reservations",
    responses((status = 200, body = ReservationBody), (status = 401), (status = 404)), security(("bearer" = [])))]
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

#[utoipa::path(post, path = "/api/v1/reservations/{reservationId}/cancel", tag = "reservations",
    responses((status = 200, body = ReservationBody, description = "with refundAmount"), (status = 401), (status = 404), (status = 409)), security(("bearer" = [])))]
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
