//! The admin operations on one schedule through real HTTP: cancelling it
//! (holds released, paid reservations refunded once each, tickets void,
//! later holds and payments 409 SCHEDULE_CANCELLED, listings CANCELLED) and
//! its sales figures, checked against the sum over reservations after a
//! seeded random workload. Bad callers (no token, expired token, USER,
//! STAFF), unknown schedules and repeated cancels are refused and change
//! nothing.

use boxoffice_actors::Role;
use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_http::auth::TokenKind;
use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use test_support::app::*;

const RESERVATIONS: &str = "/api/v1/reservations";
const PAYMENTS: &str = "/api/v1/payments";
const FUNDS: i64 = 1_000_000;
/// How long the background cancellation may take on a busy 2-core machine.
const CANCEL_WAIT: Duration = Duration::from_secs(20);
const UNKNOWN_SCHEDULE: &str = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12";
/// Price of each grade of the helper venue (`TestApp::create_concert`); its
/// section ids are the grade names.
const PRICES: [(&str, i64); 3] = [("VIP", 150_000), ("R", 100_000), ("S", 50_000)];

fn cancel_path(schedule: &str) -> String {
    format!("/api/v1/schedules/{schedule}/cancel")
}

fn sales_path(schedule: &str) -> String {
    format!("/api/v1/admin/schedules/{schedule}/sales")
}

/// A funded USER with a random id (no account needed to book).
async fn fan(app: &TestApp) -> String {
    let token = app.token_for(UserId::from_random_bytes(rand::random()), Role::User);
    app.fund(&token, FUNDS).await;
    token
}

async fn hold(app: &TestApp, token: &str, schedule: &str, seats: &[&str]) -> Reply {
    app.post_keyed(
        RESERVATIONS,
        token,
        json!({"scheduleId": schedule, "seatIds": seats}),
    )
    .await
}

async fn hold_ok(app: &TestApp, token: &str, schedule: &str, seats: &[&str]) -> String {
    let reply = hold(app, token, schedule, seats).await;
    reply.expect(201, "");
    reply.body["reservationId"]
        .as_str()
        .expect("reservationId")
        .to_string()
}

async fn pay(app: &TestApp, token: &str, reservation: &str) -> Reply {
    app.post_keyed(PAYMENTS, token, json!({"reservationId": reservation}))
        .await
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    let reply = app.get("/api/v1/wallet", Some(token)).await;
    reply.expect(200, "");
    reply.body["balance"].as_i64().expect("balance")
}

async fn reservation(app: &TestApp, token: &str, id: &str) -> Value {
    let reply = app.get(&format!("{RESERVATIONS}/{id}"), Some(token)).await;
    reply.expect(200, "");
    reply.body.clone()
}

async fn sales(app: &TestApp, admin: &str, schedule: &str) -> Value {
    let reply = app.get(&sales_path(schedule), Some(admin)).await;
    reply.expect(200, "");
    reply.body.clone()
}

/// Polls until every fan's balance is back to `FUNDS` (their refunds paid).
async fn wait_for_refunds(app: &TestApp, fans: &[&str]) {
    let deadline = Instant::now() + CANCEL_WAIT;
    loop {
        let mut all = true;
        for fan in fans {
            all &= balance(app, fan).await == FUNDS;
        }
        if all {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "refunds not paid within {CANCEL_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Tokens that may not run admin operations: (what, token, status, code).
async fn refused_callers(app: &TestApp) -> Vec<(&'static str, Option<String>, u16, &'static str)> {
    let (_, user) = app.account_token(Role::User).await;
    let (staff_id, staff) = app.account_token(Role::Staff).await;
    let expired = app
        .keys()
        .issue(
            staff_id,
            Role::Admin,
            TokenKind::Access,
            Timestamp(START.0 - 7 * 24 * 3_600_000),
        )
        .expect("token");
    let no_account = app.token_for(UserId::from_random_bytes(rand::random()), Role::Admin);
    vec![
        ("no token", None, 401, "UNAUTHORIZED"),
        ("expired token", Some(expired), 401, "UNAUTHORIZED"),
        ("token of no account", Some(no_account), 401, "UNAUTHORIZED"),
        ("USER", Some(user), 403, "FORBIDDEN"),
        ("STAFF", Some(staff), 403, "FORBIDDEN"),
    ]
}

#[actix_rt::test]
async fn cancelling_a_schedule_releases_holds_and_refunds_every_paid_reservation_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (concert, schedule) = app.create_concert(&admin, None, 600).await;
    let (a, b, c) = (fan(&app).await, fan(&app).await, fan(&app).await);
    let paid_a = hold_ok(&app, &a, &schedule, &["VIP-1-1", "VIP-1-2"]).await;
    pay(&app, &a, &paid_a).await.expect(201, "");
    let paid_b = hold_ok(&app, &b, &schedule, &["R-1-1"]).await;
    pay(&app, &b, &paid_b).await.expect(201, "");
    let held_c = hold_ok(&app, &c, &schedule, &["S-1-1"]).await;
    assert_eq!(balance(&app, &a).await, FUNDS - 300_000);
    let ticket = reservation(&app, &a, &paid_a).await["tickets"][0]["ticketId"]
        .as_str()
        .expect("ticketId")
        .to_string();

    // Refused callers and unknown schedules change nothing.
    for (what, token, status, code) in refused_callers(&app).await {
        app.post(&cancel_path(&schedule), token.as_deref(), json!({}))
            .await
            .expect_case(what, status, code);
    }
    for (what, id) in [("unknown", UNKNOWN_SCHEDULE), ("malformed", "not-an-id")] {
        app.post(&cancel_path(id), Some(&admin), json!({}))
            .await
            .expect_case(what, 404, "NOT_FOUND");
    }
    assert_eq!(reservation(&app, &c, &held_c).await["status"], "HELD");
    assert_eq!(sales(&app, &admin, &schedule).await["sold"], 3);

    let reply = app
        .post(&cancel_path(&schedule), Some(&admin), json!({}))
        .await;
    reply.expect(200, "");
    assert_eq!(
        reply.body,
        json!({"scheduleId": schedule, "status": "CANCELLED", "releasedHolds": 1,
               "refundedReservations": 2, "refundedAmount": 400_000})
    );
    app.post(&cancel_path(&schedule), Some(&admin), json!({}))
        .await
        .expect(409, "CONFLICT");

    // Nothing new is sold, whatever the cancellation has reached.
    let d = fan(&app).await;
    hold(&app, &d, &schedule, &["S-3-1"])
        .await
        .expect(409, "SCHEDULE_CANCELLED");
    pay(&app, &c, &held_c)
        .await
        .expect(409, "SCHEDULE_CANCELLED");

    wait_for_refunds(&app, &[&a, &b, &c, &d]).await;
    for (token, id, refund) in [(&a, &paid_a, 300_000), (&b, &paid_b, 100_000)] {
        let body = reservation(&app, token, id).await;
        assert_eq!(body["status"], "CANCELLED");
        assert_eq!(body["refundAmount"], refund);
    }
    assert_eq!(reservation(&app, &c, &held_c).await["status"], "CANCELLED");
    let ticket_body = app
        .get(&format!("/api/v1/tickets/{ticket}"), Some(&a))
        .await;
    ticket_body.expect(200, "");
    assert_eq!(ticket_body.body["status"], "VOID");

    // Running the cancellation again (a second driver, a restart) pays nothing twice.
    let id = boxoffice_engine::ids::ScheduleId::parse(&schedule).expect("id");
    app.registry
        .finish_cancellation(id)
        .await
        .expect("finished");
    for token in [&a, &b, &c] {
        assert_eq!(balance(&app, token).await, FUNDS);
    }
    let figures = sales(&app, &admin, &schedule).await;
    assert_eq!(
        (
            &figures["sold"],
            &figures["held"],
            &figures["available"],
            &figures["revenue"],
            &figures["refunded"]
        ),
        (&json!(0), &json!(0), &json!(60), &json!(0), &json!(400_000))
    );
    let listing = app.get(&format!("/api/v1/concerts/{concert}"), None).await;
    listing.expect(200, "");
    assert_eq!(listing.body["schedules"][0]["status"], "CANCELLED");
    app.stop().await;
}

/// Payments racing the cancel: each either completes (and is then refunded)
/// or is refused SCHEDULE_CANCELLED; every wallet ends where it started.
#[actix_rt::test]
async fn payments_in_flight_at_the_cancel_end_consistently() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let mut fans = Vec::new();
    for n in 1..=10 {
        let token = fan(&app).await;
        let seat = format!("S-{}-{}", (n - 1) / 10 + 1, (n - 1) % 10 + 1);
        let id = hold_ok(&app, &token, &schedule, &[&seat]).await;
        fans.push((token, id));
    }
    let payments = join_all(fans.iter().map(|(token, id)| pay(&app, token, id)));
    let path = cancel_path(&schedule);
    let cancel = app.post(&path, Some(&admin), json!({}));
    let (paid, cancelled) = futures_util::join!(payments, cancel);
    cancelled.expect(200, "");
    let mut confirmed = 0;
    for reply in &paid {
        match reply.status.as_u16() {
            201 => confirmed += 1,
            409 => assert_eq!(reply.code(), "SCHEDULE_CANCELLED"),
            other => panic!("payment answered {other}: {}", reply.text),
        }
    }
    let tokens: Vec<&str> = fans.iter().map(|(t, _)| t.as_str()).collect();
    wait_for_refunds(&app, &tokens).await;
    for (token, id) in &fans {
        assert_eq!(reservation(&app, token, id).await["status"], "CANCELLED");
    }
    let figures = sales(&app, &admin, &schedule).await;
    assert_eq!(figures["refunded"], json!(confirmed * 50_000));
    assert_eq!((&figures["sold"], &figures["held"]), (&json!(0), &json!(0)));
    app.stop().await;
}

/// What the reservations say, summed the way the sales figures must be.
#[derive(Debug, Default, PartialEq)]
struct Sums {
    sold: u64,
    held: u64,
    revenue: i64,
    refunded: i64,
    by_grade: BTreeMap<String, (u64, i64)>,
}

fn add_reservation(sums: &mut Sums, body: &Value) {
    let seats = body["seats"].as_array().expect("seats");
    match body["status"].as_str().expect("status") {
        "HELD" => sums.held += seats.len() as u64,
        "CONFIRMED" => {
            sums.sold += seats.len() as u64;
            sums.revenue += body["totalAmount"].as_i64().expect("total");
            for seat in seats {
                let id = seat["seatId"].as_str().expect("seatId");
                let grade = id.split('-').next().expect("section").to_string();
                let price = PRICES
                    .iter()
                    .find(|(g, _)| *g == grade)
                    .map(|(_, p)| *p)
                    .expect("a known grade");
                let line = sums.by_grade.entry(grade).or_default();
                line.0 += 1;
                line.1 += price;
            }
        }
        _ => sums.refunded += body["refundAmount"].as_i64().unwrap_or(0),
    }
}

#[actix_rt::test]
async fn sales_figures_equal_the_sum_over_reservations_after_a_seeded_workload() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let seats: Vec<String> = [("VIP", 2, 5), ("R", 2, 10), ("S", 3, 10)]
        .iter()
        .flat_map(|&(section, rows, per_row)| {
            (1..=rows)
                .flat_map(move |row| (1..=per_row).map(move |n| format!("{section}-{row}-{n}")))
        })
        .collect();
    let mut fans = Vec::new();
    for _ in 0..6 {
        fans.push(fan(&app).await);
    }
    let mut rng = StdRng::seed_from_u64(15);
    // (owner index, reservation id)
    let mut made: Vec<(usize, String)> = Vec::new();
    for _ in 0..80 {
        let who = rng.gen_range(0..fans.len());
        let token = &fans[who];
        match rng.gen_range(0..10) {
            0..=4 => {
                let count = rng.gen_range(1..=2);
                let picked: Vec<&str> = (0..count)
                    .map(|_| seats[rng.gen_range(0..seats.len())].as_str())
                    .collect();
                let reply = hold(&app, token, &schedule, &picked).await;
                match reply.status.as_u16() {
                    201 => made.push((
                        who,
                        reply.body["reservationId"].as_str().expect("id").into(),
                    )),
                    // Taken, repeated or over the per-user limit: refused, nothing changed.
                    400 | 409 | 422 => {}
                    other => panic!("hold answered {other}: {}", reply.text),
                }
            }
            5..=7 if !made.is_empty() => {
                let (owner, id) = &made[rng.gen_range(0..made.len())];
                let reply = pay(&app, &fans[*owner], id).await;
                assert!(
                    [201, 409].contains(&reply.status.as_u16()),
                    "payment answered {}",
                    reply.text
                );
            }
            _ if !made.is_empty() => {
                let (owner, id) = &made[rng.gen_range(0..made.len())];
                let reply = app
                    .post(
                        &format!("{RESERVATIONS}/{id}/cancel"),
                        Some(&fans[*owner]),
                        json!({}),
                    )
                    .await;
                assert!(
                    [200, 409].contains(&reply.status.as_u16()),
                    "cancel answered {}",
                    reply.text
                );
            }
            _ => {}
        }
    }
    let mut sums = Sums::default();
    for (owner, id) in &made {
        add_reservation(&mut sums, &reservation(&app, &fans[*owner], id).await);
    }
    assert!(
        sums.sold > 0 && sums.refunded > 0,
        "the workload sold and refunded: {sums:?}"
    );
    let figures = sales(&app, &admin, &schedule).await;
    let mut by_grade = BTreeMap::new();
    for line in figures["byGrade"].as_array().expect("byGrade") {
        let grade = line["grade"].as_str().expect("grade").to_string();
        let (sold, revenue) = (line["sold"].as_u64(), line["revenue"].as_i64());
        if sold != Some(0) {
            by_grade.insert(grade, (sold.expect("sold"), revenue.expect("revenue")));
        }
    }
    let reported = Sums {
        sold: figures["sold"].as_u64().expect("sold"),
        held: figures["held"].as_u64().expect("held"),
        revenue: figures["revenue"].as_i64().expect("revenue"),
        refunded: figures["refunded"].as_i64().expect("refunded"),
        by_grade,
    };
    assert_eq!(reported, sums);
    assert_eq!(figures["capacity"], 60);
    assert_eq!(
        figures["available"].as_u64(),
        Some(60 - sums.sold - sums.held)
    );
    assert_eq!(figures["byGrade"].as_array().map(Vec::len), Some(3));
    app.stop().await;
}

#[actix_rt::test]
async fn sales_are_for_admins_only_and_name_a_schedule() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    for (what, token, status, code) in refused_callers(&app).await {
        app.get(&sales_path(&schedule), token.as_deref())
            .await
            .expect_case(what, status, code);
    }
    for (what, id) in [("unknown", UNKNOWN_SCHEDULE), ("malformed", "not-an-id")] {
        app.get(&sales_path(id), Some(&admin))
            .await
            .expect_case(what, 404, "NOT_FOUND");
    }
    let figures = sales(&app, &admin, &schedule).await;
    assert_eq!(
        figures,
        json!({"scheduleId": schedule, "capacity": 60, "sold": 0, "held": 0, "available": 60,
               "revenue": 0, "refunded": 0, "comps": 0, "blocked": 0, "byGrade": [
                   {"grade": "VIP", "sold": 0, "revenue": 0},
                   {"grade": "R", "sold": 0, "revenue": 0},
                   {"grade": "S", "sold": 0, "revenue": 0}]})
    );
    app.post(&sales_path(&schedule), Some(&admin), json!({}))
        .await
        .expect(405, "METHOD_NOT_ALLOWED");
    app.get(&cancel_path(&schedule), Some(&admin))
        .await
        .expect(405, "METHOD_NOT_ALLOWED");
    app.stop().await;
}

fn blocks_path(schedule: &str) -> String {
    format!("/api/v1/schedules/{schedule}/blocks")
}

fn comps_path(schedule: &str) -> String {
    format!("/api/v1/schedules/{schedule}/comps")
}

/// Every seat's status on a schedule's map, as `token` sees it.
async fn seat_statuses(
    app: &TestApp,
    schedule: &str,
    token: Option<&str>,
) -> BTreeMap<String, String> {
    let reply = app
        .get(&format!("/api/v1/schedules/{schedule}/seats"), token)
        .await;
    reply.expect(200, "");
    let mut out = BTreeMap::new();
    for section in reply.body["sections"].as_array().expect("sections") {
        for row in section["rows"].as_array().expect("rows") {
            for seat in row["seats"].as_array().expect("seats") {
                out.insert(
                    seat["seatId"].as_str().expect("id").to_string(),
                    seat["status"].as_str().expect("status").to_string(),
                );
            }
        }
    }
    out
}

async fn block_list(app: &TestApp, admin: &str, schedule: &str) -> Value {
    let reply = app.get(&blocks_path(schedule), Some(admin)).await;
    reply.expect(200, "");
    reply.body["blocks"].clone()
}

#[actix_rt::test]
async fn blocked_seats_are_off_sale_hidden_from_fans_and_can_be_comped() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let fan_token = fan(&app).await;
    hold_ok(&app, &fan_token, &schedule, &["VIP-1-3"]).await;

    // Refused callers, unknown schedules and bad bodies change nothing.
    let good = json!({"seatIds": ["VIP-1-1"], "reason": "sound desk"});
    for (what, token, status, code) in refused_callers(&app).await {
        let token = token.as_deref();
        app.post(&blocks_path(&schedule), token, good.clone())
            .await
            .expect_case(what, status, code);
        app.get(&blocks_path(&schedule), token)
            .await
            .expect_case(what, status, code);
        app.post(
            &comps_path(&schedule),
            token,
            json!({"seatIds": ["VIP-1-1"], "userId": UNKNOWN_SCHEDULE}),
        )
        .await
        .expect_case(what, status, code);
    }
    for (what, id) in [("unknown", UNKNOWN_SCHEDULE), ("malformed", "not-an-id")] {
        app.post(&blocks_path(id), Some(&admin), good.clone())
            .await
            .expect_case(what, 404, "NOT_FOUND");
    }
    let bad_bodies = [
        (
            "missing reason",
            json!({"seatIds": ["VIP-1-1"]}),
            "VALIDATION_ERROR",
        ),
        (
            "seatIds not a list",
            json!({"seatIds": "VIP-1-1", "reason": "x"}),
            "VALIDATION_ERROR",
        ),
        (
            "reason not a string",
            json!({"seatIds": ["VIP-1-1"], "reason": 5}),
            "VALIDATION_ERROR",
        ),
        (
            "blank reason",
            json!({"seatIds": ["VIP-1-1"], "reason": "  "}),
            "VALIDATION_ERROR",
        ),
        (
            "no seats",
            json!({"seatIds": [], "reason": "x"}),
            "VALIDATION_ERROR",
        ),
        (
            "a seat twice",
            json!({"seatIds": ["VIP-1-1", "VIP-1-1"], "reason": "x"}),
            "VALIDATION_ERROR",
        ),
        (
            "unknown seat",
            json!({"seatIds": ["VIP-1-1", "VIP-9-9"], "reason": "x"}),
            "UNKNOWN_SEAT",
        ),
    ];
    for (what, body, code) in bad_bodies {
        app.post(&blocks_path(&schedule), Some(&admin), body)
            .await
            .expect_case(what, 400, code);
    }
    let malformed = Some(("application/json", b"{\"seatIds\": [".to_vec()));
    app.raw(
        awc::http::Method::POST,
        &blocks_path(&schedule),
        Some(&admin),
        &[],
        malformed,
    )
    .await
    .expect_case("malformed JSON", 400, "VALIDATION_ERROR");
    // All or nothing: a held seat refuses the whole block.
    let reply = app
        .post(
            &blocks_path(&schedule),
            Some(&admin),
            json!({"seatIds": ["VIP-1-1", "VIP-1-3"], "reason": "x"}),
        )
        .await;
    reply.expect(409, "SEAT_UNAVAILABLE");
    assert_eq!(
        reply.body["error"]["details"]["unavailableSeats"],
        json!(["VIP-1-3"])
    );
    assert_eq!(block_list(&app, &admin, &schedule).await, json!([]));

    let reply = app
        .post(
            &blocks_path(&schedule),
            Some(&admin),
            json!({"seatIds": ["VIP-1-2", "VIP-1-1"], "reason": "sound desk"}),
        )
        .await;
    reply.expect(200, "");
    assert_eq!(
        reply.body,
        json!({"scheduleId": schedule, "blocks": [
            {"seatId": "VIP-1-1", "reason": "sound desk"}, {"seatId": "VIP-1-2", "reason": "sound desk"}]})
    );
    app.post(&blocks_path(&schedule), Some(&admin), good.clone())
        .await
        .expect_case("blocked twice", 409, "SEAT_UNAVAILABLE");
    hold(&app, &fan_token, &schedule, &["VIP-1-1"])
        .await
        .expect(409, "SEAT_UNAVAILABLE");
    // Best available skips them: the rest of row 1 is too short for 3 together.
    let best = app
        .post_keyed(
            RESERVATIONS,
            &fan_token,
            json!({"scheduleId": schedule, "quantity": 3, "grade": "VIP"}),
        )
        .await;
    best.expect(201, "");
    let picked: Vec<&str> = best.body["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["seatId"].as_str().expect("id"))
        .collect();
    assert!(picked.iter().all(|s| s.starts_with("VIP-2-")), "{picked:?}");

    // The public map reveals nothing; the admin's names the blocks.
    let (_, staff) = app.account_token(Role::Staff).await;
    for (who, token) in [
        ("anonymous", None),
        ("fan", Some(fan_token.as_str())),
        ("staff", Some(staff.as_str())),
    ] {
        let map = seat_statuses(&app, &schedule, token).await;
        assert_eq!((who, map["VIP-1-1"].as_str()), (who, "SOLD"));
        assert!(map.values().all(|s| s != "BLOCKED"), "{who}");
    }
    let map = seat_statuses(&app, &schedule, Some(&admin)).await;
    assert_eq!(
        (map["VIP-1-1"].as_str(), map["VIP-1-2"].as_str()),
        ("BLOCKED", "BLOCKED")
    );
    let figures = sales(&app, &admin, &schedule).await;
    assert_eq!(
        (
            &figures["blocked"],
            &figures["sold"],
            &figures["held"],
            &figures["available"],
            &figures["comps"]
        ),
        (&json!(2), &json!(0), &json!(4), &json!(54), &json!(0))
    );

    // Unblock: all or nothing, blocked seats only.
    let reply = app
        .raw(
            awc::http::Method::DELETE,
            &blocks_path(&schedule),
            Some(&admin),
            &[],
            Some((
                "application/json",
                json!({"seatIds": ["VIP-1-2", "VIP-1-3"]})
                    .to_string()
                    .into_bytes(),
            )),
        )
        .await;
    reply.expect(409, "SEAT_NOT_BLOCKED");
    assert_eq!(
        reply.body["error"]["details"]["notBlockedSeats"],
        json!(["VIP-1-3"])
    );
    let reply = app
        .raw(
            awc::http::Method::DELETE,
            &blocks_path(&schedule),
            Some(&admin),
            &[],
            Some((
                "application/json",
                json!({"seatIds": ["VIP-1-2"]}).to_string().into_bytes(),
            )),
        )
        .await;
    reply.expect(200, "");
    assert_eq!(
        reply.body["blocks"],
        json!([{"seatId": "VIP-1-1", "reason": "sound desk"}])
    );
    assert_eq!(
        seat_statuses(&app, &schedule, None).await["VIP-1-2"],
        "AVAILABLE"
    );

    // A comp: to an account, of blocked seats only.
    let (guest_id, guest) = app.account_token(Role::User).await;
    let guest_id = guest_id.to_string();
    for (what, body, status, code) in [
        (
            "not blocked",
            json!({"seatIds": ["VIP-1-2"], "userId": guest_id}),
            409,
            "SEAT_NOT_BLOCKED",
        ),
        (
            "no such user",
            json!({"seatIds": ["VIP-1-1"], "userId": UNKNOWN_SCHEDULE}),
            404,
            "NOT_FOUND",
        ),
        (
            "malformed user",
            json!({"seatIds": ["VIP-1-1"], "userId": "nobody"}),
            404,
            "NOT_FOUND",
        ),
        (
            "missing user",
            json!({"seatIds": ["VIP-1-1"]}),
            400,
            "VALIDATION_ERROR",
        ),
    ] {
        app.post(&comps_path(&schedule), Some(&admin), body)
            .await
            .expect_case(what, status, code);
    }
    let reply = app
        .post(
            &comps_path(&schedule),
            Some(&admin),
            json!({"seatIds": ["VIP-1-1"], "userId": guest_id}),
        )
        .await;
    reply.expect(201, "");
    assert_eq!(
        (&reply.body["status"], &reply.body["totalAmount"]),
        (&json!("CONFIRMED"), &json!(0))
    );
    let comp_id = reply.body["reservationId"]
        .as_str()
        .expect("id")
        .to_string();
    let mine = reservation(&app, &guest, &comp_id).await;
    assert_eq!(mine["tickets"].as_array().map(Vec::len), Some(1));
    assert_eq!(block_list(&app, &admin, &schedule).await, json!([]));
    let figures = sales(&app, &admin, &schedule).await;
    assert_eq!(
        (
            &figures["blocked"],
            &figures["sold"],
            &figures["comps"],
            &figures["revenue"]
        ),
        (&json!(0), &json!(1), &json!(1), &json!(0))
    );
    assert_eq!(
        figures["byGrade"][0],
        json!({"grade": "VIP", "sold": 1, "revenue": 0})
    );
    assert_eq!(
        seat_statuses(&app, &schedule, None).await["VIP-1-1"],
        "SOLD"
    );
    app.stop().await;
}
