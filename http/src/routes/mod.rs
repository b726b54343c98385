//! The HTTP routes of API.md, one module per resource. Handlers are thin:
//! authenticate, validate, send one `Registry` operation, render the view
//! (bodies are in `crate::views`, the order of checks in `crate::checks`).
//! Each module declares its part of the OpenAPI document next to its
//! `configure` (`route_api!`, below); `crate::openapi` merges the parts.

/// Declares a route module's part of the OpenAPI document: its operations,
/// and the schemas only its query parameters name (utoipa does not collect
/// those on its own). `operations()` gives each operation's own document,
/// which the schema-name test in `openapi.rs` compares across the whole API
/// (one document per operation, because utoipa keeps only one schema of a
/// name within a document and so would hide a collision).
macro_rules! route_api {
    ($(#[$doc:meta])* $api:ident: [$($handler:ident),* $(,)?]) => {
        route_api!($(#[$doc])* $api: [$($handler),*], schemas: []);
    };
    ($(#[$doc:meta])* $api:ident: [$($handler:ident),* $(,)?], schemas: [$($schema:ty),* $(,)?]) => {
        $(#[$doc])*
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($handler),*), components(schemas($($schema),*)))]
        pub struct $api;

        impl $api {
            /// Each operation's document on its own (see `route_api!`).
            pub fn operations() -> Vec<utoipa::openapi::OpenApi> {
                vec![$({
                    #[derive(utoipa::OpenApi)]
                    #[openapi(paths($handler))]
                    struct Operation;
                    <Operation as utoipa::OpenApi>::openapi()
                }),*]
            }
        }
    };
}

pub mod admin;
pub mod auth;
pub mod catalog;
pub mod checkins;
pub mod email;
pub mod events;
pub mod ops;
pub mod payments;
pub mod provider_webhooks;
pub mod queue;
pub mod reservations;
pub mod schedule_admin;
pub mod search;
pub mod streams;
pub mod tickets;
pub mod wallet;
pub mod webhooks;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;

/// A resource whose unmatched methods answer 405 in the API's error shape.
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "method not allowed on this resource",
    ))
}

/// Anything no route matches: 404 in the API's error shape.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if crate::pages::wants_page(&req) {
        return Ok(crate::pages::not_found_page());
    }
    Err(ApiError::not_found(format!("no route for {}", req.path())))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    ops::configure(cfg);
    cfg.service(
        // A scope tries its resources in order, each a string compare or a
        // regex over the path: the rush's requests (holds, payments) come
        // first. No two patterns here match the same path, so the order
        // changes no answer (issue 21's profile: routing a hold past the 20
        // resources before it was ~8% of an HTTP worker's time).
        web::scope("/api/v1")
            .wrap(actix_web::middleware::from_fn(crate::rate_limit::headers))
            .configure(reservations::configure)
            .configure(payments::configure)
            .configure(auth::configure)
            .configure(catalog::configure)
            .configure(search::configure)
            .configure(queue::configure)
            .configure(streams::configure)
            .configure(wallet::configure)
            .configure(tickets::configure)
            .configure(checkins::configure)
            .configure(admin::configure)
            .configure(schedule_admin::configure)
            .configure(events::configure)
            .configure(email::configure)
            .configure(webhooks::configure)
            .configure(provider_webhooks::configure),
    );
}

/// The `Queue-Token` header's text, as sent (trimmed).
pub fn queue_token_text(req: &HttpRequest) -> Option<&str> {
    Some(req.headers().get("queue-token")?.to_str().ok()?.trim())
}

/// The place the `Queue-Token` header proves; anything malformed, forged or
/// altered is simply "no token" (see `queue_tokens`).
pub fn queue_pass(req: &HttpRequest) -> Option<boxoffice_actors::queue_board::QueuePass> {
    let state = req.app_data::<web::Data<crate::state::AppState>>()?;
    state.queue_tokens.verify(queue_token_text(req)?)
}

/// The token id of the `Queue-Token` header, for operations under a
/// waiting room (the schedule actor checks whose and which schedule's it is).
pub fn queue_token(req: &HttpRequest) -> Option<boxoffice_engine::ids::QueueTokenId> {
    queue_pass(req).map(|pass| pass.token)
}
