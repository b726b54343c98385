//! `Allow` on every 405 (RFC 9110 §15.5.6: a 405 must say which methods the
//! resource supports).
//!
//! Each resource answers an unsupported method through
//! `routes::resource`'s default service, which knows nothing about its
//! siblings, so this middleware adds the header afterwards, in one place. The
//! methods come from the OpenAPI document (`openapi::completed_document`):
//! every route the API serves is documented there, and `scripts/fuzz.sh`
//! already holds the server to that document, so the header cannot drift from
//! the routes without the document drifting too. The two routes the document
//! does not describe in actix's shape (the `/docs` redirect, and the docs
//! assets under `/docs/{file}`) are listed in [`UNDOCUMENTED`].

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, ALLOW};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::Error;
use std::collections::HashMap;
use std::sync::OnceLock;

use crate::openapi;

/// Methods in the order they are listed in `Allow`, with their OpenAPI keys.
const METHODS: [(&str, &str); 8] = [
    ("get", "GET"),
    ("head", "HEAD"),
    ("post", "POST"),
    ("put", "PUT"),
    ("patch", "PATCH"),
    ("delete", "DELETE"),
    ("options", "OPTIONS"),
    ("trace", "TRACE"),
];

/// Routes served but not described in the document under their actix pattern.
pub const UNDOCUMENTED: [(&str, &str); 2] = [("/docs", "GET"), ("/docs/{file:.*}", "GET")];

/// A path pattern with every `{parameter}` replaced by `{}`, so actix's
/// `{id}` or `{file:.*}` and the document's `{reservationId}` compare equal.
pub fn normalize(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut depth = 0usize;
    for c in pattern.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str("{}");
                }
                depth += 1;
            }
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Normalized pattern → `Allow` value, built once from the document.
fn table() -> &'static HashMap<String, HeaderValue> {
    static TABLE: OnceLock<HashMap<String, HeaderValue>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let document = openapi::completed_document();
        let mut methods: HashMap<String, Vec<&'static str>> = HashMap::new();
        if let Some(paths) = document["paths"].as_object() {
            for (path, item) in paths {
                let entry = methods.entry(normalize(path)).or_default();
                for (key, name) in METHODS {
                    if item.get(key).is_some() {
                        entry.push(name);
                    }
                }
            }
        }
        for (pattern, name) in UNDOCUMENTED {
            methods.entry(normalize(pattern)).or_default().push(name);
        }
        // Every GET route answers HEAD too (`crate::head`).
        for names in methods.values_mut() {
            if names.contains(&"GET") {
                names.push("HEAD");
            }
        }
        methods
            .into_iter()
            .filter_map(|(pattern, mut names)| {
                names.sort_by_key(|n| METHODS.iter().position(|(_, m)| m == n));
                names.dedup();
                let value = HeaderValue::from_str(&names.join(", ")).ok()?;
                Some((pattern, value))
            })
            .collect()
    })
}

/// The `Allow` value for an actix route pattern, if the route is known.
pub fn allowed(pattern: &str) -> Option<&'static HeaderValue> {
    table().get(&normalize(pattern))
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut response = next.call(req).await?;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        match response
            .request()
            .match_pattern()
            .as_deref()
            .and_then(allowed)
        {
            Some(value) => {
                response.headers_mut().insert(ALLOW, value.clone());
            }
            // A route missing from the document: the fuzzing run would flag
            // it too; say so rather than send a wrong header.
            None => tracing::warn!(
                path = response.request().path(),
                "405 without Allow: route not in the OpenAPI document"
            ),
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_compare_equal_whatever_their_names() {
        assert_eq!(
            normalize("/api/v1/reservations/{id}/cancel"),
            normalize("/api/v1/reservations/{reservationId}/cancel")
        );
        assert_eq!(normalize("/docs/{file:.*}"), "/docs/{}");
        assert_eq!(normalize("/healthz"), "/healthz");
    }

    #[test]
    fn documented_paths_list_their_methods() {
        assert_eq!(
            allowed("/api/v1/reservations").map(|v| v.to_str().unwrap_or("")),
            Some("GET, HEAD, POST")
        );
        assert_eq!(
            allowed("/api/v1/reservations/{id}").map(|v| v.to_str().unwrap_or("")),
            Some("GET, HEAD")
        );
        assert_eq!(
            allowed("/docs").map(|v| v.to_str().unwrap_or("")),
            Some("GET, HEAD")
        );
        assert_eq!(
            allowed("/api/v1/wallet/charges").map(|v| v.to_str().unwrap_or("")),
            Some("POST")
        );
        assert!(allowed("/no/such/route").is_none());
    }
}
