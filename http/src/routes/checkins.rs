//! Check-in at the door (STAFF): a signed QR code in, the seat, concert and
//! date out; a ticket checks in once, and only at its own schedule's door
//! when the door says which schedule it is.

use actix_web::{web, HttpResponse};
use boxoffice_actors::{EngineError, Role};
use boxoffice_engine::ids::ScheduleId;

use super::resource;
use crate::auth::AuthUser;
use crate::checks::role_then_body;
use crate::error::{ApiError, ApiResult};
use crate::extract::{path_id, JsonBody};
use crate::state::AppState;
use crate::views::checkins::{CheckInBody, CheckInRequestBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/checkins").route(web::post().to(check_in)));
}

route_api!(
    /// Check-in's operation.
    CheckinsApi: [check_in]
);

#[utoipa::path(post, path = "/api/v1/checkins", summary = "Check a ticket in at the door (STAFF)", tag = "tickets", request_body(content = CheckInRequestBody, example = json!({"qrCode": "<the qrCode of GET /api/v1/tickets/{ticketId}>", "scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12"})),
    responses(
        (status = 200, description = "admitted: the ticket is now USED; the reply names its seat, concert and date", body = CheckInBody),
        (status = 400, description = "INVALID_TICKET (forged, void or unknown code), or VALIDATION_ERROR"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not STAFF or ADMIN now (the token's role claim is not trusted)"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
        (status = 409, description = "TICKET_ALREADY_USED (details.usedAt); WRONG_SCHEDULE: the ticket is for another schedule than scheduleId (details.concert {concertId, title} and details.schedule {scheduleId, startsAt} name the ticket's own); the ticket stays unused"),
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
    let door = (input.schedule_id.as_deref())
        .map(|id| path_id(id, ScheduleId::parse, "schedule"))
        .transpose()?;
    let ticket_id = state.qr.verify(&input.qr_code);
    let checked = match ticket_id {
        Some(ticket_id) => state.engine(state.registry.check_in_at(ticket_id, door)),
        None => {
            // The door's existence (404) before the code's (400).
            if let Some(door) = door {
                state.registry.schedule(door).map_err(ApiError::from)?;
            }
            return Err(ApiError::from(EngineError::InvalidTicket));
        }
    }
    .await?;
    Ok(HttpResponse::Ok().json(CheckInBody::from(&checked)))
}
