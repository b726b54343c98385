//! Configuration of actix's built-in extractors so that every way a request
//! can be malformed gets API.md's error shape: oversized bodies 413, a body
//! that is not JSON 415, JSON of the wrong shape or type 400, bad query
//! strings 400. Also the helpers that turn a parsed JSON value into a typed
//! request and a path segment into an id.
//!
//! [`JsonBody`] reads a body without judging it yet: API.md checks 401, 403
//! and 404 before the body, so a handler looks at the body (and answers
//! 400/413/415 for it) only after those. It also refuses duplicate keys, which
//! `serde_json::Value` would silently resolve to the last one: two parsers
//! reading `{"role": "USER", "role": "ADMIN"}` differently is how checks get
//! bypassed, so the request is ambiguous and answered 400.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use std::fmt;

use crate::error::ApiError;

/// Largest accepted request body (API.md).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a request body may take to arrive once its headers are in.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
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

/// Parses an already-decoded JSON body into the request type (400 on a
/// mismatch, naming any field `T` does not know: see [`name_unknown_fields`]).
pub fn typed<T: DeserializeOwned>(body: &Value) -> Result<T, ApiError> {
    if depth(body) > MAX_JSON_DEPTH {
        return Err(ApiError::validation("JSON nested too deeply"));
    }
    if !body.is_object() {
        return Err(ApiError::validation("the body must be a JSON object"));
    }
    T::deserialize(body)
        .map_err(|e| name_unknown_fields::<T>(ApiError::validation(e.to_string()), body))
}

/// The JSON names of the fields a derived `Deserialize` struct reads: serde's
/// derive hands them to `deserialize_struct`, which this deserializer records
/// before refusing. Empty for anything that is not such a struct.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Introspect<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Introspect<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("introspection only"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("introspection only"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Introspect(&mut fields));
    fields
}

/// Adds to a 400 VALIDATION_ERROR the body's top-level fields `T` does not
/// read (a typo such as `quantiy` or `seatIDs` is the usual cause), with the
/// fields it does read. Unknown fields alone are never an error (API.md:
/// clients may be newer than the server); they are only named when the body
/// is refused anyway. Other errors pass unchanged.
pub fn name_unknown_fields<T: DeserializeOwned>(err: ApiError, body: &Value) -> ApiError {
    let known = field_names::<T>();
    let Some(object) = body.as_object() else {
        return err;
    };
    if err.code != "VALIDATION_ERROR" || known.is_empty() {
        return err;
    }
    let unknown: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|key| !known.contains(key))
        .collect();
    if unknown.is_empty() {
        return err;
    }
    let message = format!(
        "{}; unknown field{} {} (this body's fields are {})",
        err.message,
        if unknown.len() == 1 { "" } else { "s" },
        unknown
            .iter()
            .map(|f| format!("{f:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        known.join(", ")
    );
    ApiError { message, ..err }.with_details(serde_json::json!({ "unknownFields": unknown }))
}

/// An id from the path; anything that is not a well-formed id names nothing: 404.
pub fn path_id<T>(text: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<T, ApiError> {
    parse(text).ok_or_else(|| ApiError::not_found(format!("{what} not found")))
}

/// A JSON value parsed like `serde_json::Value`, except that an object with a
/// key twice is an error instead of keeping the last value.
struct StrictJson(Value);

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot spell NaN or infinity, so this is always a number.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        StrictJson::deserialize(deserializer).map(|v| v.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictJson(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let StrictJson(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A request body read as JSON, to be judged by the handler at the right
/// moment (after authentication, permission and existence checks) with
/// [`JsonBody::parse`]. Extracting it never fails.
pub struct JsonBody(Result<Value, ApiError>);

impl JsonBody {
    /// The body as parsed JSON (for a request digest), or why it could not be read.
    pub fn value(&self) -> Result<&Value, ApiError> {
        self.0.as_ref().map_err(Clone::clone)
    }

    /// The body as `T`: 413/415 when it could not be read as JSON, 400 when
    /// it is malformed, ambiguous (duplicate keys), too deep, not an object,
    /// or of the wrong shape.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        match &self.0 {
            Ok(value) => typed(value),
            Err(err) => Err(err.clone()),
        }
    }

    /// A refusal of the body parsed as `T` by a later check, with the
    /// body's unknown fields named (see [`name_unknown_fields`]).
    pub fn explain<T: DeserializeOwned>(&self, err: ApiError) -> ApiError {
        match &self.0 {
            Ok(value) => name_unknown_fields::<T>(err, value),
            Err(_) => err,
        }
    }
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // `web::Json` brings the content-type check, the size limit and the
        // error mapping of `json_config`; its errors are `ApiError`s inside.
        let json = web::Json::<StrictJson>::from_request(req, payload);
        Box::pin(async move {
            // A client that announces a body and stalls must not hold a
            // connection (and a worker's attention) forever.
            let read = match actix_web::rt::time::timeout(BODY_READ_TIMEOUT, json).await {
                Ok(read) => read,
                Err(_) => {
                    return Ok(JsonBody(Err(ApiError::new(
                        actix_web::http::StatusCode::REQUEST_TIMEOUT,
                        "REQUEST_TIMEOUT",
                        "the request body did not arrive in time",
                    ))))
                }
            };
            Ok(JsonBody(match read {
                Ok(body) => Ok(body.into_inner().0),
                Err(err) => Err(err
                    .as_error::<ApiError>()
                    .cloned()
                    .unwrap_or_else(|| ApiError::validation("the request body could not be read"))),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(text: &str) -> Result<Value, serde_json::Error> {
        serde_json::from_str::<StrictJson>(text).map(|v| v.0)
    }

    #[test]
    fn strict_json_parses_like_value_but_refuses_duplicate_keys() {
        let text =
            r#"{"a": [1, -2, 3.5, true, null, "x"], "b": {"c": {}}, "d": 18446744073709551615}"#;
        assert_eq!(
            strict(text).expect("valid"),
            serde_json::from_str::<Value>(text).expect("valid")
        );
        assert!(strict(r#"{"a": 1, "a": 2}"#).is_err());
        assert!(strict(r#"{"x": [{"a": 1, "b": 2, "a": 1}]}"#).is_err());
        assert!(strict(r#"{"a": {"b": 1}, "c": {"b": 1}}"#).is_ok());
        assert!(strict(&format!("{}{}", "[".repeat(1_000), "]".repeat(1_000))).is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Probe {
        schedule_id: String,
        seat_ids: Option<Vec<String>>,
    }

    #[test]
    fn unknown_fields_are_named_only_when_the_body_is_refused() {
        assert_eq!(field_names::<Probe>(), &["scheduleId", "seatIds"]);
        assert!(field_names::<Value>().is_empty());
        // Extra fields in an otherwise valid body are ignored.
        let fine = serde_json::json!({"scheduleId": "s", "extra": 1});
        assert!(typed::<Probe>(&fine).is_ok());
        // A refused body names the unknown ones and the known ones.
        let typo = serde_json::json!({"seatIDs": ["A-1-1"]});
        let err = typed::<Probe>(&typo).expect_err("scheduleId is missing");
        assert!(
            err.message.contains("missing field `scheduleId`"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("unknown field \"seatIDs\""),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("scheduleId, seatIds"),
            "{}",
            err.message
        );
        assert_eq!(
            err.details,
            serde_json::json!({"unknownFields": ["seatIDs"]})
        );
        // Only validation errors are explained.
        let other = ApiError::not_found("x");
        assert_eq!(name_unknown_fields::<Probe>(other, &typo).message, "x");
    }
}
