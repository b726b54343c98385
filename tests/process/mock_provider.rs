//! `boxoffice mock-provider`: the test payment provider as its own process
//! (what a kill loop runs beside the server it kills). It prints its address,
//! serves Stripe's wire format to the adapter, and sends a signed webhook
//! when its checkout page's "Pay" is clicked; a bad flag stops it at once.

use crate::binary::{exit_within, spawn_binary, MockProviderProcess, Subcommand};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use boxoffice_provider::signature::{verify, SIGNATURE_HEADER};
use boxoffice_provider::webhook_event::parse_event;
use boxoffice_provider::{
    EventKind, Metadata, NewIntent, PaymentProvider, StripeAdapter, StripeConfig,
};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SECRET_KEY: &str = "sk_test_process";
const WEBHOOK_SECRET: &str = "whsec_process";

/// Webhooks as received: the signature header and the raw body.
type Received = Arc<Mutex<Vec<(Option<String>, Bytes)>>>;

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[actix_rt::test]
async fn the_mock_provider_subcommand_serves_intents_and_signed_webhooks() {
    // The webhook receiver.
    let received: Received = Arc::default();
    let sink = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hook_url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let server = HttpServer::new(move || {
        let sink = sink.clone();
        App::new().route(
            "/hook",
            web::post().to(move |req: HttpRequest, body: Bytes| {
                let sink = sink.clone();
                async move {
                    let signature = req
                        .headers()
                        .get(SIGNATURE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    sink.lock().expect("sink").push((signature, body));
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    actix_rt::spawn(server);

    let provider = MockProviderProcess::start(&[
        "--webhook-url",
        &hook_url,
        "--secret-key",
        SECRET_KEY,
        "--webhook-secret",
        WEBHOOK_SECRET,
    ])
    .await;
    let base_url = provider.base.clone();

    let adapter = StripeAdapter::new(
        StripeConfig::new(&base_url, SECRET_KEY, WEBHOOK_SECRET).expect("config"),
    )
    .expect("adapter");
    let mut metadata = Metadata::new();
    metadata.insert("paymentId".into(), "p-process".into());
    let asked = NewIntent {
        amount_minor: 4_200,
        currency: "eur".into(),
        metadata,
        idempotency_key: "process-1".into(),
        return_url: None,
    };
    let intent = adapter.create_intent(&asked).await.expect("create");
    assert_eq!(adapter.create_intent(&asked).await.expect("again"), intent);
    let checkout = adapter.checkout_url(&intent).expect("checkout url");
    assert!(checkout.starts_with(&base_url), "{checkout}");
    let response = awc::Client::default()
        .post(format!("{checkout}/pay"))
        .send()
        .await
        .expect("pay");
    assert_eq!(response.status(), 200);

    let start = Instant::now();
    let (signature, body) = loop {
        if let Some(hit) = received.lock().expect("hits").first().cloned() {
            break hit;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no webhook");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    };
    verify(signature.as_deref(), &body, WEBHOOK_SECRET, now_s()).expect("signed");
    let event = parse_event(&body).expect("event");
    assert!(
        matches!(event.kind, EventKind::IntentSucceeded(ref f) if f.intent_id == intent.id && f.amount_received_minor == 4_200)
    );
    drop(provider);
}

#[test]
fn a_bad_flag_stops_the_mock_provider_at_once() {
    let mut child = spawn_binary(
        Subcommand::MockProvider,
        Path::new("."),
        &["--webhook-url", "ftp://nowhere", "--webhook-secret", "s"],
        &[],
        Stdio::null(),
        Stdio::piped(),
    );
    let status = exit_within(&mut child, Duration::from_secs(30)).expect("it exits");
    assert!(!status.success());
    let output = child.wait_with_output().expect("stderr");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--webhook-url"), "{stderr}");
}
