//! The HTTP routes of API.md, one module per resource. Handlers are thin:
//! authenticate, validate, call one engine operation, render the view.

pub mod auth;
pub mod catalog;
pub mod checkins;
pub mod ops;
pub mod payments;
pub mod queue;
pub mod reservations;
pub mod tickets;
pub mod wallet;

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
    Err(ApiError::not_found(format!("no route for {}", req.path())))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    ops::configure(cfg);
    cfg.service(
        web::scope("/api/v1")
            .configure(auth::configure)
            .configure(catalog::configure)
            .configure(queue::configure)
            .configure(reservations::configure)
            .configure(wallet::configure)
            .configure(payments::configure)
            .configure(tickets::configure)
            .configure(checkins::configure),
    );
}

/// The `Queue-Token` header as a token id; anything malformed is simply "no token".
pub fn queue_token(req: &HttpRequest) -> Option<boxoffice_engine::ids::QueueTokenId> {
    let value = req.headers().get("queue-token")?.to_str().ok()?;
    boxoffice_engine::ids::QueueTokenId::parse(value.trim())
}
