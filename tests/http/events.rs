//! The booking-event feed (`GET /admin/events`) through real HTTP: every
//! kind of change (hold, payment, failed payment, cancel, expiry, refund,
//! schedule cancel) appears as its event with its data; paging with `limit`
//! and `next` never skips or repeats (also inside one batch's events); an
//! empty page still gives `next`; long-poll answers when an event arrives
//! and after `waitSeconds` when none does; concurrent writers with a
//! long-polling reader; a restart keeps every event and its position; bad
//! cursors, limits, waits and callers are refused.

use boxoffice_actors::Role;
use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use boxoffice_http::auth::TokenKind;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use test_support::app::*;

const EVENTS: &str = "/api/v1/admin/events";
const RESERVATIONS: &str = "/api/v1/reservations";
const PAYMENTS: &str = "/api/v1/payments";
const FUNDS: i64 = 1_000_000;
/// How long background work (expiry sweep, a schedule's cancellation
/// batches) may take to show on a busy 2-core machine.
const SETTLE_WAIT: Duration = Duration::from_secs(20);

/// A funded USER with a random id (no account needed to book).
async fn fan(app: &TestApp) -> String {
    let token = app.token_for(UserId::from_random_bytes(rand::random()), Role::User);
    app.fund(&token, FUNDS).await;
    token
}

async fn pay(app: &TestApp, token: &str, reservation: &str) -> Reply {
    app.post_keyed(PAYMENTS, token, json!({"reservationId": reservation}))
        .await
}

async fn page(app: &TestApp, admin: &str, query: &str) -> Reply {
    app.get(&format!("{EVENTS}{query}"), Some(admin)).await
}

/// Every event after `after` (None: from the start), following `next` with
/// pages of `limit`; returns them and the last `next`.
async fn read_all(
    app: &TestApp,
    admin: &str,
    after: Option<&str>,
    limit: usize,
) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    let mut cursor = after.map(str::to_owned);
    loop {
        let query = match &cursor {
            Some(after) => format!("?after={after}&limit={limit}"),
            None => format!("?limit={limit}"),
        };
        let reply = page(app, admin, &query).await;
        reply.expect(200, "");
        let items = reply.body["items"].as_array().expect("items").clone();
        let next = reply.body["next"].as_str().expect("next").to_string();
        assert!(items.len() <= limit, "a page holds at most limit events");
        let done = items.is_empty();
        events.extend(items);
        cursor = Some(next.clone());
        if done {
            return (events, next);
        }
    }
}

/// Waits until the feed holds an event of `kind` for which `matches` holds; returns every event.
async fn await_event(
    app: &TestApp,
    admin: &str,
    kind: &str,
    matches: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + SETTLE_WAIT;
    loop {
        let (events, _) = read_all(app, admin, None, 1_000).await;
        if events.iter().any(|e| e["type"] == kind && matches(e)) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} event appeared: {events:#?}"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

fn of_reservation<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["data"]["reservationId"] == id)
        .collect()
}

fn types(events: &[&Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_string())
        .collect()
}

fn assert_unique_ids(events: &[Value]) {
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|e| e["eventId"].as_str().expect("eventId"))
        .collect();
    assert_eq!(ids.len(), events.len(), "every eventId is unique");
}

#[actix_rt::test]
async fn every_change_appears_as_its_event_with_the_data_its_get_shows() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 60).await;
    let (_, empty) = read_all(&app, &admin, None, 100).await;
    assert_eq!(
        empty, "0-0",
        "a fresh feed is empty and says where to start"
    );

    // A hold, then its payment.
    let fan_a = fan(&app).await;
    let paid = app.hold(&fan_a, &schedule, &["VIP-1-1", "VIP-1-2"]).await;
    let payment = pay(&app, &fan_a, &paid).await;
    payment.expect(201, "");
    let payment_id = payment.body["paymentId"].as_str().expect("paymentId");
    // A hold its owner cancels.
    let released = app.hold(&fan_a, &schedule, &["R-1-1"]).await;
    app.post(
        &format!("{RESERVATIONS}/{released}/cancel"),
        Some(&fan_a),
        json!({}),
    )
    .await
    .expect(200, "");
    // A payment refused (no money): the payment fails, the hold stays.
    let broke = app.token_for(UserId::from_random_bytes(rand::random()), Role::User);
    let unpaid = app.hold(&broke, &schedule, &["S-1-1"]).await;
    pay(&app, &broke, &unpaid)
        .await
        .expect(402, "INSUFFICIENT_BALANCE");
    // The paid reservation cancelled: refunded.
    app.post(
        &format!("{RESERVATIONS}/{paid}/cancel"),
        Some(&fan_a),
        json!({}),
    )
    .await
    .expect(200, "");

    let (events, _) = read_all(&app, &admin, None, 1_000).await;
    assert_unique_ids(&events);
    let paid_events = of_reservation(&events, &paid);
    assert_eq!(
        types(&paid_events),
        [
            "booking.created",
            "payment.completed",
            "booking.confirmed",
            "refund.issued",
            "booking.cancelled"
        ]
    );
    // Each body as the API's own GETs show them.
    let created = paid_events[0];
    assert_eq!(created["data"]["status"], "HELD");
    assert_eq!(created["data"]["scheduleId"], schedule.as_str());
    assert_eq!(created["data"]["totalAmount"], 300_000);
    assert_eq!(created["data"]["seats"].as_array().map(Vec::len), Some(2));
    assert_eq!(created["createdAt"], created["data"]["heldAt"]);
    let completed = paid_events[1];
    assert_eq!(completed["data"]["paymentId"], payment_id);
    assert_eq!(completed["data"]["status"], "COMPLETED");
    assert_eq!(completed["data"]["amount"], 300_000);
    assert_eq!(completed["data"]["tickets"], payment.body["tickets"]);
    let confirmed = paid_events[2];
    assert_eq!(confirmed["data"]["status"], "CONFIRMED");
    assert_eq!(confirmed["data"]["paymentId"], payment_id);
    let refund = paid_events[3];
    assert_eq!(
        refund["data"],
        json!({"paymentId": payment_id, "reservationId": paid, "amount": 300_000,
               "refundedAt": refund["createdAt"]})
    );
    let cancelled = paid_events[4];
    assert_eq!(cancelled["data"]["status"], "CANCELLED");
    assert_eq!(cancelled["data"]["refundAmount"], 300_000);
    // What GET /reservations/{id} shows now is the last event's data.
    let now = app
        .get(&format!("{RESERVATIONS}/{paid}"), Some(&fan_a))
        .await;
    now.expect(200, "");
    assert_eq!(cancelled["data"], now.body);

    assert_eq!(
        types(&of_reservation(&events, &released)),
        ["booking.created", "booking.cancelled"]
    );
    let failed = of_reservation(&events, &unpaid);
    assert_eq!(types(&failed), ["booking.created", "payment.failed"]);
    assert_eq!(failed[1]["data"]["status"], "FAILED");
    assert_eq!(failed[1]["data"]["amount"], 50_000);
    assert!(failed[1]["data"]["paymentId"].is_string());
    assert!(failed[1]["data"].get("paidAt").is_none());

    // An expiry: the hold of `unpaid` (60 s) runs out on the test clock.
    app.clock.advance_ms(61_000);
    let events = await_event(&app, &admin, "booking.expired", |e| {
        e["data"]["reservationId"] == unpaid.as_str()
    })
    .await;
    let expired = of_reservation(&events, &unpaid);
    assert_eq!(expired.last().expect("event")["data"]["status"], "EXPIRED");

    // A schedule cancel: its event carries the cancel's answer, then the
    // batches' events end each reservation.
    let fan_b = fan(&app).await;
    let held = app.hold(&fan_b, &schedule, &["S-2-1"]).await;
    let sold = app.hold(&fan_b, &schedule, &["S-2-2"]).await;
    pay(&app, &fan_b, &sold).await.expect(201, "");
    let answer = app
        .post(
            &format!("/api/v1/schedules/{schedule}/cancel"),
            Some(&admin),
            json!({}),
        )
        .await;
    answer.expect(200, "");
    let events = await_event(&app, &admin, "refund.issued", |e| {
        e["data"]["reservationId"] == sold.as_str()
    })
    .await;
    let cancel = events
        .iter()
        .find(|e| e["type"] == "schedule.cancelled")
        .expect("schedule.cancelled");
    assert_eq!(cancel["data"], answer.body);
    assert_eq!(
        types(&of_reservation(&events, &held)),
        ["booking.created", "booking.cancelled"]
    );
    assert_eq!(
        types(&of_reservation(&events, &sold)),
        [
            "booking.created",
            "payment.completed",
            "booking.confirmed",
            "refund.issued",
            "booking.cancelled"
        ]
    );
    // Commit order: the schedule's cancel comes before the batches it starts.
    let position = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred).expect("event");
    assert!(
        position(&|e| e["type"] == "schedule.cancelled")
            < position(
                &|e| e["type"] == "refund.issued" && e["data"]["reservationId"] == sold.as_str()
            )
    );
}

#[actix_rt::test]
async fn paging_with_limit_and_next_never_skips_or_repeats() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let token = fan(&app).await;
    for seat in ["S-1-1", "S-1-2", "S-1-3"] {
        let id = app.hold(&token, &schedule, &[seat]).await;
        // A payment writes two events in one batch: limit 1 splits it.
        pay(&app, &token, &id).await.expect(201, "");
    }
    let (all, last) = read_all(&app, &admin, None, 1_000).await;
    assert_eq!(all.len(), 9);
    assert_unique_ids(&all);
    for limit in [1, 2, 4] {
        let (paged, next) = read_all(&app, &admin, None, limit).await;
        assert_eq!(
            paged, all,
            "pages of {limit} read the same events in the same order"
        );
        assert_eq!(next, last, "and end at the same cursor");
    }
    // An empty page still says where to go on, and following it stays put.
    let reply = page(&app, &admin, &format!("?after={last}")).await;
    reply.expect(200, "");
    assert_eq!(reply.body, json!({"items": [], "next": last}));
    // Resuming from the middle of a batch gives the rest of it.
    let first_two = page(&app, &admin, "?limit=2").await;
    let (rest, _) = read_all(
        &app,
        &admin,
        Some(first_two.body["next"].as_str().expect("next")),
        3,
    )
    .await;
    assert_eq!(rest, all[2..].to_vec());
    // New events after the last cursor are exactly the new ones.
    let id = app.hold(&token, &schedule, &["S-2-1"]).await;
    let (new, _) = read_all(&app, &admin, Some(&last), 10).await;
    assert_eq!(types(&new.iter().collect::<Vec<_>>()), ["booking.created"]);
    assert_eq!(new[0]["data"]["reservationId"], id.as_str());
}

#[actix_rt::test]
async fn a_long_poll_answers_when_an_event_arrives_or_after_its_wait() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let token = fan(&app).await;
    let (_, start) = read_all(&app, &admin, None, 100).await;

    // Nothing happens: the answer comes after waitSeconds, empty, with next.
    let started = Instant::now();
    let reply = page(&app, &admin, &format!("?after={start}&waitSeconds=1")).await;
    reply.expect(200, "");
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(reply.body, json!({"items": [], "next": start}));

    // A hold during the wait: the answer comes with it, well before the wait ends.
    let started = Instant::now();
    let query = format!("?after={start}&waitSeconds=20");
    let waiting = page(&app, &admin, &query);
    let holding = async {
        actix_rt::time::sleep(Duration::from_millis(300)).await;
        app.hold(&token, &schedule, &["R-1-1"]).await
    };
    let (reply, id) = futures_util::join!(waiting, holding);
    reply.expect(200, "");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the poll answered when the event came"
    );
    let items = reply.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["type"], "booking.created");
    assert_eq!(items[0]["data"]["reservationId"], id.as_str());
    // waitSeconds=0 answers at once.
    let next = reply.body["next"].as_str().expect("next");
    let started = Instant::now();
    page(&app, &admin, &format!("?after={next}&waitSeconds=0"))
        .await
        .expect(200, "");
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[actix_rt::test]
async fn bad_cursors_limits_waits_and_callers_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let token = fan(&app).await;
    let id = app.hold(&token, &schedule, &["R-1-1"]).await;
    pay(&app, &token, &id).await.expect(201, "");
    let (events, next) = read_all(&app, &admin, None, 100).await;
    assert_eq!(events.len(), 3);
    for (what, query) in [
        ("garbage cursor", "?after=abc"),
        ("empty cursor", "?after="),
        ("negative cursor", "?after=-1-1"),
        ("future cursor", "?after=999-1"),
        ("past the record's events", "?after=2-3"),
        ("a start that is not 0-0", "?after=0-1"),
        ("no events consumed of a record", "?after=1-0"),
        ("limit 0", "?limit=0"),
        ("limit 1001", "?limit=1001"),
        ("limit x", "?limit=x"),
        ("limit -1", "?limit=-1"),
        ("waitSeconds 31", "?waitSeconds=31"),
        ("waitSeconds x", "?waitSeconds=x"),
        ("waitSeconds -1", "?waitSeconds=-1"),
    ] {
        page(&app, &admin, query)
            .await
            .expect_case(what, 400, "VALIDATION_ERROR");
    }
    let (_, user) = app.account_token(Role::User).await;
    let (staff_id, staff) = app.account_token(Role::Staff).await;
    let expired = app
        .keys()
        .issue(
            staff_id,
            Role::Admin,
            TokenKind::Access,
            Timestamp(START.0 - 7 * 24 * 3_600_000),
        )
        .expect("token");
    for (what, token, status, code) in [
        ("no token", None, 401, "UNAUTHORIZED"),
        ("expired token", Some(expired.as_str()), 401, "UNAUTHORIZED"),
        ("USER", Some(user.as_str()), 403, "FORBIDDEN"),
        ("STAFF", Some(staff.as_str()), 403, "FORBIDDEN"),
    ] {
        app.get(EVENTS, token).await.expect_case(what, status, code);
    }
    // Refusals change nothing: the feed reads the same.
    assert_eq!(read_all(&app, &admin, None, 100).await, (events, next));
}

/// Concurrent holders and payers while a reader follows `next` with
/// long-poll: it sees each event once, in position order, and exactly the
/// changes made.
#[actix_rt::test]
async fn a_long_polling_reader_sees_every_concurrent_change_once_in_order() {
    const FANS: usize = 8;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let fans = join_all((0..FANS).map(|_| fan(&app))).await;
    let (_, start) = read_all(&app, &admin, None, 100).await;
    let writers = join_all(fans.iter().enumerate().map(|(i, token)| {
        let (app, schedule) = (&app, &schedule);
        async move {
            let mut made = Vec::new();
            for row in 1..=3 {
                let seat = format!("S-{row}-{}", i + 1);
                let id = app.hold(token, schedule, &[&seat]).await;
                let mut kinds = vec!["booking.created"];
                match (i + row) % 3 {
                    0 => {
                        pay(app, token, &id).await.expect(201, "");
                        kinds.extend(["payment.completed", "booking.confirmed"]);
                    }
                    1 => {
                        app.post(
                            &format!("{RESERVATIONS}/{id}/cancel"),
                            Some(token),
                            json!({}),
                        )
                        .await
                        .expect(200, "");
                        kinds.push("booking.cancelled");
                    }
                    _ => {}
                }
                made.push((id, kinds));
            }
            made
        }
    }));
    let expected_total = FANS * 3 + FANS * 3 / 3 * 2 + FANS * 3 / 3;
    let reader = async {
        let mut seen = Vec::new();
        let mut cursor = start.clone();
        let deadline = Instant::now() + SETTLE_WAIT;
        while seen.len() < expected_total && Instant::now() < deadline {
            let reply = page(
                &app,
                &admin,
                &format!("?after={cursor}&limit=5&waitSeconds=2"),
            )
            .await;
            reply.expect(200, "");
            seen.extend(reply.body["items"].as_array().expect("items").clone());
            cursor = reply.body["next"].as_str().expect("next").to_string();
        }
        (seen, cursor)
    };
    let (made, (seen, cursor)) = futures_util::join!(writers, reader);
    let made: BTreeMap<String, Vec<&str>> = made.into_iter().flatten().collect();
    let expected: usize = made.values().map(Vec::len).sum();
    assert_eq!(expected, expected_total);
    assert_eq!(seen.len(), expected, "each event seen once");
    assert_unique_ids(&seen);
    for (id, kinds) in &made {
        assert_eq!(&types(&of_reservation(&seen, id)), kinds, "events of {id}");
    }
    // Position order: what the reader saw is what a fresh read gives, in order.
    let (again, last) = read_all(&app, &admin, Some(&start), 1_000).await;
    assert_eq!(again, seen);
    assert_eq!(last, cursor);
}

#[actix_rt::test]
async fn a_restart_keeps_every_event_and_its_position() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let token = fan(&app).await;
    let paid = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    pay(&app, &token, &paid).await.expect(201, "");
    let held = app.hold(&token, &schedule, &["VIP-1-2"]).await;
    let (before, next) = read_all(&app, &admin, None, 2).await;
    assert_eq!(before.len(), 4);

    let app = app.restart().await;
    let admin = app.admin_token().await;
    let (after, next_after) = read_all(&app, &admin, None, 1_000).await;
    assert_eq!(
        after, before,
        "every acknowledged change kept its event, nothing more"
    );
    assert_eq!(next_after, next);
    // The old cursor still works, and new events follow it.
    app.post(
        &format!("{RESERVATIONS}/{held}/cancel"),
        Some(&token),
        json!({}),
    )
    .await
    .expect(200, "");
    let (new, _) = read_all(&app, &admin, Some(&next), 10).await;
    assert_eq!(
        types(&new.iter().collect::<Vec<_>>()),
        ["booking.cancelled"]
    );
    assert_eq!(new[0]["data"]["reservationId"], held.as_str());
}

/// A comp is born confirmed: one `booking.confirmed`, nothing before it;
/// blocking and unblocking seats change no booking and make no event.
#[actix_rt::test]
async fn a_comp_is_one_booking_confirmed_and_seat_blocks_make_no_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let blocks = format!("/api/v1/schedules/{schedule}/blocks");
    app.post(
        &blocks,
        Some(&admin),
        json!({"seatIds": ["VIP-2-1", "VIP-2-2"], "reason": "guests"}),
    )
    .await
    .expect(200, "");
    app.raw(
        awc::http::Method::DELETE,
        &blocks,
        Some(&admin),
        &[],
        Some((
            "application/json",
            json!({"seatIds": ["VIP-2-2"]}).to_string().into_bytes(),
        )),
    )
    .await
    .expect(200, "");
    let (_, none) = read_all(&app, &admin, None, 100).await;
    assert_eq!(none, "0-0", "blocks make no event");
    let (guest_id, guest) = app.account_token(Role::User).await;
    let comp = app
        .post(
            &format!("/api/v1/schedules/{schedule}/comps"),
            Some(&admin),
            json!({"seatIds": ["VIP-2-1"], "userId": guest_id.to_string()}),
        )
        .await;
    comp.expect(201, "");
    let id = comp.body["reservationId"].as_str().expect("id");
    let (events, _) = read_all(&app, &admin, None, 100).await;
    assert_eq!(
        types(&events.iter().collect::<Vec<_>>()),
        ["booking.confirmed"]
    );
    let mine = app.get(&format!("{RESERVATIONS}/{id}"), Some(&guest)).await;
    mine.expect(200, "");
    assert_eq!(events[0]["data"], mine.body);
    assert_eq!(events[0]["data"]["totalAmount"], 0);
}

/// Retention (API.md: events are kept at least 30 days): with the clock
/// moved 29 days nothing goes; at 31 days the old events leave the feed
/// (a bounded pass on the webhook dispatcher's thread), the new ones stay,
/// and a cursor into the trimmed events reads from the oldest event kept.
/// The same after a restart.
#[actix_rt::test]
async fn events_older_than_30_days_leave_the_feed_and_a_stale_cursor_reads_from_the_oldest_kept() {
    const DAY_MS: i64 = 24 * 60 * 60 * 1_000;
    let app = spawn_app_with(|s| {
        s.webhook_dispatch.retention_pass_every = Duration::from_millis(50);
    })
    .await;
    let admin = app.admin_token().await;
    let (_, schedule) = app.create_concert(&admin, None, 600).await;
    let token = fan(&app).await;
    let paid = app.hold(&token, &schedule, &["VIP-1-1"]).await;
    pay(&app, &token, &paid).await.expect(201, "");
    let first = page(&app, &admin, "?limit=1").await;
    first.expect(200, "");
    let stale = first.body["next"].as_str().expect("next").to_string();
    let (old, _) = read_all(&app, &admin, None, 1_000).await;
    assert!(old.len() >= 2, "the hold and its payment made events");
    let old_ids: BTreeSet<String> = old
        .iter()
        .map(|e| e["eventId"].as_str().expect("eventId").to_string())
        .collect();

    // 29 days on: kept (several passes run meanwhile).
    app.clock.advance_ms(29 * DAY_MS);
    actix_rt::time::sleep(Duration::from_millis(1_500)).await;
    // Tokens expire by the same clock: fresh ones.
    let admin = app.admin_token().await;
    let (kept, _) = read_all(&app, &admin, None, 1_000).await;
    assert_eq!(kept, old, "nothing younger than 30 days goes");

    // 31 days on: a new change, then the old events go.
    app.clock.advance_ms(2 * DAY_MS);
    let admin = app.admin_token().await;
    let token = fan(&app).await;
    let fresh = app.hold(&token, &schedule, &["VIP-1-2"]).await;
    let deadline = Instant::now() + SETTLE_WAIT;
    let events = loop {
        let (events, _) = read_all(&app, &admin, None, 1_000).await;
        let left = events
            .iter()
            .filter(|e| old_ids.contains(e["eventId"].as_str().unwrap_or("")))
            .count();
        if left == 0 {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "{left} events older than 30 days are still in the feed"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        types(&of_reservation(&events, &fresh)),
        ["booking.created"],
        "the new change's event is kept"
    );
    assert!(of_reservation(&events, &paid).is_empty());
    // A cursor into what was trimmed reads from the oldest event kept.
    let from_stale = page(&app, &admin, &format!("?after={stale}&limit=1000")).await;
    from_stale.expect(200, "");
    assert_eq!(from_stale.body["items"].as_array().expect("items"), &events);

    let app = app.restart().await;
    let admin = app.admin_token().await;
    let (after, _) = read_all(&app, &admin, None, 1_000).await;
    assert_eq!(after, events, "the trim is durable; the kept events too");
    page(&app, &admin, &format!("?after={stale}"))
        .await
        .expect(200, "");
}
