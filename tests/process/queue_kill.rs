//! The pre-queue's random order survives `kill -9` (issue 13; API.md: "The
//! random order is fixed once, durably, so a restart cannot reshuffle it").
//!
//! The real binary serves a schedule whose booking opens a few seconds after
//! start, behind a pre-queue. Users join while it is closed (PRE_QUEUE),
//! the queue shuffles them at opening, each polls its place; then SIGKILL,
//! a restart on the same data dir, and every token must read the same place
//! and every rejoin return the same token string. Admissions are one per
//! minute, so places cannot move on their own during the test.

use crate::binary::{call, now_ms, one_at_a_time, user_token, Credentials, Server};
use awc::http::StatusCode;
use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_http::time_format::rfc3339;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CREDENTIALS: Credentials = Credentials {
    secret: "queue-kill-secret-0123456789",
    admin_email: "admin@queue-kill.test",
    admin_password: "process-admin-passphrase",
};
const USERS: u64 = 30;
/// Booking opens this long after the schedule is created.
const OPENS_IN_MS: i64 = 5_000;
/// How long to wait after opening for the shuffle to be visible.
const SHUFFLE_TIMEOUT: Duration = Duration::from_secs(20);

async fn admin_token(client: &awc::Client, base: &str) -> String {
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .send_json(
            &json!({"email": CREDENTIALS.admin_email, "password": CREDENTIALS.admin_password}),
        )
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    login["accessToken"]
        .as_str()
        .expect("admin token")
        .to_string()
}

/// A schedule opening in `OPENS_IN_MS`, its room open an hour before.
async fn pre_queued_schedule(client: &awc::Client, base: &str) -> String {
    let admin = admin_token(client, base).await;
    let bearer = format!("Bearer {admin}");
    let venue: Value = client
        .post(format!("{base}/api/v1/venues"))
        .insert_header(("Authorization", bearer.as_str()))
        .send_json(&json!({"name": "Shuffle Hall", "address": "Nowhere 1",
            "sections": [{"sectionId": "A", "name": "A", "rows": [{"row": "1", "seats": 10}]}]}))
        .await
        .expect("venue")
        .json()
        .await
        .expect("json");
    let opens = rfc3339(Timestamp(now_ms() + OPENS_IN_MS));
    let concert: Value = client
        .post(format!("{base}/api/v1/concerts"))
        .insert_header(("Authorization", bearer.as_str()))
        .send_json(&json!({
            "title": "Shuffle", "category": "TEST", "venueId": venue["venueId"],
            "priceGrades": [{"grade": "A", "price": 1_000, "sectionIds": ["A"]}],
            "schedules": [{"startsAt": "2099-01-01T10:00:00Z", "endsAt": "2099-01-01T12:00:00Z",
                "bookingOpensAt": opens, "bookingClosesAt": "2099-01-01T09:00:00Z"}],
            "queue": {"enabled": true, "batchSize": 1, "intervalMs": 60_000, "maxActive": 1,
                "activeSeconds": 600, "preQueueSeconds": 3_600}
        }))
        .await
        .expect("concert")
        .json()
        .await
        .expect("json");
    concert["schedules"][0]["scheduleId"]
        .as_str()
        .expect("schedule id")
        .to_string()
}

async fn join(client: &awc::Client, base: &str, user: &str, schedule: &str) -> Value {
    let (status, body) = call(
        client,
        "POST",
        format!("{base}/api/v1/queue/tokens"),
        user,
        None,
        Some(json!({"scheduleId": schedule})),
    )
    .await
    .expect("join answered");
    assert!(status.is_success(), "join: {status} {body}");
    body
}

/// (status, position) of a token, as its holder polls it.
async fn place(client: &awc::Client, base: &str, user: &str, token: &str) -> (String, Value) {
    let mut response = client
        .get(format!("{base}/api/v1/queue/tokens/current"))
        .insert_header(("Authorization", format!("Bearer {user}")))
        .insert_header(("Queue-Token", token))
        .send()
        .await
        .expect("poll answered");
    assert_eq!(response.status(), StatusCode::OK, "poll");
    let body: Value = response.json().await.expect("json");
    let status = body["status"].as_str().expect("status").to_string();
    (status, body["position"].clone())
}

#[test]
fn the_pre_queue_order_survives_kill_9() {
    let _heavy = one_at_a_time();
    actix_rt::System::new().block_on(the_pre_queue_order_survives_kill_9_body());
}

async fn the_pre_queue_order_survives_kill_9_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut server = Server::start(&data, dir.path(), &CREDENTIALS);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let schedule = pre_queued_schedule(&client, &server.base).await;
    let keys = CREDENTIALS.keys();
    let users: Vec<String> = (1..=USERS)
        .map(|n| user_token(&keys, UserId::from_random_bytes([n as u8; 16])))
        .collect();
    let mut tokens = Vec::new();
    for user in &users {
        let joined = join(&client, &server.base, user, &schedule).await;
        assert_eq!(joined["status"], "PRE_QUEUE", "joined before opening");
        tokens.push(joined["token"].as_str().expect("token").to_string());
    }

    // Opening: the queue's own timer shuffles; polls show places once durable.
    let deadline = Instant::now() + SHUFFLE_TIMEOUT;
    let before = loop {
        let mut places = Vec::new();
        for (user, token) in users.iter().zip(&tokens) {
            places.push(place(&client, &server.base, user, token).await);
        }
        if places.iter().all(|(status, _)| status != "PRE_QUEUE") {
            break places;
        }
        assert!(Instant::now() < deadline, "no shuffle after opening");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    };
    let active = before.iter().filter(|(s, _)| s == "ACTIVE").count();
    let mut positions: Vec<u64> = before
        .iter()
        .filter_map(|(_, p)| p.as_u64())
        .filter(|&p| p > 0)
        .collect();
    positions.sort_unstable();
    assert_eq!(active, 1, "maxActive 1: {before:?}");
    assert_eq!(
        positions,
        (1..USERS).collect::<Vec<_>>(),
        "every place once"
    );
    let arrival_order: Vec<Value> = std::iter::once(json!(0))
        .chain((1..USERS).map(|p| json!(p)))
        .collect();
    let seen_order: Vec<Value> = before.iter().map(|(_, p)| p.clone()).collect();
    assert_ne!(
        seen_order, arrival_order,
        "shuffled, not first come first served"
    );

    server.kill();
    let mut server = Server::start(&data, dir.path(), &CREDENTIALS);
    for ((user, token), was) in users.iter().zip(&tokens).zip(&before) {
        let now = place(&client, &server.base, user, token).await;
        assert_eq!(&now, was, "a place moved across kill -9");
        let rejoined = join(&client, &server.base, user, &schedule).await;
        assert_eq!(
            rejoined["token"],
            token.as_str(),
            "a rejoin returns the same token"
        );
    }
    server.sigterm_and_wait();
}
