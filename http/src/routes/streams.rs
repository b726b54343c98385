//! Live updates (API.md, "Live updates"): a schedule's seat changes and a
//! queue token's place, as Server-Sent Events. The handlers check and
//! subscribe; the bodies are `crate::sse`'s.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use boxoffice_actors::seat_feed::Start;
use boxoffice_engine::ids::ScheduleId;
use futures_util::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

use super::{queue_token_text, resource};
use crate::error::{ApiError, ApiResult};
use crate::extract::path_id;
use crate::sse::{queue_stream, seat_stream, ResetReason, StreamSlot};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/schedules/{scheduleId}/stream").route(web::get().to(seat_stream_of)))
        .service(resource("/queue/tokens/{token}/stream").route(web::get().to(queue_stream_of)));
}

route_api!(
    /// The live-update streams.
    StreamsApi: [seat_stream_of, queue_stream_of]
);

/// The seat stream's query: for clients that cannot set headers (EventSource).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SeatStreamQuery {
    /// Resume right after this event (the `Last-Event-ID` header wins when both are sent).
    #[param(example = "1772323200000042")]
    pub last_event_id: Option<String>,
    /// An ACTIVE queue token for this schedule, when it is gated (or the `Queue-Token` header).
    #[param(example = "BXQ1.payload.signature")]
    pub queue_token: Option<String>,
}

/// The error past either bound on open streams.
fn too_many_streams() -> ApiError {
    ApiError::unavailable("too many live-update streams are open: try again later")
}

fn slot(state: &AppState) -> ApiResult<StreamSlot> {
    state.streams.take().ok_or_else(too_many_streams)
}

fn event_stream() -> HttpResponseBuilder {
    let mut response = HttpResponse::build(StatusCode::OK);
    response
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        // Reverse proxies (nginx) must not buffer the events.
        .insert_header(("X-Accel-Buffering", "no"));
    response
}

/// Where the stream starts for a `Last-Event-ID` (header first, then query).
fn start_point(
    req: &HttpRequest,
    query: &SeatStreamQuery,
    start: impl Fn(Option<u64>) -> Start,
) -> (u64, Option<(ResetReason, u64)>) {
    let header = req
        .headers()
        .get("last-event-id")
        .map(|value| value.to_str().unwrap_or("").trim().to_owned());
    let Some(text) = header.or_else(|| query.last_event_id.clone()) else {
        return match start(None) {
            Start::After(newest) | Start::Reset(newest) => (newest, None),
        };
    };
    match text.trim().parse::<u64>() {
        Ok(id) => match start(Some(id)) {
            Start::After(after) => (after, None),
            Start::Reset(newest) => {
                let reason = if id > newest {
                    ResetReason::Ahead
                } else {
                    ResetReason::TooOld
                };
                (newest, Some((reason, newest)))
            }
        },
        Err(_) => match start(None) {
            Start::After(newest) | Start::Reset(newest) => {
                (newest, Some((ResetReason::Unreadable, newest)))
            }
        },
    }
}

const SEAT_EXAMPLE: &str = "retry: 1000\n\nid: 1772323200000042\nevent: seat\ndata: {\"seatId\":\"VIP-1-3\",\"status\":\"HELD\",\"at\":\"2026-03-01T00:00:00Z\"}\n\n: heartbeat\n\nid: 1772323200000043\nevent: seat\ndata: {\"seatId\":\"VIP-1-3\",\"status\":\"SOLD\",\"at\":\"2026-03-01T00:01:10Z\"}\n\n";

#[utoipa::path(get, path = "/api/v1/schedules/{scheduleId}/stream", summary = "Follow a schedule's seat changes (Server-Sent Events)", tag = "live",
    description = "`event: seat` with `data: {seatId, status, at}` (status AVAILABLE, HELD or SOLD) on every durable change of a seat's status, in the schedule's order, `id:` a per-schedule sequence number increasing by one per event; a comment line every 15 s while idle. `Last-Event-ID` (header) or `lastEventId` (query) resumes right after that event; when it is older than the kept events (at least the last 10,000), unreadable, or ahead of the newest, the stream starts with `event: reset` (`data: {reason, lastEventId}`; refetch the seat map). A subscriber that falls behind by more than the kept events gets `event: reset` (reason SLOW_SUBSCRIBER) and the stream ends. On a gated schedule, once the queue token the stream was opened with is no longer ACTIVE (its activeSeconds ran out, or a payment ended it) the stream sends `event: reset` (reason QUEUE_NOT_ACTIVE) within about a second and ends; reconnecting then needs a new ACTIVE token. Numbers restart above the previous ones after a server restart, so an older resume point is reset.",
    params(("scheduleId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12"), SeatStreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "resume right after this event", example = "1772323200000042"),
        ("Queue-Token" = Option<String>, Header, description = "an ACTIVE queue token for this schedule, when it is gated")),
    responses(
        (status = 200, description = "the event stream (no user token needed)", content_type = "text/event-stream", body = String, example = json!(SEAT_EXAMPLE)),
        (status = 403, description = "QUEUE_NOT_ACTIVE: a gated schedule without an ACTIVE queue token for it"),
        (status = 404, description = "NOT_FOUND"),
        (status = 503, description = "UNAVAILABLE: too many streams open (per schedule or in all); not counted against load shedding once open"),
    ),
    security(()))]
pub async fn seat_stream_of(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<SeatStreamQuery>,
) -> ApiResult<HttpResponse> {
    let id = path_id(&path, ScheduleId::parse, "schedule")?;
    let token = queue_token_text(&req).or(query.queue_token.as_deref());
    let pass = token.and_then(|text| state.queue_tokens.verify(text.trim()));
    let (feed, admission) = state
        .engine(state.registry.seat_feed(id, pass.as_ref()))
        .await?;
    let slot = slot(&state)?;
    let subscription = feed
        .subscribe(state.streams.limits().max_per_schedule)
        .ok_or_else(too_many_streams)?;
    let (after, reset) = start_point(&req, &query, |resume| feed.start(resume));
    let gate = admission.map(|pass| (Arc::clone(&state.registry), pass));
    let stream = seat_stream(subscription, slot, after, reset, gate);
    Ok(event_stream().streaming(stream.take_until(state.shutdown.begun())))
}

const QUEUE_EXAMPLE: &str = "retry: 1000\n\nevent: queue\ndata: {\"token\":\"BXQ1.payload.signature\",\"scheduleId\":\"7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12\",\"status\":\"WAITING\",\"position\":42,\"estimatedWaitSeconds\":30,\"expiresAt\":\"2026-03-01T01:00:00Z\",\"pollAfterMs\":2000}\n\nevent: queue\ndata: {\"token\":\"BXQ1.payload.signature\",\"scheduleId\":\"7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12\",\"status\":\"ACTIVE\",\"position\":0,\"estimatedWaitSeconds\":0,\"expiresAt\":\"2026-03-01T00:10:00Z\",\"pollAfterMs\":2000}\n\n";

#[utoipa::path(get, path = "/api/v1/queue/tokens/{token}/stream", summary = "Follow a waiting-room token (Server-Sent Events)", tag = "queue",
    description = "`event: queue`, `data:` the token answer as GET /queue/tokens/current gives it. The first event is the current answer; then one whenever status or position changes, and at least every `pollAfterMs`; the stream ends after ACTIVE is sent (or when the place ends). An open stream counts as polling. The token in the path is the credential: no user token.",
    params(("token" = String, Path, description = "the token POST /queue/tokens gave", example = "BXQ1.payload.signature")),
    responses(
        (status = 200, description = "the event stream", content_type = "text/event-stream", body = String, example = json!(QUEUE_EXAMPLE)),
        (status = 401, description = "QUEUE_TOKEN_INVALID: the token is unknown, forged, expired or ended"),
        (status = 503, description = "UNAVAILABLE: too many streams open"),
    ),
    security(()))]
pub async fn queue_stream_of(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let token = path.into_inner().trim().to_owned();
    let pass = state
        .queue_tokens
        .verify(&token)
        .ok_or(boxoffice_actors::EngineError::QueueTokenInvalid)?;
    let first = state.registry.watch_queue(&pass)?;
    let slot = slot(&state)?;
    let registry = Arc::clone(&state.registry);
    let stream = queue_stream(registry, first, token, slot);
    Ok(event_stream().streaming(stream.take_until(state.shutdown.begun())))
}
