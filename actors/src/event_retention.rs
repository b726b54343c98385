//! Retention of booking events (API.md: the feed keeps them "at least 30
//! days"): a bounded pass, run now and then on the webhook dispatcher's
//! thread, trims outbox records whose events are all older than
//! [`EVENT_RETENTION_MS`] by the injected clock, and finished delivery-log
//! records whose last attempt is that old.
//!
//! What is never trimmed:
//! - a record at or after the lowest position a consumer still reads from
//!   (`Outbox::hold`: the webhook dispatcher's cursor and, with mail on, the
//!   mail dispatcher's), so a consumer that is behind (mail down for a
//!   month) finds its events when it comes back;
//! - the newest record, so the outbox's last lsn (which `Outbox::open`
//!   starts from) is always a record's;
//! - a PENDING delivery.
//!
//! A delivery still pending after 30 days cannot be: retries stop 3 days
//! after an event is recorded (`deliveries::RETRY_FOR_MS`). A delivery
//! whose event is gone (the server was off for a month, then the old
//! retries come due) ends FAILED without an attempt, as for a deleted
//! event (`dispatcher::attempt`).
//!
//! The admin feed needs nothing special: a cursor into trimmed records, or
//! none, reads from the oldest record kept (`booking_events::read_page`
//! reads the records after the cursor's lsn that exist).

use boxoffice_engine::Timestamp;
use boxoffice_storage::{codec, Lsn, Store, StoreError};

use crate::booking_events::{OutboxRecord, OUTBOX_LOG};
use crate::webhooks::deliveries::{Delivery, DeliveryStatus};
use crate::webhooks::{layout_walk, WebhookId};

/// How long booking events and finished deliveries are kept (API.md: at
/// least 30 days).
pub const EVENT_RETENTION_MS: i64 = 30 * 24 * 60 * 60 * 1_000;
/// Outbox records one pass looks at (and so trims) at most.
pub const MAX_OUTBOX_RECORDS_PER_PASS: usize = 1_000;
/// Delivery records one pass deletes at most, over every endpoint.
pub const MAX_DELIVERIES_PER_PASS: usize = 10_000;

/// What one pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// The outbox now starts after this lsn (0: nothing trimmed this pass).
    pub outbox_trimmed_upto: Lsn,
    pub deliveries_deleted: usize,
}

/// The outbox part of a pass at `now`: trims the prefix of records older
/// than the retention, below `held_from` and the newest record, at most
/// [`MAX_OUTBOX_RECORDS_PER_PASS`] of them. Returns the lsn trimmed up to
/// (0: none).
pub fn trim_outbox(store: &dyn Store, now: Timestamp, held_from: Lsn) -> Result<Lsn, StoreError> {
    let cutoff = now.millis().saturating_sub(EVENT_RETENTION_MS);
    let last = store.last_lsn(OUTBOX_LOG)?;
    let mut upto = 0;
    for (lsn, bytes) in store.read_log_page(OUTBOX_LOG, 0, MAX_OUTBOX_RECORDS_PER_PASS)? {
        if lsn >= held_from || lsn >= last {
            break;
        }
        let record: OutboxRecord = codec::decode_record(OUTBOX_LOG, lsn, &bytes)?;
        // Records are in commit order, their times nearly so: the first one
        // too young ends the prefix.
        if record
            .events
            .iter()
            .any(|event| event.created_at.millis() >= cutoff)
        {
            break;
        }
        upto = lsn;
    }
    if upto > 0 {
        // A store trims only behind a snapshot: the outbox's is empty (no
        // state is rebuilt from it), a mark of how far retention went.
        store.write_snapshot(OUTBOX_LOG, upto, &[])?;
        store.trim(OUTBOX_LOG, upto)?;
    }
    Ok(upto)
}

/// The delivery-log part of a pass at `now`: each endpoint's finished
/// records whose last attempt is older than the retention, oldest first,
/// up to `budget` in all. Returns how many went per endpoint.
pub fn trim_deliveries(
    store: &dyn Store,
    endpoints: &[WebhookId],
    now: Timestamp,
    mut budget: usize,
) -> Result<Vec<(WebhookId, usize)>, StoreError> {
    let cutoff = now.millis().saturating_sub(EVENT_RETENTION_MS);
    let mut removed = Vec::new();
    for id in endpoints {
        if budget == 0 {
            break;
        }
        let mut doomed = Vec::new();
        // The log is in commit order: the first record too young (or still
        // pending) ends this endpoint's old prefix.
        layout_walk(
            store,
            &crate::webhooks::deliveries_prefix(*id),
            |key, value| {
                let delivery: Delivery = codec::decode(value)?;
                if delivery.status == DeliveryStatus::Pending || delivery.at.millis() >= cutoff {
                    return Ok(false);
                }
                doomed.push(key.to_owned());
                Ok(doomed.len() < budget)
            },
        )?;
        for key in &doomed {
            store.delete_meta(key)?;
        }
        budget -= doomed.len();
        if !doomed.is_empty() {
            removed.push((*id, doomed.len()));
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking_events::{BookingEvent, BookingEventData, BookingEventKind, EventCursor};
    use crate::webhooks::layout_keys::delivery_key;
    use boxoffice_engine::ids::ScheduleId;
    use boxoffice_engine::Money;
    use boxoffice_storage::MemoryStore;

    const DAY_MS: i64 = 24 * 60 * 60 * 1_000;

    fn event(at_ms: i64) -> BookingEvent {
        BookingEvent {
            event_id: uuid::Uuid::from_u128(at_ms as u128),
            kind: BookingEventKind::ScheduleCancelled,
            created_at: Timestamp(at_ms),
            data: BookingEventData::ScheduleCancelled {
                schedule_id: ScheduleId::from_random_bytes([1; 16]),
                released_holds: 0,
                refunded_reservations: 0,
                refunded_amount: Money(0),
            },
        }
    }

    /// Outbox records made on days 0..days, one each.
    fn outbox(days: i64) -> MemoryStore {
        let store = MemoryStore::new();
        for day in 0..days {
            let record = OutboxRecord {
                source_log: "s/a".to_owned(),
                source_lsn: day as u64 + 1,
                events: vec![event(day * DAY_MS)],
            };
            let bytes = codec::encode(&record).expect("encodes");
            store.append(OUTBOX_LOG, &bytes).expect("appends");
        }
        store
    }

    fn first_lsn(store: &MemoryStore) -> Lsn {
        store
            .read_log_page(OUTBOX_LOG, 0, 1)
            .expect("reads")
            .first()
            .map_or(0, |(lsn, _)| *lsn)
    }

    #[test]
    fn the_outbox_loses_what_is_older_than_30_days_below_the_holds_and_never_its_newest() {
        // Records 1..=40 made on days 0..=39; it is day 40.
        let store = outbox(40);
        let now = Timestamp(40 * DAY_MS);
        // Day 9 (record 10) is 31 days old, day 10 exactly 30: kept.
        assert_eq!(trim_outbox(&store, now, Lsn::MAX).expect("trims"), 10);
        assert_eq!(first_lsn(&store), 11);
        assert_eq!(trim_outbox(&store, now, Lsn::MAX).expect("trims"), 0);
        // A consumer still reading record 3 holds everything from there.
        let store = outbox(40);
        assert_eq!(trim_outbox(&store, now, 3).expect("trims"), 2);
        assert_eq!(first_lsn(&store), 3);
        // Everything old: the newest record stays (its lsn is the last).
        let store = outbox(5);
        assert_eq!(
            trim_outbox(&store, Timestamp(100 * DAY_MS), Lsn::MAX).expect("trims"),
            4
        );
        assert_eq!(first_lsn(&store), 5);
        assert_eq!(store.last_lsn(OUTBOX_LOG).expect("lsn"), 5);
    }

    #[test]
    fn a_pass_trims_at_most_its_bound_of_records() {
        let store = outbox(MAX_OUTBOX_RECORDS_PER_PASS as i64 + 10);
        let now = Timestamp(10_000 * DAY_MS);
        assert_eq!(
            trim_outbox(&store, now, Lsn::MAX).expect("trims"),
            MAX_OUTBOX_RECORDS_PER_PASS as Lsn
        );
        assert_eq!(trim_outbox(&store, now, Lsn::MAX).expect("trims"), 1_009);
    }

    #[test]
    fn finished_deliveries_older_than_30_days_go_pending_ones_and_young_ones_stay() {
        let store = MemoryStore::new();
        let id = uuid::Uuid::from_u128(9);
        let delivery = |lsn: u64, at_days: i64, status: DeliveryStatus| Delivery {
            event_id: uuid::Uuid::from_u128(u128::from(lsn)),
            kind: BookingEventKind::BookingCreated,
            lsn,
            index: 1,
            recorded_at: Timestamp(at_days * DAY_MS),
            attempt: 1,
            status,
            response_status: Some(200),
            at: Timestamp(at_days * DAY_MS),
            next_attempt_at: None,
        };
        let records = [
            delivery(1, 0, DeliveryStatus::Delivered),
            delivery(2, 1, DeliveryStatus::Failed),
            delivery(3, 2, DeliveryStatus::Pending),
            delivery(4, 3, DeliveryStatus::Delivered),
            delivery(5, 39, DeliveryStatus::Delivered),
        ];
        for record in &records {
            let key = delivery_key(
                id,
                EventCursor {
                    lsn: record.lsn,
                    consumed: 1,
                },
            );
            store
                .put_meta(&key, &codec::encode(record).expect("encodes"))
                .expect("puts");
        }
        let now = Timestamp(40 * DAY_MS);
        // The pending one ends the old prefix (it cannot be 30 days old
        // in practice: retries stop after 3).
        assert_eq!(
            trim_deliveries(&store, &[id], now, 100).expect("trims"),
            [(id, 2)]
        );
        let left = crate::webhooks::deliveries::page(&store, id, 0, 100).expect("reads");
        assert_eq!(left.iter().map(|d| d.lsn).collect::<Vec<_>>(), [3, 4, 5]);
        // The budget bounds a pass.
        let store2 = MemoryStore::new();
        for record in &records[..2] {
            let key = delivery_key(
                id,
                EventCursor {
                    lsn: record.lsn,
                    consumed: 1,
                },
            );
            store2
                .put_meta(&key, &codec::encode(record).expect("encodes"))
                .expect("puts");
        }
        assert_eq!(
            trim_deliveries(&store2, &[id], now, 1).expect("trims"),
            [(id, 1)]
        );
    }
}
