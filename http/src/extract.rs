//! Configuration of actix's built-in extractors so that every way a request
//! can be malformed gets API.md's error shape: oversized bodies 413, a body
//! that is not JSON 415, JSON of the wrong shape or type 400, bad query
//! strings 400. Also the helpers that turn a parsed JSON value into a typed
//! request and a path segment into an id.

use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Largest accepted request body (API.md).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Deepest accepted JSON nesting; serde_json itself stops at 128.
pub const MAX_JSON_DEPTH: usize = 32;

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|err, _req: &HttpRequest| {
            let api = match &err {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => payload_too_large(),
                JsonPayloadError::Payload(PayloadError::Overflow) => payload_too_large(),
                JsonPayloadError::ContentType => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "send a JSON body with Content-Type: application/json",
                ),
                JsonPayloadError::Deserialize(e) => {
                    ApiError::validation(format!("malformed JSON: {e}"))
                }
                _ => ApiError::validation("the request body could not be read"),
            };
            api.into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req: &HttpRequest| {
        let message = match &err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            _ => "invalid query string".to_string(),
        };
        ApiError::validation(message).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| ApiError::not_found("not found").into())
}

pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::default().limit(MAX_BODY_BYTES)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Parses an already-decoded JSON body into the request type (400 on a mismatch).
pub fn typed<T: DeserializeOwned>(body: &Value) -> Result<T, ApiError> {
    if depth(body) > MAX_JSON_DEPTH {
        return Err(ApiError::validation("JSON nested too deeply"));
    }
    if !body.is_object() {
        return Err(ApiError::validation("the body must be a JSON object"));
    }
    T::deserialize(body).map_err(|e| ApiError::validation(e.to_string()))
}

/// An id from the path; anything that is not a well-formed id names nothing: 404.
pub fn path_id<T>(text: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<T, ApiError> {
    parse(text).ok_or_else(|| ApiError::not_found(format!("{what} not found")))
}
