//! Boxoffice's HTTP client (see [`super::boxoffice`]): real requests to the
//! server the harness started on loopback, through awc's keep-alive pool
//! (one pool per client thread, at most `connections` connections each),
//! exactly as API.md describes them: bearer tokens, `Idempotency-Key` on
//! every POST that needs one, `Queue-Token` on a gated schedule.
//!
//! Tokens are minted here with the JWT secret the harness configured for its
//! own server (no registration, no login, no argon2): see `boxoffice.rs`.
//! Users' tokens name ids without accounts (what users do needs no account);
//! the admin's names the server's configured admin, since the server checks
//! an admin's account on every admin request.
//! The `hello` mode reuses [`client`] and [`get_plain`].
//!
//! A user's request first waits for a free connection of its thread's pool
//! (the harness's own FIFO count of the pool's limit, taken before awc's,
//! which then never waits), then goes on the wire; the wait is kept for
//! [`Client::take_conn_wait`], so the scenarios can tell the time a user
//! saw from the time the request spent on the wire.

use awc::http::StatusCode;
use boxoffice_actors::Role;
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::SeatSelection;
use boxoffice_engine::Timestamp;
use boxoffice_http::auth::{JwtKeys, TokenKind};
use boxoffice_http::time_format::rfc3339;
use boxoffice_search::sample::{self, SampleQuery};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

use super::{Client, Held, NewSchedule, QueueCredential, QueuePlace, User};
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
/// Connection waits not taken by the scenario (only the stadium takes
/// them) are kept up to this many per client thread, then cleared.
const MAX_UNTAKEN_WAITS: usize = 200_000;
/// The harness's own set-up user (the admin's requests are signed for
/// [`HttpSpec::admin`], the account the server was configured with).
const ADMIN: User = User { kind: 0xAD, n: 0 };
/// A schedule created over the API starts this long after its booking
/// closes, which is this long after it was created.
const BOOKING_MS: i64 = 86_400_000;

#[derive(Clone)]
pub struct HttpSpec {
    /// `http://127.0.0.1:PORT`
    pub base: Arc<str>,
    pub keys: Arc<JwtKeys>,
    /// The configured admin's account, which set-up requests are signed for.
    pub admin: UserId,
    /// Makes idempotency keys of different runs on one server differ.
    pub run_tag: u64,
}

pub struct HttpDriver {
    client: awc::Client,
    spec: HttpSpec,
    thread: usize,
    next_key: Cell<u64>,
    tokens: RefCell<HashMap<UserId, Rc<str>>>,
    /// The `Retry-After` of the last 503 each user got, until taken.
    retry_after: RefCell<HashMap<User, Duration>>,
    /// The pool's free connections (`connections` permits, as awc's limit).
    slots: Semaphore,
    /// How long each user's last request waited for one, until taken.
    conn_wait: RefCell<HashMap<User, Duration>>,
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

/// Wall-clock milliseconds since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
            retry_after: RefCell::new(HashMap::new()),
            slots: Semaphore::new(connections.max(1)),
            conn_wait: RefCell::new(HashMap::new()),
        }
    }

    fn bearer(&self, user: User) -> Rc<str> {
        self.bearer_as(user.id(), Role::User)
    }

    fn bearer_as(&self, user: UserId, role: Role) -> Rc<str> {
        let mut tokens = self.tokens.borrow_mut();
        if let Some(token) = tokens.get(&user) {
            return Rc::clone(token);
        }
        if tokens.len() >= MAX_CACHED_TOKENS {
            tokens.clear();
        }
        let now = Timestamp(now_ms());
        // Signing with a key we hold cannot fail short of a broken crypto library.
        let token = self
            .spec
            .keys
            .issue(user, role, TokenKind::Access, now)
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

    /// Sends `user`'s request once a connection is free, and maps anything
    /// but 2xx to its outcome; the wait for the connection is kept for
    /// [`Client::take_conn_wait`], a 503's `Retry-After` for
    /// [`Client::take_retry_after`]. [`REQUEST_TIMEOUT`] bounds both parts
    /// together, as awc's timeout did when its pool did the waiting.
    async fn call(
        &self,
        user: User,
        request: awc::ClientRequest,
        body: Option<Value>,
    ) -> Result<Value, Outcome> {
        let asked = Instant::now();
        let slot = actix_rt::time::timeout(REQUEST_TIMEOUT, self.slots.acquire()).await;
        let waited = asked.elapsed();
        {
            let mut waits = self.conn_wait.borrow_mut();
            if waits.len() >= MAX_UNTAKEN_WAITS {
                waits.clear();
            }
            waits.insert(user, waited);
        }
        // Held until the answer is read, when awc has its connection back.
        let _slot = match slot {
            Ok(Ok(slot)) => slot,
            _ => return Err(Outcome::Transport),
        };
        let request = request.timeout(REQUEST_TIMEOUT.saturating_sub(waited));
        let answer = exchange(request, body).await?;
        if answer.status.is_success() {
            return Ok(answer.body);
        }
        let outcome = outcome_of(answer.status, &answer.body);
        if outcome == Outcome::Unavailable {
            let mut retry_after = self.retry_after.borrow_mut();
            match answer.retry_after {
                Some(wait) => retry_after.insert(user, wait),
                None => retry_after.remove(&user),
            };
        }
        Err(outcome)
    }

    /// An admin's POST of set-up (not measured); the answer's body, or
    /// what went wrong, with the server's words.
    async fn admin_post(&self, path: &str, body: Value) -> Result<Value, String> {
        let request = self.client.post(self.url(path)).insert_header((
            "Authorization",
            &*self.bearer_as(self.spec.admin, Role::Admin),
        ));
        let answer = exchange(request, Some(body))
            .await
            .map_err(|_| format!("POST {path}: no answer"))?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(format!("POST {path}: {} {}", answer.status, answer.body))
        }
    }

    /// [`Client::create_schedule`]: a venue of `schedule.seats`' layout
    /// (sections `S0`.., priced as the engine's uniform layout), then a
    /// concert with that one schedule: booking opens
    /// `booking_opens_in_ms` from now (or opened a minute ago), its waiting
    /// room with `preQueueSeconds`. The id is the server's, not `schedule.id`.
    async fn create_concert_schedule(&self, schedule: &NewSchedule) -> Result<ScheduleId, String> {
        let seats = schedule.seats;
        let sections: Vec<Value> = (0..seats.sections)
            .map(|s| {
                let rows: Vec<Value> = (1..=seats.rows)
                    .map(|r| json!({"row": r.to_string(), "seats": seats.per_row}))
                    .collect();
                json!({"sectionId": format!("S{s}"), "name": format!("Section S{s}"), "rows": rows})
            })
            .collect();
        let venue = self
            .admin_post(
                "/venues",
                json!({"name": "Harness Stadium", "address": "1 Benchmark Road", "sections": sections}),
            )
            .await?;
        let venue_id = venue["venueId"]
            .as_str()
            .ok_or_else(|| format!("POST /venues: no venueId in {venue}"))?;
        let grades: Vec<Value> = (0..seats.sections)
            .map(|s| {
                json!({
                    "grade": format!("S{s}"),
                    "price": 10_000 * i64::from(seats.sections - s),
                    "sectionIds": [format!("S{s}")],
                })
            })
            .collect();
        let now = now_ms();
        let opens = now + schedule.booking_opens_in_ms.unwrap_or(-60_000);
        let closes = now.max(opens) + BOOKING_MS;
        let starts = closes + BOOKING_MS;
        let mut body = json!({
            "title": "Harness Stadium On-Sale",
            "description": "created by the contention harness",
            "category": "ROCK",
            "venueId": venue_id,
            "priceGrades": grades,
            "schedules": [{
                "startsAt": rfc3339(Timestamp(starts)),
                "endsAt": rfc3339(Timestamp(starts + 3 * 3_600_000)),
                "bookingOpensAt": rfc3339(Timestamp(opens)),
                "bookingClosesAt": rfc3339(Timestamp(closes)),
            }],
        });
        if let Some(hold_ms) = schedule.hold_ms {
            body["holdSeconds"] = json!((hold_ms / 1_000).max(1));
        }
        if let Some(most) = schedule.max_seats_per_user {
            body["maxSeatsPerUser"] = json!(most);
        }
        if let Some(queue) = &schedule.queue {
            let mut queue = json!({
                "enabled": queue.enabled,
                "batchSize": queue.batch_size,
                "intervalMs": queue.interval_ms,
                "maxActive": queue.max_active,
                "activeSeconds": queue.active_ms / 1_000,
            });
            if let Some(pre) = schedule.pre_queue_seconds {
                queue["preQueueSeconds"] = json!(pre);
            }
            body["schedules"][0]["queue"] = queue;
        }
        let concert = self.admin_post("/concerts", body).await?;
        concert["schedules"][0]["scheduleId"]
            .as_str()
            .and_then(ScheduleId::parse)
            .ok_or_else(|| format!("POST /concerts: no scheduleId in {concert}"))
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
        queue_token: Option<&QueueCredential>,
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
            request = request.insert_header(("Queue-Token", token.header_value()));
        }
        let reply = self.call(user, request, Some(body)).await?;
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
        let reply = self.call(user, self.post(&path, user, false), None).await?;
        Ok(reply["refundAmount"].as_i64().unwrap_or(0))
    }

    async fn pay(
        &self,
        user: User,
        held: &Held,
        queue_token: Option<&QueueCredential>,
    ) -> Result<i64, Outcome> {
        let reservation = held.reservation_id.ok_or(Outcome::Other)?;
        let mut request = self.post("/payments", user, true);
        if let Some(token) = queue_token {
            request = request.insert_header(("Queue-Token", token.header_value()));
        }
        let body = json!({"reservationId": reservation.to_string()});
        let reply = self.call(user, request, Some(body)).await?;
        reply["amount"].as_i64().ok_or(Outcome::Other)
    }

    async fn charge(&self, user: User, amount: i64) -> Result<(), Outcome> {
        let request = self.post("/wallet/charges", user, true);
        self.call(user, request, Some(json!({"amount": amount})))
            .await
            .map(|_| ())
    }

    async fn join(&self, user: User, schedule: ScheduleId) -> Result<QueuePlace, Outcome> {
        let request = self.post("/queue/tokens", user, false);
        let reply = self
            .call(
                user,
                request,
                Some(json!({"scheduleId": schedule.to_string()})),
            )
            .await?;
        place(&reply)
    }

    async fn poll(&self, user: User, token: &QueueCredential) -> Result<QueuePlace, Outcome> {
        let request = self
            .client
            .get(self.url("/queue/tokens/current"))
            .insert_header(("Authorization", &*self.bearer(user)))
            .insert_header(("Queue-Token", token.header_value()));
        let reply = self.call(user, request, None).await?;
        place(&reply)
    }

    fn take_retry_after(&self, user: User) -> Option<Duration> {
        self.retry_after.borrow_mut().remove(&user)
    }

    fn take_conn_wait(&self, user: User) -> Option<Duration> {
        self.conn_wait.borrow_mut().remove(&user)
    }

    /// A venue of the schedule's layout, then a concert with the schedule
    /// alone, as an admin: what the engine's `create_schedule` cannot say
    /// (`bookingOpensAt` in the future, `queue.preQueueSeconds`).
    async fn create_schedule(&self, schedule: &NewSchedule) -> Option<Result<ScheduleId, String>> {
        Some(self.create_concert_schedule(schedule).await)
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
        self.call(user, request, None).await.map(|_| ())
    }

    async fn concerts(&self) -> Result<(), Outcome> {
        let request = self.client.get(self.url("/concerts"));
        self.call(ADMIN, request, None).await.map(|_| ())
    }

    async fn search(&self, query: &SampleQuery, now_ms: i64) -> Result<u64, Outcome> {
        let day = |days: i64| rfc3339(Timestamp(now_ms + days * sample::DAY_MS));
        let mut params: Vec<(&str, String)> = vec![
            ("q", query.q.clone()),
            ("page", (query.offset / sample::PAGE + 1).to_string()),
            ("pageSize", sample::PAGE.to_string()),
        ];
        params.extend(query.category.map(|c| ("category", c.to_owned())));
        params.extend(query.min_price.map(|p| ("minPrice", p.to_string())));
        params.extend(query.max_price.map(|p| ("maxPrice", p.to_string())));
        params.extend(query.from_days.map(|d| ("from", day(d))));
        params.extend(query.to_days.map(|d| ("to", day(d))));
        let request = self
            .client
            .get(self.url("/search/concerts"))
            .query(&params)
            .map_err(|_| Outcome::Other)?;
        let reply = self.call(ADMIN, request, None).await?;
        reply["total"].as_u64().ok_or(Outcome::Other)
    }

    async fn autocomplete(&self, q: &str) -> Result<usize, Outcome> {
        let request = self
            .client
            .get(self.url("/search/autocomplete"))
            .query(&[("q", q)])
            .map_err(|_| Outcome::Other)?;
        let reply = self.call(ADMIN, request, None).await?;
        reply["suggestions"]
            .as_array()
            .map(Vec::len)
            .ok_or(Outcome::Other)
    }
}

/// A queue place from its JSON (API.md, "Waiting room"). The token is kept
/// as the exact string the server sent (opaque: a UUID from an older
/// server, a signed string from a newer one). Tolerant of an older server:
/// no `pollAfterMs` (the client keeps its own pace), `position` or
/// `estimatedWaitSeconds` missing or null (None).
fn place(reply: &Value) -> Result<QueuePlace, Outcome> {
    let token = reply["token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or(Outcome::Other)?;
    let status = reply["status"].as_str().unwrap_or("");
    Ok(QueuePlace {
        token: QueueCredential::Signed(token.to_owned()),
        active: status == "ACTIVE",
        pre_queue: status == "PRE_QUEUE",
        estimated_wait_seconds: reply["estimatedWaitSeconds"].as_u64(),
        position: reply["position"].as_u64(),
        poll_after_ms: reply["pollAfterMs"].as_u64(),
    })
}

/// An answer: its status, its `Retry-After` (in seconds; an HTTP date is
/// not understood: None) and its JSON body (Null if none or not JSON).
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Value,
}

/// `Retry-After` in delta-seconds, if that is what it says.
fn retry_after_of(value: Option<&awc::http::header::HeaderValue>) -> Option<Duration> {
    let seconds: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// Sends and reads the whole answer; `Err(Transport)` when none came.
async fn exchange(request: awc::ClientRequest, body: Option<Value>) -> Result<Answer, Outcome> {
    let sent = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    };
    let mut response = sent.map_err(|_| Outcome::Transport)?;
    let retry_after = retry_after_of(response.headers().get("retry-after"));
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
    Ok(Answer {
        status: response.status(),
        retry_after,
        body: value,
    })
}

/// A GET whose body is read and dropped (the hello-world comparison).
pub async fn get_plain(client: &awc::Client, url: &str) -> Result<(), Outcome> {
    let status = exchange(client.get(url), None).await?.status;
    if status.is_success() {
        Ok(())
    } else {
        Err(Outcome::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::{place, retry_after_of, QueueCredential};
    use awc::http::header::HeaderValue;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn a_queue_answer_keeps_the_token_verbatim_and_reads_the_pace() {
        let reply = json!({"token": "v1.abc.DEF-_=", "status": "WAITING", "position": 7,
            "estimatedWaitSeconds": 3, "pollAfterMs": 1500});
        let p = place(&reply).unwrap();
        assert_eq!(p.token, QueueCredential::Signed("v1.abc.DEF-_=".into()));
        assert!(!p.active && !p.pre_queue);
        assert_eq!(
            (p.position, p.estimated_wait_seconds, p.poll_after_ms),
            (Some(7), Some(3), Some(1500))
        );
    }

    #[test]
    fn an_older_or_pre_queue_answer_is_read_tolerantly() {
        let pre = place(
            &json!({"token": "t", "status": "PRE_QUEUE", "position": null,
            "estimatedWaitSeconds": null, "pollAfterMs": 5000}),
        )
        .unwrap();
        assert!(pre.pre_queue && !pre.active);
        assert_eq!((pre.position, pre.estimated_wait_seconds), (None, None));
        let old = place(
            &json!({"token": "8d5c0f4e-0000-4000-8000-000000000000", "status": "ACTIVE",
            "position": 0, "estimatedWaitSeconds": 0}),
        )
        .unwrap();
        assert!(old.active);
        assert_eq!(old.poll_after_ms, None);
        assert!(place(&json!({"status": "WAITING"})).is_err());
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(
            retry_after_of(Some(&HeaderValue::from_static("2"))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after_of(Some(&HeaderValue::from_static(
                "Wed, 21 Oct 2015 07:28:00 GMT"
            ))),
            None
        );
        assert_eq!(retry_after_of(None), None);
    }
}
