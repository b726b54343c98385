//! Black-box tests of API.md's "Live updates": the seat stream of a
//! schedule and the queue-token stream, read through real HTTP with awc as
//! a browser's EventSource would (no user token on the streams).
//!
//! Each test spawns its own server (temp data dir, manual clock). Changes are
//! made by other clients through the ordinary endpoints; the stream must show
//! each one, in order, with ids increasing by one, within 1 s.

use awc::error::PayloadError;
use awc::http::StatusCode;
use boxoffice_actors::booking::HoldCommand;
use boxoffice_actors::queue_actor::TickNow;
use boxoffice_actors::Role;
use boxoffice_engine::ids::{ScheduleId, UserId};
use boxoffice_engine::schedule::SeatSelection;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use std::pin::Pin;
use std::time::{Duration, Instant};
use test_support::app::*;

const RESERVATIONS: &str = "/api/v1/reservations";
/// API.md: a change is on the stream within 1 s of its acknowledgement.
const FAN_OUT_LIMIT: Duration = Duration::from_secs(1);
/// Expiry: freed within 1 s of `expiresAt` (the sweep), plus slack on a busy machine.
const SWEEP_WAIT: Duration = Duration::from_secs(3);

type Body = Pin<Box<dyn Stream<Item = Result<actix_web::web::Bytes, PayloadError>>>>;

/// One server-sent event.
#[derive(Debug, Clone)]
struct Event {
    id: Option<String>,
    kind: String,
    data: Value,
}

/// An open event stream, read event by event.
struct Sse {
    body: Body,
    buffer: String,
    /// Bytes received so far.
    received: usize,
}

/// A client without awc's whole-request timeout (it would cut a long stream).
fn stream_client() -> awc::Client {
    awc::Client::builder().disable_timeout().finish()
}

/// Opens `path` as an event stream with `headers`: the stream, or the error reply.
async fn open(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Result<Sse, (u16, Value)> {
    let mut request = stream_client().get(format!("{}{path}", app.base));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut response = request.send().await.expect("stream request sent");
    if response.status() != StatusCode::OK {
        let bytes = response.body().await.expect("error body");
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        return Err((response.status().as_u16(), body));
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("content-type").as_deref(), Some("text/event-stream"));
    assert_eq!(header("cache-control").as_deref(), Some("no-cache"));
    assert!(header("x-request-id").is_some());
    Ok(Sse {
        body: Box::pin(response),
        buffer: String::new(),
        received: 0,
    })
}

async fn open_ok(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Sse {
    match open(app, path, headers).await {
        Ok(sse) => sse,
        Err((status, body)) => panic!("stream {path} refused: {status} {body}"),
    }
}

impl Sse {
    /// The next event within `limit`: `Ok(None)` when the stream ended,
    /// `Err(())` when nothing came in time. Comments and `retry:` are skipped.
    async fn next_within(&mut self, limit: Duration) -> Result<Option<Event>, ()> {
        let deadline = Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_event(&block) {
                    return Ok(Some(event));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match actix_rt::time::timeout(left, self.body.next()).await {
                Err(_) => return Err(()),
                Ok(None) => return Ok(None),
                Ok(Some(Err(err))) => panic!("stream broke: {err}"),
                Ok(Some(Ok(bytes))) => {
                    self.received += bytes.len();
                    self.buffer
                        .push_str(std::str::from_utf8(&bytes).expect("utf-8"));
                }
            }
        }
    }

    /// The next event, which must come within `limit`.
    async fn next(&mut self, limit: Duration) -> Event {
        match self.next_within(limit).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the stream ended"),
            Err(()) => panic!("no event within {limit:?}"),
        }
    }

    /// Waits up to `limit` for a comment line (heartbeat) while no event
    /// comes; false if an event or the end came first, or nothing in time.
    async fn comment_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if block.starts_with(':') {
                    return true;
                }
                if parse_event(&block).is_some() {
                    return false;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match actix_rt::time::timeout(left, self.body.next()).await {
                Ok(Some(Ok(bytes))) => {
                    self.received += bytes.len();
                    self.buffer
                        .push_str(std::str::from_utf8(&bytes).expect("utf-8"));
                }
                _ => return false,
            }
        }
    }

    /// True when no event comes within `wait`.
    async fn quiet_for(&mut self, wait: Duration) -> bool {
        matches!(self.next_within(wait).await, Err(()))
    }
}

fn parse_event(block: &str) -> Option<Event> {
    let (mut id, mut kind, mut data) = (None, "message".to_string(), None::<String>);
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(": ").unwrap_or((line, ""));
        match field {
            "id" => id = Some(value.to_string()),
            "event" => kind = value.to_string(),
            "data" => data = Some(value.to_string()),
            _ => {}
        }
    }
    let data = data?;
    Some(Event {
        id,
        kind,
        data: serde_json::from_str(&data).expect("data is JSON"),
    })
}

fn seq(event: &Event) -> u64 {
    event
        .id
        .as_deref()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("numeric id: {event:?}"))
}

/// Asserts `event` is `seat` for `seat_id` with `status`.
#[track_caller]
fn assert_seat(event: &Event, seat_id: &str, status: &str) {
    assert_eq!(event.kind, "seat", "{event:?}");
    assert_eq!(event.data["seatId"], seat_id, "{event:?}");
    assert_eq!(event.data["status"], status, "{event:?}");
    assert!(
        event.data["at"]
            .as_str()
            .is_some_and(|at| at.ends_with('Z')),
        "{event:?}"
    );
}

fn user(app: &TestApp) -> String {
    app.token_for(UserId::from_random_bytes(rand::random()), Role::User)
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("a string: {v}"))
        .to_string()
}

fn stream_path(schedule: &str) -> String {
    format!("/api/v1/schedules/{schedule}/stream")
}

async fn cancel(app: &TestApp, token: &str, reservation: &str) {
    app.post(
        &format!("{RESERVATIONS}/{reservation}/cancel"),
        Some(token),
        json!({}),
    )
    .await
    .expect(200, "");
}

/// A server with one ungated schedule (60 seats, holds of `hold_seconds`).
async fn app_with_schedule(hold_seconds: u32) -> (TestApp, String) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, hold_seconds).await;
    (app, schedule)
}

#[actix_rt::test]
async fn another_clients_hold_sale_expiry_and_refund_each_reach_the_stream_in_order() {
    let (app, schedule) = app_with_schedule(60).await;
    let mut watcher = open_ok(&app, &stream_path(&schedule), &[]).await;
    let buyer = user(&app);
    app.fund(&buyer, 1_000_000).await;

    // Hold: HELD within 1 s of the 201.
    let sold = app.hold(&buyer, &schedule, &["VIP-1-1"]).await;
    let acknowledged = Instant::now();
    let held = watcher.next(FAN_OUT_LIMIT).await;
    assert!(acknowledged.elapsed() < FAN_OUT_LIMIT);
    assert_seat(&held, "VIP-1-1", "HELD");
    assert_eq!(held.data["at"], "2026-03-01T00:00:00Z");
    let first = seq(&held);

    // Sale: SOLD.
    app.post_keyed("/api/v1/payments", &buyer, json!({"reservationId": sold}))
        .await
        .expect(201, "");
    let paid = watcher.next(FAN_OUT_LIMIT).await;
    assert_seat(&paid, "VIP-1-1", "SOLD");
    assert_eq!(seq(&paid), first + 1);

    // Expiry: a two-seat hold left unpaid frees both seats.
    app.hold(&buyer, &schedule, &["R-1-1", "R-1-2"]).await;
    for (n, seat) in ["R-1-1", "R-1-2"].into_iter().enumerate() {
        let event = watcher.next(FAN_OUT_LIMIT).await;
        assert_seat(&event, seat, "HELD");
        assert_eq!(seq(&event), first + 2 + n as u64);
    }
    app.clock.advance_ms(60_000);
    let mut freed = Vec::new();
    for n in 0..2 {
        let event = watcher.next(SWEEP_WAIT).await;
        assert_eq!(event.data["status"], "AVAILABLE", "{event:?}");
        assert_eq!(event.data["at"], "2026-03-01T00:01:00Z");
        assert_eq!(seq(&event), first + 4 + n);
        freed.push(str_of(&event.data["seatId"]));
    }
    freed.sort();
    assert_eq!(freed, ["R-1-1", "R-1-2"]);

    // Refund (cancelling the paid reservation): AVAILABLE again.
    cancel(&app, &buyer, &sold).await;
    let refunded = watcher.next(FAN_OUT_LIMIT).await;
    assert_seat(&refunded, "VIP-1-1", "AVAILABLE");
    assert_eq!(seq(&refunded), first + 6);

    // A hold cancelled by its owner: HELD then AVAILABLE.
    let released = app.hold(&buyer, &schedule, &["S-1-1"]).await;
    cancel(&app, &buyer, &released).await;
    assert_seat(&watcher.next(FAN_OUT_LIMIT).await, "S-1-1", "HELD");
    let event = watcher.next(FAN_OUT_LIMIT).await;
    assert_seat(&event, "S-1-1", "AVAILABLE");
    assert_eq!(seq(&event), first + 8);

    // Refusals change no seat and send nothing.
    let taken = app
        .post_keyed(
            RESERVATIONS,
            &user(&app),
            json!({"scheduleId": schedule, "seatIds": ["VIP-1-1", "VIP-1-2"]}),
        )
        .await;
    assert_eq!(
        taken.status.as_u16(),
        201,
        "VIP-1-1 is free again: {}",
        taken.text
    );
    assert_seat(&watcher.next(FAN_OUT_LIMIT).await, "VIP-1-1", "HELD");
    assert_seat(&watcher.next(FAN_OUT_LIMIT).await, "VIP-1-2", "HELD");
    app.post_keyed(
        RESERVATIONS,
        &user(&app),
        json!({"scheduleId": schedule, "seatIds": ["VIP-1-2"]}),
    )
    .await
    .expect(409, "SEAT_UNAVAILABLE");
    assert!(watcher.quiet_for(Duration::from_millis(300)).await);
    drop(watcher);
    app.stop().await;
}

/// API.md: a comment line every 15 s while nothing changes (keeps proxies
/// from closing an idle stream), and the stream stays live after it.
#[actix_rt::test]
async fn an_idle_stream_sends_a_heartbeat_comment_every_15_seconds() {
    let (app, schedule) = app_with_schedule(300).await;
    let mut idle = open_ok(&app, &stream_path(&schedule), &[]).await;
    let started = Instant::now();
    assert!(
        idle.comment_within(Duration::from_secs(17)).await,
        "no heartbeat"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(14),
        "{:?}",
        started.elapsed()
    );
    app.hold(&user(&app), &schedule, &["VIP-1-1"]).await;
    assert_seat(&idle.next(FAN_OUT_LIMIT).await, "VIP-1-1", "HELD");
    drop(idle);
    app.stop().await;
}

#[actix_rt::test]
async fn a_resume_after_a_disconnect_misses_nothing_and_repeats_nothing() {
    let (app, schedule) = app_with_schedule(300).await;
    let path = stream_path(&schedule);
    let buyer = user(&app);
    let mut first = open_ok(&app, &path, &[]).await;
    app.hold(&buyer, &schedule, &["VIP-1-1"]).await;
    let seen = first.next(FAN_OUT_LIMIT).await;
    assert_seat(&seen, "VIP-1-1", "HELD");
    drop(first);

    // While disconnected: a hold of two seats and a release.
    let other = user(&app);
    let missed = app.hold(&other, &schedule, &["R-1-1", "R-1-2"]).await;
    cancel(&app, &other, &missed).await;
    let last = seen.id.clone().expect("id");
    let expected = [
        ("R-1-1", "HELD"),
        ("R-1-2", "HELD"),
        ("R-1-1", "AVAILABLE"),
        ("R-1-2", "AVAILABLE"),
    ];
    // By header (EventSource's reconnect) and by query (clients without headers).
    let by_header = open_ok(&app, &path, &[("Last-Event-ID", &last)]).await;
    let by_query = open_ok(&app, &format!("{path}?lastEventId={last}"), &[]).await;
    for mut resumed in [by_header, by_query] {
        for (n, (seat, status)) in expected.iter().enumerate() {
            let event = resumed.next(FAN_OUT_LIMIT).await;
            assert_seat(&event, seat, status);
            assert_eq!(seq(&event), seq(&seen) + 1 + n as u64);
        }
        assert!(resumed.quiet_for(Duration::from_millis(200)).await);
    }
    // Resuming at the newest event waits for the next change.
    let newest = (seq(&seen) + 4).to_string();
    let mut live = open_ok(&app, &path, &[("Last-Event-ID", &newest)]).await;
    assert!(live.quiet_for(Duration::from_millis(200)).await);
    app.hold(&buyer, &schedule, &["S-1-1"]).await;
    let next = live.next(FAN_OUT_LIMIT).await;
    assert_seat(&next, "S-1-1", "HELD");
    assert_eq!(seq(&next), seq(&seen) + 5);
    drop(live);
    app.stop().await;
}

#[actix_rt::test]
async fn a_stale_unreadable_or_future_last_event_id_starts_with_reset_then_follows() {
    let (app, schedule) = app_with_schedule(300).await;
    let path = stream_path(&schedule);
    let buyer = user(&app);
    let mut watcher = open_ok(&app, &path, &[]).await;
    app.hold(&buyer, &schedule, &["VIP-1-1"]).await;
    let newest = seq(&watcher.next(FAN_OUT_LIMIT).await);
    drop(watcher);

    // "1" is older than anything kept (as is any id from before a restart:
    // numbers start above the clock's milliseconds x 1000).
    let cases = [
        ("stale", "1".to_string(), "TOO_OLD"),
        (
            "unreadable",
            "not-a-number".to_string(),
            "UNREADABLE_LAST_EVENT_ID",
        ),
        ("negative", "-5".to_string(), "UNREADABLE_LAST_EVENT_ID"),
        ("future", (newest + 10).to_string(), "AHEAD_OF_NEWEST"),
    ];
    let mut streams = Vec::new();
    for (what, id, reason) in &cases {
        let mut by_header = open_ok(&app, &path, &[("Last-Event-ID", id)]).await;
        let reset = by_header.next(FAN_OUT_LIMIT).await;
        assert_eq!(reset.kind, "reset", "{what}: {reset:?}");
        assert_eq!(reset.data["reason"], *reason, "{what}");
        assert_eq!(
            reset.id.as_deref(),
            Some(newest.to_string().as_str()),
            "{what}"
        );
        assert_eq!(reset.data["lastEventId"], newest.to_string(), "{what}");
        streams.push(by_header);
    }
    let mut by_query = open_ok(&app, &format!("{path}?lastEventId=1"), &[]).await;
    assert_eq!(by_query.next(FAN_OUT_LIMIT).await.kind, "reset");
    streams.push(by_query);
    // After the reset each follows the live changes from the newest on.
    app.hold(&buyer, &schedule, &["VIP-1-2"]).await;
    for stream in &mut streams {
        let event = stream.next(FAN_OUT_LIMIT).await;
        assert_seat(&event, "VIP-1-2", "HELD");
        assert_eq!(seq(&event), newest + 1);
    }
    drop(streams);
    app.stop().await;
}

/// A concert on a venue of 10 rows of 20 seats where each user may hold 20.
async fn wide_schedule(app: &TestApp) -> String {
    let admin = app.admin_token().await;
    let rows: Vec<Value> = (1..=10)
        .map(|row| json!({"row": row.to_string(), "seats": 20}))
        .collect();
    let venue = app
        .post(
            "/api/v1/venues",
            Some(&admin),
            json!({"name": "Wide Hall", "address": "2 Test Street",
                "sections": [{"sectionId": "A", "name": "A", "rows": rows}]}),
        )
        .await;
    venue.expect(201, "");
    let concert = app
        .post(
            "/api/v1/concerts",
            Some(&admin),
            json!({
                "title": "Wide", "description": "many seats per user", "category": "ROCK",
                "venueId": venue.body["venueId"],
                "priceGrades": [{"grade": "A", "price": 1000, "sectionIds": ["A"]}],
                "schedules": [{"startsAt": "2026-04-01T10:00:00Z", "endsAt": "2026-04-01T13:00:00Z",
                    "bookingOpensAt": "2026-02-01T00:00:00Z", "bookingClosesAt": "2026-04-01T09:00:00Z"}],
                "maxSeatsPerUser": 20, "holdSeconds": 300
            }),
        )
        .await;
    concert.expect(201, "");
    str_of(&concert.body["schedules"][0]["scheduleId"])
}

/// A reader that stops reading is not buffered for: once it is further
/// behind than the kept events it gets `reset` and the end of the stream,
/// having received far less than what was published meanwhile. (The kernel's
/// socket buffers on loopback take several MB first, so the filler traffic
/// is made in process, through the same registry the handlers call.)
#[actix_rt::test]
async fn a_reader_that_stops_reading_is_reset_and_cut_off_with_bounded_memory() {
    let app = spawn_app().await;
    let schedule = wide_schedule(&app).await;
    let schedule_id = ScheduleId::parse(&schedule).expect("schedule id");
    let path = stream_path(&schedule);
    let mut stalled = open_ok(&app, &path, &[]).await;
    let mut keeping_up = open_ok(&app, &path, &[]).await;
    let users: Vec<UserId> = (0..10)
        .map(|_| UserId::from_random_bytes(rand::random()))
        .collect();
    // Each round: 200 seats held, then released: 400 events.
    let kept = boxoffice_actors::seat_feed::SEAT_FEED_KEPT_EVENTS;
    const PUBLISHED: usize = 80_000;
    let mut published = 0usize;
    let mut followed = 0usize;
    while published < PUBLISHED {
        let holds = futures_util::future::join_all(users.iter().map(|who| {
            app.registry.hold(
                *who,
                HoldCommand {
                    schedule_id,
                    selection: SeatSelection::BestAvailable {
                        quantity: 20,
                        grade: None,
                        section_id: None,
                    },
                    queue_token: None,
                    idem: None,
                },
            )
        }))
        .await;
        futures_util::future::join_all(users.iter().zip(holds).map(|(who, held)| {
            let held = held.expect("a row of 20 is free");
            app.registry.cancel(*who, held.reservation_id)
        }))
        .await
        .into_iter()
        .for_each(|cancelled| {
            cancelled.expect("cancelled");
        });
        published += 400;
        // The other subscriber keeps up meanwhile.
        while followed < published {
            let event = keeping_up.next(FAN_OUT_LIMIT).await;
            assert_eq!(event.kind, "seat");
            followed += 1;
        }
    }
    // The stalled reader now reads: what the server had buffered, then the reset and the end.
    let mut events = 0usize;
    let last = loop {
        match stalled.next_within(Duration::from_secs(5)).await {
            Ok(Some(event)) if event.kind == "seat" => events += 1,
            Ok(Some(event)) => break event,
            Ok(None) => panic!("ended without a reset after {events} events"),
            Err(()) => panic!("no reset after {events} events"),
        }
    };
    assert_eq!(last.kind, "reset");
    assert_eq!(last.data["reason"], "SLOW_SUBSCRIBER");
    assert!(
        matches!(stalled.next_within(Duration::from_secs(5)).await, Ok(None)),
        "closed after the reset"
    );
    assert!(
        events < published - kept,
        "received {events} of {published} events: the server buffered for a stalled reader"
    );
    assert!(
        stalled.received < 8 * 1024 * 1024,
        "{} bytes",
        stalled.received
    );
    // The one that kept up is still open and live.
    app.hold(&user(&app), &schedule, &["A-1-1"]).await;
    assert_seat(&keeping_up.next(FAN_OUT_LIMIT).await, "A-1-1", "HELD");
    drop((stalled, keeping_up));
    app.stop().await;
}

/// What is refused, the stream's path, and the one header sent.
type RefusedCase<'a> = (&'a str, String, Option<(&'a str, &'a str)>);

/// One admission per 100 ms, one active user at a time.
fn narrow_queue() -> Value {
    json!({"enabled": true, "batchSize": 1, "intervalMs": 100, "maxActive": 1, "activeSeconds": 600})
}

async fn gated_schedule(app: &TestApp) -> String {
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, Some(narrow_queue()), 300).await;
    schedule
}

async fn join(app: &TestApp, token: &str, schedule: &str) -> String {
    let joined = app
        .post(
            "/api/v1/queue/tokens",
            Some(token),
            json!({"scheduleId": schedule}),
        )
        .await;
    joined.expect(201, "");
    str_of(&joined.body["token"])
}

async fn queue_status(app: &TestApp, token: &str, queue_token: &str) -> Value {
    let reply = app
        .get_with(
            "/api/v1/queue/tokens/current",
            Some(token),
            &[("Queue-Token", queue_token)],
        )
        .await;
    reply.expect(200, "");
    reply.body.clone()
}

async fn wait_active(app: &TestApp, token: &str, queue_token: &str) {
    let started = Instant::now();
    while queue_status(app, token, queue_token).await["status"] != "ACTIVE" {
        assert!(started.elapsed() < Duration::from_secs(5), "never admitted");
        app.registry.queue().command(TickNow).await.expect("tick");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn a_gated_schedules_stream_needs_an_active_queue_token_and_no_user_token() {
    let app = spawn_app().await;
    let gated = gated_schedule(&app).await;
    let other_gated = gated_schedule(&app).await;
    let path = stream_path(&gated);
    let (first, second) = (user(&app), user(&app));
    let active = join(&app, &first, &gated).await;
    wait_active(&app, &first, &active).await;
    let waiting = join(&app, &second, &gated).await;
    assert_eq!(
        queue_status(&app, &second, &waiting).await["status"],
        "WAITING"
    );
    let elsewhere = join(&app, &second, &other_gated).await;
    wait_active(&app, &second, &elsewhere).await;
    let mut forged = active.clone();
    let end = forged.pop().expect("char");
    forged.push(if end == 'A' { 'B' } else { 'A' });

    let bearer = format!("Bearer {first}");
    let refused: Vec<RefusedCase> = vec![
        ("no token", path.clone(), None),
        (
            "a user token only",
            path.clone(),
            Some(("Authorization", &bearer)),
        ),
        (
            "a WAITING token",
            format!("{path}?queueToken={waiting}"),
            None,
        ),
        (
            "another schedule's ACTIVE token",
            path.clone(),
            Some(("Queue-Token", &elsewhere)),
        ),
        (
            "a forged token",
            format!("{path}?queueToken={forged}"),
            None,
        ),
        ("garbage", path.clone(), Some(("Queue-Token", "garbage"))),
    ];
    for (what, path, header) in &refused {
        let headers: Vec<(&str, &str)> = header.iter().copied().collect();
        match open(&app, path, &headers).await {
            Ok(_) => panic!("{what}: streamed"),
            Err((status, body)) => {
                assert_eq!(status, 403, "{what}: {body}");
                assert_eq!(body["error"]["code"], "QUEUE_NOT_ACTIVE", "{what}");
            }
        }
    }
    // With the ACTIVE token, by query (EventSource) or header: it streams.
    let mut by_query = open_ok(&app, &format!("{path}?queueToken={active}"), &[]).await;
    let mut by_header = open_ok(&app, &path, &[("Queue-Token", &active)]).await;
    let reply = app
        .post_with(
            RESERVATIONS,
            Some(&first),
            &[("Idempotency-Key", "gated-hold"), ("Queue-Token", &active)],
            json!({"scheduleId": gated, "seatIds": ["VIP-1-1"]}),
        )
        .await;
    reply.expect(201, "");
    assert_seat(&by_query.next(FAN_OUT_LIMIT).await, "VIP-1-1", "HELD");
    assert_seat(&by_header.next(FAN_OUT_LIMIT).await, "VIP-1-1", "HELD");
    drop((by_query, by_header));
    app.stop().await;
}

#[actix_rt::test]
async fn the_queue_stream_sends_the_answer_then_changes_and_ends_after_active() {
    let app = spawn_app().await;
    let gated = gated_schedule(&app).await;
    let (first, second) = (user(&app), user(&app));
    let ahead = join(&app, &first, &gated).await;
    wait_active(&app, &first, &ahead).await;
    let token = join(&app, &second, &gated).await;
    let path = format!("/api/v1/queue/tokens/{token}/stream");
    // No user token: the token in the path is the credential.
    let mut stream = open_ok(&app, &path, &[]).await;
    let opening = stream.next(FAN_OUT_LIMIT).await;
    assert_eq!(opening.kind, "queue");
    assert_eq!(opening.data["token"], token.as_str());
    assert_eq!(opening.data["scheduleId"], gated.as_str());
    assert_eq!(opening.data["status"], "WAITING");
    assert_eq!(opening.data["position"], 1);
    let pace = opening.data["pollAfterMs"].as_u64().expect("pollAfterMs");
    assert!((100..=60_000).contains(&pace));
    assert!(opening.data["expiresAt"].is_string());

    // While it waits, the stream repeats the answer at least every pollAfterMs
    // and keeps the place (an open stream counts as polling): the clock
    // passes the 2-minute drop-out while the stream is the only poller.
    let repeated = stream.next(Duration::from_millis(pace + 1_000)).await;
    assert_eq!(repeated.data["status"], "WAITING");
    for _ in 0..3 {
        app.clock.advance_ms(50_000);
        actix_rt::time::sleep(Duration::from_millis(600)).await;
        app.registry.queue().command(TickNow).await.expect("tick");
    }
    // The one ahead pays nothing and gives way: their admission runs out.
    app.clock.advance_ms(600_000);
    actix_rt::time::sleep(Duration::from_millis(600)).await;
    app.registry.queue().command(TickNow).await.expect("tick");
    let started = Instant::now();
    let active = loop {
        let event = stream.next(Duration::from_secs(5)).await;
        assert_eq!(event.kind, "queue");
        if event.data["status"] == "ACTIVE" {
            break event;
        }
        assert_eq!(event.data["status"], "WAITING", "{event:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "never ACTIVE");
        app.registry.queue().command(TickNow).await.expect("tick");
    };
    assert_eq!(active.data["position"], 0);
    assert!(
        matches!(stream.next_within(Duration::from_secs(2)).await, Ok(None)),
        "ends after ACTIVE"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn streams_refuse_unknown_schedules_bad_tokens_and_other_methods() {
    let (app, schedule) = app_with_schedule(300).await;
    for path in [
        stream_path("7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12"),
        stream_path("not-an-id"),
    ] {
        match open(&app, &path, &[]).await {
            Ok(_) => panic!("{path}: streamed"),
            Err((status, body)) => {
                assert_eq!(status, 404, "{path}: {body}");
                assert_eq!(body["error"]["code"], "NOT_FOUND");
            }
        }
    }
    let joined = join(&app, &user(&app), &schedule).await;
    let mut forged = joined.clone();
    let end = forged.pop().expect("char");
    forged.push(if end == 'A' { 'B' } else { 'A' });
    for token in ["garbage", "BXQ1.AAAA.BBBB", forged.as_str()] {
        match open(&app, &format!("/api/v1/queue/tokens/{token}/stream"), &[]).await {
            Ok(_) => panic!("{token}: streamed"),
            Err((status, body)) => {
                assert_eq!(status, 401, "{token}: {body}");
                assert_eq!(body["error"]["code"], "QUEUE_TOKEN_INVALID");
            }
        }
    }
    // An ungated schedule's token is ACTIVE at once: one event, then the end.
    let mut done = open_ok(&app, &format!("/api/v1/queue/tokens/{joined}/stream"), &[]).await;
    assert_eq!(done.next(FAN_OUT_LIMIT).await.data["status"], "ACTIVE");
    assert!(matches!(
        done.next_within(Duration::from_secs(2)).await,
        Ok(None)
    ));
    app.post(&stream_path(&schedule), None, json!({}))
        .await
        .expect(405, "METHOD_NOT_ALLOWED");
    app.stop().await;
}

/// Blocking shows a seat SOLD on the public stream (never BLOCKED: the
/// stream is public, like the fans' map), unblocking AVAILABLE again, a comp
/// of a blocked seat keeps it SOLD, and a cancelled date frees its held and
/// sold seats.
#[actix_rt::test]
async fn blocks_unblocks_comps_and_a_cancelled_date_reach_the_stream() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 60).await;
    let mut watcher = open_ok(&app, &stream_path(&schedule), &[]).await;
    let blocks = format!("/api/v1/schedules/{schedule}/blocks");

    app.post(
        &blocks,
        Some(&admin),
        json!({"seatIds": ["VIP-1-3", "VIP-1-4"], "reason": "sound desk"}),
    )
    .await
    .expect(200, "");
    let first = watcher.next(FAN_OUT_LIMIT).await;
    assert_seat(&first, "VIP-1-3", "SOLD");
    let second = watcher.next(FAN_OUT_LIMIT).await;
    assert_seat(&second, "VIP-1-4", "SOLD");
    assert_eq!(seq(&second), seq(&first) + 1);

    app.raw(
        awc::http::Method::DELETE,
        &blocks,
        Some(&admin),
        &[],
        Some((
            "application/json",
            json!({"seatIds": ["VIP-1-4"]}).to_string().into_bytes(),
        )),
    )
    .await
    .expect(200, "");
    let unblocked = watcher.next(FAN_OUT_LIMIT).await;
    assert_seat(&unblocked, "VIP-1-4", "AVAILABLE");
    assert_eq!(seq(&unblocked), seq(&first) + 2);

    let (guest, guest_token) = app.register_and_login("guest").await;
    app.post(
        &format!("/api/v1/schedules/{schedule}/comps"),
        Some(&admin),
        json!({"seatIds": ["VIP-1-3"], "userId": guest}),
    )
    .await
    .expect(201, "");
    let comped = watcher.next(FAN_OUT_LIMIT).await;
    assert_seat(&comped, "VIP-1-3", "SOLD");
    assert!(!comped.data.to_string().contains("BLOCKED"));

    let buyer = user(&app);
    app.fund(&buyer, 1_000_000).await;
    let sold = app.hold(&buyer, &schedule, &["R-1-1"]).await;
    app.post_keyed("/api/v1/payments", &buyer, json!({"reservationId": sold}))
        .await
        .expect(201, "");
    app.hold(&guest_token, &schedule, &["R-1-2"]).await;
    assert_seat(&watcher.next(FAN_OUT_LIMIT).await, "R-1-1", "HELD");
    assert_seat(&watcher.next(FAN_OUT_LIMIT).await, "R-1-1", "SOLD");
    assert_seat(&watcher.next(FAN_OUT_LIMIT).await, "R-1-2", "HELD");

    app.post(
        &format!("/api/v1/schedules/{schedule}/cancel"),
        Some(&admin),
        json!({}),
    )
    .await
    .expect(200, "");
    // The held seat, the sold one and the comp are freed (in batches, in
    // the background): each appears once, AVAILABLE.
    let mut freed = Vec::new();
    for _ in 0..3 {
        let event = watcher.next(SWEEP_WAIT).await;
        assert_eq!(event.data["status"], "AVAILABLE", "{event:?}");
        freed.push(str_of(&event.data["seatId"]));
    }
    freed.sort();
    assert_eq!(freed, ["R-1-1", "R-1-2", "VIP-1-3"]);
    assert!(watcher.quiet_for(Duration::from_millis(300)).await);
    drop(watcher);
    app.stop().await;
}

/// Opens `path` expecting the documented 503 past a stream bound.
async fn assert_unavailable(app: &TestApp, what: &str, path: &str) {
    match open(app, path, &[]).await {
        Ok(_) => panic!("{what}: streamed past the bound"),
        Err((status, body)) => {
            assert_eq!(status, 503, "{what}: {body}");
            assert_eq!(body["error"]["code"], "UNAVAILABLE", "{what}");
        }
    }
}

/// Past the per-schedule bound a seat stream is 503, and past the bound on
/// all open streams any stream is (queue streams too); a refusal takes no
/// place, and a closed stream gives its place back. The bounds are lowered
/// through `Settings::stream_limits` (production: 20,000 and 50,000).
#[actix_rt::test]
async fn past_the_stream_bounds_a_stream_is_503_and_a_closed_one_frees_its_place() {
    let app = spawn_app_with(|s| {
        s.stream_limits = boxoffice_http::sse::StreamLimits {
            max_open: 3,
            max_per_schedule: 2,
        }
    })
    .await;
    let admin = app.admin_token().await;
    let (_, first) = app.create_concert(&admin, None, 300).await;
    let (_, second) = app.create_concert(&admin, None, 300).await;
    let (first_path, second_path) = (stream_path(&first), stream_path(&second));
    let mut a1 = open_ok(&app, &first_path, &[]).await;
    let a2 = open_ok(&app, &first_path, &[]).await;
    assert_unavailable(&app, "a third on one schedule", &first_path).await;
    let b1 = open_ok(&app, &second_path, &[]).await;
    assert_unavailable(&app, "a fourth in all", &second_path).await;
    let queue_token = join(&app, &user(&app), &second).await;
    assert_unavailable(
        &app,
        "a queue stream past the bound in all",
        &format!("/api/v1/queue/tokens/{queue_token}/stream"),
    )
    .await;
    // The refused ones took nothing: the open streams still follow.
    let owner = user(&app);
    app.hold(&owner, &first, &["VIP-1-1"]).await;
    assert_seat(&a1.next(FAN_OUT_LIMIT).await, "VIP-1-1", "HELD");
    // Closing one gives its place back once the server sees the close: a
    // stream waiting for events learns it at its next write (an event, or
    // the 15 s heartbeat), so changes are made until it does.
    drop(a2);
    let started = Instant::now();
    let reopened = loop {
        match open(&app, &second_path, &[]).await {
            Ok(sse) => break sse,
            Err((503, _)) if started.elapsed() < Duration::from_secs(10) => {
                let held = app.hold(&owner, &first, &["VIP-1-2"]).await;
                cancel(&app, &owner, &held).await;
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
            Err((status, body)) => panic!("the freed place was not given back: {status} {body}"),
        }
    };
    assert_unavailable(&app, "full again", &first_path).await;
    drop((a1, b1, reopened));
    app.stop().await;
}

/// The queue-token stream is the waiting room (an open poll), so load
/// shedding never refuses it: with one request let in at a time, a crowd of
/// queue streams opening while seat maps are asked for all stream, while the
/// seat maps (ordinary requests) show the limit was indeed exceeded.
#[actix_rt::test]
async fn queue_streams_are_never_shed_even_far_past_the_in_flight_limit() {
    let app = spawn_app_with(|s| s.max_in_flight_requests = 1).await;
    let gated = gated_schedule(&app).await;
    let ahead = user(&app);
    let admitted = join(&app, &ahead, &gated).await;
    wait_active(&app, &ahead, &admitted).await;
    let mut tokens = Vec::new();
    for _ in 0..60 {
        tokens.push(join(&app, &user(&app), &gated).await);
    }
    let seat_map = format!("/api/v1/schedules/{gated}/seats");
    let queue_header = [("Queue-Token", admitted.as_str())];
    let (streams, maps) = futures_util::future::join(
        futures_util::future::join_all(tokens.iter().map(|token| {
            let path = format!("/api/v1/queue/tokens/{token}/stream");
            let app = &app;
            async move { open(app, &path, &[]).await }
        })),
        futures_util::future::join_all(
            (0..60).map(|_| app.get_with(&seat_map, Some(&ahead), &queue_header)),
        ),
    )
    .await;
    let shed = maps
        .iter()
        .filter(|reply| reply.status.as_u16() == 503)
        .count();
    assert!(
        shed > 0,
        "the in-flight limit was never exceeded: nothing tested"
    );
    let mut open_streams = Vec::new();
    for (n, opened) in streams.into_iter().enumerate() {
        match opened {
            Ok(mut sse) => {
                let first = sse.next(Duration::from_secs(5)).await;
                assert_eq!(first.data["status"], "WAITING", "stream {n}");
                open_streams.push(sse);
            }
            Err((status, body)) => panic!("queue stream {n} refused: {status} {body}"),
        }
    }
    drop(open_streams);
    app.stop().await;
}

/// A gated schedule's stream opened with an ACTIVE token ends once that
/// admission is no longer ACTIVE: `event: reset` (reason QUEUE_NOT_ACTIVE,
/// the last id sent) within about a second of its expiry, then the end; a
/// reconnect with the same token is 403 QUEUE_NOT_ACTIVE.
#[actix_rt::test]
async fn a_gated_stream_ends_with_a_reset_once_its_admission_expires() {
    let app = spawn_app().await;
    let gated = gated_schedule(&app).await;
    let path = stream_path(&gated);
    let fan = user(&app);
    let active = join(&app, &fan, &gated).await;
    wait_active(&app, &fan, &active).await;
    let mut stream = open_ok(&app, &path, &[("Queue-Token", &active)]).await;
    let reply = app
        .post_with(
            RESERVATIONS,
            Some(&fan),
            &[("Idempotency-Key", "gate-hold"), ("Queue-Token", &active)],
            json!({"scheduleId": gated, "seatIds": ["VIP-1-1"]}),
        )
        .await;
    reply.expect(201, "");
    let held = stream.next(FAN_OUT_LIMIT).await;
    assert_seat(&held, "VIP-1-1", "HELD");
    // Still ACTIVE: re-checks pass and the stream stays open.
    assert!(
        stream
            .next_within(Duration::from_millis(2_500))
            .await
            .is_err(),
        "nothing is sent while the admission lasts"
    );
    // activeSeconds is 600: past it, the next check ends the stream.
    app.clock.advance_ms(601_000);
    let reset = stream.next(Duration::from_secs(3)).await;
    assert_eq!(reset.kind, "reset");
    assert_eq!(reset.data["reason"], "QUEUE_NOT_ACTIVE");
    assert_eq!(reset.id, held.id, "resumes after the last event sent");
    assert!(
        matches!(stream.next_within(Duration::from_secs(2)).await, Ok(None)),
        "closed after the reset"
    );
    match open(&app, &path, &[("Queue-Token", &active)]).await {
        Ok(_) => panic!("streamed with an expired admission"),
        Err((status, body)) => {
            assert_eq!(status, 403, "{body}");
            assert_eq!(body["error"]["code"], "QUEUE_NOT_ACTIVE");
        }
    }
    app.stop().await;
}

/// A payment ends the queue token (API.md, "Waiting room"), and with it the
/// gated stream opened with it: after the seat's SOLD, `event: reset`
/// (QUEUE_NOT_ACTIVE) and the end.
#[actix_rt::test]
async fn a_gated_stream_ends_with_a_reset_once_a_payment_ends_its_token() {
    let app = spawn_app().await;
    let gated = gated_schedule(&app).await;
    let fan = user(&app);
    app.fund(&fan, 1_000_000).await;
    let active = join(&app, &fan, &gated).await;
    wait_active(&app, &fan, &active).await;
    let mut stream = open_ok(&app, &stream_path(&gated), &[("Queue-Token", &active)]).await;
    let held = app
        .post_with(
            RESERVATIONS,
            Some(&fan),
            &[
                ("Idempotency-Key", "pay-gate-hold"),
                ("Queue-Token", &active),
            ],
            json!({"scheduleId": gated, "seatIds": ["VIP-1-1"]}),
        )
        .await;
    held.expect(201, "");
    assert_seat(&stream.next(FAN_OUT_LIMIT).await, "VIP-1-1", "HELD");
    app.post_with(
        "/api/v1/payments",
        Some(&fan),
        &[
            ("Idempotency-Key", "pay-gate-pay"),
            ("Queue-Token", &active),
        ],
        json!({"reservationId": held.body["reservationId"]}),
    )
    .await
    .expect(201, "");
    let sold = stream.next(FAN_OUT_LIMIT).await;
    assert_seat(&sold, "VIP-1-1", "SOLD");
    let reset = stream.next(Duration::from_secs(3)).await;
    assert_eq!(reset.kind, "reset");
    assert_eq!(reset.data["reason"], "QUEUE_NOT_ACTIVE");
    assert_eq!(reset.id, sold.id);
    assert!(
        matches!(stream.next_within(Duration::from_secs(2)).await, Ok(None)),
        "closed after the reset"
    );
    app.stop().await;
}
