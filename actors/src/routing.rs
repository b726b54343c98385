//! Routing: which schedule actor owns which schedule.
//!
//! The [`ScheduleTable`] maps every schedule id to its actor's
//! [`ScheduleHandle`]. The registry writes it (at start-up and when a schedule
//! is created) and answers every lookup from it; the queue actor reads it to
//! push admissions, seeing each schedule only as a
//! `Recipient<QueueAdmitted>`. Keeping the table here, rather than in either
//! actor's module, is what lets the two actors not depend on each other.

use actix::prelude::*;
use boxoffice_engine::ids::ScheduleId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use crate::error::{EngineError, EngineResult, Missing};
use crate::handle::Handle;
use crate::queue_board::QueueBoard;
use crate::queue_link::QueueAdmitted;
use crate::schedule_actor::ScheduleActor;
use crate::seat_board::SeatBoard;
use crate::seat_feed::SeatFeed;
use boxoffice_engine::schedule::SeatCounts;

/// A schedule actor's handle, with what callers need to know before sending.
#[derive(Clone)]
pub struct ScheduleHandle {
    pub id: ScheduleId,
    pub gated: bool,
    pub actor: Handle<ScheduleActor>,
    /// Its waiting room's published line, which polls read (see `queue_board`).
    pub board: Arc<QueueBoard>,
    /// Its published seat counts, which listings read (see `seat_board`).
    pub seats: Arc<SeatBoard>,
    /// Its durable seat changes, which the seat stream reads (see `seat_feed`).
    pub feed: Arc<SeatFeed>,
}

impl ScheduleHandle {
    pub fn addr(&self) -> &Addr<ScheduleActor> {
        self.actor.addr()
    }
}

/// Every schedule actor by id; shared by the registry (writer) and the queue actor.
#[derive(Default)]
pub struct ScheduleTable {
    handles: RwLock<HashMap<ScheduleId, ScheduleHandle>>,
}

impl ScheduleTable {
    pub fn insert(&self, handle: ScheduleHandle) {
        // A poisoned lock only means a writer panicked around a whole-entry
        // insert: the map is still consistent, so every access goes on with it.
        let mut table = self.handles.write().unwrap_or_else(|p| p.into_inner());
        table.insert(handle.id, handle);
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<ScheduleId, ScheduleHandle>> {
        self.handles.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: ScheduleId) -> EngineResult<ScheduleHandle> {
        self.read()
            .get(&id)
            .cloned()
            .ok_or(EngineError::NotFound(Missing::Schedule))
    }

    /// Just the schedule's waiting-room board: what a poll needs, without
    /// cloning the whole handle.
    pub fn board(&self, id: ScheduleId) -> Option<Arc<QueueBoard>> {
        self.read().get(&id).map(|handle| Arc::clone(&handle.board))
    }

    /// The published seat counts of each of `ids`, in order, under one read
    /// of the table; `None` for an id no actor owns.
    pub fn seat_counts(&self, ids: &[ScheduleId]) -> Vec<Option<SeatCounts>> {
        let table = self.read();
        ids.iter()
            .map(|id| table.get(id).map(|handle| handle.seats.counts()))
            .collect()
    }

    /// Every schedule's published seat counts (for the gauges).
    pub fn all_seat_counts(&self) -> Vec<SeatCounts> {
        self.read().values().map(|h| h.seats.counts()).collect()
    }

    pub fn contains(&self, id: ScheduleId) -> bool {
        self.read().contains_key(&id)
    }

    /// Every schedule id, sorted.
    pub fn ids(&self) -> Vec<ScheduleId> {
        let mut ids: Vec<_> = self.read().keys().copied().collect();
        ids.sort();
        ids
    }

    /// Where the queue actor pushes `id`'s admissions, if the schedule exists.
    pub fn admissions(&self, id: ScheduleId) -> Option<Recipient<QueueAdmitted>> {
        self.read().get(&id).map(|h| h.addr().clone().recipient())
    }
}
