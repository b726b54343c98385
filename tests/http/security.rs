//! The security matrix rows that `auth_catalog.rs` and `booking.rs`
//! do not already cover, through real HTTP against the real server (see
//! `test_support::app`):
//! - every owner-only operation with another user's token (USER, STAFF and
//!   ADMIN alike) is 404, or 401 QUEUE_TOKEN_INVALID for a queue token, and
//!   changes nothing;
//! - a refresh token is not an access token on any operation the OpenAPI
//!   document says needs one (the list is read from the document, so a new
//!   endpoint is covered the day it is documented);
//! - payment amounts that are zero, fractional, past i64 or not numbers are
//!   refused, and a free seat's zero-amount edge is answered cleanly;
//! - a Queue-Token ended by a payment admits nothing more (403);
//! - a QR code issued by another server (another QR key) is refused at
//!   check-in even when that server issued the very same ticket id.
//!
//! Each test spawns its own server (temp data dir, manual clock).

use awc::http::Method;
use boxoffice_actors::Role;
use boxoffice_engine::ids::UserId;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use test_support::app::*;

const RESERVATIONS: &str = "/api/v1/reservations";
const PAYMENTS: &str = "/api/v1/payments";
const TICKETS: &str = "/api/v1/tickets";
const CHECKINS: &str = "/api/v1/checkins";
const QUEUE_TOKENS: &str = "/api/v1/queue/tokens";
const QUEUE_CURRENT: &str = "/api/v1/queue/tokens/current";
const WALLET: &str = "/api/v1/wallet";
const LEDGER: &str = "/api/v1/wallet/transactions";

/// The helper venue's VIP price (see `TestApp::create_concert`).
const VIP_PRICE: i64 = 150_000;
/// How long a test waits for the waiting room to admit a token.
const ADMISSION_WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- helpers

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

/// A fresh account of `role` with a random id: (id, access token). Minted
/// with the server's secret (no argon2).
fn new_user(app: &TestApp, role: Role) -> (UserId, String) {
    let id = UserId::from_random_bytes(rand::random());
    (id, app.token_for(id, role))
}

async fn hold(
    app: &TestApp,
    token: &str,
    queue_token: Option<&str>,
    schedule: &str,
    seats: &[&str],
) -> Reply {
    let key = app.unique("hold");
    let mut headers = vec![("Idempotency-Key", key.as_str())];
    if let Some(q) = queue_token {
        headers.push(("Queue-Token", q));
    }
    app.post_with(
        RESERVATIONS,
        Some(token),
        &headers,
        json!({"scheduleId": schedule, "seatIds": seats}),
    )
    .await
}

async fn pay(app: &TestApp, token: &str, queue_token: Option<&str>, body: Value) -> Reply {
    let key = app.unique("pay");
    let mut headers = vec![("Idempotency-Key", key.as_str())];
    if let Some(q) = queue_token {
        headers.push(("Queue-Token", q));
    }
    app.post_with(PAYMENTS, Some(token), &headers, body).await
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    let reply = app.get(WALLET, Some(token)).await;
    reply.expect(200, "");
    reply.body["balance"].as_i64().expect("balance")
}

async fn ledger_total(app: &TestApp, token: &str) -> u64 {
    let reply = app.get(LEDGER, Some(token)).await;
    reply.expect(200, "");
    reply.body["total"].as_u64().expect("total")
}

async fn reservation_status(app: &TestApp, token: &str, id: &str) -> String {
    let reply = app.get(&format!("{RESERVATIONS}/{id}"), Some(token)).await;
    reply.expect(200, "");
    str_of(&reply.body["status"])
}

/// A concert on a new helper venue with `grades` and one schedule, optionally
/// gated by `queue`; returns the scheduleId.
async fn concert_with(app: &TestApp, grades: Value, queue: Option<Value>) -> String {
    let admin = app.admin_token().await;
    let venue = app.create_venue(&admin).await;
    let mut body = json!({
        "title": "Security Concert", "description": "for tests", "category": "ROCK", "venueId": venue,
        "priceGrades": grades,
        "schedules": [{"startsAt": "2026-04-01T10:00:00Z", "endsAt": "2026-04-01T13:00:00Z",
            "bookingOpensAt": "2026-02-01T00:00:00Z", "bookingClosesAt": "2026-04-01T09:00:00Z"}],
        "maxSeatsPerUser": 4, "holdSeconds": 300
    });
    if let Some(queue) = queue {
        body["queue"] = queue;
    }
    let reply = app.post("/api/v1/concerts", Some(&admin), body).await;
    reply.expect(201, "");
    str_of(&reply.body["schedules"][0]["scheduleId"])
}

/// Joins the schedule's queue and waits until the token is ACTIVE.
async fn active_queue_token(app: &TestApp, token: &str, schedule: &str) -> String {
    let joined = app
        .post(QUEUE_TOKENS, Some(token), json!({"scheduleId": schedule}))
        .await;
    joined.expect(201, "");
    let queue_token = str_of(&joined.body["token"]);
    let started = Instant::now();
    loop {
        let current = app
            .get_with(QUEUE_CURRENT, Some(token), &[("Queue-Token", &queue_token)])
            .await;
        current.expect(200, "");
        if current.body["status"] == "ACTIVE" {
            return queue_token;
        }
        assert!(
            started.elapsed() < ADMISSION_WAIT,
            "queue token never became ACTIVE: {}",
            current.text
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The OpenAPI document's operations as (method, path template, operation).
async fn documented_operations(app: &TestApp) -> Vec<(Method, String, Value)> {
    let spec = app.get("/api/v1/openapi.json", None).await;
    spec.expect(200, "");
    let mut operations = Vec::new();
    for (path, item) in spec.body["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let method = match method.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                _ => continue,
            };
            operations.push((method, path.clone(), operation.clone()));
        }
    }
    operations
}

/// Whether the operation accepts a bearer token at all (required or optional).
fn takes_a_token(operation: &Value) -> bool {
    operation["security"]
        .as_array()
        .is_some_and(|alternatives| {
            alternatives
                .iter()
                .any(|a| a.as_object().is_some_and(|a| a.contains_key("bearer")))
        })
}

/// `template` with every `{name}` replaced by `ids[name]` (a well-formed id
/// that names nothing when the test has no real one).
fn fill_path(template: &str, ids: &[(&str, &str)]) -> String {
    let mut path = template.to_string();
    while let Some(open) = path.find('{') {
        let close = open + path[open..].find('}').expect("closing brace");
        let name = &path[open + 1..close];
        let value = ids
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("6f1c2c1e-8d5b-4c4e-9a53-0c1f3f2b9d11", |(_, v)| *v)
            .to_string();
        path.replace_range(open..=close, &value);
    }
    path
}

// ---------------------------------------------------------------- owner only

/// Every operation on one user's own reservation, payment, ticket or queue
/// token, tried with the tokens of a USER, a STAFF member and an ADMIN who
/// do not own it: each is told the thing does not exist (404), the queue
/// token is not theirs (401 QUEUE_TOKEN_INVALID), and nothing changes.
#[actix_rt::test]
async fn another_users_token_finds_none_of_the_owners_things() {
    let app = spawn_app().await;
    let open = app
        .create_concert(&app.admin_token().await, None, 300)
        .await
        .1;
    let gated = concert_with(
        &app,
        json!([{"grade": "VIP", "price": VIP_PRICE, "sectionIds": ["VIP"]}]),
        Some(json!({"enabled": true, "batchSize": 10, "intervalMs": 100, "maxActive": 10, "activeSeconds": 600})),
    )
    .await;
    let (_, owner) = new_user(&app, Role::User);
    app.fund(&owner, 1_000_000).await;
    let paid = hold(&app, &owner, None, &open, &["VIP-1-1"]).await;
    paid.expect(201, "");
    let paid_id = str_of(&paid.body["reservationId"]);
    let payment = pay(&app, &owner, None, json!({"reservationId": paid_id})).await;
    payment.expect(201, "");
    let payment_id = str_of(&payment.body["paymentId"]);
    let ticket_id = str_of(&payment.body["tickets"][0]["ticketId"]);
    let held = hold(&app, &owner, None, &open, &["VIP-1-2"]).await;
    held.expect(201, "");
    let held_id = str_of(&held.body["reservationId"]);
    let queue_token = active_queue_token(&app, &owner, &gated).await;

    // (what, method, path): each is 404 to a stranger; then polling the queue token.
    #[rustfmt::skip]
    let not_found = [
        ("read a held reservation", Method::GET, format!("{RESERVATIONS}/{held_id}")),
        ("read a paid reservation", Method::GET, format!("{RESERVATIONS}/{paid_id}")),
        ("cancel a held reservation", Method::POST, format!("{RESERVATIONS}/{held_id}/cancel")),
        ("cancel a paid reservation", Method::POST, format!("{RESERVATIONS}/{paid_id}/cancel")),
        ("read a payment", Method::GET, format!("{PAYMENTS}/{payment_id}")),
        ("read a ticket", Method::GET, format!("{TICKETS}/{ticket_id}")),
        ("draw a ticket's QR code", Method::GET, format!("{TICKETS}/{ticket_id}/qr.svg")),
    ];
    let strangers = [
        ("USER", new_user(&app, Role::User).1),
        ("STAFF", new_user(&app, Role::Staff).1),
        ("ADMIN", new_user(&app, Role::Admin).1),
    ];
    for (role, stranger) in &strangers {
        for (what, method, path) in &not_found {
            let body = (*method == Method::POST).then(|| ("application/json", b"{}".to_vec()));
            let reply = app
                .raw(method.clone(), path, Some(stranger), &[], body)
                .await;
            reply.expect_case(&format!("{role} trying to {what}"), 404, "NOT_FOUND");
        }
        let headers = [("Queue-Token", queue_token.as_str())];
        let reply = app.get_with(QUEUE_CURRENT, Some(stranger), &headers).await;
        let what = format!("{role} trying to poll a queue token");
        reply.expect_case(&what, 401, "QUEUE_TOKEN_INVALID");
        // Their own lists do not show the owner's things either.
        for list in [RESERVATIONS, TICKETS, LEDGER] {
            let reply = app.get(list, Some(stranger)).await;
            reply.expect(200, "");
            assert_eq!(reply.body["total"], 0, "{role}'s {list}: {}", reply.text);
        }
    }

    // Control: the owner reaches every one of them, and nothing was changed.
    assert_eq!(reservation_status(&app, &owner, &held_id).await, "HELD");
    assert_eq!(
        reservation_status(&app, &owner, &paid_id).await,
        "CONFIRMED"
    );
    app.get(&format!("{PAYMENTS}/{payment_id}"), Some(&owner))
        .await
        .expect(200, "");
    let ticket = app
        .get(&format!("{TICKETS}/{ticket_id}"), Some(&owner))
        .await;
    ticket.expect(200, "");
    assert_eq!(ticket.body["status"], "ISSUED");
    let svg = app
        .get(&format!("{TICKETS}/{ticket_id}/qr.svg"), Some(&owner))
        .await;
    assert_eq!(svg.status.as_u16(), 200);
    let current = app
        .get_with(
            QUEUE_CURRENT,
            Some(&owner),
            &[("Queue-Token", &queue_token)],
        )
        .await;
    current.expect(200, "");
    assert_eq!(current.body["status"], "ACTIVE");
    assert_eq!(balance(&app, &owner).await, 1_000_000 - VIP_PRICE);
    app.stop().await;
}

// ---------------------------------------------------------------- token kinds

/// A refresh token carries the same user and role as an access token and a
/// valid signature; only its kind differs. Every documented operation that
/// takes a token must refuse it (401 UNAUTHORIZED), even an ADMIN's, and the
/// same request with the access token must get past authentication (the
/// control that shows the 401 comes from the token's kind).
#[actix_rt::test]
async fn a_refresh_token_is_refused_by_every_operation_that_takes_a_token() {
    let app = spawn_app().await;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    login.expect(200, "");
    let access = str_of(&login.body["accessToken"]);
    let refresh = str_of(&login.body["refreshToken"]);
    let admin_id = str_of(&login.body["user"]["userId"]);
    let gated = concert_with(
        &app,
        json!([{"grade": "VIP", "price": VIP_PRICE, "sectionIds": ["VIP"]}]),
        Some(json!({"enabled": true, "batchSize": 10, "intervalMs": 100, "maxActive": 10, "activeSeconds": 600})),
    )
    .await;
    app.fund(&access, 1_000_000).await;
    let held = hold(
        &app,
        &access,
        None,
        &app.create_concert(&access, None, 300).await.1,
        &["R-1-1"],
    )
    .await;
    held.expect(201, "");
    let reservation = str_of(&held.body["reservationId"]);
    let ledger_before = ledger_total(&app, &access).await;

    let operations = documented_operations(&app).await;
    let protected: Vec<&(Method, String, Value)> = operations
        .iter()
        .filter(|(_, _, op)| takes_a_token(op))
        .collect();
    // The document must list the protected operations at all (else this test proves nothing).
    assert!(
        protected.len() >= 20,
        "only {} operations take a token",
        protected.len()
    );
    let ids = [
        ("userId", admin_id.as_str()),
        ("reservationId", reservation.as_str()),
        ("scheduleId", gated.as_str()),
    ];
    for (method, template, _) in &protected {
        let path = fill_path(template, &ids);
        let headers = [
            ("Idempotency-Key", "refresh-as-access"),
            ("Queue-Token", "garbage"),
        ];
        let body = Some(("application/json", b"{}".to_vec()));
        let refused = app
            .raw(
                method.clone(),
                &path,
                Some(&refresh),
                &headers,
                body.clone(),
            )
            .await;
        let what = format!("{method} {template} with a refresh token");
        refused.expect_case(&what, 401, "UNAUTHORIZED");
        // The reservation's own cancel (a schedule's cancel names no reservation).
        if template.ends_with("{reservationId}/cancel") {
            assert_eq!(
                reservation_status(&app, &access, &reservation).await,
                "HELD"
            );
        }
        let control = app
            .raw(method.clone(), &path, Some(&access), &headers, body)
            .await;
        assert!(
            control.status.as_u16() < 500 && control.code() != "UNAUTHORIZED",
            "{method} {template} with the access token: {}",
            control.text
        );
    }
    // No money moved: the refused requests did nothing, and the controls'
    // empty bodies were refused with 400s (the control cancel freed a hold).
    assert_eq!(ledger_total(&app, &access).await, ledger_before);
    app.stop().await;
}

// ---------------------------------------------------------------- amounts

/// `amount` on a payment is the price the client confirms: anything but the
/// reservation's exact total as a JSON integer is refused, and none of it
/// moves money or confirms the hold. (Charges' amounts are covered in
/// `booking.rs`; these are the payment's.)
#[actix_rt::test]
async fn payment_amounts_that_are_not_the_exact_integer_total_are_refused() {
    let app = spawn_app().await;
    let schedule = app
        .create_concert(&app.admin_token().await, None, 300)
        .await
        .1;
    let (_, token) = new_user(&app, Role::User);
    app.fund(&token, 1_000_000).await;
    let held = hold(&app, &token, None, &schedule, &["VIP-1-1"]).await;
    held.expect(201, "");
    let id = str_of(&held.body["reservationId"]);

    #[rustfmt::skip]
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("zero", "0".into(), 409, "AMOUNT_MISMATCH"),
        // JSON's -0 is read as a float, not an integer.
        ("negative zero", "-0".into(), 400, "VALIDATION_ERROR"),
        ("minus the total", format!("{}", -VIP_PRICE), 409, "AMOUNT_MISMATCH"),
        ("i64::MIN", i64::MIN.to_string(), 409, "AMOUNT_MISMATCH"),
        ("i64::MAX", i64::MAX.to_string(), 409, "AMOUNT_MISMATCH"),
        ("one past i64::MAX", "9223372036854775808".into(), 400, "VALIDATION_ERROR"),
        ("u64::MAX", u64::MAX.to_string(), 400, "VALIDATION_ERROR"),
        ("one below i64::MIN", "-9223372036854775809".into(), 400, "VALIDATION_ERROR"),
        ("the total as a float", format!("{VIP_PRICE}.0"), 400, "VALIDATION_ERROR"),
        ("the total in exponent form", "1.5e5".into(), 400, "VALIDATION_ERROR"),
        ("fractional", format!("{VIP_PRICE}.5"), 400, "VALIDATION_ERROR"),
        ("1e30", "1e30".into(), 400, "VALIDATION_ERROR"),
        ("a tiny fraction", "1e-30".into(), 400, "VALIDATION_ERROR"),
        ("a 400-digit integer", format!("1{}", "0".repeat(400)), 400, "VALIDATION_ERROR"),
        ("a boolean", "true".into(), 400, "VALIDATION_ERROR"),
        ("an array", format!("[{VIP_PRICE}]"), 400, "VALIDATION_ERROR"),
    ];
    for (what, amount, status, code) in cases {
        let body = format!(r#"{{"reservationId": "{id}", "amount": {amount}}}"#);
        let key = app.unique("amount");
        let reply = app
            .raw(
                Method::POST,
                PAYMENTS,
                Some(&token),
                &[("Idempotency-Key", &key)],
                Some(("application/json", body.into_bytes())),
            )
            .await;
        reply.expect_case(what, status, code);
        if code == "AMOUNT_MISMATCH" {
            assert_eq!(
                reply.body["error"]["details"]["expectedAmount"], VIP_PRICE,
                "{what}"
            );
        }
    }
    assert_eq!(balance(&app, &token).await, 1_000_000);
    assert_eq!(ledger_total(&app, &token).await, 1);
    assert_eq!(reservation_status(&app, &token, &id).await, "HELD");
    // Control: the exact total as an integer pays.
    pay(
        &app,
        &token,
        None,
        json!({"reservationId": id, "amount": VIP_PRICE}),
    )
    .await
    .expect(201, "");
    assert_eq!(balance(&app, &token).await, 1_000_000 - VIP_PRICE);
    app.stop().await;
}

/// A grade may be priced 0 (the catalogue allows it), so a hold can total
/// zero. Paying it must be answered cleanly, one way or the other: free
/// tickets (201, no money moved) or a refusal that leaves the hold alone;
/// never a 5xx, never a ledger entry of 0.
#[actix_rt::test]
async fn a_zero_total_hold_is_paid_or_refused_cleanly_and_moves_no_money() {
    let app = spawn_app().await;
    let schedule = concert_with(
        &app,
        json!([
            {"grade": "VIP", "price": VIP_PRICE, "sectionIds": ["VIP"]},
            {"grade": "FREE", "price": 0, "sectionIds": ["S"]}
        ]),
        None,
    )
    .await;
    let (_, token) = new_user(&app, Role::User);
    app.fund(&token, 1_000).await;
    let held = hold(&app, &token, None, &schedule, &["S-1-1"]).await;
    held.expect(201, "");
    assert_eq!(held.body["totalAmount"], 0);
    let id = str_of(&held.body["reservationId"]);

    let reply = pay(
        &app,
        &token,
        None,
        json!({"reservationId": id, "amount": 0}),
    )
    .await;
    assert!(
        reply.status.as_u16() < 500,
        "a zero-total payment: {}",
        reply.text
    );
    assert_eq!(balance(&app, &token).await, 1_000);
    assert_eq!(ledger_total(&app, &token).await, 1, "no ledger entry of 0");
    let status = reservation_status(&app, &token, &id).await;
    if reply.status.as_u16() == 201 {
        assert_eq!(status, "CONFIRMED");
        assert_eq!(reply.body["amount"], 0);
    } else {
        assert_eq!(
            status, "HELD",
            "a refused payment leaves the hold: {}",
            reply.text
        );
        assert!(reply.body["error"]["code"].is_string(), "{}", reply.text);
    }
    app.stop().await;
}

// ---------------------------------------------------------------- queue tokens

/// A payment ends the Queue-Token it was made under (API.md). The same token
/// then admits nothing: not another hold (also in `booking.rs`), not the
/// seat map, and not a payment for a second hold made under it before.
#[actix_rt::test]
async fn a_queue_token_ended_by_a_payment_admits_nothing_more() {
    let app = spawn_app().await;
    let gated = concert_with(
        &app,
        json!([{"grade": "VIP", "price": VIP_PRICE, "sectionIds": ["VIP"]}]),
        Some(json!({"enabled": true, "batchSize": 10, "intervalMs": 100, "maxActive": 10, "activeSeconds": 600})),
    )
    .await;
    let (_, token) = new_user(&app, Role::User);
    app.fund(&token, 1_000_000).await;
    let queue_token = active_queue_token(&app, &token, &gated).await;
    let first = hold(&app, &token, Some(&queue_token), &gated, &["VIP-1-1"]).await;
    first.expect(201, "");
    let second = hold(&app, &token, Some(&queue_token), &gated, &["VIP-1-2"]).await;
    second.expect(201, "");
    let first_id = str_of(&first.body["reservationId"]);
    let second_id = str_of(&second.body["reservationId"]);
    pay(
        &app,
        &token,
        Some(&queue_token),
        json!({"reservationId": first_id}),
    )
    .await
    .expect(201, "");

    let seats = format!("/api/v1/schedules/{gated}/seats");
    let map = app
        .get_with(&seats, Some(&token), &[("Queue-Token", &queue_token)])
        .await;
    map.expect(403, "QUEUE_NOT_ACTIVE");
    hold(&app, &token, Some(&queue_token), &gated, &["VIP-1-3"])
        .await
        .expect(403, "QUEUE_NOT_ACTIVE");
    let reused = pay(
        &app,
        &token,
        Some(&queue_token),
        json!({"reservationId": second_id}),
    )
    .await;
    let what = "paying a second hold with the ended token";
    reused.expect_case(what, 403, "QUEUE_NOT_ACTIVE");
    assert_eq!(balance(&app, &token).await, 1_000_000 - VIP_PRICE);
    assert_eq!(reservation_status(&app, &token, &second_id).await, "HELD");

    // Control: a new place in the queue, once ACTIVE, pays the second hold.
    let again = app
        .post(QUEUE_TOKENS, Some(&token), json!({"scheduleId": gated}))
        .await;
    again.expect(201, "");
    let new_token = str_of(&again.body["token"]);
    assert_ne!(new_token, queue_token);
    let started = Instant::now();
    loop {
        let reply = pay(
            &app,
            &token,
            Some(&new_token),
            json!({"reservationId": second_id}),
        )
        .await;
        if reply.status.as_u16() == 201 {
            break;
        }
        reply.expect(403, "QUEUE_NOT_ACTIVE");
        assert!(started.elapsed() < ADMISSION_WAIT, "never admitted again");
        // Batches after the first are admitted on the (manual) clock's interval.
        app.clock.advance_ms(100);
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(balance(&app, &token).await, 1_000_000 - 2 * VIP_PRICE);
    app.stop().await;
}

// ---------------------------------------------------------------- check-in

/// Two servers with different QR keys (and token secrets) and the same seeded
/// id source make the same ticket ids from the same requests. A QR code the
/// second server issued is genuine there, names a real ticket here, and is
/// still refused here: the signature is the other key's. Nothing is checked in.
#[actix_rt::test]
async fn a_qr_code_signed_by_another_servers_secret_is_refused() {
    let here = spawn_app().await;
    let there = spawn_app_with(|s| {
        s.jwt_secret = Some("another-server-secret-0123456789".into());
        s.qr_key = Some("another-server-qr-key-0123456789".into());
    })
    .await;

    let mut tickets = Vec::new();
    for app in [&here, &there] {
        let admin = app.admin_token().await;
        let schedule = app.create_concert(&admin, None, 300).await.1;
        // The admin account is made first on both, so it has the same id on both.
        app.fund(&admin, 1_000_000).await;
        let held = hold(app, &admin, None, &schedule, &["VIP-1-1"]).await;
        held.expect(201, "");
        let paid = pay(
            app,
            &admin,
            None,
            json!({"reservationId": held.body["reservationId"]}),
        )
        .await;
        paid.expect(201, "");
        let ticket = str_of(&paid.body["tickets"][0]["ticketId"]);
        let read = app.get(&format!("{TICKETS}/{ticket}"), Some(&admin)).await;
        read.expect(200, "");
        tickets.push((admin, ticket, str_of(&read.body["qrCode"])));
    }
    let (here_admin, here_ticket, here_qr) = &tickets[0];
    let (there_admin, there_ticket, there_qr) = &tickets[1];
    assert_eq!(
        here_ticket, there_ticket,
        "the same seeded ids on both servers"
    );
    assert_ne!(here_qr, there_qr, "different secrets sign differently");

    // The same ticket id exists here, so only the signature can tell.
    let staff = here.account_token(Role::Staff).await.1;
    let reply = here
        .post(CHECKINS, Some(&staff), json!({"qrCode": there_qr}))
        .await;
    reply.expect_case("the other server's code", 400, "INVALID_TICKET");
    let ticket = here
        .get(&format!("{TICKETS}/{here_ticket}"), Some(here_admin))
        .await;
    assert_eq!(ticket.body["status"], "ISSUED", "nothing was checked in");

    // Controls: each server admits its own code.
    here.post(CHECKINS, Some(&staff), json!({"qrCode": here_qr}))
        .await
        .expect(200, "");
    there
        .post(CHECKINS, Some(there_admin), json!({"qrCode": there_qr}))
        .await
        .expect(200, "");
    let used = there
        .get(&format!("{TICKETS}/{there_ticket}"), Some(there_admin))
        .await;
    assert_eq!(used.body["status"], "USED");
    here.stop().await;
    there.stop().await;
}

/// Metrics labels are bounded (issue 20, item 1): junk methods and paths
/// from anyone, unauthenticated, must not add series to `/metrics`.
#[actix_rt::test]
async fn junk_methods_and_paths_do_not_grow_the_metrics() {
    let app = spawn_app().await;
    // One of each kind first, so the series they fall into exist.
    let junk = |n: usize| Method::from_bytes(format!("JUNK{n}X{}", "Y".repeat(n % 150)).as_bytes());
    for n in 0..2 {
        let method = junk(n).expect("a valid method token");
        app.raw(method, &format!("/nowhere/{n}"), None, &[], None)
            .await;
        app.raw(junk(n).expect("valid"), "/api/v1/concerts", None, &[], None)
            .await;
    }
    // Scraped twice, so the scrape's own series exist too.
    app.get("/metrics", None).await;
    let before = series(&app.get("/metrics", None).await.text);
    for n in 2..1_002 {
        let method = junk(n).expect("a valid method token");
        let reply = app
            .raw(
                method,
                &format!("/nowhere/{n}/{}", "z".repeat(n % 200)),
                None,
                &[],
                None,
            )
            .await;
        assert!(
            reply.status.as_u16() < 500,
            "junk request {n}: {}",
            reply.status
        );
        app.raw(junk(n).expect("valid"), "/api/v1/concerts", None, &[], None)
            .await;
    }
    let metrics = app.get("/metrics", None).await;
    // Counts may grow; the set of series may not.
    let after = series(&metrics.text);
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.is_empty(), "new series: {new:?}");
    assert!(
        !metrics.text.contains("JUNK"),
        "a raw method became a label"
    );
    assert!(
        !metrics.text.contains("nowhere"),
        "a raw path became a label"
    );
    assert!(metrics.text.contains("method=\"OTHER\""));
    app.stop().await;
}

/// The series of a Prometheus text page: each sample line without its value.
fn series(page: &str) -> std::collections::BTreeSet<String> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' ').map(|(name, _)| name.to_string()))
        .collect()
}

/// API.md, "Account and token rules": the last ADMIN cannot be demoted (409
/// CONFLICT), whoever asks; and token answers carry `Cache-Control: no-store`.
#[actix_rt::test]
async fn the_last_admin_cannot_be_demoted_and_tokens_are_never_cached() {
    let app = spawn_app().await;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    login.expect(200, "");
    assert_eq!(login.header("cache-control").as_deref(), Some("no-store"));
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refreshToken": login.body["refreshToken"]}),
        )
        .await;
    refreshed.expect(200, "");
    assert_eq!(
        refreshed.header("cache-control").as_deref(),
        Some("no-store")
    );

    let admin = login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let admin_id = login.body["user"]["userId"]
        .as_str()
        .expect("id")
        .to_string();
    let (other_id, other) = app.register_and_login("second-admin").await;
    let role_path = |id: &str| format!("/api/v1/admin/users/{id}/role");
    let set = |id: String, role: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.put(&role_path(&id), Some(&admin), json!({"role": role}))
                .await
        }
    };
    set(admin_id.clone(), "USER").await.expect(409, "CONFLICT");
    set(other_id.clone(), "ADMIN").await.expect(200, "");
    set(other_id.clone(), "STAFF").await.expect(200, "");
    set(admin_id.clone(), "STAFF").await.expect(409, "CONFLICT");
    // With a second ADMIN, the first may step down; then the second is the
    // last, and stays, even when it asks itself. The first's stale ADMIN
    // token has no say any more (the role is the account's: 403).
    set(other_id.clone(), "ADMIN").await.expect(200, "");
    set(admin_id.clone(), "USER").await.expect(200, "");
    set(other_id.clone(), "USER").await.expect(403, "FORBIDDEN");
    app.put(&role_path(&other_id), Some(&other), json!({"role": "USER"}))
        .await
        .expect(409, "CONFLICT");
    let account = app
        .registry
        .account(UserId::parse(&other_id).expect("id"))
        .await
        .expect("lookup")
        .expect("exists");
    assert_eq!(account.role, Role::Admin);
    app.stop().await;
}
