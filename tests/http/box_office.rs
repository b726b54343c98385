//! Running a box office (API.md): DRAFT concerts hidden from everyone but
//! admins (concert, lists, `q`, search, autocomplete, schedules, seat map,
//! holds, queue joins) until published; PATCH of a concert's text with its
//! bad inputs; status and edits kept across a restart; door check-in per
//! schedule (WRONG_SCHEDULE, the concert and date in the reply) and every
//! ticket admitted exactly once when several doors scan it at once.

use awc::http::Method;
use boxoffice_actors::Role;
use boxoffice_engine::ids::TicketId;
use boxoffice_engine::Timestamp;
use boxoffice_http::auth::TokenKind;
use boxoffice_http::tickets_qr::QrSigner;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::app::*;

const CONCERTS: &str = "/api/v1/concerts";
const CHECKINS: &str = "/api/v1/checkins";
/// API.md: a change is searchable within this.
const FRESHNESS: Duration = Duration::from_secs(1);
const RELEASE_WAIT: Duration = Duration::from_secs(20);
/// A well-formed id that names nothing.
const UNKNOWN: &str = "00000000-0000-4000-8000-000000000001";
/// Tickets the door test checks in from [`DOORS`] doors at once. API.md's
/// figure is 10,000; a debug build over HTTP takes minutes for that, so CI
/// runs this many and `BOXOFFICE_DOOR_TICKETS=10000` runs the full count by hand.
const DOOR_TICKETS: usize = 1_000;
const DOORS: usize = 4;

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A concert on a new venue (the helper's venue: VIP, R, S), DRAFT or not;
/// returns (concertId, scheduleId).
async fn concert(
    app: &TestApp,
    admin: &str,
    title: &str,
    status: Option<&str>,
) -> (String, String) {
    let venue = app.create_venue(admin).await;
    let mut body = json!({
        "title": title, "description": "An evening of quiet strings", "category": "CLASSICAL",
        "venueId": venue,
        "priceGrades": [{"grade": "R", "price": 1000, "sectionIds": ["VIP", "R", "S"]}],
        "schedules": [{"startsAt": "2026-04-01T10:00:00Z", "endsAt": "2026-04-01T13:00:00Z",
            "bookingOpensAt": "2026-02-01T00:00:00Z", "bookingClosesAt": "2026-04-01T09:00:00Z"}],
    });
    if let Some(status) = status {
        body["status"] = json!(status);
    }
    let reply = app.post(CONCERTS, Some(admin), body).await;
    reply.expect(201, "");
    assert_eq!(reply.body["status"], status.unwrap_or("PUBLISHED"));
    (
        str_of(&reply.body["concertId"]),
        str_of(&reply.body["schedules"][0]["scheduleId"]),
    )
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ids_in(reply: &Reply, list: &str, field: &str) -> Vec<String> {
    reply.body[list]
        .as_array()
        .map(|items| items.iter().map(|i| str_of(&i[field])).collect())
        .unwrap_or_default()
}

/// Whether `token`'s caller can see the concert, asked every way API.md
/// lists; every way must agree (panics naming the one that does not).
async fn sees(
    app: &TestApp,
    token: Option<&str>,
    concert: &str,
    schedule: &str,
    word: &str,
) -> bool {
    let mut answers: Vec<(&str, bool)> = Vec::new();
    let get = app.get(&format!("{CONCERTS}/{concert}"), token).await;
    assert!(get.status == 200 || get.status == 404, "{}", get.text);
    answers.push(("GET concert", get.status == 200));
    let schedules = app
        .get(&format!("{CONCERTS}/{concert}/schedules"), token)
        .await;
    answers.push(("GET schedules", schedules.status == 200));
    let one = app
        .get(&format!("/api/v1/schedules/{schedule}"), token)
        .await;
    answers.push(("GET schedule", one.status == 200));
    let seats = app
        .get(&format!("/api/v1/schedules/{schedule}/seats"), token)
        .await;
    answers.push(("GET seat map", seats.status == 200));
    let list = app.get(&format!("{CONCERTS}?pageSize=100"), token).await;
    list.expect(200, "");
    answers.push((
        "list",
        ids_in(&list, "items", "concertId").contains(&concert.to_string()),
    ));
    let q = app
        .get(
            &format!("{CONCERTS}?q={}&pageSize=100", encode(word)),
            token,
        )
        .await;
    q.expect(200, "");
    answers.push((
        "list q",
        ids_in(&q, "items", "concertId").contains(&concert.to_string()),
    ));
    let first = answers[0].1;
    for (what, seen) in &answers {
        assert_eq!(*seen, first, "{what} disagrees with GET concert ({first})");
    }
    first
}

/// GET `path`, waiting through the 503 UNAVAILABLE that search answers
/// while its index is rebuilt after a restart (API.md: retry after
/// `Retry-After`); anything else must be 200.
async fn search_get(app: &TestApp, path: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = app.get(path, None).await;
        if reply.status != 503 || Instant::now() > deadline {
            reply.expect(200, "");
            return reply;
        }
        assert_eq!(reply.body["error"]["code"], "UNAVAILABLE", "{}", reply.text);
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn searched(app: &TestApp, word: &str) -> (Vec<String>, Vec<String>) {
    let search = search_get(app, &format!("/api/v1/search/concerts?q={}", encode(word))).await;
    let complete = search_get(
        app,
        &format!("/api/v1/search/autocomplete?q={}", encode(word)),
    )
    .await;
    (
        ids_in(&search, "items", "concertId"),
        ids_in(&complete, "suggestions", "concertId"),
    )
}

#[actix_rt::test]
async fn a_draft_is_seen_by_admins_only_until_it_is_published() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, user) = app.account_token(Role::User).await;
    let (_, staff) = app.account_token(Role::Staff).await;
    let (published, _) = concert(&app, &admin, "Quokka Quartet", None).await;
    let (draft, schedule) = concert(&app, &admin, "Quokka Quintet", Some("DRAFT")).await;

    // The published one is found, so the index has caught up with both.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !searched(&app, "Quokka").await.0.contains(&published) {
        assert!(
            Instant::now() < deadline,
            "the published concert is not searchable"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    for (who, token) in [
        ("anonymous", None),
        ("USER", Some(user.as_str())),
        ("STAFF", Some(staff.as_str())),
    ] {
        assert!(
            !sees(&app, token, &draft, &schedule, "Quintet").await,
            "{who} sees the draft"
        );
        app.get(&format!("{CONCERTS}/{published}"), token)
            .await
            .expect(200, "");
    }
    let (search, complete) = searched(&app, "Quokka").await;
    assert!(!search.contains(&draft) && !complete.contains(&draft));
    assert!(complete.contains(&published));
    // Nothing of its schedule is reachable either: a hold and a queue join are 404.
    let hold = app
        .post_keyed(
            "/api/v1/reservations",
            &user,
            json!({"scheduleId": schedule, "quantity": 1}),
        )
        .await;
    hold.expect(404, "NOT_FOUND");
    app.post(
        "/api/v1/queue/tokens",
        Some(&user),
        json!({"scheduleId": schedule}),
    )
    .await
    .expect(404, "NOT_FOUND");
    assert!(sees(&app, Some(&admin), &draft, &schedule, "Quintet").await);
    let as_admin = app.get(&format!("{CONCERTS}/{draft}"), Some(&admin)).await;
    assert_eq!(as_admin.body["status"], "DRAFT");

    // Publishing: 401, 403, 404 in that order, then 200 once and 409 after.
    let publish = |id: &str| format!("{CONCERTS}/{id}/publish");
    app.post(&publish(&draft), None, json!({}))
        .await
        .expect(401, "UNAUTHORIZED");
    app.post(&publish(UNKNOWN), Some(&user), json!({}))
        .await
        .expect(403, "FORBIDDEN");
    app.post(&publish(&draft), Some(&staff), json!({}))
        .await
        .expect(403, "FORBIDDEN");
    app.post(&publish(UNKNOWN), Some(&admin), json!({}))
        .await
        .expect(404, "NOT_FOUND");
    app.post(&publish("not-an-id"), Some(&admin), json!({}))
        .await
        .expect(404, "NOT_FOUND");
    app.post(&publish(&published), Some(&admin), json!({}))
        .await
        .expect(409, "CONFLICT");
    assert!(
        !sees(&app, None, &draft, &schedule, "Quintet").await,
        "a refused publish changed it"
    );
    let done = app.post(&publish(&draft), Some(&admin), json!({})).await;
    done.expect(200, "");
    assert_eq!(done.body["status"], "PUBLISHED");
    assert_eq!(done.body["concertId"], draft.as_str());
    app.post(&publish(&draft), Some(&admin), json!({}))
        .await
        .expect(409, "CONFLICT");

    let published_at = Instant::now();
    loop {
        let (search, complete) = searched(&app, "Quintet").await;
        if search.contains(&draft) && complete.contains(&draft) {
            break;
        }
        assert!(
            published_at.elapsed() < FRESHNESS,
            "not searchable within {FRESHNESS:?} of publishing"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    for token in [None, Some(user.as_str())] {
        assert!(sees(&app, token, &draft, &schedule, "Quintet").await);
    }
    app.post_keyed(
        "/api/v1/reservations",
        &user,
        json!({"scheduleId": schedule, "quantity": 1}),
    )
    .await
    .expect(201, "");
    app.stop().await;
}

#[actix_rt::test]
async fn creating_with_a_status_other_than_draft_or_published_is_400_and_creates_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let venue = app.create_venue(&admin).await;
    let before = app
        .get(&format!("{CONCERTS}?pageSize=100"), Some(&admin))
        .await;
    for status in [json!("LIVE"), json!("draft"), json!(1), json!(null)] {
        let body = json!({
            "title": "Odd", "category": "ROCK", "venueId": venue, "status": status,
            "priceGrades": [{"grade": "R", "price": 1000, "sectionIds": ["R"]}],
            "schedules": [{"startsAt": "2026-04-01T10:00:00Z", "endsAt": "2026-04-01T13:00:00Z",
                "bookingOpensAt": "2026-02-01T00:00:00Z", "bookingClosesAt": "2026-04-01T09:00:00Z"}],
        });
        let reply = app.post(CONCERTS, Some(&admin), body).await;
        if status.is_null() {
            // null is "not given": the default, PUBLISHED.
            reply.expect(201, "");
            assert_eq!(reply.body["status"], "PUBLISHED");
            continue;
        }
        reply.expect_case(&status.to_string(), 400, "VALIDATION_ERROR");
    }
    let after = app
        .get(&format!("{CONCERTS}?pageSize=100"), Some(&admin))
        .await;
    assert_eq!(
        after.body["total"].as_u64().unwrap_or(0),
        before.body["total"].as_u64().unwrap_or(0) + 1
    );
    app.stop().await;
}

#[actix_rt::test]
async fn patch_edits_the_text_and_refuses_anything_else_changing_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, user) = app.account_token(Role::User).await;
    let (_, staff) = app.account_token(Role::Staff).await;
    let (id, _) = concert(&app, &admin, "Wombat Waltz", None).await;
    let path = format!("{CONCERTS}/{id}");
    let original = app.get(&path, None).await.body.clone();
    let (admin_id, _) = app.account_token(Role::Admin).await;
    let two_hours_ago = Timestamp(START.0 - 7_200_000);
    let expired = (app.keys())
        .issue(admin_id, Role::Admin, TokenKind::Access, two_hours_ago)
        .expect("token");

    let patch = |token: Option<&str>, p: &str, bytes: &str| {
        let (token, p, bytes) = (token.map(str::to_string), p.to_string(), bytes.to_string());
        let app = &app;
        async move {
            app.raw(
                Method::PATCH,
                &p,
                token.as_deref(),
                &[],
                Some(("application/json", bytes.into_bytes())),
            )
            .await
        }
    };
    let good = r#"{"title": "Wombat Waltz II"}"#;
    patch(None, &path, good).await.expect(401, "UNAUTHORIZED");
    patch(Some(&expired), &path, good)
        .await
        .expect(401, "UNAUTHORIZED");
    patch(Some(&user), &path, good)
        .await
        .expect(403, "FORBIDDEN");
    patch(Some(&staff), &path, "{not json")
        .await
        .expect(403, "FORBIDDEN");
    let unknown = format!("{CONCERTS}/{UNKNOWN}");
    patch(Some(&admin), &unknown, good)
        .await
        .expect(404, "NOT_FOUND");
    patch(Some(&admin), &unknown, "{not json")
        .await
        .expect(404, "NOT_FOUND");
    #[rustfmt::skip]
    let bad = [
        ("malformed JSON", "{\"title\": "),
        ("not an object", "[1, 2]"),
        ("a wrong type", r#"{"title": 5}"#),
        ("an unknown field", r#"{"venueId": "x"}"#),
        ("a field PATCH cannot change", r#"{"title": "ok", "holdSeconds": 60}"#),
        ("status (publish is its own action)", r#"{"status": "PUBLISHED"}"#),
        ("nothing to change", "{}"),
        ("an empty title", r#"{"title": ""}"#),
        ("a blank title", r#"{"title": "   "}"#),
        ("a two-line title", r#"{"title": "a\nb"}"#),
        ("an empty category", r#"{"category": ""}"#),
        ("a long title", &format!(r#"{{"title": "{}"}}"#, "t".repeat(201))),
        ("a long description", &format!(r#"{{"description": "{}"}}"#, "d".repeat(5_001))),
    ];
    for (what, body) in bad {
        patch(Some(&admin), &path, body)
            .await
            .expect_case(what, 400, "VALIDATION_ERROR");
    }
    assert_eq!(
        app.get(&path, None).await.body,
        original,
        "a refused PATCH changed the concert"
    );

    let edited = patch(
        Some(&admin),
        &path,
        r#"{"title": "Numbat Nocturne", "description": ""}"#,
    )
    .await;
    edited.expect(200, "");
    assert_eq!(edited.body["title"], "Numbat Nocturne");
    assert_eq!(edited.body["description"], "");
    assert_eq!(edited.body["category"], original["category"]);
    assert_eq!(edited.body["schedules"], original["schedules"]);
    assert_eq!(app.get(&path, None).await.body, edited.body);
    let at = Instant::now();
    loop {
        let (search, _) = searched(&app, "Numbat").await;
        if search.contains(&id) && !searched(&app, "Wombat").await.0.contains(&id) {
            break;
        }
        assert!(
            at.elapsed() < FRESHNESS,
            "the edit was not searchable within {FRESHNESS:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    app.stop().await;
}

#[actix_rt::test]
async fn a_restart_keeps_drafts_edits_and_publishing_from_the_log_and_from_a_snapshot() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (draft, schedule) = concert(&app, &admin, "Echidna Etude", Some("DRAFT")).await;
    let (other, _) = concert(&app, &admin, "Bilby Ballad", Some("DRAFT")).await;
    app.raw(
        Method::PATCH,
        &format!("{CONCERTS}/{draft}"),
        Some(&admin),
        &[],
        Some((
            "application/json",
            br#"{"title": "Echidna Elegy", "category": "CHAMBER"}"#.to_vec(),
        )),
    )
    .await
    .expect(200, "");
    app.post(
        &format!("{CONCERTS}/{other}/publish"),
        Some(&admin),
        json!({}),
    )
    .await
    .expect(200, "");

    let app = app.restart().await;
    let admin = app.admin_token().await;
    let (_, user) = app.account_token(Role::User).await;
    let kept = app.get(&format!("{CONCERTS}/{draft}"), Some(&admin)).await;
    kept.expect(200, "");
    assert_eq!(kept.body["status"], "DRAFT");
    assert_eq!(kept.body["title"], "Echidna Elegy");
    assert_eq!(kept.body["category"], "CHAMBER");
    assert!(!sees(&app, Some(&user), &draft, &schedule, "Elegy").await);
    assert!(!searched(&app, "Elegy").await.0.contains(&draft));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !searched(&app, "Bilby").await.0.contains(&other) {
        assert!(
            Instant::now() < deadline,
            "the published draft is not searchable after a restart"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    app.get(&format!("{CONCERTS}/{other}"), None)
        .await
        .expect(200, "");
    app.post(
        &format!("{CONCERTS}/{draft}/publish"),
        Some(&admin),
        json!({}),
    )
    .await
    .expect(200, "");

    // Now from a snapshot: snapshot after every event, restart again.
    app.stop().await;
    let dir = app.dir;
    await_engine_release(app.registry).await;
    let mut app = spawn_app_with(|s| {
        s.data_dir = dir.path().to_path_buf();
        s.engine.snapshot_every_events = 1;
    })
    .await;
    app.dir = dir;
    let admin = app.admin_token().await;
    let (third, _) = concert(&app, &admin, "Dingo Divertimento", Some("DRAFT")).await;
    let app = app.restart().await;
    let admin = app.admin_token().await;
    assert_eq!(
        app.get(&format!("{CONCERTS}/{third}"), Some(&admin))
            .await
            .body["status"],
        "DRAFT"
    );
    app.get(&format!("{CONCERTS}/{third}"), None)
        .await
        .expect(404, "NOT_FOUND");
    let published = app.get(&format!("{CONCERTS}/{draft}"), None).await;
    published.expect(200, "");
    assert_eq!(published.body["title"], "Echidna Elegy");
    assert_eq!(published.body["status"], "PUBLISHED");
    app.stop().await;
}

/// A concert on a venue of `rows` rows of 50 seats in section A, price 1
/// per seat, at most 20 seats per user; returns (concertId, scheduleId).
async fn door_concert(app: &TestApp, admin: &str, title: &str, rows: usize) -> (String, String) {
    let rows: Vec<Value> = (1..=rows)
        .map(|r| json!({"row": r.to_string(), "seats": 50}))
        .collect();
    let venue = app
        .post(
            "/api/v1/venues",
            Some(admin),
            json!({"name": "Door Hall", "address": "2 Gate Road",
            "sections": [{"sectionId": "A", "name": "Floor", "rows": rows}]}),
        )
        .await;
    venue.expect(201, "");
    let reply = app
        .post(CONCERTS, Some(admin), json!({
            "title": title, "category": "ROCK", "venueId": venue.body["venueId"],
            "priceGrades": [{"grade": "A", "price": 1, "sectionIds": ["A"]}],
            "schedules": [{"startsAt": "2026-04-01T10:00:00Z", "endsAt": "2026-04-01T13:00:00Z",
                "bookingOpensAt": "2026-02-01T00:00:00Z", "bookingClosesAt": "2026-04-01T09:00:00Z"}],
            "maxSeatsPerUser": 20,
        }))
        .await;
    reply.expect(201, "");
    (
        str_of(&reply.body["concertId"]),
        str_of(&reply.body["schedules"][0]["scheduleId"]),
    )
}

/// Buys `seats` of `schedule` for a new user; returns the ticket ids.
async fn buy(app: &TestApp, schedule: &str, seats: &[String]) -> Vec<String> {
    let (_, user) = app.account_token(Role::User).await;
    app.fund(&user, seats.len() as i64).await;
    let held = app
        .post_keyed(
            "/api/v1/reservations",
            &user,
            json!({"scheduleId": schedule, "seatIds": seats}),
        )
        .await;
    held.expect(201, "");
    let paid = app
        .post_keyed(
            "/api/v1/payments",
            &user,
            json!({"reservationId": held.body["reservationId"]}),
        )
        .await;
    paid.expect(201, "");
    paid.body["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| str_of(&t["ticketId"]))
        .collect()
}

fn qr(ticket: &str) -> String {
    QrSigner::new(QR_KEY.as_bytes()).code(TicketId::parse(ticket).expect("ticket id"))
}

#[actix_rt::test]
async fn a_door_refuses_another_schedules_ticket_naming_it_and_admits_its_own_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, staff) = app.account_token(Role::Staff).await;
    let (_, user) = app.account_token(Role::User).await;
    let (concert_a, door_a) = door_concert(&app, &admin, "Platypus Prelude", 1).await;
    let (_, door_b) = door_concert(&app, &admin, "Kookaburra Canon", 1).await;
    let tickets = buy(&app, &door_a, &["A-1-1".into(), "A-1-2".into()]).await;
    let code = qr(&tickets[0]);
    let ticket_path = format!("/api/v1/tickets/{}", tickets[0]);

    // 401, 403, 404 (the door), then the body.
    app.post(
        CHECKINS,
        None,
        json!({"qrCode": code, "scheduleId": door_a}),
    )
    .await
    .expect(401, "UNAUTHORIZED");
    app.post(
        CHECKINS,
        Some(&user),
        json!({"qrCode": code, "scheduleId": UNKNOWN}),
    )
    .await
    .expect(403, "FORBIDDEN");
    app.post(
        CHECKINS,
        Some(&staff),
        json!({"qrCode": code, "scheduleId": UNKNOWN}),
    )
    .await
    .expect(404, "NOT_FOUND");
    app.post(
        CHECKINS,
        Some(&staff),
        json!({"qrCode": "forged", "scheduleId": UNKNOWN}),
    )
    .await
    .expect(404, "NOT_FOUND");
    app.post(
        CHECKINS,
        Some(&staff),
        json!({"qrCode": "forged", "scheduleId": door_a}),
    )
    .await
    .expect(400, "INVALID_TICKET");
    app.post(
        CHECKINS,
        Some(&staff),
        json!({"qrCode": code, "scheduleId": 7}),
    )
    .await
    .expect(400, "VALIDATION_ERROR");
    app.post(CHECKINS, Some(&staff), json!({"scheduleId": door_a}))
        .await
        .expect(400, "VALIDATION_ERROR");

    let wrong = app
        .post(
            CHECKINS,
            Some(&staff),
            json!({"qrCode": code, "scheduleId": door_b}),
        )
        .await;
    wrong.expect(409, "WRONG_SCHEDULE");
    let details = &wrong.body["error"]["details"];
    assert_eq!(details["concert"]["concertId"], concert_a.as_str());
    assert_eq!(details["concert"]["title"], "Platypus Prelude");
    assert_eq!(details["schedule"]["scheduleId"], door_a.as_str());
    assert_eq!(details["schedule"]["startsAt"], "2026-04-01T10:00:00Z");
    // The refused ticket stays unused: it is still ISSUED and admits at its own door.
    let owner_view = app.get(&ticket_path, Some(&user)).await;
    assert!(owner_view.status == 404 || owner_view.body["status"] != "USED");

    let admitted = app
        .post(
            CHECKINS,
            Some(&staff),
            json!({"qrCode": code, "scheduleId": door_a}),
        )
        .await;
    admitted.expect(200, "");
    assert_eq!(admitted.body["valid"], true);
    assert_eq!(admitted.body["ticketId"], tickets[0].as_str());
    assert_eq!(admitted.body["seat"]["seatId"], "A-1-1");
    assert_eq!(admitted.body["concert"]["concertId"], concert_a.as_str());
    assert_eq!(admitted.body["concert"]["title"], "Platypus Prelude");
    assert_eq!(admitted.body["schedule"]["scheduleId"], door_a.as_str());
    assert_eq!(
        admitted.body["schedule"]["startsAt"],
        "2026-04-01T10:00:00Z"
    );
    app.post(
        CHECKINS,
        Some(&staff),
        json!({"qrCode": code, "scheduleId": door_a}),
    )
    .await
    .expect(409, "TICKET_ALREADY_USED");
    // A used ticket at the wrong door is still the wrong door (it names where it belongs).
    app.post(
        CHECKINS,
        Some(&staff),
        json!({"qrCode": code, "scheduleId": door_b}),
    )
    .await
    .expect(409, "WRONG_SCHEDULE");
    // A door that does not say which schedule it is admits any ticket, as before.
    let anywhere = app
        .post(CHECKINS, Some(&staff), json!({"qrCode": qr(&tickets[1])}))
        .await;
    anywhere.expect(200, "");
    assert_eq!(anywhere.body["concert"]["title"], "Platypus Prelude");
    app.stop().await;
}

#[actix_rt::test]
async fn four_doors_scanning_every_ticket_at_once_admit_each_exactly_once() {
    let count: usize = std::env::var("BOXOFFICE_DOOR_TICKETS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DOOR_TICKETS);
    let rows = count.div_ceil(50);
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = door_concert(&app, &admin, "Door Rush", rows).await;
    let seats: Vec<String> = (0..count)
        .map(|n| format!("A-{}-{}", n / 50 + 1, n % 50 + 1))
        .collect();
    let mut tickets = Vec::with_capacity(count);
    for batch in seats.chunks(20 * 8) {
        let bought = join_all(batch.chunks(20).map(|seats| buy(&app, &schedule, seats))).await;
        tickets.extend(bought.into_iter().flatten());
    }
    assert_eq!(tickets.len(), count);
    let codes: Vec<(String, String)> = tickets.iter().map(|t| (t.clone(), qr(t))).collect();

    let mut staff = Vec::new();
    for _ in 0..DOORS {
        staff.push(app.account_token(Role::Staff).await.1);
    }
    // Two doors scan in one order and two in the reverse, so every ticket is
    // raced by at least two doors at about the same moment.
    let door = |d: usize| {
        let (app, staff, codes, schedule) = (&app, staff[d].clone(), &codes, schedule.clone());
        async move {
            let mut answers: Vec<(String, u16, String)> = Vec::with_capacity(codes.len());
            let order: Vec<usize> = if d.is_multiple_of(2) {
                (0..codes.len()).collect()
            } else {
                (0..codes.len()).rev().collect()
            };
            for n in order {
                let (ticket, code) = &codes[n];
                let reply = app
                    .post(
                        CHECKINS,
                        Some(&staff),
                        json!({"qrCode": code, "scheduleId": schedule}),
                    )
                    .await;
                answers.push((
                    ticket.clone(),
                    reply.status.as_u16(),
                    reply.code().to_string(),
                ));
            }
            answers
        }
    };
    let answers = join_all((0..DOORS).map(door)).await;
    let mut admitted: HashMap<String, usize> = HashMap::new();
    for (ticket, status, code) in answers.into_iter().flatten() {
        match (status, code.as_str()) {
            (200, _) => *admitted.entry(ticket).or_default() += 1,
            (409, "TICKET_ALREADY_USED") => {}
            other => panic!("ticket {ticket}: unexpected answer {other:?}"),
        }
    }
    assert_eq!(admitted.len(), count, "some ticket was never admitted");
    assert!(
        admitted.values().all(|&n| n == 1),
        "a ticket was admitted twice"
    );
    app.stop().await;
}

const USERS: &str = "/api/v1/admin/users";

async fn account(app: &TestApp, email: &str, name: &str) -> String {
    let account = app
        .registry
        .ensure_account(email.into(), name.into(), "no-password".into(), Role::User)
        .await
        .expect("account");
    account.user_id.to_string()
}

fn emails(reply: &Reply) -> Vec<String> {
    ids_in(reply, "items", "email")
}

#[actix_rt::test]
async fn an_admin_finds_users_by_email_or_part_of_one_and_makes_one_staff() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, user) = app.account_token(Role::User).await;
    let (_, staff) = app.account_token(Role::Staff).await;
    let lee = account(&app, "kim.lee@example.com", "Kim Lee").await;
    account(&app, "park@example.com", "Park Leeann").await;
    account(&app, "choi@example.com", "Choi").await;

    app.get(USERS, None).await.expect(401, "UNAUTHORIZED");
    app.get(USERS, Some("not-a-token"))
        .await
        .expect(401, "UNAUTHORIZED");
    app.get(USERS, Some(&user)).await.expect(403, "FORBIDDEN");
    app.get(&format!("{USERS}?q="), Some(&staff))
        .await
        .expect(403, "FORBIDDEN");
    let long = "x".repeat(101);
    for query in [
        "email=",
        "q=",
        "q=%20%20",
        &format!("q={long}"),
        "email=a%40b.c&q=a",
        "pageSize=0",
        "page=x",
        "pageSize=101",
    ] {
        app.get(&format!("{USERS}?{query}"), Some(&admin))
            .await
            .expect_case(query, 400, "VALIDATION_ERROR");
    }

    // Exact email, compared like a login (case and width folded).
    let exact = app
        .get(
            &format!("{USERS}?email=KIM.LEE%40Example.com"),
            Some(&admin),
        )
        .await;
    exact.expect(200, "");
    assert_eq!(exact.body["total"], 1);
    let found = &exact.body["items"][0];
    assert_eq!(found["userId"], lee.as_str());
    assert_eq!(found["email"], "kim.lee@example.com");
    assert_eq!(found["name"], "Kim Lee");
    assert_eq!(found["role"], "USER");
    assert!(found["createdAt"].is_string());
    assert!(found.get("passwordHash").is_none());
    let none = app
        .get(&format!("{USERS}?email=lee%40example.com"), Some(&admin))
        .await;
    none.expect(200, "");
    assert_eq!(none.body["total"], 0);

    // A part of an email or a name, ignoring case, paged oldest first.
    let part = app.get(&format!("{USERS}?q=LEE"), Some(&admin)).await;
    part.expect(200, "");
    assert_eq!(part.body["total"], 2);
    // (Created in one millisecond of the test clock: their order is by id.)
    let mut both = emails(&part);
    both.sort();
    assert_eq!(both, ["kim.lee@example.com", "park@example.com"]);
    let first = app
        .get(&format!("{USERS}?q=lee&pageSize=1&page=1"), Some(&admin))
        .await;
    let second = app
        .get(&format!("{USERS}?q=lee&pageSize=1&page=2"), Some(&admin))
        .await;
    assert_eq!(second.body["total"], 2);
    assert_eq!([emails(&first), emails(&second)].concat(), emails(&part));
    let all = app.get(USERS, Some(&admin)).await;
    all.expect(200, "");
    assert_eq!(
        all.body["total"], 6,
        "the admin, a USER, a STAFF and three more"
    );

    // What the search is for: the userId makes them STAFF.
    app.put(
        &format!("/api/v1/admin/users/{lee}/role"),
        Some(&admin),
        json!({"role": "STAFF"}),
    )
    .await
    .expect(200, "");
    let promoted = app.get(&format!("{USERS}?q=kim.lee"), Some(&admin)).await;
    assert_eq!(promoted.body["items"][0]["role"], "STAFF");
    app.stop().await;
}

#[actix_rt::test]
async fn a_user_search_pages_correctly_across_its_bounded_scans() {
    use boxoffice_actors::accounts::ACCOUNTS_PER_SCAN;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let bulk = ACCOUNTS_PER_SCAN + 200;
    for start in (0..bulk).step_by(500) {
        join_all((start..(start + 500).min(bulk)).map(|n| {
            let app = &app;
            async move { account(app, &format!("fan{n:05}@bulk.example"), "Bulk Fan").await }
        }))
        .await;
    }
    account(&app, "needle@example.com", "Needle").await;
    let needle = app.get(&format!("{USERS}?q=needl"), Some(&admin)).await;
    needle.expect(200, "");
    assert_eq!(emails(&needle), ["needle@example.com"]);

    let mut seen = std::collections::HashSet::new();
    let pages = bulk.div_ceil(100);
    for page in 1..=pages {
        let reply = app
            .get(
                &format!("{USERS}?q=bulk&pageSize=100&page={page}"),
                Some(&admin),
            )
            .await;
        reply.expect(200, "");
        assert_eq!(reply.body["total"].as_u64(), Some(bulk as u64));
        let items = emails(&reply);
        assert_eq!(
            items.len(),
            (bulk - (page - 1) * 100).min(100),
            "page {page}"
        );
        seen.extend(items);
    }
    assert_eq!(seen.len(), bulk, "every account once over the pages");
    let past = app
        .get(
            &format!("{USERS}?q=bulk&pageSize=100&page={}", pages + 1),
            Some(&admin),
        )
        .await;
    assert_eq!(emails(&past).len(), 0);
    app.stop().await;
}

/// Cancels a reservation of `token`'s.
async fn cancel(app: &TestApp, token: &str, id: &str) {
    app.post(
        &format!("/api/v1/reservations/{id}/cancel"),
        Some(token),
        json!({}),
    )
    .await
    .expect(200, "");
}

/// Every item of the admin's list of `schedule` in `status` (all when
/// empty), fetched `size` at a time; checks each page's `total`.
async fn admin_list(
    app: &TestApp,
    admin: &str,
    schedule: &str,
    status: &str,
    size: usize,
) -> Vec<Value> {
    let filter = if status.is_empty() {
        String::new()
    } else {
        format!("&status={status}")
    };
    let mut items = Vec::new();
    let mut total = None;
    for page in 1.. {
        let reply = app
            .get(&format!("/api/v1/admin/schedules/{schedule}/reservations?pageSize={size}&page={page}{filter}"), Some(admin))
            .await;
        reply.expect(200, "");
        let this_total = reply.body["total"].as_u64().expect("total");
        assert_eq!(
            *total.get_or_insert(this_total),
            this_total,
            "the total moved between pages"
        );
        let got = reply.body["items"].as_array().expect("items").clone();
        if got.is_empty() {
            break;
        }
        items.extend(got);
    }
    assert_eq!(
        items.len() as u64,
        total.unwrap_or(0),
        "the pages do not add up to the total"
    );
    items
}

#[actix_rt::test]
async fn an_admin_pages_a_schedules_reservations_live_and_archived_and_after_a_restart() {
    let app = spawn_app_with(|s| {
        s.engine.snapshot_every_events = 8;
        s.engine.archive_after_ended = 4;
    })
    .await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 60).await;
    let (_, other_schedule) = app.create_concert(&admin, None, 60).await;
    // Who made what: reservation id → (userId, email).
    let mut made: HashMap<String, (String, String)> = HashMap::new();
    let mut fans = Vec::new();
    for n in 0..3 {
        let email = format!("fan{n}@example.com");
        let id = account(&app, &email, "Fan").await;
        let token = app.token_for(
            boxoffice_engine::ids::UserId::parse(&id).expect("id"),
            Role::User,
        );
        app.fund(&token, 10_000_000).await;
        fans.push((id, email, token));
    }
    for (n, (id, email, token)) in fans.iter().enumerate() {
        for _ in 0..6 {
            let r = app.hold(token, &schedule, &["S-1-1"]).await;
            app.clock.advance_ms(1);
            cancel(&app, token, &r).await;
            made.insert(r, (id.clone(), email.clone()));
        }
        let seat = format!("VIP-1-{}", n + 1);
        let paid = app.hold(token, &schedule, &[&seat]).await;
        app.clock.advance_ms(1);
        app.post_keyed("/api/v1/payments", token, json!({"reservationId": paid}))
            .await
            .expect(201, "");
        made.insert(paid, (id.clone(), email.clone()));
        let seat = format!("R-1-{}", n + 1);
        let held = app.hold(token, &schedule, &[&seat]).await;
        app.clock.advance_ms(1);
        made.insert(held, (id.clone(), email.clone()));
        // Not this schedule's: never listed.
        app.hold(token, &other_schedule, &[&format!("S-3-{}", n + 1)])
            .await;
    }
    let store = app.registry.context().commit.store().clone();
    // Both statuses' keys (each archived reservation has one).
    let archived_keys = format!("archive/s/{schedule}/");
    let deadline = Instant::now() + RELEASE_WAIT;
    while store.list_meta(&archived_keys, 100).expect("list").len() < 8 {
        assert!(Instant::now() < deadline, "the history was never archived");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }

    let check = |items: &[Value], made: &HashMap<String, (String, String)>| {
        let mut seen = std::collections::HashSet::new();
        for item in items {
            let id = str_of(&item["reservationId"]);
            let (user, email) = made
                .get(&id)
                .unwrap_or_else(|| panic!("{id} is not this schedule's"));
            assert_eq!(&str_of(&item["userId"]), user);
            assert_eq!(&str_of(&item["email"]), email);
            assert_eq!(item["scheduleId"], schedule.as_str());
            assert!(seen.insert(id), "listed twice");
        }
        seen.len()
    };
    let all = admin_list(&app, &admin, &schedule, "", 7).await;
    assert_eq!(
        check(&all, &made),
        made.len(),
        "every reservation, live and archived"
    );
    // Newest first.
    // (RFC 3339 with as many fractional digits as needed: compare the
    // whole seconds as text, then the fraction as a number.)
    let held_at: Vec<(String, f64)> = (all.iter())
        .map(|i| {
            let text = str_of(&i["heldAt"]);
            let (whole, fraction) = text.trim_end_matches('Z').split_at(19);
            (
                whole.to_string(),
                format!("0{fraction}").parse::<f64>().unwrap_or(0.0),
            )
        })
        .collect();
    assert!(
        held_at.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {held_at:?}"
    );
    // Each as its owner reads it, plus userId and email.
    for item in all.iter().step_by(5) {
        let (user, _) = &made[&str_of(&item["reservationId"])];
        let token = &fans.iter().find(|f| &f.0 == user).expect("fan").2;
        let own = app
            .get(
                &format!("/api/v1/reservations/{}", str_of(&item["reservationId"])),
                Some(token),
            )
            .await;
        own.expect(200, "");
        let mut admin_view = item.clone();
        let object = admin_view.as_object_mut().expect("object");
        object.remove("userId");
        object.remove("email");
        assert_eq!(admin_view, own.body);
    }
    for (status, count) in [
        ("CANCELLED", 18),
        ("CONFIRMED", 3),
        ("HELD", 3),
        ("EXPIRED", 0),
    ] {
        let items = admin_list(&app, &admin, &schedule, status, 4).await;
        assert_eq!(items.len(), count, "{status}");
        assert!(items.iter().all(|i| i["status"] == status));
    }

    // Bad inputs: 401, 403, 404 (before a bad query), then 400.
    let path = format!("/api/v1/admin/schedules/{schedule}/reservations");
    let (_, user) = app.account_token(Role::User).await;
    let (_, staff) = app.account_token(Role::Staff).await;
    app.get(&path, None).await.expect(401, "UNAUTHORIZED");
    app.get(&path, Some(&user)).await.expect(403, "FORBIDDEN");
    app.get(&path, Some(&staff)).await.expect(403, "FORBIDDEN");
    for unknown in [UNKNOWN, "not-an-id"] {
        let missing = format!("/api/v1/admin/schedules/{unknown}/reservations");
        app.get(&missing, Some(&admin))
            .await
            .expect(404, "NOT_FOUND");
        app.get(&format!("{missing}?status=LOST"), Some(&admin))
            .await
            .expect(404, "NOT_FOUND");
    }
    for query in [
        "status=LOST",
        "status=held",
        "pageSize=0",
        "pageSize=101",
        "page=0",
    ] {
        app.get(&format!("{path}?{query}"), Some(&admin))
            .await
            .expect_case(query, 400, "VALIDATION_ERROR");
    }

    // A restart answers the same, and so does one whose data dir lost the
    // per-schedule index (as one written before it): start-up rebuilds it.
    drop(store);
    let app = app.restart().await;
    let admin = app.admin_token().await;
    let after = admin_list(&app, &admin, &schedule, "", 7).await;
    assert_eq!(after, all, "a restart changed the list");
    let store = app.registry.context().commit.store().clone();
    for prefix in ["archive/s/", "archive/m/"] {
        for key in store.list_meta(prefix, 100_000).expect("list") {
            store.delete_meta(&key).expect("delete");
        }
    }
    store.delete_meta("archive/sv").expect("delete");
    store.flush().expect("flush");
    drop(store);
    let app = app.restart().await;
    let admin = app.admin_token().await;
    let rebuilt = admin_list(&app, &admin, &schedule, "", 7).await;
    assert_eq!(rebuilt, all, "the migrated index lists differently");
    assert_eq!(
        admin_list(&app, &admin, &schedule, "CANCELLED", 5)
            .await
            .len(),
        18
    );
    app.stop().await;
}

/// Serves a `--demo` server on `data` while `work` runs against its base
/// URL, then stops it and waits until its engine let go of the data dir.
async fn with_demo_server<F, Fut>(data: &std::path::Path, work: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut settings = boxoffice_http::Settings::new(data.to_path_buf());
    settings.bind = "127.0.0.1:0".parse().expect("address");
    settings.demo = true;
    settings.jwt_secret = Some(JWT_SECRET.into());
    settings.rate_limits = boxoffice_http::rate_limit::RateLimitSettings::off();
    let app = boxoffice_http::Application::build(
        settings,
        Arc::new(boxoffice_actors::ManualClock::new(START)),
        Arc::new(boxoffice_actors::IdSource::seeded(11)),
    )
    .await
    .expect("demo server builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let registry = Arc::clone(app.registry());
    let handle = app.handle();
    let serving = actix_rt::spawn(app.run_until_stopped());
    work(base).await;
    handle.stop(true).await;
    serving.await.expect("joined").expect("stopped cleanly");
    await_engine_release(registry).await;
}

async fn get_json(url: &str, token: Option<&str>) -> Value {
    let mut request = awc::Client::default().get(url);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send().await.expect("answered");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    response.json::<Value>().limit(1 << 24).await.expect("json")
}

/// (titles anyone sees, titles the demo admin sees, DRAFT titles among those)
async fn demo_catalogue(base: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let login = awc::Client::default()
        .post(format!("{base}/api/v1/auth/login"))
        .send_json(&json!({"email": boxoffice_http::demo::ADMIN.0, "password": boxoffice_http::demo::ADMIN.1}))
        .await
        .expect("answered")
        .json::<Value>()
        .await
        .expect("json");
    let admin = str_of(&login["accessToken"]);
    let list = format!("{base}{CONCERTS}?pageSize=100");
    let titles = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| str_of(&i["title"]))
            .collect()
    };
    let public = get_json(&list, None).await;
    let admins = get_json(&list, Some(&admin)).await;
    let drafts = (admins["items"].as_array().expect("items").iter())
        .filter(|i| i["status"] == "DRAFT")
        .map(|i| str_of(&i["title"]))
        .collect();
    (titles(&public), titles(&admins), drafts)
}

/// The sales of the demo's first jazz night, as the demo admin sees them.
async fn demo_sales(base: &str) -> Value {
    let login = awc::Client::default()
        .post(format!("{base}/api/v1/auth/login"))
        .send_json(&json!({"email": boxoffice_http::demo::ADMIN.0, "password": boxoffice_http::demo::ADMIN.1}))
        .await
        .expect("answered")
        .json::<Value>()
        .await
        .expect("json");
    let admin = str_of(&login["accessToken"]);
    let list = get_json(&format!("{base}{CONCERTS}?pageSize=100"), None).await;
    let jazz = (list["items"].as_array().expect("items").iter())
        .find(|c| c["title"].as_str().is_some_and(|t| t.contains("재즈")))
        .map(|c| str_of(&c["concertId"]))
        .expect("the jazz night is listed");
    let detail = get_json(&format!("{base}{CONCERTS}/{jazz}"), None).await;
    let schedule = str_of(&detail["schedules"][0]["scheduleId"]);
    get_json(
        &format!("{base}/api/v1/admin/schedules/{schedule}/sales"),
        Some(&admin),
    )
    .await
}

#[actix_rt::test]
async fn the_demo_has_korean_and_chinese_concerts_and_a_draft_loaded_once_per_data_dir() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut first = None;
    with_demo_server(data.path(), |base| {
        let first = &mut first;
        async move {
            let (public, admins, drafts) = demo_catalogue(&base).await;
            assert_eq!(drafts, [boxoffice_http::demo::DRAFT_TITLE]);
            assert!(!public
                .iter()
                .any(|t| t == boxoffice_http::demo::DRAFT_TITLE));
            assert_eq!(admins.len(), public.len() + 1);
            assert!(
                public.len() >= 7,
                "the first four and the additions: {public:?}"
            );
            assert!(public.iter().any(|t| t.contains("재즈")), "{public:?}");
            assert!(public.iter().any(|t| t.contains("民谣")), "{public:?}");
            // The search finds the Korean one and never the draft.
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let found = get_json(
                    &format!("{base}/api/v1/search/concerts?q={}", encode("재즈")),
                    None,
                )
                .await;
                if found["total"].as_u64().unwrap_or(0) >= 1 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the demo's Korean concert is not searchable"
                );
                actix_rt::time::sleep(Duration::from_millis(50)).await;
            }
            let encore = get_json(
                &format!("{base}/api/v1/search/concerts?q={}", encode("앙코르")),
                None,
            )
            .await;
            assert_eq!(encore["total"], 0, "the draft is searchable: {encore}");
            // Sales and blocked seats for the admin side: two seats paid,
            // one comp of a blocked seat, three seats still blocked.
            let sales = demo_sales(&base).await;
            assert_eq!(sales["sold"], 3, "{sales}");
            assert_eq!(sales["comps"], 1, "{sales}");
            assert_eq!(sales["blocked"], 3, "{sales}");
            assert_eq!(sales["revenue"], 2 * 88_000, "{sales}");
            *first = Some((public, admins, sales));
        }
    })
    .await;
    let first = first.expect("the first run looked");
    with_demo_server(data.path(), |base| async move {
        let (public, admins, _) = demo_catalogue(&base).await;
        let sales = demo_sales(&base).await;
        assert_eq!(
            (public, admins, sales),
            first,
            "a restart loaded the demo again"
        );
    })
    .await;
}
