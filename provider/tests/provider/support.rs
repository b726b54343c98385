//! Set-up: a hand-moved clock, the mock on a free port with a
//! `StripeAdapter` pointed at it, and a webhook receiver that records what
//! arrives (and answers 500 to the first N deliveries when told to).

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use boxoffice_provider::mock::{self, MockConfig, MockProvider};
use boxoffice_provider::signature::{verify, SIGNATURE_HEADER};
use boxoffice_provider::webhook_event::parse_event;
use boxoffice_provider::{Metadata, NewIntent, ProviderEvent, StripeAdapter, StripeConfig};
use std::net::TcpListener;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SECRET_KEY: &str = "sk_test_provider_tests";
pub const WEBHOOK_SECRET: &str = "whsec_provider_tests";
/// 2026-12-07T00:00:00Z: the clock's start.
pub const START_MS: i64 = 1_796_601_600_000;
/// Longest a test waits for a webhook that must come.
pub const WAIT: Duration = Duration::from_secs(10);

/// A clock that moves only when told to; clones share it.
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub fn new() -> Self {
        TestClock(Arc::new(AtomicI64::new(START_MS)))
    }
    pub fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn now_s(&self) -> i64 {
        self.now_ms() / 1_000
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn injected(&self) -> boxoffice_provider::NowMs {
        let inner = self.0.clone();
        Arc::new(move || inner.load(Ordering::SeqCst))
    }
}

/// One webhook as the receiver got it.
#[derive(Clone, Debug)]
pub struct Hit {
    pub body: Bytes,
    pub signature: Option<String>,
}

impl Hit {
    /// Verifies the signature at `now_s` and parses the event; panics (the
    /// test fails) if either does not hold.
    pub fn event(&self, now_s: i64) -> ProviderEvent {
        verify(self.signature.as_deref(), &self.body, WEBHOOK_SECRET, now_s)
            .unwrap_or_else(|e| panic!("signature: {e}"));
        parse_event(&self.body).unwrap_or_else(|e| panic!("event: {e}"))
    }
}

/// A webhook endpoint in the test.
pub struct Receiver {
    pub url: String,
    /// Every request, including the ones answered 500.
    pub hits: Arc<Mutex<Vec<Hit>>>,
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap()).await
    }

    pub async fn start_on(listener: TcpListener) -> Receiver {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let fail_first = Arc::new(AtomicUsize::new(0));
        let addr = listener.local_addr().unwrap();
        let (h, f) = (hits.clone(), fail_first.clone());
        let server = HttpServer::new(move || {
            let (hits, fail_first) = (h.clone(), f.clone());
            App::new().route(
                "/webhook",
                web::post().to(move |req: HttpRequest, body: Bytes| {
                    let (hits, fail_first) = (hits.clone(), fail_first.clone());
                    async move {
                        let signature = req
                            .headers()
                            .get(SIGNATURE_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        hits.lock().unwrap().push(Hit { body, signature });
                        let fail = fail_first
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        if fail {
                            HttpResponse::InternalServerError().finish()
                        } else {
                            HttpResponse::Ok().json(serde_json::json!({"received": true}))
                        }
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_rt::spawn(server);
        Receiver {
            url: format!("http://{addr}/webhook"),
            hits,
            fail_first,
        }
    }

    /// The next `n` deliveries are answered 500.
    pub fn fail_next(&self, n: usize) {
        self.fail_first.store(n, Ordering::SeqCst);
    }

    pub fn count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    /// Waits until at least `n` requests arrived; panics after [`WAIT`].
    pub async fn wait_for(&self, n: usize) -> Vec<Hit> {
        let start = Instant::now();
        loop {
            let hits = self.hits.lock().unwrap().clone();
            if hits.len() >= n {
                return hits;
            }
            assert!(
                start.elapsed() < WAIT,
                "{} webhooks arrived, {n} expected",
                hits.len()
            );
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Asserts that no more than `n` requests arrive within `window`.
    pub async fn stays_at(&self, n: usize, window: Duration) {
        actix_rt::time::sleep(window).await;
        assert_eq!(self.count(), n, "unexpected webhooks");
    }
}

/// The mock on a free port, an adapter pointed at it, a receiver for its webhooks.
pub struct Harness {
    pub clock: TestClock,
    pub provider: Arc<MockProvider>,
    pub base_url: String,
    pub adapter: StripeAdapter,
    pub receiver: Receiver,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::with(|_| {}).await
    }

    /// With `tweak` applied to the mock's config (short delays are already set).
    pub async fn with(tweak: impl FnOnce(&mut MockConfig)) -> Harness {
        let clock = TestClock::new();
        let receiver = Receiver::start().await;
        let mut config = MockConfig::new(SECRET_KEY, WEBHOOK_SECRET, clock.injected(), 7);
        config.webhook_url = Some(receiver.url.clone());
        config.retry_initial_ms = 20;
        config.sweep_interval_ms = 20;
        tweak(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let running = mock::start(config, listener, 1).unwrap();
        actix_rt::spawn(running.server);
        let base_url = format!("http://{}", running.addr);
        let adapter =
            StripeAdapter::new(StripeConfig::new(&base_url, SECRET_KEY, WEBHOOK_SECRET).unwrap())
                .unwrap();
        Harness {
            clock,
            provider: running.provider,
            base_url,
            adapter,
            receiver,
        }
    }

    /// A client that shows redirects instead of following them.
    pub fn client(&self) -> awc::Client {
        awc::Client::builder().disable_redirects().finish()
    }

    /// Sets switches through the control endpoint.
    pub async fn switches(&self, update: serde_json::Value) {
        let response = self
            .client()
            .post(format!("{}/mock/switches", self.base_url))
            .bearer_auth(SECRET_KEY)
            .send_json(&update)
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "switches {update}");
    }

    /// `GET /v1/refunds?payment_intent=<id>`: the provider's list of the intent's refunds.
    pub async fn refunds_listed(&self, intent_id: &str) -> serde_json::Value {
        let mut response = self
            .client()
            .get(format!(
                "{}/v1/refunds?payment_intent={intent_id}",
                self.base_url
            ))
            .bearer_auth(SECRET_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "refunds of {intent_id}");
        response.json().await.unwrap()
    }

    /// Clicks "Pay" or "Decline" on the intent's checkout page; the status.
    pub async fn click(&self, checkout_url: &str, button: &str) -> u16 {
        self.client()
            .post(format!("{checkout_url}/{button}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// An intent to create: 1,250 minor units of EUR for payment `p`.
pub fn new_intent(key: &str, payment: &str) -> NewIntent {
    let mut metadata = Metadata::new();
    metadata.insert("paymentId".into(), payment.into());
    metadata.insert("reservationId".into(), format!("r-{payment}"));
    NewIntent {
        amount_minor: 1_250,
        currency: "eur".into(),
        metadata,
        idempotency_key: key.into(),
        return_url: None,
    }
}
