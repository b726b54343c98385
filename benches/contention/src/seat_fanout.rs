//! `seat-fanout`: the seat stream under a hold storm (issue 14, item 1).
//!
//! Starts `boxoffice serve` (release build) on a fresh data dir, creates one
//! schedule, and measures in one run:
//! 1. hold throughput with no subscriber (`--holders` clients in a closed
//!    loop: hold one seat, best available, then cancel it);
//! 2. the server's RSS before and after `--subscribers` seat streams are
//!    opened on that schedule (per subscriber = the difference / N);
//! 3. hold throughput with them all connected and reading, and the fan-out
//!    latency: for `--sampled` of the subscribers, from the moment the
//!    holder got its 201 to the moment the subscriber read that seat's HELD
//!    event (an event read before the 201 arrived counts as 0);
//! 4. hold throughput again after they disconnect (so drift shows);
//! 5. the CPU the server, the harness and the whole machine used during the
//!    storm with subscribers, and the server's CPU per hold without and with
//!    them: on a shared machine the rates move with other load, the CPU per
//!    hold much less.
//!
//! The subscribers are raw TCP clients that send one GET and read; the
//! sampled ones parse `data:` lines, the others only drain. Holders and
//! sampled subscribers share one thread, the draining subscribers another,
//! so draining never delays a latency sample's read. Everything runs on the
//! same machine as the server (and competes with it for the CPUs): the
//! figures are for this machine, compared within the run.

use actix_rt::net::TcpStream;
use clap::Parser;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser, Debug)]
#[command(about = "Seat-stream fan-out under a hold storm (see the module doc)")]
struct Args {
    /// The server binary (built with `cargo build --release`).
    #[arg(long, default_value = "target/release/boxoffice")]
    binary: String,
    /// Seat-stream subscribers on the one schedule.
    #[arg(long, default_value_t = 10_000)]
    subscribers: usize,
    /// Subscribers whose events are timed.
    #[arg(long, default_value_t = 50)]
    sampled: usize,
    /// Hold clients in a closed loop.
    #[arg(long, default_value_t = 32)]
    holders: usize,
    /// Seconds of each hold phase.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seats of the schedule (rows of 100).
    #[arg(long, default_value_t = 1_000)]
    seats: u32,
}

const ADMIN: (&str, &str) = ("fanout-admin@bench.boxoffice", "fanout-admin-password-1");
const PASSWORD: &str = "violet-harbour-4711";

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) a process has used so far, from
/// `/proc/<pid>/stat` ("self" for this harness): the storm's share of each
/// shows whether the server or the harness's own clients bound a run.
fn cpu_seconds(pid: &str) -> f64 {
    let ticks = || -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 here.
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks().map_or(f64::NAN, |t| t as f64 / hz)
}

/// CPU seconds every core of the machine has been busy so far (`/proc/stat`):
/// with the server's and the harness's own, shows how much went to other
/// processes (the machine is shared).
fn machine_busy_seconds() -> f64 {
    let busy = || -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal: all but idle and iowait.
        let total: u64 = fields.iter().take(8).sum();
        Some(total - fields.get(3)? - fields.get(4)?)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    busy().map_or(f64::NAN, |t| t as f64 / hz)
}

fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a valid, owned struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

struct Server {
    child: Child,
    port: u16,
    _dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn start_server(binary: &str, connections: usize) -> Result<Server, String> {
    let dir = std::env::temp_dir().join(format!("seat-fanout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(binary)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .args([
            "--max-connections-per-worker",
            &connections.to_string(),
            "--rate-limits",
            "off",
        ])
        .env("BOXOFFICE_ADMIN_EMAIL", ADMIN.0)
        .env("BOXOFFICE_ADMIN_PASSWORD", ADMIN.1)
        .env("RUST_LOG", "warn")
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
            // "127.0.0.1:PORT (data in ...)"
            let port = address
                .split_whitespace()
                .next()
                .and_then(|host_port| host_port.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .ok_or("no port")?;
            break port;
        }
    };
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Server {
        child,
        port,
        _dir: dir,
    })
}

async fn call(
    client: &awc::Client,
    method: awc::http::Method,
    url: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Value,
) -> Result<(u16, Value), String> {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    if let Some(key) = key {
        request = request.insert_header(("Idempotency-Key", key));
    }
    let mut response = request.send_json(&body).await.map_err(|e| e.to_string())?;
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
    body: Value,
    status: u16,
) -> Result<Value, String> {
    let (got, body) = call(client, method, url, token, None, body).await?;
    if got == status {
        Ok(body)
    } else {
        Err(format!("{url}: {got} {body}"))
    }
}

/// Admin, one schedule of `seats`, and `holders` users: (schedule, user tokens).
async fn set_up(
    client: &awc::Client,
    base: &str,
    seats: u32,
    holders: usize,
) -> Result<(String, Vec<String>), String> {
    use awc::http::Method;
    let login = expect(
        client,
        Method::POST,
        &format!("{base}/api/v1/auth/login"),
        None,
        json!({"email": ADMIN.0, "password": ADMIN.1}),
        200,
    )
    .await?;
    let admin = login["accessToken"].as_str().ok_or("no token")?.to_string();
    let rows: Vec<Value> = (1..=seats.div_ceil(100))
        .map(|r| json!({"row": r.to_string(), "seats": 100.min(seats - (r - 1) * 100)}))
        .collect();
    let venue = expect(
        client,
        Method::POST,
        &format!("{base}/api/v1/venues"),
        Some(&admin),
        json!({"name": "Fan-out Hall", "address": "1 Bench Street",
            "sections": [{"sectionId": "A", "name": "A", "rows": rows}]}),
        201,
    )
    .await?;
    let concert = expect(
        client,
        Method::POST,
        &format!("{base}/api/v1/concerts"),
        Some(&admin),
        json!({"title": "Fan-out", "description": "bench", "category": "ROCK",
            "venueId": venue["venueId"],
            "priceGrades": [{"grade": "A", "price": 1000, "sectionIds": ["A"]}],
            "schedules": [{"startsAt": "2030-04-01T10:00:00Z", "endsAt": "2030-04-01T13:00:00Z",
                "bookingOpensAt": "2020-01-01T00:00:00Z", "bookingClosesAt": "2030-04-01T09:00:00Z"}],
            "maxSeatsPerUser": 4, "holdSeconds": 300}),
        201,
    )
    .await?;
    let schedule = concert["schedules"][0]["scheduleId"]
        .as_str()
        .ok_or("no schedule")?
        .to_string();
    let mut tokens = Vec::new();
    for n in 0..holders {
        let email = format!("holder-{n}@bench.boxoffice");
        expect(
            client,
            Method::POST,
            &format!("{base}/api/v1/auth/register"),
            None,
            json!({"email": email, "password": PASSWORD, "name": "Holder"}),
            201,
        )
        .await?;
        let login = expect(
            client,
            Method::POST,
            &format!("{base}/api/v1/auth/login"),
            None,
            json!({"email": email, "password": PASSWORD}),
            200,
        )
        .await?;
        tokens.push(login["accessToken"].as_str().ok_or("no token")?.to_string());
    }
    Ok((schedule, tokens))
}

/// When each seat's holds were acknowledged, in order (seat id -> 201 times).
type Acks = Rc<RefCell<HashMap<String, Vec<Instant>>>>;

/// `holders` closed loops of hold-one-seat + cancel for `seconds`; the
/// number of acknowledged holds.
async fn hold_storm(
    client: &awc::Client,
    base: &str,
    schedule: &str,
    tokens: &[String],
    seconds: f64,
    acks: &Acks,
) -> (u64, u64) {
    use awc::http::Method;
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let holds = Rc::new(AtomicU64::new(0));
    let failures = Rc::new(AtomicU64::new(0));
    let loops = tokens.iter().enumerate().map(|(n, token)| {
        let (client, holds, failures, acks) = (
            client.clone(),
            Rc::clone(&holds),
            Rc::clone(&failures),
            Rc::clone(acks),
        );
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
                    json!({"scheduleId": schedule, "quantity": 1}),
                )
                .await;
                let Ok((201, body)) = held else {
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let acked = Instant::now();
                holds.fetch_add(1, Ordering::Relaxed);
                if let Some(seat) = body["seats"][0]["seatId"].as_str() {
                    acks.borrow_mut()
                        .entry(seat.to_string())
                        .or_default()
                        .push(acked);
                }
                let id = body["reservationId"].as_str().unwrap_or_default();
                let cancelled = call(
                    &client,
                    Method::POST,
                    &format!("{base}/api/v1/reservations/{id}/cancel"),
                    Some(&token),
                    None,
                    json!({}),
                )
                .await;
                if !matches!(cancelled, Ok((200, _))) {
                    failures.fetch_add(1, Ordering::Relaxed);
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

/// A timed subscriber's reads: (seat id, when its HELD event was read).
type Reads = Rc<RefCell<Vec<(String, Instant)>>>;

/// Shared by the subscribers of both threads.
#[derive(Default)]
struct Subscribers {
    connected: AtomicUsize,
    refused: AtomicUsize,
    resets: AtomicUsize,
    stop: AtomicBool,
}

/// Opens one seat stream; reads until told to stop. When `timed` is given,
/// records (seat id, when read) of every HELD event.
async fn subscribe(port: u16, path: String, shared: Arc<Subscribers>, timed: Option<Reads>) {
    let Ok(mut socket) = TcpStream::connect(("127.0.0.1", port)).await else {
        shared.refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
    if socket.write_all(request.as_bytes()).await.is_err() {
        shared.refused.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut buffer = vec![0u8; 64 * 1024];
    let mut pending = String::new();
    let mut head_seen = false;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let read = tokio::time::timeout(Duration::from_millis(500), socket.read(&mut buffer)).await;
        let n = match read {
            Err(_) => continue,
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
        };
        let now = Instant::now();
        if !head_seen {
            let text = String::from_utf8_lossy(&buffer[..n]);
            if !text.starts_with("HTTP/1.1 200") {
                shared.refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            head_seen = true;
            shared.connected.fetch_add(1, Ordering::Relaxed);
        }
        let chunk = &buffer[..n];
        if timed.is_none() {
            if memchr_reset(chunk) {
                shared.resets.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        pending.push_str(&String::from_utf8_lossy(chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if line.starts_with("event: reset") {
                shared.resets.fetch_add(1, Ordering::Relaxed);
            }
            let Some(data) = line.strip_prefix("data: ") else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Value>(data.trim()) else {
                continue;
            };
            if event["status"] == "HELD" {
                if let (Some(seat), Some(timed)) = (event["seatId"].as_str(), timed.as_ref()) {
                    timed.borrow_mut().push((seat.to_string(), now));
                }
            }
        }
    }
}

fn memchr_reset(chunk: &[u8]) -> bool {
    chunk.windows(12).any(|w| w == b"event: reset")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1_000.0
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    raise_fd_limit();
    let server = start_server(&args.binary, args.subscribers + 1_024)?;
    let (port, pid) = (server.port, server.child.id());
    let base = format!("http://127.0.0.1:{port}");
    let shared = Arc::new(Subscribers::default());
    let bulk = args.subscribers.saturating_sub(args.sampled);
    let (schedule_tx, schedule_rx) = std::sync::mpsc::channel::<String>();

    // The draining subscribers' thread: opens them when told the schedule.
    let drainers = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let Ok(schedule) = schedule_rx.recv() else {
                    return;
                };
                let path = format!("/api/v1/schedules/{schedule}/stream");
                let mut handles = Vec::with_capacity(bulk);
                for n in 0..bulk {
                    handles.push(actix_rt::spawn(subscribe(
                        port,
                        path.clone(),
                        Arc::clone(&shared),
                        None,
                    )));
                    if n % 500 == 499 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                for handle in handles {
                    let _ = handle.await;
                }
            });
        })
    };

    let system = actix_rt::System::new();
    let stopper = Arc::clone(&shared);
    let report = system.block_on(async move {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().limit(0))
            .timeout(Duration::from_secs(30))
            .finish();
        let (schedule, tokens) = set_up(&client, &base, args.seats, args.holders).await?;
        let acks: Acks = Rc::default();
        // Warm-up, then without subscribers.
        hold_storm(&client, &base, &schedule, &tokens, 1.0, &acks).await;
        let server_cpu_start = cpu_seconds(&pid.to_string());
        let (before_holds, before_failures) =
            hold_storm(&client, &base, &schedule, &tokens, args.seconds, &acks).await;
        let server_cpu_without = cpu_seconds(&pid.to_string()) - server_cpu_start;

        let rss_before = rss_kib(pid);
        let path = format!("/api/v1/schedules/{schedule}/stream");
        let timed: Vec<Reads> =
            (0..args.sampled).map(|_| Rc::default()).collect();
        let sampled: Vec<_> = timed
            .iter()
            .map(|t| {
                actix_rt::spawn(subscribe(
                    port,
                    path.clone(),
                    Arc::clone(&shared),
                    Some(Rc::clone(t)),
                ))
            })
            .collect();
        schedule_tx.send(schedule.clone()).map_err(|e| e.to_string())?;
        let connecting = Instant::now();
        while shared.connected.load(Ordering::Relaxed) + shared.refused.load(Ordering::Relaxed)
            < args.subscribers
            && connecting.elapsed() < Duration::from_secs(120)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let connect_s = connecting.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_after = rss_kib(pid);
        let connected = shared.connected.load(Ordering::Relaxed);

        acks.borrow_mut().clear();
        let cpu_before = (
            cpu_seconds(&pid.to_string()),
            cpu_seconds("self"),
            machine_busy_seconds(),
        );
        let (with_holds, with_failures) =
            hold_storm(&client, &base, &schedule, &tokens, args.seconds, &acks).await;
        let cpu_with = (
            cpu_seconds(&pid.to_string()) - cpu_before.0,
            cpu_seconds("self") - cpu_before.1,
            machine_busy_seconds() - cpu_before.2,
        );
        // Let the last events arrive.
        tokio::time::sleep(Duration::from_millis(500)).await;
        shared.stop.store(true, Ordering::Relaxed);
        for handle in sampled {
            let _ = handle.await;
        }
        let mut latencies = Vec::new();
        let mut unmatched = 0usize;
        {
            let acks = acks.borrow();
            for subscriber in &timed {
                let mut seen: HashMap<&str, usize> = HashMap::new();
                for (seat, read_at) in subscriber.borrow().iter() {
                    let k = seen.entry(seat.as_str()).or_default();
                    match acks.get(seat.as_str()).and_then(|times| times.get(*k)) {
                        Some(acked) => latencies.push(read_at.saturating_duration_since(*acked)),
                        None => unmatched += 1,
                    }
                    *k += 1;
                }
            }
        }
        latencies.sort();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (after_holds, after_failures) =
            hold_storm(&client, &base, &schedule, &tokens, args.seconds, &acks).await;

        let rate = |holds: u64| holds as f64 / args.seconds;
        let without = (rate(before_holds) + rate(after_holds)) / 2.0;
        Ok::<Value, String>(json!({
            "subscribers": {"asked": args.subscribers, "connected": connected,
                "refused": shared.refused.load(Ordering::Relaxed),
                "resets": shared.resets.load(Ordering::Relaxed), "connect_seconds": connect_s},
            "server_rss_kib": {"before": rss_before, "after": rss_after,
                "per_subscriber_bytes": if connected > 0 {
                    (rss_after.saturating_sub(rss_before) * 1024) as f64 / connected as f64
                } else { f64::NAN }},
            "holds_per_s": {"without_before": rate(before_holds), "with": rate(with_holds),
                "without_after": rate(after_holds),
                "with_over_without": rate(with_holds) / without},
            // CPU seconds per second of the storm with subscribers (2.0 = both cores).
            "cpu_per_s_with": {"server": cpu_with.0 / args.seconds,
                "harness": cpu_with.1 / args.seconds, "machine": cpu_with.2 / args.seconds},
            // The server's CPU per acknowledged hold (and its cancel): what a
            // busy machine does not change as much as the rates.
            "server_cpu_ms_per_hold": {
                "without": server_cpu_without * 1_000.0 / before_holds.max(1) as f64,
                "with": cpu_with.0 * 1_000.0 / with_holds.max(1) as f64},
            "hold_failures": {"before": before_failures, "with": with_failures, "after": after_failures},
            "fanout_latency_ms": {"samples": latencies.len(), "unmatched": unmatched,
                "p50": percentile(&latencies, 0.50), "p99": percentile(&latencies, 0.99),
                "max": percentile(&latencies, 1.0)},
            "holders": args.holders, "sampled": args.sampled, "seconds": args.seconds,
        }))
    })?;
    stopper.stop.store(true, Ordering::Relaxed);
    let _ = drainers.join();
    drop(server);
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
    );
    Ok(())
}
