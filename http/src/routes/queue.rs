//! The waiting room: join a schedule's queue, poll your token.

use actix_web::{web, HttpRequest, HttpResponse};
use boxoffice_actors::queue_actor::QueueTicket;
use boxoffice_engine::ids::{QueueTokenId, ScheduleId, UserId};
use boxoffice_engine::queue::TokenStatus;
use utoipa::ToSchema;

use super::{queue_token, resource};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::path_id;
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::time_format::rfc3339;
use crate::views::{token_status, QueueTokenBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/queue/tokens").route(web::post().to(join)))
        .service(resource("/queue/tokens/current").route(web::get().to(current)));
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequestBody {
    pub schedule_id: String,
}

/// Whether `token` may be used by `user` on the gated `schedule`, as the
/// queue actor sees it: theirs, for that schedule, and ACTIVE (or, when
/// `timed_out_ok`, also EXPIRED: a payment under a hold may use a token whose
/// active time ran out; the view cannot tell that from a waiting token that
/// dropped out, which only shifts an error answer from 403 to 400). The
/// schedule actor makes the binding decision; this is asked only on error
/// paths, so that a request with a bad body on a gated schedule is still
/// answered 403 before 400 (API.md's order of checks) without adding a round
/// trip to every hold.
pub async fn token_admits(
    state: &AppState,
    user: UserId,
    schedule: ScheduleId,
    token: Option<QueueTokenId>,
    timed_out_ok: bool,
) -> bool {
    let Some(token) = token else {
        return false;
    };
    match state.engine(state.registry.queue_status(token)).await {
        Ok(ticket) => {
            ticket.view.user == user
                && ticket.schedule_id == schedule
                && (ticket.view.status == TokenStatus::Active
                    || (timed_out_ok && ticket.view.status == TokenStatus::Expired))
        }
        Err(_) => false,
    }
}

/// 403 QUEUE_NOT_ACTIVE.
pub fn queue_not_active() -> ApiError {
    ApiError::from(boxoffice_actors::EngineError::QueueNotActive)
}

fn respond(mut response: actix_web::HttpResponseBuilder, ticket: &QueueTicket) -> HttpResponse {
    let view = &ticket.view;
    let body = QueueTokenBody {
        token: view.token.to_string(),
        schedule_id: ticket.schedule_id.to_string(),
        status: token_status(view.status),
        position: view.position,
        estimated_wait_seconds: view.estimated_wait_seconds,
        expires_at: rfc3339(view.expires_at),
    };
    response.insert_header(("X-Queue-Position", view.position.to_string()));
    response.json(body)
}

#[utoipa::path(post, path = "/api/v1/queue/tokens", tag = "queue", operation_id = "join_queue", request_body = JoinRequestBody,
    responses(
        (status = 201, description = "a new place (ACTIVE at once on a schedule without a queue)", body = QueueTokenBody,
            headers(("X-Queue-Position" = u64, description = "the token's position; 0 when ACTIVE"))),
        (status = 200, description = "the place the caller already had", body = QueueTokenBody,
            headers(("X-Queue-Position" = u64, description = "the token's position; 0 when ACTIVE"))),
        (status = 400, description = "VALIDATION_ERROR"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
    ),
    security(("bearer" = [])))]
pub async fn join(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let input: JoinRequestBody = body.parse()?;
    let schedule_id = path_id(&input.schedule_id, ScheduleId::parse, "schedule")?;
    let ticket = state
        .engine(state.registry.join_queue(user.user_id, schedule_id))
        .await?;
    let response = if ticket.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(respond(response, &ticket))
}

#[utoipa::path(get, path = "/api/v1/queue/tokens/current", tag = "queue", operation_id = "current_queue_token",
    params(("Queue-Token" = String, Header, description = "the token POST /queue/tokens gave")),
    responses(
        (status = 200, description = "the token's status, fresh position and ETA", body = QueueTokenBody,
            headers(("X-Queue-Position" = u64, description = "the token's position; 0 when ACTIVE"))),
        (status = 401, description = "UNAUTHORIZED (no valid access token), or QUEUE_TOKEN_INVALID: the token is missing, unknown, expired, ended or not the caller's"),
    ),
    security(("bearer" = [])))]
pub async fn current(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let invalid = || ApiError::from(boxoffice_actors::EngineError::QueueTokenInvalid);
    let token = queue_token(&req).ok_or_else(invalid)?;
    let ticket = state.engine(state.registry.queue_status(token)).await?;
    // A token is bound to its user; and only WAITING or ACTIVE tokens are current.
    if ticket.view.user != user.user_id
        || !matches!(
            ticket.view.status,
            TokenStatus::Waiting | TokenStatus::Active
        )
    {
        return Err(invalid());
    }
    Ok(respond(HttpResponse::Ok(), &ticket))
}
