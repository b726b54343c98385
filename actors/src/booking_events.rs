//! Booking events: the outbox every change of a reservation, payment or
//! schedule writes, and the admin feed that reads it in order.
//!
//! Written: a schedule actor turns each engine event of a batch into booking
//! events ([`booking_events`], the one translation) as soon as the event is
//! applied, rendering the reservation as it is right after it; the
//! [`crate::journal::Journal`] writes them as ONE record of the log
//! [`OUTBOX_LOG`] together with the batch's own record, through
//! `Store::append_pair`: after any crash both records are there or neither
//! (no change without its event, no event without its change). The outbox
//! record names the schedule log and lsn it goes with, so the two can be
//! checked against each other.
//!
//! Served: an event's position is (outbox lsn, index in the record), fixed
//! at append. The feed serves records only up to the [`Outbox`]'s durable
//! lsn, which the batch's durable waiter advances once a flush covers it. A
//! flush covers every append that returned before it, and outbox lsns are
//! assigned in append order, so every outbox lsn at or below the durable one
//! is durable too: a reader following positions never skips an event that
//! becomes durable later. At start-up the durable lsn is the outbox's last.
//!
//! Kept 30 days: `event_retention` trims older records, never one a
//! consumer that registered a hold ([`Outbox::hold`]) still reads from.

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::{Reservation, ReservationStatus, Schedule, ScheduleEvent};
use boxoffice_engine::{Money, Timestamp};
use boxoffice_storage::{codec, Lsn, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

use crate::entropy::IdSource;
use crate::error::{EngineError, EngineResult};
use crate::registry::Registry;
use crate::schedule_actor::views::{reservation_view, ReservationView};

/// The log that holds every booking event, one record per schedule batch.
pub const OUTBOX_LOG: &str = "outbox";
/// Events a feed page holds when the caller names no limit.
pub const DEFAULT_EVENTS_PER_PAGE: usize = 100;
/// Most events one feed page holds.
pub const MAX_EVENTS_PER_PAGE: usize = 1_000;
/// Longest a feed read waits for an event when none is newer.
pub const MAX_EVENTS_WAIT_SECONDS: u64 = 30;
/// Outbox records a feed read takes from the store at a time: a record can
/// hold thousands of events (a mass expiry), so a page stops reading as soon
/// as it has its events rather than reading `limit` records at once.
const OUTBOX_RECORDS_PER_READ: usize = 8;

/// The types of API.md's booking events. Stored: new kinds go LAST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BookingEventKind {
    BookingCreated,
    BookingConfirmed,
    BookingCancelled,
    BookingExpired,
    PaymentCompleted,
    PaymentFailed,
    RefundIssued,
    ScheduleCancelled,
}

impl BookingEventKind {
    /// The type as API.md names it.
    pub fn name(self) -> &'static str {
        match self {
            BookingEventKind::BookingCreated => "booking.created",
            BookingEventKind::BookingConfirmed => "booking.confirmed",
            BookingEventKind::BookingCancelled => "booking.cancelled",
            BookingEventKind::BookingExpired => "booking.expired",
            BookingEventKind::PaymentCompleted => "payment.completed",
            BookingEventKind::PaymentFailed => "payment.failed",
            BookingEventKind::RefundIssued => "refund.issued",
            BookingEventKind::ScheduleCancelled => "schedule.cancelled",
        }
    }
}

/// What an event carries, as the actors' own views (rendered to JSON only
/// by the HTTP layer). Stored: new variants go LAST.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookingEventData {
    /// `booking.*`: the reservation right after the change.
    Reservation(ReservationView),
    /// `payment.completed` / `payment.failed`: the payment is read off the
    /// reservation it paid for (as `GET /payments/{id}` does), right after.
    Payment {
        payment_id: PaymentId,
        reservation: ReservationView,
    },
    /// `refund.issued`: the refund a cancellation of a paid reservation owes
    /// (logged with the cancellation; recovery pays it if a crash intervenes).
    Refund {
        payment_id: PaymentId,
        reservation_id: ReservationId,
        amount: Money,
        refunded_at: Timestamp,
    },
    /// `schedule.cancelled`: what the cancel answered.
    ScheduleCancelled {
        schedule_id: ScheduleId,
        released_holds: u32,
        refunded_reservations: u32,
        refunded_amount: Money,
    },
    /// `payment.completed` / `payment.failed` of a card payment, as
    /// `Payment` (which stays the wallet's: stored events keep their variant).
    CardPayment {
        payment_id: PaymentId,
        reservation: ReservationView,
    },
}

/// One booking event as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingEvent {
    /// Drawn from the engine's (seeded) id source: unique across data dirs,
    /// so a receiver deduplicating by it never drops another install's event.
    pub event_id: uuid::Uuid,
    pub kind: BookingEventKind,
    /// The engine event's own time.
    pub created_at: Timestamp,
    pub data: BookingEventData,
}

/// One record of [`OUTBOX_LOG`]: the booking events of one schedule batch,
/// and which record of which log that batch is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub source_log: String,
    pub source_lsn: Lsn,
    pub events: Vec<BookingEvent>,
}

/// The booking events `event` makes (applied to `schedule` already, so the
/// reservations it names are there, as they are right after it). The one
/// translation from engine events to booking events: a new event kind is
/// one arm here, and must choose. `by_card` says whether a payment is a card
/// payment (the engine does not know how a payment is paid).
pub fn booking_events(
    schedule: &Schedule,
    event: &ScheduleEvent,
    ids: &IdSource,
    by_card: &dyn Fn(PaymentId) -> bool,
) -> Vec<BookingEvent> {
    let view = |id: ReservationId| {
        schedule
            .reservation(id)
            .map(|r| reservation_view(schedule, r))
    };
    let mut out = Vec::new();
    let mut push = |kind, at, data| {
        out.push(BookingEvent {
            event_id: uuid::Builder::from_random_bytes(ids.bytes()).into_uuid(),
            kind,
            created_at: at,
            data,
        })
    };
    let payment = |payment_id: PaymentId, reservation| {
        if by_card(payment_id) {
            BookingEventData::CardPayment {
                payment_id,
                reservation,
            }
        } else {
            BookingEventData::Payment {
                payment_id,
                reservation,
            }
        }
    };
    let refund_of = |r: &Reservation, at| {
        r.refund.as_ref().map(|refund| BookingEventData::Refund {
            payment_id: refund.payment_id,
            reservation_id: r.id,
            amount: refund.amount,
            refunded_at: at,
        })
    };
    match event {
        ScheduleEvent::Held {
            reservation_id, at, ..
        } => {
            if let Some(v) = view(*reservation_id) {
                push(
                    BookingEventKind::BookingCreated,
                    *at,
                    BookingEventData::Reservation(v),
                );
            }
        }
        ScheduleEvent::Released { reservation_id, at } => {
            if let Some(v) = view(*reservation_id) {
                push(
                    BookingEventKind::BookingCancelled,
                    *at,
                    BookingEventData::Reservation(v),
                );
            }
        }
        ScheduleEvent::Expired {
            reservation_ids,
            at,
        } => {
            for v in reservation_ids.iter().filter_map(|id| view(*id)) {
                push(
                    BookingEventKind::BookingExpired,
                    *at,
                    BookingEventData::Reservation(v),
                );
            }
        }
        // A saga step: nothing a client sees has happened yet.
        ScheduleEvent::PaymentBegun { .. } => {}
        ScheduleEvent::PaymentAborted {
            reservation_id,
            payment_id,
            at,
        } => {
            if let Some(v) = view(*reservation_id) {
                push(
                    BookingEventKind::PaymentFailed,
                    *at,
                    payment(*payment_id, v),
                );
            }
        }
        ScheduleEvent::Confirmed {
            reservation_id,
            payment_id,
            at,
            ..
        } => {
            if let Some(v) = view(*reservation_id) {
                push(
                    BookingEventKind::PaymentCompleted,
                    *at,
                    payment(*payment_id, v.clone()),
                );
                push(
                    BookingEventKind::BookingConfirmed,
                    *at,
                    BookingEventData::Reservation(v),
                );
            }
        }
        ScheduleEvent::Cancelled {
            reservation_id, at, ..
        } => {
            if let Some(r) = schedule.reservation(*reservation_id) {
                if let Some(refund) = refund_of(r, *at) {
                    push(BookingEventKind::RefundIssued, *at, refund);
                }
                push(
                    BookingEventKind::BookingCancelled,
                    *at,
                    BookingEventData::Reservation(reservation_view(schedule, r)),
                );
            }
        }
        // The refund was announced when it became owed (`Cancelled`,
        // `CancellationBatch`); its reaching the wallet changes no booking.
        ScheduleEvent::RefundSettled { .. } => {}
        // A ticket used at the door: no booking event type covers it.
        ScheduleEvent::CheckedIn { .. } => {}
        ScheduleEvent::ScheduleCancelled { at } => {
            // What `cancel_schedule` counted: the reservations the batches will end.
            let (mut released_holds, mut refunded_reservations) = (0u32, 0u32);
            let mut refunded_amount = Money(0);
            for r in schedule.reservations() {
                match r.status {
                    ReservationStatus::Held => released_holds += 1,
                    ReservationStatus::Confirmed { .. } => {
                        refunded_reservations += 1;
                        refunded_amount = refunded_amount
                            .checked_add(r.amount)
                            .unwrap_or(refunded_amount);
                    }
                    ReservationStatus::PaymentPending { .. }
                    | ReservationStatus::Expired
                    | ReservationStatus::Cancelled => {}
                }
            }
            push(
                BookingEventKind::ScheduleCancelled,
                *at,
                BookingEventData::ScheduleCancelled {
                    schedule_id: schedule.id(),
                    released_holds,
                    refunded_reservations,
                    refunded_amount,
                },
            );
        }
        ScheduleEvent::CancellationBatch {
            released,
            refunded,
            at,
        } => {
            for r in released.iter().filter_map(|id| schedule.reservation(*id)) {
                push(
                    BookingEventKind::BookingCancelled,
                    *at,
                    BookingEventData::Reservation(reservation_view(schedule, r)),
                );
            }
            for r in refunded
                .iter()
                .filter_map(|(id, _)| schedule.reservation(*id))
            {
                if let Some(refund) = refund_of(r, *at) {
                    push(BookingEventKind::RefundIssued, *at, refund);
                }
                push(
                    BookingEventKind::BookingCancelled,
                    *at,
                    BookingEventData::Reservation(reservation_view(schedule, r)),
                );
            }
        }
        // Seats taken off sale or back: no reservation changes.
        ScheduleEvent::SeatsBlocked { .. } | ScheduleEvent::SeatsUnblocked { .. } => {}
        // A comp is born confirmed (no hold, no payment).
        ScheduleEvent::Comped {
            reservation_id, at, ..
        } => {
            if let Some(v) = view(*reservation_id) {
                push(
                    BookingEventKind::BookingConfirmed,
                    *at,
                    BookingEventData::Reservation(v),
                );
            }
        }
    }
    out
}

/// The outbox's durable lsn, shared by the journals that advance it and the
/// feed that reads up to it (see the module doc).
#[derive(Debug)]
pub struct Outbox {
    durable: watch::Sender<Lsn>,
    /// Per consumer (the webhook and mail dispatchers), the first record it
    /// still reads: retention trims none from there on.
    holds: Mutex<BTreeMap<&'static str, Lsn>>,
}

impl Outbox {
    /// At start-up everything in the outbox is durable (a restart reads
    /// what the previous process's flushes left). Its newest record must
    /// decode, as every actor's log tail must at load: a torn or damaged
    /// last write refuses the start, naming the record, instead of failing
    /// the feed later. (The outbox is never read whole at start: it only grows.)
    ///
    /// A crash between the two writes of an `append_pair` can leave the
    /// outbox record of a batch that never landed (the outbox half is
    /// written first): then the newest outbox record names a source lsn its
    /// log never reached, and it is removed here, before anything reads the
    /// outbox. It was never served (the pair's waiter, which advances the
    /// durable position, runs only once a flush covers both halves), and
    /// pairs are serialized on the outbox log, so only the newest can be torn.
    pub fn open(store: &dyn Store) -> Result<Arc<Outbox>, boxoffice_storage::StoreError> {
        let mut last = store.last_lsn(OUTBOX_LOG)?;
        for (lsn, bytes) in store.read_log_page(OUTBOX_LOG, last.saturating_sub(1), 1)? {
            let record = codec::decode_record::<OutboxRecord>(OUTBOX_LOG, lsn, &bytes)?;
            if lsn == last && record.source_lsn > store.last_lsn(&record.source_log)? {
                tracing::warn!(
                    outbox_lsn = lsn,
                    source_log = %record.source_log,
                    source_lsn = record.source_lsn,
                    "removing the outbox record of a batch a crash cut"
                );
                store.remove_last(OUTBOX_LOG, lsn)?;
                last = lsn - 1;
            }
        }
        Ok(Arc::new(Outbox {
            durable: watch::Sender::new(last),
            holds: Mutex::new(BTreeMap::new()),
        }))
    }

    /// A flush covered outbox record `lsn` (called by the batch's durable
    /// waiter; waiters of later records may run first, hence the max).
    pub fn advance(&self, lsn: Lsn) {
        self.durable.send_if_modified(|durable| {
            let newer = lsn > *durable;
            if newer {
                *durable = lsn;
            }
            newer
        });
    }

    /// Every outbox record up to this lsn is durable.
    pub fn durable_lsn(&self) -> Lsn {
        *self.durable.borrow()
    }

    /// `consumer` still reads record `lsn` and later ones (its stored
    /// position's lsn; 0: from the beginning): retention keeps them.
    pub fn hold(&self, consumer: &'static str, lsn: Lsn) {
        self.holds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(consumer, lsn);
    }

    /// The lowest hold (`None`: no consumer registered one yet).
    pub fn held_from(&self) -> Option<Lsn> {
        self.holds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .min()
            .copied()
    }
}

/// A position in the feed: every event of the records before `lsn`, and the
/// first `consumed` events of record `lsn`, were served. Opaque to clients
/// (the HTTP layer writes it as `"<lsn>-<consumed>"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCursor {
    pub lsn: Lsn,
    pub consumed: u32,
}

/// One page of the feed: events in commit order and where the next page starts.
#[derive(Clone, Debug)]
pub struct EventPage {
    pub items: Vec<BookingEvent>,
    pub next: EventCursor,
    /// Where each item is: the cursor just past it (its record's lsn, and
    /// its index there + 1). A consumer that keeps an event to re-read it
    /// later (the webhook dispatcher's retries) keeps this.
    pub positions: Vec<EventCursor>,
}

impl Registry {
    /// Up to `limit` booking events after `after` (from the oldest kept when
    /// `None`), only durable ones, in commit order. When none is newer, waits
    /// up to `wait` for one. A cursor past the durable outbox, or not at an
    /// event boundary, is `Validation`.
    pub async fn booking_events(
        &self,
        after: Option<EventCursor>,
        limit: usize,
        wait: Duration,
    ) -> EngineResult<EventPage> {
        if !(1..=MAX_EVENTS_PER_PAGE).contains(&limit) {
            return Err(EngineError::Validation(format!(
                "limit must be between 1 and {MAX_EVENTS_PER_PAGE}"
            )));
        }
        let cursor = after.unwrap_or_default();
        let outbox = Arc::clone(&self.context().outbox);
        let durable = outbox.durable_lsn();
        if cursor.lsn > durable || (cursor.lsn == 0) != (cursor.consumed == 0) {
            return Err(EngineError::Validation(
                "after is not a cursor this feed gave out".into(),
            ));
        }
        let page = self.read_events(cursor, limit, durable).await?;
        if !page.items.is_empty() || wait.is_zero() {
            return Ok(page);
        }
        let mut watcher = outbox.durable.subscribe();
        let newer = tokio::time::timeout(wait, watcher.wait_for(|&lsn| lsn > durable)).await;
        match newer {
            Ok(Ok(lsn)) => {
                let lsn = *lsn;
                self.read_events(cursor, limit, lsn).await
            }
            // Timed out (or the outbox is gone with the engine): nothing new.
            Ok(Err(_)) | Err(_) => Ok(page),
        }
    }

    /// Reads the page off the store on a blocking thread (sled reads may
    /// touch the disk), never past `durable`.
    async fn read_events(
        &self,
        cursor: EventCursor,
        limit: usize,
        durable: Lsn,
    ) -> EngineResult<EventPage> {
        let store = Arc::clone(self.context().commit.store());
        tokio::task::spawn_blocking(move || read_page(store.as_ref(), cursor, limit, durable))
            .await
            .map_err(|err| EngineError::Internal(format!("reading the outbox failed: {err}")))?
    }
}

/// The page after `cursor` (see [`Registry::booking_events`]).
fn read_page(
    store: &dyn Store,
    cursor: EventCursor,
    limit: usize,
    durable: Lsn,
) -> EngineResult<EventPage> {
    let storage = |err: boxoffice_storage::StoreError| EngineError::Storage(err.to_string());
    let mut items = Vec::new();
    let mut positions = Vec::new();
    let mut next = cursor;
    // Re-read the cursor's own record when it is partly served.
    let mut after = if cursor.consumed > 0 {
        cursor.lsn - 1
    } else {
        cursor.lsn
    };
    'pages: while items.len() < limit && after < durable {
        let records = store
            .read_log_page(OUTBOX_LOG, after, OUTBOX_RECORDS_PER_READ)
            .map_err(storage)?;
        if records.is_empty() {
            break;
        }
        for (lsn, bytes) in records {
            if lsn > durable {
                break 'pages;
            }
            after = lsn;
            let record: OutboxRecord =
                codec::decode_record(OUTBOX_LOG, lsn, &bytes).map_err(storage)?;
            let skip = if lsn == cursor.lsn {
                let consumed = cursor.consumed as usize;
                if consumed > record.events.len() {
                    return Err(EngineError::Validation(
                        "after is not a cursor this feed gave out".into(),
                    ));
                }
                consumed
            } else {
                0
            };
            let available = record.events.len() - skip;
            let take = available.min(limit - items.len());
            items.extend(record.events.into_iter().skip(skip).take(take));
            positions.extend((skip..skip + take).map(|index| EventCursor {
                lsn,
                consumed: index as u32 + 1,
            }));
            next = EventCursor {
                lsn,
                consumed: (skip + take) as u32,
            };
            if items.len() >= limit {
                break 'pages;
            }
        }
    }
    Ok(EventPage {
        items,
        next,
        positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_storage::MemoryStore;

    fn record(source_lsn: Lsn) -> Vec<u8> {
        let record = OutboxRecord {
            source_log: "s/a".to_owned(),
            source_lsn,
            events: Vec::new(),
        };
        codec::encode(&record).unwrap_or_default()
    }

    #[test]
    fn open_removes_the_outbox_record_of_a_batch_a_crash_cut_and_nothing_else() {
        let store = MemoryStore::new();
        store.append("s/a", b"batch 1").unwrap();
        store
            .append_pair(("s/a", b"batch 2"), (OUTBOX_LOG, &record(2)))
            .unwrap();
        // The next pair torn after its first write: the outbox half alone.
        store.append(OUTBOX_LOG, &record(3)).unwrap();
        let outbox = Outbox::open(&store).unwrap();
        assert_eq!(outbox.durable_lsn(), 1);
        assert_eq!(store.last_lsn(OUTBOX_LOG).unwrap(), 1);
        assert_eq!(
            store.last_lsn("s/a").unwrap(),
            2,
            "the source log is untouched"
        );
        // An intact outbox is left as it is.
        let again = Outbox::open(&store).unwrap();
        assert_eq!(again.durable_lsn(), 1);
        assert_eq!(store.last_lsn(OUTBOX_LOG).unwrap(), 1);
    }
}
