//! Webhook delivery and verification: retries until the receiver takes it,
//! and what `verify` refuses in a webhook that really came over HTTP.

use crate::support::{new_intent, Harness, Receiver, WEBHOOK_SECRET};
use boxoffice_provider::mock::delivery::MAX_WEBHOOK_ATTEMPTS;
use boxoffice_provider::signature::{verify, SignatureError, SIGNATURE_TOLERANCE_S};
use boxoffice_provider::PaymentProvider;
use std::time::Duration;

#[actix_rt::test]
async fn a_failed_delivery_is_retried_until_the_receiver_takes_it() {
    let h = Harness::start().await;
    h.receiver.fail_next(2);
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
    let hits = h.receiver.wait_for(3).await;
    // The same event each time (re-signed per attempt), and no fourth once taken.
    let now = h.clock.now_s();
    assert_eq!(hits[0].event(now), hits[2].event(now));
    assert_eq!(hits[0].body, hits[1].body);
    h.receiver.stays_at(3, Duration::from_millis(300)).await;
}

#[actix_rt::test]
async fn delivery_gives_up_after_the_last_attempt() {
    let h = Harness::with(|c| c.retry_initial_ms = 1).await;
    h.receiver.fail_next(usize::MAX);
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
    // 1 + 2 + … + 64 ms of delays between the attempts.
    h.receiver.wait_for(MAX_WEBHOOK_ATTEMPTS as usize).await;
    h.receiver
        .stays_at(MAX_WEBHOOK_ATTEMPTS as usize, Duration::from_millis(500))
        .await;
}

#[actix_rt::test]
async fn a_retry_reaches_a_receiver_that_was_down() {
    // The webhook's port is closed at first (a server being restarted).
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let h = Harness::with(|c| {
        c.webhook_url = Some(format!("http://{addr}/webhook"));
        c.retry_initial_ms = 200;
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
    // The first attempt is refused; the receiver comes up before the retries end.
    actix_rt::time::sleep(Duration::from_millis(100)).await;
    let restarted = Receiver::start_on(std::net::TcpListener::bind(addr).unwrap()).await;
    let hits = restarted.wait_for(1).await;
    assert!(matches!(
        hits[0].event(h.clock.now_s()).kind,
        boxoffice_provider::EventKind::IntentSucceeded(ref f) if f.intent_id == intent.id
    ));
    assert_eq!(h.receiver.count(), 0);
}

#[actix_rt::test]
async fn verify_refuses_a_tampered_stale_or_unsigned_webhook() {
    let h = Harness::start().await;
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
    let hit = h.receiver.wait_for(1).await.remove(0);
    let header = hit.signature.as_deref();
    let now = h.clock.now_s();
    assert_eq!(verify(header, &hit.body, WEBHOOK_SECRET, now), Ok(()));
    assert_eq!(
        verify(None, &hit.body, WEBHOOK_SECRET, now),
        Err(SignatureError::Missing)
    );
    assert_eq!(
        verify(header, &hit.body, "whsec_someone_else", now),
        Err(SignatureError::Mismatch)
    );
    let mut tampered = hit.body.to_vec();
    let at = tampered.iter().position(|b| *b == b'5').unwrap();
    tampered[at] = b'6';
    assert_eq!(
        verify(header, &tampered, WEBHOOK_SECRET, now),
        Err(SignatureError::Mismatch)
    );
    assert!(matches!(
        verify(
            header,
            &hit.body,
            WEBHOOK_SECRET,
            now + SIGNATURE_TOLERANCE_S + 1
        ),
        Err(SignatureError::Stale { .. })
    ));
    assert_eq!(
        verify(Some("t=1,v1=zz"), &hit.body, WEBHOOK_SECRET, now),
        Err(SignatureError::Malformed)
    );
    // The mock signs with its injected clock: a webhook sent after the clock
    // moved carries the new time.
    h.clock.advance_ms(3_600_000);
    let later = h
        .adapter
        .create_intent(&new_intent("k2", "p-2"))
        .await
        .unwrap();
    assert_eq!(
        h.click(&h.adapter.checkout_url(&later).unwrap(), "pay")
            .await,
        200
    );
    let hit = h.receiver.wait_for(2).await.remove(1);
    assert_eq!(
        verify(
            hit.signature.as_deref(),
            &hit.body,
            WEBHOOK_SECRET,
            h.clock.now_s()
        ),
        Ok(())
    );
    assert!(verify(hit.signature.as_deref(), &hit.body, WEBHOOK_SECRET, now).is_err());
}
