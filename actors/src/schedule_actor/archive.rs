//! The archive of ended reservations: where a schedule's history goes once it
//! can no longer change, so that the live state (and every snapshot of it)
//! and the routing directory stay bounded by the seats instead of growing
//! with every hold ever made.
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
//! 2. `archive/u/<user>/<held at>/<id>` (empty), so a user's archived
//!    reservations are listed, oldest first, by a prefix scan;
//! 3. the snapshot without them, then the trim of the log behind it.
//!
//! Then the actor drops them from the directory too: a lookup that misses
//! the directory finds them here (see `Registry::locate`), so neither the
//! directory nor start-up grows with history.
//!
//! Crash safety: nothing here is durable before the next flush, and a flush
//! (sled's, or the memory store's) makes a prefix of the writes durable in
//! the order they were made. So a snapshot that forgot a reservation is never
//! durable without its archive entry. A crash before the snapshot is durable
//! recovers the older snapshot and the log, in which the reservation is still
//! live state; it is archived again (the same entries). If any archive write
//! fails, the reservations stay in memory and the snapshot is skipped: the
//! next one retries.

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::Schedule;
use boxoffice_storage::{codec, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::views::{reservation_view, ticket_view, ReservationView, TicketView};

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

/// What the directory knew of an archived reservation, so it can forget it.
#[derive(Debug)]
pub struct Archived {
    pub id: ReservationId,
    pub user: UserId,
    pub tickets: Vec<TicketId>,
}

/// Most archived reservations one listing of a user returns (oldest first).
pub const MAX_LISTED_PER_USER: usize = 100_000;

fn reservation_key(id: ReservationId) -> String {
    format!("{ARCHIVE_PREFIX}r/{id}")
}

fn ticket_key(id: TicketId) -> String {
    format!("{ARCHIVE_PREFIX}t/{id}")
}

fn payment_key(id: PaymentId) -> String {
    format!("{ARCHIVE_PREFIX}p/{id}")
}

fn user_prefix(user: UserId) -> String {
    format!("{ARCHIVE_PREFIX}u/{user}/")
}

/// Fixed-width hex keeps a prefix scan in hold order; the schedule's
/// creation ordinal orders holds made in the same millisecond.
fn user_key(
    user: UserId,
    held_at: boxoffice_engine::Timestamp,
    ordinal: u64,
    id: ReservationId,
) -> String {
    format!(
        "{}{:016x}/{ordinal:016x}/{id}",
        user_prefix(user),
        held_at.0.max(0)
    )
}

/// Writes every ended reservation of `schedule` to the archive (steps 1 and 2
/// of the module doc) and returns them. The schedule is not changed: the
/// caller forgets them only if this succeeded. `archived_before`: how many
/// reservations of the schedule were archived earlier (so a reservation's
/// creation ordinal is that plus its position in memory).
pub fn archive_ended(
    store: &dyn Store,
    schedule: &Schedule,
    archived_before: u64,
) -> Result<Vec<Archived>, StoreError> {
    let mut archived = Vec::new();
    for (position, reservation) in schedule.reservations().enumerate() {
        if !reservation.has_ended() {
            continue;
        }
        let entry = ArchivedReservation {
            view: reservation_view(schedule, reservation),
            tickets: reservation
                .tickets
                .iter()
                .filter_map(|&ticket| ticket_view(schedule, ticket))
                .collect(),
        };
        debug_assert_eq!(entry.tickets.len(), reservation.tickets.len());
        store.put_meta(&reservation_key(reservation.id), &codec::encode(&entry)?)?;
        let pointer = codec::encode(&reservation.id)?;
        for &ticket in &reservation.tickets {
            store.put_meta(&ticket_key(ticket), &pointer)?;
        }
        if let Some(refund) = &reservation.refund {
            store.put_meta(&payment_key(refund.payment_id), &pointer)?;
        }
        store.put_meta(
            &user_key(
                reservation.user,
                entry.view.held_at,
                archived_before + position as u64,
                reservation.id,
            ),
            &[],
        )?;
        archived.push(Archived {
            id: reservation.id,
            user: reservation.user,
            tickets: reservation.tickets.clone(),
        });
    }
    Ok(archived)
}

/// The user's archived reservations, oldest first (at most [`MAX_LISTED_PER_USER`]).
pub fn reservations_of_user(
    store: &dyn Store,
    user: UserId,
) -> Result<Vec<ReservationId>, StoreError> {
    let prefix = user_prefix(user);
    store
        .list_meta(&prefix, MAX_LISTED_PER_USER)?
        .into_iter()
        .map(|key| {
            key.rsplit('/')
                .next()
                .and_then(ReservationId::parse)
                .ok_or_else(|| StoreError::Corrupt(format!("archive key {key}")))
        })
        .collect()
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
