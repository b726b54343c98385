//! Issue 20 item 7 through real HTTP: reads whose cost does not grow with
//! history. The concert list reads each schedule's published seat counts
//! (`actors/src/seat_board.rs`), so every change a hold, an expiry, a payment
//! or a refund makes must show there, and again after a restart; a user's
//! reservations and tickets are paged from stored indexes
//! (`actors/src/schedule_actor/archive.rs`), so their pages, order, filters
//! and totals must stay what the API promises.

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::app::*;

const CONCERTS: &str = "/api/v1/concerts";
const RESERVATIONS: &str = "/api/v1/reservations";
const PAYMENTS: &str = "/api/v1/payments";
/// The helper venue's seats (`TestApp::create_concert`).
const SEATS: u64 = 60;
/// How long an expiry may take to show: the sweep re-reads the clock at
/// least once a second; plus slack for a busy machine.
const SWEEP_WAIT: Duration = Duration::from_millis(3_000);
/// How long a restart may wait for the stopped server to let go of its data dir.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

/// The concert's `availableSeats` in the public list, its detail's one
/// schedule's, and its schedules list's (which must all agree).
/// The schedule's available seats as the list, the concert's detail and its
/// schedules show them, read one after the other.
async fn available_views(app: &TestApp, concert: &str) -> (u64, u64, u64) {
    let list = app.get(&format!("{CONCERTS}?pageSize=100"), None).await;
    list.expect(200, "");
    let items = list.body["items"].as_array().expect("items");
    let summary = items
        .iter()
        .find(|c| c["concertId"] == concert)
        .unwrap_or_else(|| panic!("{concert} listed: {}", list.text));
    let in_list = summary["availableSeats"].as_u64().expect("availableSeats");
    let detail = app.get(&format!("{CONCERTS}/{concert}"), None).await;
    detail.expect(200, "");
    let in_detail = detail.body["schedules"][0]["availableSeats"]
        .as_u64()
        .expect("availableSeats");
    let schedules = app
        .get(
            &format!("{CONCERTS}/{concert}/schedules?available=false"),
            None,
        )
        .await;
    schedules.expect(200, "");
    let in_schedules = schedules.body["items"][0]["availableSeats"]
        .as_u64()
        .expect("availableSeats");
    (in_list, in_detail, in_schedules)
}

/// The listed available seats, after checking that the detail and the
/// schedules agree (nothing may change the schedule meanwhile).
async fn listed_available(app: &TestApp, concert: &str) -> u64 {
    let (in_list, in_detail, in_schedules) = available_views(app, concert).await;
    assert_eq!(
        (in_detail, in_schedules),
        (in_list, in_list),
        "list, detail and schedules agree"
    );
    in_list
}

async fn pay(app: &TestApp, token: &str, reservation: &str) {
    app.post_keyed(PAYMENTS, token, json!({"reservationId": reservation}))
        .await
        .expect(201, "");
}

#[actix_rt::test]
async fn the_concert_list_shows_every_hold_expiry_payment_and_refund_and_the_counts_survive_a_restart(
) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (concert, schedule) = app.create_concert(&admin, None, 60).await;
    let (_, token) = app.register_and_login("lister").await;
    app.fund(&token, 10_000_000).await;
    assert_eq!(listed_available(&app, &concert).await, SEATS);

    let held = app.hold(&token, &schedule, &["VIP-1-1", "VIP-1-2"]).await;
    assert_eq!(listed_available(&app, &concert).await, SEATS - 2, "a hold");
    pay(&app, &token, &held).await;
    assert_eq!(
        listed_available(&app, &concert).await,
        SEATS - 2,
        "a payment keeps them taken"
    );
    app.post(
        &format!("{RESERVATIONS}/{held}/cancel"),
        Some(&token),
        json!({}),
    )
    .await
    .expect(200, "");
    assert_eq!(
        listed_available(&app, &concert).await,
        SEATS,
        "a refund frees them"
    );

    app.hold(&token, &schedule, &["R-1-1"]).await;
    assert_eq!(listed_available(&app, &concert).await, SEATS - 1);
    app.clock.advance_ms(60_000);
    let deadline = Instant::now() + SWEEP_WAIT;
    // The sweep may land between the three reads: wait until all show it.
    while available_views(&app, &concert).await != (SEATS, SEATS, SEATS) {
        assert!(
            Instant::now() < deadline,
            "the expiry never showed in the list"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }

    let sold = app
        .hold(&token, &schedule, &["S-1-1", "S-1-2", "S-1-3"])
        .await;
    pay(&app, &token, &sold).await;
    app.hold(&token, &schedule, &["S-2-1"]).await;
    assert_eq!(listed_available(&app, &concert).await, SEATS - 4);

    // Restart on the same data dir: the counts are published at load.
    app.stop().await;
    let (dir, registry) = (app.dir, app.registry);
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
    // The new server's clock starts again at START, so the hold is still live.
    assert_eq!(listed_available(&again, &concert).await, SEATS - 4);
    let gauges = again.get("/metrics", None).await;
    assert!(
        gauges
            .text
            .lines()
            .any(|l| l.starts_with("boxoffice_seats_sold") && l.ends_with(" 3")),
        "the sold gauge reads the published counts: {}",
        gauges.text
    );
    again.stop().await;
}

const TICKETS: &str = "/api/v1/tickets";

/// Every page of `path` (a list endpoint, `?` already in it) with
/// `pageSize=size`: the items in order, and the total each page gave.
async fn all_pages(app: &TestApp, token: &str, path: &str, size: usize) -> (Vec<Value>, u64) {
    let mut items = Vec::new();
    let mut total = None;
    for page in 1.. {
        let reply = app
            .get(&format!("{path}pageSize={size}&page={page}"), Some(token))
            .await;
        reply.expect(200, "");
        let this_total = reply.body["total"].as_u64().expect("total");
        assert_eq!(
            *total.get_or_insert(this_total),
            this_total,
            "{path}: one total"
        );
        let page_items = reply.body["items"].as_array().expect("items").clone();
        assert!(page_items.len() <= size);
        let done = page_items.is_empty();
        items.extend(page_items);
        if done {
            break;
        }
    }
    (items, total.unwrap_or(0))
}

fn ids(items: &[Value], field: &str) -> Vec<String> {
    items.iter().map(|item| text(&item[field])).collect()
}

/// What GET /reservations and GET /tickets answer for one user, checked for
/// consistency on the way: pages of 1, 7 and 100 make the same list, the
/// total counts it, each status filter picks exactly its part, the tickets
/// are the reservations' tickets newest reservation first, and the order is
/// the brute-force list's (the whole history loaded, newest first).
async fn answers(app: &TestApp, token: &str, user: &str) -> Vec<Value> {
    let owner = boxoffice_engine::ids::UserId::parse(user).expect("user id");
    let (list, total) = all_pages(app, token, &format!("{RESERVATIONS}?"), 100).await;
    assert_eq!(total as usize, list.len());
    for size in [1, 7] {
        let (paged, paged_total) = all_pages(app, token, &format!("{RESERVATIONS}?"), size).await;
        assert_eq!((paged_total, &paged), (total, &list), "pages of {size}");
    }
    let mut brute = app
        .registry
        .reservations_of(owner)
        .await
        .expect("brute force");
    brute.reverse();
    let brute: Vec<String> = brute.iter().map(|v| v.reservation_id.to_string()).collect();
    assert_eq!(
        ids(&list, "reservationId"),
        brute,
        "the brute-force list, newest first"
    );
    for status in ["HELD", "CONFIRMED", "EXPIRED", "CANCELLED"] {
        let path = format!("{RESERVATIONS}?status={status}&");
        let (filtered, filtered_total) = all_pages(app, token, &path, 3).await;
        let expected: Vec<Value> = list
            .iter()
            .filter(|r| r["status"] == status)
            .cloned()
            .collect();
        assert_eq!(
            (filtered_total as usize, &filtered),
            (expected.len(), &expected),
            "{status}"
        );
    }
    let (tickets, tickets_total) = all_pages(app, token, &format!("{TICKETS}?"), 100).await;
    let (paged, paged_total) = all_pages(app, token, &format!("{TICKETS}?"), 3).await;
    assert_eq!(
        (paged_total, &paged),
        (tickets_total, &tickets),
        "tickets in pages of 3"
    );
    let expected: Vec<String> = list
        .iter()
        // A reservation without tickets leaves the field out.
        .flat_map(|r| {
            r["tickets"]
                .as_array()
                .map(|t| ids(t, "ticketId"))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        ids(&tickets, "ticketId"),
        expected,
        "tickets, newest reservation first"
    );
    assert_eq!(tickets_total as usize, expected.len());
    let mut seen = list;
    seen.extend(tickets);
    seen
}

/// A history long enough that most of it is archived (the archive threshold
/// and snapshot interval lowered), with a held, a confirmed, an expired and
/// two refunded reservations among the cycles: GET /reservations and
/// GET /tickets answer the brute-force list in every page, filter and total,
/// from live and archived reservations alike, and the same after a restart.
#[actix_rt::test]
async fn reservations_and_tickets_page_over_live_and_archived_history_alike_and_after_a_restart() {
    let app = spawn_app_with(|s| {
        s.engine.snapshot_every_events = 8;
        s.engine.archive_after_ended = 4;
    })
    .await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 60).await;
    let (user, token) = app.register_and_login("pager").await;
    app.fund(&token, 10_000_000).await;
    let (_, other) = app.register_and_login("other").await;
    app.hold(&other, &schedule, &["VIP-2-5"]).await;
    // Each step a millisecond apart: the list's order is then the hold order.
    let tick = || app.clock.advance_ms(1);

    for round in 0..2 {
        let paid = app.hold(&token, &schedule, &["R-1-1", "R-1-2"]).await;
        tick();
        pay(&app, &token, &paid).await;
        app.post(
            &format!("{RESERVATIONS}/{paid}/cancel"),
            Some(&token),
            json!({}),
        )
        .await
        .expect(200, "");
        tick();
        for _ in 0..12 {
            let id = app.hold(&token, &schedule, &["S-1-1"]).await;
            tick();
            app.post(
                &format!("{RESERVATIONS}/{id}/cancel"),
                Some(&token),
                json!({}),
            )
            .await
            .expect(200, "");
            tick();
        }
        if round == 0 {
            app.hold(&token, &schedule, &["S-3-1"]).await;
            app.clock.advance_ms(60_000);
            let deadline = Instant::now() + SWEEP_WAIT;
            while listed_expired(&app, &token).await == 0 {
                assert!(Instant::now() < deadline, "the hold never expired");
                actix_rt::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let kept = app.hold(&token, &schedule, &["VIP-1-1", "VIP-1-2"]).await;
    tick();
    pay(&app, &token, &kept).await;
    tick();
    app.hold(&token, &schedule, &["VIP-1-3"]).await;

    let store = app.registry.context().commit.store().clone();
    let prefix = format!("archive/u/{user}/");
    let deadline = Instant::now() + RELEASE_WAIT;
    while store.list_meta(&prefix, 100).expect("list").len() < 10 {
        assert!(Instant::now() < deadline, "the history was never archived");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let before = answers(&app, &token, &user).await;
    let statuses: Vec<&str> = before.iter().filter_map(|r| r["status"].as_str()).collect();
    for status in [
        "HELD",
        "CONFIRMED",
        "EXPIRED",
        "CANCELLED",
        "VOID",
        "ISSUED",
    ] {
        assert!(statuses.contains(&status), "{status} is among the answers");
    }
    let reply = app.get(RESERVATIONS, Some(&token)).await;
    assert_eq!(
        reply.body["total"], 29,
        "2 x (1 refunded + 12 released) + 1 expired + 2 live"
    );
    // Bad paging is refused, never a 500; another user sees only theirs.
    for bad in [
        "page=0",
        "pageSize=0",
        "pageSize=101",
        "page=x",
        "status=VOID",
    ] {
        app.get(&format!("{RESERVATIONS}?{bad}"), Some(&token))
            .await
            .expect_case(bad, 400, "VALIDATION_ERROR");
    }
    for bad in ["page=0", "pageSize=101"] {
        app.get(&format!("{TICKETS}?{bad}"), Some(&token))
            .await
            .expect_case(bad, 400, "VALIDATION_ERROR");
    }
    let theirs = app.get(RESERVATIONS, Some(&other)).await;
    theirs.expect(200, "");
    assert_eq!(theirs.body["total"], 1);

    app.stop().await;
    let (dir, registry) = (app.dir, app.registry);
    let deadline = Instant::now() + RELEASE_WAIT;
    while Arc::strong_count(&registry) > 1 {
        assert!(
            Instant::now() < deadline,
            "the stopped server kept its engine"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    drop((registry, store));
    let again = spawn_app_with(|s| s.data_dir = dir.path().to_path_buf()).await;
    let after = answers(&again, &token_again(&again, &user), &user).await;
    // After the restart the same answers, but for the qrCode of each ticket,
    // which is signed afresh with each answer, and the clock restarting.
    let stable = |answers: &[Value]| -> Vec<Value> {
        answers
            .iter()
            .map(|a| {
                let mut a = a.clone();
                if let Some(o) = a.as_object_mut() {
                    o.remove("qrCode");
                }
                a
            })
            .collect()
    };
    assert_eq!(stable(&after), stable(&before));
    again.stop().await;
}

async fn listed_expired(app: &TestApp, token: &str) -> u64 {
    let reply = app
        .get(&format!("{RESERVATIONS}?status=EXPIRED"), Some(token))
        .await;
    reply.expect(200, "");
    reply.body["total"].as_u64().expect("total")
}

/// A token for `user` from the restarted server (the same secret: the old one works too).
fn token_again(app: &TestApp, user: &str) -> String {
    let id = boxoffice_engine::ids::UserId::parse(user).expect("user id");
    app.token_for(id, boxoffice_actors::Role::User)
}
