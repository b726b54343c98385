//! Drives the real binary for the tests that must kill it, time it or read
//! its memory from outside. [`spawn_binary`] is the one place a test starts
//! `boxoffice` (`serve` or `load`); [`Server`] starts `serve` on a data dir
//! and reads its address, stops it with SIGTERM; the rest talks to it over
//! HTTP with a bearer token and sets up a venue and concert as the admin.
//!
//! In-process servers are `test_support::app::spawn_app`'s job.

use awc::http::StatusCode;
use boxoffice_actors::{IdSource, Role};
use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_http::auth::{JwtKeys, TokenKind};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest the binary may take to print its address after a start.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A start that fails (the previous process's lock not yet released, say) is
/// retried this many times in all.
pub const START_ATTEMPTS: usize = 5;
/// Longest a SIGTERM may take to end the server.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body a helper reads.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// List pages are read this many items at a time.
pub const PAGE_SIZE: usize = 100;

/// The subcommands tests run.
#[derive(Clone, Copy, Debug)]
pub enum Subcommand {
    /// `serve --bind 127.0.0.1:0`: the server on any free port.
    Serve,
    /// `serve --bind <address>`: as written by a user (a host name, say).
    ServeAt(&'static str),
    /// `load`: the engine under random load, one line per acknowledged change.
    Load,
    /// `mock-provider --port 0`: the test payment provider (no data dir: the
    /// `data` argument is ignored).
    MockProvider,
}

/// Starts `boxoffice <subcommand> --data-dir <data> <args>` (no data dir for
/// `mock-provider`) with `env` added
/// (`RUST_LOG=warn` and, for `serve`, `BOXOFFICE_RATE_LIMITS=off` unless
/// `env` sets them: these tests post many holds and payments as one user) and
/// the given pipes.
pub fn spawn_binary(
    subcommand: Subcommand,
    data: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdout: Stdio,
    stderr: Stdio,
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    match subcommand {
        Subcommand::Serve => command.args(["serve", "--bind", "127.0.0.1:0"]),
        Subcommand::ServeAt(address) => command.args(["serve", "--bind", address]),
        Subcommand::Load => command.arg("load"),
        Subcommand::MockProvider => command.args(["mock-provider", "--port", "0"]),
    };
    if !matches!(subcommand, Subcommand::MockProvider) {
        command.arg("--data-dir").arg(data);
    }
    command
        .args(args)
        .env("RUST_LOG", "warn")
        .env("BOXOFFICE_RATE_LIMITS", "off")
        .stdout(stdout)
        .stderr(stderr);
    for (name, value) in env {
        command.env(name, value);
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn boxoffice {subcommand:?}: {e}"))
}

/// A running `boxoffice mock-provider`; killed (if still running) when dropped.
pub struct MockProviderProcess {
    pub child: Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
}

impl MockProviderProcess {
    /// Starts `boxoffice mock-provider <args>` and waits for its address. Call
    /// inside an actix system: the line is read off the test's thread, where
    /// a server the test runs may be accepting.
    pub async fn start(args: &[&str]) -> MockProviderProcess {
        let mut child = spawn_binary(
            Subcommand::MockProvider,
            Path::new("."),
            args,
            &[],
            Stdio::piped(),
            Stdio::inherit(),
        );
        let stdout = child.stdout.take().expect("stdout");
        let line = actix_rt::task::spawn_blocking(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            line
        });
        let line = actix_rt::time::timeout(START_TIMEOUT, line)
            .await
            .expect("the address within the start timeout")
            .expect("read");
        let base = line
            .trim()
            .strip_prefix("mock provider listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        MockProviderProcess { child, base }
    }
}

impl Drop for MockProviderProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits up to `timeout` for `child` to exit; on time-out kills and reaps it
/// and returns None.
pub fn exit_within(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The tests that load the machine on purpose (the kill loops, overload)
/// run one at a time, as they did when each had a test binary of its own:
/// each one's figures (capacity, latency, RSS) and time-outs are its own.
/// Lighter tests of this binary still run beside them.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The secret and admin account a test's server runs with.
pub struct Credentials {
    pub secret: &'static str,
    pub admin_email: &'static str,
    pub admin_password: &'static str,
}

impl Credentials {
    /// Keys that mint tokens the server accepts.
    pub fn keys(&self) -> JwtKeys {
        JwtKeys::new(
            self.secret.as_bytes(),
            3_600,
            3_600,
            Arc::new(IdSource::seeded(9)),
        )
    }
}

/// A running `boxoffice serve`; killed (if still running) when dropped, so a
/// failed test never leaves it behind.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// Where this process's stderr goes (shown when it misbehaves).
    pub stderr: PathBuf,
}

impl Server {
    /// Starts `boxoffice serve` on `data` and waits for its address; its
    /// stderr goes to a file in `logs`, shown if every attempt fails.
    pub fn start(data: &Path, logs: &Path, credentials: &Credentials) -> Server {
        Server::start_with_env(
            data,
            logs,
            &[
                ("BOXOFFICE_JWT_SECRET", credentials.secret),
                ("BOXOFFICE_ADMIN_EMAIL", credentials.admin_email),
                ("BOXOFFICE_ADMIN_PASSWORD", credentials.admin_password),
            ],
        )
    }

    /// As [`Server::start`], with exactly the settings in `env` (a test of
    /// the secrets may leave the token secret unset).
    pub fn start_with_env(data: &Path, logs: &Path, env: &[(&str, &str)]) -> Server {
        let mut last_error = String::new();
        for attempt in 0..START_ATTEMPTS {
            let stderr_path = logs.join(format!("stderr-{attempt}.log"));
            let stderr = std::fs::File::create(&stderr_path).expect("stderr log file");
            let mut child = spawn_binary(
                Subcommand::Serve,
                data,
                &[],
                env,
                Stdio::piped(),
                Stdio::from(stderr),
            );
            let stdout = child.stdout.take().expect("stdout");
            let (tx, rx) = std::sync::mpsc::channel::<String>();
            // Drains stdout until the process exits, also after the address is
            // read: the server must never block on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            let deadline = Instant::now() + START_TIMEOUT;
            let base = loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(line) => {
                        if let Some(rest) = line.strip_prefix("boxoffice listening on ") {
                            break Some(rest.split_whitespace().next().expect("url").to_string());
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break None,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        assert!(
                            Instant::now() < deadline,
                            "the server did not start in time"
                        );
                    }
                }
            };
            if let Some(base) = base {
                return Server {
                    child,
                    base,
                    stderr: stderr_path,
                };
            }
            let _ = child.wait();
            last_error = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("boxoffice serve did not start; stderr:\n{last_error}");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Panics, with the server's stderr, if the process has exited.
    pub fn assert_alive(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
            panic!("the server exited {when}: {status:?}; stderr:\n{stderr}");
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM; in-flight work finishes and the process must exit 0.
    pub fn sigterm_and_wait(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("send SIGTERM");
        assert!(status.success());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
                assert!(
                    exit.success(),
                    "SIGTERM must end the server with exit code 0, got {exit:?}; stderr:\n{stderr}"
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An access token of role USER, issued now.
pub fn user_token(keys: &JwtKeys, user: UserId) -> String {
    keys.issue(user, Role::User, TokenKind::Access, Timestamp(now_ms()))
        .expect("token")
}

/// One GET (when `method` is "GET") or POST with a bearer token, an optional
/// `Idempotency-Key` and JSON body; `None` when no answer came (the server
/// is gone or the request timed out).
pub async fn call(
    client: &awc::Client,
    method: &str,
    url: String,
    token: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Option<(StatusCode, Value)> {
    let mut request = match method {
        "GET" => client.get(url),
        _ => client.post(url),
    }
    .insert_header(("Authorization", format!("Bearer {token}")));
    if let Some(key) = key {
        request = request.insert_header(("Idempotency-Key", key.to_string()));
    }
    let mut response = match body {
        Some(body) => request.send_json(&body).await.ok()?,
        None => request.send().await.ok()?,
    };
    let bytes = response.body().limit(MAX_BODY_BYTES).await.ok()?;
    Some((
        response.status(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Every item of a paginated list, page by page.
pub async fn all_pages(client: &awc::Client, url: &str, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for page in 1.. {
        let sep = if url.contains('?') { "&" } else { "?" };
        let (status, body) = call(
            client,
            "GET",
            format!("{url}{sep}page={page}&pageSize={PAGE_SIZE}"),
            token,
            None,
            None,
        )
        .await
        .expect("list");
        assert_eq!(status, StatusCode::OK, "{body}");
        let batch = body["items"].as_array().expect("items").clone();
        let done = batch.len() < PAGE_SIZE;
        items.extend(batch);
        if done {
            break;
        }
    }
    items
}

/// One section "A" of `rows` x `seats_per_row`, one price, `schedules`
/// schedules (on consecutive days of 2099, booking open now), 20 seats per user.
pub struct ConcertPlan {
    pub title: &'static str,
    pub rows: u64,
    pub seats_per_row: u64,
    pub schedules: usize,
    pub price: i64,
}

/// Logs in as the admin, creates a venue and a concert by `plan`; returns the
/// schedule ids.
pub async fn set_up_concert(
    client: &awc::Client,
    base: &str,
    credentials: &Credentials,
    plan: &ConcertPlan,
) -> Vec<String> {
    assert!(
        (1..=9).contains(&plan.schedules),
        "one schedule a day, 1-9 days"
    );
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .send_json(
            &json!({"email": credentials.admin_email, "password": credentials.admin_password}),
        )
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let admin = login["accessToken"]
        .as_str()
        .expect("admin token")
        .to_string();
    let rows: Vec<Value> = (1..=plan.rows)
        .map(|r| json!({"row": r.to_string(), "seats": plan.seats_per_row}))
        .collect();
    let venue: Value = client
        .post(format!("{base}/api/v1/venues"))
        .insert_header(("Authorization", format!("Bearer {admin}")))
        .send_json(&json!({"name": format!("{} Hall", plan.title), "address": "Nowhere 1", "sections": [{"sectionId": "A", "name": "A", "rows": rows}]}))
        .await
        .expect("venue")
        .json()
        .await
        .expect("json");
    let schedules: Vec<Value> = (1..=plan.schedules)
        .map(|day| json!({"startsAt": format!("2099-01-0{day}T10:00:00Z"), "endsAt": format!("2099-01-0{day}T12:00:00Z"), "bookingOpensAt": "2020-01-01T00:00:00Z", "bookingClosesAt": format!("2099-01-0{day}T09:00:00Z")}))
        .collect();
    let concert: Value = client
        .post(format!("{base}/api/v1/concerts"))
        .insert_header(("Authorization", format!("Bearer {admin}")))
        .send_json(&json!({
            "title": plan.title, "category": "TEST", "venueId": venue["venueId"],
            "priceGrades": [{"grade": "A", "price": plan.price, "sectionIds": ["A"]}],
            "schedules": schedules, "maxSeatsPerUser": 20
        }))
        .await
        .expect("concert")
        .json()
        .await
        .expect("json");
    let ids: Vec<String> = concert["schedules"]
        .as_array()
        .unwrap_or_else(|| panic!("schedules missing in {concert}"))
        .iter()
        .map(|s| s["scheduleId"].as_str().expect("schedule id").to_string())
        .collect();
    assert_eq!(ids.len(), plan.schedules, "{concert}");
    ids
}

/// One user's books as the API shows them: wallet, every ledger entry and
/// every reservation.
pub struct Books {
    /// 404 when no charge ever became durable for the user.
    pub wallet_status: StatusCode,
    pub wallet: Value,
    pub ledger: Vec<Value>,
    pub reservations: Vec<Value>,
}

impl Books {
    pub async fn fetch(client: &awc::Client, base: &str, token: &str) -> Books {
        let (wallet_status, wallet) = call(
            client,
            "GET",
            format!("{base}/api/v1/wallet"),
            token,
            None,
            None,
        )
        .await
        .expect("wallet");
        let ledger = all_pages(client, &format!("{base}/api/v1/wallet/transactions"), token).await;
        let reservations = all_pages(client, &format!("{base}/api/v1/reservations"), token).await;
        Books {
            wallet_status,
            wallet,
            ledger,
            reservations,
        }
    }

    /// The ids of every ledger entry.
    pub fn transaction_ids(&self) -> std::collections::HashSet<&str> {
        self.ledger
            .iter()
            .filter_map(|e| e["transactionId"].as_str())
            .collect()
    }

    /// The total of the ledger entries of one kind (CHARGE, PAYMENT, REFUND).
    pub fn ledger_sum(&self, kind: &str) -> i64 {
        self.ledger
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["amount"].as_i64().expect("amount"))
            .sum()
    }

    pub fn balance(&self) -> i64 {
        self.wallet["balance"].as_i64().expect("balance")
    }
}

/// The seat map of a schedule.
pub async fn seat_map(
    client: &awc::Client,
    base: &str,
    schedule: &str,
    token: &str,
) -> (StatusCode, Value) {
    let url = format!("{base}/api/v1/schedules/{schedule}/seats");
    call(client, "GET", url, token, None, None)
        .await
        .expect("seat map")
}
