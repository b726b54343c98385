//! The archive of ended reservations: where a schedule's history goes once it
//! can no longer change, so that the live state (and every snapshot of it)
//! and the routing directory stay bounded by the seats instead of growing
//! with every hold ever made.
//!
//! Choice: a durable archive, not an in-memory summary. A summary would still
//! grow with history and, to survive a restart after the log is trimmed, would
//! have to be in the snapshot, which is what must stop growing.
//!
//! When: once at least `EngineConfig::archive_after_ended` (default
//! [`MIN_ENDED_BEFORE_ARCHIVING`]) ended reservations have piled up (recent
//! ones stay in memory, where the cancel receipt and most reads find them):
//! checked at each snapshot and, with a writer, also after commits between
//! snapshots (`ARCHIVE_OFFER_EVERY_MS`), so that a snapshot does not carry
//! a whole interval of them. The actor renders them into an
//! [`ArchiveBatch`] on its thread; the [`crate::archive_writer`] thread
//! writes it and then tells the actor, which forgets exactly those
//! reservations (a later snapshot records that). Without a writer
//! (deterministic test runs) the actor writes the batch itself and forgets at once.
//!
//! Layout, in the store's metadata, keyed by owner so that an expired or
//! released hold (most of what is archived) costs one write:
//! - `archive/u/<user>/<id>`: the reservation's rendered view, its (void)
//!   tickets and its creation ordinal in the schedule. Reads come with the
//!   owner (every API read is owner-only); a user's list is a prefix scan.
//! - `archive/t/<ticket>` and `archive/p/<payment>` (only for a reservation
//!   that was paid and refunded): `(user, id)`, for ticket and payment reads.
//! - the per-user index (`archive_index.rs`): keys in list order and tallies,
//!   so that a page of a user's list does not read their whole history.
//!
//! All written before the snapshot that forgets the reservations (then the
//! trim of the log behind it); then the actor drops them from the directory
//! too, and lookups that miss it come here (`Registry::locate`), so neither
//! the directory nor start-up grows with history.
//!
//! Crash safety: nothing here is durable before the next flush, and a flush
//! (sled's, or the memory store's) makes a prefix of the writes durable in
//! the order they were made. A batch is written as a run of `put_meta_batch`
//! calls of at most [`RESERVATIONS_PER_WRITE`] reservations each: their
//! entries, pointers and index keys, and the owners' and schedule's tallies
//! as they stand after them (all or none per call). Each call's tallies
//! count exactly the entries written up to it, so any prefix of the calls is
//! a consistent archive. So a snapshot that forgot a reservation is never
//! durable without its archive entry. A crash before the snapshot is durable
//! recovers the older snapshot and the log, in which the reservation is still
//! live state; it is archived again (the same entries). If any archive write
//! fails, the reservations stay in memory and the snapshot is skipped: the
//! next one retries.
//!
//! Cost: rendering on the actor's thread; on the writer's, one key read per
//! ended reservation (was it archived before?) and three inserts per ended
//! reservation (its entry and its two index keys; five until session 17:
//! see `archive_index.rs`), one per ticket and per refunded payment, and the
//! owners' and schedule's tallies once per store write. Why the calls
//! are small: sled applies a batch under its global write lock, which every
//! other write of the process (the actors' log appends) waits for. One batch
//! per snapshot, tens of thousands of ended reservations after a storm of
//! expiring holds, held that lock for up to 10 s and stopped every schedule
//! (BENCHMARKS.md, issue 21).

use crate::store_writer;
use crate::work_times::Timings;
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::Schedule;
use boxoffice_storage::{codec, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

use super::views::{reservation_view, ticket_view, ReservationView, TicketView};
use super::{archive_by_schedule, archive_index};

/// Ended reservations a schedule keeps in memory before it archives them.
/// Bounds the live state at seats + this + the ended reservations of one
/// snapshot interval (with an archive writer: of one batch in flight and
/// one offer interval).
pub const MIN_ENDED_BEFORE_ARCHIVING: usize = 4_096;

/// Most reservations whose entries one store write carries: bounds how long
/// an archive write holds the store's write lock (sled's is global), so the
/// actors' appends wait at most one small write behind it. 16: ~1.3 ms a
/// write on the 2-core test machine; 64 took ~4.5 ms, 82 times a second in
/// an on-sale, and the hold p99 was 23.5 ms (one run) against 15.0 and
/// 15.1 ms in the next two runs with 16 (issue 21; raw
/// `2026-12-07/keys21-session14.txt`, section session 15).
pub const RESERVATIONS_PER_WRITE: usize = 16;

/// Every archive name starts with this (never with a schedule's `schedule/`).
pub const ARCHIVE_PREFIX: &str = "archive/";

/// One ended reservation as its owner reads it, with its tickets (all void).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedReservation {
    pub view: ReservationView,
    pub tickets: Vec<TicketView>,
    /// Reservations made on the schedule before this one
    /// (`Reservation::ordinal`): orders holds made in the same millisecond
    /// when a user's list is sorted.
    pub ordinal: u64,
}

/// What the directory knew of an archived reservation, so it can forget it.
#[derive(Debug)]
pub struct Archived {
    pub id: ReservationId,
    pub user: UserId,
    pub tickets: Vec<TicketId>,
}

/// Most archived reservations one listing of a user returns.
pub const MAX_LISTED_PER_USER: usize = 100_000;

/// Every user's entries start with this.
pub(super) const USER_ENTRIES_PREFIX: &str = "archive/u/";

pub(super) fn user_prefix(user: UserId) -> String {
    format!("{USER_ENTRIES_PREFIX}{user}/")
}

fn reservation_key(user: UserId, id: ReservationId) -> String {
    format!("{}{id}", user_prefix(user))
}

fn ticket_key(id: TicketId) -> String {
    format!("{ARCHIVE_PREFIX}t/{id}")
}

fn payment_key(id: PaymentId) -> String {
    format!("{ARCHIVE_PREFIX}p/{id}")
}

/// The archive entries of a schedule's ended reservations, rendered and
/// encoded, ready to write (on the actor's thread, or by the
/// [`crate::archive_writer`]).
#[derive(Debug)]
pub struct ArchiveBatch {
    /// (meta key, encoded value), written in this order.
    entries: Vec<(String, Vec<u8>)>,
    /// Per reservation (parallel to `tallied`), the end of its entries in
    /// `entries`: a write never splits one reservation's entries.
    entry_ends: Vec<usize>,
    /// Reservations per store write (at most [`RESERVATIONS_PER_WRITE`]).
    per_write: usize,
    /// The reservations the batch archives, for forgetting them once written.
    pub archived: Vec<Archived>,
    /// Per reservation, what its owner's tally gains if it is new to the archive.
    tallied: Vec<Tallied>,
}

/// An archived reservation as its owner's tally counts it.
#[derive(Debug)]
struct Tallied {
    user: UserId,
    schedule: ScheduleId,
    entry_key: String,
    status: archive_index::EndedStatus,
    tickets: usize,
}

/// One archive batch at a time updates tallies (read-modify-write; see
/// `archive_index.rs`), whichever thread writes it.
static TALLY_TURN: Mutex<()> = Mutex::new(());

impl ArchiveBatch {
    /// Renders every ended reservation of `schedule`. The schedule is not
    /// changed: its owner forgets them only once the batch is written.
    /// `per_write`: reservations per store write (clamped to 1 to
    /// [`RESERVATIONS_PER_WRITE`]).
    pub fn prepare(schedule: &Schedule, per_write: usize) -> Result<ArchiveBatch, StoreError> {
        let mut entries = Vec::new();
        let mut entry_ends = Vec::new();
        let mut archived = Vec::new();
        let mut tallied = Vec::new();
        for reservation in schedule.reservations() {
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
                ordinal: reservation.ordinal,
            };
            debug_assert_eq!(entry.tickets.len(), reservation.tickets.len());
            let (user, id) = (reservation.user, reservation.id);
            let (index_keys, status) = archive_index::index_entries(&entry)?;
            let schedule_keys = archive_by_schedule::index_entries(&entry, status)?;
            tallied.push(Tallied {
                user,
                schedule: entry.view.schedule_id,
                entry_key: reservation_key(user, id),
                status,
                tickets: entry.tickets.len(),
            });
            entries.push((reservation_key(user, id), codec::encode(&entry)?));
            entries.extend(index_keys);
            entries.extend(schedule_keys);
            let pointer = codec::encode(&(user, id))?;
            for &ticket in &reservation.tickets {
                entries.push((ticket_key(ticket), pointer.clone()));
            }
            if let Some(refund) = &reservation.refund {
                entries.push((payment_key(refund.payment_id), pointer));
            }
            entry_ends.push(entries.len());
            archived.push(Archived {
                id,
                user,
                tickets: reservation.tickets.clone(),
            });
        }
        Ok(ArchiveBatch {
            entries,
            entry_ends,
            per_write: per_write.clamp(1, RESERVATIONS_PER_WRITE),
            archived,
            tallied,
        })
    }

    /// The ids of the reservations it archives.
    pub fn ids(&self) -> BTreeSet<ReservationId> {
        self.archived.iter().map(|a| a.id).collect()
    }

    /// Writes every entry and the owners' and schedules' updated tallies,
    /// `per_write` reservations per store write (each durable
    /// with the next flush, in order). A reservation whose entry is already
    /// there (archived before a crash undid its forgetting) is written again
    /// but not counted again.
    pub fn write(&self, store: &dyn Store, timings: &Timings) -> Result<(), StoreError> {
        self.write_paced(store, std::time::Duration::ZERO, timings)
    }

    /// [`ArchiveBatch::write`], pausing after each store write but the last
    /// for as long as that write took, up to `longest_pause` (see
    /// [`crate::store_writer::write_paced`]).
    pub fn write_paced(
        &self,
        store: &dyn Store,
        longest_pause: std::time::Duration,
        timings: &Timings,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(self.entry_ends.len(), self.tallied.len());
        let _turn = TALLY_TURN.lock().unwrap_or_else(PoisonError::into_inner);
        // The tallies as they stand after the writes so far: read from the
        // store once, then carried from one write to the next.
        let mut users: BTreeMap<UserId, archive_index::ArchiveTally> = BTreeMap::new();
        let mut schedules: BTreeMap<ScheduleId, archive_index::ArchiveTally> = BTreeMap::new();
        let mut first_entry = 0;
        let chunks: Vec<(&[Tallied], &[usize])> = self
            .tallied
            .chunks(self.per_write)
            .zip(self.entry_ends.chunks(self.per_write))
            .collect();
        store_writer::write_paced(chunks.len(), longest_pause, timings, |n| {
            let (chunk, ends) = chunks[n];
            let mut touched_users = BTreeSet::new();
            let mut touched_schedules = BTreeSet::new();
            for reservation in chunk {
                if store.get_meta(&reservation.entry_key)?.is_some() {
                    continue;
                }
                let by_schedule = match schedules.entry(reservation.schedule) {
                    Entry::Occupied(tally) => tally.into_mut(),
                    Entry::Vacant(slot) => {
                        slot.insert(archive_by_schedule::tally(store, reservation.schedule)?)
                    }
                };
                by_schedule.add(reservation.status, reservation.tickets);
                touched_schedules.insert(reservation.schedule);
                let tally = match users.entry(reservation.user) {
                    Entry::Occupied(tally) => tally.into_mut(),
                    Entry::Vacant(slot) => {
                        slot.insert(archive_index::tally(store, reservation.user)?)
                    }
                };
                tally.add(reservation.status, reservation.tickets);
                touched_users.insert(reservation.user);
            }
            let end_entry = ends.last().copied().unwrap_or(first_entry);
            let entries = &self.entries[first_entry..end_entry];
            let mut write =
                Vec::with_capacity(entries.len() + touched_users.len() + touched_schedules.len());
            write.extend(entries.iter().cloned());
            for user in touched_users {
                if let Some(tally) = users.get(&user) {
                    write.push((archive_index::tally_key(user), codec::encode(tally)?));
                }
            }
            for schedule in touched_schedules {
                if let Some(tally) = schedules.get(&schedule) {
                    write.push((
                        archive_by_schedule::tally_key(schedule),
                        codec::encode(tally)?,
                    ));
                }
            }
            let took = store_writer::timed(|| store.put_meta_batch(&write))?;
            first_entry = end_entry;
            Ok(took)
        })?;
        debug_assert_eq!(first_entry, self.entries.len());
        Ok(())
    }
}

/// The user's archived reservations, oldest first (at most [`MAX_LISTED_PER_USER`]).
pub fn reservations_of_user(
    store: &dyn Store,
    user: UserId,
) -> Result<Vec<ArchivedReservation>, StoreError> {
    let mut entries = Vec::new();
    for key in store.list_meta(&user_prefix(user), MAX_LISTED_PER_USER)? {
        // Present: archive entries are never deleted.
        let bytes = store
            .get_meta(&key)?
            .ok_or_else(|| StoreError::Corrupt(format!("archive entry {key} vanished")))?;
        entries.push(decode_entry(&key, &bytes)?);
    }
    entries.sort_by_key(|entry| (entry.view.held_at, entry.ordinal));
    Ok(entries)
}

pub(super) fn decode_entry(key: &str, bytes: &[u8]) -> Result<ArchivedReservation, StoreError> {
    codec::decode(bytes).map_err(|e| StoreError::Corrupt(format!("archive entry {key}: {e}")))
}

/// The user's archived reservation `id`, if it was archived.
pub fn read(
    store: &dyn Store,
    user: UserId,
    id: ReservationId,
) -> Result<Option<ArchivedReservation>, StoreError> {
    let key = reservation_key(user, id);
    store
        .get_meta(&key)?
        .map(|bytes| decode_entry(&key, &bytes))
        .transpose()
}

/// True if the user's reservation `id` is archived (one key read, nothing decoded).
pub fn is_archived(store: &dyn Store, user: UserId, id: ReservationId) -> Result<bool, StoreError> {
    Ok(store.get_meta(&reservation_key(user, id))?.is_some())
}

/// The archived reservation a ticket belongs to, and its owner.
pub fn reservation_of_ticket(
    store: &dyn Store,
    ticket: TicketId,
) -> Result<Option<(UserId, ReservationId)>, StoreError> {
    pointer(store, &ticket_key(ticket))
}

/// The archived reservation a (refunded) payment paid for, and its owner.
pub fn reservation_of_payment(
    store: &dyn Store,
    payment: PaymentId,
) -> Result<Option<(UserId, ReservationId)>, StoreError> {
    pointer(store, &payment_key(payment))
}

fn pointer(store: &dyn Store, key: &str) -> Result<Option<(UserId, ReservationId)>, StoreError> {
    store
        .get_meta(key)?
        .map(|bytes| {
            codec::decode(&bytes).map_err(|e| StoreError::Corrupt(format!("archive {key}: {e}")))
        })
        .transpose()
}
