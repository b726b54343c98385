//! Per-user resource limits (issue 20, item 3; API.md, Conventions), through
//! real HTTP: the per-minute rate limits of the keyed POSTs (429 RATE_LIMITED,
//! `Retry-After`, `X-RateLimit-*`), the daily quota of new Idempotency-Keys
//! (429 until the next UTC day), and the daily count of wallet charges (422
//! CHARGE_LIMIT_EXCEEDED, durable across a restart).
//!
//! The test helper runs with rate limits off; these tests turn them on.

use boxoffice_actors::Role;
use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_http::rate_limit::RateLimitSettings;
use boxoffice_http::Settings;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::app::*;

const RESERVATIONS: &str = "/api/v1/reservations";
const PAYMENTS: &str = "/api/v1/payments";
const CHARGES: &str = "/api/v1/wallet/charges";
const WALLET: &str = "/api/v1/wallet";
/// 2026-03-02T00:00:00Z: the UTC day after the helper's `START`.
const NEXT_DAY: Timestamp = Timestamp(1_772_409_600_000);
const RELEASE_WAIT: Duration = Duration::from_secs(20);

fn new_user(app: &TestApp) -> (UserId, String) {
    let id = UserId::from_random_bytes(rand::random());
    (id, app.token_for(id, Role::User))
}

/// Rate limits on, with these per-minute limits.
fn limits_on(settings: &mut Settings, reservations: u32, payments: u32, charges: u32) {
    settings.rate_limits = RateLimitSettings {
        enabled: true,
        reservations_per_minute: reservations,
        payments_per_minute: payments,
        charges_per_minute: charges,
        ..RateLimitSettings::default()
    };
}

async fn post_with_key(app: &TestApp, path: &str, token: &str, key: &str, body: Value) -> Reply {
    app.post_with(path, Some(token), &[("Idempotency-Key", key)], body)
        .await
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    let reply = app.get(WALLET, Some(token)).await;
    reply.expect(200, "");
    reply.body["balance"].as_i64().expect("balance")
}

/// The three `X-RateLimit-*` headers as numbers: (limit, remaining, reset).
#[track_caller]
fn rate_headers(reply: &Reply) -> (u64, u64, u64) {
    let number = |name: &str| {
        reply
            .header(name)
            .unwrap_or_else(|| panic!("{name} missing; status {}", reply.status))
            .parse::<u64>()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    (
        number("x-ratelimit-limit"),
        number("x-ratelimit-remaining"),
        number("x-ratelimit-reset"),
    )
}

/// A case of raw POSTs: (what, token, headers, body with its content type).
type RawPost<'a> = (
    &'a str,
    Option<&'a str>,
    Vec<(&'a str, &'a str)>,
    Option<(&'a str, Vec<u8>)>,
);

#[track_caller]
fn retry_after(reply: &Reply) -> u64 {
    reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds")
}

// ---------------------------------------------------------------- rate limits

#[actix_rt::test]
async fn charges_past_the_per_minute_limit_are_429_until_the_window_refills() {
    let app = spawn_app_with(|s| limits_on(s, 20, 30, 3)).await;
    let (_, fan) = new_user(&app);
    let (_, other) = new_user(&app);
    for (n, remaining) in [(1u64, 2u64), (2, 1), (3, 0)] {
        let reply = app.post_keyed(CHARGES, &fan, json!({"amount": 100})).await;
        reply.expect(201, "");
        // One request's share of the minute is 20 s: the allowance is whole
        // again 20 s per request used.
        assert_eq!(rate_headers(&reply), (3, remaining, 20 * n), "charge {n}");
        assert!(reply.header("retry-after").is_none());
    }
    let limited = app.post_keyed(CHARGES, &fan, json!({"amount": 100})).await;
    limited.expect(429, "RATE_LIMITED");
    assert_eq!(retry_after(&limited), 20);
    assert_eq!(limited.body["error"]["details"]["retryAfterSeconds"], 20);
    assert_eq!(limited.body["error"]["details"]["limitPerMinute"], 3);
    let (limit, remaining, reset) = rate_headers(&limited);
    assert_eq!((limit, remaining), (3, 0));
    assert!(reset >= 20, "reset {reset}");
    // The refused charge did nothing.
    assert_eq!(balance(&app, &fan).await, 300);

    // Another user has their own allowance.
    let theirs = app.post_keyed(CHARGES, &other, json!({"amount": 5})).await;
    theirs.expect(201, "");
    assert_eq!(rate_headers(&theirs).1, 2);

    // The window refills as the engine's clock moves: one request per 20 s.
    app.clock.advance_ms(19_000);
    let early = app.post_keyed(CHARGES, &fan, json!({"amount": 100})).await;
    early.expect(429, "RATE_LIMITED");
    assert_eq!(retry_after(&early), 1);
    app.clock.advance_ms(1_000);
    let refilled = app.post_keyed(CHARGES, &fan, json!({"amount": 100})).await;
    refilled.expect(201, "");
    assert_eq!(rate_headers(&refilled).1, 0);
    app.clock.advance_ms(60_000);
    let whole = app.post_keyed(CHARGES, &fan, json!({"amount": 100})).await;
    whole.expect(201, "");
    assert_eq!(rate_headers(&whole), (3, 2, 20));
    assert_eq!(balance(&app, &fan).await, 500);
    app.stop().await;
}

#[actix_rt::test]
async fn a_rate_limited_hold_stores_no_key_and_the_same_key_succeeds_later() {
    let app = spawn_app_with(|s| limits_on(s, 2, 30, 20)).await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let (_, fan) = new_user(&app);
    let hold = |seat: &str| json!({"scheduleId": schedule, "seatIds": [seat]});

    // A bad request counts too, and its error carries the headers.
    let bad = post_with_key(
        &app,
        RESERVATIONS,
        &fan,
        "k0",
        json!({"scheduleId": schedule}),
    )
    .await;
    bad.expect(400, "VALIDATION_ERROR");
    assert_eq!(rate_headers(&bad), (2, 1, 30));
    post_with_key(&app, RESERVATIONS, &fan, "k1", hold("VIP-1-1"))
        .await
        .expect(201, "");
    let limited = post_with_key(&app, RESERVATIONS, &fan, "k2", hold("VIP-1-2")).await;
    limited.expect(429, "RATE_LIMITED");
    assert_eq!(retry_after(&limited), 30);
    // Nothing was held.
    let seats = app
        .get(&format!("/api/v1/schedules/{schedule}/seats"), None)
        .await;
    assert_eq!(seats.body["summary"]["held"], 1);

    // Later, the same key with the same body is a first request, not a replay of the 429.
    app.clock.advance_ms(30_000);
    let later = post_with_key(&app, RESERVATIONS, &fan, "k2", hold("VIP-1-2")).await;
    later.expect(201, "");
    assert_eq!(later.body["seats"][0]["seatId"], "VIP-1-2");
    // And now it is stored: the same key replays it.
    app.clock.advance_ms(60_000);
    let replay = post_with_key(&app, RESERVATIONS, &fan, "k2", hold("VIP-1-2")).await;
    replay.expect(201, "");
    assert_eq!(replay.body, later.body);
    app.stop().await;
}

#[actix_rt::test]
async fn payments_are_limited_and_bad_inputs_never_500() {
    let app = spawn_app_with(|s| limits_on(s, 20, 2, 20)).await;
    let (_, fan) = new_user(&app);
    let unknown = json!({"reservationId": "00000000-0000-4000-8000-000000000000", "amount": 1});
    let first = app.post_keyed(PAYMENTS, &fan, unknown.clone()).await;
    first.expect(404, "NOT_FOUND");
    assert_eq!(rate_headers(&first), (2, 1, 30));
    // A missing key is 400, counted, with the headers.
    let keyless = app.post(PAYMENTS, Some(&fan), unknown.clone()).await;
    keyless.expect(400, "IDEMPOTENCY_KEY_REQUIRED");
    assert_eq!(rate_headers(&keyless).1, 0);
    // Past the limit, whatever the request: 429, never a 500.
    let long_key = "k".repeat(300);
    let cases: Vec<RawPost> = vec![
        (
            "valid",
            Some(fan.as_str()),
            vec![("Idempotency-Key", "p1")],
            Some(("application/json", unknown.to_string().into_bytes())),
        ),
        (
            "not json",
            Some(fan.as_str()),
            vec![("Idempotency-Key", "p2")],
            Some(("application/json", b"{nope".to_vec())),
        ),
        (
            "key too long",
            Some(fan.as_str()),
            vec![("Idempotency-Key", long_key.as_str())],
            Some(("application/json", b"{}".to_vec())),
        ),
        (
            "text body",
            Some(fan.as_str()),
            vec![("Idempotency-Key", "p3")],
            Some(("text/plain", b"hello".to_vec())),
        ),
        (
            "no body",
            Some(fan.as_str()),
            vec![("Idempotency-Key", "p4")],
            None,
        ),
    ];
    for (what, token, headers, body) in cases {
        let reply = app
            .raw(awc::http::Method::POST, PAYMENTS, token, &headers, body)
            .await;
        reply.expect_case(what, 429, "RATE_LIMITED");
        assert!(retry_after(&reply) >= 1, "{what}");
    }
    // No token: 401 first, with no per-user headers (the limit is per user).
    let anonymous = app.post(PAYMENTS, None, unknown.clone()).await;
    anonymous.expect(401, "UNAUTHORIZED");
    assert!(anonymous.header("x-ratelimit-limit").is_none());
    // A forged token is 401 too, never counted against anyone.
    let forged = app.post(PAYMENTS, Some("abc.def.ghi"), unknown).await;
    forged.expect(401, "UNAUTHORIZED");
    // Endpoints that are not limited send no limit headers.
    let wallet = app.get(WALLET, Some(&fan)).await;
    wallet.expect(200, "");
    assert!(wallet.header("x-ratelimit-limit").is_none());
    app.stop().await;
}

#[actix_rt::test]
async fn limits_are_configurable_and_off_means_none_and_no_headers() {
    // The helper's default: off. Far past any default limit, all pass.
    let off = spawn_app().await;
    let (_, fan) = new_user(&off);
    for _ in 0..40 {
        let reply = off.post_keyed(CHARGES, &fan, json!({"amount": 1})).await;
        reply.expect(201, "");
        assert!(reply.header("x-ratelimit-limit").is_none());
    }
    off.stop().await;

    // On with the defaults of API.md.
    let on = spawn_app_with(|s| s.rate_limits = RateLimitSettings::default()).await;
    let (_, fan) = new_user(&on);
    let hold = on.post_keyed(RESERVATIONS, &fan, json!({})).await;
    assert_eq!(rate_headers(&hold).0, 20);
    let pay = on.post_keyed(PAYMENTS, &fan, json!({})).await;
    assert_eq!(rate_headers(&pay).0, 30);
    let charge = on.post_keyed(CHARGES, &fan, json!({"amount": 1})).await;
    assert_eq!(rate_headers(&charge).0, 20);
    on.stop().await;

    // Out-of-range limits are refused at start-up.
    let mut settings = Settings::new(std::env::temp_dir());
    settings.rate_limits.charges_per_minute = 0;
    assert!(settings
        .validate()
        .unwrap_err()
        .contains("charges per minute"));
}

// ---------------------------------------------------------------- key quota

#[actix_rt::test]
async fn new_idempotency_keys_have_a_daily_quota_that_replays_never_hit() {
    // Rate limits stay off (the helper's default): the quota is not a rate.
    let app = spawn_app_with(|s| {
        s.engine.max_new_idempotency_keys_per_day = 3;
        s.engine.wallet_limits.balance_cap = boxoffice_engine::Money(100);
    })
    .await;
    let (fan_id, fan) = new_user(&app);
    let (_, other) = new_user(&app);
    post_with_key(&app, CHARGES, &fan, "a", json!({"amount": 10}))
        .await
        .expect(201, "");
    // A business refusal is stored, so its key counts.
    post_with_key(&app, CHARGES, &fan, "b", json!({"amount": 1_000}))
        .await
        .expect(422, "CHARGE_LIMIT_EXCEEDED");
    // An answer given before the engine decides is not stored: not counted.
    post_with_key(&app, CHARGES, &fan, "x", json!({"amount": 0}))
        .await
        .expect(400, "INVALID_AMOUNT");
    post_with_key(&app, CHARGES, &fan, "c", json!({"amount": 20}))
        .await
        .expect(201, "");
    // Three stored: a fourth new key is refused before the engine runs.
    let over = post_with_key(&app, CHARGES, &fan, "d", json!({"amount": 1})).await;
    over.expect(429, "RATE_LIMITED");
    // The retry is at the next UTC midnight: the helper's clock is at 00:00.
    assert_eq!(retry_after(&over), 86_400);
    assert_eq!(over.body["error"]["details"]["maxNewKeysPerDay"], 3);
    assert_eq!(balance(&app, &fan).await, 30);
    // Stored keys still replay, whatever the quota.
    let replay = post_with_key(&app, CHARGES, &fan, "c", json!({"amount": 20})).await;
    replay.expect(201, "");
    post_with_key(&app, CHARGES, &fan, "b", json!({"amount": 1_000}))
        .await
        .expect(422, "CHARGE_LIMIT_EXCEEDED");
    assert_eq!(balance(&app, &fan).await, 30);
    // Others are not affected.
    post_with_key(&app, CHARGES, &other, "d", json!({"amount": 1}))
        .await
        .expect(201, "");
    // The next UTC day, the refused key works.
    app.clock.set(NEXT_DAY);
    let fan = app.token_for(fan_id, Role::User);
    post_with_key(&app, CHARGES, &fan, "d", json!({"amount": 1}))
        .await
        .expect(201, "");
    assert_eq!(balance(&app, &fan).await, 31);
    app.stop().await;
}

// ---------------------------------------------------------------- daily charges

fn two_charges_a_day(settings: &mut Settings) {
    settings.engine.wallet_limits.max_charges_per_day = 2;
}

#[actix_rt::test]
async fn wallet_charges_past_the_daily_count_are_422_until_the_next_utc_day() {
    let app = spawn_app_with(two_charges_a_day).await;
    let (fan_id, fan) = new_user(&app);
    app.fund(&fan, 1).await;
    app.fund(&fan, 1).await;
    let refused = post_with_key(&app, CHARGES, &fan, "third", json!({"amount": 1})).await;
    refused.expect(422, "CHARGE_LIMIT_EXCEEDED");
    let message = refused.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("daily limit of 2 charges"), "{message}");
    assert_eq!(refused.body["error"]["details"]["maxChargesPerDay"], 2);
    // The refusal is decided by the engine: stored, and replayed.
    let replay = post_with_key(&app, CHARGES, &fan, "third", json!({"amount": 1})).await;
    replay.expect(422, "CHARGE_LIMIT_EXCEEDED");
    assert_eq!(replay.body["error"], refused.body["error"]);
    // Others are not affected.
    let (_, other) = new_user(&app);
    app.fund(&other, 1).await;
    // The last millisecond of the day still counts in it; the next UTC day starts from zero.
    app.clock.set(NEXT_DAY.plus_millis(-1));
    let fan = app.token_for(fan_id, Role::User);
    app.post_keyed(CHARGES, &fan, json!({"amount": 1}))
        .await
        .expect(422, "CHARGE_LIMIT_EXCEEDED");
    app.clock.set(NEXT_DAY);
    app.fund(&fan, 1).await;
    assert_eq!(balance(&app, &fan).await, 3);
    app.stop().await;
}

/// Stops `app` and starts another on its data dir with `adjust`.
async fn restart(app: TestApp, adjust: impl FnOnce(&mut Settings)) -> TestApp {
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
    let mut again = spawn_app_with(|s| {
        s.data_dir = dir.path().to_path_buf();
        adjust(s);
    })
    .await;
    // The data dir lives as long as the server on it (the new app's own,
    // unused, empty temp dir goes).
    again.dir = dir;
    again
}

/// A charge of 1 under the named key (a restarted helper's `unique` starts
/// again at 0, so its keys would replay charges made before the restart).
async fn keyed_charge(app: &TestApp, token: &str, key: &str) -> Reply {
    post_with_key(app, CHARGES, token, key, json!({"amount": 1})).await
}

#[actix_rt::test]
async fn the_daily_charge_count_survives_a_restart_from_the_log_and_from_a_snapshot() {
    let app = spawn_app_with(two_charges_a_day).await;
    let (fan_id, fan) = new_user(&app);
    keyed_charge(&app, &fan, "day1-a").await.expect(201, "");
    keyed_charge(&app, &fan, "day1-b").await.expect(201, "");

    // From the log (no snapshot yet: one is written every 20,000 events).
    let app = restart(app, two_charges_a_day).await;
    let fan = app.token_for(fan_id, Role::User);
    keyed_charge(&app, &fan, "day1-c")
        .await
        .expect(422, "CHARGE_LIMIT_EXCEEDED");

    // From a snapshot: one after every event.
    let every_event = |s: &mut Settings| {
        two_charges_a_day(s);
        s.engine.snapshot_every_events = 1;
    };
    let app = restart(app, every_event).await;
    app.clock.set(NEXT_DAY);
    let fan = app.token_for(fan_id, Role::User);
    keyed_charge(&app, &fan, "day2-a").await.expect(201, "");
    keyed_charge(&app, &fan, "day2-b").await.expect(201, "");
    let app = restart(app, every_event).await;
    app.clock.set(NEXT_DAY);
    let fan = app.token_for(fan_id, Role::User);
    keyed_charge(&app, &fan, "day2-c")
        .await
        .expect(422, "CHARGE_LIMIT_EXCEEDED");
    assert_eq!(balance(&app, &fan).await, 4);
    app.stop().await;
}
