//! The webhook dispatcher: follows the outbox and delivers each event to
//! every endpoint subscribed to its type, on a thread of its own.
//!
//! Two loops share that thread. The follower reads the feed as the admin
//! feed does (`Registry::booking_events`: durable events only, in commit
//! order) from its own cursor, and for each page writes the page's
//! deliveries (PENDING, due now) and then the cursor past it, as plain
//! inserts in that order ([`put_meta_in_order`]): sled recovers a prefix of its
//! writes, so the cursor is never durable without the deliveries it passed
//! (at least once; never lost). They become durable with the engine's next
//! flush; the dispatcher makes none of its own, which would queue behind
//! (and ahead of) the group commit's. The attempt loop takes due attempts off
//! each endpoint's due markers, within per-endpoint and total in-flight
//! bounds, and makes them through the [`Transport`]; each attempt's end
//! (the next due marker, then the new state) is written without a flush of its
//! own: a crash before the next flush repeats the attempt, which receivers
//! deduplicate by event id. A hanging receiver fills only its own
//! endpoint's slots; the follower never waits for an attempt.

use boxoffice_engine::Timestamp;
use boxoffice_storage::{codec, put_meta_in_order, Store, StoreError};
use futures_util::future::LocalBoxFuture;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::deliveries::{
    abandoned, after_attempt, AfterAttempt, AttemptResult, Delivery, DeliveryStatus,
    DELIVERY_TIMEOUT_MS, FIRST_RETRY_AFTER_MS, MAX_DELIVERY_LOG_PER_WEBHOOK,
    MAX_PENDING_PER_WEBHOOK,
};
use super::{blocking, layout, Webhook, WebhookError, WebhookId, WebhookStatus, Webhooks};
use crate::booking_events::{BookingEvent, EventCursor, EventPage, OutboxRecord, OUTBOX_LOG};
use crate::event_retention::{self, RetentionReport};

/// Events the follower takes from the feed at a time.
pub const DISPATCH_EVENTS_PER_PAGE: usize = 100;
/// Calls in flight to one endpoint at most (a hanging receiver holds no more).
pub const MAX_IN_FLIGHT_PER_WEBHOOK: usize = 8;
/// Calls in flight in total at most.
pub const MAX_IN_FLIGHT_DELIVERIES: usize = 64;
/// How long the follower's feed read waits for a new event.
const FEED_WAIT: Duration = Duration::from_secs(1);
/// The attempt loop looks for due attempts at least this often (retries
/// come due with the clock, which rings nobody).
const ATTEMPT_TICK: Duration = Duration::from_millis(100);
/// The follower's pause after a page that recorded deliveries: it bounds
/// the dispatcher's store writes per second to a few pages' worth whatever
/// the event rate; a busier outbox just makes fuller pages.
const RECORD_PAUSE: Duration = Duration::from_millis(20);
/// The follower's wait for a registration under way to finish.
const REGISTRATION_PAUSE: Duration = Duration::from_millis(5);
/// The pause after a store error before trying again.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// One call to make.
pub struct DeliveryRequest {
    pub url: String,
    pub secret: String,
    pub event: BookingEvent,
    /// The attempt's time (the signature's `t`).
    pub sent_at: Timestamp,
}

/// Makes the calls: renders, signs and POSTs (the HTTP layer's). Answers
/// within [`DELIVERY_TIMEOUT_MS`]; the dispatcher cuts it off after that anyway.
pub trait Transport {
    fn deliver(&self, request: DeliveryRequest) -> LocalBoxFuture<'static, AttemptResult>;
}

/// The dispatcher's knobs.
#[derive(Clone, Copy, Debug)]
pub struct DispatchSettings {
    /// The first retry's wait (API.md: within 10 s); each later one doubles.
    pub first_retry_after_ms: i64,
    /// How often the retention pass runs (`event_retention`; real time: the
    /// age it trims by is the injected clock's).
    pub retention_pass_every: Duration,
}

/// Default of [`DispatchSettings::retention_pass_every`].
pub const RETENTION_PASS_EVERY: Duration = Duration::from_secs(60);

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            first_retry_after_ms: FIRST_RETRY_AFTER_MS,
            retention_pass_every: RETENTION_PASS_EVERY,
        }
    }
}

/// The webhook dispatcher's name among the outbox's holds.
const OUTBOX_HOLD: &str = "webhooks";

/// Starts the dispatcher on its own thread (with its own single-threaded
/// runtime: the transport need not be `Send`). It runs until
/// [`Webhooks::stop`].
pub fn spawn(
    webhooks: Arc<Webhooks>,
    settings: DispatchSettings,
    transport: impl FnOnce() -> Box<dyn Transport> + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("webhook-dispatcher".into())
        .spawn(move || {
            actix::System::new().block_on(run(webhooks, settings, Rc::from(transport())));
        })
}

async fn run(webhooks: Arc<Webhooks>, settings: DispatchSettings, transport: Rc<dyn Transport>) {
    let mut stop = webhooks.stopping();
    tokio::select! {
        _ = stop.wait_for(|stopping| *stopping) => {}
        _ = follow(Arc::clone(&webhooks)) => {}
        _ = attempts(Arc::clone(&webhooks), settings, transport) => {}
        _ = retention(Arc::clone(&webhooks), settings.retention_pass_every) => {}
    }
}

/// The retention loop: a bounded pass every `every`.
async fn retention(webhooks: Arc<Webhooks>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match retention_pass(&webhooks).await {
            Ok(report) if report != RetentionReport::default() => {
                tracing::info!(?report, "booking events past their retention removed");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!("the booking events' retention pass failed: {err}"),
        }
    }
}

/// One retention pass now (see `event_retention`): the outbox below every
/// consumer's hold, and the endpoints' finished deliveries.
pub async fn retention_pass(webhooks: &Arc<Webhooks>) -> Result<RetentionReport, WebhookError> {
    let context = webhooks.registry().context();
    // No hold yet: a consumer has not said where it is; trim nothing.
    let held_from = context.outbox.held_from().unwrap_or(0);
    let now = context.clock.now();
    let endpoints: Vec<WebhookId> = webhooks.table().endpoints.keys().copied().collect();
    let store = webhooks.store();
    let (upto, removed) = blocking(move || {
        let upto = event_retention::trim_outbox(store.as_ref(), now, held_from)?;
        let removed = event_retention::trim_deliveries(
            store.as_ref(),
            &endpoints,
            now,
            event_retention::MAX_DELIVERIES_PER_PASS,
        )?;
        Ok((upto, removed))
    })
    .await?;
    let mut table = webhooks.table();
    let mut deleted = 0;
    for (id, count) in removed {
        deleted += count;
        if let Some(logged) = table.logged.get_mut(&id) {
            *logged = logged.saturating_sub(count);
        }
    }
    Ok(RetentionReport {
        outbox_trimmed_upto: upto,
        deliveries_deleted: deleted,
    })
}

/// The follower (see the module doc). Returns only if it cannot start.
async fn follow(webhooks: Arc<Webhooks>) {
    let store = webhooks.store();
    let durable = webhooks.registry().context().outbox.durable_lsn();
    let mut cursor = match blocking(move || start_cursor(store.as_ref(), durable)).await {
        Ok(cursor) => cursor,
        Err(err) => {
            tracing::error!("webhook dispatcher cannot read its cursor: {err}");
            return;
        }
    };
    let outbox = Arc::clone(&webhooks.registry().context().outbox);
    outbox.hold(OUTBOX_HOLD, cursor.lsn);
    loop {
        let (skipped, idle) = match skip_unowed(&webhooks, cursor).await {
            Ok(skip) => skip,
            Err(err) => {
                tracing::warn!("webhook dispatcher cannot read the outbox: {err}");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        if skipped != cursor {
            if let Err(err) = store_skip(&webhooks, skipped).await {
                tracing::warn!("webhook dispatcher cannot store its cursor: {err}");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        }
        cursor = skipped;
        if idle {
            // No endpoint: nothing to read until one is registered.
            tokio::time::sleep(FEED_WAIT).await;
            continue;
        }
        let page = match webhooks
            .registry()
            .booking_events(Some(cursor), DISPATCH_EVENTS_PER_PAGE, FEED_WAIT)
            .await
        {
            Ok(page) => page,
            Err(err) => {
                tracing::warn!("webhook dispatcher cannot read the outbox: {err}");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        if page.next == cursor {
            continue;
        }
        match record_page(&webhooks, page).await {
            Ok((next, recorded)) => {
                cursor = next;
                outbox.hold(OUTBOX_HOLD, cursor.lsn);
                if recorded > 0 {
                    webhooks.wake.notify_one();
                    tokio::time::sleep(RECORD_PAUSE).await;
                }
            }
            Err(err) => {
                // The cursor stays: the same page is recorded again.
                tracing::warn!("webhook dispatcher cannot record deliveries: {err}");
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
}

/// The cursor to start from: the stored one; on the very first start, the
/// end of the outbox as it is (nothing before any endpoint existed is
/// owed), stored durably at once so that no later event is skipped.
/// `Webhooks::open` calls it first, before any registration.
pub(crate) fn start_cursor(store: &dyn Store, durable: u64) -> Result<EventCursor, StoreError> {
    if let Some(bytes) = store.get_meta(layout::CURSOR_KEY)? {
        return layout::decode_cursor(&bytes);
    }
    let mut cursor = EventCursor::default();
    for (lsn, bytes) in store.read_log_page(OUTBOX_LOG, durable.saturating_sub(1), 1)? {
        let record: OutboxRecord = codec::decode_record(OUTBOX_LOG, lsn, &bytes)?;
        if lsn == durable && !record.events.is_empty() {
            cursor = EventCursor {
                lsn,
                consumed: record.events.len() as u32,
            };
        }
    }
    store.put_meta(layout::CURSOR_KEY, &layout::encode_cursor(cursor)?)?;
    store.flush()?;
    Ok(cursor)
}

/// The follower's cursor moved past the outbox records no endpoint is owed
/// anything from (every record when there is no endpoint: see
/// [`Webhooks::owed_after`]), so that they are neither read nor decoded;
/// and whether there is no active endpoint at all. Only the in-memory
/// cursor moves: the stored one follows with the next page recorded, and
/// a restart skips again.
async fn skip_unowed(
    webhooks: &Arc<Webhooks>,
    cursor: EventCursor,
) -> Result<(EventCursor, bool), WebhookError> {
    let durable = webhooks.registry().context().outbox.durable_lsn();
    let Some(owed_after) = webhooks.owed_after(durable) else {
        return Ok((cursor, false));
    };
    let idle = owed_after == durable
        && !webhooks
            .table()
            .endpoints
            .values()
            .any(|w| w.status == WebhookStatus::Active);
    if owed_after <= cursor.lsn {
        return Ok((cursor, idle));
    }
    let store = webhooks.store();
    let skipped = blocking(move || {
        // The end of record `owed_after` (none left: trimmed; stay, the
        // feed starts from the oldest kept anyway).
        for (lsn, bytes) in store.read_log_page(OUTBOX_LOG, owed_after - 1, 1)? {
            let record: OutboxRecord = codec::decode_record(OUTBOX_LOG, lsn, &bytes)?;
            if lsn == owed_after && !record.events.is_empty() {
                return Ok(EventCursor {
                    lsn,
                    consumed: record.events.len() as u32,
                });
            }
        }
        Ok(cursor)
    })
    .await?;
    Ok((skipped, idle))
}

/// Stores a cursor the skip moved (it passed only records no endpoint is
/// owed), so that retention is not held back by records nobody reads.
async fn store_skip(webhooks: &Arc<Webhooks>, cursor: EventCursor) -> Result<(), WebhookError> {
    let store = webhooks.store();
    blocking(move || store.put_meta(layout::CURSOR_KEY, &layout::encode_cursor(cursor)?)).await?;
    webhooks
        .registry()
        .context()
        .outbox
        .hold(OUTBOX_HOLD, cursor.lsn);
    Ok(())
}

/// What one [`pass`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Events the follower read off the outbox.
    pub events_read: usize,
    /// Deliveries it recorded.
    pub deliveries_recorded: usize,
    /// Due markers taken: an attempt made, or a stale marker dropped.
    pub attempts: usize,
}

/// One pass of the dispatcher on the caller's task, without its timers, for
/// a seeded simulation: the follower from the stored cursor up to the
/// durable outbox, page by page, with the same skip and the same writes as
/// the thread's; then every attempt due now, one after another. Stops at
/// the first store error (a crash point), as the thread's loops would at
/// theirs.
pub async fn pass(
    webhooks: &Arc<Webhooks>,
    settings: DispatchSettings,
    transport: Rc<dyn Transport>,
) -> Result<PassReport, WebhookError> {
    let mut report = PassReport::default();
    let store = webhooks.store();
    let durable = webhooks.registry().context().outbox.durable_lsn();
    let mut cursor = blocking(move || start_cursor(store.as_ref(), durable)).await?;
    let outbox = Arc::clone(&webhooks.registry().context().outbox);
    outbox.hold(OUTBOX_HOLD, cursor.lsn);
    loop {
        let skipped = skip_unowed(webhooks, cursor).await?.0;
        if skipped != cursor {
            store_skip(webhooks, skipped).await?;
            cursor = skipped;
        }
        let page = webhooks
            .registry()
            .booking_events(Some(cursor), DISPATCH_EVENTS_PER_PAGE, Duration::ZERO)
            .await
            .map_err(|err| WebhookError::Storage(err.to_string()))?;
        if page.next == cursor {
            break;
        }
        report.events_read += page.items.len();
        let (next, recorded) = record_page(webhooks, page).await?;
        report.deliveries_recorded += recorded;
        cursor = next;
        outbox.hold(OUTBOX_HOLD, cursor.lsn);
    }
    let wanted: Vec<(WebhookId, usize)> = {
        let table = webhooks.table();
        table
            .endpoints
            .keys()
            .filter(|id| table.pending.get(id).copied().unwrap_or(0) > 0)
            .map(|id| (*id, usize::MAX))
            .collect()
    };
    let now = webhooks.registry().context().clock.now();
    let store = webhooks.store();
    let due = blocking(move || due_attempts(store.as_ref(), &wanted, now)).await?;
    let last_record = Arc::new(LastRecord::default());
    for (id, key, position) in due {
        attempt(
            webhooks,
            settings,
            Rc::clone(&transport),
            &last_record,
            id,
            &key,
            position,
        )
        .await?;
        report.attempts += 1;
    }
    Ok(report)
}

/// Writes a page's deliveries and the cursor past it (see the module
/// doc); returns that cursor and how many deliveries were recorded.
async fn record_page(
    webhooks: &Arc<Webhooks>,
    page: EventPage,
) -> Result<(EventCursor, usize), WebhookError> {
    // An endpoint being registered may be owed events of this page (its
    // `from_lsn` was read before the page was) without being in the table
    // yet: wait until it is. One whose registration starts after this check
    // reads a durable lsn past every record of the page, so is owed none.
    while webhooks.registering() {
        tokio::time::sleep(REGISTRATION_PAUSE).await;
    }
    let (targets, pending): (Vec<Webhook>, HashMap<WebhookId, usize>) = {
        let table = webhooks.table();
        (
            table
                .endpoints
                .values()
                .filter(|w| w.status == WebhookStatus::Active)
                .cloned()
                .collect(),
            table.pending.clone(),
        )
    };
    let now = webhooks.registry().context().clock.now();
    let next = page.next;
    let store = webhooks.store();
    let recorded = blocking(move || {
        let mut entries = Vec::new();
        let mut added: HashMap<WebhookId, usize> = HashMap::new();
        let mut full = HashSet::new();
        for (event, position) in page.items.iter().zip(&page.positions) {
            for webhook in targets.iter().filter(|w| w.wants(event.kind, position.lsn)) {
                let id = webhook.webhook_id;
                let delivery_key = layout::delivery_key(id, *position);
                // Recorded already, before a crash lost the cursor past it:
                // keep it (and the counts) as it is.
                if store.get_meta(&delivery_key)?.is_some() {
                    continue;
                }
                let count = added.entry(id).or_default();
                if pending.get(&id).copied().unwrap_or(0) + *count >= MAX_PENDING_PER_WEBHOOK {
                    full.insert(id);
                    continue;
                }
                *count += 1;
                let delivery = Delivery {
                    event_id: event.event_id,
                    kind: event.kind,
                    lsn: position.lsn,
                    index: position.consumed,
                    recorded_at: now,
                    attempt: 0,
                    status: DeliveryStatus::Pending,
                    response_status: None,
                    at: now,
                    next_attempt_at: Some(now),
                };
                // The due marker first: a crash may keep it without the
                // record (an attempt drops a marker with no record), never
                // the record without it (nothing would attempt it).
                entries.push((layout::due_key(id, now, *position), Vec::new()));
                entries.push((delivery_key, codec::encode(&delivery)?));
            }
        }
        entries.push((layout::CURSOR_KEY.to_owned(), layout::encode_cursor(next)?));
        put_meta_in_order(store.as_ref(), &entries)?;
        Ok((added, full))
    })
    .await?;
    let (added, full) = recorded;
    let mut oversized = Vec::new();
    {
        let mut table = webhooks.table();
        for (id, count) in &added {
            if !table.endpoints.contains_key(id) {
                continue;
            }
            *table.pending.entry(*id).or_default() += count;
            let logged = table.logged.entry(*id).or_default();
            *logged += count;
            if *logged > MAX_DELIVERY_LOG_PER_WEBHOOK {
                oversized.push((*id, *logged));
            }
        }
    }
    for id in full {
        tracing::warn!(webhook = %id, "webhook disabled: {MAX_PENDING_PER_WEBHOOK} deliveries pending");
        webhooks.disable(id)?;
    }
    for (id, logged) in oversized {
        let store = webhooks.store();
        let keep = MAX_DELIVERY_LOG_PER_WEBHOOK / 10 * 9;
        let removed =
            blocking(move || super::deliveries::prune(store.as_ref(), id, logged, keep)).await?;
        if let Some(logged) = webhooks.table().logged.get_mut(&id) {
            *logged = logged.saturating_sub(removed);
        }
    }
    Ok((next, added.values().sum()))
}

/// The outbox record the attempts read last, decoded: a record can hold
/// thousands of events (a mass expiry), each one attempt, and decoding it
/// whole for each would be quadratic.
#[derive(Default)]
struct LastRecord(std::sync::Mutex<Option<(u64, Arc<Vec<BookingEvent>>)>>);

impl LastRecord {
    /// The event at `position` (`None`: not in the outbox).
    fn event(
        &self,
        store: &dyn Store,
        position: EventCursor,
    ) -> Result<Option<BookingEvent>, StoreError> {
        let index = match (position.consumed as usize).checked_sub(1) {
            Some(index) => index,
            None => return Ok(None),
        };
        let cached = {
            let last = self.0.lock().unwrap_or_else(|p| p.into_inner());
            last.as_ref()
                .filter(|(lsn, _)| *lsn == position.lsn)
                .map(|(_, events)| Arc::clone(events))
        };
        let events = match cached {
            Some(events) => events,
            None => {
                let Some(events) = read_record(store, position.lsn)? else {
                    return Ok(None);
                };
                let events = Arc::new(events);
                *self.0.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((position.lsn, Arc::clone(&events)));
                events
            }
        };
        Ok(events.get(index).cloned())
    }
}

/// The calls in flight: per endpoint, the positions being attempted.
#[derive(Default)]
struct InFlight {
    by_webhook: HashMap<WebhookId, HashSet<(u64, u32)>>,
    total: usize,
}

/// The attempt loop (see the module doc).
async fn attempts(
    webhooks: Arc<Webhooks>,
    settings: DispatchSettings,
    transport: Rc<dyn Transport>,
) {
    let in_flight = Rc::new(RefCell::new(InFlight::default()));
    let last_record = Arc::new(LastRecord::default());
    loop {
        let wanted: Vec<(WebhookId, usize)> = {
            let flight = in_flight.borrow();
            if flight.total < MAX_IN_FLIGHT_DELIVERIES {
                let table = webhooks.table();
                table
                    .endpoints
                    .keys()
                    .filter(|id| table.pending.get(id).copied().unwrap_or(0) > 0)
                    .map(|id| (*id, flight.by_webhook.get(id).map_or(0, HashSet::len)))
                    .filter(|(_, busy)| *busy < MAX_IN_FLIGHT_PER_WEBHOOK)
                    // The markers in flight are at the front too: look past them.
                    .map(|(id, busy)| (id, MAX_IN_FLIGHT_PER_WEBHOOK + busy))
                    .collect()
            } else {
                Vec::new()
            }
        };
        if !wanted.is_empty() {
            let now = webhooks.registry().context().clock.now();
            let store = webhooks.store();
            match blocking(move || due_attempts(store.as_ref(), &wanted, now)).await {
                Ok(due) => start_attempts(
                    &webhooks,
                    settings,
                    &transport,
                    &in_flight,
                    &last_record,
                    due,
                ),
                Err(err) => {
                    tracing::warn!("webhook dispatcher cannot read due attempts: {err}");
                    tokio::time::sleep(ERROR_PAUSE).await;
                }
            }
        }
        tokio::select! {
            _ = webhooks.wake.notified() => {}
            _ = tokio::time::sleep(ATTEMPT_TICK) => {}
        }
    }
}

/// Up to `limit` due markers of each endpoint named, earliest first.
fn due_attempts(
    store: &dyn Store,
    wanted: &[(WebhookId, usize)],
    now: Timestamp,
) -> Result<Vec<(WebhookId, String, EventCursor)>, StoreError> {
    let mut due = Vec::new();
    for (id, limit) in wanted {
        let mut taken = 0;
        layout::walk(store, &layout::due_prefix(*id), |key, _| {
            match layout::parse_due_key(*id, key) {
                Some((at, _)) if at > now => return Ok(false),
                Some((_, position)) => {
                    due.push((*id, key.to_owned(), position));
                    taken += 1;
                }
                None => {}
            }
            Ok(taken < *limit)
        })?;
    }
    Ok(due)
}

fn start_attempts(
    webhooks: &Arc<Webhooks>,
    settings: DispatchSettings,
    transport: &Rc<dyn Transport>,
    in_flight: &Rc<RefCell<InFlight>>,
    last_record: &Arc<LastRecord>,
    due: Vec<(WebhookId, String, EventCursor)>,
) {
    for (id, key, position) in due {
        {
            let mut flight = in_flight.borrow_mut();
            if flight.total >= MAX_IN_FLIGHT_DELIVERIES {
                return;
            }
            let busy = flight.by_webhook.entry(id).or_default();
            if busy.len() >= MAX_IN_FLIGHT_PER_WEBHOOK
                || !busy.insert((position.lsn, position.consumed))
            {
                continue;
            }
            flight.total += 1;
        }
        let (webhooks, transport, in_flight, last_record) = (
            Arc::clone(webhooks),
            Rc::clone(transport),
            Rc::clone(in_flight),
            Arc::clone(last_record),
        );
        actix::spawn(async move {
            let attempted = attempt(
                &webhooks,
                settings,
                transport,
                &last_record,
                id,
                &key,
                position,
            )
            .await;
            if let Err(err) = attempted {
                tracing::warn!(webhook = %id, "a webhook attempt could not be recorded: {err}");
            }
            let mut flight = in_flight.borrow_mut();
            if let Some(busy) = flight.by_webhook.get_mut(&id) {
                busy.remove(&(position.lsn, position.consumed));
            }
            flight.total -= 1;
            drop(flight);
            webhooks.wake.notify_one();
        });
    }
}

/// One attempt of the delivery at `position` for endpoint `id`, due by `key`.
async fn attempt(
    webhooks: &Arc<Webhooks>,
    settings: DispatchSettings,
    transport: Rc<dyn Transport>,
    last_record: &Arc<LastRecord>,
    id: WebhookId,
    key: &str,
    position: EventCursor,
) -> Result<(), WebhookError> {
    let last_record = Arc::clone(last_record);
    let store = webhooks.store();
    let (stale_key, delivery_key) = (key.to_owned(), layout::delivery_key(id, position));
    let read_key = delivery_key.clone();
    let found = blocking(move || {
        let delivery = match store.get_meta(&read_key)? {
            Some(bytes) => codec::decode::<Delivery>(&bytes)?,
            None => return Ok(None),
        };
        Ok(Some((
            delivery,
            last_record.event(store.as_ref(), position)?,
        )))
    })
    .await?;
    let current = found.as_ref().is_some_and(|(delivery, _)| {
        delivery.status == DeliveryStatus::Pending
            && delivery
                .next_attempt_at
                .is_some_and(|due| layout::due_key(id, due, position) == key)
    });
    let webhook = webhooks.table().endpoints.get(&id).cloned();
    let (Some((delivery, event)), Some(webhook), true) = (found, webhook, current) else {
        // A stale marker (the record moved on), or a deleted endpoint's.
        let store = webhooks.store();
        return blocking(move || store.delete_meta(&stale_key)).await;
    };
    let clock = &webhooks.registry().context().clock;
    let (next, outcome) = match (event, webhook.status) {
        (Some(event), WebhookStatus::Active) => {
            let request = DeliveryRequest {
                url: webhook.url,
                secret: webhook.secret,
                event,
                sent_at: clock.now(),
            };
            // The transport's own timeout is the rule; this is the backstop.
            let cut_off = Duration::from_millis(DELIVERY_TIMEOUT_MS as u64 + 1_000);
            let result = tokio::time::timeout(cut_off, transport.deliver(request))
                .await
                .unwrap_or_else(|_| AttemptResult::NoAnswer("timed out".into()));
            after_attempt(
                &delivery,
                &result,
                clock.now(),
                settings.first_retry_after_ms,
            )
        }
        // Disabled (its pending deliveries end), or the event is gone.
        _ => (abandoned(&delivery, clock.now()), AfterAttempt::Done),
    };
    if !webhooks.table().endpoints.contains_key(&id) {
        return Ok(()); // deleted while the call was out: its log is being purged
    }
    let finished = next.status != DeliveryStatus::Pending;
    // The new due marker first, then the new state, then the stale marker
    // goes. A crash keeps a prefix: the marker alone (it does not match the
    // state, so it is dropped when due, and the stale one, which does,
    // repeats the attempt); marker and state (the stale marker is dropped);
    // or all. State first would let a crash keep the new state without its
    // marker, a pending delivery nothing ever attempts again.
    let mut entries = Vec::new();
    let mut renewed = false;
    if let AfterAttempt::RetryAt(due) = outcome {
        let due_key = layout::due_key(id, due, position);
        // A retry due at the same instant has the same marker: keep it.
        renewed = due_key == stale_key;
        entries.push((due_key, Vec::new()));
    }
    entries.push((delivery_key, codec::encode(&next)?));
    let store = webhooks.store();
    blocking(move || {
        put_meta_in_order(store.as_ref(), &entries)?;
        if renewed {
            Ok(())
        } else {
            store.delete_meta(&stale_key)
        }
    })
    .await?;
    if finished {
        if let Some(pending) = webhooks.table().pending.get_mut(&id) {
            *pending = pending.saturating_sub(1);
        }
    }
    if outcome == AfterAttempt::DisableEndpoint {
        tracing::warn!(webhook = %id, "webhook disabled: its receiver answered 410 Gone");
        webhooks.disable(id)?;
    }
    Ok(())
}

/// The events of outbox record `lsn` (`None`: not there).
fn read_record(store: &dyn Store, lsn: u64) -> Result<Option<Vec<BookingEvent>>, StoreError> {
    for (found, bytes) in store.read_log_page(OUTBOX_LOG, lsn.saturating_sub(1), 1)? {
        if found == lsn {
            let record: OutboxRecord = codec::decode_record(OUTBOX_LOG, lsn, &bytes)?;
            return Ok(Some(record.events));
        }
    }
    Ok(None)
}

/// The follower's stored cursor (`None`: it never started), for checks.
pub fn stored_cursor(store: &dyn Store) -> Result<Option<EventCursor>, StoreError> {
    store
        .get_meta(layout::CURSOR_KEY)?
        .map(|bytes| layout::decode_cursor(&bytes))
        .transpose()
}
