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
async fn listed_available(app: &TestApp, concert: &str) -> u64 {
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
    assert_eq!(
        (in_detail, in_schedules),
        (in_list, in_list),
        "list, detail and schedules agree"
    );
    in_list
}

async fn hold(app: &TestApp, token: &str, schedule: &str, seats: &[&str]) -> String {
    let reply = app
        .post_keyed(
            RESERVATIONS,
            token,
            json!({"scheduleId": schedule, "seatIds": seats}),
        )
        .await;
    reply.expect(201, "");
    text(&reply.body["reservationId"])
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

    let held = hold(&app, &token, &schedule, &["VIP-1-1", "VIP-1-2"]).await;
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

    hold(&app, &token, &schedule, &["R-1-1"]).await;
    assert_eq!(listed_available(&app, &concert).await, SEATS - 1);
    app.clock.advance_ms(60_000);
    let deadline = Instant::now() + SWEEP_WAIT;
    while listed_available(&app, &concert).await != SEATS {
        assert!(
            Instant::now() < deadline,
            "the expiry never showed in the list"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }

    let sold = hold(&app, &token, &schedule, &["S-1-1", "S-1-2", "S-1-3"]).await;
    pay(&app, &token, &sold).await;
    hold(&app, &token, &schedule, &["S-2-1"]).await;
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
