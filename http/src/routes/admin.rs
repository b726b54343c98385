//! The admin's lists (ADMIN): finding a user by email or a part of one, so
//! an admin can make them STAFF (`PUT /admin/users/{userId}/role`), and every
//! user's reservations of one schedule. The searches and their bounds are the
//! actor layer's (`Registry::find_accounts`, `schedule_reservations`).

use actix_web::{web, HttpResponse};
use boxoffice_actors::Role;
use boxoffice_engine::ids::ScheduleId;

use super::resource;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::path_id;
use crate::pagination::{List, PageQuery};
use crate::state::AppState;
use crate::views::admin::{OwnedReservationBody, UserQuery};
use crate::views::auth::UserBody;
use crate::views::reservations::ReservationFilter;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/admin/users").route(web::get().to(list_users)))
        .service(
            resource("/admin/schedules/{scheduleId}/reservations")
                .route(web::get().to(schedule_reservations)),
        );
}

route_api!(
    /// The admin's lists.
    AdminApi: [list_users, schedule_reservations]
);

#[utoipa::path(get, path = "/api/v1/admin/users", summary = "Find users by email or a part of an email or name (ADMIN)", tag = "auth", params(UserQuery, PageQuery),
    responses(
        (status = 200, description = "one page of the matching users, oldest account first, as GET /auth/me shows them (with userId and role)", body = List<UserBody>,
            example = json!({"items": [{"userId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "email": "kim@example.com", "name": "Kim Minji", "role": "USER", "createdAt": "2026-03-01T00:00:00Z"}], "page": 1, "pageSize": 20, "total": 1})),
        (status = 400, description = "VALIDATION_ERROR: an empty email, a q that is empty or over 100 characters, both at once, or a bad page or pageSize"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now"),
    ),
    security(("bearer" = [])))]
pub async fn list_users(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<UserQuery>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let page = page.validate()?;
    let query = query.into_inner().query()?;
    let (accounts, total) = state
        .engine(
            state
                .registry
                .find_accounts(query, page.offset(), page.limit()),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page.of(accounts.iter().map(UserBody::from).collect(), total)))
}

#[utoipa::path(get, path = "/api/v1/admin/schedules/{scheduleId}/reservations", summary = "Every user's reservations of a schedule (ADMIN)", tag = "reservations",
    params(("scheduleId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12"), ReservationFilter, PageQuery),
    responses(
        (status = 200, description = "one page of the schedule's reservations, newest first, ended (archived) ones included, each as GET /reservations/{id} shows it plus its owner's userId and email", body = List<OwnedReservationBody>,
            example = json!({"items": [{"reservationId": "0b6e2f51-3a4c-4e8d-8f1a-9c2d7e6b5a40", "reservationNumber": "BX-7K3Q9D", "scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "seats": [{"seatId": "A-1-3", "grade": "R", "price": 50000}], "totalAmount": 50000, "status": "HELD", "heldAt": "2027-01-02T10:00:00Z", "expiresAt": "2027-01-02T10:05:00Z", "userId": "5d1c0e2a-8b7f-4a3e-9c6d-1f2e3a4b5c6d", "email": "kim@example.com"}], "page": 1, "pageSize": 20, "total": 1})),
        (status = 400, description = "VALIDATION_ERROR: a bad status, page or pageSize"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
    ),
    security(("bearer" = [])))]
pub async fn schedule_reservations(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    filter: web::Query<ReservationFilter>,
    page: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    // The schedule's existence (404) before the query's (400).
    let checked = filter
        .wanted()
        .and_then(|status| Ok((status, page.validate()?)));
    let (status, page) = match checked {
        Ok(checked) => checked,
        Err(invalid) => {
            state.registry.schedule(id).map_err(ApiError::from)?;
            return Err(invalid);
        }
    };
    let (reservations, total) = state
        .engine(
            state
                .registry
                .schedule_reservations_page(id, status, page.offset(), page.limit()),
        )
        .await?;
    let items = reservations
        .iter()
        .map(OwnedReservationBody::from)
        .collect();
    Ok(HttpResponse::Ok().json(page.of(items, total)))
}
