//! Check-in at the door (STAFF): a signed QR code in, the seat out; a ticket
//! checks in once.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::resource;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;

use crate::state::AppState;
use crate::time_format::rfc3339;
use crate::views::{ticket_seat, TicketSeatBody};
use boxoffice_actors::Role;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/checkins").route(web::post().to(check_in)));
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckInRequestBody {
    pub qr_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckInBody {
    /// Always true (a refused code is an error).
    pub valid: bool,
    pub ticket_id: String,
    pub seat: TicketSeatBody,
    #[schema(format = DateTime)]
    pub used_at: String,
}

#[utoipa::path(post, path = "/api/v1/checkins", tag = "tickets", request_body = CheckInRequestBody,
    responses(
        (status = 200, description = "admitted: the ticket is now USED", body = CheckInBody),
        (status = 400, description = "INVALID_TICKET (forged, void or unknown code), or VALIDATION_ERROR"),
        (status = 403, description = "FORBIDDEN: the caller is not STAFF or ADMIN"),
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
    user.require(Role::Staff)?;
    let input: CheckInRequestBody = body.parse()?;
    let invalid = || ApiError::from(boxoffice_actors::EngineError::InvalidTicket);
    let ticket_id = state.qr.verify(&input.qr_code).ok_or_else(invalid)?;
    let checked = state.engine(state.registry.check_in(ticket_id)).await?;
    Ok(HttpResponse::Ok().json(CheckInBody {
        valid: true,
        ticket_id: ticket_id.to_string(),
        seat: ticket_seat(&checked.ticket),
        used_at: rfc3339(checked.used_at),
    }))
}
