//! Card payments across `kill -9` (issue 18): the real server with
//! `--payment-provider stripe` pointed at `boxoffice mock-provider`, a process
//! of its own that keeps its intents and retries its webhooks while the
//! server is down. The provider's webhooks reach the server through a relay
//! in this test, which is where each round's kill is aimed:
//! - before the webhook (even rounds): the payer clicked "Pay", the provider
//!   captured, and its first webhook reaches the relay, which kills the
//!   server and answers 503 instead of passing the webhook on;
//! - during the webhook (odd rounds): the relay passes the first webhook on
//!   and kills the server [`DURING_DELAYS_MS`] later, while the server takes
//!   it into account (whether the server's answer came first is counted).
//!
//! A round pays by card for three holds, declines a fourth, and tops a
//! wallet up by card (clicked together, so the webhook the kill lands on is
//! any of them); once the server is dead the third payment is captured with
//! the provider's wrong-amount switch on, a success that must be refunded.
//! The server restarts on the same data dir, the provider's retries bring the
//! webhooks, and the round waits until everything has settled. Then, for
//! every intent of every round so far, against the provider's own records
//! (`GET /v1/payment_intents/{id}`, `GET /v1/refunds?payment_intent=`):
//! - each captured payment is exactly one CONFIRMED reservation (payment
//!   COMPLETED, no refund) or exactly one full refund (payment FAILED, its
//!   hold not confirmed); the wrong amount is the refund, the others confirm;
//! - the declined one is FAILED, neither captured nor refunded;
//! - each captured top-up credited its wallet exactly once (one CHARGE);
//! - money is conserved: what the provider captured equals the confirmed
//!   card payments, plus the top-up credits, plus what it refunded.

use crate::binary::{
    call, one_at_a_time, set_up_concert, user_token, Books, ConcertPlan, Credentials,
    MockProviderProcess, Server,
};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use awc::http::StatusCode;
use boxoffice_engine::ids::UserId;
use boxoffice_provider::signature::SIGNATURE_HEADER;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CREDENTIALS: Credentials = Credentials {
    secret: "card-kill-secret-0123456789",
    admin_email: "admin@cardkill.test",
    admin_password: "process-admin-passphrase",
};
const CONCERT: ConcertPlan = ConcertPlan {
    title: "Card Kill",
    rows: 8,
    seats_per_row: 10,
    schedules: 1,
    price: 10_000,
};
const SECRET_KEY: &str = "sk_test_card_kill";
const WEBHOOK_SECRET: &str = "whsec_card_kill";
/// Rounds, one kill each: half before a webhook, half during one.
const ROUNDS: usize = 20;
/// Card payments per round (the last one captured with the wrong amount),
/// after which one more hold is declined.
const CARD_PAYMENTS: usize = 3;
/// How long after passing a webhook on the relay kills, by odd round.
const DURING_DELAYS_MS: [u64; 3] = [0, 1, 2];
/// The provider's first webhook retry (it doubles: 200 ms, 0.4 s, ... 12.8 s,
/// eight attempts in all, about 25 s, longer than a restart).
const RETRY_INITIAL_MS: &str = "200";
/// Longest a round may wait for its kill, and for everything to settle.
const KILL_WAIT: Duration = Duration::from_secs(20);
const SETTLE_WAIT: Duration = Duration::from_secs(45);

/// Where the relay aims the next kill.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    BeforeWebhook,
    DuringWebhook { delay_ms: u64 },
}

/// The relay between the provider and whichever server process is up.
#[derive(Default)]
struct Relay {
    /// The server's base URL and pid.
    target: Mutex<(String, u32)>,
    armed: Mutex<Option<KillAt>>,
    killed: AtomicBool,
    /// Kills during a webhook that came before the server's answer to it.
    unanswered_at_kill: AtomicU32,
    calls: AtomicU32,
}

impl Relay {
    fn aim(&self, base: &str, pid: u32) {
        *self.target.lock().expect("target") = (base.to_string(), pid);
    }

    fn kill(&self) {
        let pid = self.target.lock().expect("target").1;
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -9 {pid}");
        self.killed.store(true, Ordering::SeqCst);
    }
}

/// Passes one webhook on to the server; true if it answered 2xx.
async fn forward(base: &str, signature: Option<String>, body: Bytes) -> bool {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut request = client
        .post(format!("{base}/api/v1/webhooks/payments/stripe"))
        .insert_header(("Content-Type", "application/json"));
    if let Some(signature) = signature {
        request = request.insert_header((SIGNATURE_HEADER, signature));
    }
    match request.send_body(body).await {
        Ok(mut response) => {
            let _ = response.body().await;
            response.status().is_success()
        }
        Err(_) => false,
    }
}

async fn relay(req: HttpRequest, body: Bytes, relay: web::Data<Arc<Relay>>) -> HttpResponse {
    relay.calls.fetch_add(1, Ordering::SeqCst);
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let armed = relay.armed.lock().expect("armed").take();
    let base = relay.target.lock().expect("target").0.clone();
    let delivered = match armed {
        Some(KillAt::BeforeWebhook) => {
            relay.kill();
            false
        }
        Some(KillAt::DuringWebhook { delay_ms }) => {
            let answered = Arc::new(AtomicBool::new(false));
            let (killer, seen) = (Arc::clone(&relay), Arc::clone(&answered));
            actix_rt::spawn(async move {
                actix_rt::time::sleep(Duration::from_millis(delay_ms)).await;
                if !seen.load(Ordering::SeqCst) {
                    killer.unanswered_at_kill.fetch_add(1, Ordering::SeqCst);
                }
                killer.kill();
            });
            let delivered = forward(&base, signature, body).await;
            answered.store(delivered, Ordering::SeqCst);
            delivered
        }
        None => forward(&base, signature, body).await,
    };
    if delivered {
        HttpResponse::Ok().finish()
    } else {
        HttpResponse::ServiceUnavailable().finish()
    }
}

/// What a round asked the provider for.
#[derive(Clone, Debug)]
enum Ask {
    /// A card payment; `keep`: it must confirm (false: the wrong amount, refunded).
    Payment {
        token: String,
        payment_id: String,
        reservation_id: String,
        keep: bool,
    },
    Declined {
        token: String,
        payment_id: String,
    },
    TopUp {
        token: String,
        amount: i64,
    },
}

struct Asked {
    ask: Ask,
    checkout_url: String,
}

impl Asked {
    fn intent_id(&self) -> &str {
        self.checkout_url.rsplit('/').next().expect("intent id")
    }
}

fn user(n: u64) -> UserId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[15] = 0x0d;
    UserId::from_random_bytes(bytes)
}

async fn must(
    client: &awc::Client,
    method: &str,
    url: String,
    token: &str,
    key: Option<&str>,
    body: Option<Value>,
    expected: StatusCode,
) -> Value {
    let (status, body) = call(client, method, url.clone(), token, key, body)
        .await
        .unwrap_or_else(|| panic!("{method} {url}: no answer"));
    assert_eq!(status, expected, "{method} {url}: {body}");
    body
}

/// A hold of one seat paid by card: (paymentId, reservationId, checkoutUrl).
async fn hold_and_pay(
    client: &awc::Client,
    base: &str,
    schedule: &str,
    token: &str,
    seat: &str,
) -> (String, String, String) {
    let held = must(
        client,
        "POST",
        format!("{base}/api/v1/reservations"),
        token,
        Some(&format!("hold-{seat}")),
        Some(json!({"scheduleId": schedule, "seatIds": [seat]})),
        StatusCode::CREATED,
    )
    .await;
    let reservation = held["reservationId"].as_str().expect("id").to_string();
    let pending = must(
        client,
        "POST",
        format!("{base}/api/v1/payments"),
        token,
        Some(&format!("pay-{seat}")),
        Some(json!({"reservationId": reservation, "method": "CARD"})),
        StatusCode::ACCEPTED,
    )
    .await;
    (
        pending["paymentId"].as_str().expect("id").to_string(),
        reservation,
        pending["checkoutUrl"].as_str().expect("url").to_string(),
    )
}

/// Clicks `button` on the provider's checkout page. A paid intent sends the
/// payer back to the server's checkout page (303): not followed, since the
/// server may be down at that moment and only the provider's answer counts.
async fn click(client: &awc::Client, checkout_url: &str, button: &str) {
    let response = client
        .post(format!("{checkout_url}/{button}"))
        .send()
        .await
        .expect("click");
    let expected = if button == "pay" {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::OK
    };
    assert_eq!(response.status(), expected, "{button} {checkout_url}");
}

/// A provider API call with its secret key.
async fn provider_get(client: &awc::Client, url: String) -> Value {
    must(client, "GET", url, SECRET_KEY, None, None, StatusCode::OK).await
}

async fn switch_wrong_amount(client: &awc::Client, provider: &str, on: bool) {
    must(
        client,
        "POST",
        format!("{provider}/mock/switches"),
        SECRET_KEY,
        None,
        Some(json!({"wrongAmount": on})),
        StatusCode::OK,
    )
    .await;
}

/// GET /payments/{id} as its owner.
async fn payment(client: &awc::Client, base: &str, token: &str, id: &str) -> Value {
    let url = format!("{base}/api/v1/payments/{id}");
    must(client, "GET", url, token, None, None, StatusCode::OK).await
}

/// Whether `asked` has reached its end on the server.
async fn settled(client: &awc::Client, base: &str, asked: &Asked) -> bool {
    match &asked.ask {
        Ask::Payment {
            token, payment_id, ..
        } => {
            let body = payment(client, base, token, payment_id).await;
            body["status"] == "COMPLETED"
                || (body["status"] == "FAILED" && body["refundConfirmed"] == true)
        }
        Ask::Declined { token, payment_id } => {
            payment(client, base, token, payment_id).await["status"] == "FAILED"
        }
        Ask::TopUp { token, amount } => {
            let (status, wallet) = call(
                client,
                "GET",
                format!("{base}/api/v1/wallet"),
                token,
                None,
                None,
            )
            .await
            .expect("wallet");
            status == StatusCode::OK && wallet["balance"] == *amount
        }
    }
}

/// The money as the provider and the server show it.
#[derive(Default, Debug)]
struct Money {
    captured: i64,
    confirmed: i64,
    credited: i64,
    refunded: i64,
    confirmations: u32,
    refunds: u32,
}

/// The checks of the module doc over every intent so far.
async fn check_all(client: &awc::Client, base: &str, provider: &str, all: &[Asked]) -> Money {
    let mut money = Money::default();
    for asked in all {
        let intent_id = asked.intent_id();
        let intent =
            provider_get(client, format!("{provider}/v1/payment_intents/{intent_id}")).await;
        let refunds = provider_get(
            client,
            format!("{provider}/v1/refunds?payment_intent={intent_id}"),
        )
        .await;
        let refunds = refunds["data"].as_array().expect("refunds").clone();
        let captured = intent["amount_received"].as_i64().expect("amount_received");
        let refunded: i64 = refunds
            .iter()
            .map(|r| r["amount"].as_i64().expect("amount"))
            .sum();
        if intent["status"] == "succeeded" {
            money.captured += captured;
        }
        money.refunded += refunded;
        money.refunds += refunds.len() as u32;
        match &asked.ask {
            Ask::Payment {
                token,
                payment_id,
                reservation_id,
                keep,
            } => {
                assert_eq!(intent["status"], "succeeded", "{intent}");
                let payment = payment(client, base, token, payment_id).await;
                let reservation = must(
                    client,
                    "GET",
                    format!("{base}/api/v1/reservations/{reservation_id}"),
                    token,
                    None,
                    None,
                    StatusCode::OK,
                )
                .await;
                if *keep {
                    assert_eq!(payment["status"], "COMPLETED", "{payment}");
                    assert_eq!(reservation["status"], "CONFIRMED", "{reservation}");
                    assert!(refunds.is_empty(), "a kept payment refunded: {refunds:?}");
                    assert_eq!(payment["amount"], captured);
                    money.confirmed += captured;
                    money.confirmations += 1;
                } else {
                    assert_eq!(payment["status"], "FAILED", "{payment}");
                    assert_ne!(reservation["status"], "CONFIRMED", "{reservation}");
                    assert_eq!(refunds.len(), 1, "one refund: {refunds:?}");
                    assert_eq!(refunded, captured, "refunded in full");
                }
            }
            Ask::Declined { token, payment_id } => {
                assert_ne!(intent["status"], "succeeded", "{intent}");
                assert!(refunds.is_empty(), "{refunds:?}");
                let payment = payment(client, base, token, payment_id).await;
                assert_eq!(payment["status"], "FAILED", "{payment}");
            }
            Ask::TopUp { token, amount } => {
                assert_eq!(intent["status"], "succeeded", "{intent}");
                assert_eq!(captured, *amount);
                assert!(
                    refunds.is_empty(),
                    "a credited top-up refunded: {refunds:?}"
                );
                let books = Books::fetch(client, base, token).await;
                let charges: Vec<&Value> = books
                    .ledger
                    .iter()
                    .filter(|e| e["kind"] == "CHARGE")
                    .collect();
                assert_eq!(charges.len(), 1, "credited once: {:?}", books.ledger);
                assert_eq!(books.balance(), *amount);
                money.credited += *amount;
            }
        }
    }
    assert_eq!(
        money.captured,
        money.confirmed + money.credited + money.refunded,
        "money is conserved: {money:?}"
    );
    money
}

#[test]
fn every_captured_card_payment_ends_once_across_kill_9() {
    let _heavy = one_at_a_time();
    actix_rt::System::new().block_on(body());
}

async fn body() {
    let started = Instant::now();
    let relay_state = Arc::new(Relay::default());
    let shared = Arc::clone(&relay_state);
    let relay_server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(Arc::clone(&shared)))
            .default_service(web::to(relay))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("relay binds");
    let relay_url = format!("http://127.0.0.1:{}/hook", relay_server.addrs()[0].port());
    actix_rt::spawn(relay_server.run());
    let provider = MockProviderProcess::start(&[
        "--webhook-url",
        &relay_url,
        "--secret-key",
        SECRET_KEY,
        "--webhook-secret",
        WEBHOOK_SECRET,
        "--retry-initial-ms",
        RETRY_INITIAL_MS,
    ])
    .await;
    let env = [
        ("BOXOFFICE_JWT_SECRET", CREDENTIALS.secret),
        ("BOXOFFICE_ADMIN_EMAIL", CREDENTIALS.admin_email),
        ("BOXOFFICE_ADMIN_PASSWORD", CREDENTIALS.admin_password),
        ("BOXOFFICE_PAYMENT_PROVIDER", "stripe"),
        ("BOXOFFICE_PROVIDER_BASE_URL", &provider.base),
        ("BOXOFFICE_PROVIDER_SECRET_KEY", SECRET_KEY),
        ("BOXOFFICE_PROVIDER_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let keys = CREDENTIALS.keys();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .disable_redirects()
        .finish();
    let mut server = Server::start_with_env(&data, dir.path(), &env);
    relay_state.aim(&server.base, server.pid());
    let schedule = set_up_concert(&client, &server.base, &CREDENTIALS, &CONCERT)
        .await
        .remove(0);

    let mut all: Vec<Asked> = Vec::new();
    let mut money = Money::default();
    for round in 0..ROUNDS {
        let base = server.base.clone();
        let mut asked = Vec::new();
        for n in 0..=CARD_PAYMENTS {
            let token = user_token(&keys, user((round * 10 + n) as u64));
            let k = round * (CARD_PAYMENTS + 1) + n;
            let seat = format!("A-{}-{}", k / 10 + 1, k % 10 + 1);
            let (payment_id, reservation_id, checkout_url) =
                hold_and_pay(&client, &base, &schedule, &token, &seat).await;
            let ask = if n < CARD_PAYMENTS {
                Ask::Payment {
                    token,
                    payment_id,
                    reservation_id,
                    keep: n + 1 < CARD_PAYMENTS,
                }
            } else {
                Ask::Declined { token, payment_id }
            };
            asked.push(Asked { ask, checkout_url });
        }
        let token = user_token(&keys, user((round * 10 + 9) as u64));
        let amount = 7_000 + round as i64;
        let top_up = must(
            &client,
            "POST",
            format!("{base}/api/v1/wallet/charges"),
            &token,
            Some(&format!("top-up-{round}")),
            Some(json!({"amount": amount, "method": "CARD"})),
            StatusCode::ACCEPTED,
        )
        .await;
        asked.push(Asked {
            ask: Ask::TopUp { token, amount },
            checkout_url: top_up["checkoutUrl"].as_str().expect("url").to_string(),
        });

        let kill_at = if round % 2 == 0 {
            KillAt::BeforeWebhook
        } else {
            KillAt::DuringWebhook {
                delay_ms: DURING_DELAYS_MS[round / 2 % DURING_DELAYS_MS.len()],
            }
        };
        relay_state.killed.store(false, Ordering::SeqCst);
        *relay_state.armed.lock().expect("armed") = Some(kill_at);
        // Everything but the wrong amount at once: the kill lands on
        // whichever webhook comes first.
        join_all(asked.iter().enumerate().map(|(n, a)| {
            let button = if matches!(a.ask, Ask::Declined { .. }) {
                "decline"
            } else {
                "pay"
            };
            let client = &client;
            async move {
                if n + 1 != CARD_PAYMENTS {
                    click(client, &a.checkout_url, button).await;
                }
            }
        }))
        .await;
        let deadline = Instant::now() + KILL_WAIT;
        while !relay_state.killed.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "round {round}: no webhook came to kill at"
            );
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill();
        // Captured while the server is down, for another amount than asked.
        switch_wrong_amount(&client, &provider.base, true).await;
        click(&client, &asked[CARD_PAYMENTS - 1].checkout_url, "pay").await;
        switch_wrong_amount(&client, &provider.base, false).await;

        server = Server::start_with_env(&data, dir.path(), &env);
        relay_state.aim(&server.base, server.pid());
        let deadline = Instant::now() + SETTLE_WAIT;
        for a in &asked {
            while !settled(&client, &server.base, a).await {
                server.assert_alive("while card payments settle");
                assert!(
                    Instant::now() < deadline,
                    "round {round} ({kill_at:?}): never settled: {:?}",
                    a.ask
                );
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
        }
        all.extend(asked);
        money = check_all(&client, &server.base, &provider.base, &all).await;
        eprintln!("round {round}: killed {kill_at:?}; {money:?}");
    }
    server.sigterm_and_wait();
    eprintln!(
        "card kill loop: {ROUNDS} kills ({} before a webhook, {} during one: {} with the \
         webhook still unanswered at the kill); {} intents, {} captured for {}: {} confirmed \
         ({}), {} refunded ({}), top-ups credited {}; {} webhook calls relayed; {:.1} s",
        ROUNDS.div_ceil(2),
        ROUNDS / 2,
        relay_state.unanswered_at_kill.load(Ordering::SeqCst),
        all.len(),
        all.iter()
            .filter(|a| !matches!(a.ask, Ask::Declined { .. }))
            .count(),
        money.captured,
        money.confirmations,
        money.confirmed,
        money.refunds,
        money.refunded,
        money.credited,
        relay_state.calls.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
}
