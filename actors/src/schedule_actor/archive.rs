//! The archive of ended reservations: where a schedule's history goes once it
//! can no longer change, so that the live state (and every snapshot of it)
//! stays bounded by the seats instead of growing with every hold ever made.
//!
//! Choice: a durable archive, not an in-memory summary. A summary would still
//! grow with history and, to survive a restart after the log is trimmed, would
//! have to be in the snapshot, which is what must stop growing.
//!
//! When: at snapshot time, on the actor's thread, and only once at least
//! [`MIN_ENDED_BEFORE_ARCHIVING`] ended reservations have piled up (recent
//! ones stay in memory, where the cancel receipt and most reads find them).
//! Order of writes, all before the snapshot that forgets the reservations:
//! 1. one metadata entry per ended reservation, `archive/r/<id>`: its rendered
//!    view and its (void) tickets; plus `archive/t/<ticket>` and
//!    `archive/p/<payment>` pointing back at it, for ticket and payment reads;
//! 2. one record appended to the schedule's archive index log
//!    `archive/s/<schedule>`: the (reservation, user) pairs of the batch, read
//!    at start-up to route ids and list a user's reservations;
//! 3. the snapshot without them, then the trim of the log behind it.
//!
//! Crash safety: nothing here is durable before the next flush, and a flush
//! (sled's, or the memory store's) makes a prefix of the writes durable in
//! the order they were made. So a snapshot that forgot a reservation is never
//! durable without its archive entry. A crash before the snapshot is durable
//! recovers the older snapshot and the log, in which the reservation is still
//! live state; it is archived again (the same entry, and a repeated index
//! pair the directory ignores). If any archive write fails, the reservations
//! stay in memory and the snapshot is skipped: the next one retries.
//!
//! Not bounded yet: the directory's routing entries (reservation → schedule,
//! user → reservations; tens of bytes per reservation ever made) stay in
//! memory, and the index log is read whole at start-up.

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::Schedule;
use boxoffice_storage::{codec, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::views::{reservation_view, ticket_view, ReservationView, TicketView};
use crate::directory::Directory;

/// Ended reservations a schedule keeps in memory before it archives them.
/// Bounds the live state at seats + this + the ended reservations of one
/// snapshot interval.
pub const MIN_ENDED_BEFORE_ARCHIVING: usize = 4_096;

/// Every archive name starts with this (never with a schedule's `schedule/`).
pub const ARCHIVE_PREFIX: &str = "archive/";

/// One ended reservation as its owner reads it, with its tickets (all void).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedReservation {
    pub view: ReservationView,
    pub tickets: Vec<TicketView>,
}

/// One record of a schedule's archive index log: a batch archived together.
#[derive(Debug, Serialize, Deserialize)]
struct IndexRecord {
    entries: Vec<(ReservationId, UserId)>,
}

fn reservation_key(id: ReservationId) -> String {
    format!("{ARCHIVE_PREFIX}r/{id}")
}

fn ticket_key(id: TicketId) -> String {
    format!("{ARCHIVE_PREFIX}t/{id}")
}

fn payment_key(id: PaymentId) -> String {
    format!("{ARCHIVE_PREFIX}p/{id}")
}

/// Name of the index log of `schedule`'s archive.
pub fn index_log(schedule: ScheduleId) -> String {
    format!("{ARCHIVE_PREFIX}s/{schedule}")
}

/// Writes every ended reservation of `schedule` to the archive (steps 1 and 2
/// of the module doc) and returns how many. The schedule is not changed: the
/// caller forgets them only if this succeeded.
pub fn archive_ended(store: &dyn Store, schedule: &Schedule) -> Result<usize, StoreError> {
    let mut entries = Vec::new();
    for reservation in schedule.ended_reservations() {
        let archived = ArchivedReservation {
            view: reservation_view(schedule, reservation),
            tickets: reservation
                .tickets
                .iter()
                .filter_map(|&ticket| ticket_view(schedule, ticket))
                .collect(),
        };
        debug_assert_eq!(archived.tickets.len(), reservation.tickets.len());
        store.put_meta(&reservation_key(reservation.id), &codec::encode(&archived)?)?;
        let pointer = codec::encode(&reservation.id)?;
        for &ticket in &reservation.tickets {
            store.put_meta(&ticket_key(ticket), &pointer)?;
        }
        if let Some(refund) = &reservation.refund {
            store.put_meta(&payment_key(refund.payment_id), &pointer)?;
        }
        entries.push((reservation.id, reservation.user));
    }
    if entries.is_empty() {
        return Ok(0);
    }
    let count = entries.len();
    store.append(
        &index_log(schedule.id()),
        &codec::encode(&IndexRecord { entries })?,
    )?;
    Ok(count)
}

/// The archived reservation `id`, if it was archived.
pub fn read(
    store: &dyn Store,
    id: ReservationId,
) -> Result<Option<ArchivedReservation>, StoreError> {
    store
        .get_meta(&reservation_key(id))?
        .map(|bytes| {
            codec::decode(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("archive entry of {id}: {e}")))
        })
        .transpose()
}

/// The archived reservation a ticket belongs to.
pub fn reservation_of_ticket(
    store: &dyn Store,
    ticket: TicketId,
) -> Result<Option<ReservationId>, StoreError> {
    pointer(store, &ticket_key(ticket))
}

/// The archived reservation a (refunded) payment paid for.
pub fn reservation_of_payment(
    store: &dyn Store,
    payment: PaymentId,
) -> Result<Option<ReservationId>, StoreError> {
    pointer(store, &payment_key(payment))
}

fn pointer(store: &dyn Store, key: &str) -> Result<Option<ReservationId>, StoreError> {
    store
        .get_meta(key)?
        .map(|bytes| {
            codec::decode(&bytes).map_err(|e| StoreError::Corrupt(format!("archive {key}: {e}")))
        })
        .transpose()
}

/// Tells the directory about every archived reservation of `schedule`
/// (start-up: the directory is in memory only). Returns how many pairs were read.
pub fn publish(
    store: &dyn Store,
    schedule: ScheduleId,
    directory: &Directory,
) -> Result<usize, StoreError> {
    let log = index_log(schedule);
    let mut pairs = 0;
    for (lsn, bytes) in store.read_log(&log, 0)? {
        let record = codec::decode_record::<IndexRecord>(&log, lsn, &bytes)?;
        for (reservation, user) in record.entries {
            directory.record_reservation(schedule, reservation, user);
            pairs += 1;
        }
    }
    Ok(pairs)
}
