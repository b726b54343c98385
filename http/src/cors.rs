//! CORS: lets a front end served from another origin call the API with
//! bearer tokens, for the origins the operator lists (`--cors-origin`,
//! repeatable; `BOXOFFICE_CORS_ORIGINS`, comma-separated). Off by default:
//! with no origin listed the middleware is not installed and no answer
//! carries a CORS header, so browsers keep other origins out.
//!
//! Built on `actix-cors`. A request from an origin not listed gets no CORS
//! header (the browser then hides the answer); a preflight that
//! `actix-cors` refuses (origin, method or header not allowed) is answered
//! in the API's error shape by [`error_shape`] instead of its bare text:
//! 403 FORBIDDEN for an origin, 400 VALIDATION_ERROR otherwise.
//!
//! Tokens travel in `Authorization`, not cookies, so no credentials mode is
//! needed (`Access-Control-Allow-Credentials` is not sent).

use actix_cors::{Cors, CorsError};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Condition, Next};
use actix_web::ResponseError;

use crate::error::ApiError;

/// Request headers a front end may send besides the simple ones.
pub const ALLOWED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "queue-token",
    "last-event-id",
];
/// Response headers a front end may read besides the simple ones.
pub const EXPOSED_HEADERS: [&str; 7] = [
    "x-request-id",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
    "x-queue-position",
    "location",
];
/// How long a browser may cache a preflight answer: 10 minutes.
pub const PREFLIGHT_MAX_AGE_SECS: usize = 600;

/// `Ok` for an origin as browsers send it: `http(s)://host[:port]`, nothing after.
pub fn validate_origin(origin: &str) -> Result<(), String> {
    let refused = || {
        format!("--cors-origin: {origin:?} is not an origin (scheme://host[:port], no path, not *)")
    };
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(refused)?;
    let plain = !rest.is_empty()
        && !rest
            .chars()
            .any(|c| matches!(c, '/' | '?' | '#' | '*' | '@') || c.is_whitespace());
    if plain && origin.parse::<actix_web::http::Uri>().is_ok() {
        Ok(())
    } else {
        Err(refused())
    }
}

/// The CORS middleware for these (validated) origins; not installed when
/// there are none.
pub fn middleware(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers(ALLOWED_HEADERS)
        .expose_headers(EXPOSED_HEADERS)
        .max_age(PREFLIGHT_MAX_AGE_SECS);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    Condition::new(!origins.is_empty(), cors)
}

/// Answers `actix-cors`'s refusals in the API's error shape (see the module doc).
pub async fn error_shape(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    let refusal = res
        .response()
        .error()
        .and_then(|e| e.as_error::<CorsError>())
        .map(|e| match e {
            CorsError::OriginNotAllowed => ApiError::forbidden("this origin may not call the API"),
            other => ApiError::validation(format!("CORS preflight refused: {other}")),
        });
    Ok(match refusal {
        Some(err) => {
            let (req, _) = res.into_parts();
            ServiceResponse::new(req, err.error_response()).map_into_right_body()
        }
        None => res.map_into_left_body(),
    })
}
