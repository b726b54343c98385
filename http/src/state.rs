//! What every handler can reach: the engine, the token keys, the QR and
//! queue-token signers, the password hasher (and its permits), the clock,
//! the random source, the metrics, the rate limits and the search index.
//! Built once in `startup`.

use boxoffice_actors::{Clock, IdSource, Registry};
use boxoffice_engine::Timestamp;
use boxoffice_search::SearchIndex;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{Argon2Passwords, JwtKeys};
use crate::client_ip::TrustedProxies;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::queue_tokens::QueueTokenSigner;
use crate::rate_limit::RateLimits;
use crate::sse::StreamSlots;
use crate::tickets_qr::QrSigner;

pub struct AppState {
    pub registry: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    /// The injected random source (request ids, token ids).
    pub ids: Arc<IdSource>,
    pub jwt: JwtKeys,
    /// The one hasher of the process: its permits bound hashing process-wide.
    pub passwords: Argon2Passwords,
    pub qr: QrSigner,
    pub queue_tokens: QueueTokenSigner,
    pub metrics: Metrics,
    /// Per-user and per-address request limits (none when rate limits are off).
    pub rate_limits: RateLimits,
    /// Whose `X-Forwarded-For` names the client (`crate::client_ip`).
    pub trusted_proxies: TrustedProxies,
    pub request_timeout: Duration,
    /// The concert search's index (`routes::search`).
    pub search: SearchIndex,
    /// Open live-update streams, bounded (`crate::sse`).
    pub streams: StreamSlots,
    /// The mail (`crate::mail`); `None` when `--smtp-url` is unset.
    pub mail: Option<crate::mail::MailService>,
    /// Webhook endpoints (their dispatcher runs on its own thread).
    pub webhooks: Arc<boxoffice_actors::webhooks::Webhooks>,
    /// `--direct-wallet-charges`: false, only card top-ups are taken.
    pub direct_wallet_charges: bool,
    /// Announced when the server begins to stop: streams and long-polls end.
    pub shutdown: crate::shutdown::Shutdown,
    /// The built-in provider's guessed origin, set once bound with
    /// `--bind 0.0.0.0` (`card_provider::guessed_origin`).
    pub mock_origin: Arc<std::sync::OnceLock<String>>,
}

impl AppState {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Waits for an engine call, but never longer than the request timeout:
    /// past it the client gets 503 (the call itself may still complete, which
    /// is why keyed retries exist).
    pub async fn engine<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, boxoffice_actors::EngineError>>,
    ) -> ApiResult<T> {
        match tokio::time::timeout(self.request_timeout, call).await {
            Ok(outcome) => outcome.map_err(ApiError::from),
            Err(_) => Err(ApiError::unavailable("the engine did not answer in time")),
        }
    }
}
