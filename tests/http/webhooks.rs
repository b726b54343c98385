//! Webhooks through real HTTP, against a real receiver started by each test
//! (an actix-web server on 127.0.0.1): deliveries carry the feed's event
//! JSON, signed (the HMAC recomputed here); a receiver that refuses
//! connections for a while, then comes up, gets every event; a restart in
//! the middle of retries loses none and keeps each event's
//! `Boxoffice-Event-Id`; a 410 disables the webhook; retries end FAILED
//! after 3 days; deleting stops deliveries; bad inputs, callers and ids
//! get their documented errors and change nothing. Retry times come from
//! the app's manual clock: the tests advance it instead of waiting.

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use awc::http::Method;
use boxoffice_actors::{Clock, Role};
use boxoffice_engine::ids::UserId;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use test_support::app::*;

const WEBHOOKS: &str = "/api/v1/admin/webhooks";
/// How long a delivery may take to show on a busy 2-core machine.
const SETTLE_WAIT: Duration = Duration::from_secs(20);

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    event_id: String,
    signature: String,
    body: Vec<u8>,
}

/// What the receiver answers, and what it got.
#[derive(Default)]
struct ReceiverState {
    answer: AtomicU16,
    got: Mutex<Vec<Received>>,
}

pub(crate) struct Receiver {
    port: u16,
    state: Arc<ReceiverState>,
    handle: Option<ServerHandle>,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<ReceiverState>>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    state.got.lock().expect("lock").push(Received {
        event_id: header("Boxoffice-Event-Id"),
        signature: header("Boxoffice-Signature"),
        body: body.to_vec(),
    });
    let status = state.answer.load(Ordering::SeqCst);
    HttpResponse::build(awc::http::StatusCode::from_u16(status).expect("status")).finish()
}

impl Receiver {
    /// A receiver on a new port answering `status` to every call.
    pub(crate) async fn start(status: u16) -> Receiver {
        let state = Arc::new(ReceiverState::default());
        state.answer.store(status, Ordering::SeqCst);
        let mut receiver = Receiver {
            port: 0,
            state,
            handle: None,
        };
        receiver.up().await;
        receiver
    }

    /// Listens (again, on the same port once it has one).
    async fn up(&mut self) {
        let state = Arc::clone(&self.state);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(Arc::clone(&state)))
                .default_service(web::to(receive))
        })
        .workers(1)
        .bind(("127.0.0.1", self.port))
        .expect("receiver binds");
        self.port = server.addrs()[0].port();
        let server = server.run();
        self.handle = Some(server.handle());
        actix_rt::spawn(server);
    }

    /// Stops listening: connections are refused until `up`.
    async fn down(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop(false).await;
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    fn answer(&self, status: u16) {
        self.state.answer.store(status, Ordering::SeqCst);
    }

    fn got(&self) -> Vec<Received> {
        self.state.got.lock().expect("lock").clone()
    }
}

/// Polls `done` until it holds, failing after [`SETTLE_WAIT`].
pub(crate) async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let deadline = Instant::now() + SETTLE_WAIT;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn register(
    app: &TestApp,
    admin: &str,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let reply = app
        .post(WEBHOOKS, Some(admin), json!({"url": url, "events": events}))
        .await;
    reply.expect(201, "");
    (
        reply.body["webhookId"]
            .as_str()
            .expect("webhookId")
            .to_owned(),
        reply.body["secret"].as_str().expect("secret").to_owned(),
    )
}

/// Holds one seat of `schedule` for a new user; returns the reservation id.
async fn hold(app: &TestApp, schedule: &str, seat: &str) -> String {
    let token = app.token_for(UserId::from_random_bytes(rand::random()), Role::User);
    let reply = app
        .post_keyed(
            "/api/v1/reservations",
            &token,
            json!({"scheduleId": schedule, "seatIds": [seat]}),
        )
        .await;
    reply.expect(201, "");
    reply.body["reservationId"].as_str().expect("id").to_owned()
}

pub(crate) async fn deliveries(app: &TestApp, admin: &str, webhook: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("{WEBHOOKS}/{webhook}/deliveries?pageSize=100"),
            Some(admin),
        )
        .await;
    reply.expect(200, "");
    reply.body["items"].as_array().expect("items").clone()
}

/// Every event of the admin feed, by id.
pub(crate) async fn feed(app: &TestApp, admin: &str) -> Vec<Value> {
    let reply = app
        .get("/api/v1/admin/events?limit=1000", Some(admin))
        .await;
    reply.expect(200, "");
    reply.body["items"].as_array().expect("items").clone()
}

fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The receiver's check: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
fn verifies(received: &Received, secret: &str) -> bool {
    let Some((t, v1)) = received
        .signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(&received.body);
    t.parse::<i64>().is_ok() && hmac_hex(secret, &message) == v1
}

fn event_ids(got: &[Received]) -> Vec<String> {
    got.iter().map(|r| r.event_id.clone()).collect()
}

#[actix_rt::test]
async fn deliveries_are_the_feed_events_signed_and_only_those_subscribed_after_registration() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    // Before the webhook exists: never sent to it.
    hold(&app, &schedule, "VIP-1-1").await;
    let receiver = Receiver::start(200).await;
    let (webhook, secret) = register(&app, &admin, &receiver.url(), &["booking.created"]).await;
    let (_, other_secret) = register(&app, &admin, &receiver.url(), &["booking.cancelled"]).await;
    let first = hold(&app, &schedule, "VIP-1-2").await;
    let second = hold(&app, &schedule, "VIP-1-3").await;
    eventually("both holds are delivered", || async {
        receiver.got().len() >= 2
    })
    .await;
    // Nothing else comes: the other webhook wants no booking.created.
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.got();
    assert_eq!(got.len(), 2, "exactly the two subscribed events: {got:?}");
    let events = feed(&app, &admin).await;
    let mut reservations = Vec::new();
    for received in &got {
        assert!(
            verifies(received, &secret),
            "the signature verifies: {received:?}"
        );
        assert!(
            !verifies(received, &other_secret),
            "and only with its own secret"
        );
        let body: Value = serde_json::from_slice(&received.body).expect("JSON body");
        assert_eq!(
            body["eventId"],
            json!(received.event_id),
            "Boxoffice-Event-Id is the event's id"
        );
        let in_feed = events
            .iter()
            .find(|e| e["eventId"] == body["eventId"])
            .expect("the event is in the feed");
        assert_eq!(&body, in_feed, "the body is the feed's event JSON");
        assert_eq!(body["type"], json!("booking.created"));
        let t: i64 = received.signature[2..received.signature.find(',').expect(",")]
            .parse()
            .expect("t");
        assert_eq!(
            t,
            app.clock.now().millis() / 1000,
            "t is the (injected) clock's time"
        );
        reservations.push(
            body["data"]["reservationId"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    reservations.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(reservations, expected);
    let log = deliveries(&app, &admin, &webhook).await;
    assert_eq!(log.len(), 2);
    for delivery in &log {
        assert_eq!(delivery["status"], json!("DELIVERED"), "{delivery}");
        assert_eq!(delivery["attempt"], json!(1));
        assert_eq!(delivery["responseStatus"], json!(200));
        assert_eq!(delivery["type"], json!("booking.created"));
        assert!(delivery["nextAttemptAt"].is_null());
    }
    let list = app.get(WEBHOOKS, Some(&admin)).await;
    list.expect(200, "");
    assert_eq!(list.body["total"], json!(2));
    assert!(
        list.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|w| w.get("secret").is_none()),
        "the secret is shown only at creation: {}",
        list.text
    );
}

#[actix_rt::test]
async fn a_receiver_down_for_a_minute_gets_every_event_once_up() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let mut receiver = Receiver::start(200).await;
    let (webhook, secret) = register(&app, &admin, &receiver.url(), &["booking.created"]).await;
    receiver.down().await;
    for seat in ["R-1-1", "R-1-2", "R-1-3"] {
        hold(&app, &schedule, seat).await;
    }
    eventually("every first attempt failed", || async {
        let log = deliveries(&app, &admin, &webhook).await;
        log.len() == 3
            && log.iter().all(|d| {
                d["attempt"].as_u64() >= Some(1)
                    && d["status"] == json!("PENDING")
                    && d["responseStatus"].is_null()
            })
    })
    .await;
    // A minute of refusals: each retry comes due on the clock and fails.
    for _ in 0..3 {
        app.clock.advance_ms(20_000);
        actix_rt::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(receiver.got().is_empty());
    receiver.up().await;
    app.clock.advance_ms(120_000);
    eventually("every event arrives", || async {
        let mut ids = event_ids(&receiver.got());
        ids.sort();
        ids.dedup();
        ids.len() == 3
    })
    .await;
    assert!(receiver.got().iter().all(|r| verifies(r, &secret)));
    eventually("the log says DELIVERED", || async {
        deliveries(&app, &admin, &webhook)
            .await
            .iter()
            .all(|d| d["status"] == json!("DELIVERED") && d["attempt"].as_u64() >= Some(2))
    })
    .await;
}

#[actix_rt::test]
async fn a_restart_in_the_middle_of_retries_loses_none_and_keeps_the_event_ids() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let receiver = Receiver::start(503).await;
    let (webhook, secret) = register(&app, &admin, &receiver.url(), &["booking.created"]).await;
    hold(&app, &schedule, "S-1-1").await;
    hold(&app, &schedule, "S-1-2").await;
    eventually("both first attempts got 503", || async {
        receiver.got().len() >= 2
    })
    .await;
    let first_ids = {
        let mut ids = event_ids(&receiver.got());
        ids.sort();
        ids
    };
    eventually("the log has both pending", || async {
        deliveries(&app, &admin, &webhook)
            .await
            .iter()
            .filter(|d| d["status"] == json!("PENDING") && d["responseStatus"] == json!(503))
            .count()
            == 2
    })
    .await;
    let app = app.restart().await;
    let admin = app.admin_token().await;
    receiver.answer(204);
    // The new server's clock starts where the old one did: the retries are due 10 s later.
    app.clock.advance_ms(10_000);
    eventually("both retried and delivered", || async {
        deliveries(&app, &admin, &webhook)
            .await
            .iter()
            .filter(|d| d["status"] == json!("DELIVERED"))
            .count()
            == 2
    })
    .await;
    let got = receiver.got();
    assert!(got.iter().all(|r| verifies(r, &secret)));
    let mut ids = event_ids(&got);
    ids.sort();
    // Each event came twice with one id: a receiver deduplicates by it.
    let mut deduped = ids.clone();
    deduped.dedup();
    assert_eq!(
        deduped, first_ids,
        "the same Boxoffice-Event-Id on the retry"
    );
    assert!(ids.len() >= 4, "first attempts and retries: {ids:?}");
    for delivery in deliveries(&app, &admin, &webhook).await {
        assert_eq!(delivery["attempt"], json!(2), "{delivery}");
        assert_eq!(delivery["responseStatus"], json!(204));
    }
}

#[actix_rt::test]
async fn a_410_disables_the_webhook_and_retries_end_after_three_days() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let gone = Receiver::start(410).await;
    let failing = Receiver::start(500).await;
    let (gone_id, _) = register(&app, &admin, &gone.url(), &["booking.created"]).await;
    let (failing_id, _) = register(&app, &admin, &failing.url(), &["booking.created"]).await;
    hold(&app, &schedule, "VIP-2-1").await;
    eventually("the 410 disables the webhook", || async {
        let list = app.get(WEBHOOKS, Some(&admin)).await;
        list.body["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|w| w["webhookId"] == json!(gone_id) && w["status"] == json!("DISABLED"))
        })
    })
    .await;
    let log = deliveries(&app, &admin, &gone_id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], json!("FAILED"));
    assert_eq!(log[0]["responseStatus"], json!(410));
    hold(&app, &schedule, "VIP-2-2").await;
    eventually("the other webhook got both", || async {
        failing.got().len() >= 2
    })
    .await;
    assert_eq!(
        gone.got().len(),
        1,
        "nothing more goes to a disabled webhook"
    );
    assert_eq!(deliveries(&app, &admin, &gone_id).await.len(), 1);
    // 500s are retried (doubling) until 3 days after the first attempt.
    // (Tokens expire as the clock runs: a fresh one each time.)
    let (admin_id, _) = app.account_token(Role::Admin).await;
    let fresh_admin = || app.token_for(admin_id, Role::Admin);
    for _ in 0..40 {
        app.clock.advance_ms(4 * 60 * 60 * 1_000);
        actix_rt::time::sleep(Duration::from_millis(150)).await;
        let log = deliveries(&app, &fresh_admin(), &failing_id).await;
        if log.iter().all(|d| d["status"] == json!("FAILED")) {
            break;
        }
    }
    eventually("both end FAILED", || async {
        deliveries(&app, &fresh_admin(), &failing_id)
            .await
            .iter()
            .all(|d| d["status"] == json!("FAILED") && d["responseStatus"] == json!(500))
    })
    .await;
    let attempts = deliveries(&app, &fresh_admin(), &failing_id).await[0]["attempt"]
        .as_u64()
        .expect("attempt");
    assert!(attempts >= 2, "retried before giving up: {attempts}");
}

#[actix_rt::test]
async fn bad_inputs_callers_and_ids_get_their_errors_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let receiver = Receiver::start(200).await;
    let url = receiver.url();
    let long_url = format!("http://127.0.0.1/{}", "a".repeat(2_049 - 17));
    assert_eq!(long_url.chars().count(), 2_049);
    let cases: Vec<(&str, Value)> = vec![
        (
            "wrong url type",
            json!({"url": 5, "events": ["booking.created"]}),
        ),
        (
            "events not a list",
            json!({"url": url, "events": "booking.created"}),
        ),
        ("event not a string", json!({"url": url, "events": [1]})),
        ("missing url", json!({"events": ["booking.created"]})),
        ("missing events", json!({"url": url})),
        ("no events", json!({"url": url, "events": []})),
        (
            "ftp url",
            json!({"url": "ftp://example.com/hook", "events": ["booking.created"]}),
        ),
        (
            "no scheme",
            json!({"url": "example.com/hook", "events": ["booking.created"]}),
        ),
        (
            "2,049 characters",
            json!({"url": long_url, "events": ["booking.created"]}),
        ),
        (
            "unknown type",
            json!({"url": url, "events": ["booking.created", "booking.exploded"]}),
        ),
        (
            "long description",
            json!({"url": url, "events": ["booking.created"], "description": "d".repeat(501)}),
        ),
        (
            "description not text",
            json!({"url": url, "events": ["booking.created"], "description": 3}),
        ),
        ("not an object", json!(["booking.created"])),
    ];
    for (what, body) in cases {
        app.post(WEBHOOKS, Some(&admin), body)
            .await
            .expect_case(what, 400, "VALIDATION_ERROR");
    }
    app.raw(
        Method::POST,
        WEBHOOKS,
        Some(&admin),
        &[],
        Some(("application/json", b"{\"url\": ".to_vec())),
    )
    .await
    .expect_case("malformed JSON", 400, "VALIDATION_ERROR");
    let list = app.get(WEBHOOKS, Some(&admin)).await;
    list.expect(200, "");
    assert_eq!(list.body["total"], json!(0), "nothing was registered");
    // The longest URL allowed is accepted.
    let longest = format!("{}?{}", url, "q".repeat(2_048 - url.len() - 1));
    assert_eq!(longest.chars().count(), 2_048);
    let (kept, _) = register(&app, &admin, &longest, &["booking.created"]).await;

    let (_, user) = app.account_token(Role::User).await;
    let (_, staff) = app.account_token(Role::Staff).await;
    let unknown = "0b6e2f51-3a4c-4e8d-8f1a-9c2d7e6b5a40";
    let paths = [
        (Method::GET, WEBHOOKS.to_owned()),
        (Method::POST, WEBHOOKS.to_owned()),
        (Method::DELETE, format!("{WEBHOOKS}/{kept}")),
        (Method::GET, format!("{WEBHOOKS}/{kept}/deliveries")),
    ];
    let body = || {
        Some((
            "application/json",
            json!({"url": url, "events": ["booking.created"]})
                .to_string()
                .into_bytes(),
        ))
    };
    for (method, path) in &paths {
        for (who, token, status, code) in [
            ("no token", None, 401, "UNAUTHORIZED"),
            ("USER", Some(user.as_str()), 403, "FORBIDDEN"),
            ("STAFF", Some(staff.as_str()), 403, "FORBIDDEN"),
            ("garbage token", Some("not-a-token"), 401, "UNAUTHORIZED"),
        ] {
            app.raw(method.clone(), path, token, &[], body())
                .await
                .expect_case(&format!("{who} {method} {path}"), status, code);
        }
    }
    for path in [
        format!("{WEBHOOKS}/{unknown}"),
        format!("{WEBHOOKS}/not-an-id"),
    ] {
        app.raw(Method::DELETE, &path, Some(&admin), &[], None)
            .await
            .expect_case(&format!("DELETE {path}"), 404, "NOT_FOUND");
        app.get(&format!("{path}/deliveries"), Some(&admin))
            .await
            .expect_case(&format!("{path}/deliveries"), 404, "NOT_FOUND");
    }
    app.get(
        &format!("{WEBHOOKS}/{kept}/deliveries?pageSize=101"),
        Some(&admin),
    )
    .await
    .expect_case("pageSize 101", 400, "VALIDATION_ERROR");
    app.get(&format!("{WEBHOOKS}?page=0"), Some(&admin))
        .await
        .expect_case("page 0", 400, "VALIDATION_ERROR");
    let list = app.get(WEBHOOKS, Some(&admin)).await;
    assert_eq!(list.body["total"], json!(1), "still the one: {}", list.text);

    // Deleting stops deliveries, and the id is gone.
    app.raw(
        Method::DELETE,
        &format!("{WEBHOOKS}/{kept}"),
        Some(&admin),
        &[],
        None,
    )
    .await
    .expect(204, "");
    app.raw(
        Method::DELETE,
        &format!("{WEBHOOKS}/{kept}"),
        Some(&admin),
        &[],
        None,
    )
    .await
    .expect(404, "NOT_FOUND");
    let (live, _) = register(&app, &admin, &format!("{url}/live"), &["booking.created"]).await;
    hold(&app, &schedule, "S-2-1").await;
    eventually("the live webhook got the event", || async {
        !receiver.got().is_empty()
    })
    .await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), 1, "the deleted webhook got nothing");
    assert_eq!(deliveries(&app, &admin, &live).await.len(), 1);
    // Registrations survive a restart; the secret is never listed.
    let app = app.restart().await;
    let admin = app.admin_token().await;
    let list = app.get(WEBHOOKS, Some(&admin)).await;
    assert_eq!(list.body["total"], json!(1));
    assert_eq!(list.body["items"][0]["webhookId"], json!(live));
    assert!(list.body["items"][0].get("secret").is_none());
}
