//! Booking events survive `kill -9` in step with the changes they describe:
//! the real binary is killed while users hold and pay concurrently, then
//! restarted, a few rounds over. After each restart the feed has an event
//! for every acknowledged hold and payment, no event for a reservation that
//! does not exist, and every reservation's status is the one its events
//! imply (no change without its event, no event without its change).

use crate::binary::{
    call, one_at_a_time, set_up_concert, user_token, ConcertPlan, Credentials, Server,
};
use awc::http::StatusCode;
use boxoffice_engine::ids::UserId;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const CREDENTIALS: Credentials = Credentials {
    secret: "outbox-kill-secret-0123456789",
    admin_email: "admin@outbox.test",
    admin_password: "process-admin-passphrase",
};
const CONCERT: ConcertPlan = ConcertPlan {
    title: "Outbox Kill",
    rows: 10,
    seats_per_row: 50,
    schedules: 1,
    price: 10_000,
};
/// Users per round, each holding one seat (and paying for every other one).
const USERS_PER_ROUND: u64 = 100;
const ROUNDS: u64 = 3;
/// Holds acknowledged in each round before the kill, by round: the kill
/// lands while the rest of the round's holds and payments are in flight.
const KILL_AFTER_HOLDS: [usize; 3] = [20, 50, 5];

fn user(n: u64) -> UserId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[15] = 0x0b;
    UserId::from_random_bytes(bytes)
}

/// What one user got acknowledged: (reservation id, paid).
type Acked = Option<(String, bool)>;

/// Holds user `n`'s seat and, for even `n`, pays; what was acknowledged
/// (`holds` counts the acknowledged holds).
async fn hold_and_pay(
    client: &awc::Client,
    base: &str,
    schedule: &str,
    token: &str,
    n: u64,
    holds: &Cell<usize>,
) -> Acked {
    let seat = format!("A-{}-{}", n / 50 + 1, n % 50 + 1);
    let (status, hold) = call(
        client,
        "POST",
        format!("{base}/api/v1/reservations"),
        token,
        Some(&format!("h{n}")),
        Some(json!({"scheduleId": schedule, "seatIds": [seat]})),
    )
    .await?;
    if status != StatusCode::CREATED {
        return None;
    }
    let id = hold["reservationId"].as_str()?.to_string();
    holds.set(holds.get() + 1);
    if n % 2 == 1 {
        return Some((id, false));
    }
    let paid = call(
        client,
        "POST",
        format!("{base}/api/v1/payments"),
        token,
        Some(&format!("p{n}")),
        Some(json!({"reservationId": id})),
    )
    .await
    .is_some_and(|(status, _)| status == StatusCode::CREATED);
    Some((id, paid))
}

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
    login["accessToken"].as_str().expect("token").to_string()
}

/// Every event of the feed, following `next`.
async fn feed(client: &awc::Client, base: &str, admin: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = String::from("0-0");
    loop {
        let (status, page) = call(
            client,
            "GET",
            format!("{base}/api/v1/admin/events?after={after}&limit=1000"),
            admin,
            None,
            None,
        )
        .await
        .expect("feed");
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().expect("items").clone();
        after = page["next"].as_str().expect("next").to_string();
        if items.is_empty() {
            return events;
        }
        events.extend(items);
    }
}

/// The status a reservation's events say it has now.
fn implied_status(kinds: &[&str]) -> &'static str {
    let mut status = "";
    for kind in kinds {
        status = match *kind {
            "booking.created" | "payment.failed" => "HELD",
            "booking.confirmed" => "CONFIRMED",
            "booking.cancelled" => "CANCELLED",
            "booking.expired" => "EXPIRED",
            // Comes with the booking event that says the status.
            "payment.completed" | "refund.issued" => status,
            other => panic!("unexpected event {other}"),
        };
    }
    status
}

/// Events and state agree, and every acknowledged change has its events.
async fn check(
    client: &awc::Client,
    base: &str,
    schedule: &str,
    acked: &BTreeMap<String, bool>,
) -> usize {
    let admin = admin_token(client, base).await;
    let events = feed(client, base, &admin).await;
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|e| e["eventId"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    let mut by_reservation: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for event in &events {
        let id = event["data"]["reservationId"]
            .as_str()
            .expect("reservationId");
        by_reservation
            .entry(id.to_string())
            .or_default()
            .push(event["type"].as_str().expect("type"));
    }
    let reservations = crate::binary::all_pages(
        client,
        &format!("{base}/api/v1/admin/schedules/{schedule}/reservations"),
        &admin,
    )
    .await;
    let states: BTreeMap<String, String> = reservations
        .iter()
        .map(|r| {
            (
                r["reservationId"].as_str().expect("id").to_string(),
                r["status"].as_str().expect("status").to_string(),
            )
        })
        .collect();
    // No event without its change, no change without its event, and the
    // events tell each reservation's status.
    assert_eq!(
        by_reservation.keys().collect::<Vec<_>>(),
        states.keys().collect::<Vec<_>>(),
        "the reservations with events are the reservations that exist"
    );
    for (id, kinds) in &by_reservation {
        assert_eq!(
            kinds.first(),
            Some(&"booking.created"),
            "{id} starts with its hold"
        );
        assert_eq!(implied_status(kinds), states[id], "{id}: events {kinds:?}");
    }
    for (id, paid) in acked {
        let kinds = by_reservation
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged hold {id} has no event"));
        if *paid {
            assert!(
                kinds.contains(&"payment.completed") && kinds.contains(&"booking.confirmed"),
                "acknowledged payment of {id}: {kinds:?}"
            );
        }
    }
    events.len()
}

#[test]
fn events_and_state_agree_after_every_kill() {
    let _heavy = one_at_a_time();
    actix_rt::System::new().block_on(body());
}

async fn body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let keys = CREDENTIALS.keys();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut server = Server::start(&data, dir.path(), &CREDENTIALS);
    let schedule = set_up_concert(&client, &server.base, &CREDENTIALS, &CONCERT)
        .await
        .remove(0);
    let users = USERS_PER_ROUND * ROUNDS;
    let tokens: Vec<String> = (0..users).map(|n| user_token(&keys, user(n))).collect();
    for chunk in (0..users).collect::<Vec<_>>().chunks(50) {
        join_all(chunk.iter().map(|&n| {
            let (client, base, token) = (&client, &server.base, &tokens[n as usize]);
            async move {
                let key = format!("c{n}");
                call(
                    client,
                    "POST",
                    format!("{base}/api/v1/wallet/charges"),
                    token,
                    Some(&key),
                    Some(json!({"amount": 100_000})),
                )
                .await
            }
        }))
        .await
        .into_iter()
        .for_each(|reply| assert_eq!(reply.expect("charge").0, StatusCode::CREATED));
    }
    let mut acked: BTreeMap<String, bool> = BTreeMap::new();
    for round in 0..ROUNDS {
        let base = server.base.clone();
        let holds = Cell::new(0);
        let load = join_all(
            (round * USERS_PER_ROUND..(round + 1) * USERS_PER_ROUND)
                .map(|n| hold_and_pay(&client, &base, &schedule, &tokens[n as usize], n, &holds)),
        );
        let kill = async {
            while holds.get() < KILL_AFTER_HOLDS[round as usize] {
                actix_rt::time::sleep(Duration::from_millis(1)).await;
            }
            server.kill();
        };
        let (outcomes, ()) = futures_util::join!(load, kill);
        let answered = outcomes.iter().flatten().count();
        acked.extend(outcomes.into_iter().flatten());
        server = Server::start(&data, dir.path(), &CREDENTIALS);
        let events = check(&client, &server.base, &schedule, &acked).await;
        eprintln!(
            "round {round}: {answered} holds acknowledged before the kill; {events} events after the restart"
        );
    }
    // Still writing events after the last restart, in step.
    let n = users;
    let extra = user_token(&keys, user(n));
    call(
        &client,
        "POST",
        format!("{}/api/v1/wallet/charges", server.base),
        &extra,
        Some("c-extra"),
        Some(json!({"amount": 100_000})),
    )
    .await
    .expect("charge");
    let last = hold_and_pay(&client, &server.base, &schedule, &extra, n, &Cell::new(0))
        .await
        .expect("a hold and payment after the kills");
    acked.insert(last.0, last.1);
    check(&client, &server.base, &schedule, &acked).await;
}
