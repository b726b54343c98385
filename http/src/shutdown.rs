//! Stopping while long-lived answers are open.
//!
//! Told to stop gracefully, actix-web stops accepting and waits, up to its
//! shutdown timeout (`SHUTDOWN_TIMEOUT_S`), for every response in flight to
//! end. A live-update stream never ends by itself and an event-feed
//! long-poll waits up to 30 s, so one open stream held every stop for the
//! whole timeout. The stop is announced here first: streams end (a
//! browser's EventSource reconnects, to whatever serves next), a long-poll
//! answers with what it has, and actix's graceful stop then waits only for
//! short requests.
//!
//! The announcement comes from SIGTERM or SIGINT ([`stop_on_signal`]; the
//! server's own signal handling is off, so nothing stops it unannounced)
//! or from [`ServerStop::stop`].

use actix_web::dev::ServerHandle;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;

/// How long a graceful stop waits for requests in flight (actix's shutdown
/// timeout), in seconds.
pub const SHUTDOWN_TIMEOUT_S: u64 = 10;

/// Whether the stop has begun, for whatever must end before it can finish.
#[derive(Clone)]
pub struct Shutdown {
    begun: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            begun: Arc::new(watch::channel(false).0),
        }
    }
}

impl Shutdown {
    /// Announces the stop (idempotent).
    pub fn begin(&self) {
        self.begun.send_replace(true);
    }

    /// Resolves once the stop is announced.
    pub fn begun(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut announced = self.begun.subscribe();
        async move {
            // The sender lives as long as `self`'s clones; should it go, the
            // server is gone too, and ending is right.
            let _ = announced.wait_for(|begun| *begun).await;
        }
    }
}

/// Stops a server: announces it, then actix's own stop.
#[derive(Clone)]
pub struct ServerStop {
    pub(crate) server: ServerHandle,
    pub(crate) shutdown: Shutdown,
}

impl ServerStop {
    /// Announces the stop, then stops the server: gracefully (requests in
    /// flight finish, up to [`SHUTDOWN_TIMEOUT_S`]) or at once.
    pub async fn stop(&self, graceful: bool) {
        self.shutdown.begin();
        self.server.stop(graceful).await;
    }
}

/// Stops `server` gracefully on the first SIGTERM or SIGINT. An error
/// installing the handlers is returned at once (the caller logs it: the
/// server still runs, only without signal handling).
pub async fn stop_on_signal(server: ServerStop) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
        _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
    }
    server.stop(true).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn begun_resolves_for_waiters_before_and_after_the_announcement() {
        let shutdown = Shutdown::default();
        let early = actix_web::rt::spawn(shutdown.begun());
        actix_web::rt::task::yield_now().await;
        assert!(!early.is_finished(), "nothing is announced yet");
        shutdown.begin();
        shutdown.begin();
        early.await.expect("the early waiter ends");
        shutdown.begun().await;
    }
}
