//! The adapter's calls against the mock: intents, cancel, refunds, the
//! checkout page, the timeout, and the errors a caller can provoke.

use crate::support::{new_intent, Harness, SECRET_KEY, WEBHOOK_SECRET};
use boxoffice_provider::mock::DEFAULT_INTENT_TIMEOUT_MS;
use boxoffice_provider::{
    EventKind, IntentStatus, NewRefund, PaymentProvider, ProviderError, StripeAdapter, StripeConfig,
};
use std::time::Duration;

fn refund_of(intent_id: &str, key: &str) -> NewRefund {
    NewRefund {
        intent_id: intent_id.into(),
        idempotency_key: key.into(),
        metadata: [("paymentId".to_string(), "p-1".to_string())].into(),
    }
}

#[actix_rt::test]
async fn a_retried_create_opens_one_intent_and_retrieve_shows_it() {
    let h = Harness::start().await;
    let first = h
        .adapter
        .create_intent(&new_intent("key-1", "p-1"))
        .await
        .unwrap();
    let again = h
        .adapter
        .create_intent(&new_intent("key-1", "p-1"))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(h.provider.intent_count(), 1);
    assert!(first.id.starts_with("pi_"));
    assert_eq!(first.amount_minor, 1_250);
    assert_eq!(first.amount_received_minor, 0);
    assert_eq!(first.currency, "eur");
    assert_eq!(
        first.status,
        IntentStatus::Pending("requires_payment_method".into())
    );
    assert_eq!(first.metadata["paymentId"], "p-1");
    assert_eq!(first.metadata["reservationId"], "r-p-1");
    let url = h.adapter.checkout_url(&first).unwrap();
    assert_eq!(url, format!("{}/checkout/{}", h.base_url, first.id));

    let fetched = h.adapter.retrieve_intent(&first.id).await.unwrap();
    assert_eq!(fetched, first);

    // Another key is another intent; the same key with other parameters is refused.
    let other = h
        .adapter
        .create_intent(&new_intent("key-2", "p-2"))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    let mut changed = new_intent("key-1", "p-1");
    changed.amount_minor = 999;
    let refused = h.adapter.create_intent(&changed).await.unwrap_err();
    assert!(
        matches!(refused, ProviderError::Rejected { status: 400, .. }),
        "{refused:?}"
    );
    assert_eq!(h.provider.intent_count(), 2);
    // Creating sends no webhook.
    h.receiver.stays_at(0, Duration::from_millis(100)).await;
}

#[actix_rt::test]
async fn the_checkout_page_shows_the_amount_and_pay_sends_a_signed_success() {
    let h = Harness::start().await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    let url = h.adapter.checkout_url(&intent).unwrap();
    let mut page = h.client().get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = String::from_utf8(page.body().await.unwrap().to_vec()).unwrap();
    assert!(html.contains("1250 EUR"), "{html}");
    assert!(
        html.contains(&format!("action=\"{}/pay\"", intent.id)),
        "{html}"
    );
    assert!(
        html.contains(&format!("action=\"{}/decline\"", intent.id)),
        "{html}"
    );
    assert!(html.contains(">Pay</button>") && html.contains(">Decline</button>"));

    assert_eq!(h.click(&url, "pay").await, 200);
    let hits = h.receiver.wait_for(1).await;
    let event = hits[0].event(h.clock.now_s());
    assert!(event.id.starts_with("evt_"));
    let EventKind::IntentSucceeded(facts) = event.kind else {
        panic!("{:?}", event.kind)
    };
    assert_eq!(facts.intent_id, intent.id);
    assert_eq!(facts.amount_received_minor, 1_250);
    assert_eq!(facts.currency, "eur");
    assert_eq!(facts.metadata["paymentId"], "p-1");

    let paid = h.adapter.retrieve_intent(&intent.id).await.unwrap();
    assert_eq!(paid.status, IntentStatus::Succeeded);
    assert_eq!(paid.amount_received_minor, 1_250);
    assert_eq!(paid.checkout_url, None);

    // A second click changes nothing and sends nothing.
    assert_eq!(h.click(&url, "pay").await, 409);
    assert_eq!(h.click(&url, "decline").await, 409);
    let html = String::from_utf8(
        h.client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .body()
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(!html.contains("<form"), "{html}");
    h.receiver.stays_at(1, Duration::from_millis(200)).await;
}

#[actix_rt::test]
async fn decline_sends_payment_failed_and_leaves_the_intent_open() {
    let h = Harness::start().await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    let url = h.adapter.checkout_url(&intent).unwrap();
    assert_eq!(h.click(&url, "decline").await, 200);
    let hits = h.receiver.wait_for(1).await;
    let EventKind::IntentPaymentFailed(facts) = hits[0].event(h.clock.now_s()).kind else {
        panic!("not a failure")
    };
    assert_eq!(facts.intent_id, intent.id);
    let declined = h.adapter.retrieve_intent(&intent.id).await.unwrap();
    assert_eq!(
        declined.status,
        IntentStatus::Pending("requires_payment_method".into())
    );
    assert_eq!(
        declined.last_error.as_deref(),
        Some("Your card was declined.")
    );
    // As with Stripe, a declined intent can still be canceled (or paid).
    let canceled = h
        .adapter
        .cancel_intent(&intent.id, "cancel-1")
        .await
        .unwrap();
    assert_eq!(canceled.status, IntentStatus::Canceled);
}

#[actix_rt::test]
async fn cancel_closes_an_intent_once_and_sends_canceled() {
    let h = Harness::start().await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    let url = h.adapter.checkout_url(&intent).unwrap();
    let canceled = h.adapter.cancel_intent(&intent.id, "c-1").await.unwrap();
    assert_eq!(canceled.status, IntentStatus::Canceled);
    assert_eq!(canceled.checkout_url, None);
    // The same key replays the answer; another key is refused: it is closed.
    assert_eq!(
        h.adapter.cancel_intent(&intent.id, "c-1").await.unwrap(),
        canceled
    );
    let refused = h
        .adapter
        .cancel_intent(&intent.id, "c-2")
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ProviderError::Rejected { status: 400, code: Some(c), .. } if c == "payment_intent_unexpected_state"),
        "{refused:?}"
    );
    let hits = h.receiver.wait_for(1).await;
    assert!(matches!(
        hits[0].event(h.clock.now_s()).kind,
        EventKind::IntentCanceled(ref f) if f.intent_id == intent.id
    ));
    // It can no longer be paid.
    assert_eq!(h.click(&url, "pay").await, 409);
    h.receiver.stays_at(1, Duration::from_millis(200)).await;

    // A paid intent cannot be canceled.
    let paid = h
        .adapter
        .create_intent(&new_intent("k2", "p-2"))
        .await
        .unwrap();
    assert_eq!(
        h.click(&h.adapter.checkout_url(&paid).unwrap(), "pay")
            .await,
        200
    );
    let refused = h.adapter.cancel_intent(&paid.id, "c-3").await.unwrap_err();
    assert!(matches!(
        refused,
        ProviderError::Rejected { status: 400, .. }
    ));
    assert_eq!(
        h.adapter.retrieve_intent(&paid.id).await.unwrap().status,
        IntentStatus::Succeeded
    );
}

#[actix_rt::test]
async fn refunds_are_full_idempotent_and_only_of_paid_intents() {
    let h = Harness::start().await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    let refused = h
        .adapter
        .refund(&refund_of(&intent.id, "r-0"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ProviderError::Rejected { status: 400, code: Some(c), .. } if c == "payment_intent_unexpected_state"),
        "{refused:?}"
    );
    assert_eq!(
        h.click(&h.adapter.checkout_url(&intent).unwrap(), "pay")
            .await,
        200
    );
    h.receiver.wait_for(1).await;

    let listed = h.refunds_listed(&intent.id).await;
    assert_eq!(listed["data"], serde_json::json!([]), "none yet: {listed}");
    let refund = h
        .adapter
        .refund(&refund_of(&intent.id, "r-1"))
        .await
        .unwrap();
    assert!(refund.id.starts_with("re_"));
    assert_eq!(refund.intent_id, intent.id);
    assert_eq!(refund.amount_minor, 1_250);
    assert_eq!(refund.currency, "eur");
    assert_eq!(refund.status, "succeeded");
    // The provider's own list of the intent's refunds shows it (and only it).
    let listed = h.refunds_listed(&intent.id).await;
    assert_eq!(listed["object"], "list");
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["data"][0]["id"], refund.id.as_str());
    assert_eq!(listed["data"][0]["amount"], 1_250);
    // A retry with the same key is the same refund; another key is "already refunded".
    assert_eq!(
        h.adapter
            .refund(&refund_of(&intent.id, "r-1"))
            .await
            .unwrap(),
        refund
    );
    let again = h
        .adapter
        .refund(&refund_of(&intent.id, "r-2"))
        .await
        .unwrap_err();
    assert!(again.is_already_refunded(), "{again:?}");

    let hits = h.receiver.wait_for(2).await;
    let EventKind::ChargeRefunded(facts) = hits[1].event(h.clock.now_s()).kind else {
        panic!("not a refund")
    };
    assert_eq!(facts.intent_id, intent.id);
    assert_eq!(facts.amount_refunded_minor, 1_250);
    assert_eq!(facts.metadata["paymentId"], "p-1");
    h.receiver.stays_at(2, Duration::from_millis(200)).await;

    let unknown = h
        .adapter
        .refund(&refund_of("pi_unknown", "r-3"))
        .await
        .unwrap_err();
    assert!(matches!(
        unknown,
        ProviderError::Rejected { status: 404, .. }
    ));
}

#[actix_rt::test]
async fn an_open_intent_is_canceled_after_the_providers_timeout() {
    let h = Harness::start().await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    let paid = h
        .adapter
        .create_intent(&new_intent("k2", "p-2"))
        .await
        .unwrap();
    assert_eq!(
        h.click(&h.adapter.checkout_url(&paid).unwrap(), "pay")
            .await,
        200
    );
    h.receiver.wait_for(1).await;

    h.clock.advance_ms(DEFAULT_INTENT_TIMEOUT_MS - 1);
    h.receiver.stays_at(1, Duration::from_millis(150)).await;
    assert!(matches!(
        h.adapter.retrieve_intent(&intent.id).await.unwrap().status,
        IntentStatus::Pending(_)
    ));

    h.clock.advance_ms(1);
    let hits = h.receiver.wait_for(2).await;
    let EventKind::IntentCanceled(facts) = hits[1].event(h.clock.now_s()).kind else {
        panic!("not a cancel")
    };
    assert_eq!(facts.intent_id, intent.id);
    assert_eq!(
        h.adapter.retrieve_intent(&intent.id).await.unwrap().status,
        IntentStatus::Canceled
    );
    // The paid one is untouched.
    assert_eq!(
        h.adapter.retrieve_intent(&paid.id).await.unwrap().status,
        IntentStatus::Succeeded
    );
    h.receiver.stays_at(2, Duration::from_millis(150)).await;
}

#[actix_rt::test]
async fn the_timeout_is_configurable() {
    let h = Harness::with(|c| c.intent_timeout_ms = 1_000).await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    h.clock.advance_ms(1_000);
    // Retrieve applies the timeout itself, before the next sweep.
    assert_eq!(
        h.adapter.retrieve_intent(&intent.id).await.unwrap().status,
        IntentStatus::Canceled
    );
    h.receiver.wait_for(1).await;
}

#[actix_rt::test]
async fn a_wrong_key_and_bad_input_are_typed_errors() {
    let h = Harness::start().await;
    let wrong = StripeAdapter::new(
        StripeConfig::new(&h.base_url, "sk_test_wrong", WEBHOOK_SECRET).unwrap(),
    )
    .unwrap();
    let refused = wrong
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ProviderError::Rejected { status: 401, .. }),
        "{refused:?}"
    );
    assert_eq!(h.provider.intent_count(), 0);

    // Refused before anything is sent.
    for bad in [
        {
            let mut i = new_intent("k", "p");
            i.amount_minor = 0;
            i
        },
        {
            let mut i = new_intent("k", "p");
            i.currency = "EURO".into();
            i
        },
        {
            let mut i = new_intent("k", "p");
            i.metadata.insert("x".repeat(41), "v".into());
            i
        },
        new_intent("", "p"),
        new_intent("key with spaces", "p"),
    ] {
        let error = h.adapter.create_intent(&bad).await.unwrap_err();
        assert!(matches!(error, ProviderError::InvalidInput(_)), "{error:?}");
    }
    for id in ["", "pi_1/../../v1/refunds", "pi_1?x=1", "pi é"] {
        let error = h.adapter.retrieve_intent(id).await.unwrap_err();
        assert!(
            matches!(error, ProviderError::InvalidInput(_)),
            "{id:?}: {error:?}"
        );
    }
    let missing = h.adapter.retrieve_intent("pi_nothing").await.unwrap_err();
    assert!(
        matches!(&missing, ProviderError::Rejected { status: 404, code: Some(c), .. } if c == "resource_missing"),
        "{missing:?}"
    );
    assert_eq!(h.provider.intent_count(), 0);

    // Config that cannot work is refused up front.
    assert!(StripeConfig::new("ftp://x", SECRET_KEY, WEBHOOK_SECRET).is_err());
    assert!(StripeConfig::new(&h.base_url, "", WEBHOOK_SECRET).is_err());
    assert!(StripeConfig::new(&h.base_url, "sk\nx", WEBHOOK_SECRET).is_err());
    assert!(StripeConfig::new(&h.base_url, SECRET_KEY, "").is_err());
}

#[actix_rt::test]
async fn the_mock_answers_malformed_requests_in_stripes_error_shape() {
    let h = Harness::start().await;
    let post = |body: &'static str, key: Option<&'static str>| {
        let mut request = h
            .client()
            .post(format!("{}/v1/payment_intents", h.base_url))
            .bearer_auth(SECRET_KEY)
            .content_type("application/x-www-form-urlencoded");
        if let Some(key) = key {
            request = request.insert_header(("Idempotency-Key", key));
        }
        request.send_body(body)
    };
    for (body, key) in [
        ("amount=abc&currency=eur", None),
        ("amount=0&currency=eur", None),
        ("amount=-5&currency=eur", None),
        ("amount=99999999999999999999&currency=eur", None),
        ("currency=eur", None),
        ("amount=100", None),
        ("amount=100&currency=EUR", None),
        ("amount=100&currency=eur&colour=red", None),
        (
            "amount=100&currency=eur&return_url=javascript:alert(1)",
            None,
        ),
        ("amount=100&currency=eur&metadata[]=x", None),
        ("amount=100&currency=eur", Some("")),
        ("%%%", None),
    ] {
        let mut response = post(body, key).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert!(error["error"]["message"].is_string(), "{body}: {error}");
    }
    let too_big = "a".repeat(boxoffice_provider::mock::MAX_REQUEST_BYTES + 1);
    let response = h
        .client()
        .post(format!("{}/v1/payment_intents", h.base_url))
        .bearer_auth(SECRET_KEY)
        .send_body(too_big)
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // No key at all: 401 before anything is read.
    let response = h
        .client()
        .post(format!("{}/v1/payment_intents", h.base_url))
        .send_body("amount=100&currency=eur")
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(h.provider.intent_count(), 0);
    // Unknown checkout pages are 404 HTML, whatever the id.
    for path in ["/checkout/pi_none", "/checkout/%3Cscript%3E"] {
        let response = h
            .client()
            .get(format!("{}{path}", h.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let response = h
        .client()
        .post(format!("{}/checkout/pi_none/pay", h.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    h.receiver.stays_at(0, Duration::from_millis(100)).await;
}

#[actix_rt::test]
async fn pay_redirects_to_the_return_url() {
    let h = Harness::start().await;
    let mut asked = new_intent("k", "p-1");
    asked.return_url = Some("http://shop.example/return?p=1".into());
    let intent = h.adapter.create_intent(&asked).await.unwrap();
    let response = h
        .client()
        .post(format!("{}/pay", h.adapter.checkout_url(&intent).unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers().get("location").unwrap(),
        "http://shop.example/return?p=1"
    );
    h.receiver.wait_for(1).await;
}

#[actix_rt::test]
async fn decline_links_back_to_the_return_url() {
    let h = Harness::start().await;
    let mut asked = new_intent("k", "p-1");
    asked.return_url = Some("http://shop.example/return?p=1&q=2".into());
    let intent = h.adapter.create_intent(&asked).await.unwrap();
    let mut response = h
        .client()
        .post(format!(
            "{}/decline",
            h.adapter.checkout_url(&intent).unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let page = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
    assert!(page.contains("Payment declined"), "{page}");
    // The URL is escaped into the attribute, never markup.
    assert!(
        page.contains("<a href=\"http://shop.example/return?p=1&amp;q=2\">Back to the shop</a>"),
        "{page}"
    );
    h.receiver.wait_for(1).await;
}

#[actix_rt::test]
async fn the_mock_refuses_intents_past_its_bound() {
    let h = Harness::with(|c| c.max_intents = 2).await;
    let first = h
        .adapter
        .create_intent(&new_intent("k1", "p-1"))
        .await
        .unwrap();
    h.adapter
        .create_intent(&new_intent("k2", "p-2"))
        .await
        .unwrap();
    let refused = h
        .adapter
        .create_intent(&new_intent("k3", "p-3"))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ProviderError::Unavailable(_)),
        "{refused:?}"
    );
    assert_eq!(h.provider.intent_count(), 2);
    // A retry of an intent it has is still answered.
    assert_eq!(
        h.adapter
            .create_intent(&new_intent("k1", "p-1"))
            .await
            .unwrap(),
        first
    );
}

#[actix_rt::test]
async fn the_mock_mounts_under_a_prefix_in_another_app() {
    use crate::support::{Receiver, TestClock};
    use actix_web::{web, App, HttpResponse, HttpServer};
    use boxoffice_provider::mock::{delivery, MockConfig, MockProvider};

    let clock = TestClock::new();
    let receiver = Receiver::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/provider", listener.local_addr().unwrap());
    let mut config = MockConfig::new(SECRET_KEY, WEBHOOK_SECRET, clock.injected(), 3);
    config.webhook_url = Some(receiver.url.clone());
    config.public_base_url = base_url.clone();
    config.sweep_interval_ms = 20;
    config.intent_timeout_ms = 1_000;
    let provider = MockProvider::new(config);
    delivery::spawn_sweeper(&provider);
    let shared = provider.clone();
    let server = HttpServer::new(move || {
        let shared = shared.clone();
        App::new()
            .route(
                "/other",
                web::post().to(|body: web::Bytes| async move {
                    HttpResponse::Ok().body(body.len().to_string())
                }),
            )
            .service(web::scope("/provider").configure(|cfg| MockProvider::configure(&shared, cfg)))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_rt::spawn(server);
    let adapter =
        StripeAdapter::new(StripeConfig::new(&base_url, SECRET_KEY, WEBHOOK_SECRET).unwrap())
            .unwrap();

    let intent = adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    let url = adapter.checkout_url(&intent).unwrap();
    assert_eq!(url, format!("{base_url}/checkout/{}", intent.id));
    let client = awc::Client::default();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(
        client
            .post(format!("{url}/pay"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    receiver.wait_for(1).await;
    // The host app's own routes still answer, with their own body limit.
    let big = "x".repeat(2 * boxoffice_provider::mock::MAX_REQUEST_BYTES);
    let response = client
        .post(format!("{}/other", base_url.trim_end_matches("/provider")))
        .send_body(big)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The sweeper started by hand cancels an abandoned intent.
    let open = adapter
        .create_intent(&new_intent("k2", "p-2"))
        .await
        .unwrap();
    clock.advance_ms(1_000);
    let hits = receiver.wait_for(2).await;
    assert!(matches!(
        hits[1].event(clock.now_s()).kind,
        EventKind::IntentCanceled(ref f) if f.intent_id == open.id
    ));
}
