//! `hello-server`: the actix-web hello world that `benches/wrk/run.sh` puts
//! next to `boxoffice serve` as the yardstick of issue 21's HTTP target
//! (holds/s over HTTP at least half of hello-world requests/s).
//!
//! It answers any method on any path with 200 "Hello, world!", so the very
//! same wrk command and Lua script (POST /api/v1/reservations with a bearer
//! token, an idempotency key and a JSON body) can be pointed at it and the
//! only difference between the two runs is the work behind the response.
//! Like the harness's in-process hello (`src/hello.rs`) it has the same
//! worker count as the Boxoffice server; unlike it, it is a process of its
//! own, driven from outside as `boxoffice serve` is. It reads the request
//! body, as the reservation endpoint does, and uses the same allocator.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use actix_web::{web, App, HttpServer};
use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hello-server",
    about = "actix-web hello world: 200 \"Hello, world!\" to anything"
)]
struct Args {
    /// HTTP worker threads (the Boxoffice server's default is 2).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Port on 127.0.0.1 (0 picks a free one; the chosen one is printed).
    #[arg(long, default_value_t = 8081)]
    port: u16,
}

async fn hello(_body: web::Bytes) -> &'static str {
    "Hello, world!"
}

fn main() -> ExitCode {
    let args = Args::parse();
    let served = actix_rt::System::new().block_on(async move {
        let server = HttpServer::new(|| App::new().default_service(web::to(hello)))
            .workers(args.workers.clamp(1, 64))
            .bind(("127.0.0.1", args.port))
            .map_err(|e| format!("cannot bind 127.0.0.1:{}: {e}", args.port))?;
        for addr in server.addrs() {
            println!("hello-server listening on http://{addr}");
        }
        server.run().await.map_err(|e| e.to_string())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hello-server: {err}");
            ExitCode::FAILURE
        }
    }
}
