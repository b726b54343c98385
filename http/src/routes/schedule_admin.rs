//! Admin operations on one schedule (ADMIN): cancel it, with every hold
//! released and every paid reservation refunded, and read its sales.

use actix_web::{web, HttpResponse};
use boxoffice_actors::Role;
use boxoffice_engine::ids::ScheduleId;

use super::resource;
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::extract::path_id;
use crate::state::AppState;
use crate::views::schedule_admin::{SalesBody, ScheduleCancelledBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/schedules/{scheduleId}/cancel").route(web::post().to(cancel)))
        .service(resource("/admin/schedules/{scheduleId}/sales").route(web::get().to(sales)));
}

route_api!(
    /// The admin operations on one schedule.
    ScheduleAdminApi: [cancel, sales]
);

#[utoipa::path(post, path = "/api/v1/schedules/{scheduleId}/cancel", summary = "Cancel a schedule: release every hold, refund every paid reservation (ADMIN)", tag = "admin", operation_id = "cancel_schedule",
    description = "Answers once the cancellation is durable: from then on holds and payments on the schedule are 409 SCHEDULE_CANCELLED and its listings show CANCELLED. The holds are released and the paid reservations refunded in full to their wallets (tickets VOID) in bounded batches right after the answer, and resumed at start-up after a crash, each refund exactly once. The counts are what the cancellation found: a payment in flight at that moment is in neither (it is refunded if it completes, released if it fails). No request body.",
    params(("scheduleId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the schedule is CANCELLED", body = ScheduleCancelledBody,
            example = json!({"scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "status": "CANCELLED", "releasedHolds": 3, "refundedReservations": 120, "refundedAmount": 18000000})),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
        (status = 409, description = "CONFLICT: the schedule is already cancelled"),
    ),
    security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    let summary = state.engine(state.registry.cancel_schedule(id)).await?;
    Ok(HttpResponse::Ok().json(ScheduleCancelledBody::new(id, &summary)))
}

#[utoipa::path(get, path = "/api/v1/admin/schedules/{scheduleId}/sales", summary = "A schedule's sales figures (ADMIN)", tag = "admin", operation_id = "schedule_sales",
    params(("scheduleId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "seat counts and money now", body = SalesBody,
            example = json!({"scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "capacity": 500, "sold": 120, "held": 6, "available": 374, "revenue": 14400000, "refunded": 300000, "byGrade": [{"grade": "VIP", "sold": 40, "revenue": 8000000}, {"grade": "R", "sold": 80, "revenue": 6400000}]})),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
    ),
    security(("bearer" = [])))]
pub async fn sales(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    let sales = state.engine(state.registry.sales(id)).await?;
    Ok(HttpResponse::Ok().json(SalesBody::new(id, &sales)))
}
