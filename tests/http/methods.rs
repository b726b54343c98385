//! 405 Method Not Allowed carries `Allow` (RFC 9110 §15.5.6), listing exactly
//! the methods the path supports (HEAD wherever GET is): over a few paths of every kind (API
//! collections and items, actions, ops endpoints, the document, the docs
//! redirect), a wrong method gets 405 in the error shape with the expected
//! `Allow`, and every method `Allow` names is indeed not answered 405.

use awc::http::Method;
use test_support::app::*;

/// (path, a method it does not support, the expected `Allow`).
#[rustfmt::skip]
const CASES: [(&str, &str, &str); 10] = [
    ("/api/v1/reservations", "DELETE", "GET, HEAD, POST"),
    ("/api/v1/reservations/00000000-0000-4000-8000-000000000001", "POST", "GET, HEAD"),
    ("/api/v1/reservations/00000000-0000-4000-8000-000000000001/cancel", "GET", "POST"),
    ("/api/v1/wallet/charges", "GET", "POST"),
    ("/api/v1/venues", "PATCH", "GET, HEAD, POST"),
    ("/api/v1/admin/users/00000000-0000-4000-8000-000000000001/role", "GET", "PUT"),
    ("/healthz", "POST", "GET, HEAD"),
    ("/metrics", "PUT", "GET, HEAD"),
    ("/api/v1/openapi.json", "POST", "GET, HEAD"),
    ("/docs", "DELETE", "GET, HEAD"),
];

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("a method name")
}

#[actix_rt::test]
async fn every_405_names_the_methods_the_path_supports() {
    let app = spawn_app().await;
    let (_, token) = app.register_and_login("methods").await;
    for (path, wrong, allow) in CASES {
        let reply = app.raw(method(wrong), path, Some(&token), &[], None).await;
        reply.expect_case(&format!("{wrong} {path}"), 405, "METHOD_NOT_ALLOWED");
        assert_eq!(
            reply.header("allow").as_deref(),
            Some(allow),
            "{wrong} {path}"
        );
        // The header is true: no method it names is refused as not allowed.
        for allowed in allow.split(", ") {
            let body =
                (!matches!(allowed, "GET" | "HEAD")).then(|| ("application/json", b"{}".to_vec()));
            let reply = app
                .raw(method(allowed), path, Some(&token), &[], body)
                .await;
            assert_ne!(
                reply.status.as_u16(),
                405,
                "{allowed} {path} is in Allow but refused: {}",
                reply.text
            );
        }
    }
}

#[actix_rt::test]
async fn answers_other_than_405_carry_no_allow() {
    let app = spawn_app().await;
    let reply = app.get("/healthz", None).await;
    reply.expect(200, "");
    assert_eq!(reply.header("allow"), None);
    let reply = app.get("/api/v1/no-such-thing", None).await;
    reply.expect(404, "NOT_FOUND");
    assert_eq!(reply.header("allow"), None);
}
