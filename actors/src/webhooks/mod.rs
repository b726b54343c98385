//! Webhooks: endpoints an admin registers to receive the booking events of
//! the types they name, signed, at least once (API.md "Booking events and
//! webhooks").
//!
//! Three parts. This module is the endpoint table: register, list, delete,
//! kept in the store's metadata (`layout`) and mirrored in memory. The
//! delivery log (`deliveries`) holds one record per (endpoint, event) with
//! its retry state. The `dispatcher` follows the outbox feed from its own
//! durable cursor, records deliveries, and makes the calls through a
//! `Transport` the HTTP layer gives it (rendering, signing, the client).
//! It runs on its own thread: no schedule actor, journal or flush ever
//! waits for a delivery.
//!
//! The table never holds the store: every store access goes through the
//! registry, so a stopped engine's data dir is released with the registry.

pub mod deliveries;
pub mod dispatcher;
mod layout;

use boxoffice_engine::Timestamp;
use boxoffice_storage::{codec, Lsn, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{watch, Notify};

use crate::booking_events::BookingEventKind;
use crate::registry::Registry;

pub use deliveries::{Delivery, DeliveryStatus};
pub(crate) use layout::{deliveries_prefix, walk as layout_walk};
#[cfg(test)]
pub(crate) mod layout_keys {
    pub(crate) use super::layout::delivery_key;
}

/// Most endpoints registered at once (each costs a scan per dispatch tick).
pub const MAX_WEBHOOKS: usize = 100;
/// Longest endpoint URL, in characters (API.md).
pub const MAX_WEBHOOK_URL_CHARS: usize = 2_048;
/// Longest description, in characters.
pub const MAX_WEBHOOK_DESCRIPTION_CHARS: usize = 500;
/// Random bytes in a secret (shown as hex after `whsec_`).
const SECRET_BYTES: usize = 32;

/// Every booking event type, in their stored order: the ones an endpoint
/// may name. `every_kind_is_listed` keeps it complete.
pub const EVENT_KINDS: [BookingEventKind; 8] = [
    BookingEventKind::BookingCreated,
    BookingEventKind::BookingConfirmed,
    BookingEventKind::BookingCancelled,
    BookingEventKind::BookingExpired,
    BookingEventKind::PaymentCompleted,
    BookingEventKind::PaymentFailed,
    BookingEventKind::RefundIssued,
    BookingEventKind::ScheduleCancelled,
];

/// The event type API.md calls `name`, if there is one.
pub fn event_kind(name: &str) -> Option<BookingEventKind> {
    EVENT_KINDS.into_iter().find(|kind| kind.name() == name)
}

pub type WebhookId = uuid::Uuid;

/// Stored: new variants go LAST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookStatus {
    Active,
    /// A receiver answered 410 Gone, or left too many deliveries pending:
    /// nothing more is sent, its pending deliveries end FAILED.
    Disabled,
}

/// One registered endpoint, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub webhook_id: WebhookId,
    pub url: String,
    pub events: Vec<BookingEventKind>,
    pub description: Option<String>,
    /// The HMAC key (its UTF-8 bytes); shown once, at creation.
    pub secret: String,
    pub created_at: Timestamp,
    /// The outbox's durable lsn at registration: only events of later
    /// records go to this endpoint (the ones that happened after it existed).
    pub from_lsn: Lsn,
    pub status: WebhookStatus,
}

impl Webhook {
    pub fn wants(&self, kind: BookingEventKind, lsn: Lsn) -> bool {
        self.status == WebhookStatus::Active && lsn > self.from_lsn && self.events.contains(&kind)
    }
}

/// A registration as the HTTP layer checked it (URL syntax is its job).
#[derive(Clone, Debug)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<BookingEventKind>,
    pub description: Option<String>,
}

/// Why a webhook operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook has this id")]
    NotFound,
    #[error("invalid webhook: {0}")]
    Validation(String),
    #[error("at most {MAX_WEBHOOKS} webhooks can be registered")]
    TooMany,
    #[error("storage failed: {0}")]
    Storage(String),
}

impl From<StoreError> for WebhookError {
    fn from(err: StoreError) -> Self {
        WebhookError::Storage(err.to_string())
    }
}

/// The in-memory side of the table: the endpoints, and per endpoint the
/// size of its delivery log and how many of those are pending (counted at
/// start-up, kept by the dispatcher).
#[derive(Default)]
pub(crate) struct Table {
    pub endpoints: BTreeMap<WebhookId, Webhook>,
    pub logged: HashMap<WebhookId, usize>,
    pub pending: HashMap<WebhookId, usize>,
}

/// The endpoint table (see the module doc), shared by the handlers and the dispatcher.
pub struct Webhooks {
    registry: Arc<Registry>,
    table: Mutex<Table>,
    /// Registrations under way (between reading the outbox's durable lsn
    /// for `from_lsn` and entering the table): while any is, the dispatcher
    /// skips nothing (see [`Webhooks::owed_after`]).
    registering: AtomicUsize,
    /// Rings the dispatcher: a delivery was recorded or an attempt ended.
    pub(crate) wake: Notify,
    stop: watch::Sender<bool>,
}

impl Webhooks {
    /// Loads the table (finishing the purge of any endpoint a crash caught
    /// while it was being deleted). On the very first start it also stores
    /// the dispatcher's cursor, before any registration can be accepted:
    /// stored later (at the dispatcher's first pass, as it once was), it
    /// would be the outbox's end as it was then, past the events an
    /// endpoint registered in between is owed.
    pub async fn open(registry: Arc<Registry>) -> Result<Arc<Webhooks>, WebhookError> {
        let store = Arc::clone(registry.context().commit.store());
        let durable = registry.context().outbox.durable_lsn();
        let table = blocking(move || {
            dispatcher::start_cursor(store.as_ref(), durable)?;
            layout::load(store.as_ref())
        })
        .await?;
        Ok(Arc::new(Webhooks {
            registry,
            table: Mutex::new(table),
            registering: AtomicUsize::new(0),
            wake: Notify::new(),
            stop: watch::Sender::new(false),
        }))
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub(crate) fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self.registry.context().commit.store())
    }

    pub(crate) fn table(&self) -> MutexGuard<'_, Table> {
        // A poisoned lock means a panic mid-update of counters: still usable.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an endpoint, durably, with a secret drawn from the
    /// engine's (seeded) id source.
    pub async fn create(&self, new: NewWebhook) -> Result<Webhook, WebhookError> {
        check(&new)?;
        if self.table().endpoints.len() >= MAX_WEBHOOKS {
            return Err(WebhookError::TooMany);
        }
        let _registering = Registering::enter(&self.registering);
        let context = self.registry.context();
        let ids = &context.ids;
        let webhook_id = uuid::Builder::from_random_bytes(ids.bytes()).into_uuid();
        let secret_bytes: [u8; SECRET_BYTES] = ids.bytes();
        let secret = format!("whsec_{}", hex(&secret_bytes));
        let mut events = Vec::new();
        for kind in new.events {
            if !events.contains(&kind) {
                events.push(kind);
            }
        }
        let webhook = Webhook {
            webhook_id,
            url: new.url,
            events,
            description: new.description,
            secret,
            created_at: context.clock.now(),
            from_lsn: context.outbox.durable_lsn(),
            status: WebhookStatus::Active,
        };
        let bytes = codec::encode(&webhook)?;
        let store = self.store();
        blocking(move || {
            store.put_meta(&layout::endpoint_key(webhook_id), &bytes)?;
            store.flush()
        })
        .await?;
        let mut table = self.table();
        table.endpoints.insert(webhook_id, webhook.clone());
        table.logged.insert(webhook_id, 0);
        table.pending.insert(webhook_id, 0);
        Ok(webhook)
    }

    /// Given the outbox's durable lsn `durable` (read BEFORE this call), the
    /// lsn up to which no endpoint is owed anything: the lowest `from_lsn`
    /// of the active endpoints, or `durable` when there are none. `None`
    /// while a registration is under way: its `from_lsn` may be older than
    /// `durable`. One that starts after this call reads a durable lsn at
    /// least `durable` (it only grows), so it is owed nothing before it.
    pub(crate) fn owed_after(&self, durable: Lsn) -> Option<Lsn> {
        if self.registering() {
            return None;
        }
        let table = self.table();
        Some(
            table
                .endpoints
                .values()
                .filter(|w| w.status == WebhookStatus::Active)
                .map(|w| w.from_lsn)
                .min()
                .unwrap_or(durable)
                .min(durable),
        )
    }

    /// Whether a registration is under way (see [`Webhooks::owed_after`]).
    pub(crate) fn registering(&self) -> bool {
        self.registering.load(Ordering::SeqCst) > 0
    }

    /// The endpoint `id`, if registered.
    pub fn get(&self, id: WebhookId) -> Option<Webhook> {
        self.table().endpoints.get(&id).cloned()
    }

    /// Every endpoint, oldest first.
    pub fn list(&self) -> Vec<Webhook> {
        let mut all: Vec<Webhook> = self.table().endpoints.values().cloned().collect();
        all.sort_by_key(|w| (w.created_at, w.webhook_id));
        all
    }

    /// Removes an endpoint, durably: nothing more is sent to it (an
    /// attempt in flight finishes but records nothing), and its delivery
    /// log is deleted.
    pub async fn delete(&self, id: WebhookId) -> Result<(), WebhookError> {
        if !self.table().endpoints.contains_key(&id) {
            return Err(WebhookError::NotFound);
        }
        let store = self.store();
        blocking(move || layout::delete_endpoint(store.as_ref(), id)).await?;
        let mut table = self.table();
        table.endpoints.remove(&id);
        table.logged.remove(&id);
        table.pending.remove(&id);
        drop(table);
        let store = self.store();
        // The log's keys go in the background: the endpoint is gone already,
        // and a crash midway is finished at the next start (`layout::load`).
        tokio::task::spawn_blocking(move || {
            if let Err(err) = layout::purge(store.as_ref(), id) {
                tracing::warn!(webhook = %id, "purging a deleted webhook's log failed: {err}");
            }
        });
        Ok(())
    }

    /// A page of an endpoint's delivery log, oldest first, and its size.
    pub async fn deliveries(
        &self,
        id: WebhookId,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Delivery>, usize), WebhookError> {
        let total = {
            let table = self.table();
            if !table.endpoints.contains_key(&id) {
                return Err(WebhookError::NotFound);
            }
            table.logged.get(&id).copied().unwrap_or(0)
        };
        let store = self.store();
        let items = blocking(move || deliveries::page(store.as_ref(), id, offset, limit)).await?;
        Ok((items, total))
    }

    /// The endpoint `id` stops receiving (a 410, or too much pending), durably.
    pub(crate) fn disable(&self, id: WebhookId) -> Result<(), StoreError> {
        let webhook = {
            let mut table = self.table();
            let Some(webhook) = table.endpoints.get_mut(&id) else {
                return Ok(());
            };
            webhook.status = WebhookStatus::Disabled;
            webhook.clone()
        };
        self.store()
            .put_meta(&layout::endpoint_key(id), &codec::encode(&webhook)?)
    }

    /// Asks the dispatcher to stop (it lets go of the registry as it ends).
    pub fn stop(&self) {
        self.stop.send_replace(true);
        self.wake.notify_waiters();
    }

    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }
}

/// Counts a registration under way for as long as it lives (an error or a
/// dropped future included).
struct Registering<'a>(&'a AtomicUsize);

impl<'a> Registering<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Registering(count)
    }
}

impl Drop for Registering<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The bounds the HTTP layer checks too: enforced here, whoever calls.
fn check(new: &NewWebhook) -> Result<(), WebhookError> {
    if new.url.chars().count() > MAX_WEBHOOK_URL_CHARS {
        return Err(WebhookError::Validation(format!(
            "url must be at most {MAX_WEBHOOK_URL_CHARS} characters"
        )));
    }
    if new.events.is_empty() {
        return Err(WebhookError::Validation(
            "events must name at least one event type".into(),
        ));
    }
    if let Some(description) = &new.description {
        if description.chars().count() > MAX_WEBHOOK_DESCRIPTION_CHARS {
            return Err(WebhookError::Validation(format!(
                "description must be at most {MAX_WEBHOOK_DESCRIPTION_CHARS} characters"
            )));
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a store call on a blocking thread (sled may touch the disk).
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, WebhookError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| WebhookError::Storage(format!("a store task failed: {err}")))?
        .map_err(WebhookError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed() {
        // A new kind fails to compile here until it is added to EVENT_KINDS.
        for kind in EVENT_KINDS {
            match kind {
                BookingEventKind::BookingCreated
                | BookingEventKind::BookingConfirmed
                | BookingEventKind::BookingCancelled
                | BookingEventKind::BookingExpired
                | BookingEventKind::PaymentCompleted
                | BookingEventKind::PaymentFailed
                | BookingEventKind::RefundIssued
                | BookingEventKind::ScheduleCancelled => {}
            }
            assert_eq!(event_kind(kind.name()), Some(kind));
        }
        assert_eq!(event_kind("booking.unknown"), None);
    }
}
