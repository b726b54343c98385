//! Where webhooks live in the store's metadata, and the walks over it.
//!
//! - `webhook/e/<id>`: the endpoint (`Webhook`).
//! - `webhook/x/<id>`: a deleted endpoint whose keys are still being purged
//!   (written before the endpoint key goes, removed after the purge).
//! - `webhook/d/<id>/<position>`: a delivery (`Delivery`); `<position>` is
//!   the event's place in the outbox, so an endpoint's log is in commit order.
//! - `webhook/q/<id>/<due ms>/<position>`: a pending delivery's next attempt,
//!   so an endpoint's due attempts are the front of its range. The delivery
//!   record is the truth: a marker that no longer matches it is stale (a
//!   crash among the writes of an attempt's end) and is dropped. Markers are
//!   written before the records they serve (`dispatcher`), so a crash never
//!   leaves a pending record without one.
//! - `webhook/cursor`: the dispatcher's place in the outbox.

use boxoffice_engine::Timestamp;
use boxoffice_storage::{codec, Store, StoreError};

use super::{DeliveryStatus, Table, Webhook, WebhookId};
use crate::booking_events::EventCursor;
use crate::webhooks::deliveries::Delivery;

const ENDPOINTS: &str = "webhook/e/";
const PURGING: &str = "webhook/x/";
pub(crate) const CURSOR_KEY: &str = "webhook/cursor";
/// Keys a walk takes from the store at a time.
pub(crate) const SCAN_PAGE: usize = 512;

pub(crate) fn endpoint_key(id: WebhookId) -> String {
    format!("{ENDPOINTS}{id}")
}

pub(crate) fn deliveries_prefix(id: WebhookId) -> String {
    format!("webhook/d/{id}/")
}

pub(crate) fn due_prefix(id: WebhookId) -> String {
    format!("webhook/q/{id}/")
}

fn position_text(position: EventCursor) -> String {
    format!("{:016x}-{:08x}", position.lsn, position.consumed)
}

pub(crate) fn delivery_key(id: WebhookId, position: EventCursor) -> String {
    format!("{}{}", deliveries_prefix(id), position_text(position))
}

/// A due marker sorts by time (times before 1970 count as 1970).
pub(crate) fn due_key(id: WebhookId, due: Timestamp, position: EventCursor) -> String {
    format!(
        "{}{:016x}/{}",
        due_prefix(id),
        due.millis().max(0),
        position_text(position)
    )
}

/// The due time and position a due marker names (`None`: not one of ours).
pub(crate) fn parse_due_key(id: WebhookId, key: &str) -> Option<(Timestamp, EventCursor)> {
    let rest = key.strip_prefix(&due_prefix(id))?;
    let (due, position) = rest.split_once('/')?;
    let (lsn, consumed) = position.split_once('-')?;
    Some((
        Timestamp(i64::from_str_radix(due, 16).ok()?),
        EventCursor {
            lsn: u64::from_str_radix(lsn, 16).ok()?,
            consumed: u32::from_str_radix(consumed, 16).ok()?,
        },
    ))
}

pub(crate) fn encode_cursor(cursor: EventCursor) -> Result<Vec<u8>, StoreError> {
    codec::encode(&(cursor.lsn, cursor.consumed))
}

pub(crate) fn decode_cursor(bytes: &[u8]) -> Result<EventCursor, StoreError> {
    let (lsn, consumed): (u64, u32) = codec::decode(bytes)?;
    Ok(EventCursor { lsn, consumed })
}

/// Every `(key, value)` under `prefix`, a page at a time, to `visit`
/// (which says whether to go on).
pub(crate) fn walk(
    store: &dyn Store,
    prefix: &str,
    mut visit: impl FnMut(&str, &[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_meta(prefix, after.as_deref(), SCAN_PAGE)?;
        let full = page.len() == SCAN_PAGE;
        for (key, value) in &page {
            if !visit(key, value)? {
                return Ok(());
            }
        }
        match page.last() {
            Some((key, _)) if full => after = Some(key.clone()),
            _ => return Ok(()),
        }
    }
}

/// The table at start-up: endpoints, their log sizes and pending counts.
pub(crate) fn load(store: &dyn Store) -> Result<Table, StoreError> {
    let mut purging = Vec::new();
    walk(store, PURGING, |key, _| {
        if let Some(id) = key
            .strip_prefix(PURGING)
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
        {
            purging.push(id);
        }
        Ok(true)
    })?;
    for id in purging {
        purge(store, id)?;
    }
    let mut table = Table::default();
    let mut endpoints = Vec::new();
    walk(store, ENDPOINTS, |_, value| {
        endpoints.push(codec::decode::<Webhook>(value)?);
        Ok(true)
    })?;
    for webhook in endpoints {
        let id = webhook.webhook_id;
        let (mut logged, mut pending) = (0, 0);
        walk(store, &deliveries_prefix(id), |_, value| {
            logged += 1;
            if codec::decode::<Delivery>(value)?.status == DeliveryStatus::Pending {
                pending += 1;
            }
            Ok(true)
        })?;
        table.logged.insert(id, logged);
        table.pending.insert(id, pending);
        table.endpoints.insert(id, webhook);
    }
    Ok(table)
}

/// Deletes the endpoint durably, leaving a purge marker for its log.
pub(crate) fn delete_endpoint(store: &dyn Store, id: WebhookId) -> Result<(), StoreError> {
    store.put_meta(&format!("{PURGING}{id}"), b"")?;
    store.delete_meta(&endpoint_key(id))?;
    store.flush()
}

/// Deletes a deleted endpoint's deliveries and due markers, then its purge marker.
pub(crate) fn purge(store: &dyn Store, id: WebhookId) -> Result<(), StoreError> {
    for prefix in [deliveries_prefix(id), due_prefix(id)] {
        loop {
            let keys = store.list_meta(&prefix, SCAN_PAGE)?;
            if keys.is_empty() {
                break;
            }
            for key in keys {
                store.delete_meta(&key)?;
            }
        }
    }
    store.delete_meta(&format!("{PURGING}{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_round_trip_and_sort_by_time() {
        let id = uuid::Uuid::from_u128(7);
        let position = EventCursor {
            lsn: 42,
            consumed: 3,
        };
        let key = due_key(id, Timestamp(1_000), position);
        assert_eq!(parse_due_key(id, &key), Some((Timestamp(1_000), position)));
        assert!(key < due_key(id, Timestamp(2_000), position));
        assert!(key.len() <= boxoffice_storage::limits::MAX_LOG_NAME_BYTES);
        assert_eq!(parse_due_key(uuid::Uuid::from_u128(8), &key), None);
    }
}
