//! `webhook-hang`: do deliveries slow the engine? (issue 17: holds/s with a
//! webhook endpoint that hangs 10 s on every call stay ≥ 0.90 of holds/s
//! without webhooks, in the same run.)
//!
//! Starts `boxoffice serve` on a fresh data dir and a receiver on loopback
//! that accepts every connection, reads the request and answers only after
//! 10 s (the dispatcher gives up at 10 s, so every call hangs to its
//! timeout). Then alternates, `--rounds` times: a phase of `--holders`
//! closed-loop clients (hold one seat, best available, then cancel it) with
//! no webhook; a webhook registered for `booking.created` at the hanging
//! receiver, the same phase, the webhook deleted. Between phases it pauses
//! `--settle-seconds` (the deleted webhook's log is purged in the
//! background: the next phase without webhooks should not pay for it).
//! Prints each phase's holds/s, the medians and their ratio.
//!
//! One webhook gets about one delivery per hold: at a few thousand holds/s
//! a phase of 10 s stays under the 50,000 pending deliveries that disable
//! an endpoint (`MAX_PENDING_PER_WEBHOOK`); longer phases would measure a
//! disabled endpoint. The server runs with the daily quota of new
//! Idempotency-Keys lifted (the default 10,000 per holder would end a run
//! after three rounds with 429s). Odd rounds run the phase without the
//! webhook first, even rounds the one with it.

use actix_rt::net::TcpListener;
use clap::Parser;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod bench_server;

use bench_server::{expect, hold_storm, set_up, Server, SetUp, Storm};

#[derive(Parser, Debug)]
#[command(about = "Holds/s with and without a hanging webhook endpoint (see the module doc)")]
struct Args {
    /// The server binary (built with `cargo build --release`).
    #[arg(long, default_value = "target/release/boxoffice")]
    binary: String,
    /// Hold clients in a closed loop.
    #[arg(long, default_value_t = 32)]
    holders: usize,
    /// Seconds of each hold phase.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Pairs of phases (without, with).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Pause between phases.
    #[arg(long, default_value_t = 3.0)]
    settle_seconds: f64,
}

const ADMIN: (&str, &str) = ("hang-admin@bench.boxoffice", "hang-admin-password-1");
/// How long the receiver sits on each call.
const HANG: Duration = Duration::from_secs(10);

/// The hanging receiver: every call waits [`HANG`], then gets a 200.
async fn hanging_receiver() -> Result<u16, String> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    actix_rt::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            actix_rt::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                actix_rt::time::sleep(HANG).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    Ok(port)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let server = Server::start(
        &args.binary,
        "webhook-hang",
        ADMIN,
        // Phases of thousands of holds/s would spend each holder's daily
        // quota of new Idempotency-Keys within a few rounds.
        &[
            "--max-new-idempotency-keys-per-day".into(),
            "1000000000".into(),
        ],
    )?;
    let base = server.base_url();
    actix_rt::System::new().block_on(async move {
        use awc::http::Method;
        let client = awc::Client::builder()
            .connector(awc::Connector::new().limit(0))
            .timeout(Duration::from_secs(30))
            .finish();
        let receiver = hanging_receiver().await?;
        let SetUp {
            admin_token: admin,
            schedule,
            holder_tokens: tokens,
        } = set_up(&client, &base, ADMIN, "hang", 1_000, args.holders).await?;
        let phase = || hold_storm(&client, &base, &schedule, &tokens, args.seconds, |_, _| {});
        let settle = Duration::from_secs_f64(args.settle_seconds);
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for round in 1..=args.rounds {
            // Odd rounds measure without the webhook first, even rounds with
            // it first: neither side always gets the warmer server.
            let order = if round % 2 == 1 {
                [false, true]
            } else {
                [true, false]
            };
            for with_webhook in order {
                if !with_webhook {
                    actix_rt::time::sleep(settle).await;
                    let Storm { holds, failures } = phase().await;
                    let rate = holds as f64 / args.seconds;
                    println!(
                        "round {round} without webhooks: {rate:.0} holds/s ({failures} failed calls)"
                    );
                    without.push(rate);
                    continue;
                }
                let webhook = expect(
                    &client,
                    Method::POST,
                    &format!("{base}/api/v1/admin/webhooks"),
                    Some(&admin),
                    Some(json!({"url": format!("http://127.0.0.1:{receiver}/hang"),
                        "events": ["booking.created"]})),
                    201,
                )
                .await?;
                let id = webhook["webhookId"].as_str().ok_or("no webhookId")?.to_string();
                actix_rt::time::sleep(settle).await;
                let Storm { holds, failures } = phase().await;
                let rate = holds as f64 / args.seconds;
                let log = expect(
                    &client,
                    Method::GET,
                    &format!("{base}/api/v1/admin/webhooks/{id}/deliveries?pageSize=1"),
                    Some(&admin),
                    None,
                    200,
                )
                .await?;
                let listed = expect(
                    &client,
                    Method::GET,
                    &format!("{base}/api/v1/admin/webhooks"),
                    Some(&admin),
                    None,
                    200,
                )
                .await?;
                println!(
                    "round {round} with a hanging webhook: {rate:.0} holds/s ({failures} failed calls; \
                     {} deliveries logged, webhook {})",
                    log["total"], listed["items"][0]["status"]
                );
                with.push(rate);
                expect(
                    &client,
                    Method::DELETE,
                    &format!("{base}/api/v1/admin/webhooks/{id}"),
                    Some(&admin),
                    None,
                    204,
                )
                .await?;
            }
        }
        let (without, with) = (median(&mut without), median(&mut with));
        println!(
            "median holds/s without {without:.0}, with a hanging webhook {with:.0}: ratio {:.2} (target >= 0.90)",
            with / without
        );
        Ok::<(), String>(())
    })?;
    drop(server);
    Ok(())
}
