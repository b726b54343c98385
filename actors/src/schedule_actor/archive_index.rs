//! The archive's per-user index: what lets one page of a user's reservations
//! or tickets cost the same whatever their history (issue 20, item 7).
//!
//! The archive (`archive.rs`) keys an ended reservation by owner and random
//! id, so a user's list was a decode of every entry, then a sort. This index
//! adds, per archived reservation, keys whose byte order is the list's order,
//! newest first, so a page is a forward prefix scan of keys (no decoding) that
//! stops at `offset + pageSize`, plus one entry read per item shown:
//! - `archive/i/<user>/<e|c>/<order>` for every archived reservation, under
//!   its status (EXPIRED or CANCELLED: the only statuses an archived
//!   reservation can have). Values are empty. The whole list is the two
//!   merged: a page reads `offset + pageSize` keys of each.
//!   (Data dirs archived before session 17 also have
//!   `archive/i/<user>/a/<order>` keys, the whole list in one: no longer
//!   written or read. Not writing them took one of the five inserts that
//!   archiving an expired hold cost; archiving was the largest share of the
//!   CPU in the hold storm of issue 21.)
//! - `archive/k/<user>/<order>` for an archived reservation that had
//!   tickets (a paid one, cancelled): its ticket ids, in the reservation's
//!   order, for the ticket list.
//! - `archive/n/<user>`: the [`ArchiveTally`], how many of the user's
//!   reservations are archived per status and how many tickets they hold: the
//!   totals, without counting anything.
//! - `archive/v`: present once every archive entry is indexed (see [`migrate`]).
//!
//! `<order>` is `[!held_at][!ordinal][reservation id]`, the first two as 16
//! hex digits each, inverted so that ascending keys are newest first: a
//! user's list sorts by hold time, then by the schedule's creation ordinal
//! (holds in one millisecond), then by id ([`ListOrder`]).
//!
//! Consistency across crashes: the entries, their index keys and the updated
//! tallies of one archive batch are one `put_meta_batch`, which a crash keeps
//! whole or loses whole. A tally counts a reservation only when its entry was
//! not there before the batch, so a reservation archived again (a crash undid
//! the snapshot that forgot it) is not counted twice. Batches of different
//! schedules update tallies one at a time ([`ArchiveBatch::write`] holds a
//! process-wide turn around its read-modify-write).
//!
//! Migration: a data dir written before this index has archive entries and
//! no index. [`migrate`], at start-up before any schedule actor runs, indexes
//! every entry, one atomic batch per user with the user's tallies recounted
//! from the entries (so a migration a crash cut short is simply redone), and
//! then writes `archive/v`. With `archive/v` present it is one key read.
//!
//! [`ArchiveBatch::write`]: super::archive::ArchiveBatch::write

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::ReservationStatus;
use boxoffice_engine::Timestamp;
use boxoffice_storage::{codec, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

use super::archive::{self, ArchivedReservation};

const INDEX_PREFIX: &str = "archive/i/";
const TICKET_INDEX_PREFIX: &str = "archive/k/";
const TALLY_PREFIX: &str = "archive/n/";
/// Present once every archive entry has its index keys and tallies.
pub const INDEX_VERSION_KEY: &str = "archive/v";
/// Archive entries (or ticket index keys) one scan reads at a time.
pub const SCAN_PAGE: usize = 512;
/// Hex digits of each inverted number in an `<order>`.
const ORDER_NUMBER_DIGITS: usize = 16;
/// Characters of a hyphenated id.
const ID_CHARS: usize = 36;
const ORDER_CHARS: usize = 2 * ORDER_NUMBER_DIGITS + ID_CHARS;

/// The statuses an archived reservation can have (it has ended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedStatus {
    Expired,
    Cancelled,
}

impl EndedStatus {
    pub fn of(status: ReservationStatus) -> Option<Self> {
        match status {
            ReservationStatus::Expired => Some(Self::Expired),
            ReservationStatus::Cancelled => Some(Self::Cancelled),
            _ => None,
        }
    }

    pub(super) fn letter(self) -> char {
        match self {
            Self::Expired => 'e',
            Self::Cancelled => 'c',
        }
    }
}

/// Where a reservation sorts in its owner's list: `Less` is newer (shown
/// first): later hold time, then later creation ordinal, then smaller id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListOrder {
    pub held_at: Timestamp,
    /// Reservations made on its schedule before it (see `ArchivedReservation::ordinal`).
    pub ordinal: u64,
    pub id: ReservationId,
}

impl Ord for ListOrder {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .held_at
            .cmp(&self.held_at)
            .then(other.ordinal.cmp(&self.ordinal))
            .then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for ListOrder {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl ListOrder {
    /// The key part whose byte order is this order.
    pub(super) fn key(&self) -> String {
        // Order-preserving i64 -> u64 (flip the sign bit), then inverted.
        let held = !((self.held_at.0 as u64) ^ (1 << 63));
        format!("{held:016x}{:016x}{}", !self.ordinal, self.id)
    }

    pub(super) fn parse(part: &str) -> Option<ListOrder> {
        if part.len() != ORDER_CHARS || !part.is_ascii() {
            return None;
        }
        let (held, rest) = part.split_at(ORDER_NUMBER_DIGITS);
        let (ordinal, id) = rest.split_at(ORDER_NUMBER_DIGITS);
        let held = !u64::from_str_radix(held, 16).ok()?;
        Some(ListOrder {
            held_at: Timestamp((held ^ (1 << 63)) as i64),
            ordinal: !u64::from_str_radix(ordinal, 16).ok()?,
            id: ReservationId::parse(id)?,
        })
    }
}

/// How many of a user's reservations are archived, per status, and the
/// tickets they hold. New fields must default (stored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ArchiveTally {
    pub expired: u64,
    pub cancelled: u64,
    pub tickets: u64,
}

impl ArchiveTally {
    pub fn add(&mut self, status: EndedStatus, tickets: usize) {
        match status {
            EndedStatus::Expired => self.expired += 1,
            EndedStatus::Cancelled => self.cancelled += 1,
        }
        self.tickets += tickets as u64;
    }

    /// Archived reservations in `status` (all, when `None`).
    pub fn reservations(&self, status: Option<EndedStatus>) -> u64 {
        match status {
            None => self.expired + self.cancelled,
            Some(EndedStatus::Expired) => self.expired,
            Some(EndedStatus::Cancelled) => self.cancelled,
        }
    }
}

fn index_prefix(user: UserId, status: EndedStatus) -> String {
    format!("{INDEX_PREFIX}{user}/{}/", status.letter())
}

fn ticket_prefix(user: UserId) -> String {
    format!("{TICKET_INDEX_PREFIX}{user}/")
}

pub(super) fn tally_key(user: UserId) -> String {
    format!("{TALLY_PREFIX}{user}")
}

/// One meta key and its value, as `put_meta_batch` takes them.
pub(super) type MetaEntry = (String, Vec<u8>);

/// The index keys of one archived reservation (see the module doc).
pub(super) fn index_entries(
    entry: &ArchivedReservation,
) -> Result<(Vec<MetaEntry>, EndedStatus), StoreError> {
    let view = &entry.view;
    let status = EndedStatus::of(view.status).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "archived reservation {} is {:?}, not ended",
            view.reservation_id, view.status
        ))
    })?;
    let order = ListOrder {
        held_at: view.held_at,
        ordinal: entry.ordinal,
        id: view.reservation_id,
    }
    .key();
    let mut keys = vec![(
        format!("{}{order}", index_prefix(view.user, status)),
        Vec::new(),
    )];
    if !view.tickets.is_empty() {
        let tickets: Vec<TicketId> = view.tickets.iter().map(|t| t.ticket_id).collect();
        keys.push((
            format!("{}{order}", ticket_prefix(view.user)),
            codec::encode(&tickets)?,
        ));
    }
    Ok((keys, status))
}

/// The user's tally (all zeros before anything of theirs is archived).
pub fn tally(store: &dyn Store, user: UserId) -> Result<ArchiveTally, StoreError> {
    let key = tally_key(user);
    store
        .get_meta(&key)?
        .map(|bytes| codec::decode(&bytes).map_err(|e| corrupt(&key, e)))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn corrupt(key: &str, err: StoreError) -> StoreError {
    StoreError::Corrupt(format!("archive index {key}: {err}"))
}

/// The `count` newest of the user's archived reservations in `status` (all
/// when `None`), newest first: a scan of `count` keys per status, nothing
/// decoded.
pub fn newest(
    store: &dyn Store,
    user: UserId,
    status: Option<EndedStatus>,
    count: usize,
) -> Result<Vec<ListOrder>, StoreError> {
    let scan = |status: EndedStatus| -> Result<Vec<ListOrder>, StoreError> {
        let prefix = index_prefix(user, status);
        store
            .scan_meta(&prefix, None, count)?
            .into_iter()
            .map(|(key, _)| {
                key.strip_prefix(&prefix)
                    .and_then(ListOrder::parse)
                    .ok_or_else(|| StoreError::Corrupt(format!("archive index key {key}")))
            })
            .collect()
    };
    match status {
        Some(status) => scan(status),
        None => Ok(merge_newest(
            scan(EndedStatus::Expired)?,
            scan(EndedStatus::Cancelled)?,
            |order| *order,
            count,
        )),
    }
}

/// The first `count` of two lists each sorted newest first, merged.
pub(super) fn merge_newest<T>(
    a: Vec<T>,
    b: Vec<T>,
    order: impl Fn(&T) -> ListOrder,
    count: usize,
) -> Vec<T> {
    let mut merged = Vec::with_capacity(count.min(a.len() + b.len()));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while merged.len() < count {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => order(x) <= order(y),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        merged.extend(if take_a { a.next() } else { b.next() });
    }
    merged
}

/// The user's archived reservations with tickets, newest first, until
/// `enough(tickets so far)` or the end: each with its ticket ids.
pub fn newest_with_tickets(
    store: &dyn Store,
    user: UserId,
    mut enough: impl FnMut(&ListOrder, &[TicketId]) -> bool,
) -> Result<Vec<(ListOrder, Vec<TicketId>)>, StoreError> {
    let prefix = ticket_prefix(user);
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_meta(&prefix, after.as_deref(), SCAN_PAGE)?;
        let Some((last, _)) = page.last() else {
            return Ok(found);
        };
        after = Some(last.clone());
        for (key, value) in page {
            let order = key
                .strip_prefix(&prefix)
                .and_then(ListOrder::parse)
                .ok_or_else(|| StoreError::Corrupt(format!("ticket index key {key}")))?;
            let tickets: Vec<TicketId> = codec::decode(&value).map_err(|e| corrupt(&key, e))?;
            let stop = enough(&order, &tickets);
            found.push((order, tickets));
            if stop {
                return Ok(found);
            }
        }
    }
}

/// Indexes every archive entry written without an index (see the module
/// doc); returns how many entries it indexed (0 once done before).
pub fn migrate(store: &dyn Store) -> Result<u64, StoreError> {
    if store.get_meta(INDEX_VERSION_KEY)?.is_some() {
        return Ok(0);
    }
    let mut indexed = 0u64;
    let mut user_entries: Option<(UserId, Vec<ArchivedReservation>)> = None;
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_meta(archive::USER_ENTRIES_PREFIX, after.as_deref(), SCAN_PAGE)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        for (key, bytes) in page {
            let entry = archive::decode_entry(&key, &bytes)?;
            let user = entry.view.user;
            if !key.starts_with(&archive::user_prefix(user)) {
                return Err(StoreError::Corrupt(format!(
                    "archive entry {key} belongs to {user}"
                )));
            }
            match &mut user_entries {
                Some((current, entries)) if *current == user => entries.push(entry),
                _ => {
                    if let Some((done, entries)) = user_entries.take() {
                        indexed += index_user(store, done, &entries)?;
                    }
                    user_entries = Some((user, vec![entry]));
                }
            }
        }
    }
    if let Some((done, entries)) = user_entries.take() {
        indexed += index_user(store, done, &entries)?;
    }
    store.put_meta(INDEX_VERSION_KEY, b"1")?;
    store.flush()?;
    Ok(indexed)
}

/// One user's index keys and tally, recounted from all their entries: one atomic batch.
fn index_user(
    store: &dyn Store,
    user: UserId,
    entries: &[ArchivedReservation],
) -> Result<u64, StoreError> {
    let mut batch = Vec::new();
    let mut tally = ArchiveTally::default();
    for entry in entries {
        let (keys, status) = index_entries(entry)?;
        batch.extend(keys);
        tally.add(status, entry.view.tickets.len());
    }
    batch.push((tally_key(user), codec::encode(&tally)?));
    store.put_meta_batch(&batch)?;
    Ok(entries.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_lists_merge_newest_first_up_to_the_count() {
        let at = |ms: i64, n: u8| ListOrder {
            held_at: Timestamp(ms),
            ordinal: 0,
            id: ReservationId::from_random_bytes([n; 16]),
        };
        let expired = vec![at(9, 1), at(5, 1), at(5, 2), at(1, 1)];
        let cancelled = vec![at(7, 3), at(5, 4), at(2, 5)];
        let merged = merge_newest(expired.clone(), cancelled.clone(), |o| *o, 100);
        let mut sorted = [expired.clone(), cancelled.clone()].concat();
        sorted.sort();
        assert_eq!(merged, sorted);
        assert_eq!(
            merge_newest(expired, cancelled, |o| *o, 3),
            sorted[..3].to_vec()
        );
        assert!(merge_newest(Vec::new(), Vec::new(), |o: &ListOrder| *o, 5).is_empty());
    }

    #[test]
    fn keys_sort_newest_first_and_parse_back() {
        let id = |n: u8| ReservationId::from_random_bytes([n; 16]);
        let orders = [
            ListOrder {
                held_at: Timestamp(-5),
                ordinal: 0,
                id: id(1),
            },
            ListOrder {
                held_at: Timestamp(0),
                ordinal: 7,
                id: id(1),
            },
            ListOrder {
                held_at: Timestamp(1_772_323_200_000),
                ordinal: 3,
                id: id(2),
            },
            ListOrder {
                held_at: Timestamp(1_772_323_200_000),
                ordinal: 3,
                id: id(1),
            },
            ListOrder {
                held_at: Timestamp(1_772_323_200_000),
                ordinal: 4,
                id: id(9),
            },
            ListOrder {
                held_at: Timestamp(i64::MAX),
                ordinal: u64::MAX,
                id: id(3),
            },
        ];
        let mut by_order = orders.to_vec();
        by_order.sort();
        let mut by_key = orders.to_vec();
        by_key.sort_by_key(ListOrder::key);
        assert_eq!(by_order, by_key, "key order is list order");
        assert_eq!(by_order[0].held_at, Timestamp(i64::MAX), "newest first");
        for order in orders {
            assert_eq!(order.key().len(), ORDER_CHARS);
            assert_eq!(ListOrder::parse(&order.key()), Some(order));
        }
        assert_eq!(ListOrder::parse("short"), None);
    }
}
