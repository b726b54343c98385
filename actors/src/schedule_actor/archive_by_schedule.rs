//! The archive's per-schedule index: what lets an admin page through every
//! reservation of one schedule (GET /admin/schedules/{id}/reservations),
//! archived ones included, at a cost that does not grow with its history.
//! It mirrors the per-user index of `archive_index.rs`, keyed by schedule:
//! - `archive/s/<schedule>/<e|c>/<order>` for every archived reservation,
//!   under its status; each value is the (owner, reservation id) the entry is
//!   stored under, so a page is a forward scan of `offset + pageSize` keys
//!   (of each status, merged, for the whole list) plus one entry read per
//!   archived item shown. (As in `archive_index.rs`, older data dirs also
//!   have `archive/s/<schedule>/a/<order>` keys, no longer written or read.)
//! - `archive/m/<schedule>`: the schedule's `ArchiveTally` (the totals).
//!
//! The keys and the tally are written in the archive batch that archives the
//! reservation (`ArchiveBatch::write`, one atomic `put_meta_batch`), under
//! the same rule as the user's tally: a reservation already archived is not
//! counted again.
//!
//! Migration: a data dir archived before this index has entries and no keys
//! here. [`migrate`], at start-up before any schedule actor runs (after the
//! per-user migration), writes every entry's keys a scan page at a time,
//! recounts every schedule's tally from the entries, and writes the tallies
//! with `archive/sv` last; a migration a crash cut short is redone from the
//! start (the keys are the same, the tallies recounted whole).

use boxoffice_engine::ids::*;
use boxoffice_storage::{codec, Store, StoreError};
use std::collections::BTreeMap;

use super::archive::{self, ArchivedReservation};
use super::archive_index::{
    merge_newest, ArchiveTally, EndedStatus, ListOrder, MetaEntry, SCAN_PAGE,
};

const INDEX_PREFIX: &str = "archive/s/";
const TALLY_PREFIX: &str = "archive/m/";
/// Present once every archive entry has its per-schedule keys and tallies.
pub const INDEX_VERSION_KEY: &str = "archive/sv";

fn index_prefix(schedule: ScheduleId, status: EndedStatus) -> String {
    format!("{INDEX_PREFIX}{schedule}/{}/", status.letter())
}

pub(super) fn tally_key(schedule: ScheduleId) -> String {
    format!("{TALLY_PREFIX}{schedule}")
}

/// The per-schedule keys of one archived reservation of `status`.
pub(super) fn index_entries(
    entry: &ArchivedReservation,
    status: EndedStatus,
) -> Result<Vec<MetaEntry>, StoreError> {
    let view = &entry.view;
    let order = ListOrder {
        held_at: view.held_at,
        ordinal: entry.ordinal,
        id: view.reservation_id,
    }
    .key();
    let pointer = codec::encode(&(view.user, view.reservation_id))?;
    Ok(vec![(
        format!("{}{order}", index_prefix(view.schedule_id, status)),
        pointer,
    )])
}

/// The schedule's tally (all zeros before anything of it is archived).
pub fn tally(store: &dyn Store, schedule: ScheduleId) -> Result<ArchiveTally, StoreError> {
    let key = tally_key(schedule);
    store
        .get_meta(&key)?
        .map(|bytes| {
            codec::decode(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("archive index {key}: {e}")))
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The `count` newest of the schedule's archived reservations in `status`
/// (all when `None`), newest first, each with its owner: a scan of `count`
/// keys per status.
pub fn newest(
    store: &dyn Store,
    schedule: ScheduleId,
    status: Option<EndedStatus>,
    count: usize,
) -> Result<Vec<(ListOrder, UserId)>, StoreError> {
    let scan = |status: EndedStatus| -> Result<Vec<(ListOrder, UserId)>, StoreError> {
        let prefix = index_prefix(schedule, status);
        store
            .scan_meta(&prefix, None, count)?
            .into_iter()
            .map(|(key, value)| {
                let order = key.strip_prefix(&prefix).and_then(ListOrder::parse);
                let pointer = codec::decode::<(UserId, ReservationId)>(&value).ok();
                match (order, pointer) {
                    (Some(order), Some((user, id))) if id == order.id => Ok((order, user)),
                    _ => Err(StoreError::Corrupt(format!(
                        "schedule archive index key {key}"
                    ))),
                }
            })
            .collect()
    };
    match status {
        Some(status) => scan(status),
        None => Ok(merge_newest(
            scan(EndedStatus::Expired)?,
            scan(EndedStatus::Cancelled)?,
            |(order, _)| *order,
            count,
        )),
    }
}

/// Indexes every archive entry by schedule (see the module doc); returns
/// how many entries it indexed (0 once done before).
pub fn migrate(store: &dyn Store) -> Result<u64, StoreError> {
    if store.get_meta(INDEX_VERSION_KEY)?.is_some() {
        return Ok(0);
    }
    let mut tallies: BTreeMap<ScheduleId, ArchiveTally> = BTreeMap::new();
    let mut indexed = 0u64;
    let mut after: Option<String> = None;
    loop {
        let page = store.scan_meta(archive::USER_ENTRIES_PREFIX, after.as_deref(), SCAN_PAGE)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        let mut batch = Vec::new();
        for (key, bytes) in page {
            let entry = archive::decode_entry(&key, &bytes)?;
            let status = EndedStatus::of(entry.view.status)
                .ok_or_else(|| StoreError::Corrupt(format!("archive entry {key} has not ended")))?;
            batch.extend(index_entries(&entry, status)?);
            (tallies.entry(entry.view.schedule_id).or_default())
                .add(status, entry.view.tickets.len());
            indexed += 1;
        }
        store.put_meta_batch(&batch)?;
    }
    let mut batch = Vec::with_capacity(tallies.len() + 1);
    for (schedule, tally) in tallies {
        batch.push((tally_key(schedule), codec::encode(&tally)?));
    }
    batch.push((INDEX_VERSION_KEY.to_string(), b"1".to_vec()));
    store.put_meta_batch(&batch)?;
    store.flush()?;
    Ok(indexed)
}
