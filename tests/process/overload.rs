//! Overload and slow clients: the server sheds what it cannot take, and a
//! client that is slow or stalls cannot hold on to its resources.
//!
//! - `past_the_in_flight_bound_holds_get_503_with_retry_after`: in-process app
//!   with the smallest in-flight bound (1,024 per actor) and one HTTP worker;
//!   waves of 5,000 concurrent holds on one schedule. Some must be answered
//!   503 UNAVAILABLE (error shape, Retry-After) by the in-flight bound, none
//!   any other 5xx, and the server is healthy afterwards. The process-wide
//!   load-shedding limit is lifted here, so the per-actor bound is the one hit.
//! - `past_the_process_wide_limit_requests_get_503_before_any_work`:
//!   in-process app with a load-shedding limit of 64; two waves of 3,000
//!   concurrent holds. Refusals are 503 UNAVAILABLE from load shedding
//!   (its message, the error shape, Retry-After), nothing else but 201/409,
//!   `/healthz` probes sent during the flood are all 200 (exempt), and a new
//!   hold succeeds afterwards. Latencies are printed, not asserted, both as
//!   the flooding client sees them and from a separate keep-alive client.
//! - `overload_at_twice_capacity_keeps_memory_bounded_and_stays_healthy`: the
//!   real binary; a closed-loop warm-up measures capacity (hold + cancel
//!   cycles on one schedule) and the RSS peak, then an open-loop load at twice
//!   that rate for `BOXOFFICE_OVERLOAD_SECS` (default 10 s; the run is
//!   60 s). Reports the accepted requests' p50/p99 and RSS; asserts only that
//!   no 5xx other than 503 was answered, memory stayed bounded (criterion
//!   below) and the server is healthy afterwards.
//! - `slow_headers_are_cut_off_and_their_connections_released`: the real
//!   binary; clients that send their request head a byte at a time get 408
//!   and are disconnected by `client_request_timeout`, while other clients are
//!   served; the server's open file descriptors return to where they were.
//! - `a_stalled_body_is_timed_out`: a client that announces a 60 KiB body and
//!   stalls is answered 408 and disconnected after the body read timeout (10 s).

use crate::binary::{one_at_a_time, set_up_concert, user_token, ConcertPlan, Credentials, Server};
use awc::http::StatusCode;
use boxoffice_actors::Role;
use boxoffice_engine::ids::{ScheduleId, UserId};
use boxoffice_http::load_shedding::SHED_MESSAGE;
use boxoffice_http::settings::MAX_IN_FLIGHT_REQUESTS_RANGE;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};
use test_support::app::*;

/// Concurrent holds per wave in the 503 test (scaled down if the process
/// may not open that many sockets: each needs two descriptors in-process).
const FLOOD: usize = 5_000;
/// actix-web's own `max_connections` per worker (before the server set one).
const ACTIX_DEFAULT_MAX_CONNECTIONS: usize = 25_000;
/// At most this many waves before the 503 test gives up.
const MAX_WAVES: usize = 6;
/// API.md: the message of a 503 from the in-flight bound (vs. the engine timeout's).
const OVERLOADED: &str = "overloaded or restarting: try again";

const CREDENTIALS: Credentials = Credentials {
    secret: "overload-secret-0123456789abcdef",
    admin_email: "admin@overload.test",
    admin_password: "process-admin-passphrase",
};
/// One schedule of 20 rows x 50 seats.
const CONCERT: ConcertPlan = ConcertPlan {
    title: "Overload",
    rows: 20,
    seats_per_row: 50,
    schedules: 1,
    price: 1_000,
};
/// Default overload duration (CI); `BOXOFFICE_OVERLOAD_SECS` overrides, up to `MAX_OVERLOAD_SECS`.
const DEFAULT_OVERLOAD_SECS: u64 = 10;
const MAX_OVERLOAD_SECS: u64 = 600;
/// The closed-loop warm-up that measures capacity.
const WARMUP: Duration = Duration::from_secs(5);
const WARMUP_CLIENTS: usize = 64;
/// The open-loop generator never has more cycles outstanding than this; an
/// arrival past it is counted as not sent (the client's own bound).
const MAX_OUTSTANDING: usize = 4_000;
/// Arrivals are released in ticks of this length.
const TICK: Duration = Duration::from_millis(10);
/// After the load stops, outstanding requests must finish within this.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// A cancel answered 503 is sent again after this (the server's Retry-After),
/// at most `CANCEL_ATTEMPTS` times in all.
const CANCEL_RETRY_AFTER: Duration = Duration::from_secs(1);
const CANCEL_ATTEMPTS: usize = 10;
/// Memory criterion: the overload runs as two identical phases; RSS after
/// both (drained) must stay below this × the peak RSS of the first: a second
/// round of the same overload may not need as much memory again.
const RSS_GROWTH_LIMIT: u64 = 2;

/// Slow clients: how many trickle their head, and one byte every this often.
const SLOW_CLIENTS: usize = 32;
const SLOW_BYTE_EVERY: Duration = Duration::from_millis(250);
/// The server's client_request_timeout (http/src/startup.rs) is 10 s; a slow
/// client must be cut off well before this.
const SLOW_DEADLINE: Duration = Duration::from_secs(25);

// ------------------------------------------------------------ helpers

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// The soft limit on open files of this process.
fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        })
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(1_024)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

// ------------------------------------------------------------ 503 past the bound

/// One flood answer: status (0: none, the connection failed), body,
/// Retry-After, latency.
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<String>,
    latency: Duration,
}

async fn flood_wave(
    client: &awc::Client,
    app: &TestApp,
    schedule: &str,
    wave: usize,
    size: usize,
) -> Vec<Answer> {
    let requests = (0..size).map(|n| {
        let token = app.token_for(UserId::from_random_bytes(rand::random()), Role::User);
        let url = format!("{}/api/v1/reservations", app.base);
        let body = json!({"scheduleId": schedule, "quantity": 1});
        async move {
            let started = Instant::now();
            let sent = client
                .post(url)
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("Idempotency-Key", format!("flood-{wave}-{n}")))
                .send_json(&body)
                .await;
            let failed = |err: String| Answer {
                status: 0,
                body: Value::String(err),
                retry_after: None,
                latency: started.elapsed(),
            };
            let mut response = match sent {
                Ok(response) => response,
                Err(err) => return failed(err.to_string()),
            };
            let bytes = match response.body().limit(1 << 20).await {
                Ok(bytes) => bytes,
                Err(err) => return failed(err.to_string()),
            };
            Answer {
                status: response.status().as_u16(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                retry_after: response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                latency: started.elapsed(),
            }
        }
    });
    join_all(requests).await
}

#[test]
fn past_the_in_flight_bound_holds_get_503_with_retry_after() {
    let _heavy = one_at_a_time();
    actix_rt::System::new()
        .block_on(past_the_in_flight_bound_holds_get_503_with_retry_after_body());
}

async fn past_the_in_flight_bound_holds_get_503_with_retry_after_body() {
    // One HTTP worker: a reply that is ready keeps its permit until the busy
    // worker polls its request again, so the bound is reached in the first
    // wave or two. With the default two workers it is reached too, but in
    // measurements here some waves stayed under it; with four, none passed it.
    // The process-wide load-shedding limit is lifted so the per-actor bound is
    // the one reached (the other is tested below), and so is the connection
    // bound (back to actix's default), so all 5,000 connections are accepted.
    let app = spawn_app_with(|s| {
        s.engine.in_flight_per_actor = 1_024;
        s.workers = 1;
        s.max_in_flight_requests = *MAX_IN_FLIGHT_REQUESTS_RANGE.end();
        s.max_connections_per_worker = ACTIX_DEFAULT_MAX_CONNECTIONS;
    })
    .await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let size = FLOOD.min(open_files_limit().saturating_sub(256) / 2);
    assert!(size > 2_048, "too few file descriptors for a flood: {size}");
    // Idle connections are dropped before the server's 5 s keep-alive would
    // close them under the client's feet.
    let client = awc::Client::builder()
        .connector(
            awc::Connector::new()
                .limit(0)
                .conn_keep_alive(Duration::from_secs(4))
                .timeout(Duration::from_secs(30)),
        )
        .timeout(Duration::from_secs(60))
        .finish();

    let mut refused: Vec<Answer> = Vec::new();
    let mut client_errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    let mut latencies: BTreeMap<u16, Vec<Duration>> = BTreeMap::new();
    // The first wave also opens the connections; later waves reuse them and
    // arrive in a tighter burst. Stop at the first wave that saw a 503.
    for wave in 0..MAX_WAVES {
        let answers = flood_wave(&client, &app, &schedule, wave, size).await;
        for answer in answers {
            *counts.entry(answer.status).or_default() += 1;
            latencies
                .entry(answer.status)
                .or_default()
                .push(answer.latency);
            if answer.status == 503 {
                refused.push(answer);
            } else if answer.status == 0 {
                *client_errors.entry(answer.body.to_string()).or_default() += 1;
            } else {
                assert!(
                    answer.status == 201 || answer.status == 409,
                    "unexpected answer to a flood hold: {} {}",
                    answer.status,
                    answer.body
                );
            }
        }
        eprintln!("wave {wave}: {counts:?} (0: no answer: {client_errors:?})");
        if !refused.is_empty() {
            break;
        }
    }
    assert!(
        !refused.is_empty(),
        "{MAX_WAVES} waves of {size} holds never passed the in-flight bound: {counts:?}"
    );
    // A flood of fresh connections can see a few resets (accept queue
    // overflow, a pooled connection closed by the server's keep-alive timer);
    // they are not answers, but they must stay rare.
    let sent: usize = counts.values().sum();
    let no_answer = counts.get(&0).copied().unwrap_or(0);
    assert!(
        no_answer * 20 < sent,
        "{no_answer} of {sent} flood requests got no answer: {client_errors:?}"
    );
    for answer in &refused {
        let body = &answer.body;
        assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
        assert_eq!(
            body["error"]["message"], OVERLOADED,
            "a refusal by the in-flight bound, not a timeout: {body}"
        );
        assert!(body["requestId"].is_string(), "{body}");
        assert_eq!(answer.retry_after.as_deref(), Some("1"), "{body}");
    }
    for list in latencies.values_mut() {
        list.sort();
    }
    for (status, list) in &latencies {
        eprintln!(
            "status {status}: {} answers, latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            list.len(),
            ms(percentile(list, 0.50)),
            ms(percentile(list, 0.99)),
            ms(percentile(list, 1.0))
        );
    }

    // Healthy afterwards: probes answer, the bound is released, new work is served.
    let id = ScheduleId::parse(&schedule).expect("schedule id");
    let handle = app.registry.schedule(id).expect("schedule");
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.actor.in_flight() > 0 {
        assert!(Instant::now() < deadline, "in-flight permits leaked");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    app.get("/healthz", None).await.expect(200, "");
    app.get("/readyz", None).await.expect(200, "");
    let (_, fresh) = app.create_concert(&admin, None, 300).await;
    let (_, token) = app.register_and_login("after-flood").await;
    app.post_keyed(
        "/api/v1/reservations",
        &token,
        json!({"scheduleId": fresh, "quantity": 1}),
    )
    .await
    .expect(201, "");
}

// ------------------------------------------------------------ 503 past the process-wide limit

/// The load-shedding limit in the process-wide test: far below the flood, so
/// most of it is refused.
const SMALL_SHEDDING_LIMIT: usize = 64;
/// Concurrent requests in that flood (scaled down like `FLOOD`).
const SHEDDING_FLOOD: usize = 3_000;
/// Probes of `/healthz` sent in the middle of that flood.
const FLOOD_PROBES: usize = 50;

#[test]
fn past_the_process_wide_limit_requests_get_503_before_any_work() {
    let _heavy = one_at_a_time();
    actix_rt::System::new().block_on(past_the_process_wide_limit_body());
}

async fn past_the_process_wide_limit_body() {
    let app = spawn_app_with(|s| s.max_in_flight_requests = SMALL_SHEDDING_LIMIT).await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 300).await;
    let size = SHEDDING_FLOOD.min(open_files_limit().saturating_sub(256) / 2);
    assert!(
        size > 4 * SMALL_SHEDDING_LIMIT,
        "too few file descriptors: {size}"
    );
    let client = awc::Client::builder()
        .connector(
            awc::Connector::new()
                .limit(0)
                .conn_keep_alive(Duration::from_secs(4))
                .timeout(Duration::from_secs(30)),
        )
        .timeout(Duration::from_secs(60))
        .finish();
    // Two waves: the first also opens the connections, the second reuses
    // them, so its latencies are closer to the server's own. Health probes
    // race the second: exempt paths must never be refused.
    let mut refused = 0;
    let addr = app
        .base
        .strip_prefix("http://")
        .expect("http base")
        .to_string();
    let (_, probe_token) = app.register_and_login("shedding-probe").await;
    for wave in 0..2 {
        // A client of its own, on a connection opened before the flood: its
        // latencies are the server's (queueing included), not the flooding
        // client's, which shares this thread with 3,000 requests.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let timed = {
            let (addr, token, schedule, stop) = (
                addr.clone(),
                probe_token.clone(),
                schedule.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || timed_holds(&addr, &token, &schedule, wave, &stop))
        };
        let probes = (0..FLOOD_PROBES).map(|_| {
            let (client, url) = (&client, format!("{}/healthz", app.base));
            async move {
                let started = Instant::now();
                let status = match client.get(url).send().await {
                    Ok(response) => response.status().as_u16(),
                    Err(_) => 0,
                };
                (status, started.elapsed())
            }
        });
        let (answers, probes) = futures_util::join!(
            flood_wave(&client, &app, &schedule, wave, size),
            join_all(probes)
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        refused += check_shedding_wave(wave, size, &answers);
        let mut timed = timed.join().expect("timed client");
        timed.sort();
        for status in [201, 409, 503] {
            let list: Vec<Duration> = timed
                .iter()
                .filter(|(s, _)| *s == status)
                .map(|(_, l)| *l)
                .collect();
            if !list.is_empty() {
                eprintln!(
                    "shedding wave {wave}: separate keep-alive client: status {status}: {} answers, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                    list.len(),
                    ms(percentile(&list, 0.50)),
                    ms(percentile(&list, 0.99)),
                    ms(percentile(&list, 1.0))
                );
            }
        }
        let mut probe_latency: Vec<Duration> = probes.iter().map(|(_, l)| *l).collect();
        probe_latency.sort();
        eprintln!(
            "shedding wave {wave}: {} /healthz probes during it, p50 {:.0} ms, max {:.0} ms",
            probes.len(),
            ms(percentile(&probe_latency, 0.50)),
            ms(percentile(&probe_latency, 1.0))
        );
        assert!(
            probes.iter().all(|(status, _)| *status == 200),
            "health probes refused or failed during the flood: {probes:?}"
        );
    }
    assert!(
        refused > 0,
        "{size} concurrent holds never passed a limit of {SMALL_SHEDDING_LIMIT}"
    );

    // Healthy afterwards: new work is admitted and served.
    app.get("/readyz", None).await.expect(200, "");
    let (_, fresh) = app.create_concert(&admin, None, 300).await;
    let (_, token) = app.register_and_login("after-shedding-flood").await;
    app.post_keyed(
        "/api/v1/reservations",
        &token,
        json!({"scheduleId": fresh, "quantity": 1}),
    )
    .await
    .expect(201, "");
}

/// Holds sent one at a time on one keep-alive connection until `stop`:
/// (status, latency) of each, sorted by status then latency.
fn timed_holds(
    addr: &str,
    token: &str,
    schedule: &str,
    wave: usize,
    stop: &std::sync::atomic::AtomicBool,
) -> Vec<(u16, Duration)> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut timed = Vec::new();
    for n in 0.. {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let body = json!({"scheduleId": schedule, "quantity": 1}).to_string();
        let request = format!(
            "POST /api/v1/reservations HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {token}\r\n\
             Idempotency-Key: probe-{wave}-{n}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let started = Instant::now();
        stream.write_all(request.as_bytes()).expect("send");
        let status = read_response_status(&mut stream);
        timed.push((status, started.elapsed()));
        std::thread::sleep(Duration::from_millis(20));
    }
    timed
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns its status.
fn read_response_status(stream: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .expect("content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("response body");
    status
}

/// Checks one wave's answers (201, 409, or 503 from load shedding in the
/// error shape with Retry-After; rare connection failures), prints latency by
/// status, and returns how many were refused.
fn check_shedding_wave(wave: usize, size: usize, answers: &[Answer]) -> usize {
    let mut latencies: BTreeMap<u16, Vec<Duration>> = BTreeMap::new();
    let mut client_errors: BTreeMap<String, usize> = BTreeMap::new();
    for answer in answers {
        latencies
            .entry(answer.status)
            .or_default()
            .push(answer.latency);
        match answer.status {
            0 => *client_errors.entry(answer.body.to_string()).or_default() += 1,
            503 => {
                let body = &answer.body;
                assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
                assert_eq!(body["error"]["message"], SHED_MESSAGE, "{body}");
                assert!(body["requestId"].is_string(), "{body}");
                assert_eq!(answer.retry_after.as_deref(), Some("1"), "{body}");
            }
            status => assert!(
                status == 201 || status == 409,
                "unexpected answer to a flood hold: {status} {}",
                answer.body
            ),
        }
    }
    for (status, list) in latencies.iter_mut() {
        list.sort();
        eprintln!(
            "shedding wave {wave} (limit {SMALL_SHEDDING_LIMIT}, {size} concurrent holds): status {status}: {} answers, latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            list.len(),
            ms(percentile(list, 0.50)),
            ms(percentile(list, 0.99)),
            ms(percentile(list, 1.0))
        );
    }
    let no_answer = latencies.get(&0).map_or(0, Vec::len);
    assert!(
        no_answer * 20 < answers.len(),
        "{no_answer} of {} flood requests got no answer: {client_errors:?}",
        answers.len()
    );
    latencies.get(&503).map_or(0, Vec::len)
}

// ------------------------------------------------------------ the real binary

/// `boxoffice serve` on `<dir>/data`, its stderr in `dir`.
fn start_server(dir: &Path) -> Server {
    Server::start(&dir.join("data"), dir, &CREDENTIALS)
}

/// The schedule of [`CONCERT`].
async fn set_up_schedule(client: &awc::Client, base: &str) -> String {
    set_up_concert(client, base, &CREDENTIALS, &CONCERT)
        .await
        .remove(0)
}

/// What one load phase saw.
#[derive(Default)]
struct Tally {
    /// Answers by status, holds and cancels together.
    statuses: BTreeMap<u16, usize>,
    /// Latency of accepted requests (any answer but 503), from the moment the
    /// request was due (open loop) or sent (closed loop).
    accepted: Vec<Duration>,
    /// Requests with no answer at all (client timeout or connection error).
    failed: usize,
    /// Why requests got no answer, and how often.
    errors: BTreeMap<String, usize>,
    /// 503 answers by message (load shedding, the in-flight bound or the engine's timeout).
    unavailable: BTreeMap<String, usize>,
    /// Open loop: arrivals not sent because `MAX_OUTSTANDING` cycles were out.
    not_sent: usize,
    cycles_done: usize,
}

impl Tally {
    fn requests(&self) -> usize {
        self.statuses.values().sum()
    }
}

/// One hold-then-cancel cycle; every answer is tallied. `due` is when the
/// cycle should have started (latency counts from then: no coordinated omission).
async fn cycle(
    client: &awc::Client,
    base: &str,
    schedule: &str,
    token: &str,
    key: String,
    due: Instant,
    tally: &RefCell<Tally>,
) {
    let hold = client
        .post(format!("{base}/api/v1/reservations"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Idempotency-Key", key))
        .send_json(&json!({"scheduleId": schedule, "quantity": 1}))
        .await;
    let reservation = match hold {
        Ok(mut response) => {
            let status = response.status();
            let body: Value = response
                .body()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            record(tally, status, due.elapsed());
            if status == StatusCode::SERVICE_UNAVAILABLE {
                let message = body["error"]["message"].as_str().unwrap_or("").to_string();
                *tally.borrow_mut().unavailable.entry(message).or_default() += 1;
            }
            (status == StatusCode::CREATED)
                .then(|| body["reservationId"].as_str().map(str::to_owned))
                .flatten()
        }
        Err(err) => {
            failed(tally, &err);
            None
        }
    };
    if let Some(reservation) = reservation {
        // A refused cancel is retried after its Retry-After, as a client
        // would: otherwise the hold keeps its seat until it expires and the
        // schedule fills up with holds nobody wants.
        for attempt in 0..CANCEL_ATTEMPTS {
            let sent = Instant::now();
            let response = client
                .post(format!("{base}/api/v1/reservations/{reservation}/cancel"))
                .insert_header(("Authorization", format!("Bearer {token}")))
                .send()
                .await;
            let mut response = match response {
                Ok(response) => response,
                Err(err) => {
                    failed(tally, &err);
                    break;
                }
            };
            let body: Value = response
                .body()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            record(tally, response.status(), sent.elapsed());
            if response.status() != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            let message = body["error"]["message"].as_str().unwrap_or("");
            let key = format!("cancel: {message}");
            *tally.borrow_mut().unavailable.entry(key).or_default() += 1;
            if attempt + 1 < CANCEL_ATTEMPTS {
                actix_rt::time::sleep(CANCEL_RETRY_AFTER).await;
            }
        }
    }
    tally.borrow_mut().cycles_done += 1;
}

fn failed(tally: &RefCell<Tally>, error: &awc::error::SendRequestError) {
    let mut tally = tally.borrow_mut();
    tally.failed += 1;
    *tally.errors.entry(error.to_string()).or_default() += 1;
}

fn record(tally: &RefCell<Tally>, status: StatusCode, latency: Duration) {
    let mut tally = tally.borrow_mut();
    *tally.statuses.entry(status.as_u16()).or_default() += 1;
    if status != StatusCode::SERVICE_UNAVAILABLE {
        tally.accepted.push(latency);
    }
}

/// Samples the server's RSS every 100 ms until `stop`; returns the peak (KiB).
fn sample_rss(pid: u32, stop: Rc<RefCell<bool>>) -> actix_rt::task::JoinHandle<u64> {
    actix_rt::spawn(async move {
        let mut peak = 0;
        while !*stop.borrow() {
            peak = peak.max(rss_kib(pid));
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    })
}

fn overload_secs() -> u64 {
    match std::env::var("BOXOFFICE_OVERLOAD_SECS") {
        Ok(text) => text
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=MAX_OVERLOAD_SECS).contains(s))
            .unwrap_or_else(|| {
                panic!("BOXOFFICE_OVERLOAD_SECS must be 1-{MAX_OVERLOAD_SECS}, got {text:?}")
            }),
        Err(_) => DEFAULT_OVERLOAD_SECS,
    }
}

#[test]
fn overload_at_twice_capacity_keeps_memory_bounded_and_stays_healthy() {
    let _heavy = one_at_a_time();
    actix_rt::System::new()
        .block_on(overload_at_twice_capacity_keeps_memory_bounded_and_stays_healthy_body());
}

async fn overload_at_twice_capacity_keeps_memory_bounded_and_stays_healthy_body() {
    let secs = overload_secs();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start_server(dir.path());
    let pid = server.pid();
    let base = server.base.clone();
    let keys = CREDENTIALS.keys();
    let client = awc::Client::builder()
        .connector(
            awc::Connector::new()
                .limit(0)
                .timeout(Duration::from_secs(30)),
        )
        .timeout(Duration::from_secs(30))
        .finish();
    let schedule = set_up_schedule(&client, &base).await;
    let rss_start = rss_kib(pid);

    // Warm-up: a closed loop measures capacity (cycles per second).
    let tokens: Vec<String> = (0..WARMUP_CLIENTS)
        .map(|_| user_token(&keys, UserId::from_random_bytes(rand::random())))
        .collect();
    let warm = Rc::new(RefCell::new(Tally::default()));
    let stop = Rc::new(RefCell::new(false));
    let warm_peak = sample_rss(pid, Rc::clone(&stop));
    let started = Instant::now();
    let loops = tokens.iter().enumerate().map(|(n, token)| {
        let (client, base, schedule, warm) = (&client, &base, &schedule, &warm);
        async move {
            for i in 0.. {
                if started.elapsed() >= WARMUP {
                    break;
                }
                let key = format!("warm-{n}-{i}");
                cycle(client, base, schedule, token, key, Instant::now(), warm).await;
            }
        }
    });
    join_all(loops).await;
    let warm_elapsed = started.elapsed();
    *stop.borrow_mut() = true;
    let rss_warm_peak = warm_peak.await.expect("rss sampler");
    let warm = warm.take();
    let capacity = warm.cycles_done as f64 / warm_elapsed.as_secs_f64();
    let request_capacity = warm.requests() as f64 / warm_elapsed.as_secs_f64();
    assert!(
        capacity > 1.0,
        "the warm-up made no progress: {:?}",
        warm.statuses
    );

    // Overload: open loop at twice the measured cycle rate, in two identical
    // phases with a drain between; the first is the reference for memory.
    let target = 2.0 * capacity;
    let overload_tokens: Vec<String> = (0..1_000)
        .map(|_| user_token(&keys, UserId::from_random_bytes(rand::random())))
        .collect();
    let phase_length = Duration::from_millis(secs * 500);
    let load = Load {
        client: &client,
        base: &base,
        schedule: &schedule,
        tokens: &overload_tokens,
        pid,
    };
    let first = load.open_loop(0, target, phase_length).await;
    let second = load.open_loop(1, target, phase_length).await;
    actix_rt::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_kib(pid);

    // Healthy afterwards, to a new client.
    server.assert_alive("during the overload");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let probe = Instant::now();
    for path in ["/healthz", "/readyz"] {
        let response = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("probe");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path} after the overload"
        );
    }
    // On a new schedule: holds whose cancel was refused with 503 keep their
    // seats until they expire, so the loaded one may be full.
    let probes_took = probe.elapsed();
    let fresh = set_up_schedule(&client, &base).await;
    let probe_hold = Instant::now();
    let after = RefCell::new(Tally::default());
    let token = user_token(&keys, UserId::from_random_bytes(rand::random()));
    let key = "after-overload".to_string();
    cycle(&client, &base, &fresh, &token, key, Instant::now(), &after).await;
    let after = after.take();
    assert_eq!(
        after.statuses.get(&201).copied(),
        Some(1),
        "a hold after the overload: {:?}",
        after.statuses
    );
    // The probes and the hold, not the set-up of the new schedule.
    let probe_latency = probes_took + probe_hold.elapsed();

    let phases = [&first, &second];
    let mut accepted: Vec<Duration> = phases
        .iter()
        .flat_map(|p| p.tally.accepted.iter().copied())
        .collect();
    accepted.sort();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for phase in phases {
        for (status, n) in &phase.tally.statuses {
            *statuses.entry(*status).or_default() += n;
        }
    }
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut unavailable: BTreeMap<String, usize> = BTreeMap::new();
    for phase in phases {
        for (why, n) in &phase.tally.errors {
            *errors.entry(why.clone()).or_default() += n;
        }
        for (why, n) in &phase.tally.unavailable {
            *unavailable.entry(why.clone()).or_default() += n;
        }
    }
    let sum = |f: fn(&Phase) -> usize| -> usize { phases.iter().map(|p| f(p)).sum() };
    println!(
        "overload: capacity {capacity:.0} cycles/s ({request_capacity:.0} requests/s; closed loop, {WARMUP_CLIENTS} clients, {:.1} s, RSS peak {rss_warm_peak} KiB); \
         offered {target:.0} cycles/s (hold + cancel) for 2 x {:.1} s: {} arrivals, {} not sent (client bound {MAX_OUTSTANDING} outstanding), \
         {} answers {statuses:?} (503 by message: {unavailable:?}), {} without answer {errors:?}; accepted p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; drained in {:.1} s and {:.1} s; \
         RSS start {rss_start} KiB, peak in phase 1 {} KiB, in phase 2 {} KiB, after {rss_after} KiB; healthy after ({:.0} ms for probes and a hold)",
        warm_elapsed.as_secs_f64(),
        phase_length.as_secs_f64(),
        sum(|p| p.arrivals),
        sum(|p| p.tally.not_sent),
        statuses.values().sum::<usize>(),
        sum(|p| p.tally.failed),
        ms(percentile(&accepted, 0.50)),
        ms(percentile(&accepted, 0.99)),
        ms(percentile(&accepted, 1.0)),
        first.drained_in.as_secs_f64(),
        second.drained_in.as_secs_f64(),
        first.rss_peak,
        second.rss_peak,
        ms(probe_latency),
    );
    let fivexx: usize = statuses
        .iter()
        .filter(|(s, _)| **s >= 500 && **s != 503)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(fivexx, 0, "5xx other than 503: {statuses:?}");
    assert!(!accepted.is_empty(), "the overload got no answers");
    assert!(
        rss_after < RSS_GROWTH_LIMIT * first.rss_peak,
        "memory grew without bound: {rss_after} KiB after two overload phases vs a peak of {} KiB in the first",
        first.rss_peak
    );
}

/// What one open-loop phase saw.
struct Phase {
    tally: Tally,
    arrivals: usize,
    rss_peak: u64,
    drained_in: Duration,
}

/// The open-loop load generator against one server.
struct Load<'a> {
    client: &'a awc::Client,
    base: &'a str,
    schedule: &'a str,
    tokens: &'a [String],
    pid: u32,
}

impl Load<'_> {
    /// Starts hold-then-cancel cycles at `rate` per second for `length`, never
    /// more than `MAX_OUTSTANDING` at once, then waits for every one to end.
    async fn open_loop(&self, phase: usize, rate: f64, length: Duration) -> Phase {
        let tally = Rc::new(RefCell::new(Tally::default()));
        let outstanding = Rc::new(RefCell::new(0usize));
        let stop = Rc::new(RefCell::new(false));
        let peak = sample_rss(self.pid, Rc::clone(&stop));
        let started = Instant::now();
        let mut due_total = 0usize;
        let mut ticker = actix_rt::time::interval(TICK);
        while started.elapsed() < length {
            ticker.tick().await;
            let due_now = (started.elapsed().as_secs_f64() * rate) as usize;
            for n in due_total..due_now {
                if *outstanding.borrow() >= MAX_OUTSTANDING {
                    tally.borrow_mut().not_sent += 1;
                    continue;
                }
                *outstanding.borrow_mut() += 1;
                let client = self.client.clone();
                let (base, schedule) = (self.base.to_string(), self.schedule.to_string());
                let token = self.tokens[n % self.tokens.len()].clone();
                let (tally, outstanding) = (Rc::clone(&tally), Rc::clone(&outstanding));
                let due = Instant::now();
                actix_rt::spawn(async move {
                    let key = format!("over-{phase}-{n}");
                    cycle(&client, &base, &schedule, &token, key, due, &tally).await;
                    *outstanding.borrow_mut() -= 1;
                });
            }
            due_total = due_now;
        }
        let drain_started = Instant::now();
        while *outstanding.borrow() > 0 {
            assert!(
                drain_started.elapsed() < DRAIN_TIMEOUT,
                "{} cycles still outstanding after {DRAIN_TIMEOUT:?}",
                outstanding.borrow()
            );
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        let drained_in = drain_started.elapsed();
        *stop.borrow_mut() = true;
        let rss_peak = peak.await.expect("rss sampler");
        let mut tally = tally.take();
        tally.accepted.sort();
        Phase {
            tally,
            arrivals: due_total,
            rss_peak,
            drained_in,
        }
    }
}

// ------------------------------------------------------------ slow clients

/// How a slow client's connection ended.
#[derive(Debug)]
enum Ending {
    /// The server answered (e.g. 408) after this long.
    Answered(Duration, String),
    /// The server closed the connection after this long.
    Closed(Duration),
    /// Still open at the deadline.
    Open,
}

/// Sends a request head one byte at a time, never finishing it within
/// `SLOW_DEADLINE`; returns how the server ended it.
fn trickle_head(addr: &str) -> Ending {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(5)))
        .expect("read timeout");
    let padding = "a".repeat(1_000);
    let head = format!("GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Padding: {padding}\r\n\r\n");
    let started = Instant::now();
    for byte in head.bytes() {
        if started.elapsed() > SLOW_DEADLINE {
            return Ending::Open;
        }
        if stream.write_all(&[byte]).is_err() {
            return Ending::Closed(started.elapsed());
        }
        if let Some(ending) = read_ending(&mut stream, started) {
            return ending;
        }
        std::thread::sleep(SLOW_BYTE_EVERY);
    }
    panic!("the whole head was sent: make it longer than SLOW_DEADLINE / SLOW_BYTE_EVERY bytes");
}

fn read_ending(stream: &mut TcpStream, started: Instant) -> Option<Ending> {
    let mut buffer = [0u8; 1_024];
    match stream.read(&mut buffer) {
        Ok(0) => Some(Ending::Closed(started.elapsed())),
        Ok(n) => {
            let text = String::from_utf8_lossy(&buffer[..n]);
            let first_line = text.lines().next().unwrap_or("").to_string();
            Some(Ending::Answered(started.elapsed(), first_line))
        }
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            None
        }
        Err(_) => Some(Ending::Closed(started.elapsed())),
    }
}

/// Waits until the server's descriptor count is back to at most `limit`.
fn fds_settle(pid: u32, limit: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = open_fds(pid);
        if now <= limit || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn slow_headers_are_cut_off_and_their_connections_released() {
    let _heavy = one_at_a_time();
    actix_rt::System::new()
        .block_on(slow_headers_are_cut_off_and_their_connections_released_body());
}

async fn slow_headers_are_cut_off_and_their_connections_released_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_server(dir.path());
    let pid = server.pid();
    let addr = server
        .base
        .strip_prefix("http://")
        .expect("http base")
        .to_string();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    // One served request first, so the baseline has the workers' steady state.
    let response = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    let baseline = open_fds(pid);

    let slow: Vec<_> = (0..SLOW_CLIENTS)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || trickle_head(&addr))
        })
        .collect();
    // Meanwhile other clients are served.
    actix_rt::time::sleep(Duration::from_secs(1)).await;
    let during = open_fds(pid);
    let mut served = 0;
    let mut slowest = Duration::ZERO;
    let keys = CREDENTIALS.keys();
    let token = user_token(&keys, UserId::from_random_bytes(rand::random()));
    while slow.iter().any(|t| !t.is_finished()) {
        let sent = Instant::now();
        let mut response = client
            .get(format!("{}/api/v1/wallet", server.base))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .send()
            .await
            .expect("a normal client is served while slow ones trickle");
        let _ = response.body().await;
        assert_eq!(response.status(), StatusCode::OK);
        slowest = slowest.max(sent.elapsed());
        served += 1;
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    let endings: Vec<Ending> = slow
        .into_iter()
        .map(|t| t.join().expect("slow client"))
        .collect();
    let mut cut_after = Vec::new();
    for ending in &endings {
        match ending {
            Ending::Answered(after, line) => {
                assert!(line.contains("408"), "a slow head gets 408, got {line:?}");
                cut_after.push(*after);
            }
            Ending::Closed(after) => cut_after.push(*after),
            Ending::Open => panic!("a slow client was still connected after {SLOW_DEADLINE:?}"),
        }
    }
    cut_after.sort();
    // Our ends are closed now (the threads dropped their sockets): the server's must be too.
    let after = fds_settle(pid, baseline);
    println!(
        "slow headers: {SLOW_CLIENTS} clients sending a byte every {SLOW_BYTE_EVERY:?} cut off after {:.1}-{:.1} s ({:?}); \
         {served} normal requests served meanwhile (slowest {:.0} ms); server fds {baseline} before, {during} during, {after} after",
        cut_after[0].as_secs_f64(),
        cut_after[cut_after.len() - 1].as_secs_f64(),
        endings.first(),
        slowest.as_secs_f64() * 1_000.0,
    );
    assert!(served > 0);
    assert!(
        during >= baseline + SLOW_CLIENTS * 3 / 4,
        "the slow connections were open on the server ({during} fds vs {baseline})"
    );
    assert!(
        after <= baseline,
        "the server kept descriptors of cut-off clients: {after} vs {baseline}"
    );
}

/// KNOWN DEFECT (see RELIABILITY.md, "Slow clients"): actix-web's
/// `client_request_timeout` covers the request head only; nothing bounds the
/// time to read a body, so a client that announces 60 KiB and stalls keeps
/// its connection (and the handler's future) for ever. The fix belongs in
/// http/ (a timeout around the body read, answering 408).
/// Run with `cargo test --test process overload -- --ignored`.
#[test]
fn a_stalled_body_is_timed_out() {
    let _heavy = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_server(dir.path());
    let keys = CREDENTIALS.keys();
    let token = user_token(&keys, UserId::from_random_bytes(rand::random()));
    let pid = server.pid();
    let addr = server
        .base
        .strip_prefix("http://")
        .expect("base")
        .to_string();
    let baseline = open_fds(pid);
    let stalled: Vec<_> = (0..8)
        .map(|n| {
            let (addr, token) = (addr.clone(), token.clone());
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(&addr).expect("connect");
                stream
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .expect("read timeout");
                let head = format!(
                    "POST /api/v1/wallet/charges HTTP/1.1\r\nHost: slow\r\nAuthorization: Bearer {token}\r\n\
                     Idempotency-Key: stall-{n}\r\nContent-Type: application/json\r\nContent-Length: 61440\r\n\r\n{{\"amount\": "
                );
                stream.write_all(head.as_bytes()).expect("send head");
                let started = Instant::now();
                while started.elapsed() < SLOW_DEADLINE {
                    if let Some(ending) = read_ending(&mut stream, started) {
                        return ending;
                    }
                }
                Ending::Open
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let during = open_fds(pid);
    let endings: Vec<Ending> = stalled
        .into_iter()
        .map(|t| t.join().expect("client"))
        .collect();
    eprintln!("stalled bodies: {endings:?}; server fds {baseline} before, {during} during");
    assert!(
        endings.iter().all(|e| !matches!(e, Ending::Open)),
        "stalled bodies still connected after {SLOW_DEADLINE:?}: {endings:?}"
    );
}
