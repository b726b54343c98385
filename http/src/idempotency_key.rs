//! The `Idempotency-Key` header and the request digest it is paired with.
//!
//! Bodies are compared as parsed JSON, not bytes (API.md): the digest is a
//! SHA-256 of a canonical rendering with object keys sorted, so whitespace and
//! key order do not make "another body".

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest};
use boxoffice_actors::idempotency::{Endpoint, IdemKey, IdemTag, RequestDigest, MAX_KEY_LEN};
use boxoffice_engine::ids::UserId;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::future::{ready, Ready};

use crate::error::ApiError;

pub const HEADER: &str = "idempotency-key";

/// A present, well-formed `Idempotency-Key`.
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    pub fn tag(&self, user: UserId, endpoint: Endpoint, body: &Value) -> IdemTag {
        IdemTag {
            key: IdemKey {
                user,
                endpoint,
                key: self.0.clone(),
            },
            digest: digest(body),
        }
    }
}

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let outcome = match req.headers().get(HEADER) {
            None => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "IDEMPOTENCY_KEY_REQUIRED",
                "the Idempotency-Key header is required",
            )),
            Some(value) => match value.to_str() {
                Ok(key)
                    if !key.is_empty()
                        && key.len() <= MAX_KEY_LEN
                        && key.bytes().all(|b| b.is_ascii_graphic()) =>
                {
                    Ok(IdempotencyKey(key.to_string()))
                }
                _ => Err(ApiError::validation(format!(
                    "Idempotency-Key must be 1-{MAX_KEY_LEN} visible ASCII characters"
                ))),
            },
        };
        ready(outcome)
    }
}

/// SHA-256 of the canonical JSON rendering (object keys sorted at every level).
pub fn digest(body: &Value) -> RequestDigest {
    let mut hasher = Sha256::new();
    write_canonical(body, &mut hasher);
    RequestDigest(hasher.finalize().into())
}

fn write_canonical(value: &Value, out: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.update(b"{");
            for key in keys {
                write_json(key.as_str(), out);
                out.update(b":");
                write_canonical(&map[key], out);
                out.update(b",");
            }
            out.update(b"}");
        }
        Value::Array(items) => {
            out.update(b"[");
            for item in items {
                write_canonical(item, out);
                out.update(b",");
            }
            out.update(b"]");
        }
        other => write_json(other, out),
    }
}

/// Feeds `value`'s compact JSON (what `Value::to_string` renders, byte for
/// byte: digests are stored with their keys, so the rendering must never
/// change) straight into the hasher, without building a `String` first.
fn write_json<T: serde::Serialize + ?Sized>(value: &T, out: &mut Sha256) {
    struct Feed<'a>(&'a mut Sha256);
    impl std::io::Write for Feed<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // Neither can fail: a `str` or a parsed JSON scalar always serializes,
    // and the hasher takes any bytes.
    let _ = serde_json::to_writer(Feed(out), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_change_the_digest_but_values_do() {
        let a: Value = serde_json::from_str(r#"{"scheduleId":"x","seatIds":["A-1-1","A-1-2"]}"#)
            .expect("json");
        let b: Value =
            serde_json::from_str(r#"{ "seatIds": ["A-1-1", "A-1-2"], "scheduleId": "x" }"#)
                .expect("json");
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(
            digest(&a),
            digest(&json!({"scheduleId": "x", "seatIds": ["A-1-2", "A-1-1"]}))
        );
        assert_ne!(
            digest(&json!({"amount": 1})),
            digest(&json!({"amount": "1"}))
        );
    }

    /// The rendering before the allocation-free one: digests of keys stored
    /// by older builds must still match the same body.
    fn digest_as_before(body: &Value) -> RequestDigest {
        fn write(value: &Value, out: &mut Sha256) {
            match value {
                Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    out.update(b"{");
                    for key in keys {
                        out.update(Value::String(key.clone()).to_string().as_bytes());
                        out.update(b":");
                        write(&map[key], out);
                        out.update(b",");
                    }
                    out.update(b"}");
                }
                Value::Array(items) => {
                    out.update(b"[");
                    for item in items {
                        write(item, out);
                        out.update(b",");
                    }
                    out.update(b"]");
                }
                other => out.update(other.to_string().as_bytes()),
            }
        }
        let mut hasher = Sha256::new();
        write(body, &mut hasher);
        RequestDigest(hasher.finalize().into())
    }

    #[test]
    fn digests_are_the_same_as_older_builds_computed() {
        for body in [
            json!({"scheduleId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "quantity": 2, "grade": "VIP"}),
            json!({"scheduleId": "x", "seatIds": ["A-1-1", "A-1-2"]}),
            json!({"amount": 18446744073709551615u64, "neg": -3, "f": 1.5, "e": 1e300, "t": true, "n": null}),
            json!({"esc\"aped\n\u{1}\u{7f}": "tab\t quote\" slash\\ é 日本 \u{1F600}", "nested": {"z": [{"b": 1, "a": [[]]}], "a": {}}}),
            json!([1, "two", [3], {"four": 4}]),
            json!("just a string"),
        ] {
            assert_eq!(digest(&body), digest_as_before(&body), "{body}");
        }
    }
}
