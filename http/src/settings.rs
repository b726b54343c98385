//! Typed configuration of a Boxoffice server. The binary fills it from flags
//! and `BOXOFFICE_*` environment variables; tests build it directly.

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
    /// HS256 secret; when `None`, one is generated once and kept in the data dir.
    pub jwt_secret: Option<String>,
    /// Make sure this account exists with role ADMIN at start-up.
    pub admin: Option<(String, String)>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// Longest a request may wait for the engine before it is answered 503.
    pub request_timeout: Duration,
    /// HTTP worker threads (actix-web); the engine's arbiters are separate.
    pub workers: usize,
    pub engine: EngineConfig,
}

impl Settings {
    /// Defaults for a data dir: loopback, no demo, generated secret.
    pub fn new(data_dir: PathBuf) -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            demo: false,
            jwt_secret: None,
            admin: None,
            access_token_ttl: Duration::from_secs(3_600),
            refresh_token_ttl: Duration::from_secs(14 * 24 * 3_600),
            request_timeout: Duration::from_secs(10),
            workers: 2,
            engine: EngineConfig::default(),
        }
    }
}
