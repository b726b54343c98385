//! Card payments and card top-ups through the built-in test provider
//! (`--payment-provider mock`, mounted by the server itself): the 202 with
//! its checkout URL, the checkout page clicked as a browser would, signed
//! webhooks (bad ones refused, repeated or late ones taking effect once),
//! refunds through the provider, the provider's timeout on the test clock,
//! and a restart while a payment is PENDING.

use awc::http::Method;
use boxoffice_actors::{Clock, Role};
use boxoffice_engine::ids::UserId;
use boxoffice_provider::signature::sign;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use test_support::app::*;

const PAYMENTS: &str = "/api/v1/payments";
const RESERVATIONS: &str = "/api/v1/reservations";
const CHARGES: &str = "/api/v1/wallet/charges";
const WEBHOOK: &str = "/api/v1/webhooks/payments/mock";
/// Longest a webhook may take to come back from the provider (it is sent on
/// a spawned task and retried); generous for a busy 2-core machine.
const WEBHOOK_WAIT: Duration = Duration::from_secs(15);
/// A VIP seat's price in the test concert.
const VIP_PRICE: i64 = 150_000;
/// The provider's timeout (and the card payment deadline) by default: 10 minutes.
const TIMEOUT_MS: i64 = 10 * 60 * 1_000;

fn fan(app: &TestApp) -> String {
    app.token_for(UserId::from_random_bytes(rand::random()), Role::User)
}

/// A server with the mock provider and one concert whose holds last `hold_seconds`.
async fn card_app(hold_seconds: u32) -> (TestApp, String) {
    let app = spawn_app_with(with_mock_provider).await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, hold_seconds).await;
    (app, schedule)
}

async fn pay_card(app: &TestApp, token: &str, reservation: &str, key: &str) -> Reply {
    app.post_with(
        PAYMENTS,
        Some(token),
        &[("Idempotency-Key", key)],
        json!({"reservationId": reservation, "method": "CARD"}),
    )
    .await
}

/// A card top-up of `amount` with `headers` (an Idempotency-Key among them).
async fn top_up_card(app: &TestApp, token: &str, amount: i64, headers: &[(&str, &str)]) -> Reply {
    app.post_with(
        CHARGES,
        Some(token),
        headers,
        json!({"amount": amount, "method": "CARD"}),
    )
    .await
}

/// A 202 card payment; returns (paymentId, checkoutUrl).
async fn pay_card_ok(app: &TestApp, token: &str, reservation: &str) -> (String, String) {
    let reply = pay_card(app, token, reservation, &app.unique("card")).await;
    reply.expect(202, "");
    assert_eq!(reply.body["status"], "PENDING", "{}", reply.text);
    assert_eq!(reply.body["reservationId"], reservation);
    (
        reply.body["paymentId"]
            .as_str()
            .expect("paymentId")
            .to_string(),
        reply.body["checkoutUrl"]
            .as_str()
            .expect("checkoutUrl")
            .to_string(),
    )
}

/// The intent id at the end of a checkout URL.
fn intent_of(checkout_url: &str) -> String {
    checkout_url.rsplit('/').next().expect("id").to_string()
}

/// Opens the checkout page as a browser would, then clicks `button` ("pay" or "decline").
async fn click(app: &TestApp, checkout_url: &str, button: &str) -> u16 {
    let mut page = app.client.get(checkout_url).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = String::from_utf8_lossy(&page.body().await.expect("html")).to_string();
    assert!(html.contains("Pay") && html.contains("Decline"), "{html}");
    // The form's action is relative to the page: `{id}/pay`.
    let intent = intent_of(checkout_url);
    assert!(
        html.contains(&format!("action=\"{intent}/{button}\"")),
        "{html}"
    );
    let clicked = app
        .client
        .post(format!("{checkout_url}/{button}"))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .send_body("")
        .await
        .expect("click");
    clicked.status().as_u16()
}

async fn payment(app: &TestApp, token: &str, payment_id: &str) -> Value {
    let reply = app
        .get(&format!("{PAYMENTS}/{payment_id}"), Some(token))
        .await;
    reply.expect(200, "");
    reply.body.clone()
}

/// Polls the payment until its status is `status`.
async fn wait_status(app: &TestApp, token: &str, payment_id: &str, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let body = payment(app, token, payment_id).await;
        if body["status"] == status {
            return body;
        }
        assert!(
            start.elapsed() < WEBHOOK_WAIT,
            "payment never became {status}: {body}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn reservation_body(app: &TestApp, token: &str, id: &str) -> Value {
    let reply = app.get(&format!("{RESERVATIONS}/{id}"), Some(token)).await;
    reply.expect(200, "");
    reply.body.clone()
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    let reply = app.get("/api/v1/wallet", Some(token)).await;
    reply.expect(200, "");
    reply.body["balance"].as_i64().expect("balance")
}

/// Sets the mock provider's test switches.
async fn switches(app: &TestApp, update: Value) {
    let auth = format!("Bearer {MOCK_SECRET_KEY}");
    app.post_with(
        "/mock-provider/mock/switches",
        None,
        &[("Authorization", &auth)],
        update,
    )
    .await
    .expect(200, "");
}

/// Whether the provider has reported refunding the payment (its
/// `charge.refunded` webhook, which the mock sends once it refunded).
async fn provider_refunded(app: &TestApp, token: &str, payment_id: &str) -> bool {
    payment(app, token, payment_id).await["refundConfirmed"] == true
}

/// Waits until the provider has refunded the payment.
async fn wait_refunded(app: &TestApp, token: &str, payment_id: &str) {
    let start = Instant::now();
    while !provider_refunded(app, token, payment_id).await {
        assert!(
            start.elapsed() < WEBHOOK_WAIT,
            "{payment_id} was never refunded"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A provider event about an intent, as Stripe sends it.
fn intent_event(kind: &str, intent: &str, amount: i64, metadata: Value) -> String {
    json!({"id": format!("evt_test_{}", rand::random::<u32>()), "object": "event", "type": kind,
           "created": 1_772_323_200, "data": {"object": {"id": intent, "object": "payment_intent",
           "amount": amount, "amount_received": if kind == "payment_intent.succeeded" { amount } else { 0 },
           "currency": "krw", "status": if kind == "payment_intent.succeeded" { "succeeded" } else { "requires_payment_method" },
           "metadata": metadata}}})
    .to_string()
}

/// POSTs `body` to the webhook with `signature` (none: no header).
async fn webhook(app: &TestApp, path: &str, body: &str, signature: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = signature
        .map(|s| vec![("Stripe-Signature", s)])
        .unwrap_or_default();
    app.raw(
        Method::POST,
        path,
        None,
        &headers,
        Some(("application/json", body.as_bytes().to_vec())),
    )
    .await
}

fn signed(app: &TestApp, body: &str) -> String {
    sign(
        MOCK_WEBHOOK_SECRET,
        app.clock.now().0 / 1_000,
        body.as_bytes(),
    )
}

#[actix_rt::test]
async fn without_a_provider_card_is_409_and_nothing_is_touched() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let key = app.unique("card");
    pay_card(&app, &token, &reservation, &key)
        .await
        .expect(409, "PAYMENT_METHOD_UNAVAILABLE");
    assert_eq!(reservation_status(&app, &token, &reservation).await, "HELD");
    top_up_card(&app, &token, 1000, &[("Idempotency-Key", &app.unique("k"))])
        .await
        .expect(409, "PAYMENT_METHOD_UNAVAILABLE");
    // The answer was not stored: the same key pays by wallet afterwards.
    app.fund(&token, VIP_PRICE).await;
    app.post_with(
        PAYMENTS,
        Some(&token),
        &[("Idempotency-Key", &key)],
        json!({"reservationId": reservation, "method": "WALLET"}),
    )
    .await
    .expect(201, "");
    // No provider: its webhook does not exist.
    let body = intent_event("payment_intent.succeeded", "pi_1", 1, json!({}));
    webhook(&app, WEBHOOK, &body, Some(&signed(&app, &body)))
        .await
        .expect(404, "NOT_FOUND");
}

async fn reservation_status(app: &TestApp, token: &str, id: &str) -> String {
    reservation_body(app, token, id).await["status"]
        .as_str()
        .expect("status")
        .to_string()
}

#[actix_rt::test]
async fn a_bad_method_is_400_and_direct_charges_can_be_switched_off() {
    let (app, schedule) = card_app(600).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    for (what, method) in [
        ("unknown", json!("BITCOIN")),
        ("number", json!(1)),
        ("lower case", json!("card")),
    ] {
        app.post_keyed(
            PAYMENTS,
            &token,
            json!({"reservationId": reservation, "method": method}),
        )
        .await
        .expect_case(what, 400, "VALIDATION_ERROR");
        app.post_keyed(CHARGES, &token, json!({"amount": 1000, "method": method}))
            .await
            .expect_case(what, 400, "VALIDATION_ERROR");
    }
    for (what, amount) in [
        ("zero", json!(0)),
        ("negative", json!(-5)),
        ("fraction", json!(1.5)),
    ] {
        app.post_keyed(CHARGES, &token, json!({"amount": amount, "method": "CARD"}))
            .await
            .expect_case(what, 400, "INVALID_AMOUNT");
    }
    // Someone else's reservation is 404 by card too, and opens nothing.
    let other = fan(&app);
    pay_card(&app, &other, &reservation, &app.unique("card"))
        .await
        .expect(404, "NOT_FOUND");
    assert_eq!(reservation_status(&app, &token, &reservation).await, "HELD");

    let app = spawn_app_with(|s| {
        with_mock_provider(s);
        s.direct_wallet_charges = false;
    })
    .await;
    let token = fan(&app);
    for body in [
        json!({"amount": 1000}),
        json!({"amount": 1000, "method": "DIRECT"}),
    ] {
        app.post_keyed(CHARGES, &token, body)
            .await
            .expect(403, "FORBIDDEN");
    }
    assert_eq!(balance(&app, &token).await, 0);
    app.post_keyed(CHARGES, &token, json!({"amount": 1000, "method": "CARD"}))
        .await
        .expect(202, "");
}

#[actix_rt::test]
async fn a_card_payment_paid_on_the_checkout_page_confirms_the_reservation_once() {
    let (app, schedule) = card_app(600).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1", "VIP-1-2"]).await;
    let key = app.unique("card");
    let first = pay_card(&app, &token, &reservation, &key).await;
    first.expect(202, "");
    assert_eq!(first.body["amount"], 2 * VIP_PRICE);
    assert!(first.body["expiresAt"].is_string());
    let payment_id = first.body["paymentId"].as_str().expect("id").to_string();
    let url = first.body["checkoutUrl"].as_str().expect("url").to_string();
    assert!(
        url.starts_with(&format!("{}/mock-provider/checkout/pi_", app.base)),
        "{url}"
    );
    // A retry with the same key is the same 202: the same payment and intent.
    let again = pay_card(&app, &token, &reservation, &key).await;
    again.expect(202, "");
    assert_eq!(again.body, first.body);
    // Another key while it is pending opens no second intent.
    pay_card(&app, &token, &reservation, &app.unique("card"))
        .await
        .expect(409, "CONFLICT");
    let pending = payment(&app, &token, &payment_id).await;
    assert_eq!(pending["status"], "PENDING");
    assert_eq!(pending["method"], "CARD");
    // Not paid yet: no `paidAt` (an empty string is not a date-time).
    assert!(pending.get("paidAt").is_none(), "{pending}");
    assert_eq!(reservation_status(&app, &token, &reservation).await, "HELD");
    // Someone else's payment is not found.
    app.get(&format!("{PAYMENTS}/{payment_id}"), Some(&fan(&app)))
        .await
        .expect(404, "NOT_FOUND");

    assert_eq!(click(&app, &url, "pay").await, 200);
    let paid = wait_status(&app, &token, &payment_id, "COMPLETED").await;
    assert_eq!(paid["method"], "CARD");
    assert!(
        paid["paidAt"].as_str().is_some_and(|at| !at.is_empty()),
        "{paid}"
    );
    assert_eq!(paid["amount"], 2 * VIP_PRICE);
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(2));
    let confirmed = reservation_body(&app, &token, &reservation).await;
    assert_eq!(confirmed["status"], "CONFIRMED");
    assert_eq!(balance(&app, &token).await, 0, "the wallet is not touched");
    let tickets = app.get("/api/v1/tickets", Some(&token)).await;
    tickets.expect(200, "");
    assert_eq!(tickets.body["total"], 2);

    // The same success delivered again (and a late failure) changes nothing.
    let meta = json!({"paymentId": payment_id});
    let intent = intent_of(&url);
    for kind in [
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
    ] {
        let body = intent_event(kind, &intent, 2 * VIP_PRICE, meta.clone());
        let reply = webhook(&app, WEBHOOK, &body, Some(&signed(&app, &body))).await;
        reply.expect(200, "");
        assert_eq!(reply.body, json!({"received": true}));
    }
    let after = payment(&app, &token, &payment_id).await;
    assert_eq!(after, paid);
    assert!(
        !provider_refunded(&app, &token, &payment_id).await,
        "a kept payment is not refunded"
    );

    // Cancelling a CARD-paid reservation refunds the card, not the wallet.
    let cancelled = app
        .post(
            &format!("{RESERVATIONS}/{reservation}/cancel"),
            Some(&token),
            json!({}),
        )
        .await;
    cancelled.expect(200, "");
    assert_eq!(cancelled.body["refundAmount"], 2 * VIP_PRICE);
    wait_refunded(&app, &token, &payment_id).await;
    assert_eq!(
        payment(&app, &token, &payment_id).await["status"],
        "REFUNDED"
    );
    assert_eq!(
        balance(&app, &token).await,
        0,
        "the refund went to the card"
    );
}

#[actix_rt::test]
async fn a_declined_card_fails_and_the_hold_can_be_paid_from_the_wallet() {
    let (app, schedule) = card_app(600).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let (payment_id, url) = pay_card_ok(&app, &token, &reservation).await;
    assert_eq!(click(&app, &url, "decline").await, 200);
    let failed = wait_status(&app, &token, &payment_id, "FAILED").await;
    assert_eq!(failed["tickets"], json!([]));
    assert_eq!(reservation_status(&app, &token, &reservation).await, "HELD");
    app.fund(&token, VIP_PRICE).await;
    let paid = app
        .post_keyed(PAYMENTS, &token, json!({"reservationId": reservation}))
        .await;
    paid.expect(201, "");
    assert_eq!(
        reservation_status(&app, &token, &reservation).await,
        "CONFIRMED"
    );
    assert_eq!(payment(&app, &token, &payment_id).await["status"], "FAILED");
}

/// The `payment.*` events of `payment_id` in the admin feed: (type, data).
async fn payment_events(app: &TestApp, payment_id: &str) -> Vec<(String, Value)> {
    let admin = app.admin_token().await;
    let reply = app
        .get("/api/v1/admin/events?limit=1000", Some(&admin))
        .await;
    reply.expect(200, "");
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| {
            e["data"]["paymentId"] == payment_id
                && e["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("payment."))
        })
        .map(|e| {
            (
                e["type"].as_str().expect("type").to_string(),
                e["data"].clone(),
            )
        })
        .collect()
}

#[actix_rt::test]
async fn booking_events_name_card_payments_card_and_wallet_payments_wallet() {
    let (app, schedule) = card_app(600).await;
    let token = fan(&app);
    // A declined card, then the same hold paid from the wallet.
    let first = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let (declined, url) = pay_card_ok(&app, &token, &first).await;
    assert_eq!(click(&app, &url, "decline").await, 200);
    let failed = wait_status(&app, &token, &declined, "FAILED").await;
    app.fund(&token, VIP_PRICE).await;
    let by_wallet = app
        .post_keyed(PAYMENTS, &token, json!({"reservationId": first}))
        .await;
    by_wallet.expect(201, "");
    let wallet_id = by_wallet.body["paymentId"]
        .as_str()
        .expect("id")
        .to_string();
    // A card payment that completes.
    let second = app.hold(&token, &schedule, &["VIP-1-2"]).await;
    let (paid, url) = pay_card_ok(&app, &token, &second).await;
    assert_eq!(click(&app, &url, "pay").await, 200);
    let completed = wait_status(&app, &token, &paid, "COMPLETED").await;

    let events = payment_events(&app, &declined).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "payment.failed");
    assert_eq!(events[0].1["method"], "CARD", "{events:?}");
    assert_eq!(events[0].1["status"], "FAILED");
    assert_eq!(events[0].1["amount"], failed["amount"]);
    let events = payment_events(&app, &paid).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "payment.completed");
    // The payment as GET /payments/{id} showed it when it completed.
    assert_eq!(events[0].1, completed, "{events:?}");
    let events = payment_events(&app, &wallet_id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "payment.completed");
    assert_eq!(events[0].1["method"], "WALLET", "{events:?}");
}

#[actix_rt::test]
async fn bad_missing_or_stale_signatures_are_400_and_change_nothing() {
    let (app, schedule) = card_app(600).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let (payment_id, url) = pay_card_ok(&app, &token, &reservation).await;
    let body = intent_event(
        "payment_intent.succeeded",
        &intent_of(&url),
        VIP_PRICE,
        json!({"paymentId": payment_id}),
    );
    let now_s = app.clock.now().0 / 1_000;
    let cases = [
        ("missing", None),
        ("malformed", Some("nonsense".to_string())),
        (
            "wrong secret",
            Some(sign("whsec_someone_else", now_s, body.as_bytes())),
        ),
        (
            "another body",
            Some(sign(MOCK_WEBHOOK_SECRET, now_s, b"{}")),
        ),
        (
            "six minutes old",
            Some(sign(MOCK_WEBHOOK_SECRET, now_s - 360, body.as_bytes())),
        ),
        (
            "six minutes ahead",
            Some(sign(MOCK_WEBHOOK_SECRET, now_s + 360, body.as_bytes())),
        ),
    ];
    for (what, signature) in &cases {
        webhook(&app, WEBHOOK, &body, signature.as_deref())
            .await
            .expect_case(what, 400, "VALIDATION_ERROR");
    }
    // Signed but not an event (or not JSON at all); an unknown provider name.
    for junk in ["{\"hello\": 1}", "not json", ""] {
        webhook(&app, WEBHOOK, junk, Some(&signed(&app, junk)))
            .await
            .expect_case(junk, 400, "VALIDATION_ERROR");
    }
    webhook(
        &app,
        "/api/v1/webhooks/payments/paypal",
        &body,
        Some(&signed(&app, &body)),
    )
    .await
    .expect(404, "NOT_FOUND");
    assert_eq!(
        payment(&app, &token, &payment_id).await["status"],
        "PENDING"
    );
    assert_eq!(reservation_status(&app, &token, &reservation).await, "HELD");
    // Within five minutes is fine: the same event, signed 4 minutes ago, confirms.
    let recent = sign(MOCK_WEBHOOK_SECRET, now_s - 240, body.as_bytes());
    webhook(&app, WEBHOOK, &body, Some(&recent))
        .await
        .expect(200, "");
    wait_status(&app, &token, &payment_id, "COMPLETED").await;
}

#[actix_rt::test]
async fn duplicated_and_out_of_order_webhooks_take_effect_once() {
    let (app, schedule) = card_app(600).await;
    switches(&app, json!({"duplicateWebhook": true, "outOfOrder": true})).await;
    let token = fan(&app);
    let first = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let (first_payment, first_url) = pay_card_ok(&app, &token, &first).await;
    let second = app.hold(&token, &schedule, &["VIP-1-2"]).await;
    let (second_payment, second_url) = pay_card_ok(&app, &token, &second).await;
    // The first success is held back until the second's decline has gone out.
    assert_eq!(click(&app, &first_url, "pay").await, 200);
    assert_eq!(click(&app, &second_url, "decline").await, 200);
    let paid = wait_status(&app, &token, &first_payment, "COMPLETED").await;
    wait_status(&app, &token, &second_payment, "FAILED").await;
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(1));
    // Let the duplicates land, then check nothing moved twice.
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(payment(&app, &token, &first_payment).await, paid);
    assert_eq!(reservation_status(&app, &token, &second).await, "HELD");
    let tickets = app.get("/api/v1/tickets", Some(&token)).await;
    assert_eq!(tickets.body["total"], 1);
    assert!(!provider_refunded(&app, &token, &first_payment).await);
}

#[actix_rt::test]
async fn a_success_with_another_amount_fails_and_is_refunded() {
    let (app, schedule) = card_app(600).await;
    switches(&app, json!({"wrongAmount": true})).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let (payment_id, url) = pay_card_ok(&app, &token, &reservation).await;
    assert_eq!(click(&app, &url, "pay").await, 200);
    wait_status(&app, &token, &payment_id, "FAILED").await;
    wait_refunded(&app, &token, &payment_id).await;
    assert_eq!(reservation_status(&app, &token, &reservation).await, "HELD");
}

#[actix_rt::test]
async fn a_success_after_the_hold_was_cancelled_is_refunded() {
    let (app, schedule) = card_app(600).await;
    let token = fan(&app);
    // The fan gives up at checkout before paying: the hold is cancelled,
    // its payment FAILED, its intent closed (the page takes no money).
    let abandoned = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let (abandoned_payment, abandoned_url) = pay_card_ok(&app, &token, &abandoned).await;
    app.post(
        &format!("{RESERVATIONS}/{abandoned}/cancel"),
        Some(&token),
        json!({}),
    )
    .await
    .expect(200, "");
    assert_eq!(
        payment(&app, &token, &abandoned_payment).await["status"],
        "FAILED"
    );
    assert_eq!(post_pay(&app, &abandoned_url).await, 409);

    // Paid on the page, but the provider's webhook is late: the fan cancels
    // the hold meanwhile, so the success that comes is refunded.
    switches(&app, json!({"lateWebhookMs": 1_500})).await;
    let reservation = app.hold(&token, &schedule, &["VIP-1-2"]).await;
    let (payment_id, url) = pay_card_ok(&app, &token, &reservation).await;
    assert_eq!(click(&app, &url, "pay").await, 200);
    app.post(
        &format!("{RESERVATIONS}/{reservation}/cancel"),
        Some(&token),
        json!({}),
    )
    .await
    .expect(200, "");
    assert_eq!(payment(&app, &token, &payment_id).await["status"], "FAILED");
    assert!(!provider_refunded(&app, &token, &payment_id).await);
    wait_refunded(&app, &token, &payment_id).await;
    assert_eq!(
        reservation_status(&app, &token, &reservation).await,
        "CANCELLED"
    );
    assert_eq!(payment(&app, &token, &payment_id).await["status"], "FAILED");
    let tickets = app.get("/api/v1/tickets", Some(&token)).await;
    assert_eq!(tickets.body["total"], 0);
}

/// POSTs "pay" on a checkout page without opening it (a closed one shows no buttons).
async fn post_pay(app: &TestApp, checkout_url: &str) -> u16 {
    app.client
        .post(format!("{checkout_url}/pay"))
        .send_body("")
        .await
        .expect("click")
        .status()
        .as_u16()
}

/// POSTs "pay" on a checkout page without following the provider's
/// redirect: (status, Location).
async fn pay_unfollowed(checkout_url: &str) -> (u16, Option<String>) {
    let reply = awc::Client::builder()
        .disable_redirects()
        .finish()
        .post(format!("{checkout_url}/pay"))
        .send_body("")
        .await
        .expect("click");
    let location = reply
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (reply.status().as_u16(), location)
}

/// The provider sends the payer back to this site: a payment to the hold's
/// checkout page (which shows the tickets), a top-up to the wallet page.
#[actix_rt::test]
async fn after_paying_the_provider_sends_the_payer_back_to_this_sites_page() {
    let (app, schedule) = card_app(600).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let (payment_id, url) = pay_card_ok(&app, &token, &reservation).await;
    let back = format!("{}/checkout/{reservation}", app.base);
    assert_eq!(pay_unfollowed(&url).await, (303, Some(back.clone())));
    wait_status(&app, &token, &payment_id, "COMPLETED").await;
    let page = app
        .client
        .get(&back)
        .insert_header(("Accept", "text/html"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status().as_u16(), 200, "the page it names is served");

    let key = app.unique("top-up");
    let topped = top_up_card(&app, &token, 30_000, &[("Idempotency-Key", &key)]).await;
    topped.expect(202, "");
    let url = topped.body["checkoutUrl"].as_str().expect("url");
    assert_eq!(
        pay_unfollowed(url).await,
        (303, Some(format!("{}/wallet", app.base)))
    );
    // A declined card stays on the provider's page (no way back is promised).
    let reservation = app.hold(&token, &schedule, &["VIP-1-2"]).await;
    let (_, url) = pay_card_ok(&app, &token, &reservation).await;
    assert_eq!(click(&app, &url, "decline").await, 200);
}

#[actix_rt::test]
async fn a_card_top_up_credits_the_wallet_once() {
    let (app, _) = card_app(600).await;
    switches(&app, json!({"duplicateWebhook": true})).await;
    let token = fan(&app);
    let key = app.unique("top-up");
    let headers = [("Idempotency-Key", key.as_str())];
    let post = || top_up_card(&app, &token, 30_000, &headers);
    let first = post().await;
    first.expect(202, "");
    assert_eq!(first.body["status"], "PENDING");
    assert_eq!(first.body["amount"], 30_000);
    let again = post().await;
    again.expect(202, "");
    assert_eq!(again.body, first.body);
    assert_eq!(
        balance(&app, &token).await,
        0,
        "nothing before the provider confirms"
    );
    let url = first.body["checkoutUrl"].as_str().expect("url").to_string();
    assert_eq!(click(&app, &url, "pay").await, 200);
    let start = Instant::now();
    while balance(&app, &token).await == 0 {
        assert!(start.elapsed() < WEBHOOK_WAIT, "never credited");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    // The duplicate webhook and one more replay credit nothing more.
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let body = intent_event(
        "payment_intent.succeeded",
        &intent_of(&url),
        30_000,
        json!({"transactionId": first.body["transactionId"]}),
    );
    webhook(&app, WEBHOOK, &body, Some(&signed(&app, &body)))
        .await
        .expect(200, "");
    assert_eq!(balance(&app, &token).await, 30_000);
    let ledger = app.get("/api/v1/wallet/transactions", Some(&token)).await;
    assert_eq!(ledger.body["total"], 1);
    // The credit is the ledger entry the 202 named.
    let entry = &ledger.body["items"][0];
    assert_eq!(entry["kind"], "CHARGE", "{entry}");
    assert_eq!(entry["amount"], 30_000);
    assert_eq!(
        entry["transactionId"], first.body["transactionId"],
        "{entry}"
    );
}

#[actix_rt::test]
async fn a_pending_hold_does_not_expire_until_the_deadline_then_fails_and_expires() {
    let (app, schedule) = card_app(60).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let (payment_id, _) = pay_card_ok(&app, &token, &reservation).await;
    // Past the hold's own minute: still held while the card payment is pending.
    app.clock.advance_ms(120_000);
    actix_rt::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(reservation_status(&app, &token, &reservation).await, "HELD");
    assert_eq!(
        payment(&app, &token, &payment_id).await["status"],
        "PENDING"
    );
    // Past the provider's timeout: FAILED, and the hold, long past its own deadline, expires.
    app.clock.advance_ms(TIMEOUT_MS);
    wait_status(&app, &token, &payment_id, "FAILED").await;
    let start = Instant::now();
    while reservation_status(&app, &token, &reservation).await != "EXPIRED" {
        assert!(start.elapsed() < WEBHOOK_WAIT, "the hold never expired");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn a_restart_keeps_a_card_payment_pending_and_a_later_success_confirms_it() {
    let (app, schedule) = card_app(60).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let key = app.unique("card");
    let first = pay_card(&app, &token, &reservation, &key).await;
    first.expect(202, "");
    let payment_id = first.body["paymentId"].as_str().expect("id").to_string();
    let intent = intent_of(first.body["checkoutUrl"].as_str().expect("url"));

    let app = app.restart_with(with_mock_provider).await;
    assert_eq!(
        payment(&app, &token, &payment_id).await["status"],
        "PENDING"
    );
    assert_eq!(reservation_status(&app, &token, &reservation).await, "HELD");
    // The same key still answers the same 202.
    let again = pay_card(&app, &token, &reservation, &key).await;
    again.expect(202, "");
    assert_eq!(again.body, first.body);
    // The provider's success arrives after the restart.
    let body = intent_event(
        "payment_intent.succeeded",
        &intent,
        VIP_PRICE,
        json!({"paymentId": payment_id}),
    );
    webhook(&app, WEBHOOK, &body, Some(&signed(&app, &body)))
        .await
        .expect(200, "");
    let paid = payment(&app, &token, &payment_id).await;
    assert_eq!(paid["status"], "COMPLETED");
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        reservation_status(&app, &token, &reservation).await,
        "CONFIRMED"
    );
}

#[actix_rt::test]
async fn a_refused_card_payment_answers_the_same_after_a_restart() {
    let (app, schedule) = card_app(600).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let (first, url) = pay_card_ok(&app, &token, &reservation).await;
    // A second key while the first payment is pending is refused.
    let key = app.unique("card");
    let refused = pay_card(&app, &token, &reservation, &key).await;
    refused.expect(409, "CONFLICT");
    // The first fails, so the hold could be paid again, but the refused key
    // keeps its answer, before and after a restart.
    assert_eq!(click(&app, &url, "decline").await, 200);
    wait_status(&app, &token, &first, "FAILED").await;
    pay_card(&app, &token, &reservation, &key)
        .await
        .expect(409, "CONFLICT");
    let app = app.restart_with(with_mock_provider).await;
    let again = pay_card(&app, &token, &reservation, &key).await;
    again.expect(409, "CONFLICT");
    assert_eq!(
        again.body["error"]["message"],
        refused.body["error"]["message"]
    );
    assert_eq!(reservation_status(&app, &token, &reservation).await, "HELD");
}

#[actix_rt::test]
async fn behind_bind_0_0_0_0_checkout_urls_name_the_host_the_caller_used() {
    let app = spawn_app_with(|settings| {
        with_mock_provider(settings);
        settings.bind = "0.0.0.0:0".parse().expect("addr");
    })
    .await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let token = fan(&app);
    let reservation = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let host = [("Host", "box.example:8443")];
    let paid = app
        .post_with(
            PAYMENTS,
            Some(&token),
            &[host[0], ("Idempotency-Key", "behind-any")],
            json!({"reservationId": reservation, "method": "CARD"}),
        )
        .await;
    paid.expect(202, "");
    let url = paid.body["checkoutUrl"].as_str().expect("url");
    assert!(
        url.starts_with("http://box.example:8443/mock-provider/checkout/pi_"),
        "{url}"
    );
    // Paying there sends the payer back to the same host.
    let here = url.replacen("http://box.example:8443", &app.base, 1);
    assert_eq!(
        pay_unfollowed(&here).await,
        (
            303,
            Some(format!("http://box.example:8443/checkout/{reservation}"))
        )
    );
    let topped = top_up_card(
        &app,
        &token,
        1000,
        &[host[0], ("Idempotency-Key", "top-up-behind-any")],
    )
    .await;
    topped.expect(202, "");
    assert!(
        topped.body["checkoutUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://box.example:8443/mock-provider/checkout/pi_")),
        "{}",
        topped.text
    );
    // Forwarding headers from a peer that is not a --trusted-proxy are
    // not believed: the Host header still names the host.
    let forged = top_up_card(
        &app,
        &token,
        1000,
        &[
            host[0],
            ("X-Forwarded-Host", "evil.example"),
            ("X-Forwarded-Proto", "https"),
            ("Idempotency-Key", "top-up-forged"),
        ],
    )
    .await;
    forged.expect(202, "");
    assert!(
        forged.body["checkoutUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://box.example:8443/mock-provider/checkout/pi_")),
        "{}",
        forged.text
    );
    // Reached at its loopback address, the page there works as before.
    let (_, url) = pay_card_ok(
        &app,
        &token,
        &app.hold(&token, &schedule, &["VIP-1-2"]).await,
    )
    .await;
    assert!(url.starts_with(&app.base), "{url}");
    assert_eq!(click(&app, &url, "pay").await, 200);
}

/// Behind a `--trusted-proxy`, its forwarding headers name the scheme and
/// host the caller used.
#[actix_rt::test]
async fn behind_a_trusted_proxy_checkout_urls_follow_its_forwarding_headers() {
    let app = spawn_app_with(|settings| {
        with_mock_provider(settings);
        settings.bind = "0.0.0.0:0".parse().expect("addr");
        settings.trusted_proxies =
            boxoffice_http::client_ip::TrustedProxies::new(vec!["127.0.0.1/32"
                .parse()
                .expect("net")]);
    })
    .await;
    let token = fan(&app);
    let topped = top_up_card(
        &app,
        &token,
        1000,
        &[
            ("X-Forwarded-Host", "tickets.example"),
            ("X-Forwarded-Proto", "https"),
            ("Idempotency-Key", "top-up-proxied"),
        ],
    )
    .await;
    topped.expect(202, "");
    assert!(
        topped.body["checkoutUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://tickets.example/mock-provider/checkout/pi_")),
        "{}",
        topped.text
    );
}

#[actix_rt::test]
async fn cancelling_the_schedule_refunds_card_payments_and_ends_pending_ones() {
    let (app, schedule) = card_app(600).await;
    let admin = app.admin_token().await;
    let token = fan(&app);
    let paid = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    let (paid_payment, url) = pay_card_ok(&app, &token, &paid).await;
    assert_eq!(click(&app, &url, "pay").await, 200);
    wait_status(&app, &token, &paid_payment, "COMPLETED").await;
    let pending = app.hold(&token, &schedule, &["VIP-1-2"]).await;
    let (pending_payment, _) = pay_card_ok(&app, &token, &pending).await;

    let cancelled = app
        .post(
            &format!("/api/v1/schedules/{schedule}/cancel"),
            Some(&admin),
            json!({}),
        )
        .await;
    cancelled.expect(200, "");
    assert_eq!(
        cancelled.body["refundedReservations"], 1,
        "{}",
        cancelled.text
    );
    assert_eq!(cancelled.body["refundedAmount"], VIP_PRICE);
    wait_refunded(&app, &token, &paid_payment).await;
    wait_status(&app, &token, &paid_payment, "REFUNDED").await;
    wait_status(&app, &token, &pending_payment, "FAILED").await;
    let start = Instant::now();
    while reservation_status(&app, &token, &pending).await != "CANCELLED" {
        assert!(
            start.elapsed() < WEBHOOK_WAIT,
            "the pending hold was never released"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reservation_status(&app, &token, &paid).await, "CANCELLED");
    assert_eq!(
        balance(&app, &token).await,
        0,
        "card money goes back to the card"
    );
}
