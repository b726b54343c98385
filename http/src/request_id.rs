//! `X-Request-Id`: taken from the request when it is a sane token, otherwise
//! generated; echoed on every response, put in every error body, and attached
//! to the request's tracing span. Also the access log: one line per request
//! (method, path, status, duration, request id) at `info`, target
//! `boxoffice::access`.
//!
//! The id travels in a task-local so that [`crate::error::ApiError`] can put it
//! in the body wherever the error is built (a handler, an extractor's error
//! handler, the default 404 service), without threading it through every call.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Instrument;

use crate::state::AppState;

pub const HEADER: &str = "x-request-id";
const MAX_LEN: usize = 128;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id ("" outside a request).
pub fn current() -> String {
    REQUEST_ID.try_with(|id| id.clone()).unwrap_or_default()
}

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A fresh id from the app's injected random source. Only an app built
/// without `AppState` (middleware unit tests) has none: a counter serves.
fn generate(req: &ServiceRequest) -> String {
    let bytes: [u8; 16] = match req.app_data::<web::Data<AppState>>() {
        Some(state) => state.ids.bytes(),
        None => {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            let mut bytes = [0u8; 16];
            bytes[8..].copy_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes());
            bytes
        }
    };
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| generate(&req));
    // The access log's target, so `RUST_LOG=boxoffice::access=info` shows
    // just the access lines (with the span's id, method and path).
    let span = tracing::info_span!(target: "boxoffice::access", "request", request_id = %id, method = %req.method(), path = %req.path());
    let header = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    let started = std::time::Instant::now();
    let logged = span.clone();
    let mut response = REQUEST_ID
        .scope(id, next.call(req).instrument(span))
        .await?;
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    logged.in_scope(|| {
        // The access log: one line per request at info, inside the span that
        // names its id, method and path; server errors at warn. When the
        // level is off this is one cached callsite check.
        let duration_ms = micros as f64 / 1_000.0;
        if status >= 500 {
            tracing::warn!(target: "boxoffice::access", status, duration_ms, "request failed");
        } else {
            tracing::info!(target: "boxoffice::access", status, duration_ms, "request");
        }
    });
    response
        .headers_mut()
        .insert(HeaderName::from_static(HEADER), header);
    Ok(response)
}
