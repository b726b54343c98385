//! The webhook dispatcher under injected crashes: its cursor, its delivery
//! records and due markers, and endpoint registrations (`actors/src/webhooks/`).
//!
//! The main workload runs as in `mod.rs` (same world, same checks after
//! every restart) and after each operation the dispatcher makes one
//! [`pass`] on the same store and clock: the follower records the new
//! events' deliveries and moves its cursor, then every due attempt is made
//! through a fake transport that, by seeded choice, is answered 2xx, 5xx,
//! refused, or "hangs" (the receiver got the event but no answer came
//! back, so the attempt fails and is repeated). Retries are due at once
//! (`first_retry_after_ms: 0`), so the clock the workload moves is all the
//! time there is. Endpoints subscribed to seeded subsets of the event
//! types are registered at the start and now and then during the run.
//! Half the planned crashes are aimed inside the next pass (the n-th store
//! write after arming, 1-8), the rest are the main simulation's.
//!
//! After each restart, before the dispatcher runs again:
//! - every acknowledged registration is there, with what it was given;
//! - the stored cursor is within the durable outbox, and every event before
//!   it that an endpoint is owed (type subscribed, record after the
//!   endpoint's `from_lsn`) has a delivery record there: the cursor is
//!   never durable without the deliveries it passed.
//!
//! Then the dispatcher runs with a receiver that always answers 2xx until a
//! pass finds nothing to do, and:
//! - every owed event was received by its endpoint at least once and its
//!   delivery is DELIVERED (none lost);
//! - no endpoint received an event that is not in the outbox, one of a type
//!   it did not subscribe to, or one from before it existed;
//! - the delivery log agrees with the receivers: each record is at an
//!   outbox position holding its event, each DELIVERED one was received,
//!   and each received event has a record.
//!
//! Seeds: `BOXOFFICE_SIM_WEBHOOK_SEEDS=N` (default [`DEFAULT_SEEDS`]) or
//! `A..B`; `BOXOFFICE_SIM_WEBHOOK_SEED=n` replays one with its whole trace.

use boxoffice_actors::booking_events::BookingEvent;
use boxoffice_actors::webhooks::deliveries::{AttemptResult, DeliveryStatus};
use boxoffice_actors::webhooks::dispatcher::{
    pass, stored_cursor, DeliveryRequest, DispatchSettings, PassReport, Transport,
};
use boxoffice_actors::webhooks::{NewWebhook, Webhook, WebhookId, Webhooks, EVENT_KINDS};
use boxoffice_storage::Lsn;
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Range, RangeInclusive};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::outbox::durable_events;
use super::side_crashes::{Aim, SideCrashes};
use super::world::{Trace, World, TRACE_LINES};
use super::{restart_and_check, workload};

/// Seeds run by default (each is a main-simulation seed plus the dispatcher).
pub const DEFAULT_SEEDS: u64 = 300;
/// Operations per seed.
const OPERATIONS_PER_SEED: RangeInclusive<usize> = 60..=160;
/// Endpoints registered at the start, and the chance (in 100) of one more
/// after an operation.
const ENDPOINTS_AT_START: RangeInclusive<usize> = 1..=2;
const REGISTER_PERCENT: u32 = 3;
/// A crash aimed inside a pass dies after this many of its store writes.
const WRITES_INTO_A_PASS: RangeInclusive<u64> = 1..=8;
/// Passes the reliable receiver gets to catch up after a restart (each
/// pass records every new event and makes every due attempt, so two do).
const SETTLE_PASSES_MAX: usize = 20;

/// Every call each receiver (by URL) got: event id → calls.
type Received = Rc<RefCell<BTreeMap<String, BTreeMap<uuid::Uuid, u32>>>>;

/// The receivers, behind a transport that answers by seeded choice.
struct FakeTransport {
    rng: RefCell<SmallRng>,
    received: Received,
    /// Always 2xx (the settle after a restart).
    reliable: bool,
}

impl Transport for FakeTransport {
    fn deliver(&self, request: DeliveryRequest) -> LocalBoxFuture<'static, AttemptResult> {
        let choice = if self.reliable {
            0
        } else {
            self.rng.borrow_mut().gen_range(0..10)
        };
        let got_it = choice <= 6;
        if got_it {
            *self
                .received
                .borrow_mut()
                .entry(request.url.clone())
                .or_default()
                .entry(request.event.event_id)
                .or_default() += 1;
        }
        let result = match choice {
            0..=4 => AttemptResult::Answered(200 + (choice as u16 % 3)),
            // Received, then the answer was lost: retried, a duplicate.
            5 => AttemptResult::NoAnswer("timed out".into()),
            6 => AttemptResult::Answered(500),
            7 => AttemptResult::NoAnswer("connection refused".into()),
            _ => AttemptResult::Answered(503),
        };
        async move { result }.boxed_local()
    }
}

#[derive(Default)]
struct WebhookStats {
    operations: u64,
    restarts: u64,
    crashes_aimed_at_a_pass: u64,
    crashes_in_a_pass: u64,
    registrations: u64,
    registrations_unacknowledged: u64,
    events_read: u64,
    deliveries_recorded: u64,
    attempts: u64,
    owed_checked: u64,
    duplicates: u64,
}

/// The seed's dispatcher and what its receivers saw.
struct Sim {
    webhooks: Arc<Webhooks>,
    received: Received,
    rng: Rc<RefCell<SmallRng>>,
    /// Registrations acknowledged: they must survive every crash.
    acknowledged: BTreeMap<WebhookId, Webhook>,
    next_url: u32,
}

fn settings() -> DispatchSettings {
    DispatchSettings {
        first_retry_after_ms: 0,
        ..DispatchSettings::default()
    }
}

async fn open(w: &World) -> Arc<Webhooks> {
    match Webhooks::open(Arc::clone(&w.registry)).await {
        Ok(webhooks) => webhooks,
        Err(err) => panic!("the webhook table does not load: {err}"),
    }
}

impl Sim {
    fn transport(&self, reliable: bool) -> Rc<dyn Transport> {
        let seed = self.rng.borrow_mut().gen();
        Rc::new(FakeTransport {
            rng: RefCell::new(SmallRng::seed_from_u64(seed)),
            received: Rc::clone(&self.received),
            reliable,
        })
    }

    /// One pass; `None` when the store died under it.
    async fn pass(
        &self,
        w: &World,
        reliable: bool,
        stats: &mut WebhookStats,
    ) -> Option<PassReport> {
        let transport = self.transport(reliable);
        match w
            .run(
                "dispatcher pass",
                pass(&self.webhooks, settings(), transport),
            )
            .await
        {
            Some(Ok(report)) => {
                stats.events_read += report.events_read as u64;
                stats.deliveries_recorded += report.deliveries_recorded as u64;
                stats.attempts += report.attempts as u64;
                Some(report)
            }
            Some(Err(_)) | None if w.store.is_dead() => None,
            Some(Err(err)) => panic!("a dispatcher pass failed on a live store: {err}"),
            None => panic!("a dispatcher pass was abandoned on a live store"),
        }
    }

    async fn register(&mut self, w: &mut World, stats: &mut WebhookStats) {
        let mut events = Vec::new();
        for kind in EVENT_KINDS {
            if w.rng.gen_range(0..3) > 0 {
                events.push(kind);
            }
        }
        if events.is_empty() {
            events.push(EVENT_KINDS[w.rng.gen_range(0..EVENT_KINDS.len())]);
        }
        self.next_url += 1;
        let url = format!("http://receiver-{}.sim.test/hook", self.next_url);
        w.trace
            .push(format!("register webhook {url} for {events:?}"));
        let new = NewWebhook {
            url,
            events,
            description: None,
        };
        stats.registrations += 1;
        match w.run("register a webhook", self.webhooks.create(new)).await {
            Some(Ok(webhook)) => {
                self.acknowledged.insert(webhook.webhook_id, webhook);
            }
            Some(Err(_)) | None if w.store.is_dead() => stats.registrations_unacknowledged += 1,
            Some(Err(err)) => panic!("registering a webhook failed on a live store: {err}"),
            None => panic!("a registration was abandoned on a live store"),
        }
    }
}

/// The checks after a restart (the module doc), before and after the settle.
async fn check(w: &mut World, sim: &mut Sim, stats: &mut WebhookStats) {
    sim.webhooks = open(w).await;
    let endpoints: BTreeMap<WebhookId, Webhook> = sim
        .webhooks
        .list()
        .into_iter()
        .map(|webhook| (webhook.webhook_id, webhook))
        .collect();
    for (id, webhook) in &sim.acknowledged {
        assert_eq!(
            endpoints.get(id),
            Some(webhook),
            "an acknowledged registration after a restart"
        );
    }
    // Unacknowledged ones that survived are as good as acknowledged now.
    sim.acknowledged = endpoints.clone();
    let events = durable_events(w);
    let durable = w.registry.context().outbox.durable_lsn();
    let owed = |webhook: &Webhook, lsn: Lsn, event: &BookingEvent| webhook.wants(event.kind, lsn);

    // Before the dispatcher runs: the cursor never passed an undelivered event.
    let cursor = stored_cursor(w.store.as_ref()).expect("cursor readable");
    if let Some(cursor) = cursor {
        assert!(
            cursor.lsn <= durable,
            "the dispatcher's cursor {cursor:?} is past the durable outbox ({durable})"
        );
        for webhook in endpoints.values() {
            let (logged, _) = w
                .run(
                    "reading deliveries",
                    sim.webhooks.deliveries(webhook.webhook_id, 0, usize::MAX),
                )
                .await
                .expect("the store is alive after a restart")
                .expect("the delivery log reads");
            let logged: BTreeSet<(Lsn, u32)> = logged.iter().map(|d| (d.lsn, d.index)).collect();
            for (lsn, index, event) in &events {
                let passed = (*lsn, *index) <= (cursor.lsn, cursor.consumed);
                if passed && owed(webhook, *lsn, event) {
                    stats.owed_checked += 1;
                    assert!(
                        logged.contains(&(*lsn, *index)),
                        "the dispatcher's cursor {cursor:?} passed event {} ({lsn}-{index}) of {} without its delivery record",
                        event.event_id,
                        webhook.url
                    );
                }
            }
        }
    }

    // Catch up with a receiver that always answers.
    let mut settled = false;
    for _ in 0..SETTLE_PASSES_MAX {
        let report = sim
            .pass(w, true, stats)
            .await
            .expect("the store is alive after a restart");
        if report.events_read == 0 && report.attempts == 0 {
            settled = true;
            break;
        }
    }
    assert!(
        settled,
        "the dispatcher did not settle in {SETTLE_PASSES_MAX} passes"
    );

    let by_id: BTreeMap<uuid::Uuid, (Lsn, u32, &BookingEvent)> = events
        .iter()
        .map(|(lsn, index, event)| (event.event_id, (*lsn, *index, event)))
        .collect();
    let received = sim.received.borrow().clone();
    for webhook in endpoints.values() {
        let got = received.get(&webhook.url).cloned().unwrap_or_default();
        let (log, total) = w
            .run(
                "reading deliveries",
                sim.webhooks.deliveries(webhook.webhook_id, 0, usize::MAX),
            )
            .await
            .expect("the store is alive after a restart")
            .expect("the delivery log reads");
        assert_eq!(log.len(), total, "the delivery log's count");
        let mut logged = BTreeMap::new();
        for delivery in &log {
            let (lsn, index, event) = by_id.get(&delivery.event_id).copied().unwrap_or_else(|| {
                panic!(
                    "{} has a delivery of event {}, which is not in the outbox",
                    webhook.url, delivery.event_id
                )
            });
            assert_eq!(
                (delivery.lsn, delivery.index, delivery.kind),
                (lsn, index, event.kind),
                "a delivery record names another outbox position than its event's"
            );
            assert!(
                owed(webhook, lsn, event),
                "{} has a delivery it is not owed",
                webhook.url
            );
            logged.insert(delivery.event_id, delivery.status);
            if delivery.status == DeliveryStatus::Delivered {
                assert!(
                    got.contains_key(&delivery.event_id),
                    "{} has event {} DELIVERED but never received it",
                    webhook.url,
                    delivery.event_id
                );
            }
        }
        for (lsn, _, event) in &events {
            if owed(webhook, *lsn, event) {
                assert!(
                    got.contains_key(&event.event_id),
                    "event {} ({:?}, record {lsn}) never reached {}",
                    event.event_id,
                    event.kind,
                    webhook.url
                );
                assert_eq!(
                    logged.get(&event.event_id),
                    Some(&DeliveryStatus::Delivered),
                    "the delivery of event {} to {}",
                    event.event_id,
                    webhook.url
                );
            }
        }
        for id in got.keys() {
            let Some((lsn, _, event)) = by_id.get(id) else {
                panic!(
                    "{} received event {id}, which is not in the outbox",
                    webhook.url
                );
            };
            assert!(
                owed(webhook, *lsn, event),
                "{} received event {id} it is not owed",
                webhook.url
            );
            assert!(
                logged.contains_key(id),
                "{} received event {id}, which has no delivery record",
                webhook.url
            );
        }
    }
    stats.duplicates = received
        .values()
        .flat_map(|calls| calls.values())
        .map(|&n| u64::from(n.saturating_sub(1)))
        .sum();
}

async fn kill_and_check(w: &mut World, sim: &mut Sim, stats: &mut WebhookStats) {
    stats.restarts += 1;
    restart_and_check(w).await;
    check(w, sim, stats).await;
}

async fn run_seed(seed: u64, trace: Trace) -> WebhookStats {
    let mut w = World::create(seed, trace).await;
    let mut stats = WebhookStats::default();
    let mut sim = Sim {
        webhooks: open(&w).await,
        received: Rc::default(),
        rng: Rc::new(RefCell::new(SmallRng::seed_from_u64(seed ^ 0x5eb_400c))),
        acknowledged: BTreeMap::new(),
        next_url: 0,
    };
    // Endpoints registered before the dispatcher's first pass, as a
    // request may come in before its thread starts (the cursor is stored
    // when the table opens: `Webhooks::open`).
    for _ in 0..w.rng.gen_range(ENDPOINTS_AT_START) {
        sim.register(&mut w, &mut stats).await;
    }
    let operations = w.rng.gen_range(OPERATIONS_PER_SEED);
    let aim = Aim {
        one_in: 2,
        writes: WRITES_INTO_A_PASS,
        what: "the next dispatcher pass",
    };
    let mut crashes = SideCrashes::plan(&mut w, operations, aim);
    for op in 0..operations {
        if crashes.before(&mut w, op) {
            stats.crashes_aimed_at_a_pass += 1;
        }
        w.trace.push(format!("#{op}"));
        workload::step(&mut w, &mut crashes.pay_crash).await;
        w.quiesce().await;
        stats.operations += 1;
        if !w.store.is_dead() && w.rng.gen_range(0..100) < REGISTER_PERCENT {
            sim.register(&mut w, &mut stats).await;
        }
        if !w.store.is_dead() {
            crashes.arm_aimed(&mut w);
            let report = sim.pass(&w, false, &mut stats).await;
            w.trace.push(format!("  dispatcher: {report:?}"));
            if report.is_none() {
                stats.crashes_in_a_pass += 1;
            }
        }
        if crashes.kill_now(&w, op) {
            kill_and_check(&mut w, &mut sim, &mut stats).await;
        }
    }
    kill_and_check(&mut w, &mut sim, &mut stats).await;
    w.registry.shutdown();
    stats
}

fn seeds_from_env() -> Range<u64> {
    super::seed_range(
        "BOXOFFICE_SIM_WEBHOOK_SEED",
        "BOXOFFICE_SIM_WEBHOOK_SEEDS",
        DEFAULT_SEEDS,
    )
}

#[actix_rt::test]
async fn simulated_crashes_lose_no_webhook_delivery() {
    let seeds = seeds_from_env();
    let started = Instant::now();
    let mut total = WebhookStats::default();
    super::run_seeds(
        "webhook simulation",
        seeds.clone(),
        "BOXOFFICE_SIM_WEBHOOK_SEED={seed} cargo test --test engine simulated_crashes_lose_no_webhook_delivery -- --nocapture",
        run_seed,
        |stats| {
            total.operations += stats.operations;
            total.restarts += stats.restarts;
            total.crashes_aimed_at_a_pass += stats.crashes_aimed_at_a_pass;
            total.crashes_in_a_pass += stats.crashes_in_a_pass;
            total.registrations += stats.registrations;
            total.registrations_unacknowledged += stats.registrations_unacknowledged;
            total.events_read += stats.events_read;
            total.deliveries_recorded += stats.deliveries_recorded;
            total.attempts += stats.attempts;
            total.owed_checked += stats.owed_checked;
            total.duplicates += stats.duplicates;
        },
    )
    .await;
    println!(
        "webhook simulation: {} seeds from {} in {:.1} s; {} operations, {} restarts; {} crashes aimed inside a dispatcher pass, {} fired there; \
         {} registrations ({} unacknowledged at a crash); {} events read, {} deliveries recorded, {} due markers taken; \
         {} owed deliveries behind a recovered cursor checked; {} duplicate calls at the receivers",
        seeds.end - seeds.start,
        seeds.start,
        started.elapsed().as_secs_f64(),
        total.operations,
        total.restarts,
        total.crashes_aimed_at_a_pass,
        total.crashes_in_a_pass,
        total.registrations,
        total.registrations_unacknowledged,
        total.events_read,
        total.deliveries_recorded,
        total.attempts,
        total.owed_checked,
        total.duplicates,
    );
}

/// The follower reads no event that no endpoint is owed: with no endpoint
/// it only moves its (stored) cursor to the outbox's end; once one is
/// registered, it reads the events after that endpoint's `from_lsn` only.
#[actix_rt::test]
async fn the_follower_skips_what_no_endpoint_is_owed() {
    let mut w = World::create(1, Trace::new(TRACE_LINES)).await;
    let mut stats = WebhookStats::default();
    let mut sim = Sim {
        webhooks: open(&w).await,
        received: Rc::default(),
        rng: Rc::new(RefCell::new(SmallRng::seed_from_u64(1))),
        acknowledged: BTreeMap::new(),
        next_url: 0,
    };
    let outbox = Arc::clone(&w.registry.context().outbox);
    // The cursor is where the outbox ended at `open`.
    sim.pass(&w, true, &mut stats).await.expect("alive");
    step_until_new_events(&mut w).await;
    let report = sim.pass(&w, true, &mut stats).await.expect("alive");
    assert_eq!(report.events_read, 0, "no endpoint: nothing read");
    let cursor = stored_cursor(w.store.as_ref())
        .expect("readable")
        .expect("stored");
    assert_eq!(cursor.lsn, outbox.durable_lsn(), "the cursor is at the end");

    step_until_new_events(&mut w).await;
    let skipped = outbox.durable_lsn();
    sim.register(&mut w, &mut stats).await;
    let report = sim.pass(&w, true, &mut stats).await.expect("alive");
    assert_eq!(report.events_read, 0, "nothing after the registration yet");
    let cursor = stored_cursor(w.store.as_ref())
        .expect("readable")
        .expect("stored");
    assert_eq!(cursor.lsn, skipped, "skipped to the endpoint's from_lsn");

    step_until_new_events(&mut w).await;
    let newer = durable_events(&w)
        .into_iter()
        .filter(|(lsn, _, _)| *lsn > skipped)
        .count();
    let report = sim.pass(&w, true, &mut stats).await.expect("alive");
    assert_eq!(report.events_read, newer, "only the events after from_lsn");
    assert!(report.attempts > 0 || report.deliveries_recorded == 0);
    w.registry.shutdown();
}

/// Runs workload steps until the durable outbox grew.
async fn step_until_new_events(w: &mut World) {
    let outbox = Arc::clone(&w.registry.context().outbox);
    let before = outbox.durable_lsn();
    let mut pay_crash = None;
    for _ in 0..200 {
        workload::step(w, &mut pay_crash).await;
        w.quiesce().await;
        if outbox.durable_lsn() > before {
            return;
        }
    }
    panic!("the workload made no events");
}

/// The first start: an endpoint registered before the dispatcher's first
/// pass (its thread starts after the table opens, and a request may come
/// in between) is owed every event after its registration, and gets them.
/// Before the cursor was stored at `Webhooks::open`, the first pass stored
/// it at the outbox's end as it then was, past the events in between.
#[actix_rt::test]
async fn an_endpoint_registered_before_the_first_pass_gets_the_events_after_it() {
    let mut w = World::create(2, Trace::new(TRACE_LINES)).await;
    let mut stats = WebhookStats::default();
    let sim = Sim {
        webhooks: open(&w).await,
        received: Rc::default(),
        rng: Rc::new(RefCell::new(SmallRng::seed_from_u64(2))),
        acknowledged: BTreeMap::new(),
        next_url: 0,
    };
    let new = NewWebhook {
        url: "http://early.sim.test/hook".into(),
        events: EVENT_KINDS.to_vec(),
        description: None,
    };
    let webhook = sim.webhooks.create(new).await.expect("registered");
    step_until_new_events(&mut w).await;
    for _ in 0..SETTLE_PASSES_MAX {
        let report = sim.pass(&w, true, &mut stats).await.expect("alive");
        if report.events_read == 0 && report.attempts == 0 {
            break;
        }
    }
    let owed: Vec<uuid::Uuid> = durable_events(&w)
        .into_iter()
        .filter(|(lsn, _, event)| webhook.wants(event.kind, *lsn))
        .map(|(_, _, event)| event.event_id)
        .collect();
    let received = sim
        .received
        .borrow()
        .get(&webhook.url)
        .cloned()
        .unwrap_or_default();
    assert!(
        !owed.is_empty(),
        "the workload made events after the registration"
    );
    let missed: Vec<&uuid::Uuid> = owed
        .iter()
        .filter(|id| !received.contains_key(id))
        .collect();
    assert!(
        missed.is_empty(),
        "{} of {} owed events never reached an endpoint registered before the first pass",
        missed.len(),
        owed.len()
    );
    w.registry.shutdown();
}
