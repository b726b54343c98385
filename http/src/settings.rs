//! Typed configuration of a Boxoffice server. The binary fills it from flags
//! and `BOXOFFICE_*` environment variables; tests build it directly.
//!
//! The three overload bounds (RELIABILITY.md, "Overload and slow clients")
//! nest: the kernel's accept queue (`backlog`) holds connections no worker has
//! taken yet; each worker holds at most `max_connections_per_worker` open
//! connections; and at most `max_in_flight_requests` requests, process-wide,
//! are let in at once (the rest are answered 503 at once, before any
//! JWT check or body read).

use crate::client_ip::TrustedProxies;
use crate::rate_limit::RateLimitSettings;
use crate::sse::StreamLimits;
use boxoffice_actors::webhooks::dispatcher::DispatchSettings;
use boxoffice_actors::EngineConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// Load the demo venue, concerts and accounts (once per data dir).
    pub demo: bool,
    /// HS256 secret of the tokens (at least 16 bytes); when `None`, the one in
    /// `<data>/keys/jwt.key`, generated on first start (see `crate::secrets`).
    pub jwt_secret: Option<String>,
    /// The key that signs ticket QR codes (at least 16 bytes), independent of
    /// the token secret; when `None`, the one in `<data>/keys/qr.key`.
    pub qr_key: Option<String>,
    /// Make sure this account exists with role ADMIN at start-up; its
    /// password must meet the password policy (checked by [`Settings::validate`]).
    pub admin: Option<(String, String)>,
    /// Password hashes and verifications (argon2, about 19 MiB and tens of
    /// milliseconds each) running at once, process-wide. A register or login
    /// that gets no permit within `crate::auth::HASH_PERMIT_WAIT` is answered
    /// 503 UNAVAILABLE with `Retry-After`.
    pub password_hashing_permits: usize,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// Longest a request may wait for the engine before it is answered 503.
    pub request_timeout: Duration,
    /// HTTP worker threads (actix-web); the engine's arbiters are separate.
    pub workers: usize,
    /// Open connections one HTTP worker keeps; past it the worker stops
    /// accepting and new connections wait in the kernel's accept queue.
    pub max_connections_per_worker: usize,
    /// Length of the kernel's accept queue (`listen(2)` backlog; Linux caps it
    /// at `net.core.somaxconn`). Past it, new connection attempts are dropped
    /// and clients retry their SYN.
    pub backlog: u32,
    /// Requests let in at once, process-wide (load shedding); the next one is answered
    /// 503 UNAVAILABLE with `Retry-After` before anything else is done for it.
    /// Ops endpoints (`/healthz`, `/readyz`, `/metrics`) are never refused.
    pub max_in_flight_requests: usize,
    /// sled's page cache, in MiB: the store's memory grows up to about this.
    pub store_cache_mb: u64,
    /// The route groups' limits, per user or address (`crate::rate_limit`);
    /// on by default, off with `BOXOFFICE_RATE_LIMITS=off`.
    pub rate_limits: RateLimitSettings,
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`);
    /// none by default, so the header is ignored (`crate::client_ip`).
    pub trusted_proxies: TrustedProxies,
    /// Origins whose pages may call the API (`--cors-origin`); none by
    /// default, so CORS is off (`crate::cors`).
    pub cors_origins: Vec<String>,
    /// Bounds on open live-update streams, in all and per schedule
    /// (`crate::sse`); no flag sets them, tests lower them.
    pub stream_limits: StreamLimits,
    /// `--smtp-url` and `--mail-from` (`crate::mail`); mail is off when `None`.
    pub mail: Option<crate::mail::MailSettings>,
    /// `--payment-provider` and its keys (`crate::card_provider`); none by default.
    pub payment_provider: crate::card_provider::ProviderSettings,
    /// A card payment still pending this long fails (the provider's timeout).
    pub card_timeout_ms: i64,
    /// `--direct-wallet-charges`: off, a top-up without `method: CARD` is 403.
    pub direct_wallet_charges: bool,
    /// The webhook dispatcher's retry base and retention pass interval; no
    /// flag sets them, tests shorten them.
    pub webhook_dispatch: DispatchSettings,
    /// `--pages-dir`: serve the web pages' files from this directory instead
    /// of the binary's embedded copies (`crate::pages`); for page editing.
    pub pages_dir: Option<PathBuf>,
    pub engine: EngineConfig,
}

/// Default of [`Settings::max_connections_per_worker`]: actix-web's own
/// default is 25,000, which leaves memory bounded by little else (finding F5).
/// 2,048 per worker (4,096 with the default two workers) is four times the
/// in-flight limit, so keep-alive clients that are between requests do not
/// crowd out active ones.
pub const DEFAULT_MAX_CONNECTIONS_PER_WORKER: usize = 2_048;
/// Accepted range of [`Settings::max_connections_per_worker`].
pub const MAX_CONNECTIONS_PER_WORKER_RANGE: std::ops::RangeInclusive<usize> = 16..=100_000;
/// Default of [`Settings::backlog`]: half of Linux's default `somaxconn`
/// (4,096); a few hundred milliseconds of arrivals at the measured capacity.
pub const DEFAULT_BACKLOG: u32 = 2_048;
/// Accepted range of [`Settings::backlog`].
pub const BACKLOG_RANGE: std::ops::RangeInclusive<u32> = 16..=65_535;
/// Default of [`Settings::max_in_flight_requests`]. Normal load is far below
/// it: by Little's law, in-flight = throughput x latency, and at the measured
/// release capacity (about 9,000 requests/s over HTTP on 2 cores) with
/// latencies of a few milliseconds that is tens of requests; a closed-loop
/// client with 1,000 connections has at most 1,000 in flight. Past it, the
/// extra requests would only wait: at that capacity 1,024 in flight already
/// means a queue of about 0.1 s (about 1.5 s in a debug build).
pub const DEFAULT_MAX_IN_FLIGHT_REQUESTS: usize = 1_024;
/// Accepted range of [`Settings::max_in_flight_requests`].
pub const MAX_IN_FLIGHT_REQUESTS_RANGE: std::ops::RangeInclusive<usize> = 1..=1_000_000;

/// Default of [`Settings::password_hashing_permits`]: the core count (argon2
/// is CPU-bound, so more at once only adds memory and latency).
pub fn default_password_hashing_permits() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}
/// Accepted range of [`Settings::password_hashing_permits`]: at 19 MiB each,
/// 64 bound argon2's memory to about 1.2 GiB.
pub const PASSWORD_HASHING_PERMITS_RANGE: std::ops::RangeInclusive<usize> = 1..=64;

/// Default of [`Settings::store_cache_mb`] (see `SledStore::open_with_cache`).
pub const DEFAULT_STORE_CACHE_MB: u64 = boxoffice_storage::sled_store::DEFAULT_CACHE_BYTES >> 20;

impl Settings {
    /// Defaults for a data dir: loopback, no demo, generated secret.
    pub fn new(data_dir: PathBuf) -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            demo: false,
            jwt_secret: None,
            qr_key: None,
            admin: None,
            password_hashing_permits: default_password_hashing_permits(),
            access_token_ttl: Duration::from_secs(3_600),
            refresh_token_ttl: Duration::from_secs(14 * 24 * 3_600),
            request_timeout: Duration::from_secs(10),
            workers: 2,
            max_connections_per_worker: DEFAULT_MAX_CONNECTIONS_PER_WORKER,
            backlog: DEFAULT_BACKLOG,
            max_in_flight_requests: DEFAULT_MAX_IN_FLIGHT_REQUESTS,
            store_cache_mb: DEFAULT_STORE_CACHE_MB,
            rate_limits: RateLimitSettings::default(),
            trusted_proxies: TrustedProxies::default(),
            cors_origins: Vec::new(),
            stream_limits: StreamLimits::default(),
            mail: None,
            payment_provider: crate::card_provider::ProviderSettings::None,
            card_timeout_ms: boxoffice_actors::card_payments::DEFAULT_PROVIDER_TIMEOUT_MS,
            direct_wallet_charges: true,
            webhook_dispatch: DispatchSettings::default(),
            pages_dir: None,
            engine: EngineConfig::default(),
        }
    }

    /// Checks the HTTP bounds are within their documented ranges (the engine's
    /// own settings are checked by [`EngineConfig::validate`]).
    pub fn validate(&self) -> Result<(), String> {
        if !MAX_CONNECTIONS_PER_WORKER_RANGE.contains(&self.max_connections_per_worker) {
            return Err(format!(
                "max connections per worker must be in {MAX_CONNECTIONS_PER_WORKER_RANGE:?}, got {}",
                self.max_connections_per_worker
            ));
        }
        if !BACKLOG_RANGE.contains(&self.backlog) {
            return Err(format!(
                "backlog must be in {BACKLOG_RANGE:?}, got {}",
                self.backlog
            ));
        }
        if !MAX_IN_FLIGHT_REQUESTS_RANGE.contains(&self.max_in_flight_requests) {
            return Err(format!(
                "max in-flight requests must be in {MAX_IN_FLIGHT_REQUESTS_RANGE:?}, got {}",
                self.max_in_flight_requests
            ));
        }
        if !PASSWORD_HASHING_PERMITS_RANGE.contains(&self.password_hashing_permits) {
            return Err(format!(
                "password hashing permits must be in {PASSWORD_HASHING_PERMITS_RANGE:?}, got {}",
                self.password_hashing_permits
            ));
        }
        if let Some((_, password)) = &self.admin {
            // The same policy as every new password (API.md): refusing to
            // start beats running with a guessable ADMIN.
            boxoffice_actors::accounts::check_new_password(password).map_err(|e| {
                let why = match e {
                    boxoffice_actors::EngineError::Validation(why) => why,
                    other => other.to_string(),
                };
                format!("BOXOFFICE_ADMIN_PASSWORD (--admin-password) is refused: {why}")
            })?;
        }
        self.rate_limits.validate()?;
        for origin in &self.cors_origins {
            crate::cors::validate_origin(origin)?;
        }
        if let Some(mail) = &self.mail {
            mail.validate()?;
        }
        self.payment_provider.validate()?;
        if self.card_timeout_ms <= 0 {
            return Err("the card payment timeout must be positive".into());
        }
        let cache_bytes = self.store_cache_mb.saturating_mul(1 << 20);
        if !boxoffice_storage::sled_store::CACHE_BYTES_RANGE.contains(&cache_bytes) {
            return Err(format!(
                "store cache must be 8-65,536 MiB, got {}",
                self.store_cache_mb
            ));
        }
        self.engine.validate()
    }
}
