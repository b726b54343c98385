//! Check-in at the door (STAFF): a signed QR code in, the seat out; a ticket
//! checks in once.

use actix_web::{web, HttpResponse};
use boxoffice_actors::{EngineError, Role};

use super::resource;
use crate::auth::AuthUser;
use crate::checks::role_then_body;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::views::checkins::{CheckInBody, CheckInRequestBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/checkins").route(web::post().to(check_in)));
}

route_api!(
    /// Check-in's operation.
    CheckinsApi: [check_in]
);

#[utoipa::path(post, path = "/api/v1/checkins", summary = "Check a ticket in at the door (STAFF)", tag = "tickets", request_body(content = CheckInRequestBody, example = json!({"qrCode": "<the qrCode of GET /api/v1/tickets/{ticketId}>"})),
    responses(
        (status = 200, description = "admitted: the ticket is now USED", body = CheckInBody),
        (status = 400, description = "INVALID_TICKET (forged, void or unknown code), or VALIDATION_ERROR"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not STAFF or ADMIN now (the token's role claim is not trusted)"),
        (status = 409, description = "TICKET_ALREADY_USED (details.usedAt)"),
    ),
    security(("bearer" = [])))]
pub async fn check_in(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    // Permission before the body (API.md's order of checks): the body's own
    // errors (400/413/415) are held back until the caller is known to be STAFF.
    let input: CheckInRequestBody = role_then_body(&state, &user, Role::Staff, &body)?;
    let ticket_id = state
        .qr
        .verify(&input.qr_code)
        .ok_or_else(|| ApiError::from(EngineError::InvalidTicket))?;
    let checked = state.engine(state.registry.check_in(ticket_id)).await?;
    Ok(HttpResponse::Ok().json(CheckInBody::from(&checked)))
}
