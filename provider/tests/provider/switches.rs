//! Each test switch, set through `POST /mock/switches` (or at start).

use crate::support::{new_intent, Harness, SECRET_KEY};
use boxoffice_provider::mock::{Switches, WRONG_AMOUNT_DELTA_MINOR};
use boxoffice_provider::{EventKind, IntentStatus, PaymentProvider, ProviderError};
use serde_json::json;
use std::time::{Duration, Instant};

#[actix_rt::test]
async fn late_webhook_waits_before_the_first_attempt() {
    let h = Harness::start().await;
    h.switches(json!({"lateWebhookMs": 600})).await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    let clicked = Instant::now();
    assert_eq!(
        h.click(&h.adapter.checkout_url(&intent).unwrap(), "pay")
            .await,
        200
    );
    h.receiver.stays_at(0, Duration::from_millis(300)).await;
    let hits = h.receiver.wait_for(1).await;
    assert!(clicked.elapsed() >= Duration::from_millis(600));
    assert!(matches!(
        hits[0].event(h.clock.now_s()).kind,
        EventKind::IntentSucceeded(_)
    ));
}

#[actix_rt::test]
async fn duplicate_webhook_delivers_the_same_event_twice() {
    let h = Harness::start().await;
    h.switches(json!({"duplicateWebhook": true})).await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    assert_eq!(
        h.click(&h.adapter.checkout_url(&intent).unwrap(), "pay")
            .await,
        200
    );
    let hits = h.receiver.wait_for(2).await;
    let (first, second) = (
        hits[0].event(h.clock.now_s()),
        hits[1].event(h.clock.now_s()),
    );
    assert_eq!(first, second);
    assert_eq!(hits[0].body, hits[1].body);
    h.receiver.stays_at(2, Duration::from_millis(200)).await;
}

#[actix_rt::test]
async fn out_of_order_holds_a_success_until_after_the_next_event() {
    let h = Harness::with(|c| c.out_of_order_max_hold_ms = 60_000).await;
    h.switches(json!({"outOfOrder": true})).await;
    let paid = h
        .adapter
        .create_intent(&new_intent("k1", "p-1"))
        .await
        .unwrap();
    let declined = h
        .adapter
        .create_intent(&new_intent("k2", "p-2"))
        .await
        .unwrap();
    assert_eq!(
        h.click(&h.adapter.checkout_url(&paid).unwrap(), "pay")
            .await,
        200
    );
    // Held: nothing arrives until another event is sent.
    h.receiver.stays_at(0, Duration::from_millis(300)).await;
    // The success is already visible through the API, as with a late webhook.
    assert_eq!(
        h.adapter.retrieve_intent(&paid.id).await.unwrap().status,
        IntentStatus::Succeeded
    );
    assert_eq!(
        h.click(&h.adapter.checkout_url(&declined).unwrap(), "decline")
            .await,
        200
    );
    let hits = h.receiver.wait_for(2).await;
    let now = h.clock.now_s();
    assert!(
        matches!(hits[0].event(now).kind, EventKind::IntentPaymentFailed(ref f) if f.intent_id == declined.id)
    );
    assert!(
        matches!(hits[1].event(now).kind, EventKind::IntentSucceeded(ref f) if f.intent_id == paid.id)
    );
}

#[actix_rt::test]
async fn out_of_order_can_deliver_a_refund_before_its_success() {
    let h = Harness::with(|c| c.out_of_order_max_hold_ms = 60_000).await;
    h.switches(json!({"outOfOrder": true})).await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    assert_eq!(
        h.click(&h.adapter.checkout_url(&intent).unwrap(), "pay")
            .await,
        200
    );
    let refund = boxoffice_provider::NewRefund {
        intent_id: intent.id.clone(),
        idempotency_key: "r".into(),
        metadata: Default::default(),
    };
    h.adapter.refund(&refund).await.unwrap();
    let hits = h.receiver.wait_for(2).await;
    let now = h.clock.now_s();
    assert!(matches!(
        hits[0].event(now).kind,
        EventKind::ChargeRefunded(_)
    ));
    assert!(matches!(
        hits[1].event(now).kind,
        EventKind::IntentSucceeded(_)
    ));
}

#[actix_rt::test]
async fn a_held_success_is_released_after_the_longest_hold() {
    let h = Harness::with(|c| {
        c.out_of_order_max_hold_ms = 300;
        c.switches.out_of_order = true;
    })
    .await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    assert_eq!(
        h.click(&h.adapter.checkout_url(&intent).unwrap(), "pay")
            .await,
        200
    );
    h.receiver.stays_at(0, Duration::from_millis(100)).await;
    let hits = h.receiver.wait_for(1).await;
    assert!(matches!(
        hits[0].event(h.clock.now_s()).kind,
        EventKind::IntentSucceeded(_)
    ));
    h.receiver.stays_at(1, Duration::from_millis(200)).await;
}

#[actix_rt::test]
async fn wrong_amount_captures_and_reports_another_amount() {
    let h = Harness::start().await;
    h.switches(json!({"wrongAmount": true})).await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    assert_eq!(intent.amount_minor, 1_250);
    assert_eq!(
        h.click(&h.adapter.checkout_url(&intent).unwrap(), "pay")
            .await,
        200
    );
    let hits = h.receiver.wait_for(1).await;
    let EventKind::IntentSucceeded(facts) = hits[0].event(h.clock.now_s()).kind else {
        panic!("not a success")
    };
    assert_eq!(
        facts.amount_received_minor,
        1_250 + WRONG_AMOUNT_DELTA_MINOR
    );
    assert_ne!(facts.amount_received_minor, intent.amount_minor);
    let paid = h.adapter.retrieve_intent(&intent.id).await.unwrap();
    assert_eq!(paid.amount_received_minor, 1_250 + WRONG_AMOUNT_DELTA_MINOR);
    // The refund gives back what was captured.
    let refund = boxoffice_provider::NewRefund {
        intent_id: intent.id.clone(),
        idempotency_key: "r".into(),
        metadata: Default::default(),
    };
    assert_eq!(
        h.adapter.refund(&refund).await.unwrap().amount_minor,
        1_250 + WRONG_AMOUNT_DELTA_MINOR
    );
}

#[actix_rt::test]
async fn down_answers_503_to_the_api_and_the_adapter_says_unavailable() {
    let h = Harness::start().await;
    let intent = h
        .adapter
        .create_intent(&new_intent("k", "p-1"))
        .await
        .unwrap();
    h.switches(json!({"down": true})).await;
    for error in [
        h.adapter
            .create_intent(&new_intent("k2", "p-2"))
            .await
            .unwrap_err(),
        h.adapter.retrieve_intent(&intent.id).await.unwrap_err(),
        h.adapter.cancel_intent(&intent.id, "c").await.unwrap_err(),
    ] {
        assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
        assert!(error.is_retryable());
    }
    assert_eq!(h.provider.intent_count(), 1);
    // Back up: the retried create with the same key works, once.
    h.switches(json!({"down": false})).await;
    let created = h
        .adapter
        .create_intent(&new_intent("k2", "p-2"))
        .await
        .unwrap();
    assert_eq!(
        h.adapter
            .create_intent(&new_intent("k2", "p-2"))
            .await
            .unwrap(),
        created
    );
    assert_eq!(h.provider.intent_count(), 2);
}

#[actix_rt::test]
async fn the_switches_endpoint_needs_the_key_and_valid_switches() {
    let h = Harness::start().await;
    let url = format!("{}/mock/switches", h.base_url);
    let response = h.client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = h
        .client()
        .post(&url)
        .send_json(&json!({"down": true}))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    for body in [
        "not json",
        r#"{"down": "yes"}"#,
        r#"{"colour": true}"#,
        r#"{"lateWebhookMs": -1}"#,
        r#"{"lateWebhookMs": 600001}"#,
    ] {
        let response = h
            .client()
            .post(&url)
            .bearer_auth(SECRET_KEY)
            .content_type("application/json")
            .send_body(body)
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
    }
    assert_eq!(h.provider.switches(), Switches::default());
    // A partial update keeps the rest; GET shows all of them.
    h.switches(json!({"duplicateWebhook": true})).await;
    h.switches(json!({"lateWebhookMs": 5})).await;
    let mut response = h
        .client()
        .get(&url)
        .bearer_auth(SECRET_KEY)
        .send()
        .await
        .unwrap();
    let shown: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        shown,
        json!({"lateWebhookMs": 5, "duplicateWebhook": true, "outOfOrder": false,
               "wrongAmount": false, "down": false})
    );
}
