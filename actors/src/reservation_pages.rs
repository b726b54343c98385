//! A user's reservations and tickets a page at a time (GET /reservations,
//! GET /tickets), newest first, with totals, at a cost that does not grow
//! with the user's history (issue 20, item 7).
//!
//! A user's reservations are in two places: the ones still in their
//! schedules' memory (live: their status may still change) and the archived
//! ones (ended, never changing; `schedule_actor/archive.rs`). A page merges:
//! - the live ones, all of them: the directory lists them by user, and each
//!   schedule holding some is asked once for all of its (one
//!   `GetUserReservations` per schedule, concurrently). Their number is
//!   bounded by the live state, not by history: a user's unended
//!   reservations hold seats (at most `maxSeatsPerUser` per schedule), and
//!   ended ones leave memory once `EngineConfig::archive_after_ended` of
//!   them pile up on their schedule;
//! - the archived ones, from the per-user index
//!   (`schedule_actor/archive_index.rs`): the first `offset + pageSize`
//!   keys in list order (a key scan, nothing decoded), then one entry read
//!   per archived item on the page; the total from the user's tally.
//!
//! A reservation can be in both for a while (archived, not yet forgotten by
//! its schedule; or archived again after a crash undid the forgetting). The
//! live copy is shown, the archived one skipped and subtracted from the
//! total: each live ended reservation is looked up in the archive (one key
//! read each, bounded like the live ones).
//!
//! Order: hold time, newest first; holds of one millisecond by their
//! schedule's creation ordinal, then by id (`archive_index::ListOrder`).
//!
//! Races: the live reservations are read before the archive, and a schedule
//! writes an archive batch before it forgets the reservations in it, so one
//! archived meanwhile is found in the archive (or in both: see above);
//! reservations made after the read began may be missing, as with any read.

use boxoffice_engine::ids::*;
use boxoffice_storage::{Store, StoreError};
use futures_util::future::try_join_all;
use std::collections::{BTreeMap, HashSet};

use crate::booking::CustomerStatus;
use crate::error::{EngineError, EngineResult};
use crate::registry::Registry;
use crate::schedule_actor::archive;
use crate::schedule_actor::archive_index::{self, EndedStatus, ListOrder};
use crate::schedule_actor::{GetUserReservations, ReservationView};
use crate::ticket_detail::TicketDetail;

fn storage(err: StoreError) -> EngineError {
    EngineError::Storage(err.to_string())
}

/// One item of a merged list: a live view, or an archived reservation's place.
enum Item<'a> {
    Live(&'a ReservationView),
    Archived(ListOrder),
}

/// The first `count` items of two lists each sorted by `ListOrder`, merged.
fn merge<'a>(
    live: &'a [(ListOrder, ReservationView)],
    archived: &[ListOrder],
    count: usize,
) -> Vec<Item<'a>> {
    let (mut l, mut a) = (live.iter().peekable(), archived.iter().peekable());
    let mut merged = Vec::new();
    while merged.len() < count {
        let take_live = match (l.peek(), a.peek()) {
            (Some((live_order, _)), Some(archived_order)) => live_order <= *archived_order,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_live {
            if let Some((_, view)) = l.next() {
                merged.push(Item::Live(view));
            }
        } else if let Some(order) = a.next() {
            merged.push(Item::Archived(*order));
        }
    }
    merged
}

/// The ids of the ended ones among live reservations: the only ones that can
/// also be in the archive.
fn ended_ids(live: &[(ListOrder, ReservationView)]) -> HashSet<ReservationId> {
    live.iter()
        .filter(|(_, view)| EndedStatus::of(view.status).is_some())
        .map(|(_, view)| view.reservation_id)
        .collect()
}

impl Registry {
    /// The user's reservations still in their schedules' memory, newest first.
    async fn live_reservations(
        &self,
        user: UserId,
    ) -> EngineResult<Vec<(ListOrder, ReservationView)>> {
        let mut by_schedule: BTreeMap<ScheduleId, Vec<ReservationId>> = BTreeMap::new();
        for (schedule, id) in self.context().directory.reservations_of_user(user) {
            by_schedule.entry(schedule).or_default().push(id);
        }
        let replies = try_join_all(by_schedule.into_iter().map(|(schedule, ids)| async move {
            self.schedule(schedule)?
                .actor
                .query(GetUserReservations { user, ids })
                .await?
        }))
        .await?;
        let mut live: Vec<(ListOrder, ReservationView)> = replies
            .into_iter()
            .flatten()
            .map(|(ordinal, view)| {
                let order = ListOrder {
                    held_at: view.held_at,
                    ordinal,
                    id: view.reservation_id,
                };
                (order, view)
            })
            .collect();
        live.sort_by_key(|(order, _)| *order);
        Ok(live)
    }

    /// Those of the live reservations that are also archived (see the module doc).
    fn archived_too(
        &self,
        user: UserId,
        live: &[(ListOrder, ReservationView)],
    ) -> EngineResult<HashSet<ReservationId>> {
        let store = self.context().commit.store();
        let mut both = HashSet::new();
        for (_, view) in live {
            if EndedStatus::of(view.status).is_some()
                && archive::is_archived(store.as_ref(), user, view.reservation_id)
                    .map_err(storage)?
            {
                both.insert(view.reservation_id);
            }
        }
        Ok(both)
    }

    /// One page (`offset`, at most `limit`) of the user's reservations in
    /// `status` (any, when `None`), newest first, and how many match in all.
    pub async fn reservations_page(
        &self,
        user: UserId,
        status: Option<CustomerStatus>,
        offset: usize,
        limit: usize,
    ) -> EngineResult<(Vec<ReservationView>, usize)> {
        let mut live = self.live_reservations(user).await?;
        live.retain(|(_, view)| status.is_none_or(|s| CustomerStatus::of(view.status) == s));
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
                let both = self.archived_too(user, &live)?;
                let total = archive_index::tally(store, user)
                    .map_err(storage)?
                    .reservations(filter);
                // Every ended live one, not only those `both` found: an
                // archive batch may land between that check and this read,
                // and a copy shown twice pushes another off the page.
                let live_ended = ended_ids(&live);
                let mut archived = archive_index::newest(
                    store,
                    user,
                    filter,
                    end.saturating_add(live_ended.len()),
                )
                .map_err(storage)?;
                archived.retain(|order| !live_ended.contains(&order.id));
                (archived, total, both)
            }
        };
        let total = (live.len() as u64 + archived_total).saturating_sub(both.len() as u64) as usize;
        let mut page = Vec::new();
        for item in merge(&live, &archived, end).into_iter().skip(offset) {
            page.push(match item {
                Item::Live(view) => view.clone(),
                Item::Archived(order) => {
                    archive::read(store, user, order.id)
                        .map_err(storage)?
                        .ok_or_else(|| {
                            EngineError::Storage(format!(
                                "the archive index of {user} names {}, which has no entry",
                                order.id
                            ))
                        })?
                        .view
                }
            });
        }
        Ok((page, total))
    }

    /// One page (`offset`, at most `limit`) of the caller's tickets, newest
    /// reservation first (a reservation's tickets in its order), and how many
    /// they have in all.
    pub async fn tickets_page(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> EngineResult<(Vec<TicketDetail>, usize)> {
        let live = self.live_reservations(user).await?;
        let both = self.archived_too(user, &live)?;
        let live_tickets: usize = live.iter().map(|(_, v)| v.tickets.len()).sum();
        let both_tickets: usize = live
            .iter()
            .filter(|(_, v)| both.contains(&v.reservation_id))
            .map(|(_, v)| v.tickets.len())
            .sum();
        let store = self.context().commit.store();
        let store: &dyn Store = store.as_ref();
        let archived_total = archive_index::tally(store, user).map_err(storage)?.tickets;
        let total =
            (live_tickets as u64 + archived_total).saturating_sub(both_tickets as u64) as usize;

        // Enough archived reservations with tickets to reach the page's end
        // counting only those not also live; then both sides in list order.
        let end = offset.saturating_add(limit);
        // Every ended live one's archived copy is skipped, not only those
        // `both` found (a batch may land between that check and this read).
        let live_ended = ended_ids(&live);
        let mut counted = 0usize;
        let archived = archive_index::newest_with_tickets(store, user, |order, tickets| {
            if !live_ended.contains(&order.id) {
                counted += tickets.len();
            }
            counted >= end
        })
        .map_err(storage)?;
        let mut groups: Vec<(ListOrder, Vec<TicketId>)> = archived
            .into_iter()
            .filter(|(order, _)| !live_ended.contains(&order.id))
            .collect();
        groups.extend(
            live.iter()
                .filter(|(_, v)| !v.tickets.is_empty())
                .map(|(order, view)| (*order, view.tickets.iter().map(|t| t.ticket_id).collect())),
        );
        groups.sort_by_key(|(order, _)| *order);
        let ids = groups
            .into_iter()
            .flat_map(|(_, tickets)| tickets)
            .skip(offset)
            .take(limit);
        let page = try_join_all(ids.map(|id| self.ticket_detail(user, id))).await?;
        Ok((page, total))
    }
}
