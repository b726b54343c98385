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
use serde_json::{json, Value};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
const PASSWORD: &str = "violet-harbour-4711";
/// How long the receiver sits on each call.
const HANG: Duration = Duration::from_secs(10);

struct Server {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_server(binary: &str) -> Result<Server, String> {
    let dir = std::env::temp_dir().join(format!("webhook-hang-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(binary)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .args(["--rate-limits", "off"])
        // Phases of thousands of holds/s would spend each holder's daily
        // quota of new Idempotency-Keys within a few rounds.
        .args(["--max-new-idempotency-keys-per-day", "1000000000"])
        .env("BOXOFFICE_ADMIN_EMAIL", ADMIN.0)
        .env("BOXOFFICE_ADMIN_PASSWORD", ADMIN.1)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{binary}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let port = loop {
        let line = lines
            .next()
            .ok_or("the server exited")?
            .map_err(|e| e.to_string())?;
        if let Some(address) = line.strip_prefix("boxoffice listening on http://") {
            break address
                .split_whitespace()
                .next()
                .and_then(|host_port| host_port.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .ok_or("no port")?;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, port, dir })
}

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

async fn call(
    client: &awc::Client,
    method: awc::http::Method,
    url: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    if let Some(key) = key {
        request = request.insert_header(("Idempotency-Key", key));
    }
    let sent = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    };
    let mut response = sent.map_err(|e| e.to_string())?;
    let bytes = response
        .body()
        .limit(1 << 20)
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        response.status().as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn expect(
    client: &awc::Client,
    method: awc::http::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
    status: u16,
) -> Result<Value, String> {
    let (got, body) = call(client, method, url, token, None, body).await?;
    if got == status {
        Ok(body)
    } else {
        Err(format!("{url}: {got} {body}"))
    }
}

/// The admin's token, one 1,000-seat schedule and `holders` users' tokens.
async fn set_up(
    client: &awc::Client,
    base: &str,
    holders: usize,
) -> Result<(String, String, Vec<String>), String> {
    use awc::http::Method;
    let login = expect(
        client,
        Method::POST,
        &format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"email": ADMIN.0, "password": ADMIN.1})),
        200,
    )
    .await?;
    let admin = login["accessToken"].as_str().ok_or("no token")?.to_string();
    let rows: Vec<Value> = (1..=10)
        .map(|r| json!({"row": r.to_string(), "seats": 100}))
        .collect();
    let venue = expect(
        client,
        Method::POST,
        &format!("{base}/api/v1/venues"),
        Some(&admin),
        Some(json!({"name": "Hang Hall", "address": "1 Bench Street",
            "sections": [{"sectionId": "A", "name": "A", "rows": rows}]})),
        201,
    )
    .await?;
    let concert = expect(
        client,
        Method::POST,
        &format!("{base}/api/v1/concerts"),
        Some(&admin),
        Some(json!({"title": "Hang", "description": "bench", "category": "ROCK",
            "venueId": venue["venueId"],
            "priceGrades": [{"grade": "A", "price": 1000, "sectionIds": ["A"]}],
            "schedules": [{"startsAt": "2030-04-01T10:00:00Z", "endsAt": "2030-04-01T13:00:00Z",
                "bookingOpensAt": "2020-01-01T00:00:00Z", "bookingClosesAt": "2030-04-01T09:00:00Z"}],
            "maxSeatsPerUser": 4, "holdSeconds": 300})),
        201,
    )
    .await?;
    let schedule = concert["schedules"][0]["scheduleId"]
        .as_str()
        .ok_or("no schedule")?
        .to_string();
    let mut tokens = Vec::new();
    for n in 0..holders {
        let email = format!("hang-{n}@bench.boxoffice");
        expect(
            client,
            Method::POST,
            &format!("{base}/api/v1/auth/register"),
            None,
            Some(json!({"email": email, "password": PASSWORD, "name": "Holder"})),
            201,
        )
        .await?;
        let login = expect(
            client,
            Method::POST,
            &format!("{base}/api/v1/auth/login"),
            None,
            Some(json!({"email": email, "password": PASSWORD})),
            200,
        )
        .await?;
        tokens.push(login["accessToken"].as_str().ok_or("no token")?.to_string());
    }
    Ok((admin, schedule, tokens))
}

/// `tokens.len()` closed loops of hold-one-seat + cancel for `seconds`:
/// (acknowledged holds, failed calls).
async fn hold_phase(
    client: &awc::Client,
    base: &str,
    schedule: &str,
    tokens: &[String],
    seconds: f64,
) -> (u64, u64) {
    use awc::http::Method;
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let holds = Rc::new(AtomicU64::new(0));
    let failures = Rc::new(AtomicU64::new(0));
    let loops = tokens.iter().enumerate().map(|(n, token)| {
        let (client, holds, failures) = (client.clone(), Rc::clone(&holds), Rc::clone(&failures));
        let (base, schedule, token) = (base.to_string(), schedule.to_string(), token.clone());
        async move {
            let mut i = 0u64;
            while Instant::now() < until {
                i += 1;
                let key = format!("h{n}-{i}-{}", rand::random::<u64>());
                let held = call(
                    &client,
                    Method::POST,
                    &format!("{base}/api/v1/reservations"),
                    Some(&token),
                    Some(&key),
                    Some(json!({"scheduleId": schedule, "quantity": 1})),
                )
                .await;
                let body = match held {
                    Ok((201, body)) => body,
                    other => {
                        // The first failure of a phase is shown: a failing
                        // phase's rate means nothing without it.
                        if failures.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("a hold failed: {other:?}");
                        }
                        continue;
                    }
                };
                holds.fetch_add(1, Ordering::Relaxed);
                let id = body["reservationId"].as_str().unwrap_or_default();
                let cancelled = call(
                    &client,
                    Method::POST,
                    &format!("{base}/api/v1/reservations/{id}/cancel"),
                    Some(&token),
                    None,
                    Some(json!({})),
                )
                .await;
                if !matches!(cancelled, Ok((200, _)))
                    && failures.fetch_add(1, Ordering::Relaxed) == 0
                {
                    eprintln!("a cancel failed: {cancelled:?}");
                }
            }
        }
    });
    let handles: Vec<_> = loops.map(actix_rt::spawn).collect();
    for handle in handles {
        let _ = handle.await;
    }
    (
        holds.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    )
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let server = start_server(&args.binary)?;
    actix_rt::System::new().block_on(async move {
        use awc::http::Method;
        let base = format!("http://127.0.0.1:{}", server.port);
        let client = awc::Client::builder()
            .connector(awc::Connector::new().limit(0))
            .timeout(Duration::from_secs(30))
            .finish();
        let receiver = hanging_receiver().await?;
        let (admin, schedule, tokens) = set_up(&client, &base, args.holders).await?;
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
                    let (holds, failed) =
                        hold_phase(&client, &base, &schedule, &tokens, args.seconds).await;
                    let rate = holds as f64 / args.seconds;
                    println!(
                        "round {round} without webhooks: {rate:.0} holds/s ({failed} failed calls)"
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
                let (holds, failed) =
                    hold_phase(&client, &base, &schedule, &tokens, args.seconds).await;
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
                    "round {round} with a hanging webhook: {rate:.0} holds/s ({failed} failed calls; \
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
