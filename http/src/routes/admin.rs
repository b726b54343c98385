//! The admin's lists (ADMIN): finding a user by email or a part of one, so
//! an admin can make them STAFF (`PUT /admin/users/{userId}/role`). The
//! search and its bound are the actor layer's (`Registry::find_accounts`).

use actix_web::{web, HttpResponse};
use boxoffice_actors::Role;

use super::resource;
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::pagination::{List, PageQuery};
use crate::state::AppState;
use crate::views::admin::UserQuery;
use crate::views::auth::UserBody;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/admin/users").route(web::get().to(list_users)));
}

route_api!(
    /// The admin's lists.
    AdminApi: [list_users]
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
