//! A provider that misbehaves: answers that are not JSON, too large, too
//! slow, missing fields or carrying unsafe ids, server errors, a closed port.
//! Each is a typed error, never a panic or a hang.

use crate::support::{new_intent, SECRET_KEY, WEBHOOK_SECRET};
use actix_web::{web, App, HttpResponse, HttpServer};
use boxoffice_provider::stripe::MAX_RESPONSE_BYTES;
use boxoffice_provider::{NewRefund, PaymentProvider, ProviderError, StripeAdapter, StripeConfig};
use std::net::TcpListener;
use std::time::{Duration, Instant};

async fn hostile_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(|| {
        App::new()
            // Creating an intent answers HTML.
            .route(
                "/v1/payment_intents",
                web::post().to(|| async { HttpResponse::Ok().body("<html>hello</html>") }),
            )
            .route(
                "/v1/payment_intents/pi_huge",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(format!("\"{}\"", "x".repeat(4 * MAX_RESPONSE_BYTES)))
                }),
            )
            .route(
                "/v1/payment_intents/pi_slow",
                web::get().to(|| async {
                    actix_rt::time::sleep(Duration::from_secs(5)).await;
                    HttpResponse::Ok().finish()
                }),
            )
            .route(
                "/v1/payment_intents/pi_empty",
                web::get().to(|| async { HttpResponse::Ok().json(serde_json::json!({})) }),
            )
            .route(
                "/v1/payment_intents/pi_unsafe",
                web::get().to(|| async {
                    HttpResponse::Ok().json(serde_json::json!({
                        "id": "../../admin", "amount": 100, "currency": "eur", "status": "succeeded"
                    }))
                }),
            )
            .route(
                "/v1/payment_intents/pi_negative",
                web::get().to(|| async {
                    HttpResponse::Ok().json(serde_json::json!({
                        "id": "pi_negative", "amount": -100, "currency": "eur", "status": "succeeded"
                    }))
                }),
            )
            .route(
                "/v1/payment_intents/pi_types",
                web::get().to(|| async {
                    HttpResponse::Ok().json(serde_json::json!({
                        "id": "pi_types", "amount": "100", "currency": "eur", "status": "succeeded",
                        "metadata": {"paymentId": 7}
                    }))
                }),
            )
            .route(
                "/v1/payment_intents/pi_500",
                web::get().to(|| async {
                    HttpResponse::InternalServerError().body("<h1>oops</h1>")
                }),
            )
            .route(
                "/v1/payment_intents/pi_429",
                web::get().to(|| async { HttpResponse::TooManyRequests().finish() }),
            )
            .route(
                "/v1/payment_intents/pi_418",
                web::get().to(|| async { HttpResponse::build(actix_web::http::StatusCode::IM_A_TEAPOT).body("no") }),
            )
            // A refund "succeeds" with a garbled body.
            .route(
                "/v1/refunds",
                web::post().to(|| async {
                    HttpResponse::Ok().content_type("application/json").body("{\"id\": ")
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_rt::spawn(server);
    format!("http://{addr}")
}

fn adapter(base_url: &str, timeout_ms: u64) -> StripeAdapter {
    let mut config = StripeConfig::new(base_url, SECRET_KEY, WEBHOOK_SECRET).unwrap();
    config.call_timeout_ms = timeout_ms;
    StripeAdapter::new(config).unwrap()
}

#[actix_rt::test]
async fn hostile_answers_are_typed_errors() {
    let base = hostile_server().await;
    let adapter = adapter(&base, 500);

    let error = adapter
        .create_intent(&new_intent("k", "p"))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::BadAnswer(_)), "{error:?}");

    for id in [
        "pi_huge",
        "pi_empty",
        "pi_unsafe",
        "pi_negative",
        "pi_types",
    ] {
        let error = adapter.retrieve_intent(id).await.unwrap_err();
        assert!(
            matches!(error, ProviderError::BadAnswer(_)),
            "{id}: {error:?}"
        );
        assert!(!error.is_retryable());
    }
    for id in ["pi_500", "pi_429"] {
        let error = adapter.retrieve_intent(id).await.unwrap_err();
        assert!(
            matches!(error, ProviderError::Unavailable(_)),
            "{id}: {error:?}"
        );
        assert!(error.is_retryable());
    }
    let error = adapter.retrieve_intent("pi_418").await.unwrap_err();
    assert!(
        matches!(
            error,
            ProviderError::Rejected {
                status: 418,
                code: None,
                ..
            }
        ),
        "{error:?}"
    );
    // A route the server lacks: its 404 without Stripe's body is still a refusal.
    let error = adapter.cancel_intent("pi_x", "c").await.unwrap_err();
    assert!(
        matches!(error, ProviderError::Rejected { status: 404, .. }),
        "{error:?}"
    );

    let refund = NewRefund {
        intent_id: "pi_x".into(),
        idempotency_key: "r".into(),
        metadata: Default::default(),
    };
    let error = adapter.refund(&refund).await.unwrap_err();
    assert!(matches!(error, ProviderError::BadAnswer(_)), "{error:?}");
}

#[actix_rt::test]
async fn a_slow_provider_times_out_within_the_deadline() {
    let base = hostile_server().await;
    let adapter = adapter(&base, 300);
    let started = Instant::now();
    let error = adapter.retrieve_intent("pi_slow").await.unwrap_err();
    assert_eq!(error, ProviderError::Timeout);
    assert!(error.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[actix_rt::test]
async fn a_closed_port_is_unavailable() {
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", probe.local_addr().unwrap());
    drop(probe);
    let error = adapter(&base, 1_000)
        .create_intent(&new_intent("k", "p"))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
}
