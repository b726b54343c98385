//! Black-box tests of accounts, tokens, the catalogue and the cross-cutting
//! HTTP behaviour (errors, request ids, body limits, ops endpoints, OpenAPI),
//! through real HTTP against the real server (see `test_support::app`).
//!
//! Every bad request checks the documented status and error code, and where
//! the request could have changed something, that nothing was stored.

use awc::http::Method;
use boxoffice_actors::{IdSource, Role};
use boxoffice_engine::ids::UserId;
use boxoffice_http::auth::{JwtKeys, TokenKind};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use test_support::app::*;

// ---------------------------------------------------------------- helpers

const PASSWORD: &str = USER_PASSWORD;
const JSON: &str = "application/json";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding (JWT's encoding).
fn b64url_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn b64url_decode(text: &str) -> Vec<u8> {
    let values: Vec<u32> = text
        .bytes()
        .map(|c| B64URL.iter().position(|b| *b == c).expect("base64url") as u32)
        .collect();
    let mut out = Vec::new();
    for chunk in values.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | (v << (18 - 6 * i)));
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// The claims of a JWT, decoded without checking anything (the sessions
/// tests read them too).
pub(crate) fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&b64url_decode(payload)).expect("claims JSON")
}

/// The same token with its role claim changed and its signature kept.
fn with_role_claim(token: &str, role: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut claims = claims_of(token);
    claims["role"] = json!(role);
    let payload = b64url_encode(claims.to_string().as_bytes());
    format!("{}.{}.{}", parts[0], payload, parts[2])
}

/// An unsigned token (`alg: none`) with otherwise valid claims.
fn alg_none_token(user: &str, role: &str, now_secs: i64) -> String {
    let header = b64url_encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = json!({
        "sub": user, "role": role, "typ": "access",
        "iat": now_secs, "exp": now_secs + 3_600, "jti": "0123456789abcdef",
    });
    format!("{header}.{}.", b64url_encode(claims.to_string().as_bytes()))
}

async fn register(app: &TestApp, email: &str, password: &str, name: &str) -> Reply {
    app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": email, "password": password, "name": name}),
    )
    .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

/// A fresh unique email.
fn email(app: &TestApp, name: &str) -> String {
    format!("{}@test.boxoffice", app.unique(name))
}

/// Registers and logs in; returns the login reply's body.
async fn signed_up(app: &TestApp, name: &str) -> Value {
    let address = email(app, name);
    register(app, &address, PASSWORD, name)
        .await
        .expect(201, "");
    let reply = login(app, &address, PASSWORD).await;
    reply.expect(200, "");
    reply.body
}

/// A well-formed id (a UUID) that names nothing.
fn unknown_id() -> String {
    UserId::from_random_bytes([0x42; 16]).to_string()
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {value}"))
}

/// Sends `body` as raw bytes with a content type ("" for none).
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    app.raw(method, path, token, &[], Some((content_type, body)))
        .await
}

/// POSTs `body` as application/json bytes.
async fn post_bytes(app: &TestApp, path: &str, token: Option<&str>, body: &[u8]) -> Reply {
    send_raw(app, Method::POST, path, token, JSON, body.to_vec()).await
}

async fn send_with_auth_header(app: &TestApp, method: Method, path: &str, header: &str) -> Reply {
    let body = (method != Method::GET).then(|| ("application/json", b"{}".to_vec()));
    app.raw(method, path, None, &[("Authorization", header)], body)
        .await
}

fn venue_json(name: &str, sections: Value) -> Value {
    json!({"name": name, "address": "1 Test Street", "sections": sections})
}

/// VIP (2 × 5), R (2 × 10), S (3 × 10): 60 seats.
fn standard_sections() -> Value {
    json!([
        {"sectionId": "VIP", "name": "VIP", "rows": [{"row": "1", "seats": 5}, {"row": "2", "seats": 5}]},
        {"sectionId": "R", "name": "R", "rows": [{"row": "1", "seats": 10}, {"row": "2", "seats": 10}]},
        {"sectionId": "S", "name": "S", "rows": [{"row": "1", "seats": 10}, {"row": "2", "seats": 10}, {"row": "3", "seats": 10}]},
    ])
}

async fn make_venue(app: &TestApp, admin: &str, name: &str, sections: Value) -> String {
    let reply = app
        .post("/api/v1/venues", Some(admin), venue_json(name, sections))
        .await;
    reply.expect(201, "");
    str_of(&reply.body, "venueId").to_string()
}

fn schedule_json(starts_at: &str) -> Value {
    json!({
        "startsAt": starts_at, "endsAt": "2026-12-31T23:00:00Z",
        "bookingOpensAt": "2026-02-01T00:00:00Z", "bookingClosesAt": "2026-03-31T00:00:00Z",
    })
}

/// A valid concert body on the standard sections.
fn concert_json(venue: &str) -> Value {
    json!({
        "title": "Valid Concert", "description": "A valid concert", "category": "ROCK", "venueId": venue,
        "priceGrades": [
            {"grade": "VIP", "price": 150000, "sectionIds": ["VIP"]},
            {"grade": "R", "price": 100000, "sectionIds": ["R"]},
            {"grade": "S", "price": 50000, "sectionIds": ["S"]},
        ],
        "schedules": [schedule_json("2026-04-01T10:00:00Z")],
    })
}

async fn concert_total(app: &TestApp) -> u64 {
    let list = app.get("/api/v1/concerts", None).await;
    list.expect(200, "");
    list.body["total"].as_u64().expect("total")
}

async fn venue_total(app: &TestApp) -> u64 {
    let list = app.get("/api/v1/venues", None).await;
    list.expect(200, "");
    list.body["total"].as_u64().expect("total")
}

fn titles(list: &Reply) -> Vec<String> {
    list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| str_of(i, "title").to_string())
        .collect()
}

/// Each `/api/v1/concerts?query` lists the titles given, in that order, and counts them.
async fn lists_titles(app: &TestApp, cases: &[(&str, Vec<&str>)]) {
    for (query, expected) in cases {
        let reply = app.get(&format!("/api/v1/concerts?{query}"), None).await;
        reply.expect_case(query, 200, "");
        assert_eq!(titles(&reply), *expected, "{query}");
        assert_eq!(reply.body["total"], expected.len(), "{query}");
    }
}

/// Each `path?query` is refused with 400 VALIDATION_ERROR.
async fn refuses_queries(app: &TestApp, path: &str, queries: &[&str]) {
    for query in queries {
        let reply = app.get(&format!("{path}?{query}"), None).await;
        reply.expect_case(query, 400, "VALIDATION_ERROR");
    }
}

/// GET `template` with `{}` replaced by each id (unknown or malformed) is 404.
async fn not_found(app: &TestApp, template: &str, ids: &[&str]) {
    for id in ids {
        let path = template.replace("{}", id);
        app.get(&path, None)
            .await
            .expect_case(&path, 404, "NOT_FOUND");
    }
}

/// A copy of `body` with the field at `pointer` (a JSON pointer) set to
/// `value`, or removed where `value` is None.
fn edited(body: &Value, pointer: &str, value: Option<Value>) -> Value {
    let mut out = body.clone();
    let (parent, last) = pointer.rsplit_once('/').expect("a JSON pointer");
    let mut target = &mut out;
    for step in parent.split('/').skip(1) {
        target = match step.parse::<usize>() {
            Ok(index) => &mut target[index],
            Err(_) => &mut target[step],
        };
    }
    match value {
        Some(value) => target[last] = value,
        None => {
            target.as_object_mut().expect("an object").remove(last);
        }
    }
    out
}

// ---------------------------------------------------------------- register

#[actix_rt::test]
async fn register_answers_201_with_the_user_and_ignores_unknown_fields() {
    let app = spawn_app().await;
    let address = email(&app, "fan");
    let reply = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": address, "password": PASSWORD, "name": "Fan", "phoneNumber": "+82 10-1234-5678", "favouriteBand": "x", "role": "ADMIN"}),
        )
        .await;
    reply.expect(201, "");
    let user = &reply.body;
    assert!(UserId::parse(str_of(user, "userId")).is_some(), "{user}");
    assert_eq!(user["email"], address.as_str());
    assert_eq!(user["name"], "Fan");
    assert_eq!(user["role"], "USER", "a client cannot choose its role");
    assert_eq!(user["phoneNumber"], "+82 10-1234-5678");
    assert_eq!(user["createdAt"], "2026-03-01T00:00:00Z");
    assert!(user.get("password").is_none() && user.get("passwordHash").is_none());
    assert!(user.get("favouriteBand").is_none());

    // phoneNumber is optional.
    let other = register(&app, &email(&app, "nophone"), PASSWORD, "No Phone").await;
    other.expect(201, "");
    assert!(other.body["phoneNumber"].is_null());
    assert_ne!(other.body["userId"], user["userId"]);
    app.stop().await;
}

#[actix_rt::test]
async fn register_rejects_invalid_input_with_400_and_stores_nothing() {
    let app = spawn_app().await;
    let address = email(&app, "bad");
    let long_password = "p".repeat(129);
    let cases = [
        json!({"email": "not-an-email", "password": PASSWORD, "name": "N"}),
        json!({"email": "no-domain@", "password": PASSWORD, "name": "N"}),
        json!({"email": "@no-local.com", "password": PASSWORD, "name": "N"}),
        json!({"email": "a b@c.com", "password": PASSWORD, "name": "N"}),
        json!({"email": "", "password": PASSWORD, "name": "N"}),
        json!({"email": address, "password": "short", "name": "N"}),
        json!({"email": address, "password": "", "name": "N"}),
        json!({"email": address, "password": long_password, "name": "N"}),
        json!({"email": address, "password": PASSWORD}),
        json!({"email": address, "password": PASSWORD, "name": ""}),
        json!({"email": address, "password": PASSWORD, "name": "   "}),
        json!({"email": address, "password": PASSWORD, "name": null}),
        json!({"password": PASSWORD, "name": "N"}),
        json!({"email": address, "name": "N"}),
        json!({"email": 42, "password": PASSWORD, "name": "N"}),
        json!({"email": address, "password": 12345678, "name": "N"}),
        json!({"email": address, "password": PASSWORD, "name": ["N"]}),
        json!({"email": address, "password": PASSWORD, "name": "N", "phoneNumber": 1234}),
        json!({"email": address, "password": PASSWORD, "name": "N", "phoneNumber": "call me"}),
        json!({"email": address, "password": PASSWORD, "name": "N", "phoneNumber": ""}),
        json!({"email": address, "password": PASSWORD, "name": "invoice\u{202E}fdp.exe"}),
        json!({"email": address, "password": PASSWORD, "name": "\u{2067}Ann"}),
        json!([address, PASSWORD, "N"]),
        json!("just a string"),
        json!(null),
        json!({}),
    ];
    for body in cases {
        let reply = app.post("/api/v1/auth/register", None, body.clone()).await;
        reply.expect_case(&body.to_string(), 400, "VALIDATION_ERROR");
    }
    // None of them created the account: it can still be registered once.
    login(&app, &address, PASSWORD)
        .await
        .expect(401, "INVALID_CREDENTIALS");
    register(&app, &address, PASSWORD, "Finally")
        .await
        .expect(201, "");
    app.stop().await;
}

#[actix_rt::test]
async fn register_refuses_a_taken_email_case_insensitively_and_keeps_the_first_account() {
    let app = spawn_app().await;
    let first = register(&app, "Dup.User@Test.Boxoffice", PASSWORD, "First").await;
    first.expect(201, "");
    for variant in [
        "Dup.User@Test.Boxoffice",
        "dup.user@test.boxoffice",
        "DUP.USER@TEST.BOXOFFICE",
        "  dup.user@test.boxoffice  ",
    ] {
        register(&app, variant, "other-password-9", "Second")
            .await
            .expect_case(variant, 409, "EMAIL_TAKEN");
    }
    // The first account is unchanged: its password and name still stand.
    login(&app, "dup.user@test.boxoffice", "other-password-9")
        .await
        .expect(401, "INVALID_CREDENTIALS");
    let reply = login(&app, "DUP.user@test.boxoffice", PASSWORD).await;
    reply.expect(200, "");
    assert_eq!(reply.body["user"]["name"], "First");
    assert_eq!(reply.body["user"]["userId"], first.body["userId"]);
    // The configured admin's email is taken too.
    register(&app, &ADMIN_EMAIL.to_uppercase(), PASSWORD, "Impostor")
        .await
        .expect(409, "EMAIL_TAKEN");

    // Racing registrations of one new email: exactly one wins, the rest are 409.
    let racing = email(&app, "race");
    let attempts = (0..6).map(|i| {
        let address = if i % 2 == 0 {
            racing.clone()
        } else {
            racing.to_uppercase()
        };
        let app = &app;
        async move { register(app, &address, PASSWORD, "Racer").await }
    });
    let replies = futures_util::future::join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status.as_u16() == 201).count();
    assert_eq!(created, 1, "exactly one registration wins");
    for reply in replies.iter().filter(|r| r.status.as_u16() != 201) {
        reply.expect(409, "EMAIL_TAKEN");
    }
    app.stop().await;
}

// ---------------------------------------------------------------- login

#[actix_rt::test]
async fn login_answers_tokens_with_bearer_type_expiry_and_the_user() {
    let app = spawn_app().await;
    let address = email(&app, "fan");
    let registered = register(&app, &address, PASSWORD, "Fan").await;
    registered.expect(201, "");
    let reply = login(&app, &address.to_uppercase(), PASSWORD).await;
    reply.expect(200, "");
    let body = &reply.body;
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 3600);
    assert_eq!(body["user"], registered.body, "user is the registered User");
    let access = str_of(body, "accessToken");
    let refresh = str_of(body, "refreshToken");
    assert_ne!(access, refresh);
    assert_eq!(access.split('.').count(), 3, "a JWT");
    let claims = claims_of(access);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        3600
    );
    // The access token works.
    let me = app.get("/api/v1/auth/me", Some(access)).await;
    me.expect(200, "");
    assert_eq!(me.body, registered.body);
    app.stop().await;
}

#[actix_rt::test]
async fn login_expiry_follows_the_configured_access_ttl() {
    let app = spawn_app_with(|s| s.access_token_ttl = Duration::from_secs(600)).await;
    let body = signed_up(&app, "fan").await;
    assert_eq!(body["expiresIn"], 600);
    let access = str_of(&body, "accessToken").to_string();
    app.clock.advance_ms(599_000);
    app.get("/api/v1/auth/me", Some(&access))
        .await
        .expect(200, "");
    app.clock.advance_ms(1_000);
    app.get("/api/v1/auth/me", Some(&access))
        .await
        .expect(401, "UNAUTHORIZED");
    app.stop().await;
}

#[actix_rt::test]
async fn login_with_a_wrong_password_or_unknown_email_is_401_invalid_credentials() {
    let app = spawn_app().await;
    let address = email(&app, "fan");
    register(&app, &address, PASSWORD, "Fan")
        .await
        .expect(201, "");
    let wrong = login(&app, &address, "wrong-password").await;
    wrong.expect(401, "INVALID_CREDENTIALS");
    let unknown = login(&app, "nobody@test.boxoffice", PASSWORD).await;
    unknown.expect(401, "INVALID_CREDENTIALS");
    assert_eq!(
        wrong.body["error"]["message"], unknown.body["error"]["message"],
        "a wrong password and an unknown email must be indistinguishable"
    );
    assert!(wrong.body.get("accessToken").is_none());
    // Bad bodies are 400, not 401.
    for body in [
        json!({"email": address}),
        json!({"password": PASSWORD}),
        json!({"email": address, "password": 12345678}),
        json!({"email": ["x"], "password": PASSWORD}),
        json!([address, PASSWORD]),
    ] {
        let reply = app.post("/api/v1/auth/login", None, body.clone()).await;
        reply.expect_case(&body.to_string(), 400, "VALIDATION_ERROR");
    }
    // Extra fields are ignored.
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": address, "password": PASSWORD, "rememberMe": true}),
    )
    .await
    .expect(200, "");
    app.stop().await;
}

#[actix_rt::test]
async fn login_is_throttled_per_account_and_address_after_ten_failures_while_others_log_in() {
    let app = spawn_app().await;
    let victim = email(&app, "victim");
    let bystander = email(&app, "bystander");
    register(&app, &victim, PASSWORD, "Victim")
        .await
        .expect(201, "");
    register(&app, &bystander, PASSWORD, "Bystander")
        .await
        .expect(201, "");
    for attempt in 0..10 {
        // Case variants count against the same account.
        let address = if attempt % 2 == 0 {
            victim.clone()
        } else {
            victim.to_uppercase()
        };
        login(&app, &address, "wrong-password")
            .await
            .expect(401, "INVALID_CREDENTIALS");
        app.clock.advance_ms(1_000);
    }
    let limited = login(&app, &victim, "wrong-password").await;
    limited.expect(429, "RATE_LIMITED");
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (1..=15 * 60).contains(&retry_after),
        "retry after {retry_after}"
    );
    // Even the right password is refused from this address (the owner's
    // other addresses are not: see abuse.rs).
    login(&app, &victim, PASSWORD)
        .await
        .expect(429, "RATE_LIMITED");
    // Another account, from the same client, still logs in.
    login(&app, &bystander, PASSWORD).await.expect(200, "");
    // Once the failures leave the 15-minute window, the right password works.
    app.clock.advance_ms(15 * 60 * 1_000);
    login(&app, &victim, PASSWORD).await.expect(200, "");
    app.stop().await;
}

#[actix_rt::test]
async fn a_burst_of_concurrent_guesses_gets_no_more_than_ten_verified() {
    let app = spawn_app().await;
    let victim = email(&app, "victim");
    register(&app, &victim, PASSWORD, "Victim")
        .await
        .expect(201, "");
    let bystander = signed_up(&app, "bystander").await;
    let attempts = (0..40).map(|_| {
        let app = &app;
        let victim = victim.clone();
        async move { login(app, &victim, "wrong-password").await }
    });
    let replies = futures_util::future::join_all(attempts).await;
    let verified = replies.iter().filter(|r| r.status.as_u16() == 401).count();
    assert_eq!(verified, 10, "only ten guesses may be checked per window");
    for reply in replies.iter().filter(|r| r.status.as_u16() != 401) {
        reply.expect(429, "RATE_LIMITED");
    }
    login(&app, &victim, PASSWORD)
        .await
        .expect(429, "RATE_LIMITED");
    login(&app, str_of(&bystander["user"], "email"), PASSWORD)
        .await
        .expect(200, "");
    app.stop().await;
}

// ---------------------------------------------------------------- refresh and me

#[actix_rt::test]
async fn refresh_issues_new_tokens_and_refuses_every_other_token() {
    let app = spawn_app().await;
    let session = signed_up(&app, "fan").await;
    let access = str_of(&session, "accessToken").to_string();
    let refresh = str_of(&session, "refreshToken").to_string();

    app.clock.advance_ms(10_000);
    let renewed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refreshToken": refresh, "extra": 1}),
        )
        .await;
    renewed.expect(200, "");
    assert_eq!(renewed.body["tokenType"], "Bearer");
    assert_eq!(renewed.body["expiresIn"], 3600);
    assert_eq!(renewed.body["user"], session["user"]);
    let new_access = str_of(&renewed.body, "accessToken");
    assert_ne!(new_access, access);
    assert!(renewed.body["refreshToken"].is_string());
    app.get("/api/v1/auth/me", Some(new_access))
        .await
        .expect(200, "");

    // A refresh token is not an access token, and the other way round.
    app.get("/api/v1/auth/me", Some(&refresh))
        .await
        .expect(401, "UNAUTHORIZED");
    let refresh_with = |body: Value| app.post("/api/v1/auth/refresh", None, body);
    for (what, token) in [
        ("an access token", access.clone()),
        ("empty", String::new()),
        ("garbage", "garbage".into()),
        ("three dots", "a.b.c".into()),
        ("an empty claim set", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA".into()),
        // Role raised, signature kept.
        ("tampered", with_role_claim(&refresh, "ADMIN")),
    ] {
        let reply = refresh_with(json!({"refreshToken": token})).await;
        reply.expect_case(what, 401, "UNAUTHORIZED");
    }
    for (what, body) in [
        ("empty", json!({})),
        ("a number", json!({"refreshToken": 5})),
    ] {
        let reply = refresh_with(body).await;
        reply.expect_case(what, 400, "VALIDATION_ERROR");
    }
    // A refresh token past its 14 days is refused.
    app.clock.advance_ms(14 * 24 * 3_600 * 1_000);
    refresh_with(json!({"refreshToken": refresh}))
        .await
        .expect(401, "UNAUTHORIZED");
    app.stop().await;
}

#[actix_rt::test]
async fn me_returns_the_caller_and_needs_a_token() {
    let app = spawn_app().await;
    let session = signed_up(&app, "fan").await;
    let me = app
        .get("/api/v1/auth/me", Some(str_of(&session, "accessToken")))
        .await;
    me.expect(200, "");
    assert_eq!(me.body, session["user"]);
    let admin = app.admin_token().await;
    let me = app.get("/api/v1/auth/me", Some(&admin)).await;
    me.expect(200, "");
    assert_eq!(me.body["role"], "ADMIN");
    assert_eq!(me.body["email"], ADMIN_EMAIL);
    app.get("/api/v1/auth/me", None)
        .await
        .expect(401, "UNAUTHORIZED");
    // A valid signature over a user that does not exist is not a caller.
    let ghost = app.token_for(UserId::from_random_bytes([9; 16]), Role::User);
    app.get("/api/v1/auth/me", Some(&ghost))
        .await
        .expect(401, "UNAUTHORIZED");
    app.stop().await;
}

// ---------------------------------------------------------------- roles

#[actix_rt::test]
async fn role_changes_are_admin_only_and_checked_in_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let target = signed_up(&app, "target").await;
    let target_id = str_of(&target["user"], "userId").to_string();
    let path = format!("/api/v1/admin/users/{target_id}/role");
    let user = signed_up(&app, "user").await;
    let user_token = str_of(&user, "accessToken").to_string();
    let staff = app.account_token(Role::Staff).await.1;

    let (staff_role, admin_role) = (json!({"role": "STAFF"}), json!({"role": "ADMIN"}));
    let bytes = |body: &Value| body.to_string().into_bytes();
    let not_json = b"{not json".to_vec();
    let put = |path: &str, token: Option<&str>, body: Vec<u8>| {
        let (path, token) = (path.to_string(), token.map(str::to_string));
        let app = &app;
        async move { send_raw(app, Method::PUT, &path, token.as_deref(), JSON, body).await }
    };
    put(&path, None, bytes(&staff_role))
        .await
        .expect(401, "UNAUTHORIZED");
    // 403 comes before the body is looked at.
    for (what, token, body) in [
        ("a USER", &user_token, bytes(&admin_role)),
        ("a STAFF", &staff, bytes(&admin_role)),
        ("a USER, not JSON", &user_token, not_json.clone()),
    ] {
        let reply = put(&path, Some(token), body).await;
        reply.expect_case(what, 403, "FORBIDDEN");
    }
    // Unknown or malformed user ids are 404, also before the body.
    let unknown = format!(
        "/api/v1/admin/users/{}/role",
        UserId::from_random_bytes([5; 16])
    );
    let malformed = "/api/v1/admin/users/not-a-user-id/role";
    for (what, path, body) in [
        ("unknown user", unknown.as_str(), bytes(&staff_role)),
        ("unknown user, not JSON", &unknown, not_json),
        ("malformed id", malformed, bytes(&staff_role)),
    ] {
        let reply = put(path, Some(&admin), body).await;
        reply.expect_case(what, 404, "NOT_FOUND");
    }
    // Bad roles.
    for body in [
        json!({"role": "SUPERUSER"}),
        json!({"role": "staff"}),
        json!({"role": ""}),
        json!({"role": 1}),
        json!({"role": null}),
        json!({}),
    ] {
        let reply = app.put(&path, Some(&admin), body.clone()).await;
        reply.expect_case(&body.to_string(), 400, "VALIDATION_ERROR");
    }
    // Nothing changed.
    let me = app
        .get("/api/v1/auth/me", Some(str_of(&target, "accessToken")))
        .await;
    me.expect(200, "");
    assert_eq!(me.body["role"], "USER");
    app.stop().await;
}

#[actix_rt::test]
async fn a_new_role_takes_effect_on_the_next_refresh_or_login() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let address = email(&app, "promoted");
    register(&app, &address, PASSWORD, "Promoted")
        .await
        .expect(201, "");
    let session = login(&app, &address, PASSWORD).await;
    session.expect(200, "");
    let user_id = str_of(&session.body["user"], "userId").to_string();
    let old_access = str_of(&session.body, "accessToken").to_string();
    let refresh = str_of(&session.body, "refreshToken").to_string();
    let venue = venue_json("Promoted Hall", standard_sections());

    app.post("/api/v1/venues", Some(&old_access), venue.clone())
        .await
        .expect(403, "FORBIDDEN");
    let changed = app
        .put(
            &format!("/api/v1/admin/users/{user_id}/role"),
            Some(&admin),
            json!({"role": "ADMIN", "reason": "ignored"}),
        )
        .await;
    changed.expect(200, "");
    assert_eq!(changed.body["role"], "ADMIN");
    assert_eq!(changed.body["userId"], user_id.as_str());
    assert_eq!(changed.body["email"], session.body["user"]["email"]);
    // /me reads the account as it is now.
    let me = app.get("/api/v1/auth/me", Some(&old_access)).await;
    me.expect(200, "");
    assert_eq!(me.body["role"], "ADMIN");

    let renewed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refreshToken": refresh}),
        )
        .await;
    renewed.expect(200, "");
    assert_eq!(renewed.body["user"]["role"], "ADMIN");
    app.post(
        "/api/v1/venues",
        Some(str_of(&renewed.body, "accessToken")),
        venue.clone(),
    )
    .await
    .expect(201, "");

    // Demoted again: the next login carries USER.
    app.put(
        &format!("/api/v1/admin/users/{user_id}/role"),
        Some(&admin),
        json!({"role": "STAFF"}),
    )
    .await
    .expect(200, "");
    let again = login(&app, &address, PASSWORD).await;
    again.expect(200, "");
    assert_eq!(again.body["user"]["role"], "STAFF");
    assert_eq!(
        claims_of(str_of(&again.body, "accessToken"))["role"],
        "STAFF"
    );
    app.post(
        "/api/v1/venues",
        Some(str_of(&again.body, "accessToken")),
        venue,
    )
    .await
    .expect(403, "FORBIDDEN");
    app.stop().await;
}

// ---------------------------------------------------------------- bad tokens

#[actix_rt::test]
async fn missing_malformed_expired_tampered_foreign_and_unsigned_tokens_are_401() {
    let app = spawn_app().await;
    let admin_login = login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    admin_login.expect(200, "");
    let admin_id = str_of(&admin_login.body["user"], "userId").to_string();
    let user = signed_up(&app, "fan").await;
    let user_id = str_of(&user["user"], "userId").to_string();
    let user_token = str_of(&user, "accessToken").to_string();
    let now_secs = START.0 / 1_000;

    let tampered = with_role_claim(&user_token, "ADMIN");
    let foreign = JwtKeys::new(
        b"another-secret-0123456789abcdef",
        3_600,
        3_600,
        Arc::new(IdSource::seeded(10)),
    )
    .issue(
        UserId::parse(&admin_id).expect("id"),
        Role::Admin,
        TokenKind::Access,
        START,
    )
    .expect("token");
    let unsigned = alg_none_token(&admin_id, "ADMIN", now_secs);
    let unsigned_no_dot = unsigned.trim_end_matches('.').to_string();
    let refresh_as_access = str_of(&user, "refreshToken").to_string();
    let bad_tokens = [
        tampered,
        foreign,
        unsigned,
        unsigned_no_dot,
        refresh_as_access,
        "not-a-jwt".to_string(),
        "a.b.c".to_string(),
    ];

    let venue = venue_json("Nope Hall", standard_sections());
    let (_, schedule) = {
        let admin = str_of(&admin_login.body, "accessToken");
        let queue = json!({"enabled": true, "batchSize": 10, "intervalMs": 100, "maxActive": 100, "activeSeconds": 600});
        app.create_concert(admin, Some(queue), 300).await
    };
    let role_path = format!("/api/v1/admin/users/{user_id}/role");
    let gated_map = format!("/api/v1/schedules/{schedule}/seats");
    let concerts_before = concert_total(&app).await;
    let venues_before = venue_total(&app).await;

    // (method, path, body) for endpoints that need a user.
    #[rustfmt::skip]
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/auth/me".into(), None),
        (Method::POST, "/api/v1/venues".into(), Some(venue.clone())),
        (Method::POST, "/api/v1/concerts".into(), Some(json!({}))),
        (Method::PUT, role_path.clone(), Some(json!({"role": "ADMIN"}))),
        (Method::GET, gated_map.clone(), None),
    ];
    for (method, path, body) in &endpoints {
        let send = |token: Option<String>| {
            let body = body
                .as_ref()
                .map(|b| ("application/json", b.to_string().into_bytes()));
            let method = method.clone();
            let path = path.clone();
            let app = &app;
            async move { app.raw(method, &path, token.as_deref(), &[], body).await }
        };
        send(None).await.expect(401, "UNAUTHORIZED");
        for token in &bad_tokens {
            let reply = send(Some(token.clone())).await;
            reply.expect_case(
                &format!("{method} {path} with {token}"),
                401,
                "UNAUTHORIZED",
            );
        }
        for header in [
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            user_token.as_str(),
            "Token abc",
        ] {
            let reply = send_with_auth_header(&app, method.clone(), path, header).await;
            reply.expect_case(
                &format!("{path} with header {header:?}"),
                401,
                "UNAUTHORIZED",
            );
        }
    }

    // Expired: one second past the access TTL, everywhere.
    app.clock.advance_ms(3_600 * 1_000);
    for (method, path, body) in &endpoints {
        let body = body
            .as_ref()
            .map(|b| ("application/json", b.to_string().into_bytes()));
        app.raw(method.clone(), path, Some(&user_token), &[], body)
            .await
            .expect_case(&format!("{method} {path}, expired"), 401, "UNAUTHORIZED");
    }

    // Nothing was created or changed by any of it.
    assert_eq!(concert_total(&app).await, concerts_before);
    assert_eq!(venue_total(&app).await, venues_before);
    let relogin = login(&app, str_of(&user["user"], "email"), PASSWORD).await;
    relogin.expect(200, "");
    assert_eq!(relogin.body["user"]["role"], "USER");
    app.stop().await;
}

// ---------------------------------------------------------------- venues

#[actix_rt::test]
async fn venues_are_admin_only_and_checked_before_the_body() {
    let app = spawn_app().await;
    let user = signed_up(&app, "fan").await;
    let user_token = str_of(&user, "accessToken").to_string();
    let staff = app.account_token(Role::Staff).await.1;
    let venue = venue_json("Hall", standard_sections())
        .to_string()
        .into_bytes();
    let venues = "/api/v1/venues";
    post_bytes(&app, venues, None, &venue)
        .await
        .expect(401, "UNAUTHORIZED");
    for (what, token) in [("a USER", &user_token), ("a STAFF", &staff)] {
        let reply = post_bytes(&app, venues, Some(token), &venue).await;
        reply.expect_case(what, 403, "FORBIDDEN");
    }
    // A USER's broken body is still 403, and no token is still 401.
    for (what, bytes) in [
        ("not JSON", &b"{not json"[..]),
        ("an array", b"[]"),
        ("a wrong type", b"{\"name\": 5}"),
    ] {
        let reply = post_bytes(&app, venues, Some(&user_token), bytes).await;
        reply.expect_case(what, 403, "FORBIDDEN");
        let reply = post_bytes(&app, venues, None, bytes).await;
        reply.expect_case(what, 401, "UNAUTHORIZED");
    }
    assert_eq!(venue_total(&app).await, 0);
    app.stop().await;
}

#[actix_rt::test]
async fn venue_validation_refuses_bad_layouts_with_400() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let section = |id: &str, rows: Value| json!({"sectionId": id, "name": "Section", "rows": rows});
    let row = |r: &str, n: i64| json!({"row": r, "seats": n});
    let cases = [
        venue_json("Hall", json!([])),
        venue_json("Hall", json!([section("A-B", json!([row("1", 5)]))])),
        venue_json("Hall", json!([section("", json!([row("1", 5)]))])),
        venue_json("Hall", json!([section("A B", json!([row("1", 5)]))])),
        venue_json(
            "Hall",
            json!([
                section("A", json!([row("1", 5)])),
                section("A", json!([row("1", 5)]))
            ]),
        ),
        venue_json("Hall", json!([section("A", json!([row("1", 0)]))])),
        venue_json("Hall", json!([section("A", json!([row("1", -1)]))])),
        venue_json("Hall", json!([section("A", json!([row("1-2", 5)]))])),
        venue_json(
            "Hall",
            json!([section("A", json!([row("1", 5), row("1", 5)]))]),
        ),
        venue_json("Hall", json!([section("A", json!([]))])),
        venue_json(
            "Hall",
            json!([section("A", json!([{"row": "1", "seats": "5"}]))]),
        ),
        venue_json(
            "Hall",
            json!([section("A", json!([{"row": 1, "seats": 5}]))]),
        ),
        venue_json(
            "Hall",
            json!([section("A", json!([row("1", 5_000_000_000)]))]),
        ),
        venue_json("", standard_sections()),
        venue_json("Hall", json!("VIP")),
        json!({"name": "Hall", "sections": standard_sections()}),
        json!({"address": "1 Street", "sections": standard_sections()}),
        json!({"name": "Hall", "address": "1 Street"}),
        json!({"name": "Hall", "address": "line one\nline two", "sections": standard_sections()}),
    ];
    for body in cases {
        let reply = app.post("/api/v1/venues", Some(&admin), body.clone()).await;
        reply.expect_case(&body.to_string(), 400, "VALIDATION_ERROR");
    }
    assert_eq!(venue_total(&app).await, 0, "no bad venue was stored");
    app.stop().await;
}

#[actix_rt::test]
async fn a_created_venue_has_capacity_and_its_seat_ids_are_listed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let reply = app
        .post(
            "/api/v1/venues",
            Some(&admin),
            json!({"name": "Olympic Hall", "address": "424 Olympic-ro, Seoul", "sections": standard_sections(), "parking": true}),
        )
        .await;
    reply.expect(201, "");
    let created = &reply.body;
    let venue_id = str_of(created, "venueId").to_string();
    assert_eq!(created["capacity"], 60);
    assert_eq!(created["name"], "Olympic Hall");
    assert_eq!(created["address"], "424 Olympic-ro, Seoul");

    let got = app.get(&format!("/api/v1/venues/{venue_id}"), None).await;
    got.expect(200, "");
    assert_eq!(&got.body, created, "GET returns what POST returned");
    let sections = got.body["sections"].as_array().expect("sections");
    let ids: Vec<&str> = sections.iter().map(|s| str_of(s, "sectionId")).collect();
    assert_eq!(ids, ["VIP", "R", "S"], "best first, as given");
    assert_eq!(
        sections[0]["rows"][1]["seatIds"],
        json!(["VIP-2-1", "VIP-2-2", "VIP-2-3", "VIP-2-4", "VIP-2-5"])
    );
    let all_seats: usize = sections
        .iter()
        .flat_map(|s| s["rows"].as_array().expect("rows"))
        .map(|r| r["seatIds"].as_array().expect("seatIds").len())
        .sum();
    assert_eq!(all_seats, 60);

    // The list, paged.
    make_venue(&app, &admin, "Second Hall", standard_sections()).await;
    let list = app.get("/api/v1/venues?pageSize=1&page=2", None).await;
    list.expect(200, "");
    assert_eq!(list.body["total"], 2);
    assert_eq!(list.body["page"], 2);
    assert_eq!(list.body["pageSize"], 1);
    assert_eq!(list.body["items"][0]["name"], "Second Hall");
    refuses_queries(&app, "/api/v1/venues", &["pageSize=101"]).await;

    // Unknown and malformed ids name nothing.
    not_found(&app, "/api/v1/venues/{}", &[&unknown_id(), "not-a-venue"]).await;
    app.stop().await;
}

// ---------------------------------------------------------------- concerts

#[actix_rt::test]
async fn concerts_are_admin_only_and_an_unknown_venue_is_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue = make_venue(&app, &admin, "Hall", standard_sections()).await;
    let user = signed_up(&app, "fan").await;
    let user_token = str_of(&user, "accessToken").to_string();
    let staff = app.account_token(Role::Staff).await.1;
    let body = concert_json(&venue);
    let (concerts, bytes) = ("/api/v1/concerts", body.to_string().into_bytes());
    post_bytes(&app, concerts, None, &bytes)
        .await
        .expect(401, "UNAUTHORIZED");
    for (what, token, bytes) in [
        ("a USER", &user_token, bytes.as_slice()),
        ("a STAFF", &staff, &bytes),
        ("a USER, malformed", &user_token, b"{"),
    ] {
        let reply = post_bytes(&app, concerts, Some(token), bytes).await;
        reply.expect_case(what, 403, "FORBIDDEN");
    }

    let unknown = edited(&body, "/venueId", Some(json!(unknown_id())));
    #[rustfmt::skip]
    let cases = [
        ("unknown venue", unknown.clone()),
        // 404 for the venue comes before the rest of the body is judged.
        ("unknown venue, bad body", edited(&unknown, "/maxSeatsPerUser", Some(json!(0)))),
        ("malformed venue id", edited(&body, "/venueId", Some(json!("venue-that-is-not-an-id")))),
    ];
    for (what, body) in cases {
        let reply = app.post(concerts, Some(&admin), body).await;
        reply.expect_case(what, 404, "NOT_FOUND");
    }
    assert_eq!(concert_total(&app).await, 0);
    app.stop().await;
}

#[actix_rt::test]
async fn concert_validation_refuses_bad_bodies_with_400_and_stores_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue = make_venue(&app, &admin, "Hall", standard_sections()).await;
    let valid = concert_json(&venue);
    let good_queue = json!({"enabled": true, "batchSize": 10, "intervalMs": 1000, "maxActive": 100, "activeSeconds": 600});
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = valid.clone();
        edit(&mut body);
        body
    };
    let s0 = "/schedules/0";
    // (what, field as a JSON pointer, bad value; None: the field left out)
    #[rustfmt::skip]
    let fields = [
        ("startsAt not a time", format!("{s0}/startsAt"), Some(json!("tomorrow"))),
        ("date only", format!("{s0}/startsAt"), Some(json!("2026-04-01"))),
        ("time as number", format!("{s0}/startsAt"), Some(json!(1_775_037_600))),
        ("endsAt before startsAt", format!("{s0}/endsAt"), Some(json!("2026-04-01T09:00:00Z"))),
        ("endsAt equals startsAt", format!("{s0}/endsAt"), Some(json!("2026-04-01T10:00:00Z"))),
        ("opens after closes", format!("{s0}/bookingOpensAt"), Some(json!("2026-03-31T00:00:01Z"))),
        ("missing bookingClosesAt", format!("{s0}/bookingClosesAt"), None),
        ("no schedules", "/schedules".into(), Some(json!([]))),
        ("maxSeatsPerUser 0", "/maxSeatsPerUser".into(), Some(json!(0))),
        ("maxSeatsPerUser 21", "/maxSeatsPerUser".into(), Some(json!(21))),
        ("maxSeatsPerUser -1", "/maxSeatsPerUser".into(), Some(json!(-1))),
        ("maxSeatsPerUser text", "/maxSeatsPerUser".into(), Some(json!("4"))),
        ("holdSeconds 0", "/holdSeconds".into(), Some(json!(0))),
        ("holdSeconds 3601", "/holdSeconds".into(), Some(json!(3601))),
        ("section in two grades", "/priceGrades/1/sectionIds".into(), Some(json!(["R", "VIP"]))),
        ("unknown section", "/priceGrades/2/sectionIds".into(), Some(json!(["S", "BALCONY"]))),
        ("grade without sections", "/priceGrades/2/sectionIds".into(), Some(json!([]))),
        ("duplicate grade", "/priceGrades/2/grade".into(), Some(json!("VIP"))),
        ("negative price", "/priceGrades/0/price".into(), Some(json!(-1))),
        ("float price", "/priceGrades/0/price".into(), Some(json!(150000.5))),
        ("no grades", "/priceGrades".into(), Some(json!([]))),
        ("empty title", "/title".into(), Some(json!(""))),
        ("missing title", "/title".into(), None),
        ("missing category", "/category".into(), None),
        ("venueId a number", "/venueId".into(), Some(json!(7))),
    ];
    let mut cases: Vec<(String, Value)> = fields
        .into_iter()
        .map(|(what, pointer, value)| (what.to_string(), edited(&valid, &pointer, value)))
        .collect();
    for (field, value) in [
        ("batchSize", json!(0)),
        ("batchSize", json!(10_001)),
        ("intervalMs", json!(99)),
        ("intervalMs", json!(60_001)),
        ("maxActive", json!(0)),
        ("maxActive", json!(1_000_001)),
        ("activeSeconds", json!(9)),
        ("activeSeconds", json!(3_601)),
        ("enabled", json!("yes")),
    ] {
        let what = format!("queue {field} {value}");
        let queue = edited(&good_queue, &format!("/{field}"), Some(value));
        let concert = edited(&valid, "/queue", Some(queue.clone()));
        cases.push((format!("concert {what}"), concert));
        let schedule = edited(&valid, &format!("{s0}/queue"), Some(queue));
        cases.push((format!("schedule {what}"), schedule));
    }
    let missing_field = edited(&good_queue, "/batchSize", None);
    cases.push((
        "queue missing batchSize".into(),
        edited(&valid, "/queue", Some(missing_field)),
    ));
    cases.push((
        "queue not an object".into(),
        edited(&valid, "/queue", Some(json!(true))),
    ));

    for (what, body) in cases {
        let reply = app
            .post("/api/v1/concerts", Some(&admin), body.clone())
            .await;
        reply.expect_case(&format!("{what}: {body}"), 400, "VALIDATION_ERROR");
    }
    assert_eq!(concert_total(&app).await, 0, "no bad concert was stored");

    // The limits themselves are accepted.
    for (seats, hold) in [(1, 1), (20, 3600)] {
        let body = with(&|b| {
            b["maxSeatsPerUser"] = json!(seats);
            b["holdSeconds"] = json!(hold);
            b["queue"] = json!({"enabled": true, "batchSize": 10_000, "intervalMs": 60_000, "maxActive": 1_000_000, "activeSeconds": 3_600});
            b["schedules"][0]["queue"] = json!({"enabled": true, "batchSize": 1, "intervalMs": 100, "maxActive": 1, "activeSeconds": 10});
        });
        let reply = app.post("/api/v1/concerts", Some(&admin), body).await;
        reply.expect(201, "");
        assert_eq!(reply.body["maxSeatsPerUser"], seats);
        assert_eq!(reply.body["holdSeconds"], hold);
    }
    assert_eq!(concert_total(&app).await, 2);
    app.stop().await;
}

#[actix_rt::test]
async fn a_created_concert_answers_201_with_the_body_get_returns() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue = make_venue(&app, &admin, "Seoul Arena", standard_sections()).await;
    let mut body = concert_json(&venue);
    body["title"] = json!("Spring Tour");
    body["schedules"] = json!([
        schedule_json("2026-04-01T10:00:00Z"),
        {
            "startsAt": "2026-04-02T19:00:00+09:00", "endsAt": "2026-04-02T22:00:00+09:00",
            "bookingOpensAt": "2026-02-01T00:00:00Z", "bookingClosesAt": "2026-04-01T00:00:00Z",
            "queue": {"enabled": true, "batchSize": 5, "intervalMs": 500, "maxActive": 50, "activeSeconds": 300},
        },
    ]);
    body["unknownField"] = json!({"nested": true});
    let reply = app.post("/api/v1/concerts", Some(&admin), body).await;
    reply.expect(201, "");
    let created = &reply.body;
    let concert_id = str_of(created, "concertId").to_string();
    assert_eq!(created["title"], "Spring Tour");
    assert_eq!(created["description"], "A valid concert");
    assert_eq!(created["category"], "ROCK");
    assert_eq!(created["venueId"], venue.as_str());
    assert_eq!(created["venueName"], "Seoul Arena");
    assert_eq!(created["maxSeatsPerUser"], 4, "default");
    assert_eq!(created["holdSeconds"], 300, "default");
    assert_eq!(
        created["priceGrades"],
        json!([
            {"grade": "VIP", "price": 150000, "sectionIds": ["VIP"]},
            {"grade": "R", "price": 100000, "sectionIds": ["R"]},
            {"grade": "S", "price": 50000, "sectionIds": ["S"]},
        ])
    );
    let schedules = created["schedules"].as_array().expect("schedules");
    assert_eq!(schedules.len(), 2);
    assert_ne!(schedules[0]["scheduleId"], schedules[1]["scheduleId"]);
    for s in schedules {
        assert!(s["scheduleId"].is_string());
        assert_eq!(s["totalSeats"], 60);
        assert_eq!(s["availableSeats"], 60);
    }
    assert_eq!(schedules[0]["startsAt"], "2026-04-01T10:00:00Z");
    assert_eq!(
        schedules[1]["startsAt"], "2026-04-02T10:00:00Z",
        "normalized to UTC"
    );
    assert_eq!(schedules[1]["queue"]["batchSize"], 5);

    let got = app
        .get(&format!("/api/v1/concerts/{concert_id}"), None)
        .await;
    got.expect(200, "");
    assert_eq!(&got.body, created, "201 body equals GET body");
    // Every schedule id names a schedule.
    for s in schedules {
        app.get(
            &format!("/api/v1/schedules/{}/seats", str_of(s, "scheduleId")),
            Some(&admin),
        )
        .await
        .status
        .as_u16()
        .ne(&404)
        .then_some(())
        .expect("schedule exists");
    }
    not_found(&app, "/api/v1/concerts/{}", &[&unknown_id(), "nope"]).await;
    app.stop().await;
}

// ---------------------------------------------------------------- concert lists

/// Three concerts, created a second apart (A, B, C):
/// A ROCK "Spring Rock Night" at Harbor Arena, 2026-05-01, from 30,000;
/// B JAZZ "Blue Note Evening" at Cellar Club, 2026-04-01, from 10,000;
/// C ROCK "Summer Festival" at Harbor Arena, 2026-06-01, from 20,000.
/// On a new server; returns it and the (concertId, scheduleId) of each.
async fn three_concerts() -> (TestApp, Vec<(String, String)>) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let harbor = make_venue(&app, &admin, "Harbor Arena", standard_sections()).await;
    let cellar = make_venue(&app, &admin, "Cellar Club", standard_sections()).await;
    #[rustfmt::skip]
    let specs = [
        ("Spring Rock Night", "Loud guitars all night", "ROCK", &harbor, "2026-05-01", 30_000),
        ("Blue Note Evening", "Smooth saxophone", "JAZZ", &cellar, "2026-04-01", 10_000),
        ("Summer Festival", "Open air", "ROCK", &harbor, "2026-06-01", 20_000),
    ];
    let mut out = Vec::new();
    for (title, description, category, venue, day, price) in specs {
        let starts = format!("{day}T10:00:00Z");
        let body = json!({
            "title": title, "description": description, "category": category, "venueId": venue,
            "priceGrades": [
                {"grade": "VIP", "price": price * 3, "sectionIds": ["VIP"]},
                {"grade": "R", "price": price * 2, "sectionIds": ["R"]},
                {"grade": "S", "price": price, "sectionIds": ["S"]},
            ],
            "schedules": [schedule_json(&starts)],
        });
        let reply = app.post("/api/v1/concerts", Some(&admin), body).await;
        reply.expect(201, "");
        out.push((
            str_of(&reply.body, "concertId").to_string(),
            str_of(&reply.body["schedules"][0], "scheduleId").to_string(),
        ));
        app.clock.advance_ms(1_000);
    }
    (app, out)
}

#[actix_rt::test]
async fn concert_list_pages_and_refuses_bad_paging() {
    let (app, _) = three_concerts().await;
    let first = app.get("/api/v1/concerts", None).await;
    first.expect(200, "");
    assert_eq!(first.body["page"], 1);
    assert_eq!(first.body["pageSize"], 20);
    assert_eq!(first.body["total"], 3);
    let item = &first.body["items"][0];
    assert_eq!(item["title"], "Blue Note Evening");
    assert_eq!(item["category"], "JAZZ");
    assert_eq!(item["venueName"], "Cellar Club");
    assert_eq!(item["firstStartsAt"], "2026-04-01T10:00:00Z");
    assert_eq!(item["minPrice"], 10_000);
    assert_eq!(item["maxPrice"], 30_000);
    assert_eq!(item["availableSeats"], 60);
    assert!(item["concertId"].is_string());

    let page1 = app.get("/api/v1/concerts?pageSize=2", None).await;
    page1.expect(200, "");
    assert_eq!(titles(&page1), ["Blue Note Evening", "Spring Rock Night"]);
    assert_eq!(page1.body["total"], 3);
    let page2 = app.get("/api/v1/concerts?pageSize=2&page=2", None).await;
    page2.expect(200, "");
    assert_eq!(titles(&page2), ["Summer Festival"]);
    assert_eq!(page2.body["page"], 2);
    let page9 = app.get("/api/v1/concerts?pageSize=2&page=9", None).await;
    page9.expect(200, "");
    assert!(titles(&page9).is_empty());
    assert_eq!(page9.body["total"], 3);
    app.get("/api/v1/concerts?pageSize=100", None)
        .await
        .expect(200, "");
    #[rustfmt::skip]
    let bad_paging = [
        "pageSize=101", "pageSize=0", "page=0", "page=-1", "page=abc", "pageSize=1.5",
        "page=99999999999999999999",
    ];
    refuses_queries(&app, "/api/v1/concerts", &bad_paging).await;
    app.stop().await;
}

#[actix_rt::test]
async fn concert_list_filters_by_category_text_and_time() {
    let (app, _) = three_concerts().await;
    let (a, b, c) = ("Spring Rock Night", "Blue Note Evening", "Summer Festival");
    let cases = [
        ("category=ROCK", vec![a, c]),
        ("category=JAZZ", vec![b]),
        ("category=POP", vec![]),
        ("q=guitars", vec![a]),
        ("q=blue", vec![b]),
        ("q=HARBOR", vec![a, c]),
        ("q=harbor%20summer", vec![c]),
        ("q=cellar+smooth", vec![b]),
        ("q=zzz", vec![]),
        ("category=ROCK&q=open", vec![c]),
        ("from=2026-05-01T00:00:00Z", vec![a, c]),
        ("to=2026-05-01T00:00:00Z", vec![b]),
        ("from=2026-04-15T00:00:00Z&to=2026-05-15T00:00:00Z", vec![a]),
        ("from=2027-01-01T00:00:00Z", vec![]),
    ];
    lists_titles(&app, &cases).await;
    let bad_times = ["from=yesterday", "to=2026-05-01", "from=1"];
    refuses_queries(&app, "/api/v1/concerts", &bad_times).await;
    app.stop().await;
}

#[actix_rt::test]
async fn concert_list_sorts_by_start_price_or_creation_in_either_order() {
    let (app, _) = three_concerts().await;
    let (a, b, c) = ("Spring Rock Night", "Blue Note Evening", "Summer Festival");
    let cases = [
        ("", vec![b, a, c]),
        ("sort=startsAt", vec![b, a, c]),
        ("sort=startsAt&order=asc", vec![b, a, c]),
        ("sort=startsAt&order=desc", vec![c, a, b]),
        ("order=desc", vec![c, a, b]),
        ("sort=price", vec![b, c, a]),
        ("sort=price&order=desc", vec![a, c, b]),
        ("sort=createdAt", vec![a, b, c]),
        ("sort=createdAt&order=desc", vec![c, b, a]),
    ];
    lists_titles(&app, &cases).await;
    #[rustfmt::skip]
    let bad_sorts = ["sort=title", "sort=", "sort=price;drop", "order=up", "order=DESCENDING"];
    refuses_queries(&app, "/api/v1/concerts", &bad_sorts).await;
    app.stop().await;
}

#[actix_rt::test]
async fn concert_list_available_seats_follow_holds() {
    let (app, concerts) = three_concerts().await;
    let user = signed_up(&app, "fan").await;
    let token = str_of(&user, "accessToken");
    app.hold(token, &concerts[1].1, &["VIP-1-1", "VIP-1-2", "S-3-10"])
        .await;
    let list = app.get("/api/v1/concerts?q=blue", None).await;
    list.expect(200, "");
    assert_eq!(list.body["items"][0]["availableSeats"], 57);
    let list = app.get("/api/v1/concerts?q=summer", None).await;
    assert_eq!(list.body["items"][0]["availableSeats"], 60);
    app.stop().await;
}

// ---------------------------------------------------------------- schedules

#[actix_rt::test]
async fn schedule_list_hides_sold_out_schedules_unless_asked_and_filters_by_time() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue = make_venue(
        &app,
        &admin,
        "Tiny Room",
        json!([{"sectionId": "A", "name": "All", "rows": [{"row": "1", "seats": 2}]}]),
    )
    .await;
    let created = app
        .post(
            "/api/v1/concerts",
            Some(&admin),
            json!({
                "title": "Tiny", "description": "", "category": "FOLK", "venueId": venue,
                "priceGrades": [{"grade": "A", "price": 1000, "sectionIds": ["A"]}],
                "schedules": [schedule_json("2026-04-01T10:00:00Z"), schedule_json("2026-04-02T10:00:00Z"), schedule_json("2026-04-03T10:00:00Z")],
            }),
        )
        .await;
    created.expect(201, "");
    let concert = str_of(&created.body, "concertId").to_string();
    let schedule_ids: Vec<String> = created.body["schedules"]
        .as_array()
        .expect("schedules")
        .iter()
        .map(|s| str_of(s, "scheduleId").to_string())
        .collect();
    let path = format!("/api/v1/concerts/{concert}/schedules");
    let ids_of = |reply: &Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|s| str_of(s, "scheduleId").to_string())
            .collect()
    };

    let all = app.get(&path, None).await;
    all.expect(200, "");
    assert_eq!(ids_of(&all), schedule_ids);
    assert_eq!(all.body["total"], 3);
    let first = &all.body["items"][0];
    for field in [
        "startsAt",
        "endsAt",
        "bookingOpensAt",
        "bookingClosesAt",
        "status",
    ] {
        assert!(first[field].is_string(), "{field} in {first}");
    }
    assert_eq!(first["totalSeats"], 2);
    assert_eq!(first["availableSeats"], 2);
    assert_eq!(first["status"], "ON_SALE");

    // Sell out the second schedule: one seat sold, the other held.
    let user = signed_up(&app, "fan").await;
    let token = str_of(&user, "accessToken").to_string();
    let reservation = app.hold(&token, &schedule_ids[1], &["A-1-1"]).await;
    app.fund(&token, 10_000).await;
    app.post_keyed(
        "/api/v1/payments",
        &token,
        json!({"reservationId": reservation}),
    )
    .await
    .expect(201, "");
    app.hold(&token, &schedule_ids[1], &["A-1-2"]).await;

    let default = app.get(&path, None).await;
    default.expect(200, "");
    assert_eq!(
        ids_of(&default),
        [schedule_ids[0].clone(), schedule_ids[2].clone()],
        "a sold-out schedule disappears by default"
    );
    assert_eq!(default.body["total"], 2);
    let explicit = app.get(&format!("{path}?available=true"), None).await;
    assert_eq!(ids_of(&explicit), ids_of(&default));
    let everything = app.get(&format!("{path}?available=false"), None).await;
    everything.expect(200, "");
    assert_eq!(ids_of(&everything), schedule_ids);
    let sold_out = &everything.body["items"][1];
    assert_eq!(sold_out["availableSeats"], 0);
    assert_eq!(sold_out["totalSeats"], 2);
    assert_eq!(sold_out["status"], "SOLD_OUT");

    // Time window on startsAt.
    let window = app
        .get(
            &format!("{path}?available=false&from=2026-04-02T00:00:00Z&to=2026-04-03T00:00:00Z"),
            None,
        )
        .await;
    window.expect(200, "");
    assert_eq!(ids_of(&window), [schedule_ids[1].clone()]);
    let later = app
        .get(&format!("{path}?from=2026-04-02T00:00:00Z"), None)
        .await;
    assert_eq!(ids_of(&later), [schedule_ids[2].clone()]);
    let paged = app
        .get(&format!("{path}?available=false&pageSize=1&page=3"), None)
        .await;
    assert_eq!(ids_of(&paged), [schedule_ids[2].clone()]);
    assert_eq!(paged.body["total"], 3);

    #[rustfmt::skip]
    let bad_queries = ["available=maybe", "from=soon", "to=2026-04-02", "pageSize=101", "page=0"];
    refuses_queries(&app, &path, &bad_queries).await;
    not_found(
        &app,
        "/api/v1/concerts/{}/schedules",
        &[&unknown_id(), "xyz"],
    )
    .await;
    app.stop().await;
}

// ---------------------------------------------------------------- seat maps

#[actix_rt::test]
async fn seat_maps_of_ungated_schedules_are_public_filterable_and_counted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let path = format!("/api/v1/schedules/{schedule}/seats");
    let map = app.get(&path, None).await;
    map.expect(200, "");
    assert_eq!(map.body["scheduleId"], schedule.as_str());
    assert_eq!(
        map.body["summary"],
        json!({"total": 60, "available": 60, "held": 0, "sold": 0})
    );
    let sections = map.body["sections"].as_array().expect("sections");
    assert_eq!(sections.len(), 3);
    assert_eq!(sections[0]["sectionId"], "VIP");
    assert_eq!(sections[0]["grade"], "VIP");
    assert_eq!(sections[0]["price"], 150000);
    assert_eq!(
        sections[0]["rows"][0]["seats"][2],
        json!({"seatId": "VIP-1-3", "status": "AVAILABLE"})
    );

    let user = signed_up(&app, "fan").await;
    let token = str_of(&user, "accessToken").to_string();
    let reservation = app.hold(&token, &schedule, &["R-1-1", "R-1-2"]).await;
    app.fund(&token, 1_000_000).await;
    app.post_keyed(
        "/api/v1/payments",
        &token,
        json!({"reservationId": reservation}),
    )
    .await
    .expect(201, "");
    app.hold(&token, &schedule, &["S-2-5"]).await;

    let map = app.get(&path, Some(&token)).await;
    map.expect(200, "");
    assert_eq!(
        map.body["summary"],
        json!({"total": 60, "available": 57, "held": 1, "sold": 2})
    );
    let section_r = app.get(&format!("{path}?section=R"), None).await;
    section_r.expect(200, "");
    let sections = section_r.body["sections"].as_array().expect("sections");
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0]["sectionId"], "R");
    assert_eq!(
        sections[0]["rows"][0]["seats"][0],
        json!({"seatId": "R-1-1", "status": "SOLD"})
    );
    let section_s = app.get(&format!("{path}?section=S"), None).await;
    section_s.expect(200, "");
    assert_eq!(
        section_s.body["sections"][0]["rows"][1]["seats"][4],
        json!({"seatId": "S-2-5", "status": "HELD"})
    );
    // The summary stays the schedule's (API.md leaves it open; this is the choice).
    assert_eq!(section_s.body["summary"], map.body["summary"]);
    // A section the schedule does not sell is refused, naming those it does
    // (tests/http/newcomer.rs has the rest of that rule).
    let unknown_section = app.get(&format!("{path}?section=BALCONY"), None).await;
    unknown_section.expect(400, "VALIDATION_ERROR");
    assert_eq!(
        unknown_section.body["error"]["details"]["knownSections"],
        json!(["VIP", "R", "S"])
    );

    not_found(
        &app,
        "/api/v1/schedules/{}/seats",
        &[&unknown_id(), "not-an-id"],
    )
    .await;
    app.stop().await;
}

/// Joins the queue and waits until the token is ACTIVE; returns the token.
async fn active_queue_token(app: &TestApp, token: &str, schedule: &str) -> String {
    let joined = app
        .post(
            "/api/v1/queue/tokens",
            Some(token),
            json!({"scheduleId": schedule}),
        )
        .await;
    assert!(joined.status.is_success(), "{}", joined.text);
    let queue_token = str_of(&joined.body, "token").to_string();
    for _ in 0..100 {
        let current = app
            .get_with(
                "/api/v1/queue/tokens/current",
                Some(token),
                &[("Queue-Token", &queue_token)],
            )
            .await;
        current.expect(200, "");
        if current.body["status"] == "ACTIVE" {
            return queue_token;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("queue token never became ACTIVE");
}

#[actix_rt::test]
async fn gated_seat_maps_need_a_user_and_an_active_queue_token_of_that_user() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let queue = json!({"enabled": true, "batchSize": 10, "intervalMs": 100, "maxActive": 100, "activeSeconds": 600});
    let (_, schedule) = app.create_concert(&admin, Some(queue), 300).await;
    let path = format!("/api/v1/schedules/{schedule}/seats");
    let fan = signed_up(&app, "fan").await;
    let fan_token = str_of(&fan, "accessToken").to_string();
    let other = signed_up(&app, "other").await;
    let other_token = str_of(&other, "accessToken").to_string();

    app.get(&path, None).await.expect(401, "UNAUTHORIZED");
    app.get_with(&path, None, &[("Queue-Token", "anything")])
        .await
        .expect(401, "UNAUTHORIZED");
    app.get(&path, Some(&fan_token))
        .await
        .expect(403, "QUEUE_NOT_ACTIVE");
    let others = active_queue_token(&app, &other_token, &schedule).await;
    for (what, queue_token) in [
        ("garbage", "garbage"),
        ("empty", ""),
        ("unknown", &unknown_id()),
        ("another user's", &others),
    ] {
        let headers = [("Queue-Token", queue_token)];
        let reply = app.get_with(&path, Some(&fan_token), &headers).await;
        reply.expect_case(what, 403, "QUEUE_NOT_ACTIVE");
    }
    // The owner's ACTIVE token opens the map (the queue may take a moment to admit it).
    let mut map = app
        .get_with(&path, Some(&other_token), &[("Queue-Token", &others)])
        .await;
    for _ in 0..50 {
        if map.status.as_u16() == 200 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
        map = app
            .get_with(&path, Some(&other_token), &[("Queue-Token", &others)])
            .await;
    }
    map.expect(200, "");
    assert_eq!(map.body["summary"]["total"], 60);
    // Also with the section filter.
    let vip = app
        .get_with(
            &format!("{path}?section=VIP"),
            Some(&other_token),
            &[("Queue-Token", &others)],
        )
        .await;
    vip.expect(200, "");
    assert_eq!(vip.body["sections"].as_array().expect("sections").len(), 1);
    app.stop().await;
}

#[actix_rt::test]
async fn a_schedule_alone_is_public_as_its_concert_lists_it_with_the_concert_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let queue = json!({"enabled": true, "batchSize": 10, "intervalMs": 100, "maxActive": 100, "activeSeconds": 600});
    let (gated_concert, gated) = app.create_concert(&admin, Some(queue), 300).await;
    let (open_concert, open) = app.create_concert(&admin, None, 300).await;
    for (concert, schedule, is_gated) in [
        (&gated_concert, &gated, true),
        (&open_concert, &open, false),
    ] {
        // No token needed, also for a gated schedule (whose seat map is 401 here).
        let one = app
            .get(&format!("/api/v1/schedules/{schedule}"), None)
            .await;
        one.expect(200, "");
        assert_eq!(one.body["concertId"], concert.as_str());
        let listed = app.get(&format!("/api/v1/concerts/{concert}"), None).await;
        listed.expect(200, "");
        let mut expected = listed.body["schedules"][0].clone();
        expected["concertId"] = json!(concert);
        assert_eq!(
            one.body, expected,
            "as GET concert lists it, plus concertId"
        );
        assert_eq!(
            one.body["queue"]["enabled"].as_bool().unwrap_or(false),
            is_gated
        );
    }
    // Its counts follow holds, as the listing's do.
    let fan = signed_up(&app, "holder").await;
    app.post_keyed(
        "/api/v1/reservations",
        str_of(&fan, "accessToken"),
        json!({"scheduleId": open, "quantity": 2}),
    )
    .await
    .expect(201, "");
    let after = app.get(&format!("/api/v1/schedules/{open}"), None).await;
    assert_eq!(after.body["availableSeats"], 58);
    not_found(&app, "/api/v1/schedules/{}", &[&unknown_id(), "nope"]).await;
    app.stop().await;
}

// ---------------------------------------------------------------- cross-cutting

#[actix_rt::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_error_shape() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/api/v1/nope",
        "/api/v2/concerts",
        "/api/v1/concerts/a/b/c",
        "/api/v1/auth",
    ] {
        let reply = app.get(path, None).await;
        reply.expect_case(path, 404, "NOT_FOUND");
        assert!(
            reply
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{path}"
        );
    }
    let admin = app.admin_token().await;
    let cases = [
        (Method::DELETE, "/api/v1/concerts"),
        (Method::PATCH, "/api/v1/venues"),
        (Method::GET, "/api/v1/auth/login"),
        (Method::GET, "/api/v1/auth/register"),
        (Method::PUT, "/api/v1/auth/me"),
        (Method::POST, "/healthz"),
        (Method::DELETE, "/metrics"),
        (Method::GET, "/api/v1/admin/users/x/role"),
        (Method::POST, "/api/v1/schedules/x/seats"),
    ];
    for (method, path) in cases {
        let reply = app
            .raw(
                method.clone(),
                path,
                Some(&admin),
                &[],
                Some(("application/json", b"{}".to_vec())),
            )
            .await;
        reply.expect_case(&format!("{method} {path}"), 405, "METHOD_NOT_ALLOWED");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn request_ids_are_echoed_when_sane_generated_otherwise_and_match_error_bodies() {
    let app = spawn_app().await;
    let sane = "client-req_42.abc";
    let echoed = app
        .get_with("/api/v1/concerts", None, &[("X-Request-Id", sane)])
        .await;
    echoed.expect(200, "");
    assert_eq!(echoed.header("x-request-id").as_deref(), Some(sane));

    let error = app
        .get_with("/api/v1/nope", None, &[("X-Request-Id", sane)])
        .await;
    error.expect(404, "NOT_FOUND");
    assert_eq!(error.header("x-request-id").as_deref(), Some(sane));
    assert_eq!(error.body["requestId"], sane);

    let long = "a".repeat(300);
    for insane in ["has spaces in it", "semi;colon", "quote\"d", long.as_str()] {
        let reply = app
            .get_with("/api/v1/auth/me", None, &[("X-Request-Id", insane)])
            .await;
        reply.expect(401, "UNAUTHORIZED");
        let id = reply.header("x-request-id").expect("id");
        assert_ne!(id, insane);
        assert!(!id.is_empty());
        assert_eq!(reply.body["requestId"], id.as_str(), "body matches header");
    }

    let one = app.get("/api/v1/auth/me", None).await;
    let two = app.get("/api/v1/auth/me", None).await;
    let (id1, id2) = (
        one.header("x-request-id").expect("id"),
        two.header("x-request-id").expect("id"),
    );
    assert_ne!(id1, id2, "generated ids are distinct");
    assert_eq!(one.body["requestId"], id1.as_str());
    assert_eq!(two.body["requestId"], id2.as_str());
    // Extractor errors (malformed JSON) carry the same id too.
    let bad = app
        .raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            &[("X-Request-Id", "bad-json-1")],
            Some(("application/json", b"{".to_vec())),
        )
        .await;
    bad.expect(400, "VALIDATION_ERROR");
    assert_eq!(bad.body["requestId"], "bad-json-1");
    assert_eq!(bad.header("x-request-id").as_deref(), Some("bad-json-1"));
    // And a 405.
    let not_allowed = app
        .raw(
            Method::DELETE,
            "/api/v1/venues",
            None,
            &[("X-Request-Id", "m-1")],
            None,
        )
        .await;
    not_allowed.expect(405, "METHOD_NOT_ALLOWED");
    assert_eq!(not_allowed.body["requestId"], "m-1");
    app.stop().await;
}

#[actix_rt::test]
async fn bodies_that_are_too_big_not_json_or_malformed_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let address = email(&app, "body");
    let good = json!({"email": address, "password": PASSWORD, "name": "Body"});
    let register_path = "/api/v1/auth/register";

    // 100 KiB: 413, on a public endpoint and an admin one.
    let mut huge = good.clone();
    huge["padding"] = json!("x".repeat(100 * 1024));
    let huge = huge.to_string().into_bytes();
    let mut huge_venue = venue_json("Huge", standard_sections());
    huge_venue["padding"] = json!("x".repeat(100 * 1024));
    let huge_venue = huge_venue.to_string().into_bytes();
    for (what, path, token, body) in [
        ("register", register_path, None, &huge),
        ("a venue", "/api/v1/venues", Some(&admin), &huge_venue),
    ] {
        let reply = post_bytes(&app, path, token.map(String::as_str), body).await;
        reply.expect_case(what, 413, "PAYLOAD_TOO_LARGE");
    }

    // The same without a Content-Length (chunked): still 413.
    let chunks: Vec<Result<actix_web::web::Bytes, std::io::Error>> = huge
        .chunks(8 * 1024)
        .map(|c| Ok(actix_web::web::Bytes::copy_from_slice(c)))
        .collect();
    let mut streamed = app
        .client
        .post(format!("{}{register_path}", app.base))
        .insert_header(("Content-Type", "application/json"))
        .send_stream(futures_util::stream::iter(chunks))
        .await
        .expect("sent");
    assert_eq!(streamed.status().as_u16(), 413);
    let body: Value = serde_json::from_slice(&streamed.body().await.expect("body")).expect("JSON");
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");

    // Wrong or missing content type: 415.
    let good_bytes = good.to_string().into_bytes();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "",
    ] {
        let reply = send_raw(
            &app,
            Method::POST,
            register_path,
            None,
            content_type,
            good_bytes.clone(),
        )
        .await;
        reply.expect_case(&format!("{content_type:?}"), 415, "UNSUPPORTED_MEDIA_TYPE");
    }

    // Malformed bodies: 400.
    let deep_ok_for_serde = format!("{}1{}", "[".repeat(60), "]".repeat(60));
    let deep_for_serde = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
    let deep_in_field = format!(
        "{{\"email\": \"{address}\", \"password\": \"{PASSWORD}\", \"name\": \"Deep\", \"x\": {}0{}}}",
        "{\"a\":".repeat(60),
        "}".repeat(60)
    );
    let mut invalid_utf8 =
        format!("{{\"email\": \"{address}\", \"password\": \"{PASSWORD}\", \"name\": \"")
            .into_bytes();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(b"\"}");
    let duplicate_keys = format!(
        "{{\"email\": \"{address}\", \"password\": \"{PASSWORD}\", \"name\": \"One\", \"name\": \"Two\"}}"
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", b"{\"email\": ".to_vec()),
        ("not json", b"email=a@b.c".to_vec()),
        ("trailing garbage", format!("{}xyz", good).into_bytes()),
        ("single quotes", b"{'email': 'a@b.c'}".to_vec()),
        ("empty", Vec::new()),
        ("deep array", deep_ok_for_serde.into_bytes()),
        ("very deep array", deep_for_serde.into_bytes()),
        ("deep field", deep_in_field.into_bytes()),
        ("invalid utf-8", invalid_utf8),
        ("duplicate keys", duplicate_keys.into_bytes()),
    ];
    for (what, bytes) in cases {
        let reply = post_bytes(&app, register_path, None, &bytes).await;
        reply.expect_case(what, 400, "VALIDATION_ERROR");
    }
    // Duplicate keys on an admin endpoint too.
    let duplicate_venue = format!(
        "{{\"name\": \"Dup\", \"address\": \"1 St\", \"sections\": [], \"sections\": {}}}",
        standard_sections()
    );
    post_bytes(
        &app,
        "/api/v1/venues",
        Some(&admin),
        duplicate_venue.as_bytes(),
    )
    .await
    .expect(400, "VALIDATION_ERROR");
    assert_eq!(venue_total(&app).await, 0);

    // None of it registered the account; a proper body (with a charset) does.
    login(&app, &address, PASSWORD)
        .await
        .expect(401, "INVALID_CREDENTIALS");
    send_raw(
        &app,
        Method::POST,
        register_path,
        None,
        "application/json; charset=utf-8",
        good_bytes,
    )
    .await
    .expect(201, "");
    app.stop().await;
}

#[actix_rt::test]
async fn health_readiness_and_prometheus_metrics_by_route() {
    let app = spawn_app().await;
    let health = app.get("/healthz", None).await;
    health.expect(200, "");
    let ready = app.get("/readyz", None).await;
    ready.expect(200, "");
    let (concert, _) = {
        let admin = app.admin_token().await;
        app.create_concert(&admin, None, 300).await
    };
    app.get(&format!("/api/v1/concerts/{concert}"), None)
        .await
        .expect(200, "");
    app.get("/api/v1/nope", None).await.expect(404, "NOT_FOUND");

    let metrics = app.get("/metrics", None).await;
    metrics.expect(200, "");
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "Prometheus text format"
    );
    let text = &metrics.text;
    assert!(
        text.contains("# TYPE boxoffice_http_requests_total counter"),
        "{text}"
    );
    let counter = |route: &str, method: &str, status: &str| {
        text.lines().any(|line| {
            line.starts_with("boxoffice_http_requests_total{")
                && line.contains(&format!("route=\"{route}\""))
                && line.contains(&format!("method=\"{method}\""))
                && line.contains(&format!("status=\"{status}\""))
        })
    };
    assert!(counter("/healthz", "GET", "200"), "{text}");
    assert!(counter("/api/v1/auth/login", "POST", "200"), "{text}");
    assert!(counter("/api/v1/venues", "POST", "201"), "{text}");
    assert!(
        counter("/api/v1/concerts/{concertId}", "GET", "200"),
        "ids do not become labels: {text}"
    );
    assert!(!text.contains(&concert), "no raw ids in labels");
    // The engine's work times, by kind: creating the concert flushed.
    let flushes = text
        .lines()
        .find_map(|line| line.strip_prefix("boxoffice_engine_work_count{work=\"flush\"} "))
        .and_then(|count| count.parse::<u64>().ok());
    assert!(flushes.is_some_and(|n| n > 0), "{text}");
    for work in [
        "snapshot",
        "snapshot_encode",
        "log_trim",
        "key_archive",
        "archive_write",
        "archive_prepare",
        "archive_forget",
    ] {
        assert!(
            text.contains(&format!(
                "boxoffice_engine_work_seconds_longest{{work=\"{work}\"}}"
            )),
            "{text}"
        );
    }
    // Every sample line is `name{labels} value` or `name value`.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().expect("value");
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line}");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn openapi_document_lists_every_path_of_the_contract() {
    let app = spawn_app().await;
    let spec = app.get("/api/v1/openapi.json", None).await;
    spec.expect(200, "");
    assert!(
        spec.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "JSON"
    );
    let doc: Value = serde_json::from_str(&spec.text).expect("valid JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "OpenAPI 3: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    let expected = [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/me", "get"),
        ("/api/v1/admin/users/{userId}/role", "put"),
        ("/api/v1/venues", "post"),
        ("/api/v1/venues", "get"),
        ("/api/v1/venues/{venueId}", "get"),
        ("/api/v1/concerts", "post"),
        ("/api/v1/concerts", "get"),
        ("/api/v1/concerts/{concertId}", "get"),
        ("/api/v1/concerts/{concertId}/schedules", "get"),
        ("/api/v1/schedules/{scheduleId}", "get"),
        ("/api/v1/schedules/{scheduleId}/seats", "get"),
        ("/api/v1/queue/tokens", "post"),
        ("/api/v1/queue/tokens/current", "get"),
        ("/api/v1/reservations", "post"),
        ("/api/v1/reservations", "get"),
        ("/api/v1/reservations/{reservationId}", "get"),
        ("/api/v1/reservations/{reservationId}/cancel", "post"),
        ("/api/v1/wallet", "get"),
        ("/api/v1/wallet/charges", "post"),
        ("/api/v1/wallet/transactions", "get"),
        ("/api/v1/payments", "post"),
        ("/api/v1/payments/{paymentId}", "get"),
        ("/api/v1/tickets", "get"),
        ("/api/v1/tickets/{ticketId}", "get"),
        ("/api/v1/tickets/{ticketId}/qr.svg", "get"),
        ("/api/v1/checkins", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/api/v1/openapi.json", "get"),
        ("/docs/", "get"),
    ];
    let missing: Vec<String> = expected
        .iter()
        .filter(|(path, method)| paths.get(*path).and_then(|p| p.get(*method)).is_none())
        .map(|(path, method)| format!("{method} {path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "missing from the OpenAPI document: {missing:?}"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    app.stop().await;
}

#[actix_rt::test]
async fn docs_redirects_to_docs_slash_which_serves_html() {
    let app = spawn_app().await;
    // The shared client follows redirects; this one shows them.
    let client = awc::Client::builder().disable_redirects().finish();
    let redirect = client
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .expect("sent");
    assert!(
        redirect.status().is_redirection(),
        "/docs: {}",
        redirect.status()
    );
    assert_eq!(
        redirect
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/docs/")
    );
    assert!(redirect.headers().get("x-request-id").is_some());
    let page = app.get("/docs/", None).await;
    assert_eq!(page.status.as_u16(), 200, "{}", page.text);
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "HTML: {:?}",
        page.header("content-type")
    );
    assert!(page.text.to_lowercase().contains("<html"), "{}", page.text);
    // Following the redirect lands on the same page.
    let followed = app.get("/docs", None).await;
    assert_eq!(followed.status.as_u16(), 200);
    assert_eq!(followed.text, page.text);
    // The page's script points the UI at the document.
    let init = app.get("/docs/swagger-initializer.js", None).await;
    assert_eq!(init.status.as_u16(), 200);
    assert!(init.text.contains("/api/v1/openapi.json"), "{}", init.text);
    // A missing asset is a JSON 404, and a wrong method a JSON 405.
    app.get("/docs/no-such-file.js", None)
        .await
        .expect(404, "NOT_FOUND");
    app.post("/docs/", None, json!({}))
        .await
        .expect(405, "METHOD_NOT_ALLOWED");
    app.post("/api/v1/openapi.json", None, json!({}))
        .await
        .expect(405, "METHOD_NOT_ALLOWED");
    app.stop().await;
}
