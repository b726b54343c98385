//! Boxoffice's HTTP client (see [`super::boxoffice`]): real requests to the
//! server the harness started on loopback, through awc's keep-alive pool
//! (one pool per client thread, at most `connections` connections each),
//! exactly as API.md describes them: bearer tokens, `Idempotency-Key` on
//! every POST that needs one, `Queue-Token` on a gated schedule.
//!
//! Tokens are minted here with the JWT secret the harness configured for its
//! own server (no registration, no login, no argon2): see `boxoffice.rs`.
//! The `hello` mode reuses [`client`] and [`get_plain`].

use awc::http::StatusCode;
use boxoffice_actors::Role;
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::SeatSelection;
use boxoffice_engine::Timestamp;
use boxoffice_http::auth::{JwtKeys, TokenKind};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::{Client, Held, QueuePlace, User};
use crate::stats::Outcome;

/// Longest a request may take before the client gives up (then: `Transport`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body read (a 200,000-seat map is about 10 MB).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// An idle pooled connection is dropped after this: shorter than the server's
/// keep-alive (actix-web's default is 5 s), so the client never reuses a
/// connection the server is closing at that very moment.
const IDLE_CONNECTION: Duration = Duration::from_secs(4);
/// Tokens minted per client thread are cached; past this many the cache is cleared.
const MAX_CACHED_TOKENS: usize = 200_000;

#[derive(Clone)]
pub struct HttpSpec {
    /// `http://127.0.0.1:PORT`
    pub base: Arc<str>,
    pub keys: Arc<JwtKeys>,
    /// Makes idempotency keys of different runs on one server differ.
    pub run_tag: u64,
}

pub struct HttpDriver {
    client: awc::Client,
    spec: HttpSpec,
    thread: usize,
    next_key: Cell<u64>,
    tokens: RefCell<HashMap<UserId, Rc<str>>>,
}

/// The outcome of a non-2xx answer from its status and API error code.
pub fn outcome_of(status: StatusCode, body: &Value) -> Outcome {
    let code = body["error"]["code"].as_str().unwrap_or("");
    match (status.as_u16(), code) {
        (409, "SEAT_UNAVAILABLE") => Outcome::Conflict,
        (409, _) => Outcome::NotCancellable,
        (422, "SEAT_LIMIT_EXCEEDED") => Outcome::SeatLimit,
        (410, _) => Outcome::Expired,
        (403, "QUEUE_NOT_ACTIVE") => Outcome::QueueNotActive,
        (401, "QUEUE_TOKEN_INVALID") => Outcome::QueueTokenInvalid,
        (402, _) => Outcome::InsufficientBalance,
        (503, _) => Outcome::Unavailable,
        _ => Outcome::Other,
    }
}

/// A keep-alive pool of at most `connections` connections.
pub fn client(connections: usize) -> awc::Client {
    let connector = awc::Connector::new()
        .limit(connections.max(1))
        .timeout(Duration::from_secs(30))
        .conn_keep_alive(IDLE_CONNECTION)
        .conn_lifetime(Duration::from_secs(24 * 3_600));
    awc::Client::builder()
        .connector(connector)
        .timeout(REQUEST_TIMEOUT)
        .disable_redirects()
        .no_default_headers()
        .finish()
}

fn id<T>(body: &Value, field: &str, parse: fn(&str) -> Option<T>) -> Option<T> {
    body[field].as_str().and_then(parse)
}

impl HttpDriver {
    pub fn new(spec: &HttpSpec, thread: usize, connections: usize) -> Self {
        HttpDriver {
            client: client(connections),
            spec: spec.clone(),
            thread,
            next_key: Cell::new(0),
            tokens: RefCell::new(HashMap::new()),
        }
    }

    fn bearer(&self, user: User) -> Rc<str> {
        let user = user.id();
        let mut tokens = self.tokens.borrow_mut();
        if let Some(token) = tokens.get(&user) {
            return Rc::clone(token);
        }
        if tokens.len() >= MAX_CACHED_TOKENS {
            tokens.clear();
        }
        let now = Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        );
        // Signing with a key we hold cannot fail short of a broken crypto library.
        let token = self
            .spec
            .keys
            .issue(user, Role::User, TokenKind::Access, now)
            .map(|t| format!("Bearer {t}"))
            .unwrap_or_default();
        let token: Rc<str> = token.into();
        tokens.insert(user, Rc::clone(&token));
        token
    }

    fn idempotency_key(&self) -> String {
        let n = self.next_key.get();
        self.next_key.set(n + 1);
        format!("h{:x}-{}-{n}", self.spec.run_tag, self.thread)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.spec.base)
    }

    /// Sends, and maps anything but 2xx to its outcome.
    async fn call(
        &self,
        request: awc::ClientRequest,
        body: Option<Value>,
    ) -> Result<Value, Outcome> {
        let (status, value) = exchange(request, body).await?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(outcome_of(status, &value))
        }
    }

    fn post(&self, path: &str, user: User, keyed: bool) -> awc::ClientRequest {
        let request = self
            .client
            .post(self.url(path))
            .insert_header(("Authorization", &*self.bearer(user)));
        if keyed {
            request.insert_header(("Idempotency-Key", self.idempotency_key()))
        } else {
            request
        }
    }
}

impl Client for HttpDriver {
    async fn hold(
        &self,
        user: User,
        schedule: ScheduleId,
        selection: SeatSelection,
        queue_token: Option<QueueTokenId>,
    ) -> Result<Held, Outcome> {
        let body = match selection {
            SeatSelection::Ids(ids) => json!({"scheduleId": schedule.to_string(), "seatIds": ids}),
            SeatSelection::BestAvailable {
                quantity,
                grade,
                section_id,
            } => {
                let mut body = json!({"scheduleId": schedule.to_string(), "quantity": quantity});
                if let Some(grade) = grade {
                    body["grade"] = json!(grade);
                }
                if let Some(section) = section_id {
                    body["sectionId"] = json!(section);
                }
                body
            }
        };
        let mut request = self.post("/reservations", user, true);
        if let Some(token) = queue_token {
            request = request.insert_header(("Queue-Token", token.to_string()));
        }
        let reply = self.call(request, Some(body)).await?;
        let reservation_id =
            id(&reply, "reservationId", ReservationId::parse).ok_or(Outcome::Other)?;
        let seats = reply["seats"]
            .as_array()
            .map(|seats| {
                seats
                    .iter()
                    .filter_map(|s| s["seatId"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Held {
            reservation_id: Some(reservation_id),
            seats,
            amount: reply["totalAmount"].as_i64().unwrap_or(0),
        })
    }

    async fn cancel(&self, user: User, held: &Held) -> Result<i64, Outcome> {
        let reservation = held.reservation_id.ok_or(Outcome::Other)?;
        let path = format!("/reservations/{reservation}/cancel");
        let reply = self.call(self.post(&path, user, false), None).await?;
        Ok(reply["refundAmount"].as_i64().unwrap_or(0))
    }

    async fn pay(
        &self,
        user: User,
        held: &Held,
        queue_token: Option<QueueTokenId>,
    ) -> Result<i64, Outcome> {
        let reservation = held.reservation_id.ok_or(Outcome::Other)?;
        let mut request = self.post("/payments", user, true);
        if let Some(token) = queue_token {
            request = request.insert_header(("Queue-Token", token.to_string()));
        }
        let body = json!({"reservationId": reservation.to_string()});
        let reply = self.call(request, Some(body)).await?;
        reply["amount"].as_i64().ok_or(Outcome::Other)
    }

    async fn charge(&self, user: User, amount: i64) -> Result<(), Outcome> {
        let request = self.post("/wallet/charges", user, true);
        self.call(request, Some(json!({"amount": amount})))
            .await
            .map(|_| ())
    }

    async fn join(&self, user: User, schedule: ScheduleId) -> Result<QueuePlace, Outcome> {
        let request = self.post("/queue/tokens", user, false);
        let reply = self
            .call(request, Some(json!({"scheduleId": schedule.to_string()})))
            .await?;
        place(&reply)
    }

    async fn poll(&self, user: User, token: QueueTokenId) -> Result<QueuePlace, Outcome> {
        let request = self
            .client
            .get(self.url("/queue/tokens/current"))
            .insert_header(("Authorization", &*self.bearer(user)))
            .insert_header(("Queue-Token", token.to_string()));
        let reply = self.call(request, None).await?;
        place(&reply)
    }

    async fn seat_map(
        &self,
        user: User,
        schedule: ScheduleId,
        section: Option<&str>,
    ) -> Result<(), Outcome> {
        let mut path = format!("/schedules/{schedule}/seats");
        if let Some(section) = section {
            path.push_str("?section=");
            path.push_str(section);
        }
        let request = self
            .client
            .get(self.url(&path))
            .insert_header(("Authorization", &*self.bearer(user)));
        self.call(request, None).await.map(|_| ())
    }

    async fn concerts(&self) -> Result<(), Outcome> {
        let request = self.client.get(self.url("/concerts"));
        self.call(request, None).await.map(|_| ())
    }
}

/// A queue place from its JSON.
fn place(reply: &Value) -> Result<QueuePlace, Outcome> {
    Ok(QueuePlace {
        token: id(reply, "token", QueueTokenId::parse).ok_or(Outcome::Other)?,
        active: reply["status"] == "ACTIVE",
        estimated_wait_seconds: reply["estimatedWaitSeconds"].as_u64().unwrap_or(0),
    })
}

/// Sends and reads the whole answer; `Err(Transport)` when none came.
async fn exchange(
    request: awc::ClientRequest,
    body: Option<Value>,
) -> Result<(StatusCode, Value), Outcome> {
    let sent = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    };
    let mut response = sent.map_err(|_| Outcome::Transport)?;
    let bytes = response
        .body()
        .limit(MAX_BODY_BYTES)
        .await
        .map_err(|_| Outcome::Transport)?;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Ok((response.status(), value))
}

/// A GET whose body is read and dropped (the hello-world comparison).
pub async fn get_plain(client: &awc::Client, url: &str) -> Result<(), Outcome> {
    let (status, _) = exchange(client.get(url), None).await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(Outcome::Other)
    }
}
