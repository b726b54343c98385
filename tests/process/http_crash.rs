//! Crash safety of the real binary: `boxoffice serve` runs under mixed HTTP
//! load (charges, holds, payments from many clients at once) and is killed
//! with SIGKILL at an arbitrary moment, several times on the same data dir.
//! After each restart every acknowledged (2xx) charge, hold and payment must
//! be there, every wallet must equal its ledger, and no seat may be sold
//! twice. At the end SIGTERM must stop it cleanly (exit 0).

use crate::binary::{
    call, one_at_a_time, seat_map, set_up_concert, user_token, Books, ConcertPlan, Credentials,
    Server,
};
use awc::http::StatusCode;
use boxoffice_engine::ids::UserId;
use boxoffice_http::auth::JwtKeys;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CREDENTIALS: Credentials = Credentials {
    secret: "crash-test-secret-0123456789",
    admin_email: "admin@crash.test",
    admin_password: "process-admin-passphrase",
};
/// One schedule of 10 rows x 20 seats.
const CONCERT: ConcertPlan = ConcertPlan {
    title: "Crash Test",
    rows: 10,
    seats_per_row: 20,
    schedules: 1,
    price: 10_000,
};
const ROUNDS: usize = 4;
const CLIENTS: u64 = 48;

#[derive(Default)]
struct Acked {
    charges: HashMap<UserId, Vec<String>>,
    holds: HashMap<UserId, Vec<String>>,
    payments: HashMap<UserId, Vec<(String, String)>>,
}

async fn client_loop(
    base: String,
    schedule: String,
    user: UserId,
    token: String,
    round: usize,
    acked: Arc<Mutex<Acked>>,
) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let mut n = 0u64;
    loop {
        n += 1;
        let key = format!("r{round}-u{user}-{n}");
        if let Some((status, body)) = call(
            &client,
            "POST",
            format!("{base}/api/v1/wallet/charges"),
            &token,
            Some(&format!("{key}-c")),
            Some(json!({"amount": 10000})),
        )
        .await
        {
            if status == StatusCode::CREATED {
                acked
                    .lock()
                    .unwrap()
                    .charges
                    .entry(user)
                    .or_default()
                    .push(body["transactionId"].as_str().expect("tx").to_string());
            }
        } else {
            return; // the server is gone
        }
        let seat = (user.0.as_bytes()[15] as u64 * 7 + n * 13) % 200;
        let seat_id = format!("A-{}-{}", seat / 20 + 1, seat % 20 + 1);
        let Some((status, body)) = call(
            &client,
            "POST",
            format!("{base}/api/v1/reservations"),
            &token,
            Some(&format!("{key}-h")),
            Some(json!({"scheduleId": schedule, "seatIds": [seat_id]})),
        )
        .await
        else {
            return;
        };
        if status != StatusCode::CREATED {
            continue;
        }
        let reservation = body["reservationId"]
            .as_str()
            .expect("reservation id")
            .to_string();
        acked
            .lock()
            .unwrap()
            .holds
            .entry(user)
            .or_default()
            .push(reservation.clone());
        let Some((status, body)) = call(
            &client,
            "POST",
            format!("{base}/api/v1/payments"),
            &token,
            Some(&format!("{key}-p")),
            Some(json!({"reservationId": reservation})),
        )
        .await
        else {
            return;
        };
        if status == StatusCode::CREATED {
            acked
                .lock()
                .unwrap()
                .payments
                .entry(user)
                .or_default()
                .push((
                    body["paymentId"].as_str().expect("payment").to_string(),
                    reservation,
                ));
        }
    }
}

async fn verify(
    base: &str,
    schedule: &str,
    keys: &JwtKeys,
    users: &[UserId],
    acked: &Acked,
    round: usize,
) -> usize {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut checked = 0;
    let mut sold_by_reservations = 0u64;
    for user in users {
        let token = user_token(keys, *user);
        let books = Books::fetch(&client, base, &token).await;
        let txs = books.transaction_ids();
        for tx in acked.charges.get(user).into_iter().flatten() {
            assert!(
                txs.contains(tx.as_str()),
                "round {round}: acknowledged charge {tx} lost"
            );
            checked += 1;
        }
        let sum = |kind: &str| books.ledger_sum(kind);
        let (wallet, balance) = (&books.wallet, books.balance());
        assert_eq!(
            balance,
            sum("CHARGE") - sum("PAYMENT") + sum("REFUND"),
            "round {round}: wallet differs from its ledger"
        );
        assert_eq!(
            balance,
            wallet["totalCharged"].as_i64().expect("c") - wallet["totalUsed"].as_i64().expect("u")
                + wallet["totalRefunded"].as_i64().expect("r")
        );
        let reservations = &books.reservations;
        let by_id: HashMap<&str, &Value> = reservations
            .iter()
            .map(|r| (r["reservationId"].as_str().expect("id"), r))
            .collect();
        for hold in acked.holds.get(user).into_iter().flatten() {
            assert!(
                by_id.contains_key(hold.as_str()),
                "round {round}: acknowledged hold {hold} lost"
            );
            checked += 1;
        }
        for (payment, reservation) in acked.payments.get(user).into_iter().flatten() {
            let r = by_id
                .get(reservation.as_str())
                .unwrap_or_else(|| panic!("round {round}: paid reservation {reservation} lost"));
            assert_eq!(
                r["status"], "CONFIRMED",
                "round {round}: acknowledged payment {payment} lost"
            );
            assert_eq!(r["paymentId"], payment.as_str());
            checked += 1;
        }
        let confirmed: Vec<&Value> = reservations
            .iter()
            .filter(|r| r["status"] == "CONFIRMED")
            .collect();
        let spent: i64 = confirmed
            .iter()
            .map(|r| r["totalAmount"].as_i64().expect("total"))
            .sum();
        assert_eq!(
            sum("PAYMENT") - sum("REFUND"),
            spent,
            "round {round}: money spent differs from seats bought"
        );
        sold_by_reservations += confirmed
            .iter()
            .map(|r| r["seats"].as_array().expect("seats").len() as u64)
            .sum::<u64>();
    }
    // No seat sold twice: the map's SOLD count equals the seats of confirmed reservations, which the engine keeps disjoint.
    let (_, map) = seat_map(&client, base, schedule, &user_token(keys, users[0])).await;
    assert_eq!(
        map["summary"]["sold"].as_u64(),
        Some(sold_by_reservations),
        "round {round}: seat map and reservations disagree"
    );
    let seats: Vec<&str> = map["sections"][0]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| {
            r["seats"]
                .as_array()
                .expect("seats")
                .iter()
                .map(|s| s["seatId"].as_str().expect("id"))
        })
        .collect();
    let distinct: HashSet<&&str> = seats.iter().collect();
    assert_eq!(seats.len(), distinct.len());
    checked
}

#[test]
fn acknowledged_requests_survive_kill_minus_nine_of_the_server() {
    let _heavy = one_at_a_time();
    actix_rt::System::new()
        .block_on(acknowledged_requests_survive_kill_minus_nine_of_the_server_body());
}

async fn acknowledged_requests_survive_kill_minus_nine_of_the_server_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let keys = CREDENTIALS.keys();
    let users: Vec<UserId> = (0..CLIENTS)
        .map(|n| UserId::from_random_bytes([n as u8 + 1; 16]))
        .collect();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut server = Server::start(&data, dir.path(), &CREDENTIALS);
    let schedule = set_up_concert(
        &awc::Client::default(),
        &server.base,
        &CREDENTIALS,
        &CONCERT,
    )
    .await
    .remove(0);

    for round in 0..ROUNDS {
        let tasks: Vec<_> = users
            .iter()
            .map(|user| {
                actix_rt::spawn(client_loop(
                    server.base.clone(),
                    schedule.clone(),
                    *user,
                    user_token(&keys, *user),
                    round,
                    Arc::clone(&acked),
                ))
            })
            .collect();
        // Let the load run, then kill mid-flight.
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1_200 + 300 * round as u64) {
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        server.kill();
        for task in tasks {
            let _ = task.await;
        }
        server = Server::start(&data, dir.path(), &CREDENTIALS);
        let acked_now = std::mem::take(&mut *acked.lock().unwrap());
        let total: usize = acked_now.charges.values().map(Vec::len).sum::<usize>()
            + acked_now.holds.values().map(Vec::len).sum::<usize>()
            + acked_now.payments.values().map(Vec::len).sum::<usize>();
        assert!(
            total > 50,
            "round {round}: too little load got through ({total})"
        );
        let checked = verify(&server.base, &schedule, &keys, &users, &acked_now, round).await;
        // Keep everything acknowledged so far for the next rounds' checks.
        *acked.lock().unwrap() = acked_now;
        assert_eq!(checked, total);
        eprintln!(
            "round {round}: killed and restarted; {checked} acknowledged operations all present"
        );
    }

    // A clean stop: SIGTERM, in-flight work finishes, exit code 0.
    server.sigterm_and_wait();
}
