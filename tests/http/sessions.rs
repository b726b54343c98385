//! Roles and logins as the server keeps them (API.md, "Account and token
//! rules"; issue 20, items 2 and 6), through real HTTP: what needs a role is
//! checked against the account as it is now (a demoted admin's old token is
//! 403, a token of no account 401), refresh tokens rotate and a reused one
//! ends its login, logout ends a login, and logins survive a restart.

use awc::http::Method;
use boxoffice_actors::accounts::{SessionGrant, TokenId};
use boxoffice_actors::{IdSource, Role};
use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_http::auth::{JwtKeys, TokenKind};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::app::*;

use crate::auth_catalog::claims_of;

const LOGIN: &str = "/api/v1/auth/login";
const REFRESH: &str = "/api/v1/auth/refresh";
const LOGOUT: &str = "/api/v1/auth/logout";
const ME: &str = "/api/v1/auth/me";
const VENUES: &str = "/api/v1/venues";
const CONCERTS: &str = "/api/v1/concerts";
const CHECKINS: &str = "/api/v1/checkins";
/// Long and uncommon, so any password policy takes it.
const PASSWORD: &str = "sessions-correct-horse-battery-staple";
/// How long a restart may wait for the stopped server to let go of its data dir.
const RELEASE_WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- helpers

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

fn role_path(user: &str) -> String {
    format!("/api/v1/admin/users/{user}/role")
}

fn venue() -> Value {
    json!({"name": "Hall", "address": "1 Main Street",
        "sections": [{"sectionId": "A", "name": "A", "rows": [{"row": "1", "seats": 4}]}]})
}

/// Registers an account and logs in: (email, the login answer's body).
async fn signed_up(app: &TestApp, name: &str) -> (String, Value) {
    let email = format!("{}@test.boxoffice", app.unique(name));
    app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": email, "password": PASSWORD, "name": name}),
    )
    .await
    .expect(201, "");
    let body = login(app, &email, PASSWORD).await;
    (email, body)
}

async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    let reply = app
        .post(LOGIN, None, json!({"email": email, "password": password}))
        .await;
    reply.expect(200, "");
    reply.body
}

async fn refresh(app: &TestApp, token: &str) -> Reply {
    app.post(REFRESH, None, json!({"refreshToken": token}))
        .await
}

async fn logout(app: &TestApp, token: &str) -> Reply {
    app.post(LOGOUT, None, json!({"refreshToken": token})).await
}

// ---------------------------------------------------------------- roles

#[actix_rt::test]
async fn a_demoted_admins_old_token_loses_its_powers_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (email, first) = signed_up(&app, "deputy").await;
    let deputy_id = text(&first["user"]["userId"]);
    app.put(
        &role_path(&deputy_id),
        Some(&admin),
        json!({"role": "ADMIN"}),
    )
    .await
    .expect(200, "");
    // The deputy's token of an ADMIN, as the issue's reviewer held it.
    let session = login(&app, &email, PASSWORD).await;
    let deputy = text(&session["accessToken"]);
    assert_eq!(claims_of(&deputy)["role"], "ADMIN");
    app.post(VENUES, Some(&deputy), venue())
        .await
        .expect(201, "");
    let admin_id = text(&app.get(ME, Some(&admin)).await.body["userId"]);

    app.put(
        &role_path(&deputy_id),
        Some(&admin),
        json!({"role": "USER"}),
    )
    .await
    .expect(200, "");
    // The same token, at once: no venue, no promoting itself back, no demoting the other admin.
    app.post(VENUES, Some(&deputy), venue())
        .await
        .expect(403, "FORBIDDEN");
    app.put(
        &role_path(&deputy_id),
        Some(&deputy),
        json!({"role": "ADMIN"}),
    )
    .await
    .expect(403, "FORBIDDEN");
    app.put(
        &role_path(&admin_id),
        Some(&deputy),
        json!({"role": "USER"}),
    )
    .await
    .expect(403, "FORBIDDEN");
    let me = app.get(ME, Some(&admin)).await;
    assert_eq!(me.body["role"], "ADMIN", "the other admin is untouched");
    let me = app.get(ME, Some(&deputy)).await;
    assert_eq!(me.body["role"], "USER");
    app.stop().await;
}

#[actix_rt::test]
async fn a_token_of_an_account_that_does_not_exist_is_401_where_a_role_is_needed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let target = text(&app.get(ME, Some(&admin)).await.body["userId"]);
    let ghost = app.token_for(UserId::from_random_bytes([0x6f; 16]), Role::Admin);
    let cases = [
        ("create a venue", Method::POST, VENUES.to_string(), venue()),
        (
            "create a concert",
            Method::POST,
            CONCERTS.to_string(),
            json!({}),
        ),
        (
            "check a ticket in",
            Method::POST,
            CHECKINS.to_string(),
            json!({"qrCode": "x"}),
        ),
        (
            "change a role",
            Method::PUT,
            role_path(&target),
            json!({"role": "USER"}),
        ),
    ];
    for (what, method, path, body) in cases {
        let bytes = body.to_string().into_bytes();
        let reply = app
            .raw(
                method,
                &path,
                Some(&ghost),
                &[],
                Some(("application/json", bytes)),
            )
            .await;
        reply.expect_case(what, 401, "UNAUTHORIZED");
    }
    // Endpoints open to every user need no account lookup: unchanged.
    app.get("/api/v1/reservations", Some(&ghost))
        .await
        .expect(200, "");
    let me = app.get(ME, Some(&admin)).await;
    assert_eq!(me.body["role"], "ADMIN", "nothing changed");
    app.stop().await;
}

// ---------------------------------------------------------------- refresh and logout

#[actix_rt::test]
async fn refresh_rotates_and_a_reused_refresh_token_ends_its_login() {
    let app = spawn_app().await;
    let (email, session) = signed_up(&app, "fan").await;
    let first = text(&session["refreshToken"]);
    let other_login = text(&login(&app, &email, PASSWORD).await["refreshToken"]);

    let renewed = refresh(&app, &first).await;
    renewed.expect(200, "");
    assert_eq!(renewed.header("cache-control").as_deref(), Some("no-store"));
    let second = text(&renewed.body["refreshToken"]);
    assert_ne!(second, first);
    assert_eq!(
        claims_of(&second)["sid"],
        claims_of(&first)["sid"],
        "the same login"
    );
    app.get(ME, Some(&text(&renewed.body["accessToken"])))
        .await
        .expect(200, "");

    // The spent one again: refused, and its whole login ends.
    refresh(&app, &first).await.expect(401, "UNAUTHORIZED");
    refresh(&app, &second).await.expect(401, "UNAUTHORIZED");
    // Another login of the same account is not that login.
    refresh(&app, &other_login).await.expect(200, "");
    app.stop().await;
}

#[actix_rt::test]
async fn logout_ends_the_login_and_only_that_login() {
    let app = spawn_app().await;
    let (email, session) = signed_up(&app, "fan").await;
    let token = text(&session["refreshToken"]);
    let access = text(&session["accessToken"]);
    let elsewhere = text(&login(&app, &email, PASSWORD).await["refreshToken"]);

    let reply = logout(&app, &token).await;
    reply.expect(204, "");
    assert!(reply.text.is_empty(), "204 has no body: {}", reply.text);
    refresh(&app, &token).await.expect(401, "UNAUTHORIZED");
    logout(&app, &token).await.expect(401, "UNAUTHORIZED");
    // Access tokens are stateless: one runs until its own expiry.
    app.get(ME, Some(&access)).await.expect(200, "");
    refresh(&app, &elsewhere).await.expect(200, "");
    app.stop().await;
}

#[actix_rt::test]
async fn logout_refuses_what_is_not_a_live_refresh_token_and_never_answers_500() {
    let app = spawn_app().await;
    let (_, session) = signed_up(&app, "fan").await;
    let token = text(&session["refreshToken"]);
    let claims = claims_of(&token);
    let user = UserId::parse(&text(&claims["sub"])).expect("user id");
    let grant = SessionGrant {
        session_id: TokenId::parse(&text(&claims["sid"])).expect("sid"),
        refresh_id: TokenId::parse(&text(&claims["jti"])).expect("jti"),
        expires_at: Timestamp(START.0 + 3_600_000),
    };
    let foreign = JwtKeys::new(
        b"another-secret-0123456789abcdef",
        3_600,
        3_600,
        Arc::new(IdSource::seeded(11)),
    );
    let forged = foreign
        .issue_refresh(user, Role::User, &grant, START)
        .expect("token");
    // The server's own key, but a login it never started.
    let invented = app
        .keys()
        .issue_refresh(
            user,
            Role::User,
            &SessionGrant {
                session_id: TokenId([7; 16]),
                ..grant
            },
            START,
        )
        .expect("token");
    let sessionless = app
        .keys()
        .issue(user, Role::User, TokenKind::Refresh, START)
        .expect("token");
    let unauthorized = [
        ("garbage", json!({"refreshToken": "garbage"})),
        ("empty", json!({"refreshToken": ""})),
        ("forged with another key", json!({"refreshToken": forged})),
        ("a login never started", json!({"refreshToken": invented})),
        (
            "a refresh token of no login",
            json!({"refreshToken": sessionless}),
        ),
        (
            "an access token",
            json!({"refreshToken": session["accessToken"]}),
        ),
    ];
    for (what, body) in unauthorized {
        app.post(LOGOUT, None, body)
            .await
            .expect_case(what, 401, "UNAUTHORIZED");
    }
    let invalid = [
        ("no refreshToken", "application/json", b"{}".to_vec()),
        (
            "a number",
            "application/json",
            br#"{"refreshToken": 5}"#.to_vec(),
        ),
        ("not JSON", "application/json", b"{not json".to_vec()),
        ("an empty body", "application/json", Vec::new()),
    ];
    for (what, content_type, body) in invalid {
        app.raw(Method::POST, LOGOUT, None, &[], Some((content_type, body)))
            .await
            .expect_case(what, 400, "VALIDATION_ERROR");
    }
    let text_body = Some(("text/plain", token.clone().into_bytes()));
    app.raw(Method::POST, LOGOUT, None, &[], text_body)
        .await
        .expect(415, "UNSUPPORTED_MEDIA_TYPE");
    // None of it ended the login.
    refresh(&app, &token).await.expect(200, "");
    app.stop().await;
}

// ---------------------------------------------------------------- restart

#[actix_rt::test]
async fn logins_survive_a_restart() {
    let app = spawn_app().await;
    let (email, session) = signed_up(&app, "fan").await;
    let spent = text(&session["refreshToken"]);
    let renewed = refresh(&app, &spent).await;
    renewed.expect(200, "");
    let live = text(&renewed.body["refreshToken"]);
    let ended = text(&login(&app, &email, PASSWORD).await["refreshToken"]);
    logout(&app, &ended).await.expect(204, "");

    // Stop, wait until the server has let go of its engine (and so of the
    // store's lock), then start again on the same data dir.
    app.stop().await;
    let dir = app.dir;
    let registry = app.registry;
    let deadline = Instant::now() + RELEASE_WAIT;
    while Arc::strong_count(&registry) > 1 {
        assert!(
            Instant::now() < deadline,
            "the stopped server kept its engine"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    drop(registry);
    let again = spawn_app_with(|s| s.data_dir = dir.path().to_path_buf()).await;

    refresh(&again, &ended).await.expect(401, "UNAUTHORIZED");
    let rotated = refresh(&again, &live).await;
    rotated.expect(200, "");
    assert_eq!(rotated.body["user"]["email"], email.as_str());
    // The token spent before the restart is still known as spent: reuse ends the login.
    refresh(&again, &spent).await.expect(401, "UNAUTHORIZED");
    refresh(&again, &text(&rotated.body["refreshToken"]))
        .await
        .expect(401, "UNAUTHORIZED");
    again.stop().await;
}

// ---------------------------------------------------------------- document

#[actix_rt::test]
async fn the_document_describes_logout_and_the_role_checks() {
    let app = spawn_app().await;
    let doc = app.get("/api/v1/openapi.json", None).await.body;
    let logout = &doc["paths"][LOGOUT]["post"];
    for status in ["204", "400", "401"] {
        assert!(logout["responses"][status].is_object(), "logout {status}");
    }
    assert!(logout["requestBody"].is_object());
    for (path, method) in [
        (VENUES, "post"),
        (CONCERTS, "post"),
        (CHECKINS, "post"),
        ("/api/v1/admin/users/{userId}/role", "put"),
    ] {
        let responses = &doc["paths"][path][method]["responses"];
        for status in ["401", "403"] {
            let description = responses[status]["description"].as_str().unwrap_or("");
            assert!(
                description.contains("account"),
                "{method} {path} {status}: {description}"
            );
        }
    }
    app.stop().await;
}
