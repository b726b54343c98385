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
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod bench_server;
#[allow(dead_code)] // shared with the `contention` binary, which uses all of it
mod system;

use bench_server::{hold_storm, set_up, Server, SetUp};

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

/// When each seat's holds were acknowledged, in order (seat id -> 201 times).
type Acks = Rc<RefCell<HashMap<String, Vec<Instant>>>>;

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
    let connections = args.subscribers + 1_024;
    system::raise_fd_limit(system::wanted_fd_limit(connections))?;
    let server = Server::start(
        &args.binary,
        "seat-fanout",
        ADMIN,
        &[
            "--max-connections-per-worker".into(),
            connections.to_string(),
        ],
    )?;
    let (port, pid, base) = (server.port, server.pid(), server.base_url());
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
        let SetUp {
            schedule,
            holder_tokens: tokens,
            ..
        } = set_up(&client, &base, ADMIN, "fanout", args.seats, args.holders).await?;
        let acks: Acks = Rc::default();
        let record_ack = {
            let acks = Rc::clone(&acks);
            move |body: &Value, acked: Instant| {
                if let Some(seat) = body["seats"][0]["seatId"].as_str() {
                    acks.borrow_mut()
                        .entry(seat.to_string())
                        .or_default()
                        .push(acked);
                }
            }
        };
        let storm = |seconds| hold_storm(&client, &base, &schedule, &tokens, seconds, record_ack.clone());
        // Warm-up, then without subscribers.
        storm(1.0).await;
        let server_cpu_start = cpu_seconds(&pid.to_string());
        let before = storm(args.seconds).await;
        let server_cpu_without = cpu_seconds(&pid.to_string()) - server_cpu_start;

        let rss_before = system::rss_kib_of(pid).unwrap_or(0);
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
        let rss_after = system::rss_kib_of(pid).unwrap_or(0);
        let connected = shared.connected.load(Ordering::Relaxed);

        acks.borrow_mut().clear();
        let cpu_before = (
            cpu_seconds(&pid.to_string()),
            cpu_seconds("self"),
            machine_busy_seconds(),
        );
        let with = storm(args.seconds).await;
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
        let after = storm(args.seconds).await;

        let rate = |holds: u64| holds as f64 / args.seconds;
        let without = (rate(before.holds) + rate(after.holds)) / 2.0;
        Ok::<Value, String>(json!({
            "subscribers": {"asked": args.subscribers, "connected": connected,
                "refused": shared.refused.load(Ordering::Relaxed),
                "resets": shared.resets.load(Ordering::Relaxed), "connect_seconds": connect_s},
            "server_rss_kib": {"before": rss_before, "after": rss_after,
                "per_subscriber_bytes": if connected > 0 {
                    (rss_after.saturating_sub(rss_before) * 1024) as f64 / connected as f64
                } else { f64::NAN }},
            "holds_per_s": {"without_before": rate(before.holds), "with": rate(with.holds),
                "without_after": rate(after.holds),
                "with_over_without": rate(with.holds) / without},
            // CPU seconds per second of the storm with subscribers (2.0 = both cores).
            "cpu_per_s_with": {"server": cpu_with.0 / args.seconds,
                "harness": cpu_with.1 / args.seconds, "machine": cpu_with.2 / args.seconds},
            // The server's CPU per acknowledged hold (and its cancel): what a
            // busy machine does not change as much as the rates.
            "server_cpu_ms_per_hold": {
                "without": server_cpu_without * 1_000.0 / before.holds.max(1) as f64,
                "with": cpu_with.0 * 1_000.0 / with.holds.max(1) as f64},
            "hold_failures": {"before": before.failures, "with": with.failures, "after": after.failures},
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
