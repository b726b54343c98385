//! Spawns the real application (the same `Application::build` the binary
//! uses) on a random port with a temporary data dir, a manual clock and a
//! seeded id source, and gives tests a small HTTP client around it.

use awc::http::{Method, StatusCode};
use boxoffice_actors::{Clock, IdSource, ManualClock, Registry, Role};
use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_http::auth::{JwtKeys, TokenKind};
use boxoffice_http::shutdown::ServerStop;
use boxoffice_http::{Application, Settings};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const JWT_SECRET: &str = "test-secret-0123456789abcdef";
/// The QR key of every test server (independent of the token secret).
pub const QR_KEY: &str = "test-qr-key-0123456789abcdef";
/// The password `register_and_login` gives its users: it meets the policy.
pub const USER_PASSWORD: &str = "violet-harbour-4711";
pub const ADMIN_EMAIL: &str = "admin@test.boxoffice";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct TestApp {
    pub base: String,
    pub clock: ManualClock,
    pub client: awc::Client,
    pub registry: Arc<Registry>,
    pub dir: tempfile::TempDir,
    /// What the server was started with (its data dir is `dir`): a restart
    /// starts the new server with the same.
    pub settings: Settings,
    handle: ServerStop,
    keys: JwtKeys,
    counter: AtomicU64,
    /// The seed of this server's id source. A restart seeds the next one with
    /// a different seed: the same seed would hand out the ids of the
    /// reservations, payments and tickets the data dir already holds.
    ids_seed: u64,
}

/// The first server's id seed (the next restart uses the next integer).
const FIRST_IDS_SEED: u64 = 7;

/// A response: status, JSON body (Null if none or not JSON), headers.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
    pub headers: awc::http::header::HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts status and (for errors) the error code, and the error shape.
    #[track_caller]
    pub fn expect(&self, status: u16, code: &str) -> &Self {
        self.expect_labelled("", status, code)
    }

    /// As [`Reply::expect`], with the case `what` of a table at the head of
    /// every failure message, so that a failing row names itself.
    #[track_caller]
    pub fn expect_case(&self, what: &str, status: u16, code: &str) -> &Self {
        self.expect_labelled(&format!("{what}: "), status, code)
    }

    #[track_caller]
    fn expect_labelled(&self, label: &str, status: u16, code: &str) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{label}unexpected status; body: {}",
            self.text
        );
        if status >= 400 {
            assert_eq!(
                self.code(),
                code,
                "{label}unexpected error code; body: {}",
                self.text
            );
            assert!(
                self.body["error"]["message"].is_string() && self.body["requestId"].is_string(),
                "{label}error shape: {}",
                self.text
            );
        }
        assert!(
            self.header("x-request-id").is_some(),
            "{label}every response carries X-Request-Id"
        );
        self
    }
}

/// The built-in test provider's secret key in tests (its switches need it).
pub const MOCK_SECRET_KEY: &str = "sk_test_boxoffice_tests";
/// The secret the built-in test provider signs its webhooks with in tests.
pub const MOCK_WEBHOOK_SECRET: &str = "whsec_boxoffice_tests";

/// Settings for a server that takes card payments through the built-in test
/// provider (`--payment-provider mock`), with the keys above.
pub fn with_mock_provider(settings: &mut Settings) {
    settings.payment_provider = boxoffice_http::card_provider::ProviderSettings::Mock {
        secret_key: MOCK_SECRET_KEY.into(),
        webhook_secret: MOCK_WEBHOOK_SECRET.into(),
    };
}

/// 2026-03-01T00:00:00Z: tests start here on a manual clock.
pub const START: Timestamp = Timestamp(1_772_323_200_000);

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = Settings::new(dir.path().to_path_buf());
    settings.bind = "127.0.0.1:0".parse().expect("addr");
    settings.jwt_secret = Some(JWT_SECRET.into());
    settings.qr_key = Some(QR_KEY.into());
    settings.admin = Some((ADMIN_EMAIL.into(), ADMIN_PASSWORD.into()));
    settings.workers = 2;
    // Tests hammer the keyed POSTs; the rate-limit tests turn limits on.
    settings.rate_limits = boxoffice_http::rate_limit::RateLimitSettings::off();
    adjust(&mut settings);
    start(settings, dir, ManualClock::new(START), FIRST_IDS_SEED, 0).await
}

/// Starts the application with `settings` on `dir` and `clock`, its ids
/// from `ids_seed` and [`TestApp::unique`] counting from `counter`.
async fn start(
    settings: Settings,
    dir: tempfile::TempDir,
    clock: ManualClock,
    ids_seed: u64,
    counter: u64,
) -> TestApp {
    let app = Application::build(
        settings.clone(),
        Arc::new(clock.clone()),
        Arc::new(IdSource::seeded(ids_seed)),
    )
    .await
    .expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let registry = Arc::clone(app.registry());
    let handle = app.handle();
    actix_rt::spawn(app.run_until_stopped());
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let keys = JwtKeys::new(
        JWT_SECRET.as_bytes(),
        settings.access_token_ttl.as_secs() as i64,
        settings.refresh_token_ttl.as_secs() as i64,
        Arc::new(IdSource::seeded(8)),
    );
    TestApp {
        base,
        clock,
        client,
        registry,
        dir,
        settings,
        handle,
        keys,
        counter: AtomicU64::new(counter),
        ids_seed,
    }
}

/// Longest a stopped server may take to let go of its engine (its actors
/// stop asynchronously after the HTTP server does).
pub const ENGINE_RELEASE_WAIT: Duration = Duration::from_secs(20);

/// Waits until `registry` is the last hold on a stopped server's engine, so
/// that a new server can open the same data dir.
pub async fn await_engine_release(registry: Arc<Registry>) {
    let deadline = std::time::Instant::now() + ENGINE_RELEASE_WAIT;
    while Arc::strong_count(&registry) > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stopped server kept its engine"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

impl TestApp {
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    /// Stops the server and starts a new one on the same data dir with the
    /// same settings (bound to a new port) and the clock where it stood, once
    /// the old one has let go of its engine.
    pub async fn restart(self) -> TestApp {
        self.restart_with(|_| {}).await
    }

    /// [`TestApp::restart`] with the settings changed by `adjust` first.
    pub async fn restart_with(self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        self.stop().await;
        let TestApp {
            dir,
            mut settings,
            registry,
            clock,
            counter,
            ids_seed,
            ..
        } = self;
        await_engine_release(registry).await;
        adjust(&mut settings);
        settings.data_dir = dir.path().to_path_buf();
        // The unique strings go on counting: a restarted server already
        // holds the accounts and keys made from the earlier ones.
        let counter = counter.into_inner();
        start(
            settings,
            dir,
            ManualClock::new(clock.now()),
            ids_seed + 1,
            counter,
        )
        .await
    }

    /// A fresh unique string (emails, idempotency keys).
    pub fn unique(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.counter.fetch_add(1, Ordering::Relaxed))
    }

    /// A valid access token for any user id and role, minted with the server's secret
    /// (cheap: no argon2), for tests that need many distinct users.
    pub fn token_for(&self, user: UserId, role: Role) -> String {
        self.keys
            .issue(user, role, TokenKind::Access, self.clock.now())
            .expect("token")
    }

    /// A real account of `role` and an access token for it, without argon2:
    /// created through the engine with a placeholder hash (it cannot log
    /// in). Endpoints that need a role check the account, not the token, so
    /// a token minted for an id without an account is refused there (401).
    pub async fn account_token(&self, role: Role) -> (UserId, String) {
        let email = format!("{}@test.boxoffice", self.unique("member"));
        let account = self
            .registry
            .ensure_account(email, "Member".into(), "no-password".into(), role)
            .await
            .expect("account");
        (account.user_id, self.token_for(account.user_id, role))
    }

    pub fn keys(&self) -> &JwtKeys {
        &self.keys
    }

    /// Sends a request with optional bearer token, extra headers and raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let sent = match body {
            Some((content_type, bytes)) => {
                let request = if content_type.is_empty() {
                    request
                } else {
                    request.insert_header(("Content-Type", content_type))
                };
                request.send_body(bytes).await
            }
            None => request.send().await,
        };
        let mut response = sent.expect("request sent");
        let bytes = response
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .expect("body read");
        let text = String::from_utf8_lossy(&bytes).to_string();
        Reply {
            status: response.status(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
            headers: response.headers().clone(),
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.raw(Method::GET, path, token, &[], None).await
    }

    pub async fn get_with(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.raw(Method::GET, path, token, headers, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.raw(
            Method::POST,
            path,
            token,
            &[],
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    pub async fn post_with(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Value,
    ) -> Reply {
        self.raw(
            Method::POST,
            path,
            token,
            headers,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.raw(
            Method::PUT,
            path,
            token,
            &[],
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    /// POST with a fresh Idempotency-Key.
    pub async fn post_keyed(&self, path: &str, token: &str, body: Value) -> Reply {
        let key = self.unique("key");
        self.post_with(path, Some(token), &[("Idempotency-Key", &key)], body)
            .await
    }

    /// Registers a user through the API and logs in; returns (userId, accessToken).
    pub async fn register_and_login(&self, name: &str) -> (String, String) {
        let email = format!("{}@test.boxoffice", self.unique(name));
        let password = USER_PASSWORD;
        self.post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": password, "name": name}),
        )
        .await
        .expect(201, "");
        let login = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        login.expect(200, "");
        (
            login.body["user"]["userId"]
                .as_str()
                .expect("userId")
                .to_string(),
            login.body["accessToken"]
                .as_str()
                .expect("token")
                .to_string(),
        )
    }

    pub async fn admin_token(&self) -> String {
        let login = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            )
            .await;
        login.expect(200, "");
        login.body["accessToken"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// A venue: sections VIP (2 rows × 5), R (2 × 10), S (3 × 10) = 60 seats.
    pub async fn create_venue(&self, admin: &str) -> String {
        let body = json!({
            "name": "Test Hall", "address": "1 Test Street",
            "sections": [
                {"sectionId": "VIP", "name": "VIP", "rows": [{"row": "1", "seats": 5}, {"row": "2", "seats": 5}]},
                {"sectionId": "R", "name": "R", "rows": [{"row": "1", "seats": 10}, {"row": "2", "seats": 10}]},
                {"sectionId": "S", "name": "S", "rows": [{"row": "1", "seats": 10}, {"row": "2", "seats": 10}, {"row": "3", "seats": 10}]},
            ]
        });
        let reply = self.post("/api/v1/venues", Some(admin), body).await;
        reply.expect(201, "");
        reply.body["venueId"].as_str().expect("venueId").to_string()
    }

    /// A concert with one schedule on a new venue; `queue` gates it. Returns (concertId, scheduleId).
    pub async fn create_concert(
        &self,
        admin: &str,
        queue: Option<Value>,
        hold_seconds: u32,
    ) -> (String, String) {
        let venue = self.create_venue(admin).await;
        let mut body = json!({
            "title": "Test Concert", "description": "A concert for tests", "category": "ROCK", "venueId": venue,
            "priceGrades": [
                {"grade": "VIP", "price": 150000, "sectionIds": ["VIP"]},
                {"grade": "R", "price": 100000, "sectionIds": ["R"]},
                {"grade": "S", "price": 50000, "sectionIds": ["S"]}
            ],
            "schedules": [{"startsAt": "2026-04-01T10:00:00Z", "endsAt": "2026-04-01T13:00:00Z", "bookingOpensAt": "2026-02-01T00:00:00Z", "bookingClosesAt": "2026-04-01T09:00:00Z"}],
            "maxSeatsPerUser": 4, "holdSeconds": hold_seconds
        });
        if let Some(queue) = queue {
            body["queue"] = queue;
        }
        let reply = self.post("/api/v1/concerts", Some(admin), body).await;
        reply.expect(201, "");
        (
            reply.body["concertId"]
                .as_str()
                .expect("concertId")
                .to_string(),
            reply.body["schedules"][0]["scheduleId"]
                .as_str()
                .expect("scheduleId")
                .to_string(),
        )
    }

    /// Holds `seats` of `schedule` for the token's user (a keyed POST that
    /// must answer 201) and returns the reservation id.
    pub async fn hold(&self, token: &str, schedule: &str, seats: &[&str]) -> String {
        let reply = self
            .post_keyed(
                "/api/v1/reservations",
                token,
                json!({"scheduleId": schedule, "seatIds": seats}),
            )
            .await;
        reply.expect(201, "");
        reply.body["reservationId"]
            .as_str()
            .expect("reservationId")
            .to_string()
    }

    pub async fn fund(&self, token: &str, amount: i64) {
        self.post_keyed("/api/v1/wallet/charges", token, json!({"amount": amount}))
            .await
            .expect(201, "");
    }
}
