//! The `hello` mode: an actix-web hello world (one GET route answering a
//! constant text, same worker count as the Boxoffice server) driven by the
//! same HTTP client, connections and threads as the HTTP mode. Its
//! requests/s is the yardstick of the HTTP target, measured in the
//! same run so machine noise hits both. Not a [`crate::target::Target`]: it
//! has no seats; its clients are bare HTTP clients.

use actix_web::{web, App, HttpServer};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::clients;
use crate::scenarios::{ScenarioRun, Size};
use crate::stats::Op;
use crate::target::http;

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
    let recorder = clients::run(
        |_thread, connections| http::client(connections),
        size.plan(),
        url,
        Arc::new(AtomicBool::new(false)),
        |client| async move {
            while client.running() {
                let _ = client
                    .timed(Op::Hello, http::get_plain(&client.api, &client.shared))
                    .await;
            }
        },
    )
    .await;
    handle.stop(true).await;
    let _ = running.await;
    let recorder = recorder?;
    Ok(ScenarioRun {
        elapsed: recorder.window().length(),
        recorder,
        checks: Vec::new(),
        facts: Default::default(),
        notes: vec![format!(
            "actix-web hello world, {workers} workers, GET /hello -> 13-byte text"
        )],
        timeline: Vec::new(),
    })
}
