//! `boxoffice serve`: the HTTP server on an embedded data dir. Every flag can
//! also be set by a `BOXOFFICE_*` environment variable.
//!
//! The process's umask is 077 before anything is created, so every file and
//! directory the store makes is private (0600 and 0700); the data dir and
//! what an older version left there are tightened by `boxoffice_http::secrets`.

use boxoffice_actors::{EngineConfig, IdSource, SystemClock};
use boxoffice_http::{Application, Settings};
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

impl ServeArgs {
    fn settings(self) -> Result<Settings, String> {
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
        settings.engine = EngineConfig {
            in_flight_per_actor: self.in_flight_per_actor,
            arbiters: self.arbiters,
            ..EngineConfig::default()
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
