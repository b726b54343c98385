//! Crash safety of the real binary: `boxoffice serve` runs under mixed HTTP
//! load (charges, holds, payments from many clients at once) and is killed
//! with SIGKILL at an arbitrary moment, several times on the same data dir.
//! After each restart every acknowledged (2xx) charge, hold and payment must
//! be there, every wallet must equal its ledger, and no seat may be sold
//! twice. At the end SIGTERM must stop it cleanly (exit 0).

use awc::http::StatusCode;
use boxoffice_actors::accounts_actor::Role;
use boxoffice_engine::ids::UserId;
use boxoffice_http::auth::{JwtKeys, TokenKind};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SECRET: &str = "crash-test-secret-0123456789";
const ROUNDS: usize = 4;
const CLIENTS: u64 = 48;

struct Server {
    child: Child,
    base: String,
}

fn start(dir: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_boxoffice"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("BOXOFFICE_JWT_SECRET", SECRET)
        .env("BOXOFFICE_ADMIN_EMAIL", "admin@crash.test")
        .env("BOXOFFICE_ADMIN_PASSWORD", "admin-password")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn boxoffice serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("server printed its address")
            .expect("line");
        if let Some(rest) = line.strip_prefix("boxoffice listening on ") {
            break rest.split_whitespace().next().expect("url").to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn token(keys: &JwtKeys, user: UserId, role: Role) -> String {
    keys.issue(
        user,
        role,
        TokenKind::Access,
        boxoffice_engine::Timestamp(now_ms()),
    )
    .expect("token")
}

async fn call(
    client: &awc::Client,
    method: &str,
    url: String,
    token: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Option<(StatusCode, Value)> {
    let mut request = match method {
        "GET" => client.get(url),
        _ => client.post(url),
    }
    .insert_header(("Authorization", format!("Bearer {token}")));
    if let Some(key) = key {
        request = request.insert_header(("Idempotency-Key", key.to_string()));
    }
    let mut response = match body {
        Some(body) => request.send_json(&body).await.ok()?,
        None => request.send().await.ok()?,
    };
    let bytes = response.body().limit(8 * 1024 * 1024).await.ok()?;
    Some((
        response.status(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

#[derive(Default)]
struct Acked {
    charges: HashMap<UserId, Vec<String>>,
    holds: HashMap<UserId, Vec<String>>,
    payments: HashMap<UserId, Vec<(String, String)>>,
}

async fn set_up_concert(client: &awc::Client, base: &str) -> String {
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .send_json(&json!({"email": "admin@crash.test", "password": "admin-password"}))
        .await;
    let admin: Value = login.expect("login").json().await.expect("json");
    let admin = admin["accessToken"]
        .as_str()
        .expect("admin token")
        .to_string();
    let rows: Vec<Value> = (1..=10)
        .map(|r| json!({"row": r.to_string(), "seats": 20}))
        .collect();
    let venue: Value = client
        .post(format!("{base}/api/v1/venues"))
        .insert_header(("Authorization", format!("Bearer {admin}")))
        .send_json(&json!({"name": "Crash Hall", "address": "Nowhere 1", "sections": [{"sectionId": "A", "name": "A", "rows": rows}]}))
        .await
        .expect("venue")
        .json()
        .await
        .expect("json");
    let concert: Value = client
        .post(format!("{base}/api/v1/concerts"))
        .insert_header(("Authorization", format!("Bearer {admin}")))
        .send_json(&json!({
            "title": "Crash Test", "category": "TEST", "venueId": venue["venueId"],
            "priceGrades": [{"grade": "A", "price": 10000, "sectionIds": ["A"]}],
            "schedules": [{"startsAt": "2099-01-01T10:00:00Z", "endsAt": "2099-01-01T12:00:00Z", "bookingOpensAt": "2020-01-01T00:00:00Z", "bookingClosesAt": "2099-01-01T09:00:00Z"}],
            "maxSeatsPerUser": 20
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

async fn all_pages(client: &awc::Client, url: &str, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for page in 1.. {
        let (status, body) = call(
            client,
            "GET",
            format!(
                "{url}{}page={page}&pageSize=100",
                if url.contains('?') { "&" } else { "?" }
            ),
            token,
            None,
            None,
        )
        .await
        .expect("list");
        assert_eq!(status, StatusCode::OK, "{body}");
        let batch = body["items"].as_array().expect("items").clone();
        let done = batch.len() < 100;
        items.extend(batch);
        if done {
            break;
        }
    }
    items
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
        let token = token(keys, *user, Role::User);
        let (_, wallet) = call(
            &client,
            "GET",
            format!("{base}/api/v1/wallet"),
            &token,
            None,
            None,
        )
        .await
        .expect("wallet");
        let ledger = all_pages(
            &client,
            &format!("{base}/api/v1/wallet/transactions"),
            &token,
        )
        .await;
        let txs: HashSet<&str> = ledger
            .iter()
            .filter_map(|e| e["transactionId"].as_str())
            .collect();
        for tx in acked.charges.get(user).into_iter().flatten() {
            assert!(
                txs.contains(tx.as_str()),
                "round {round}: acknowledged charge {tx} lost"
            );
            checked += 1;
        }
        let sum = |kind: &str| {
            ledger
                .iter()
                .filter(|e| e["kind"] == kind)
                .map(|e| e["amount"].as_i64().expect("amount"))
                .sum::<i64>()
        };
        let balance = wallet["balance"].as_i64().expect("balance");
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
        let reservations = all_pages(&client, &format!("{base}/api/v1/reservations"), &token).await;
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
    let (_, map) = call(
        &client,
        "GET",
        format!("{base}/api/v1/schedules/{schedule}/seats"),
        &token(keys, users[0], Role::User),
        None,
        None,
    )
    .await
    .expect("map");
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

#[actix_rt::test]
async fn acknowledged_requests_survive_kill_minus_nine_of_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = JwtKeys::new(SECRET.as_bytes(), 3_600, 3_600);
    let users: Vec<UserId> = (0..CLIENTS)
        .map(|n| UserId::from_random_bytes([n as u8 + 1; 16]))
        .collect();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut server = start(dir.path());
    let schedule = set_up_concert(&awc::Client::default(), &server.base).await;

    for round in 0..ROUNDS {
        let tasks: Vec<_> = users
            .iter()
            .map(|user| {
                actix_rt::spawn(client_loop(
                    server.base.clone(),
                    schedule.clone(),
                    *user,
                    token(&keys, *user, Role::User),
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
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reap");
        for task in tasks {
            let _ = task.await;
        }
        server = start(dir.path());
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
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            assert!(
                exit.success(),
                "SIGTERM must end the server with exit code 0, got {exit:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
