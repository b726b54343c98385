//! `CatalogActor`: the durable catalogue of venues and concerts.
//!
//! A concert owns the catalogue data of its schedules (dates, booking window,
//! effective queue configuration); the seats themselves live in the
//! `ScheduleActor`s, which `catalog.rs` creates before it logs the concert.
//! Venues are immutable once created; a concert's title, description and
//! category can be edited, and a concert created as a DRAFT published, so a
//! reader's copy is a copy of that moment.
//!
//! Drafts: whether a concert is a draft is stored in
//! [`CatalogState::drafts`], not in the stored [`Concert`] (whose `status` is
//! derived from that set and never encoded), so the concerts in logs and
//! snapshots written before drafts existed still decode, as PUBLISHED. The
//! schedules of drafts are also kept on a [`DraftBoard`] that every
//! schedule operation reads without a message to this actor.
//!
//! Validation happens in `catalog.rs` before a message is sent; this actor
//! only refuses what needs its own state to decide (a duplicate id, an
//! unknown venue, a full catalogue). Durability follows `wallet_actor.rs`;
//! once durable, each change is published on the [`CatalogFeed`] (the search
//! index follows it) before the creator's reply is released.

use actix::prelude::*;
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::RowLayout;
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::{Money, Timestamp};
use boxoffice_storage::{codec, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use tokio::sync::oneshot;

use crate::catalog_feed::{CatalogFeed, CatalogFollower};

use crate::context::EngineContext;
use crate::error::{EngineError, EngineResult, Missing};
use crate::journal::{read_history_with, reply_when_durable, Journal, Pending, Waiter};

pub const LOG_NAME: &str = "catalog";

/// Most venues kept.
pub const MAX_VENUES: usize = 10_000;
/// Most concerts kept. Also bounds [`ListConcerts`], which answers with all
/// of them (the HTTP layer filters, sorts and pages): at most this many
/// concerts of at most `MAX_SCHEDULES_PER_CONCERT` schedules each.
pub const MAX_CONCERTS: usize = 10_000;
/// Longest page of [`ListVenues`].
pub const MAX_CATALOG_PAGE: usize = 100;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VenueSection {
    pub section_id: String,
    pub name: String,
    pub rows: Vec<RowLayout>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Venue {
    pub venue_id: VenueId,
    pub name: String,
    pub address: String,
    /// Best section first: schedules keep this order for best-available search.
    pub sections: Vec<VenueSection>,
    /// Total seats over every section.
    pub capacity: u32,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceGrade {
    pub grade: String,
    pub price: Money,
    pub section_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    pub schedule_id: ScheduleId,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub booking_opens_at: Timestamp,
    pub booking_closes_at: Timestamp,
    /// The effective configuration: the schedule's own, else the concert's.
    pub queue: Option<QueueConfig>,
}

/// Whether a concert is shown to everyone (API.md "Running a box office").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConcertStatus {
    /// Seen by admins only: 404 and absent from lists and search for anyone else.
    Draft,
    #[default]
    Published,
}

impl ConcertStatus {
    pub fn is_draft(self) -> bool {
        self == ConcertStatus::Draft
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Concert {
    pub concert_id: ConcertId,
    pub title: String,
    pub description: String,
    pub category: String,
    pub venue_id: VenueId,
    /// Copied at creation (venues never change), so listings need no join.
    pub venue_name: String,
    pub price_grades: Vec<PriceGrade>,
    pub schedules: Vec<ScheduleInfo>,
    pub max_seats_per_user: u32,
    pub hold_seconds: u32,
    /// The concert-wide configuration, as given.
    pub queue: Option<QueueConfig>,
    pub created_at: Timestamp,
    /// Derived from [`CatalogState::drafts`] on every apply and load; not
    /// encoded (see the module doc), so it decodes as PUBLISHED.
    #[serde(skip)]
    pub status: ConcertStatus,
}

/// A concert's editable text after a PATCH (all three, as they now are).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConcertText {
    pub concert_id: ConcertId,
    pub title: String,
    pub description: String,
    pub category: String,
}

/// Stored positionally: new variants go last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CatalogEvent {
    VenueCreated(Venue),
    ConcertCreated(Concert),
    /// A concert created as a DRAFT.
    DraftCreated(Concert),
    ConcertEdited(ConcertText),
    /// A DRAFT became PUBLISHED.
    ConcertPublished(ConcertId),
    /// Joining these schedules' waiting rooms needs a verified e-mail
    /// address (`queue.requireVerifiedEmail`); logged with their concert.
    VerifiedEmailRequired(Vec<ScheduleId>),
}

/// The schedules of DRAFT concerts, readable from any thread: schedule
/// operations (seat maps, holds, queue joins) answer 404 for them to anyone
/// but an admin without asking the catalogue actor. Written by that actor as
/// it applies changes, and by `catalog.rs` before it creates a draft's
/// schedules, so a draft's schedule is never reachable, even before its
/// concert is logged.
///
/// It also holds the schedules whose waiting rooms require a verified
/// e-mail address, for the same reason: a join reads it without a message,
/// and it is set before such a schedule is created.
#[derive(Default)]
pub struct DraftBoard {
    schedules: RwLock<HashSet<ScheduleId>>,
    verified_email: RwLock<HashSet<ScheduleId>>,
}

impl DraftBoard {
    pub fn hide(&self, ids: impl IntoIterator<Item = ScheduleId>) {
        // A poisoned lock only means a writer panicked around a whole insert.
        let mut hidden = self.schedules.write().unwrap_or_else(|p| p.into_inner());
        hidden.extend(ids);
    }

    pub fn show(&self, ids: impl IntoIterator<Item = ScheduleId>) {
        let mut hidden = self.schedules.write().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            hidden.remove(&id);
        }
    }

    pub fn is_hidden(&self, id: ScheduleId) -> bool {
        (self.schedules.read().unwrap_or_else(|p| p.into_inner())).contains(&id)
    }

    /// Joining these schedules' waiting rooms needs a verified address from now on.
    pub fn require_verified_email(&self, ids: impl IntoIterator<Item = ScheduleId>) {
        let mut required = self
            .verified_email
            .write()
            .unwrap_or_else(|p| p.into_inner());
        required.extend(ids);
    }

    pub fn requires_verified_email(&self, id: ScheduleId) -> bool {
        (self
            .verified_email
            .read()
            .unwrap_or_else(|p| p.into_inner()))
        .contains(&id)
    }

    /// The board of a loaded catalogue.
    pub fn of(state: &CatalogState) -> DraftBoard {
        let board = DraftBoard::default();
        for id in &state.drafts {
            if let Some(concert) = state.concerts.get(id) {
                board.hide(concert.schedules.iter().map(|s| s.schedule_id));
            }
        }
        board.require_verified_email(state.verified_email_schedules.iter().copied());
        board
    }
}

/// Snapshot contents. The orders and the schedule index are stored rather
/// than rebuilt; [`CatalogState::check_invariants`] proves them on every load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogState {
    pub venues: HashMap<VenueId, Venue>,
    /// Creation order.
    pub venue_order: Vec<VenueId>,
    pub concerts: HashMap<ConcertId, Concert>,
    /// Creation order.
    pub concert_order: Vec<ConcertId>,
    /// Which concert each schedule belongs to.
    pub schedule_concert: HashMap<ScheduleId, ConcertId>,
    /// The concerts that are DRAFTs (every other one is PUBLISHED). Last, so
    /// that [`CatalogStatePreviousFormat`] is this struct without it.
    pub drafts: BTreeSet<ConcertId>,
    /// The schedules whose waiting rooms require a verified e-mail address.
    /// Last, so that [`CatalogStateBeforeVerifiedEmail`] is this struct without it.
    pub verified_email_schedules: BTreeSet<ScheduleId>,
}

/// The snapshot as written before `queue.requireVerifiedEmail` existed: no
/// schedule requires a verified address.
#[derive(Deserialize)]
pub struct CatalogStateBeforeVerifiedEmail {
    pub venues: HashMap<VenueId, Venue>,
    pub venue_order: Vec<VenueId>,
    pub concerts: HashMap<ConcertId, Concert>,
    pub concert_order: Vec<ConcertId>,
    pub schedule_concert: HashMap<ScheduleId, ConcertId>,
    pub drafts: BTreeSet<ConcertId>,
}

/// The snapshot as written before drafts existed: every concert PUBLISHED.
#[derive(Deserialize)]
pub struct CatalogStatePreviousFormat {
    pub venues: HashMap<VenueId, Venue>,
    pub venue_order: Vec<VenueId>,
    pub concerts: HashMap<ConcertId, Concert>,
    pub concert_order: Vec<ConcertId>,
    pub schedule_concert: HashMap<ScheduleId, ConcertId>,
}

impl CatalogState {
    /// The only code that changes the catalogue; live commands and recovery both use it.
    pub fn apply(&mut self, event: &CatalogEvent) {
        match event {
            CatalogEvent::VenueCreated(venue) => {
                if self.venues.insert(venue.venue_id, venue.clone()).is_none() {
                    self.venue_order.push(venue.venue_id);
                }
            }
            CatalogEvent::ConcertCreated(concert) | CatalogEvent::DraftCreated(concert) => {
                let status = match event {
                    CatalogEvent::DraftCreated(_) => ConcertStatus::Draft,
                    _ => ConcertStatus::Published,
                };
                if status == ConcertStatus::Draft {
                    self.drafts.insert(concert.concert_id);
                }
                let concert = Concert {
                    status,
                    ..concert.clone()
                };
                for schedule in &concert.schedules {
                    self.schedule_concert
                        .insert(schedule.schedule_id, concert.concert_id);
                }
                let id = concert.concert_id;
                if self.concerts.insert(id, concert).is_none() {
                    self.concert_order.push(id);
                }
            }
            CatalogEvent::ConcertEdited(text) => {
                if let Some(concert) = self.concerts.get_mut(&text.concert_id) {
                    concert.title.clone_from(&text.title);
                    concert.description.clone_from(&text.description);
                    concert.category.clone_from(&text.category);
                }
            }
            CatalogEvent::ConcertPublished(id) => {
                self.drafts.remove(id);
                if let Some(concert) = self.concerts.get_mut(id) {
                    concert.status = ConcertStatus::Published;
                }
            }
            CatalogEvent::VerifiedEmailRequired(ids) => {
                self.verified_email_schedules.extend(ids.iter().copied());
            }
        }
    }

    /// Sets every concert's `status` from [`Self::drafts`] (after a snapshot
    /// is decoded: the status itself is not stored).
    fn derive_statuses(&mut self) {
        for (id, concert) in self.concerts.iter_mut() {
            concert.status = if self.drafts.contains(id) {
                ConcertStatus::Draft
            } else {
                ConcertStatus::Published
            };
        }
    }

    /// Decodes a snapshot of this format, the one before
    /// `verified_email_schedules`, or the one before drafts.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<CatalogState, StoreError> {
        let current = match codec::decode::<CatalogState>(bytes) {
            Ok(mut state) => {
                state.derive_statuses();
                return Ok(state);
            }
            Err(err) => err,
        };
        if let Ok(older) = codec::decode::<CatalogStateBeforeVerifiedEmail>(bytes) {
            let mut state = CatalogState {
                venues: older.venues,
                venue_order: older.venue_order,
                concerts: older.concerts,
                concert_order: older.concert_order,
                schedule_concert: older.schedule_concert,
                drafts: older.drafts,
                verified_email_schedules: BTreeSet::new(),
            };
            state.derive_statuses();
            return Ok(state);
        }
        let older = codec::decode::<CatalogStatePreviousFormat>(bytes).map_err(|_| current)?;
        let mut state = CatalogState {
            venues: older.venues,
            venue_order: older.venue_order,
            concerts: older.concerts,
            concert_order: older.concert_order,
            schedule_concert: older.schedule_concert,
            drafts: BTreeSet::new(),
            verified_email_schedules: BTreeSet::new(),
        };
        state.derive_statuses();
        Ok(state)
    }

    /// Orders list each item once; every concert's venue exists; the schedule
    /// index covers exactly the concerts' schedules.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.venue_order.len() != self.venues.len()
            || !self
                .venue_order
                .iter()
                .all(|id| self.venues.contains_key(id))
        {
            return Err("the venue order does not match the venues".into());
        }
        if self.concert_order.len() != self.concerts.len()
            || !self
                .concert_order
                .iter()
                .all(|id| self.concerts.contains_key(id))
        {
            return Err("the concert order does not match the concerts".into());
        }
        let mut schedules = 0usize;
        for (id, concert) in &self.concerts {
            if concert.concert_id != *id {
                return Err(format!("concert {id} is stored under another id"));
            }
            if !self.venues.contains_key(&concert.venue_id) {
                return Err(format!("concert {id} names an unknown venue"));
            }
            for schedule in &concert.schedules {
                schedules += 1;
                if self.schedule_concert.get(&schedule.schedule_id) != Some(id) {
                    return Err(format!(
                        "schedule {} of concert {id} is not indexed to it",
                        schedule.schedule_id
                    ));
                }
            }
        }
        if schedules != self.schedule_concert.len() {
            return Err("the schedule index names schedules no concert has".into());
        }
        if let Some(id) = self
            .drafts
            .iter()
            .find(|id| !self.concerts.contains_key(id))
        {
            return Err(format!("draft {id} is not a concert"));
        }
        for (id, concert) in &self.concerts {
            if (concert.status == ConcertStatus::Draft) != self.drafts.contains(id) {
                return Err(format!("concert {id}'s status disagrees with the drafts"));
            }
        }
        Ok(())
    }

    pub fn load(store: &dyn Store) -> Result<CatalogState, StoreError> {
        let history = read_history_with::<CatalogState, CatalogEvent>(
            store,
            LOG_NAME,
            CatalogState::decode_snapshot,
        )?;
        let mut state = history.snapshot.map(|(_, s)| s).unwrap_or_default();
        for record in history.records {
            for event in &record.events {
                state.apply(event);
            }
        }
        state
            .check_invariants()
            .map_err(|broken| StoreError::Corrupt(format!("{LOG_NAME}: {broken}")))?;
        Ok(state)
    }

    /// Why `concert` cannot be added, if it cannot.
    fn refuse_concert(&self, concert: &Concert) -> Option<EngineError> {
        if !self.venues.contains_key(&concert.venue_id) {
            return Some(EngineError::NotFound(Missing::Venue));
        }
        if self.concerts.contains_key(&concert.concert_id) {
            return Some(EngineError::Internal(format!(
                "concert id {} is already taken",
                concert.concert_id
            )));
        }
        if let Some(taken) = concert
            .schedules
            .iter()
            .find(|s| self.schedule_concert.contains_key(&s.schedule_id))
        {
            return Some(EngineError::Internal(format!(
                "schedule {} already belongs to a concert",
                taken.schedule_id
            )));
        }
        if self.concerts.len() >= MAX_CONCERTS {
            return Some(EngineError::Validation(format!(
                "the catalogue is full (at most {MAX_CONCERTS} concerts)"
            )));
        }
        None
    }

    fn refuse_venue(&self, venue: &Venue) -> Option<EngineError> {
        if self.venues.contains_key(&venue.venue_id) {
            return Some(EngineError::Internal(format!(
                "venue id {} is already taken",
                venue.venue_id
            )));
        }
        if self.venues.len() >= MAX_VENUES {
            return Some(EngineError::Validation(format!(
                "the catalogue is full (at most {MAX_VENUES} venues)"
            )));
        }
        None
    }
}

pub struct CatalogActor {
    state: CatalogState,
    journal: Journal<CatalogEvent>,
    feed: Arc<CatalogFeed>,
    /// The drafts' schedules, kept in step with `state` (see [`DraftBoard`]).
    drafts: Arc<DraftBoard>,
}

impl CatalogActor {
    /// `drafts` must be [`DraftBoard::of`] `state`.
    pub fn new(
        state: CatalogState,
        engine: EngineContext,
        feed: Arc<CatalogFeed>,
        drafts: Arc<DraftBoard>,
    ) -> Self {
        let journal = Journal::new(
            LOG_NAME.to_string(),
            engine.commit.clone(),
            engine.config.snapshot_every_events,
        );
        CatalogActor {
            state,
            journal,
            feed,
            drafts,
        }
    }

    /// Applies `events` to memory now; the waiter answers once they are durable.
    fn stage(&mut self, ctx: &mut Context<Self>, events: Vec<CatalogEvent>, waiter: Waiter) {
        for event in &events {
            self.state.apply(event);
            // In step with the state: a published concert's schedules are
            // reachable as soon as the concert reads PUBLISHED.
            match event {
                CatalogEvent::DraftCreated(c) => {
                    self.drafts.hide(c.schedules.iter().map(|s| s.schedule_id))
                }
                CatalogEvent::ConcertPublished(id) => {
                    if let Some(c) = self.state.concerts.get(id) {
                        self.drafts.show(c.schedules.iter().map(|s| s.schedule_id));
                    }
                }
                _ => {}
            }
        }
        if self.journal.stage(events, None, Some(waiter)) {
            ctx.notify(CommitCatalog);
        }
        if self.journal.is_full() {
            self.commit();
        }
    }

    fn commit(&mut self) {
        if let Err(err) = self.journal.commit_and_snapshot(&mut self.state, |_| {}) {
            // Fail-stop: the group commit is poisoned too; the process must restart.
            tracing::error!(%err, "catalog log append failed");
        }
    }

    /// Stages `event` (or the refusal) and answers with `value` once durable.
    fn stage_creation<T: Send + 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        refusal: Option<EngineError>,
        event: CatalogEvent,
        value: T,
    ) -> Pending<T> {
        let outcome = match refusal {
            Some(err) => Err(err),
            None => Ok((event, value)),
        };
        self.stage_outcome(ctx, outcome)
    }

    /// Stages the event of a change (or its refusal, with no event) and
    /// answers once durable; followers hear of the event first.
    fn stage_outcome<T: Send + 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        outcome: EngineResult<(CatalogEvent, T)>,
    ) -> Pending<T> {
        self.stage_events(ctx, outcome.map(|(event, value)| (vec![event], value)))
    }

    /// [`Self::stage_outcome`] of a change made of several events (one batch).
    fn stage_events<T: Send + 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        outcome: EngineResult<(Vec<CatalogEvent>, T)>,
    ) -> Pending<T> {
        let (tx, rx) = oneshot::channel();
        let (events, reply) = match outcome {
            Err(err) => (Vec::new(), Err(err)),
            Ok((events, value)) => (events, Ok(value)),
        };
        let reply = reply_when_durable(tx, reply);
        let (feed, published) = (Arc::clone(&self.feed), events.clone());
        let waiter: Waiter = Box::new(move |durable| {
            if durable.is_ok() {
                feed.publish(&published);
            }
            reply(durable);
        });
        self.stage(ctx, events, waiter);
        rx
    }
}

impl Actor for CatalogActor {
    type Context = Context<Self>;
}

struct CommitCatalog;
impl Message for CommitCatalog {
    type Result = ();
}
impl Handler<CommitCatalog> for CatalogActor {
    type Result = ();
    fn handle(&mut self, _: CommitCatalog, _: &mut Context<Self>) {
        self.commit();
    }
}

/// Adds a validated venue (see `Registry::create_venue`).
pub struct CreateVenue(pub Venue);
impl Message for CreateVenue {
    type Result = Pending<Venue>;
}
impl Handler<CreateVenue> for CatalogActor {
    type Result = MessageResult<CreateVenue>;
    fn handle(&mut self, msg: CreateVenue, ctx: &mut Context<Self>) -> Self::Result {
        let venue = msg.0;
        let refusal = self.state.refuse_venue(&venue);
        let event = CatalogEvent::VenueCreated(venue.clone());
        MessageResult(self.stage_creation(ctx, refusal, event, venue))
    }
}

pub struct GetVenue {
    pub venue_id: VenueId,
}
impl Message for GetVenue {
    type Result = Option<Venue>;
}
impl Handler<GetVenue> for CatalogActor {
    type Result = Option<Venue>;
    fn handle(&mut self, msg: GetVenue, _: &mut Context<Self>) -> Self::Result {
        self.state.venues.get(&msg.venue_id).cloned()
    }
}

/// A page of venues in creation order, and the total; `limit` is capped at [`MAX_CATALOG_PAGE`].
pub struct ListVenues {
    pub offset: usize,
    pub limit: usize,
}
impl Message for ListVenues {
    type Result = (Vec<Venue>, usize);
}
impl Handler<ListVenues> for CatalogActor {
    type Result = MessageResult<ListVenues>;
    fn handle(&mut self, msg: ListVenues, _: &mut Context<Self>) -> Self::Result {
        let page = self
            .state
            .venue_order
            .iter()
            .skip(msg.offset)
            .take(msg.limit.min(MAX_CATALOG_PAGE))
            .filter_map(|id| self.state.venues.get(id).cloned())
            .collect();
        MessageResult((page, self.state.venues.len()))
    }
}

/// Adds a validated concert whose schedules already exist (see
/// `Registry::create_concert`), and which of them require a verified e-mail
/// address to join their waiting rooms (logged in the same batch).
pub struct CreateConcert(pub Concert, pub Vec<ScheduleId>);
impl Message for CreateConcert {
    type Result = Pending<Concert>;
}
impl Handler<CreateConcert> for CatalogActor {
    type Result = MessageResult<CreateConcert>;
    fn handle(&mut self, msg: CreateConcert, ctx: &mut Context<Self>) -> Self::Result {
        let (concert, verified_email) = (msg.0, msg.1);
        let event = match concert.status {
            ConcertStatus::Draft => CatalogEvent::DraftCreated(concert.clone()),
            ConcertStatus::Published => CatalogEvent::ConcertCreated(concert.clone()),
        };
        let outcome = match self.state.refuse_concert(&concert) {
            Some(err) => Err(err),
            None if verified_email.is_empty() => Ok((vec![event], concert)),
            None => Ok((
                vec![event, CatalogEvent::VerifiedEmailRequired(verified_email)],
                concert,
            )),
        };
        MessageResult(self.stage_events(ctx, outcome))
    }
}

/// Sets a concert's title, description and category (validated by
/// `concert_lifecycle.rs`); answers the concert as it now is.
pub struct EditConcert(pub ConcertText);
impl Message for EditConcert {
    type Result = Pending<Concert>;
}
impl Handler<EditConcert> for CatalogActor {
    type Result = MessageResult<EditConcert>;
    fn handle(&mut self, msg: EditConcert, ctx: &mut Context<Self>) -> Self::Result {
        let text = msg.0;
        let outcome = match self.state.concerts.get(&text.concert_id) {
            None => Err(EngineError::NotFound(Missing::Concert)),
            Some(before) => {
                let after = Concert {
                    title: text.title.clone(),
                    description: text.description.clone(),
                    category: text.category.clone(),
                    ..before.clone()
                };
                Ok((CatalogEvent::ConcertEdited(text), after))
            }
        };
        MessageResult(self.stage_outcome(ctx, outcome))
    }
}

/// DRAFT → PUBLISHED; `AlreadyPublished` for a published concert.
pub struct PublishConcert(pub ConcertId);
impl Message for PublishConcert {
    type Result = Pending<Concert>;
}
impl Handler<PublishConcert> for CatalogActor {
    type Result = MessageResult<PublishConcert>;
    fn handle(&mut self, msg: PublishConcert, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.0;
        let outcome = match self.state.concerts.get(&id) {
            None => Err(EngineError::NotFound(Missing::Concert)),
            Some(c) if c.status == ConcertStatus::Published => Err(EngineError::AlreadyPublished),
            Some(c) => {
                let after = Concert {
                    status: ConcertStatus::Published,
                    ..c.clone()
                };
                Ok((CatalogEvent::ConcertPublished(id), after))
            }
        };
        MessageResult(self.stage_outcome(ctx, outcome))
    }
}

pub struct GetConcert {
    pub concert_id: ConcertId,
}
impl Message for GetConcert {
    type Result = Option<Concert>;
}
impl Handler<GetConcert> for CatalogActor {
    type Result = Option<Concert>;
    fn handle(&mut self, msg: GetConcert, _: &mut Context<Self>) -> Self::Result {
        self.state.concerts.get(&msg.concert_id).cloned()
    }
}

/// The concerts named that exist, in the order named (a search's page).
pub struct GetConcerts(pub Vec<ConcertId>);
impl Message for GetConcerts {
    type Result = Vec<Concert>;
}
impl Handler<GetConcerts> for CatalogActor {
    type Result = MessageResult<GetConcerts>;
    fn handle(&mut self, msg: GetConcerts, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            (msg.0.iter())
                .filter_map(|id| self.state.concerts.get(id).cloned())
                .collect(),
        )
    }
}

/// Every concert in creation order (at most [`MAX_CONCERTS`]).
pub struct ListConcerts;
impl Message for ListConcerts {
    type Result = Vec<Concert>;
}
impl Handler<ListConcerts> for CatalogActor {
    type Result = MessageResult<ListConcerts>;
    fn handle(&mut self, _: ListConcerts, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.state
                .concert_order
                .iter()
                .filter_map(|id| self.state.concerts.get(id).cloned())
                .collect(),
        )
    }
}

/// The catalogue as the actor holds it now, in creation order.
#[derive(Clone, Debug, Default)]
pub struct CatalogCopy {
    pub venues: Vec<Venue>,
    pub concerts: Vec<Concert>,
}

/// Adds a follower to the [`CatalogFeed`] and answers the catalogue as it is
/// at that moment (see `catalog_feed` for why both in one message).
pub struct FollowCatalog(pub Arc<dyn CatalogFollower>);
impl Message for FollowCatalog {
    type Result = CatalogCopy;
}
impl Handler<FollowCatalog> for CatalogActor {
    type Result = MessageResult<FollowCatalog>;
    fn handle(&mut self, msg: FollowCatalog, _: &mut Context<Self>) -> Self::Result {
        self.feed.follow(msg.0);
        let state = &self.state;
        MessageResult(CatalogCopy {
            venues: (state.venue_order.iter())
                .filter_map(|id| state.venues.get(id).cloned())
                .collect(),
            concerts: (state.concert_order.iter())
                .filter_map(|id| state.concerts.get(id).cloned())
                .collect(),
        })
    }
}

/// The concert a schedule belongs to, with that schedule's catalogue data.
pub struct FindSchedule {
    pub schedule_id: ScheduleId,
}
impl Message for FindSchedule {
    type Result = Option<(Concert, ScheduleInfo)>;
}
impl Handler<FindSchedule> for CatalogActor {
    type Result = MessageResult<FindSchedule>;
    fn handle(&mut self, msg: FindSchedule, _: &mut Context<Self>) -> Self::Result {
        let found = self
            .state
            .schedule_concert
            .get(&msg.schedule_id)
            .and_then(|id| self.state.concerts.get(id))
            .and_then(|concert| {
                let info = concert
                    .schedules
                    .iter()
                    .find(|s| s.schedule_id == msg.schedule_id)?;
                Some((concert.clone(), info.clone()))
            });
        MessageResult(found)
    }
}

/// Test hook: the whole durable state, for tests comparing before and after a restart.
#[cfg(feature = "test-hooks")]
pub struct ExportCatalog;
#[cfg(feature = "test-hooks")]
impl Message for ExportCatalog {
    type Result = CatalogState;
}
#[cfg(feature = "test-hooks")]
impl Handler<ExportCatalog> for CatalogActor {
    type Result = MessageResult<ExportCatalog>;
    fn handle(&mut self, _: ExportCatalog, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Record;

    /// `Concert` as stored before drafts: the same fields, no `status`.
    #[derive(Serialize)]
    struct ConcertBeforeDrafts {
        concert_id: ConcertId,
        title: String,
        description: String,
        category: String,
        venue_id: VenueId,
        venue_name: String,
        price_grades: Vec<PriceGrade>,
        schedules: Vec<ScheduleInfo>,
        max_seats_per_user: u32,
        hold_seconds: u32,
        queue: Option<QueueConfig>,
        created_at: Timestamp,
    }

    #[derive(Serialize)]
    enum EventBeforeDrafts {
        #[allow(dead_code)]
        VenueCreated(Venue),
        ConcertCreated(ConcertBeforeDrafts),
    }

    #[derive(Serialize)]
    struct StateBeforeDrafts {
        venues: HashMap<VenueId, Venue>,
        venue_order: Vec<VenueId>,
        concerts: HashMap<ConcertId, ConcertBeforeDrafts>,
        concert_order: Vec<ConcertId>,
        schedule_concert: HashMap<ScheduleId, ConcertId>,
    }

    fn venue() -> Venue {
        Venue {
            venue_id: VenueId::from_random_bytes([1; 16]),
            name: "Hall".into(),
            address: "1 Road".into(),
            sections: Vec::new(),
            capacity: 0,
            created_at: Timestamp(0),
        }
    }

    fn old_concert(n: u8) -> ConcertBeforeDrafts {
        ConcertBeforeDrafts {
            concert_id: ConcertId::from_random_bytes([n; 16]),
            title: format!("Concert {n}"),
            description: String::new(),
            category: "ROCK".into(),
            venue_id: venue().venue_id,
            venue_name: "Hall".into(),
            price_grades: Vec::new(),
            schedules: vec![ScheduleInfo {
                schedule_id: ScheduleId::from_random_bytes([n; 16]),
                starts_at: Timestamp(1),
                ends_at: Timestamp(2),
                booking_opens_at: Timestamp(0),
                booking_closes_at: Timestamp(1),
                queue: None,
            }],
            max_seats_per_user: 4,
            hold_seconds: 300,
            queue: None,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn a_snapshot_and_a_log_written_before_drafts_load_as_published() {
        let old = old_concert(2);
        let id = old.concert_id;
        let snapshot = StateBeforeDrafts {
            venues: HashMap::from([(venue().venue_id, venue())]),
            venue_order: vec![venue().venue_id],
            schedule_concert: HashMap::from([(old.schedules[0].schedule_id, id)]),
            concerts: HashMap::from([(id, old)]),
            concert_order: vec![id],
        };
        let bytes = codec::encode(&snapshot).expect("encode");
        let mut state = CatalogState::decode_snapshot(&bytes).expect("the older format decodes");
        assert_eq!(state.concerts[&id].status, ConcertStatus::Published);
        assert!(state.drafts.is_empty());
        state.check_invariants().expect("invariants");

        // A record of the older log decodes as today's events.
        let record = codec::encode(&Record {
            events: vec![EventBeforeDrafts::ConcertCreated(old_concert(3))],
            idempotency: Vec::new(),
        })
        .expect("encode");
        let decoded: Record<CatalogEvent> = codec::decode(&record).expect("decode");
        for event in &decoded.events {
            state.apply(event);
        }
        let third = ConcertId::from_random_bytes([3; 16]);
        assert_eq!(state.concerts[&third].status, ConcertStatus::Published);
        assert_eq!(state.concerts[&third].title, "Concert 3");
        state.check_invariants().expect("invariants");
    }

    #[test]
    fn a_snapshot_written_before_verified_email_rules_loads_with_none() {
        #[derive(Serialize)]
        struct Before {
            venues: HashMap<VenueId, Venue>,
            venue_order: Vec<VenueId>,
            concerts: HashMap<ConcertId, Concert>,
            concert_order: Vec<ConcertId>,
            schedule_concert: HashMap<ScheduleId, ConcertId>,
            drafts: BTreeSet<ConcertId>,
        }
        let draft = ConcertId::from_random_bytes([9; 16]);
        let before = Before {
            venues: HashMap::from([(venue().venue_id, venue())]),
            venue_order: vec![venue().venue_id],
            concerts: HashMap::new(),
            concert_order: Vec::new(),
            schedule_concert: HashMap::new(),
            drafts: BTreeSet::from([draft]),
        };
        let bytes = codec::encode(&before).expect("encode");
        let mut state = CatalogState::decode_snapshot(&bytes).expect("the older format decodes");
        assert!(state.verified_email_schedules.is_empty());
        assert_eq!(state.drafts, BTreeSet::from([draft]), "drafts kept");

        let gated = ScheduleId::from_random_bytes([5; 16]);
        state.apply(&CatalogEvent::VerifiedEmailRequired(vec![gated]));
        let again =
            CatalogState::decode_snapshot(&codec::encode(&state).expect("encode")).expect("decode");
        assert_eq!(again.verified_email_schedules, BTreeSet::from([gated]));
        assert!(DraftBoard::of(&again).requires_verified_email(gated));
        assert!(
            !DraftBoard::of(&again).requires_verified_email(ScheduleId::from_random_bytes([6; 16]))
        );
    }

    #[test]
    fn drafts_edits_and_publishing_apply_and_survive_a_snapshot() {
        let mut state = CatalogState::default();
        state.apply(&CatalogEvent::VenueCreated(venue()));
        let record = codec::encode(&Record {
            events: vec![EventBeforeDrafts::ConcertCreated(old_concert(4))],
            idempotency: Vec::new(),
        })
        .expect("encode");
        let mut concert = match codec::decode::<Record<CatalogEvent>>(&record)
            .expect("decode")
            .events
            .pop()
        {
            Some(CatalogEvent::ConcertCreated(concert)) => concert,
            other => panic!("decoded {other:?}"),
        };
        concert.status = ConcertStatus::Draft;
        let id = concert.concert_id;
        state.apply(&CatalogEvent::DraftCreated(concert));
        state.apply(&CatalogEvent::ConcertEdited(ConcertText {
            concert_id: id,
            title: "Edited".into(),
            description: "now with words".into(),
            category: "JAZZ".into(),
        }));
        state.check_invariants().expect("invariants");
        assert_eq!(state.concerts[&id].status, ConcertStatus::Draft);
        assert!(DraftBoard::of(&state).is_hidden(state.concerts[&id].schedules[0].schedule_id));

        let reloaded =
            CatalogState::decode_snapshot(&codec::encode(&state).expect("encode")).expect("decode");
        assert_eq!(reloaded, state, "the snapshot keeps the draft and the edit");

        state.apply(&CatalogEvent::ConcertPublished(id));
        state.check_invariants().expect("invariants");
        assert_eq!(state.concerts[&id].status, ConcertStatus::Published);
        assert_eq!(state.concerts[&id].title, "Edited");
        assert!(!DraftBoard::of(&state).is_hidden(state.concerts[&id].schedules[0].schedule_id));
        let reloaded =
            CatalogState::decode_snapshot(&codec::encode(&state).expect("encode")).expect("decode");
        assert_eq!(reloaded, state);
    }
}
