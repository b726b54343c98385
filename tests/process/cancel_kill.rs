//! Cancelling a sold-out schedule survives `kill -9`: the real binary is
//! killed right after it acknowledged the cancel (the batches and refunds
//! run on after the answer), restarted and killed again a few times, then
//! left to finish. Every paid reservation must end CANCELLED with exactly one
//! refund of its full amount: each wallet's ledger has as many REFUND entries
//! as PAYMENT entries, equal in sum, and the balance is back to the charge.

use crate::binary::{
    call, one_at_a_time, set_up_concert, user_token, ConcertPlan, Credentials, Server,
};
use awc::http::StatusCode;
use boxoffice_engine::ids::UserId;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CREDENTIALS: Credentials = Credentials {
    secret: "cancel-kill-secret-0123456789",
    admin_email: "admin@cancel.test",
    admin_password: "process-admin-passphrase",
};
/// 40 rows x 50 seats, sold out by `USERS` users of `SEATS_EACH` seat:
/// eight batches, so that a kill lands inside the cancellation.
const CONCERT: ConcertPlan = ConcertPlan {
    title: "Cancel Kill",
    rows: 40,
    seats_per_row: 50,
    schedules: 1,
    price: 10_000,
};
const USERS: u64 = 2_000;
const SEATS_EACH: u64 = 1;
const FUNDS: i64 = 100_000;
/// Kills after the cancel before the last, uninterrupted start.
const KILLS: usize = 3;
const FINISH_WAIT: Duration = Duration::from_secs(120);

fn user(n: u64) -> UserId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[15] = 0xc5;
    UserId::from_random_bytes(bytes)
}

/// Charges, holds `SEATS_EACH` seats and pays, as user `n`.
async fn buy(client: &awc::Client, base: &str, schedule: &str, token: &str, n: u64) {
    let charge = call(
        client,
        "POST",
        format!("{base}/api/v1/wallet/charges"),
        token,
        Some(&format!("c{n}")),
        Some(json!({"amount": FUNDS})),
    )
    .await
    .expect("charge answered");
    assert_eq!(charge.0, StatusCode::CREATED, "{}", charge.1);
    let seats: Vec<String> = (0..SEATS_EACH)
        .map(|k| {
            let seat = n * SEATS_EACH + k;
            format!("A-{}-{}", seat / 50 + 1, seat % 50 + 1)
        })
        .collect();
    let (status, hold) = call(
        client,
        "POST",
        format!("{base}/api/v1/reservations"),
        token,
        Some(&format!("h{n}")),
        Some(json!({"scheduleId": schedule, "seatIds": seats})),
    )
    .await
    .expect("hold answered");
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let (status, paid) = call(
        client,
        "POST",
        format!("{base}/api/v1/payments"),
        token,
        Some(&format!("p{n}")),
        Some(json!({"reservationId": hold["reservationId"]})),
    )
    .await
    .expect("payment answered");
    assert_eq!(status, StatusCode::CREATED, "{paid}");
}

/// The user's balance and (payments, refunds) ledger entries: (count, sum) each.
async fn books(client: &awc::Client, base: &str, token: &str) -> (i64, (usize, i64), (usize, i64)) {
    let (_, wallet) = call(
        client,
        "GET",
        format!("{base}/api/v1/wallet"),
        token,
        None,
        None,
    )
    .await
    .expect("wallet");
    let ledger =
        crate::binary::all_pages(client, &format!("{base}/api/v1/wallet/transactions"), token)
            .await;
    let of = |kind: &str| {
        let entries: Vec<&Value> = ledger.iter().filter(|e| e["kind"] == kind).collect();
        let sum = entries
            .iter()
            .map(|e| e["amount"].as_i64().expect("amount"))
            .sum();
        (entries.len(), sum)
    };
    (
        wallet["balance"].as_i64().expect("balance"),
        of("PAYMENT"),
        of("REFUND"),
    )
}

async fn refunded_users(client: &awc::Client, base: &str, tokens: &[String]) -> usize {
    let all = join_all(tokens.iter().map(|t| books(client, base, t))).await;
    all.iter()
        .filter(|(balance, _, _)| *balance == FUNDS)
        .count()
}

#[test]
fn a_cancellation_killed_midway_refunds_every_reservation_exactly_once() {
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
    let tokens: Vec<String> = (0..USERS).map(|n| user_token(&keys, user(n))).collect();
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(50) {
        join_all(
            chunk
                .iter()
                .map(|&n| buy(&client, &server.base, &schedule, &tokens[n as usize], n)),
        )
        .await;
    }

    let login: Value = client
        .post(format!("{}/api/v1/auth/login", server.base))
        .send_json(
            &json!({"email": CREDENTIALS.admin_email, "password": CREDENTIALS.admin_password}),
        )
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let admin = login["accessToken"].as_str().expect("token").to_string();
    let (status, cancelled) = call(
        &client,
        "POST",
        format!("{}/api/v1/schedules/{schedule}/cancel", server.base),
        &admin,
        None,
        None,
    )
    .await
    .expect("cancel answered");
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["refundedReservations"], USERS);
    assert_eq!(cancelled["refundedAmount"], FUNDS * USERS as i64 / 10);
    // Killed at once: the batches run after the answer.
    server.kill();
    let mut resumed = 0;
    let env = [
        ("BOXOFFICE_JWT_SECRET", CREDENTIALS.secret),
        ("BOXOFFICE_ADMIN_EMAIL", CREDENTIALS.admin_email),
        ("BOXOFFICE_ADMIN_PASSWORD", CREDENTIALS.admin_password),
        // Start-up recovery reports what it finished at info.
        ("RUST_LOG", "boxoffice_actors=info"),
    ];
    for kill in 0..=KILLS {
        server = Server::start_with_env(&data, dir.path(), &env);
        if kill < KILLS {
            actix_rt::time::sleep(Duration::from_millis(10 * kill as u64)).await;
            server.kill();
        }
        // Start-up recovery logs the cancellation it resumes.
        let log = std::fs::read_to_string(&server.stderr).unwrap_or_default();
        if log.contains("resuming a schedule cancellation") {
            resumed += 1;
        }
    }
    eprintln!("{resumed} of {} starts resumed the cancellation", KILLS + 1);
    assert!(resumed >= 1, "no kill landed inside the cancellation");
    let at_start = refunded_users(&client, &server.base, &tokens).await;
    eprintln!("after the last restart, {at_start} of {USERS} users already refunded");
    let deadline = Instant::now() + FINISH_WAIT;
    while refunded_users(&client, &server.base, &tokens).await < USERS as usize {
        assert!(Instant::now() < deadline, "refunds not finished in time");
        server.assert_alive("while finishing the cancellation");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    for (chunk_index, chunk) in tokens.chunks(50).enumerate() {
        let checks = chunk.iter().enumerate().map(|(i, token)| {
            let (client, base) = (&client, &server.base);
            async move {
                let n = chunk_index * 50 + i;
                let (balance, payments, refunds) = books(client, base, token).await;
                assert_eq!(balance, FUNDS, "user {n}");
                assert_eq!(payments, (1, FUNDS / 10), "user {n}: one payment");
                assert_eq!(
                    refunds, payments,
                    "user {n}: refunded exactly once, in full"
                );
                let reservations =
                    crate::binary::all_pages(client, &format!("{base}/api/v1/reservations"), token)
                        .await;
                assert!(
                    reservations.iter().all(|r| r["status"] == "CANCELLED"),
                    "user {n}: {reservations:?}"
                );
            }
        });
        join_all(checks).await;
    }
    let (_, sales) = call(
        &client,
        "GET",
        format!("{}/api/v1/admin/schedules/{schedule}/sales", server.base),
        &admin,
        None,
        None,
    )
    .await
    .expect("sales");
    assert_eq!(
        (&sales["sold"], &sales["revenue"], &sales["refunded"]),
        (&json!(0), &json!(0), &json!(FUNDS * USERS as i64 / 10))
    );
    server.sigterm_and_wait();
}
