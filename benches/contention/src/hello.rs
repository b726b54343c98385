//! The `hello` mode: an actix-web hello world (one GET route answering a
//! constant text, same worker count as the Boxoffice server) driven by the
//! same HTTP client, connections and threads as the HTTP mode. Its
//! requests/s is the yardstick of the HTTP target, measured in the
//! same run so machine noise hits both.

use actix_web::{web, App, HttpServer};
use boxoffice_http::auth::JwtKeys;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::clients;
use crate::driver::http::HttpSpec;
use crate::driver::{Driver, DriverSpec};
use crate::scenarios::{ScenarioRun, Size};
use crate::stats::Op;

pub async fn run(size: &Size, workers: usize) -> Result<ScenarioRun, String> {
    let server =
        HttpServer::new(|| App::new().route("/hello", web::get().to(|| async { "Hello, world!" })))
            .workers(workers)
            .bind(("127.0.0.1", 0))
            .map_err(|e| format!("hello server: {e}"))?;
    let port = server
        .addrs()
        .first()
        .map(|a| a.port())
        .ok_or("hello server: no address")?;
    let server = server.run();
    let handle = server.handle();
    let running = actix_rt::spawn(server);
    let url = Arc::new(format!("http://127.0.0.1:{port}/hello"));
    // The driver's token keys are never used here: no request carries a token.
    let spec = DriverSpec::Http(HttpSpec {
        base: format!("http://127.0.0.1:{port}").into(),
        keys: Arc::new(JwtKeys::new(b"hello-mode-signs-nothing", 60, 60)),
        run_tag: 0,
    });
    let recorder = clients::run(
        &spec,
        size.plan(),
        url,
        Arc::new(AtomicBool::new(false)),
        |client| async move {
            let Driver::Http(http) = &*client.driver else {
                return;
            };
            while client.running() {
                let _ = client
                    .timed(Op::Hello, http.get_plain(&client.shared))
                    .await;
            }
        },
    )
    .await;
    handle.stop(true).await;
    let _ = running.await;
    Ok(ScenarioRun {
        elapsed: recorder.window().length(),
        recorder,
        checks: Vec::new(),
        facts: Default::default(),
        notes: vec![format!(
            "actix-web hello world, {workers} workers, GET /hello -> 13-byte text"
        )],
    })
}
