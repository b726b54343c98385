//! Issue 14, items 2-4, through real HTTP: the route groups' rate limits
//! (login, register, catalogue and search GETs; per user, per address for
//! anonymous calls), the client address from `X-Forwarded-For` only behind
//! a trusted proxy, failed logins throttled per (account, address) so the
//! owner is never locked out, and CORS.
//!
//! The test server listens on 127.0.0.1; tests that need several client
//! addresses trust 127.0.0.1 as a proxy and name the client in
//! `X-Forwarded-For`, as a reverse proxy would.

use awc::http::Method;
use boxoffice_actors::Role;
use boxoffice_engine::ids::UserId;
use boxoffice_http::client_ip::TrustedProxies;
use boxoffice_http::rate_limit::RateLimitSettings;
use boxoffice_http::Settings;
use serde_json::{json, Value};
use test_support::app::*;

const VENUES: &str = "/api/v1/venues";
const SEARCH: &str = "/api/v1/search/concerts?q=opera";
const LOGIN: &str = "/api/v1/auth/login";
const REGISTER: &str = "/api/v1/auth/register";
const PASSWORD: &str = "violet-harbour-4711";
const MINUTE_MS: i64 = 60_000;

/// Rate limits on, with small limits for the new groups.
fn small_limits(settings: &mut Settings) {
    settings.rate_limits = RateLimitSettings {
        login_per_minute: 3,
        register_per_minute: 2,
        catalogue_per_minute: 4,
        ..RateLimitSettings::default()
    };
}

fn trust_loopback(settings: &mut Settings) {
    settings.trusted_proxies =
        TrustedProxies::new(vec![TrustedProxies::parse("127.0.0.1").expect("parses")]);
}

/// The `X-RateLimit-*` headers as (limit, remaining).
#[track_caller]
fn limit_headers(reply: &Reply) -> (u64, u64) {
    let number = |name: &str| -> u64 {
        reply
            .header(name)
            .unwrap_or_else(|| panic!("{name} missing; status {}", reply.status))
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(number("x-ratelimit-reset") <= 60);
    (number("x-ratelimit-limit"), number("x-ratelimit-remaining"))
}

#[track_caller]
fn refused(reply: &Reply) -> u64 {
    reply.expect(429, "RATE_LIMITED");
    let retry: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "retry after {retry}");
    assert_eq!(limit_headers(reply).1, 0);
    retry
}

async fn get_from(app: &TestApp, path: &str, client: Option<&str>, token: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = client.map(|c| ("X-Forwarded-For", c)).into_iter().collect();
    app.get_with(path, token, &headers).await
}

async fn post_from(app: &TestApp, path: &str, client: &str, body: Value) -> Reply {
    app.post_with(path, None, &[("X-Forwarded-For", client)], body)
        .await
}

// ---------------------------------------------------------------- route groups

#[actix_rt::test]
async fn catalogue_and_search_reads_share_a_limit_per_address_and_per_user() {
    let app = spawn_app_with(small_limits).await;
    for remaining in (0..4).rev() {
        let reply = app.get(VENUES, None).await;
        reply.expect(200, "");
        assert_eq!(limit_headers(&reply), (4, remaining));
    }
    let retry = refused(&app.get(VENUES, None).await);
    assert_eq!(retry, 15, "one request's share of the minute");
    // Search is in the same group; so are the other catalogue reads.
    refused(&app.get(SEARCH, None).await);
    refused(&app.get("/api/v1/concerts", None).await);
    refused(&app.get("/api/v1/venues/nope", None).await);
    // A signed-in user is counted on their own, from the same address.
    let token = app.token_for(UserId::from_random_bytes([9; 16]), Role::User);
    let mine = app.get(VENUES, Some(&token)).await;
    mine.expect(200, "");
    assert_eq!(limit_headers(&mine), (4, 3));
    // A token that does not verify is no user: the address's count, refused.
    refused(&app.get(VENUES, Some("not-a-token")).await);
    // Not limited: ops, the document, the waiting room's poll.
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/queue/tokens/current",
    ] {
        let reply = app.get(path, None).await;
        assert_ne!(reply.status.as_u16(), 429, "{path}");
        assert!(reply.header("x-ratelimit-limit").is_none(), "{path}");
    }
    // One request's share of the minute later, one more passes.
    app.clock.advance_ms(15_000);
    app.get(VENUES, None).await.expect(200, "");
    refused(&app.get(VENUES, None).await);
    app.stop().await;
}

#[actix_rt::test]
async fn register_and_login_are_limited_per_address_before_their_bodies_are_read() {
    let app = spawn_app_with(small_limits).await;
    let first = format!("{}@test.boxoffice", app.unique("first"));
    let reply = app
        .post(
            REGISTER,
            None,
            json!({"email": first, "password": PASSWORD, "name": "First"}),
        )
        .await;
    reply.expect(201, "");
    assert_eq!(limit_headers(&reply), (2, 1));
    // A malformed body counts (the limit comes first) and gets the headers.
    let bad = app
        .raw(
            Method::POST,
            REGISTER,
            None,
            &[],
            Some(("application/json", b"{not json".to_vec())),
        )
        .await;
    bad.expect(400, "VALIDATION_ERROR");
    assert_eq!(limit_headers(&bad), (2, 0));
    // Past the limit: refused, and nothing stored.
    let third = format!("{}@test.boxoffice", app.unique("third"));
    refused(
        &app.post(
            REGISTER,
            None,
            json!({"email": third, "password": PASSWORD, "name": "Third"}),
        )
        .await,
    );
    let stored = app.registry.account_by_email(&third).await.expect("lookup");
    assert!(stored.is_none(), "a refused registration stores nothing");

    // Login: 3 a minute per address, wrong type or right password alike.
    app.post(LOGIN, None, json!({"email": 7, "password": []}))
        .await
        .expect(400, "VALIDATION_ERROR");
    app.post(
        LOGIN,
        None,
        json!({"email": first, "password": "wrong-one-entirely"}),
    )
    .await
    .expect(401, "INVALID_CREDENTIALS");
    let ok = app
        .post(LOGIN, None, json!({"email": first, "password": PASSWORD}))
        .await;
    ok.expect(200, "");
    assert_eq!(limit_headers(&ok), (3, 0));
    refused(
        &app.post(LOGIN, None, json!({"email": first, "password": PASSWORD}))
            .await,
    );
    // A token does not buy a login allowance of its own (one person could
    // hold many accounts): still the address's count.
    let token = app.token_for(UserId::from_random_bytes([5; 16]), Role::User);
    refused(
        &app.post(
            LOGIN,
            Some(&token),
            json!({"email": first, "password": PASSWORD}),
        )
        .await,
    );
    // The groups are separate: catalogue reads still pass.
    app.get(VENUES, None).await.expect(200, "");
    // A minute later the allowance is whole again.
    app.clock.advance_ms(MINUTE_MS);
    app.post(LOGIN, None, json!({"email": first, "password": PASSWORD}))
        .await
        .expect(200, "");
    app.stop().await;
}

#[actix_rt::test]
async fn the_defaults_are_api_md_and_off_sends_no_headers() {
    let on = spawn_app_with(|s| s.rate_limits = RateLimitSettings::default()).await;
    assert_eq!(limit_headers(&on.get(VENUES, None).await).0, 100);
    assert_eq!(limit_headers(&on.get(SEARCH, None).await).0, 100);
    let login = on
        .post(
            LOGIN,
            None,
            json!({"email": "a@b.c", "password": "whatever-it-is"}),
        )
        .await;
    assert_eq!(limit_headers(&login).0, 10);
    let register = on.post(REGISTER, None, json!({})).await;
    assert_eq!(limit_headers(&register).0, 5);
    on.stop().await;

    let off = spawn_app().await;
    for _ in 0..120 {
        let reply = off.get(VENUES, None).await;
        reply.expect(200, "");
        assert!(reply.header("x-ratelimit-limit").is_none());
    }
    off.stop().await;
}

// ---------------------------------------------------------------- client address

#[actix_rt::test]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    // Not trusted: every request is 127.0.0.1's, whatever the header says.
    let app = spawn_app_with(small_limits).await;
    for n in 0..4 {
        let client = format!("198.51.100.{n}");
        get_from(&app, VENUES, Some(&client), None)
            .await
            .expect(200, "");
    }
    refused(&get_from(&app, VENUES, Some("198.51.100.99"), None).await);
    app.stop().await;

    // Trusted: the right-most address that is not a trusted proxy counts.
    let app = spawn_app_with(|s| {
        small_limits(s);
        trust_loopback(s);
    })
    .await;
    for _ in 0..4 {
        get_from(&app, VENUES, Some("198.51.100.1"), None)
            .await
            .expect(200, "");
    }
    refused(&get_from(&app, VENUES, Some("198.51.100.1"), None).await);
    // A client-written entry on the left changes nothing.
    refused(&get_from(&app, VENUES, Some("6.6.6.6, 198.51.100.1"), None).await);
    // Another client has its own allowance; so does the proxy itself.
    let other = get_from(&app, VENUES, Some("198.51.100.2"), None).await;
    other.expect(200, "");
    assert_eq!(limit_headers(&other), (4, 3));
    let proxy_itself = get_from(&app, VENUES, None, None).await;
    assert_eq!(limit_headers(&proxy_itself), (4, 3));
    app.stop().await;
}

// ---------------------------------------------------------------- failed logins

const ATTACKER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.7";

async fn login_from(app: &TestApp, client: &str, email: &str, password: &str) -> Reply {
    post_from(
        app,
        LOGIN,
        client,
        json!({"email": email, "password": password}),
    )
    .await
}

#[actix_rt::test]
async fn guessing_from_other_addresses_never_locks_the_owner_out() {
    // Route limits off: this is the failed-login throttle alone.
    let app = spawn_app_with(trust_loopback).await;
    let victim = format!("{}@test.boxoffice", app.unique("victim"));
    app.post(
        REGISTER,
        None,
        json!({"email": victim, "password": PASSWORD, "name": "Victim"}),
    )
    .await
    .expect(201, "");

    // The attacker's address: ten wrong guesses, then refused, even with the
    // right password.
    for _ in 0..10 {
        login_from(&app, ATTACKER, &victim, "wrong-password-guess")
            .await
            .expect(401, "INVALID_CREDENTIALS");
    }
    let retry = refused_login(&login_from(&app, ATTACKER, &victim, "another-guess-0").await);
    assert!((1..=15 * 60).contains(&retry));
    refused_login(&login_from(&app, ATTACKER, &victim, PASSWORD).await);
    // The owner, from another address, logs in meanwhile.
    login_from(&app, OWNER, &victim, PASSWORD)
        .await
        .expect(200, "");
    // The owner's success does not free the attacker.
    refused_login(&login_from(&app, ATTACKER, &victim, "another-guess-1").await);

    // The attacker spreads over more addresses: 9 more, 10 guesses each,
    // reaching the per-account ceiling of 100 failures in the window.
    for n in 0..9 {
        let address = format!("203.0.113.{}", 100 + n);
        for _ in 0..10 {
            login_from(&app, &address, &victim, "spread-guess-xyz")
                .await
                .expect(401, "INVALID_CREDENTIALS");
        }
    }
    // Past the ceiling a fresh address gets one guess, not ten...
    let fresh = "203.0.113.200";
    login_from(&app, fresh, &victim, "one-more-guess-1")
        .await
        .expect(401, "INVALID_CREDENTIALS");
    refused_login(&login_from(&app, fresh, &victim, "one-more-guess-2").await);
    // ...every address that guessed stays refused...
    refused_login(&login_from(&app, "203.0.113.100", &victim, PASSWORD).await);
    refused_login(&login_from(&app, ATTACKER, &victim, "another-guess-2").await);
    // ...and the owner, from an address without failures, still gets in.
    login_from(&app, "198.51.100.8", &victim, PASSWORD)
        .await
        .expect(200, "");
    // An address below the ceiling's rule for another account is unaffected.
    let bystander = format!("{}@test.boxoffice", app.unique("bystander"));
    login_from(&app, fresh, &bystander, "no-such-account-here")
        .await
        .expect(401, "INVALID_CREDENTIALS");
    app.stop().await;
}

/// The failed-login throttle's 429: `Retry-After`, and no rate-limit headers
/// (route limits are off in its test).
#[track_caller]
fn refused_login(reply: &Reply) -> u64 {
    reply.expect(429, "RATE_LIMITED");
    reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds")
}

// ---------------------------------------------------------------- CORS

const FRONT_END: &str = "https://tickets.example";

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> Reply {
    app.raw(
        Method::OPTIONS,
        path,
        None,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", method),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type, idempotency-key",
            ),
        ],
        None,
    )
    .await
}

fn header_list(reply: &Reply, name: &str) -> Vec<String> {
    reply
        .header(name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

#[actix_rt::test]
async fn an_allowed_origin_gets_preflights_and_reads_answers_with_a_bearer_token() {
    let app = spawn_app_with(|s| s.cors_origins = vec![FRONT_END.to_string()]).await;
    let reply = preflight(&app, "/api/v1/wallet/charges", FRONT_END, "POST").await;
    assert!(
        reply.status.is_success(),
        "{}: {}",
        reply.status,
        reply.text
    );
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some(FRONT_END)
    );
    assert!(header_list(&reply, "access-control-allow-methods").contains(&"post".into()));
    let allowed = header_list(&reply, "access-control-allow-headers");
    for name in [
        "authorization",
        "content-type",
        "idempotency-key",
        "queue-token",
        "last-event-id",
    ] {
        assert!(allowed.contains(&name.to_string()), "{name}: {allowed:?}");
    }
    assert!(reply.header("access-control-max-age").is_some());
    // A header the API does not take is refused, in the API's error shape.
    let odd = app
        .raw(
            Method::OPTIONS,
            VENUES,
            None,
            &[
                ("Origin", FRONT_END),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "x-something-else"),
            ],
            None,
        )
        .await;
    odd.expect(400, "VALIDATION_ERROR");

    // A real cross-origin POST and GET with a bearer token.
    let (_, token) = app.account_token(Role::User).await;
    let charge = app
        .post_with(
            "/api/v1/wallet/charges",
            Some(&token),
            &[("Origin", FRONT_END), ("Idempotency-Key", "cors-1")],
            json!({"amount": 1_000}),
        )
        .await;
    charge.expect(201, "");
    assert_eq!(
        charge.header("access-control-allow-origin").as_deref(),
        Some(FRONT_END)
    );
    let exposed = header_list(&charge, "access-control-expose-headers");
    for name in [
        "x-request-id",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "x-queue-position",
        "location",
    ] {
        assert!(exposed.contains(&name.to_string()), "{name}: {exposed:?}");
    }
    let me = app
        .get_with("/api/v1/auth/me", Some(&token), &[("Origin", FRONT_END)])
        .await;
    me.expect(200, "");
    assert_eq!(
        me.header("access-control-allow-origin").as_deref(),
        Some(FRONT_END)
    );
    // Errors carry the headers too, so the page can read them.
    let no_token = app
        .get_with("/api/v1/auth/me", None, &[("Origin", FRONT_END)])
        .await;
    no_token.expect(401, "UNAUTHORIZED");
    assert!(no_token.header("access-control-allow-origin").is_some());
    app.stop().await;
}

#[actix_rt::test]
async fn other_origins_and_a_server_without_origins_get_no_cors_headers() {
    let app = spawn_app_with(|s| s.cors_origins = vec![FRONT_END.to_string()]).await;
    let evil = "https://evil.example";
    let reply = preflight(&app, "/api/v1/wallet/charges", evil, "POST").await;
    reply.expect(403, "FORBIDDEN");
    assert!(reply.header("access-control-allow-origin").is_none());
    assert!(reply.header("access-control-allow-methods").is_none());
    assert!(reply.header("x-request-id").is_some());
    let (_, token) = app.account_token(Role::User).await;
    let me = app
        .get_with("/api/v1/auth/me", Some(&token), &[("Origin", evil)])
        .await;
    me.expect(200, "");
    assert!(me.header("access-control-allow-origin").is_none());
    app.stop().await;

    // Off by default: a preflight is just an OPTIONS the API does not serve.
    let app = spawn_app().await;
    let reply = preflight(&app, "/api/v1/wallet/charges", FRONT_END, "POST").await;
    reply.expect(405, "METHOD_NOT_ALLOWED");
    assert!(reply.header("access-control-allow-origin").is_none());
    let venues = app.get_with(VENUES, None, &[("Origin", FRONT_END)]).await;
    venues.expect(200, "");
    assert!(venues.header("access-control-allow-origin").is_none());
    app.stop().await;

    // Origins are checked at start-up.
    for bad in [
        "*",
        "tickets.example",
        "https://tickets.example/app",
        "https://",
    ] {
        let mut settings = Settings::new(std::env::temp_dir());
        settings.cors_origins = vec![bad.to_string()];
        assert!(settings.validate().is_err(), "{bad} was accepted");
    }
}
