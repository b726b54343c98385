//! The errors a newcomer met (issue 12), each answered in the contract's
//! shape with a message that names the field, the limit or the known
//! values, and nothing stored changed by a refusal; and HEAD on GET routes.

use awc::http::Method;
use serde_json::json;
use test_support::app::*;

#[actix_rt::test]
async fn a_typo_in_a_body_field_is_named() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let (_, token) = app.register_and_login("typo").await;
    for (field, value) in [("quantiy", json!(2)), ("seatIDs", json!(["VIP-1-1"]))] {
        let reply = app
            .post_keyed(
                "/api/v1/reservations",
                &token,
                json!({ "scheduleId": schedule, field: value }),
            )
            .await;
        reply.expect_case(field, 400, "VALIDATION_ERROR");
        let message = reply.body["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(&format!("unknown field {field:?}"))
                && message.contains("seatIds")
                && message.contains("quantity"),
            "{field}: {message}"
        );
        assert_eq!(
            reply.body["error"]["details"]["unknownFields"],
            json!([field])
        );
    }
    // Nothing was held by the refusals.
    let held = app.get("/api/v1/reservations", Some(&token)).await;
    held.expect(200, "");
    assert_eq!(held.body["total"], json!(0));
    // An extra field in an otherwise valid body is ignored (API.md), not refused.
    let reply = app
        .post_keyed(
            "/api/v1/reservations",
            &token,
            json!({ "scheduleId": schedule, "quantity": 1, "clientVersion": "9.9" }),
        )
        .await;
    reply.expect(201, "");
    // A typed body (register) names the typo beside the missing field.
    let reply = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "emial": "typo@example.com", "password": USER_PASSWORD, "name": "Typo" }),
        )
        .await;
    reply.expect(400, "VALIDATION_ERROR");
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("email") && message.contains("unknown field \"emial\""),
        "{message}"
    );
}

#[actix_rt::test]
async fn a_charge_over_the_per_charge_maximum_states_the_limit() {
    let app = spawn_app().await;
    let (_, token) = app.register_and_login("big-charge").await;
    let max = boxoffice_engine::wallet::DEFAULT_MAX_CHARGE.0;
    let reply = app
        .post_keyed(
            "/api/v1/wallet/charges",
            &token,
            json!({ "amount": max + 1 }),
        )
        .await;
    reply.expect(400, "INVALID_AMOUNT");
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains(&format!("maximum of {max}")) && message.contains(&(max + 1).to_string()),
        "{message}"
    );
    let wallet = app.get("/api/v1/wallet", Some(&token)).await;
    wallet.expect(200, "");
    assert_eq!(wallet.body["balance"], json!(0), "nothing was charged");
    // The maximum itself is accepted.
    let reply = app
        .post_keyed("/api/v1/wallet/charges", &token, json!({ "amount": max }))
        .await;
    reply.expect(201, "");
    assert_eq!(reply.body["balance"], json!(max));
}

#[actix_rt::test]
async fn bad_paging_names_the_parameter_and_the_rule() {
    let app = spawn_app().await;
    let (_, token) = app.register_and_login("paging").await;
    for (path, needle) in [
        (
            "/api/v1/venues?page=-1",
            "page must be a whole number, at least 1 (got \"-1\")",
        ),
        (
            "/api/v1/concerts?page=0",
            "page must be a whole number, at least 1 (got \"0\")",
        ),
        (
            "/api/v1/tickets?pageSize=1000",
            "pageSize must be a whole number from 1 to 100 (got \"1000\")",
        ),
        (
            "/api/v1/wallet/transactions?pageSize=abc",
            "pageSize must be a whole number from 1 to 100 (got \"abc\")",
        ),
    ] {
        let reply = app.get(path, Some(&token)).await;
        reply.expect_case(path, 400, "VALIDATION_ERROR");
        assert_eq!(reply.body["error"]["message"], json!(needle), "{path}");
    }
    let reply = app.get("/api/v1/venues?page=1&pageSize=100", None).await;
    reply.expect(200, "");
    assert_eq!(reply.body["pageSize"], json!(100));
}

#[actix_rt::test]
async fn an_unknown_section_names_the_known_ones() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let path = |section: &str| format!("/api/v1/schedules/{schedule}/seats?section={section}");
    for section in ["vip", "Z", ""] {
        let reply = app.get(&path(section), None).await;
        reply.expect_case(section, 400, "VALIDATION_ERROR");
        let message = reply.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("VIP, R, S"), "{section}: {message}");
        assert_eq!(
            reply.body["error"]["details"]["knownSections"],
            json!(["VIP", "R", "S"])
        );
    }
    let reply = app.get(&path("vip"), None).await;
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("case sensitive") && message.contains("\"VIP\""),
        "{message}"
    );
    // A known section is served, alone.
    let reply = app.get(&path("VIP"), None).await;
    reply.expect(200, "");
    assert_eq!(reply.body["sections"].as_array().map(Vec::len), Some(1));
    assert_eq!(reply.body["sections"][0]["sectionId"], json!("VIP"));
    // An unknown schedule is still 404 first.
    let reply = app
        .get(
            "/api/v1/schedules/00000000-0000-4000-8000-000000000001/seats?section=vip",
            None,
        )
        .await;
    reply.expect(404, "NOT_FOUND");
}

#[actix_rt::test]
async fn head_answers_like_get_without_the_body() {
    let app = spawn_app().await;
    let (_, token) = app.register_and_login("head").await;
    for (path, auth) in [
        ("/api/v1/concerts", None),
        ("/healthz", None),
        ("/api/v1/openapi.json", None),
        ("/api/v1/wallet", Some(token.as_str())),
    ] {
        let get = app.get(path, auth).await;
        get.expect(200, "");
        let head = app.raw(Method::HEAD, path, auth, &[], None).await;
        head.expect_case(path, 200, "");
        assert!(head.text.is_empty(), "{path}: HEAD sent a body");
        assert_eq!(
            head.header("content-type"),
            get.header("content-type"),
            "{path}"
        );
        assert_eq!(
            head.header("content-length"),
            Some(get.text.len().to_string()),
            "{path}: the GET's length"
        );
    }
    // HEAD is judged like GET: a token is still needed, a path still must exist.
    let reply = app
        .raw(Method::HEAD, "/api/v1/wallet", None, &[], None)
        .await;
    assert_eq!(reply.status.as_u16(), 401);
    assert!(reply.header("x-request-id").is_some());
    let reply = app
        .raw(Method::HEAD, "/api/v1/no-such-thing", None, &[], None)
        .await;
    assert_eq!(reply.status.as_u16(), 404);
    // A path without GET has no HEAD either: 405 naming what it has.
    let reply = app
        .raw(
            Method::HEAD,
            "/api/v1/wallet/charges",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(reply.status.as_u16(), 405);
    assert_eq!(reply.header("allow").as_deref(), Some("POST"));
}
