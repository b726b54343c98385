//! The Boxoffice instance under test, started fresh for every run on a new
//! temporary sled data dir (durability `ProcessCrash`: every acknowledged
//! change is flushed before its reply, as in production).
//!
//! - in-process mode: the engine alone (`Registry::start`), wall clock.
//! - HTTP mode: the whole server (`boxoffice_http::Application::build`, the
//!   same start-up as the binary) on 127.0.0.1:0, with a JWT secret the
//!   harness generates, so it can mint access tokens for its virtual users
//!   instead of registering them (100,000 argon2 hashes would dominate a run).
//!
//! In both modes the harness also keeps the engine's `Registry`: set-up
//! (schedules, concerts, funded wallets) goes straight through it, and so do
//! the end-of-run invariant checks (exports of every actor's state).

use boxoffice_actors::{EngineConfig, IdSource, Registry, SystemClock};
use boxoffice_http::auth::JwtKeys;
use boxoffice_http::{Application, Settings};
use boxoffice_storage::SledStore;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::driver::http::HttpSpec;
use crate::driver::DriverSpec;

/// Access tokens the harness mints live this long (longer than any run).
const TOKEN_TTL_SECS: i64 = 24 * 3_600;

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Debug)]
pub struct EngineOptions {
    pub arbiters: usize,
    pub workers: usize,
    pub in_flight_per_actor: usize,
    /// Parent of the temporary data dirs.
    pub data_root: PathBuf,
}

pub struct Target {
    pub registry: Arc<Registry>,
    pub driver: DriverSpec,
    server: Option<Server>,
    data_dir: PathBuf,
}

struct Server {
    handle: actix_web::dev::ServerHandle,
    finished: tokio::sync::oneshot::Receiver<()>,
}

fn engine_config(options: &EngineOptions) -> EngineConfig {
    EngineConfig {
        arbiters: options.arbiters,
        in_flight_per_actor: options.in_flight_per_actor,
        ..EngineConfig::default()
    }
}

fn fresh_dir(options: &EngineOptions) -> Result<PathBuf, String> {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir = options
        .data_root
        .join(format!("boxoffice-contention-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// 32 random hex characters: a secret only this run knows.
fn fresh_secret() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Target {
    /// The engine alone. Must run inside an actix system.
    pub async fn in_process(options: &EngineOptions) -> Result<Target, String> {
        let data_dir = fresh_dir(options)?;
        let store = Arc::new(SledStore::open(&data_dir).map_err(|e| e.to_string())?);
        let registry = Registry::start(
            store,
            Arc::new(SystemClock),
            Arc::new(IdSource::from_os()),
            engine_config(options),
        )
        .await
        .map_err(|e| format!("engine start: {e}"))?;
        Ok(Target {
            driver: DriverSpec::InProcess(Arc::clone(&registry)),
            registry,
            server: None,
            data_dir,
        })
    }

    /// The whole HTTP server on loopback. Must run inside an actix system,
    /// which then drives the server until [`Target::stop`].
    pub async fn http(options: &EngineOptions) -> Result<Target, String> {
        let data_dir = fresh_dir(options)?;
        let secret = fresh_secret();
        let mut settings = Settings::new(data_dir.clone());
        settings.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        settings.jwt_secret = Some(secret.clone());
        settings.workers = options.workers;
        settings.engine = engine_config(options);
        // The issue asks for rate limits off in benchmarks: the production
        // admission gate (1,024 requests in flight, 2,048 connections per
        // worker) would turn a 10,000-client run into a 503 count. The
        // engine's per-actor in-flight bound stays as configured.
        settings.max_in_flight_requests = 1_000_000;
        settings.max_connections_per_worker = 100_000;
        settings.backlog = 16_384;
        let app = Application::build(
            settings,
            Arc::new(SystemClock),
            Arc::new(IdSource::from_os()),
        )
        .await?;
        let registry = Arc::clone(app.registry());
        let base: Arc<str> = format!("http://127.0.0.1:{}", app.port()).into();
        let handle = app.handle();
        let (done, finished) = tokio::sync::oneshot::channel();
        actix_rt::spawn(async move {
            if let Err(err) = app.run_until_stopped().await {
                eprintln!("contention: server stopped with {err}");
            }
            let _ = done.send(());
        });
        let keys = Arc::new(JwtKeys::new(
            secret.as_bytes(),
            TOKEN_TTL_SECS,
            TOKEN_TTL_SECS,
        ));
        Ok(Target {
            registry,
            driver: DriverSpec::Http(HttpSpec {
                base,
                keys,
                run_tag: rand::random(),
            }),
            server: Some(Server { handle, finished }),
            data_dir,
        })
    }

    /// Stops the server (if any) and the engine, then deletes the data dir.
    pub async fn stop(self) {
        match self.server {
            Some(server) => {
                server.handle.stop(true).await;
                // run_until_stopped shuts the registry down after the server.
                let _ = server.finished.await;
            }
            None => self.registry.shutdown(),
        }
        if let Err(err) = std::fs::remove_dir_all(&self.data_dir) {
            eprintln!(
                "contention: could not remove {}: {err}",
                self.data_dir.display()
            );
        }
    }
}
