//! Admin operations on one schedule (ADMIN): cancel it, with every hold
//! released and every paid reservation refunded; read its sales; block and
//! unblock seats, and issue blocked seats free to a user (comps).

use actix_web::{web, HttpResponse};
use boxoffice_actors::Role;
use boxoffice_engine::ids::{ScheduleId, UserId};

use super::resource;
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::extract::{path_id, JsonBody};
use crate::state::AppState;
use crate::views::reservations::ReservationBody;
use crate::views::schedule_admin::{
    BlockRequestBody, BlocksBody, CompRequestBody, SalesBody, ScheduleCancelledBody,
    UnblockRequestBody,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/schedules/{scheduleId}/cancel").route(web::post().to(cancel)))
        .service(resource("/admin/schedules/{scheduleId}/sales").route(web::get().to(sales)))
        .service(
            resource("/schedules/{scheduleId}/blocks")
                .route(web::get().to(list_blocks))
                .route(web::post().to(block))
                .route(web::delete().to(unblock)),
        )
        .service(resource("/schedules/{scheduleId}/comps").route(web::post().to(comp)));
}

route_api!(
    /// The admin operations on one schedule.
    ScheduleAdminApi: [cancel, sales, list_blocks, block, unblock, comp]
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
            example = json!({"scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "capacity": 500, "sold": 120, "held": 6, "available": 372, "revenue": 14400000, "refunded": 300000, "comps": 4, "blocked": 2, "byGrade": [{"grade": "VIP", "sold": 40, "revenue": 8000000}, {"grade": "R", "sold": 80, "revenue": 6400000}]})),
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

#[utoipa::path(get, path = "/api/v1/schedules/{scheduleId}/blocks", summary = "A schedule's blocked seats (ADMIN)", tag = "admin", operation_id = "list_blocks",
    params(("scheduleId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "every blocked seat, in seat order", body = BlocksBody,
            example = json!({"scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "blocks": [{"seatId": "A-1-1", "reason": "sound desk"}]})),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
    ),
    security(("bearer" = [])))]
pub async fn list_blocks(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    let blocks = state.engine(state.registry.blocks(id)).await?;
    Ok(HttpResponse::Ok().json(BlocksBody::new(id, blocks)))
}

#[utoipa::path(post, path = "/api/v1/schedules/{scheduleId}/blocks", summary = "Take free seats off sale (ADMIN)", tag = "admin", operation_id = "block_seats",
    description = "All or nothing. A blocked seat cannot be held (409 SEAT_UNAVAILABLE) nor picked by best available; the seat map shows it BLOCKED to admins and SOLD to everyone else, and the public counts count it as sold.",
    params(("scheduleId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    request_body(content = BlockRequestBody, example = json!({"seatIds": ["A-1-1", "A-1-2"], "reason": "sound desk"})),
    responses(
        (status = 200, description = "every blocked seat of the schedule now", body = BlocksBody,
            example = json!({"scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "blocks": [{"seatId": "A-1-1", "reason": "sound desk"}, {"seatId": "A-1-2", "reason": "sound desk"}]})),
        (status = 400, description = "VALIDATION_ERROR (1-1,000 distinct seatIds; reason 1-200 bytes, not only blanks; malformed body), or UNKNOWN_SEAT (details.seatId)"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
        (status = 409, description = "SEAT_UNAVAILABLE (details.unavailableSeats: held, sold or already blocked), or SCHEDULE_CANCELLED"),
    ),
    security(("bearer" = [])))]
pub async fn block(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    // Permission, then the path, then the body (API.md's order of checks).
    user.require(&state, Role::Admin)?;
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    let input: BlockRequestBody = body.parse()?;
    let blocks = state
        .engine(state.registry.block_seats(id, input.seat_ids, input.reason))
        .await?;
    Ok(HttpResponse::Ok().json(BlocksBody::new(id, blocks)))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{scheduleId}/blocks", summary = "Put blocked seats back on sale (ADMIN)", tag = "admin", operation_id = "unblock_seats",
    description = "All or nothing: every seat named must be blocked.",
    params(("scheduleId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    request_body(content = UnblockRequestBody, example = json!({"seatIds": ["A-1-2"]})),
    responses(
        (status = 200, description = "every seat still blocked", body = BlocksBody,
            example = json!({"scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "blocks": [{"seatId": "A-1-1", "reason": "sound desk"}]})),
        (status = 400, description = "VALIDATION_ERROR (1-1,000 distinct seatIds; malformed body), or UNKNOWN_SEAT (details.seatId)"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
        (status = 409, description = "SEAT_NOT_BLOCKED (details.notBlockedSeats)"),
    ),
    security(("bearer" = [])))]
pub async fn unblock(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    // Permission, then the path, then the body (API.md's order of checks).
    user.require(&state, Role::Admin)?;
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    let input: UnblockRequestBody = body.parse()?;
    let blocks = state
        .engine(state.registry.unblock_seats(id, input.seat_ids))
        .await?;
    Ok(HttpResponse::Ok().json(BlocksBody::new(id, blocks)))
}

#[utoipa::path(post, path = "/api/v1/schedules/{scheduleId}/comps", summary = "Issue blocked seats free to a user (ADMIN)", tag = "admin", operation_id = "comp_seats",
    description = "A comp: the blocked seats become a CONFIRMED reservation of the user with amount 0 and one ticket per seat. Sales count them as sold seats and comps, not revenue. All or nothing: every seat named must be blocked.",
    params(("scheduleId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    request_body(content = CompRequestBody, example = json!({"seatIds": ["A-1-1"], "userId": "3d6f1e2a-8b4c-4f7e-9a1d-5c2b7e8f0a34"})),
    responses(
        (status = 201, description = "the reservation, CONFIRMED, totalAmount 0, with its tickets", body = ReservationBody),
        (status = 400, description = "VALIDATION_ERROR (1-1,000 distinct seatIds; malformed body), or UNKNOWN_SEAT (details.seatId)"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing, or userId names no account"),
        (status = 409, description = "SEAT_NOT_BLOCKED (details.notBlockedSeats), or SCHEDULE_CANCELLED"),
    ),
    security(("bearer" = [])))]
pub async fn comp(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    // Permission, then the path, then the body (API.md's order of checks).
    user.require(&state, Role::Admin)?;
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    let input: CompRequestBody = body.parse()?;
    let to = path_id(&input.user_id, UserId::parse, "user")?;
    let view = state
        .engine(state.registry.comp_seats(id, to, input.seat_ids))
        .await?;
    Ok(HttpResponse::Created().json(ReservationBody::from(&view)))
}
