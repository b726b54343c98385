//! `boxoffice serve`: the HTTP server on an embedded data dir. Every flag can
//! also be set by a `BOXOFFICE_*` environment variable.
//!
//! The process's umask is 077 before anything is created, so every file and
//! directory the store makes is private (0600 and 0700); the data dir and
//! what an older version left there are tightened by `boxoffice_http::secrets`.

use boxoffice_actors::{EngineConfig, IdSource, SystemClock};
use boxoffice_http::card_provider::ProviderSettings;
use boxoffice_http::client_ip::TrustedProxies;
use boxoffice_http::rate_limit::{self, RateLimitSettings};
use boxoffice_http::{Application, Settings};
use boxoffice_provider::StripeConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, HOST:PORT; the host may be a name (localhost) or an IP. Port 0 picks a free port (the chosen one is printed).
    #[arg(long, env = "BOXOFFICE_BIND", default_value = "127.0.0.1:8080", value_parser = parse_bind)]
    bind: SocketAddr,
    /// Where the embedded store keeps its files.
    #[arg(long, env = "BOXOFFICE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Load the demo venue, concerts and accounts (once per data dir) and print the credentials.
    #[arg(long, env = "BOXOFFICE_DEMO")]
    demo: bool,
    /// HS256 secret for tokens (at least 16 bytes); when unset, <data-dir>/keys/jwt.key (generated on first start).
    #[arg(long, env = "BOXOFFICE_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Key that signs ticket QR codes (at least 16 bytes), independent of the token secret; when unset, <data-dir>/keys/qr.key.
    #[arg(long, env = "BOXOFFICE_QR_KEY", hide_env_values = true)]
    qr_key: Option<String>,
    /// Make sure this account exists with role ADMIN (needs --admin-password).
    #[arg(long, env = "BOXOFFICE_ADMIN_EMAIL", requires = "admin_password")]
    admin_email: Option<String>,
    /// Password of the --admin-email account, set when the account is created (at least 12 characters, not a common password; a wrong one stops the start).
    #[arg(
        long,
        env = "BOXOFFICE_ADMIN_PASSWORD",
        hide_env_values = true,
        requires = "admin_email"
    )]
    admin_password: Option<String>,
    /// Access token lifetime.
    #[arg(long, env = "BOXOFFICE_ACCESS_TOKEN_TTL_SECS", default_value_t = 3_600)]
    access_token_ttl_secs: u64,
    /// Refresh token lifetime.
    #[arg(long, env = "BOXOFFICE_REFRESH_TOKEN_TTL_SECS", default_value_t = 14 * 24 * 3_600)]
    refresh_token_ttl_secs: u64,
    /// Longest a request waits for the engine before it is answered 503.
    #[arg(long, env = "BOXOFFICE_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    request_timeout_ms: u64,
    /// HTTP worker threads.
    #[arg(long, env = "BOXOFFICE_WORKERS", default_value_t = 2)]
    workers: usize,
    /// Open connections per HTTP worker; past it new connections wait in the accept queue (16-100,000).
    #[arg(long, env = "BOXOFFICE_MAX_CONNECTIONS_PER_WORKER", default_value_t = boxoffice_http::settings::DEFAULT_MAX_CONNECTIONS_PER_WORKER)]
    max_connections_per_worker: usize,
    /// Length of the kernel's accept queue (listen backlog; Linux caps it at net.core.somaxconn) (16-65,535).
    #[arg(long, env = "BOXOFFICE_BACKLOG", default_value_t = boxoffice_http::settings::DEFAULT_BACKLOG)]
    backlog: u32,
    /// Requests in flight in the whole process before the API answers 503 at once, before any parsing (1-1,000,000; ops endpoints exempt).
    #[arg(long, env = "BOXOFFICE_MAX_IN_FLIGHT_REQUESTS", default_value_t = boxoffice_http::settings::DEFAULT_MAX_IN_FLIGHT_REQUESTS)]
    max_in_flight_requests: usize,
    /// sled's page cache in MiB; the store's memory grows up to about this (8-65,536).
    #[arg(long, env = "BOXOFFICE_STORE_CACHE_MB", default_value_t = boxoffice_http::settings::DEFAULT_STORE_CACHE_MB)]
    store_cache_mb: u64,
    /// Password hashes running at once; a register or login that waits longer than a second for one is answered 503 (1-64; default: the core count).
    #[arg(long, env = "BOXOFFICE_PASSWORD_HASHING_PERMITS", default_value_t = boxoffice_http::settings::default_password_hashing_permits())]
    password_hashing_permits: usize,
    /// Requests in flight per actor before the API answers 503 (at least 1,024).
    #[arg(long, env = "BOXOFFICE_IN_FLIGHT_PER_ACTOR", default_value_t = 4_096)]
    in_flight_per_actor: usize,
    /// Engine arbiter threads.
    #[arg(long, env = "BOXOFFICE_ARBITERS", default_value_t = 2)]
    arbiters: usize,
    /// Rate limits per route group, per user or (anonymous) per address: `off` turns every rate limit off (benchmarks and black-box suites).
    #[arg(long, env = "BOXOFFICE_RATE_LIMITS", value_enum, default_value_t = Switch::On)]
    rate_limits: Switch,
    /// POST /reservations per user per minute (1-1,000,000).
    #[arg(long, env = "BOXOFFICE_RESERVATIONS_PER_MINUTE", default_value_t = rate_limit::DEFAULT_RESERVATIONS_PER_MINUTE)]
    reservations_per_minute: u32,
    /// POST /payments per user per minute (1-1,000,000).
    #[arg(long, env = "BOXOFFICE_PAYMENTS_PER_MINUTE", default_value_t = rate_limit::DEFAULT_PAYMENTS_PER_MINUTE)]
    payments_per_minute: u32,
    /// POST /wallet/charges per user per minute (1-1,000,000).
    #[arg(long, env = "BOXOFFICE_CHARGES_PER_MINUTE", default_value_t = rate_limit::DEFAULT_CHARGES_PER_MINUTE)]
    charges_per_minute: u32,
    /// POST /auth/login per address per minute (1-1,000,000).
    #[arg(long, env = "BOXOFFICE_LOGINS_PER_MINUTE", default_value_t = rate_limit::DEFAULT_LOGIN_PER_MINUTE)]
    logins_per_minute: u32,
    /// POST /auth/register per address per minute (1-1,000,000).
    #[arg(long, env = "BOXOFFICE_REGISTRATIONS_PER_MINUTE", default_value_t = rate_limit::DEFAULT_REGISTER_PER_MINUTE)]
    registrations_per_minute: u32,
    /// Catalogue and search GETs (venues, concerts, schedules, seat maps, search) per user or address per minute (1-1,000,000).
    #[arg(long, env = "BOXOFFICE_CATALOGUE_PER_MINUTE", default_value_t = rate_limit::DEFAULT_CATALOGUE_PER_MINUTE)]
    catalogue_per_minute: u32,
    /// A reverse proxy (address or CIDR network) whose X-Forwarded-For names the client; repeatable (env: comma-separated). Without one the header is ignored.
    #[arg(long = "trusted-proxy", env = "BOXOFFICE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_trusted_proxy)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// An origin (scheme://host[:port]) whose pages may call the API (CORS); repeatable (env: comma-separated). Off when none.
    #[arg(
        long = "cors-origin",
        env = "BOXOFFICE_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Serve the web pages' files from this directory (the repository's http/assets) instead of the copies built into the binary, so page edits show without a rebuild.
    #[arg(long, env = "BOXOFFICE_PAGES_DIR")]
    pages_dir: Option<PathBuf>,
    /// The SMTP server mail goes through: smtp://host:port (plain), smtp://host:port?tls=required (STARTTLS), smtps://host:port (TLS); user:password@ before the host to log in. With --mail-from; mail is off when unset.
    #[arg(long, env = "BOXOFFICE_SMTP_URL")]
    smtp_url: Option<String>,
    /// The sender of the server's mail, e.g. "Box Office <tickets@example.com>".
    #[arg(long, env = "BOXOFFICE_MAIL_FROM")]
    mail_from: Option<String>,
    /// New Idempotency-Keys one user may store per UTC day; past it such a request is 429 until the next day (0: no quota; not affected by --rate-limits).
    #[arg(long, env = "BOXOFFICE_MAX_NEW_IDEMPOTENCY_KEYS_PER_DAY", default_value_t = boxoffice_actors::idempotency::DEFAULT_MAX_NEW_KEYS_PER_DAY)]
    max_new_idempotency_keys_per_day: u32,
    /// Card payments: through the built-in test provider (`mock`, the default with --demo), a provider in Stripe's shape (`stripe`: --provider-base-url and keys), or none (`method: CARD` is 409 PAYMENT_METHOD_UNAVAILABLE).
    #[arg(long, env = "BOXOFFICE_PAYMENT_PROVIDER", value_enum)]
    payment_provider: Option<ProviderKind>,
    /// The provider's API base URL (stripe), e.g. https://api.stripe.com.
    #[arg(long, env = "BOXOFFICE_PROVIDER_BASE_URL")]
    provider_base_url: Option<String>,
    /// The provider's secret API key (stripe).
    #[arg(long, env = "BOXOFFICE_PROVIDER_SECRET_KEY", hide_env_values = true)]
    provider_secret_key: Option<String>,
    /// The secret the provider signs its webhooks with (stripe).
    #[arg(
        long,
        env = "BOXOFFICE_PROVIDER_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    provider_webhook_secret: Option<String>,
    /// A card payment still pending this long fails and its hold resumes (the provider's timeout).
    #[arg(long, env = "BOXOFFICE_CARD_TIMEOUT_MS", default_value_t = boxoffice_actors::card_payments::DEFAULT_PROVIDER_TIMEOUT_MS)]
    card_timeout_ms: i64,
    /// `off`: POST /wallet/charges without `method: CARD` is 403 FORBIDDEN (no free top-ups).
    #[arg(long, env = "BOXOFFICE_DIRECT_WALLET_CHARGES", value_enum, default_value_t = Switch::On)]
    direct_wallet_charges: Switch,
    /// Wallet charges one user may make per UTC day; past it a charge is 422 CHARGE_LIMIT_EXCEEDED.
    #[arg(long, env = "BOXOFFICE_MAX_CHARGES_PER_DAY", default_value_t = boxoffice_engine::wallet::DEFAULT_MAX_CHARGES_PER_DAY)]
    max_charges_per_day: u32,
}

/// `--payment-provider`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderKind {
    Mock,
    Stripe,
    None,
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// `--bind`: `HOST:PORT`, the host a name (`localhost`) or an IP address. A
/// name is resolved once, at start-up; of its addresses the first IPv4 one is
/// taken (what `localhost` means to most clients), else the first.
fn parse_bind(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("{text:?} is not HOST:PORT with a host that resolves ({e})"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

fn parse_trusted_proxy(value: &str) -> Result<ipnet::IpNet, String> {
    TrustedProxies::parse(value)
}

impl ServeArgs {
    /// `--payment-provider` and its keys; `--demo` means the mock unless told otherwise.
    fn provider_settings(&self) -> Result<ProviderSettings, String> {
        let kind = match (self.payment_provider, self.demo) {
            (Some(kind), _) => kind,
            (None, true) => ProviderKind::Mock,
            (None, false) => ProviderKind::None,
        };
        match kind {
            ProviderKind::None => Ok(ProviderSettings::None),
            // Keys of its own, drawn at random: it lives and dies with this process.
            ProviderKind::Mock => {
                let ids = IdSource::from_os();
                let key =
                    |prefix: &str| format!("{prefix}{:032x}", u128::from_le_bytes(ids.bytes()));
                Ok(ProviderSettings::Mock {
                    secret_key: key("sk_test_"),
                    webhook_secret: key("whsec_"),
                })
            }
            ProviderKind::Stripe => {
                let (Some(url), Some(secret), Some(webhook)) = (
                    self.provider_base_url.clone(),
                    self.provider_secret_key.clone(),
                    self.provider_webhook_secret.clone(),
                ) else {
                    return Err("--payment-provider stripe needs --provider-base-url, --provider-secret-key and --provider-webhook-secret".into());
                };
                Ok(ProviderSettings::Stripe(StripeConfig::new(
                    url, secret, webhook,
                )?))
            }
        }
    }

    fn settings(self) -> Result<Settings, String> {
        let provider = self.provider_settings()?;
        let mut settings = Settings::new(self.data_dir);
        settings.bind = self.bind;
        settings.demo = self.demo;
        settings.jwt_secret = self.jwt_secret;
        settings.qr_key = self.qr_key;
        settings.password_hashing_permits = self.password_hashing_permits;
        settings.admin = match (self.admin_email, self.admin_password) {
            (Some(email), Some(password)) => Some((email, password)),
            (None, None) => None,
            _ => {
                return Err("BOXOFFICE_ADMIN_EMAIL and BOXOFFICE_ADMIN_PASSWORD go together".into())
            }
        };
        settings.access_token_ttl = Duration::from_secs(self.access_token_ttl_secs);
        settings.refresh_token_ttl = Duration::from_secs(self.refresh_token_ttl_secs);
        settings.request_timeout = Duration::from_millis(self.request_timeout_ms);
        settings.workers = self.workers.clamp(1, 64);
        settings.max_connections_per_worker = self.max_connections_per_worker;
        settings.backlog = self.backlog;
        settings.max_in_flight_requests = self.max_in_flight_requests;
        settings.store_cache_mb = self.store_cache_mb;
        settings.rate_limits = RateLimitSettings {
            enabled: self.rate_limits == Switch::On,
            reservations_per_minute: self.reservations_per_minute,
            payments_per_minute: self.payments_per_minute,
            charges_per_minute: self.charges_per_minute,
            login_per_minute: self.logins_per_minute,
            register_per_minute: self.registrations_per_minute,
            catalogue_per_minute: self.catalogue_per_minute,
        };
        settings.trusted_proxies = TrustedProxies::new(self.trusted_proxies);
        settings.payment_provider = provider;
        settings.card_timeout_ms = self.card_timeout_ms;
        settings.direct_wallet_charges = self.direct_wallet_charges == Switch::On;
        settings.mail =
            boxoffice_http::mail::MailSettings::from_flags(self.smtp_url, self.mail_from)?;
        settings.pages_dir = self.pages_dir;
        settings.cors_origins = self
            .cors_origins
            .into_iter()
            .map(|origin| origin.trim().to_string())
            .filter(|origin| !origin.is_empty())
            .collect();
        let defaults = EngineConfig::default();
        settings.engine = EngineConfig {
            in_flight_per_actor: self.in_flight_per_actor,
            arbiters: self.arbiters,
            max_new_idempotency_keys_per_day: self.max_new_idempotency_keys_per_day,
            wallet_limits: boxoffice_engine::wallet::WalletLimits {
                max_charges_per_day: self.max_charges_per_day,
                ..defaults.wallet_limits.clone()
            },
            ..defaults
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// Prints a line; a closed stdout (the reader went away) is not a reason to
/// crash a server, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Files and directories this process creates are its user's alone. Set
/// before any thread starts, as the umask is process-wide.
fn private_umask() {
    // SAFETY: umask(2) only swaps the process's file mode creation mask; it
    // cannot fail and touches no memory of ours.
    unsafe {
        libc::umask(0o077);
    }
}

pub fn run(args: ServeArgs) -> Result<(), String> {
    let settings = args.settings()?;
    private_umask();
    actix::System::new().block_on(async move {
        let app = Application::build(
            settings.clone(),
            Arc::new(SystemClock),
            Arc::new(IdSource::from_os()),
        )
        .await?;
        for line in &app.banner {
            say!("{line}");
        }
        for line in &app.warnings {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{line}");
        }
        say!(
            "boxoffice listening on http://{}:{} (data in {})",
            settings.bind.ip(),
            app.port(),
            settings.data_dir.display()
        );
        say!(
            "API docs at http://{}:{}/docs/",
            settings.bind.ip(),
            app.port()
        );
        app.run_until_stopped().await.map_err(|e| e.to_string())?;
        say!("boxoffice stopped cleanly");
        Ok(())
    })
}
