//! The mock's webhooks: each event is POSTed to the webhook URL, signed
//! (`Stripe-Signature`, timestamp from the injected clock at each attempt),
//! and retried with doubling delays until a 2xx or [`MAX_WEBHOOK_ATTEMPTS`].
//! The switches act here: a late first attempt, a second delivery of the same
//! event, a success held back until after the next event.
//!
//! Deliveries run as local tasks on the actix runtime of whoever dispatched
//! them (the HTTP worker that took the click, or the sweeper's).

use super::{MockProvider, Outgoing};
use crate::signature::{sign, SIGNATURE_HEADER};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Attempts per delivery, the first included.
pub const MAX_WEBHOOK_ATTEMPTS: u32 = 8;
/// Default first retry delay; doubling, the eighth attempt comes about 2 minutes
/// after the first, long enough for a killed server to restart.
pub const DEFAULT_RETRY_INITIAL_MS: u64 = 1_000;
/// Longest retry delay, whatever the doubling says.
pub const MAX_RETRY_DELAY_MS: u64 = 60_000;
/// An attempt without a complete answer by then has failed.
pub const WEBHOOK_TIMEOUT_MS: u64 = 10_000;

/// Sends `events` as the switches say.
pub(crate) fn dispatch(provider: &Arc<MockProvider>, events: Vec<Outgoing>) {
    if events.is_empty() {
        return;
    }
    let switches = provider.switches();
    for event in events {
        if switches.out_of_order && event.kind == "payment_intent.succeeded" {
            hold(provider, event);
            continue;
        }
        let copies = if switches.duplicate_webhook { 2 } else { 1 };
        for _ in 0..copies {
            spawn_delivery(provider, event.clone(), switches.late_webhook_ms, true);
        }
    }
}

/// Holds a success back until the next event has had its first attempt, or
/// at most the configured hold.
fn hold(provider: &Arc<MockProvider>, event: Outgoing) {
    let ticket = {
        let mut state = provider.lock();
        let ticket = state.next_hold;
        state.next_hold += 1;
        state.held.push((ticket, event));
        ticket
    };
    let weak = Arc::downgrade(provider);
    let max_hold = Duration::from_millis(provider.config.out_of_order_max_hold_ms);
    actix_rt::spawn(async move {
        actix_rt::time::sleep(max_hold).await;
        if let Some(provider) = weak.upgrade() {
            let released = {
                let mut state = provider.lock();
                let at = state.held.iter().position(|(t, _)| *t == ticket);
                at.map(|at| state.held.remove(at).1)
            };
            if let Some(event) = released {
                send_released(&provider, event);
            }
        }
    });
}

fn release_held(provider: &Arc<MockProvider>) {
    let held = std::mem::take(&mut provider.lock().held);
    for (_, event) in held {
        send_released(provider, event);
    }
}

fn send_released(provider: &Arc<MockProvider>, event: Outgoing) {
    let switches = provider.switches();
    let copies = if switches.duplicate_webhook { 2 } else { 1 };
    for _ in 0..copies {
        // A released event does not release others: only a later event does.
        spawn_delivery(provider, event.clone(), 0, false);
    }
}

fn spawn_delivery(provider: &Arc<MockProvider>, event: Outgoing, delay_ms: u64, releases: bool) {
    let Some(url) = provider.config.webhook_url.clone() else {
        tracing::info!(event = %event.id, kind = event.kind, "mock provider: no webhook URL, event dropped");
        return;
    };
    let weak = Arc::downgrade(provider);
    actix_rt::spawn(async move {
        if delay_ms > 0 {
            actix_rt::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        deliver(weak, url, event, releases).await;
    });
}

async fn deliver(provider: Weak<MockProvider>, url: String, event: Outgoing, releases: bool) {
    let mut wait_ms = match provider.upgrade() {
        Some(p) => p.config.retry_initial_ms,
        None => return,
    };
    for attempt in 1..=MAX_WEBHOOK_ATTEMPTS {
        let Some(live) = provider.upgrade() else {
            return;
        };
        let secret = live.config.webhook_secret.clone();
        let now_s = live.now_ms().div_euclid(1_000);
        drop(live);
        let outcome = send_once(&url, &secret, now_s, &event).await;
        if attempt == 1 && releases {
            if let Some(live) = provider.upgrade() {
                release_held(&live);
            }
        }
        match outcome {
            Ok(()) => return,
            Err(reason) => tracing::info!(
                event = %event.id, kind = event.kind, attempt, %reason,
                "mock provider: webhook not delivered"
            ),
        }
        if attempt < MAX_WEBHOOK_ATTEMPTS {
            actix_rt::time::sleep(Duration::from_millis(wait_ms)).await;
            wait_ms = wait_ms.saturating_mul(2).min(MAX_RETRY_DELAY_MS);
        }
    }
    tracing::warn!(event = %event.id, kind = event.kind, "mock provider: webhook given up after {MAX_WEBHOOK_ATTEMPTS} attempts");
}

async fn send_once(url: &str, secret: &str, now_s: i64, event: &Outgoing) -> Result<(), String> {
    let timeout = Duration::from_millis(WEBHOOK_TIMEOUT_MS);
    let client = awc::Client::builder().timeout(timeout).finish();
    let exchange = async {
        let mut response = client
            .post(url)
            .insert_header(("Content-Type", "application/json"))
            .insert_header((SIGNATURE_HEADER, sign(secret, now_s, &event.body)))
            .insert_header(("User-Agent", "boxoffice-mock-provider"))
            .send_body(event.body.clone())
            .await
            .map_err(|e| e.to_string())?;
        // Read (a little of) the answer so the connection ends cleanly.
        let _ = response.body().limit(64 * 1024).await;
        Ok::<_, String>(response.status())
    };
    match actix_rt::time::timeout(timeout, exchange).await {
        Err(_) => Err("timed out".into()),
        Ok(Err(e)) => Err(e),
        Ok(Ok(status)) if status.is_success() => Ok(()),
        Ok(Ok(status)) => Err(format!("answered {status}")),
    }
}

/// Starts the task that cancels intents past the provider's timeout. Call
/// once, inside an actix system ([`super::start`] does); it ends when the
/// provider is dropped.
pub fn spawn_sweeper(provider: &Arc<MockProvider>) {
    let weak = Arc::downgrade(provider);
    let every = Duration::from_millis(provider.config.sweep_interval_ms.max(1));
    actix_rt::spawn(async move {
        loop {
            actix_rt::time::sleep(every).await;
            let Some(provider) = weak.upgrade() else {
                return;
            };
            let events = provider.expire_due();
            dispatch(&provider, events);
        }
    });
}
