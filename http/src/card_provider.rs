//! Which payment provider card payments go through (`--payment-provider`),
//! and setting it up: a real account in Stripe's shape (`stripe`: its base
//! URL and keys), or the built-in test provider (`mock`), whose routes this
//! server mounts under [`MOCK_PREFIX`] and whose webhooks come back to this
//! server's own `/api/v1/webhooks/payments/mock`. Either way the server talks
//! to it through the same `StripeAdapter`, over HTTP.

use crate::client_ip::TrustedProxies;
use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{web, HttpRequest};
use boxoffice_actors::card_payments::{CardSettings, DEFAULT_CURRENCY, SWEEP_INTERVAL_MS};
use boxoffice_actors::{Clock, Registry};
use boxoffice_provider::mock::{self, MockConfig, MockProvider};
use boxoffice_provider::{PaymentProvider, StripeAdapter, StripeConfig};

/// Where the built-in test provider's routes are mounted (API, checkout page, switches).
pub const MOCK_PREFIX: &str = "/mock-provider";

/// `--payment-provider` with what each needs.
#[derive(Clone, Debug, Default)]
pub enum ProviderSettings {
    /// No card payments: `method: CARD` is 409 PAYMENT_METHOD_UNAVAILABLE.
    #[default]
    None,
    /// The built-in test provider, in this process; its keys (the binary
    /// draws them at random; tests set them to drive its switches).
    Mock {
        secret_key: String,
        webhook_secret: String,
    },
    /// A provider in Stripe's shape at a base URL.
    Stripe(StripeConfig),
}

impl ProviderSettings {
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ProviderSettings::None => Ok(()),
            ProviderSettings::Mock {
                secret_key,
                webhook_secret,
            } => {
                if secret_key.is_empty()
                    || webhook_secret.is_empty()
                    || !secret_key.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err("the mock provider's keys must be non-empty visible ASCII".into());
                }
                Ok(())
            }
            ProviderSettings::Stripe(config) => config.validate(),
        }
    }
}

/// The provider of a started server, and the mock's routes to mount if it is the mock.
pub struct StartedProvider {
    pub provider: Arc<dyn PaymentProvider>,
    pub settings: CardSettings,
    pub mock: Option<Arc<MockProvider>>,
}

/// The address the server is reached at from this host (an unspecified
/// bind address means loopback will do).
fn reachable(bind: SocketAddr, port: u16) -> String {
    let ip = bind.ip();
    let host = if ip.is_unspecified() {
        "127.0.0.1".to_string()
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("http://{host}:{port}")
}

/// Where the built-in provider's checkout URLs point when the server listens
/// on every address (`--bind 0.0.0.0`): a guess, loopback, since the server
/// cannot know the name it is reached by; [`as_reached`] answers them with
/// the caller's. `None` for any other bind (its address is the one to use).
pub fn guessed_origin(bind: SocketAddr, port: u16) -> Option<String> {
    bind.ip().is_unspecified().then(|| reachable(bind, port))
}

/// A checkout URL as the caller reaches this server: a URL of the built-in
/// provider under the guessed origin (see [`guessed_origin`]) gets the scheme
/// and host the request came in on ([`reached_origin`]); any other URL is
/// left as it is.
pub fn as_reached(
    guessed: Option<&String>,
    proxies: &TrustedProxies,
    req: &HttpRequest,
    url: String,
) -> String {
    let Some(rest) = guessed.and_then(|origin| url.strip_prefix(origin.as_str())) else {
        return url;
    };
    if !rest.starts_with(&format!("{MOCK_PREFIX}/")) {
        return url;
    }
    match reached_origin(proxies, req) {
        Some(origin) => format!("{origin}{rest}"),
        None => url,
    }
}

/// The origin (`scheme://host[:port]`) the request reached this server at:
/// the forwarding headers name it only from a `--trusted-proxy`; from anyone
/// else, the `Host` header over plain HTTP (what this server serves). `None`
/// unless it is a plain host[:port]: only that goes into a URL handed out
/// (the caller's own answer, or where the provider sends the caller back).
pub fn reached_origin(proxies: &TrustedProxies, req: &HttpRequest) -> Option<String> {
    let (scheme, host) = if proxies.from_trusted_proxy(req) {
        let info = req.connection_info();
        (info.scheme().to_owned(), info.host().to_owned())
    } else {
        let host = req
            .headers()
            .get(actix_web::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        ("http".to_owned(), host.to_owned())
    };
    let plain = |b: u8| b.is_ascii_alphanumeric() || b".-:[]".contains(&b);
    if host.is_empty() || !host.bytes().all(plain) || !matches!(scheme.as_str(), "http" | "https") {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

/// Builds the provider for a server bound at `bind` (on `port`); `None`
/// when card payments are off. Starts the mock's sweeper on this arbiter.
pub fn start(
    settings: &ProviderSettings,
    timeout_ms: i64,
    bind: SocketAddr,
    port: u16,
    clock: Arc<dyn Clock>,
    seed: u64,
) -> Result<Option<StartedProvider>, String> {
    let card = |name: &str, webhook_secret: &str| CardSettings {
        provider_name: name.to_string(),
        webhook_secret: webhook_secret.to_string(),
        timeout_ms,
        currency: DEFAULT_CURRENCY.to_string(),
        sweep_every_ms: Some(SWEEP_INTERVAL_MS),
    };
    match settings {
        ProviderSettings::None => Ok(None),
        ProviderSettings::Stripe(config) => Ok(Some(StartedProvider {
            provider: Arc::new(StripeAdapter::new(config.clone())?),
            settings: card("stripe", &config.webhook_secret),
            mock: None,
        })),
        ProviderSettings::Mock {
            secret_key,
            webhook_secret,
        } => {
            let base = reachable(bind, port);
            let now_ms = Arc::new(move || clock.now().0);
            let mut config =
                MockConfig::new(secret_key.clone(), webhook_secret.clone(), now_ms, seed);
            config.public_base_url = format!("{base}{MOCK_PREFIX}");
            config.webhook_url = Some(format!("{base}/api/v1/webhooks/payments/mock"));
            config.intent_timeout_ms = timeout_ms;
            let mock = MockProvider::new(config);
            mock::delivery::spawn_sweeper(&mock);
            let adapter = StripeAdapter::new(StripeConfig::new(
                format!("{base}{MOCK_PREFIX}"),
                secret_key.clone(),
                webhook_secret.clone(),
            )?)?;
            Ok(Some(StartedProvider {
                provider: Arc::new(adapter),
                settings: card("mock", webhook_secret),
                mock: Some(mock),
            }))
        }
    }
}

/// Attaches card payments to the engine (start-up reconciliation, sweeper).
pub async fn attach(registry: &Arc<Registry>, started: &StartedProvider) -> Result<(), String> {
    registry
        .attach_card_payments(Arc::clone(&started.provider), started.settings.clone())
        .await
        .map_err(|e| format!("card payments: {e}"))
}

/// Mounts the mock's routes under [`MOCK_PREFIX`], once it exists.
pub fn mount_mock(mock: Option<&Arc<MockProvider>>, cfg: &mut web::ServiceConfig) {
    if let Some(mock) = mock {
        let mock = Arc::clone(mock);
        cfg.service(web::scope(MOCK_PREFIX).configure(move |c| MockProvider::configure(&mock, c)));
    }
}
