//! Every user's reservations of one schedule, a page at a time, for admins
//! (GET /admin/schedules/{scheduleId}/reservations), each with its owner's
//! account, newest first, archived (ended) ones included.
//!
//! Like a user's pages (`reservation_pages.rs`), a page merges two sources:
//! - the reservations still in the schedule's memory: one
//!   `ListLiveReservations` answers all of their places in the list (an
//!   order and an owner each, not their views), bounded by the live state
//!   (the seats' reservations plus the ended ones not yet archived, see
//!   `archive::MIN_ENDED_BEFORE_ARCHIVING`), never by history; then one
//!   `GetReservationViews` for the page's live ones;
//! - the archived ones, from the per-schedule index
//!   (`schedule_actor/archive_by_schedule.rs`): the first `offset +
//!   pageSize` keys in list order, then one entry read per archived item on
//!   the page; the total from the schedule's tally.
//!
//! So a page costs the live state plus `offset + pageSize` key reads, however
//! long the schedule's history. A reservation both archived and still in
//! memory (archived, not yet forgotten) is shown once, as live; each ended
//! live one is looked up in the archive (one key read) to find those.
//! The owners' accounts are read once per owner on the page.

use boxoffice_engine::ids::*;
use boxoffice_storage::{Store, StoreError};
use futures_util::future::try_join_all;
use std::collections::{BTreeMap, HashSet};

use crate::accounts::Account;
use crate::booking::CustomerStatus;
use crate::error::{EngineError, EngineResult};
use crate::registry::Registry;
use crate::schedule_actor::archive;
use crate::schedule_actor::archive_by_schedule;
use crate::schedule_actor::archive_index::{EndedStatus, ListOrder};
use crate::schedule_actor::{
    GetReservationViews, ListLiveReservations, LiveReservation, ReservationView,
};

fn storage(err: StoreError) -> EngineError {
    EngineError::Storage(err.to_string())
}

/// A reservation on an admin's page, with its owner's account (`None` if
/// the account is gone, which accounts never are today).
#[derive(Clone, Debug)]
pub struct OwnedReservation {
    pub view: ReservationView,
    pub owner: Option<Account>,
}

/// Where a page's item comes from.
enum Source {
    Live(UserId, ReservationId),
    Archived(UserId, ReservationId),
}

impl Registry {
    /// One page (`offset`, at most `limit`) of the schedule's reservations in
    /// `status` (any, when `None`), newest first, and how many match in all;
    /// `NotFound(Schedule)` for a schedule that does not exist.
    pub async fn schedule_reservations_page(
        &self,
        schedule_id: ScheduleId,
        status: Option<CustomerStatus>,
        offset: usize,
        limit: usize,
    ) -> EngineResult<(Vec<OwnedReservation>, usize)> {
        let schedule = self.schedule(schedule_id)?;
        let live = schedule
            .actor
            .query(ListLiveReservations { status })
            .await??;
        // Archived reservations have ended: none is HELD or CONFIRMED.
        let archived_status = match status {
            None => Some(None),
            Some(CustomerStatus::Expired) => Some(Some(EndedStatus::Expired)),
            Some(CustomerStatus::Cancelled) => Some(Some(EndedStatus::Cancelled)),
            Some(CustomerStatus::Held | CustomerStatus::Confirmed) => None,
        };
        let store = self.context().commit.store();
        let store: &dyn Store = store.as_ref();
        let end = offset.saturating_add(limit);
        let (archived, archived_total, both) = match archived_status {
            None => (Vec::new(), 0, HashSet::new()),
            Some(filter) => {
                let both = archived_too(store, &live)?;
                let total = archive_by_schedule::tally(store, schedule_id)
                    .map_err(storage)?
                    .reservations(filter);
                // Every ended live one, not only those `both` found: an
                // archive batch may land between that check and this read,
                // and a copy shown twice pushes another off the page.
                let live_ended: HashSet<ReservationId> = live
                    .iter()
                    .filter(|r| r.ended)
                    .map(|r| r.order.id)
                    .collect();
                let mut archived = archive_by_schedule::newest(
                    store,
                    schedule_id,
                    filter,
                    end.saturating_add(live_ended.len()),
                )
                .map_err(storage)?;
                archived.retain(|(order, _)| !live_ended.contains(&order.id));
                (archived, total, both)
            }
        };
        let total = (live.len() as u64 + archived_total).saturating_sub(both.len() as u64) as usize;
        let page: Vec<Source> = merge(&live, &archived, end)
            .into_iter()
            .skip(offset)
            .collect();

        let live_ids: Vec<ReservationId> = (page.iter())
            .filter_map(|item| match item {
                Source::Live(_, id) => Some(*id),
                Source::Archived(..) => None,
            })
            .collect();
        let mut live_views: BTreeMap<ReservationId, ReservationView> = schedule
            .actor
            .query(GetReservationViews { ids: live_ids })
            .await??
            .into_iter()
            .map(|view| (view.reservation_id, view))
            .collect();
        let mut views = Vec::with_capacity(page.len());
        for item in page {
            // A live one forgotten since the list was read was archived meanwhile.
            let (user, id) = match item {
                Source::Live(user, id) => match live_views.remove(&id) {
                    Some(view) => {
                        views.push(view);
                        continue;
                    }
                    None => (user, id),
                },
                Source::Archived(user, id) => (user, id),
            };
            let entry = archive::read(store, user, id).map_err(storage)?;
            views.push(
                entry
                    .ok_or_else(|| {
                        EngineError::Storage(format!(
                            "the archive index of {schedule_id} names {id}, which has no entry"
                        ))
                    })?
                    .view,
            );
        }
        let owners: BTreeMap<UserId, Option<Account>> = {
            let users: Vec<UserId> = (views.iter().map(|v| v.user))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let accounts = try_join_all(users.iter().map(|&user| self.account(user))).await?;
            users.into_iter().zip(accounts).collect()
        };
        let page = views
            .into_iter()
            .map(|view| OwnedReservation {
                owner: owners.get(&view.user).cloned().flatten(),
                view,
            })
            .collect();
        Ok((page, total))
    }
}

/// Those of the live reservations that are also archived (see the module doc).
fn archived_too(
    store: &dyn Store,
    live: &[LiveReservation],
) -> EngineResult<HashSet<ReservationId>> {
    let mut both = HashSet::new();
    for reservation in live.iter().filter(|r| r.ended) {
        if archive::is_archived(store, reservation.user, reservation.order.id).map_err(storage)? {
            both.insert(reservation.order.id);
        }
    }
    Ok(both)
}

/// The first `count` items of the two lists, each sorted by `ListOrder`, merged.
fn merge(live: &[LiveReservation], archived: &[(ListOrder, UserId)], count: usize) -> Vec<Source> {
    let (mut l, mut a) = (live.iter().peekable(), archived.iter().peekable());
    let mut merged = Vec::new();
    while merged.len() < count {
        let take_live = match (l.peek(), a.peek()) {
            (Some(live), Some((archived, _))) => live.order <= *archived,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_live {
            if let Some(live) = l.next() {
                merged.push(Source::Live(live.user, live.order.id));
            }
        } else if let Some((order, user)) = a.next() {
            merged.push(Source::Archived(*user, order.id));
        }
    }
    merged
}
