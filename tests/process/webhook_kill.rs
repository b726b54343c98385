//! Webhook deliveries survive `kill -9`: the real binary, a webhook at a
//! receiver started here that answers 503, holds made concurrently and the
//! server killed while they are in flight (and while the first attempts
//! are failing), then restarted with the receiver answering 200. Every
//! `booking.created` event the feed has after the restart reaches the
//! receiver (at least once, with its own `Boxoffice-Event-Id`), and the
//! registration itself survived. The retries run on the real clock: the
//! first is due 10 s after the first attempt.

use crate::binary::{
    call, one_at_a_time, set_up_concert, user_token, ConcertPlan, Credentials, Server,
};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use awc::http::StatusCode;
use boxoffice_engine::ids::UserId;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CREDENTIALS: Credentials = Credentials {
    secret: "webhook-kill-secret-0123456789",
    admin_email: "admin@webhook.test",
    admin_password: "process-admin-passphrase",
};
const CONCERT: ConcertPlan = ConcertPlan {
    title: "Webhook Kill",
    rows: 2,
    seats_per_row: 50,
    schedules: 1,
    price: 10_000,
};
const HOLDERS: u64 = 60;
/// Holds acknowledged before the kill.
const KILL_AFTER_HOLDS: usize = 25;
/// Long enough for the retries (10 s, then 20 s) on a busy machine.
const DELIVERY_WAIT: Duration = Duration::from_secs(90);

#[derive(Default)]
struct ReceiverState {
    answer: AtomicU16,
    ids: Mutex<Vec<String>>,
    /// The ids of the calls answered 2xx.
    delivered: Mutex<Vec<String>>,
}

async fn receive(req: HttpRequest, state: web::Data<Arc<ReceiverState>>) -> HttpResponse {
    let id = req
        .headers()
        .get("Boxoffice-Event-Id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let status = StatusCode::from_u16(state.answer.load(Ordering::SeqCst)).expect("status");
    if status.is_success() {
        state.delivered.lock().expect("lock").push(id.clone());
    }
    state.ids.lock().expect("lock").push(id);
    HttpResponse::build(status).finish()
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
    login["accessToken"].as_str().expect("token").to_owned()
}

/// The ids of every booking.created event in the feed.
async fn created_in_feed(client: &awc::Client, base: &str, admin: &str) -> BTreeSet<String> {
    let (status, page) = call(
        client,
        "GET",
        format!("{base}/api/v1/admin/events?limit=1000"),
        admin,
        None,
        None,
    )
    .await
    .expect("feed");
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["type"] == json!("booking.created"))
        .map(|e| e["eventId"].as_str().expect("eventId").to_owned())
        .collect()
}

fn user(n: u64) -> UserId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[15] = 0x0c;
    UserId::from_random_bytes(bytes)
}

#[test]
fn every_event_reaches_the_receiver_across_kill_9() {
    let _heavy = one_at_a_time();
    actix_rt::System::new().block_on(body());
}

async fn body() {
    let state = Arc::new(ReceiverState::default());
    state.answer.store(503, Ordering::SeqCst);
    let shared = Arc::clone(&state);
    let receiver = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(Arc::clone(&shared)))
            .default_service(web::to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("receiver binds");
    let port = receiver.addrs()[0].port();
    actix_rt::spawn(receiver.run());

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
    let admin = admin_token(&client, &server.base).await;
    let (status, webhook) = call(
        &client,
        "POST",
        format!("{}/api/v1/admin/webhooks", server.base),
        &admin,
        None,
        Some(
            json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["booking.created"]}),
        ),
    )
    .await
    .expect("register");
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let webhook = webhook["webhookId"].as_str().expect("id").to_owned();

    let holds = Cell::new(0usize);
    let base = server.base.clone();
    let load = join_all((0..HOLDERS).map(|n| {
        let (client, base, schedule, holds) = (&client, &base, &schedule, &holds);
        let token = user_token(&keys, user(n));
        async move {
            let seat = format!("A-{}-{}", n / 50 + 1, n % 50 + 1);
            let reply = call(
                client,
                "POST",
                format!("{base}/api/v1/reservations"),
                &token,
                Some(&format!("h{n}")),
                Some(json!({"scheduleId": schedule, "seatIds": [seat]})),
            )
            .await;
            if matches!(reply, Some((StatusCode::CREATED, _))) {
                holds.set(holds.get() + 1);
            }
        }
    }));
    let kill = async {
        // In the middle of the holds, and of the failing first attempts.
        while holds.get() < KILL_AFTER_HOLDS || state.ids.lock().expect("lock").len() < 5 {
            actix_rt::time::sleep(Duration::from_millis(1)).await;
        }
        server.kill();
    };
    futures_util::join!(load, kill);
    let acked = holds.get();
    let calls_before = state.ids.lock().expect("lock").len();
    state.answer.store(200, Ordering::SeqCst);
    server = Server::start(&data, dir.path(), &CREDENTIALS);
    let admin = admin_token(&client, &server.base).await;
    let (status, listed) = call(
        &client,
        "GET",
        format!("{}/api/v1/admin/webhooks", server.base),
        &admin,
        None,
        None,
    )
    .await
    .expect("list");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed["items"][0]["webhookId"],
        json!(webhook),
        "the registration survived: {listed}"
    );
    let owed = created_in_feed(&client, &server.base, &admin).await;
    assert!(
        owed.len() >= acked,
        "every acknowledged hold has its event: {} < {acked}",
        owed.len()
    );
    let deadline = Instant::now() + DELIVERY_WAIT;
    loop {
        let got: BTreeSet<String> = state
            .delivered
            .lock()
            .expect("lock")
            .iter()
            .cloned()
            .collect();
        let missing: Vec<&String> = owed.difference(&got).collect();
        if missing.is_empty() {
            break;
        }
        server.assert_alive("while delivering");
        assert!(
            Instant::now() < deadline,
            "{} of {} events never reached the receiver: {missing:?}",
            missing.len(),
            owed.len()
        );
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "{acked} holds acknowledged before the kill, {calls_before} calls answered 503; \
         all {} events delivered ({} calls in all)",
        owed.len(),
        state.ids.lock().expect("lock").len()
    );
}
