//! The waiting room: join a schedule's queue, poll your token. Who a token
//! admits, and when, is the actor layer's (`boxoffice_actors::waiting_room`).

use actix_web::{web, HttpRequest, HttpResponse};
use boxoffice_actors::queue_actor::QueueTicket;
use boxoffice_engine::ids::ScheduleId;

use super::{queue_pass, queue_token_text, resource};
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::extract::{path_id, JsonBody};
use crate::state::AppState;
use crate::views::queue::{JoinRequestBody, QueueTokenBody};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/queue/tokens").route(web::post().to(join)))
        .service(resource("/queue/tokens/current").route(web::get().to(current)));
}

route_api!(
    /// The waiting room's operations.
    QueueApi: [join, current]
);

/// `token` is the ticket's signed token (signed anew for a join; for a poll,
/// the very string the client sent and we verified, saving a signature).
fn respond(
    mut response: actix_web::HttpResponseBuilder,
    ticket: &QueueTicket,
    token: String,
) -> HttpResponse {
    let body = QueueTokenBody::new(ticket, token);
    if let Some(position) = body.position {
        response.insert_header(("X-Queue-Position", position.to_string()));
    }
    response.json(body)
}

#[utoipa::path(post, path = "/api/v1/queue/tokens", summary = "Join a schedule's waiting room", tag = "queue", operation_id = "join_queue", request_body(content = JoinRequestBody, example = json!({"scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12"})),
    responses(
        (status = 201, description = "a new place (ACTIVE at once on a schedule without a queue)", body = QueueTokenBody,
            headers(("X-Queue-Position" = u64, description = "the token's position; 0 when ACTIVE; absent in PRE_QUEUE"))),
        (status = 200, description = "the place the caller already had", body = QueueTokenBody,
            headers(("X-Queue-Position" = u64, description = "the token's position; 0 when ACTIVE; absent in PRE_QUEUE"))),
        (status = 400, description = "VALIDATION_ERROR"),
        (status = 403, description = "EMAIL_NOT_VERIFIED: the schedule's waiting room requires a verified e-mail address (`queue.requireVerifiedEmail`) and the caller's account has none (POST /auth/verify-email)"),
        (status = 404, description = "NOT_FOUND: scheduleId names nothing"),
        (status = 409, description = "QUEUE_NOT_OPEN: the schedule has a pre-queue whose window has not opened yet (details.opensAt)"),
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
    let token = state.queue_tokens.sign(&ticket.pass);
    Ok(respond(response, &ticket, token))
}

#[utoipa::path(get, path = "/api/v1/queue/tokens/current", summary = "Poll a waiting-room token", tag = "queue", operation_id = "current_queue_token",
    params(("Queue-Token" = String, Header, description = "the token POST /queue/tokens gave", example = "qt.eyJwbGFjZSI6MX0.c2lnbmF0dXJl")),
    responses(
        (status = 200, description = "the token's status, fresh position and ETA", body = QueueTokenBody,
            headers(("X-Queue-Position" = u64, description = "the token's position; 0 when ACTIVE; absent in PRE_QUEUE"))),
        (status = 401, description = "UNAUTHORIZED (no valid access token), or QUEUE_TOKEN_INVALID: the token is missing, unknown, expired, ended or not the caller's"),
    ),
    security(("bearer" = [])))]
pub async fn current(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let ticket = state
        .registry
        .current_queue_token(user.user_id, queue_pass(&req).as_ref())?;
    // The pass was verified from this very text: echo it, no second signature.
    let token =
        queue_token_text(&req).map_or_else(|| state.queue_tokens.sign(&ticket.pass), str::to_owned);
    Ok(respond(HttpResponse::Ok(), &ticket, token))
}
