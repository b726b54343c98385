//! Builds a Boxoffice server: makes the data dir private, opens the store,
//! loads the secrets (`secrets`), recovers the engine, starts the search
//! index (`<data>/search/`, following the catalogue), makes sure the
//! configured admin (and the demo data) exist, and binds the HTTP server.
//! The binary and every HTTP test start the application through here.
//!
//! The middleware stack, outermost first: request id (every answer carries
//! it, and the access log line), metrics (every answer is counted), CORS
//! (when origins are configured; outside load shedding, so a 503 is
//! readable cross-origin too), load shedding (refuses past the process-wide in-flight limit before any
//! routing, JWT or body read), the `Allow` header of 405s, HEAD routed as
//! GET (`head`), then routing.

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use boxoffice_actors::Role;
use boxoffice_actors::{Clock, IdSource, Passwords, Registry};
use boxoffice_provider::mock::MockProvider;
use boxoffice_search::SearchIndex;
use boxoffice_storage::{Durability, SledStore, Store};
use std::sync::{Arc, OnceLock};

use crate::auth::{Argon2Passwords, JwtKeys};
use crate::extract::{json_config, path_config, payload_config, query_config};
use crate::load_shedding::{LoadShedder, ShedLoad};
use crate::metrics::Metrics;
use crate::queue_tokens::QueueTokenSigner;
use crate::rate_limit::RateLimits;
use crate::settings::Settings;
use crate::shutdown::{ServerStop, Shutdown, SHUTDOWN_TIMEOUT_S};
use crate::sse::StreamSlots;
use crate::state::AppState;
use crate::tickets_qr::QrSigner;
use crate::webhook_transport::AwcTransport;
use crate::{
    allow_header, card_provider, cors, demo, head, metrics, openapi, request_id, routes, secrets,
};
use boxoffice_actors::webhooks::dispatcher::{self, DispatchSettings};
use boxoffice_actors::webhooks::Webhooks;

/// What a server with no ADMIN account prints at start-up: venues, concerts
/// and roles need one, and only the server's configuration can make the first.
pub const NO_ADMIN_HINT: &str = "note: no ADMIN account exists, so nobody can create venues or \
concerts; to create one, restart with --admin-email EMAIL --admin-password PASSWORD (or \
BOXOFFICE_ADMIN_EMAIL and BOXOFFICE_ADMIN_PASSWORD; the password needs 12+ characters), or \
with --demo for demo accounts";

pub struct Application {
    port: u16,
    server: Server,
    registry: Arc<Registry>,
    /// Lines worth printing at start-up (demo credentials).
    pub banner: Vec<String>,
    /// Lines the operator must see at start-up (the binary prints them on
    /// stderr): accounts sharing an email, demo data on a public address.
    pub warnings: Vec<String>,
    /// Stops the webhook dispatcher when the application goes.
    webhook_dispatch: WebhookDispatch,
    shutdown: Shutdown,
}

/// Stops the webhook dispatcher when dropped: it holds the engine (and so
/// the data dir) until it stops.
struct WebhookDispatch(Arc<Webhooks>);

impl Drop for WebhookDispatch {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Loads the webhook endpoints and starts their dispatcher's thread.
async fn start_webhooks(
    registry: &Arc<Registry>,
    settings: DispatchSettings,
) -> Result<(Arc<Webhooks>, WebhookDispatch), String> {
    let webhooks = Webhooks::open(Arc::clone(registry))
        .await
        .map_err(|e| format!("webhooks: {e}"))?;
    dispatcher::spawn(Arc::clone(&webhooks), settings, || {
        Box::new(AwcTransport::new())
    })
    .map_err(|e| format!("webhooks: cannot start the dispatcher thread: {e}"))?;
    let dispatch = WebhookDispatch(Arc::clone(&webhooks));
    Ok((webhooks, dispatch))
}

/// The start-up report of accounts the NFKC email fold found sharing one
/// address: kept apart, never merged (see `AccountsState::fold_emails`).
async fn email_clash_warnings(registry: &Registry) -> Result<Vec<String>, String> {
    let clashes = registry
        .email_clashes()
        .await
        .map_err(|e| format!("accounts: {e}"))?;
    Ok(clashes
        .into_iter()
        .map(|clash| {
            let ids: Vec<String> = clash.user_ids.iter().map(ToString::to_string).collect();
            format!(
                "warning: accounts {} share the email {:?} once normalized (NFKC, case-folded); \
                 they are kept apart, each reachable by the spelling it registered with, and \
                 the address takes no new registration: resolve by hand",
                ids.join(", "),
                clash.folded_email
            )
        })
        .collect())
}

/// Opens the search index of the data dir: follows the catalogue from now
/// on, and checks or rebuilds the index on its own thread (searches answer
/// 503 until it is ready; see `boxoffice_search`). It answers the concert
/// list's `q` too.
async fn start_search(
    settings: &Settings,
    registry: &Arc<Registry>,
) -> Result<SearchIndex, String> {
    let (search, follower) = SearchIndex::new(&settings.data_dir)
        .map_err(|e| format!("search index: cannot start its query threads: {e}"))?;
    let copy = registry
        .follow_catalog(follower)
        .await
        .map_err(|e| format!("search index: {e}"))?;
    search
        .start(copy)
        .map_err(|e| format!("search index: cannot start its writer: {e}"))?;
    registry.attach_text_index(Arc::new(search.clone()));
    Ok(search)
}

impl Application {
    pub async fn build(
        settings: Settings,
        clock: Arc<dyn Clock>,
        ids: Arc<IdSource>,
    ) -> Result<Application, String> {
        settings.validate()?;
        let store_existed = secrets::prepare_data_dir(&settings.data_dir)?;
        let store = SledStore::open_with_cache(
            &settings.data_dir,
            Durability::default(),
            settings.store_cache_mb << 20,
        );
        let store: Arc<dyn Store> = Arc::new(store.map_err(|e| {
            format!(
                "cannot open the store in {}: {e}",
                settings.data_dir.display()
            )
        })?);
        // What sled just created is private too (the binary's umask does the
        // same for what it creates later; in-process callers have their own).
        secrets::tighten(&settings.data_dir)?;
        let keys = secrets::load_secrets(&settings, store.as_ref(), &ids, store_existed)?;
        let passwords = Argon2Passwords::new(settings.password_hashing_permits);
        let registry = Registry::start(
            store,
            Arc::clone(&clock),
            Arc::clone(&ids),
            settings.engine.clone(),
        )
        .await
        .map_err(|e| format!("recovery failed: {e}"))?;
        let search = start_search(&settings, &registry).await?;
        let mut banner = Vec::new();
        let mut warnings = email_clash_warnings(&registry).await?;
        if let Some((email, password)) = &settings.admin {
            let hash = passwords
                .hash(password.clone(), ids.bytes())
                .await
                .map_err(|e| format!("admin password: {e}"))?;
            registry
                .ensure_account(email.clone(), "Administrator".into(), hash, Role::Admin)
                .await
                .map_err(|e| format!("admin account: {e}"))?;
            banner.push(format!("admin account ensured: {email}"));
        }
        if settings.demo {
            banner.extend(
                demo::load(&registry, &passwords, clock.now())
                    .await
                    .map_err(|e| format!("demo data: {e}"))?,
            );
            warnings.extend(demo::exposure_warning(settings.bind));
        }
        // After the demo data: `--demo` creates an admin of its own.
        if !registry.has_admin() {
            warnings.push(NO_ADMIN_HINT.to_string());
        }
        let mail = match &settings.mail {
            Some(mail) => Some(crate::mail::MailService::start(
                mail,
                Arc::clone(&registry),
                QrSigner::new(&keys.qr),
            )?),
            None => None,
        };
        let clock_for_cards = Arc::clone(&clock);
        // After the mail's start: its hold on the outbox is in place before
        // the dispatcher thread's first retention pass.
        let (webhooks, webhook_dispatch) =
            start_webhooks(&registry, settings.webhook_dispatch).await?;
        let shutdown = Shutdown::default();
        let mock_origin: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
        let state = web::Data::new(AppState {
            registry: Arc::clone(&registry),
            rate_limits: RateLimits::new(&settings.rate_limits, Arc::clone(&clock)),
            trusted_proxies: settings.trusted_proxies.clone(),
            clock,
            jwt: JwtKeys::new(
                &keys.jwt,
                settings.access_token_ttl.as_secs() as i64,
                settings.refresh_token_ttl.as_secs() as i64,
                Arc::clone(&ids),
            ),
            passwords,
            ids: Arc::clone(&ids),
            qr: QrSigner::new(&keys.qr),
            // Waiting-room places last minutes: they may end with the token secret.
            queue_tokens: QueueTokenSigner::new(&keys.jwt),
            metrics: Metrics::new().map_err(|e| e.to_string())?,
            request_timeout: settings.request_timeout,
            search,
            streams: StreamSlots::new(settings.stream_limits),
            mail,
            webhooks,
            direct_wallet_charges: settings.direct_wallet_charges,
            shutdown: shutdown.clone(),
            mock_origin: Arc::clone(&mock_origin),
        });
        // One load shedder for the whole process: every worker's app shares it.
        let shedder = LoadShedder::new(settings.max_in_flight_requests);
        let cors_origins = settings.cors_origins.clone();
        let page_files = web::Data::new(crate::pages::PageFiles {
            dir: settings.pages_dir.clone(),
        });
        // The built-in test provider needs the server's port for its URLs,
        // known only once bound: the workers (started after) mount it from here.
        let mock_slot: Arc<OnceLock<Arc<MockProvider>>> = Arc::new(OnceLock::new());
        let mock_routes = Arc::clone(&mock_slot);
        let server = HttpServer::new(move || {
            let mock_routes = Arc::clone(&mock_routes);
            App::new()
                .app_data(state.clone())
                .app_data(page_files.clone())
                .app_data(json_config())
                .app_data(query_config())
                .app_data(path_config())
                .app_data(payload_config())
                .wrap(from_fn(head::middleware))
                .wrap(from_fn(allow_header::middleware))
                .wrap(ShedLoad::new(Arc::clone(&shedder)))
                .wrap(cors::middleware(&cors_origins))
                .wrap(from_fn(cors::error_shape))
                .wrap(from_fn(metrics::middleware))
                .wrap(from_fn(request_id::middleware))
                // Before the /api/v1 scope, which would otherwise shadow /api/v1/openapi.json.
                .configure(openapi::configure)
                .configure(routes::configure)
                .configure(move |cfg| card_provider::mount_mock(mock_routes.get(), cfg))
                .configure(crate::pages::configure)
                .default_service(web::to(routes::not_found))
        })
        .workers(settings.workers)
        // Replies are small and written whole: Nagle's algorithm could only
        // hold back the tail of a reply split across writes (actix leaves
        // the socket option alone unless asked).
        .tcp_nodelay(true)
        .max_connections(settings.max_connections_per_worker)
        // Must precede `bind`: actix creates the listening socket there with
        // this backlog (a listener bound by `std` would get the default).
        .backlog(settings.backlog)
        .client_request_timeout(std::time::Duration::from_secs(10))
        .client_disconnect_timeout(std::time::Duration::from_secs(2))
        .shutdown_timeout(SHUTDOWN_TIMEOUT_S)
        // Signals go through `shutdown::stop_on_signal`, which announces the
        // stop before it, so open streams do not hold it for the timeout.
        .disable_signals()
        .bind(settings.bind)
        .map_err(|e| format!("cannot bind {}: {e}", settings.bind))?;
        let port = server
            .addrs()
            .first()
            .map(|addr| addr.port())
            .ok_or_else(|| format!("cannot bind {}: no address", settings.bind))?;
        let started = card_provider::start(
            &settings.payment_provider,
            settings.card_timeout_ms,
            settings.bind,
            port,
            Arc::clone(&clock_for_cards),
            ids.next_u64(),
        )?;
        if let Some(started) = &started {
            if let Some(mock) = &started.mock {
                let _ = mock_slot.set(Arc::clone(mock));
                if let Some(origin) = card_provider::guessed_origin(settings.bind, port) {
                    let _ = mock_origin.set(origin);
                }
                banner.push(format!(
                    "card payments: the built-in test provider at {}",
                    mock.config().public_base_url
                ));
            }
        }
        let server = server.run();
        // After the workers start: the mock's routes must answer the
        // reconciliation's provider calls.
        if let Some(started) = &started {
            card_provider::attach(&registry, started).await?;
        }
        Ok(Application {
            port,
            server,
            registry,
            banner,
            warnings,
            webhook_dispatch,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// A handle that stops the server, announcing it first (`shutdown`).
    pub fn handle(&self) -> ServerStop {
        ServerStop {
            server: self.server.handle(),
            shutdown: self.shutdown.clone(),
        }
    }

    /// Serves until stopped (SIGTERM/SIGINT or a handle): streams and
    /// long-polls end, requests in flight finish, then the engine flushes
    /// and stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stop = self.handle();
        let signals = actix_web::rt::spawn(async move {
            if let Err(err) = crate::shutdown::stop_on_signal(stop).await {
                // The server still serves; only a signal cannot stop it.
                tracing::error!("cannot listen for SIGTERM and SIGINT: {err}");
            }
        });
        let outcome = self.server.await;
        signals.abort();
        drop(self.webhook_dispatch);
        self.registry.shutdown();
        outcome
    }
}
