//! A `boxoffice serve` child process, for the benches that measure the
//! server as a process of its own (`seat-fanout`, `webhook-hang`), and the
//! API calls they share: set-up (an admin's login, one schedule, holders
//! logged in) and the hold storm (closed loops of hold one seat, best
//! available, then cancel it).
//!
//! Each of those binaries declares this file as its module `bench_server`
//! (the package has no library target). The `contention` binary does not
//! use it: it runs the server in its own process.

use awc::http::Method;
use serde_json::{json, Value};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Largest answer body read (the set-up's answers are a few KB).
const MAX_BODY_BYTES: usize = 1 << 20;

/// Every holder's password (the admin's comes with [`Server::start`]).
const HOLDER_PASSWORD: &str = "violet-harbour-4711";

/// A server on a fresh data dir, killed and its data dir removed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// Starts `binary serve` on a free loopback port, a data dir named after
    /// `name` and this process, rate limits off, `admin` as its first admin,
    /// and `extra_args` after those; returns once it says where it listens.
    pub fn start(
        binary: &str,
        name: &str,
        admin: (&str, &str),
        extra_args: &[String],
    ) -> Result<Server, String> {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut child = Command::new(binary)
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .args(["--rate-limits", "off"])
            .args(extra_args)
            .env("BOXOFFICE_ADMIN_EMAIL", admin.0)
            .env("BOXOFFICE_ADMIN_PASSWORD", admin.1)
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
            // "boxoffice listening on http://127.0.0.1:PORT (data in ...)"
            if let Some(address) = line.strip_prefix("boxoffice listening on http://") {
                break address
                    .split_whitespace()
                    .next()
                    .and_then(|host_port| host_port.rsplit(':').next())
                    .and_then(|p| p.parse().ok())
                    .ok_or("no port")?;
            }
        };
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Server { child, port, dir })
    }

    // webhook-hang reads no figures of the server's process.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// One call: (status, JSON body or null).
pub async fn call(
    client: &awc::Client,
    method: Method,
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
        .limit(MAX_BODY_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        response.status().as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// [`call`] that fails unless the answer has `status`; its body.
pub async fn expect(
    client: &awc::Client,
    method: Method,
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

/// What [`set_up`] made.
pub struct SetUp {
    // seat-fanout makes no admin call after the set-up.
    #[allow(dead_code)]
    pub admin_token: String,
    pub schedule: String,
    pub holder_tokens: Vec<String>,
}

/// Logs `admin` in, makes a venue of one section of `seats` (rows of 100), a
/// concert with one bookable schedule on it, and `holders` users (emails
/// `<name>-<n>@bench.boxoffice`), each logged in.
pub async fn set_up(
    client: &awc::Client,
    base: &str,
    admin: (&str, &str),
    name: &str,
    seats: u32,
    holders: usize,
) -> Result<SetUp, String> {
    let login = expect(
        client,
        Method::POST,
        &format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"email": admin.0, "password": admin.1})),
        200,
    )
    .await?;
    let admin_token = login["accessToken"].as_str().ok_or("no token")?.to_string();
    let rows: Vec<Value> = (1..=seats.div_ceil(100))
        .map(|r| json!({"row": r.to_string(), "seats": 100.min(seats - (r - 1) * 100)}))
        .collect();
    let venue = expect(
        client,
        Method::POST,
        &format!("{base}/api/v1/venues"),
        Some(&admin_token),
        Some(
            json!({"name": format!("{name} hall"), "address": "1 Bench Street",
            "sections": [{"sectionId": "A", "name": "A", "rows": rows}]}),
        ),
        201,
    )
    .await?;
    let concert = expect(
        client,
        Method::POST,
        &format!("{base}/api/v1/concerts"),
        Some(&admin_token),
        Some(json!({"title": name, "description": "bench", "category": "ROCK",
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
    let mut holder_tokens = Vec::with_capacity(holders);
    for n in 0..holders {
        let email = format!("{name}-{n}@bench.boxoffice");
        expect(
            client,
            Method::POST,
            &format!("{base}/api/v1/auth/register"),
            None,
            Some(json!({"email": email, "password": HOLDER_PASSWORD, "name": "Holder"})),
            201,
        )
        .await?;
        let login = expect(
            client,
            Method::POST,
            &format!("{base}/api/v1/auth/login"),
            None,
            Some(json!({"email": email, "password": HOLDER_PASSWORD})),
            200,
        )
        .await?;
        holder_tokens.push(login["accessToken"].as_str().ok_or("no token")?.to_string());
    }
    Ok(SetUp {
        admin_token,
        schedule,
        holder_tokens,
    })
}

/// A phase's counts: acknowledged holds, and failed calls (holds or cancels).
#[derive(Clone, Copy, Debug, Default)]
pub struct Storm {
    pub holds: u64,
    pub failures: u64,
}

/// One closed loop per token for `seconds`: hold one seat (best available,
/// under a fresh Idempotency-Key), then cancel it. `on_held` sees each 201's
/// body at the moment it arrived. The first failure of a phase is printed:
/// a failing phase's rate means nothing without it.
pub async fn hold_storm(
    client: &awc::Client,
    base: &str,
    schedule: &str,
    tokens: &[String],
    seconds: f64,
    on_held: impl Fn(&Value, Instant) + Clone + 'static,
) -> Storm {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let holds = Rc::new(AtomicU64::new(0));
    let failures = Rc::new(AtomicU64::new(0));
    let fail = |failures: &AtomicU64, what: &str, got: &dyn std::fmt::Debug| {
        if failures.fetch_add(1, Ordering::Relaxed) == 0 {
            eprintln!("a {what} failed: {got:?}");
        }
    };
    let loops = tokens.iter().enumerate().map(|(n, token)| {
        let (client, holds, failures) = (client.clone(), Rc::clone(&holds), Rc::clone(&failures));
        let (base, schedule, token) = (base.to_string(), schedule.to_string(), token.clone());
        let on_held = on_held.clone();
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
                        fail(&failures, "hold", &other);
                        continue;
                    }
                };
                on_held(&body, Instant::now());
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
                if !matches!(cancelled, Ok((200, _))) {
                    fail(&failures, "cancel", &cancelled);
                }
            }
        }
    });
    let handles: Vec<_> = loops.map(actix_rt::spawn).collect();
    for handle in handles {
        let _ = handle.await;
    }
    Storm {
        holds: holds.load(Ordering::Relaxed),
        failures: failures.load(Ordering::Relaxed),
    }
}
