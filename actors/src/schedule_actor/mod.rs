//! `ScheduleActor`: the single owner of one schedule's seats.
//!
//! Every hold, cancel, payment step, check-in and expiry for a schedule is a
//! message handled one at a time here, so seat state needs no locks and a seat
//! can never be sold twice. Each command runs the pure engine, stages the
//! resulting events in the [`Journal`], and replies
//! once they are durable.
//!
//! Failure containment: engine code runs inside `catch_unwind`. A panic means
//! the in-memory state may be half-changed, so the actor fails every staged
//! reply, stops, and its actix `Supervisor` restarts it, reloading the state
//! from storage (snapshot + log). Other schedules, on the same arbiter or not,
//! never notice. (A panic that escaped a handler would unwind the arbiter
//! thread and take every actor on it down; hence the guard.)
//!
//! Waiting room: the queue actor pushes admissions here ([`QueueAdmitted`]), so
//! a hold on a gated schedule checks its Queue-Token locally, with no second
//! actor round trip. The actor knows the queue actor only through a
//! [`QueueLink`] (see [`crate::queue_link`]).
//!
//! Submodules: [`messages`] (what the actor answers), `handlers` (how),
//! [`state`] (what it logs and snapshots), [`views`] (what it shows),
//! [`archive`] (ended reservations moved out of the state) and its per-user
//! [`archive_index`], and, with the
//! `test-hooks` feature only, `test_hooks`.

pub mod archive;
pub mod archive_by_schedule;
pub mod archive_index;
pub mod blocks;
pub mod cancellation;
mod handlers;
pub mod messages;
mod queue_access;
pub mod state;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
pub mod views;

pub use blocks::{BlockSeats, BlockedSeat, CompSeats, GetBlocks, UnblockSeats};
pub use cancellation::{
    CancelSchedule, CancellationStep, ContinueCancellation, GetSales, OwedRefund, SettleRefunds,
};
pub use messages::*;
pub use queue_access::{CheckQueueAccess, QueueUse};
pub use state::{log_name, ScheduleLogEvent, ScheduleSpec, ScheduleState, LOG_PREFIX};
#[cfg(feature = "test-hooks")]
pub use test_hooks::{ExpireNow, InjectPanic, SetArchiveThreshold};
pub use views::{ReservationView, RowView, SeatMapView, SeatView, SectionView, TicketView};

use actix::prelude::*;
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::SeatCounts;
use boxoffice_engine::Timestamp;
use boxoffice_storage::StoreError;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crate::booking_events::{booking_events, BookingEvent};
use crate::card_payments::record::is_card_payment;
use crate::context::EngineContext;
use crate::error::{EngineError, EngineResult};
use crate::idempotency::{
    key_writer, IdemRecord, IdemState, KeyPacing, WrittenKey, ARCHIVE_AFTER_MS,
};
use crate::journal::{Committed, Journal, Waiter};
use crate::queue_link::{QueueAdmitted, QueueLink, ResendAdmissions};
use crate::seat_board::SeatBoard;
use crate::seat_feed::{seat_changes, SeatFeed};

/// Longest the expiry timer sleeps before looking at the clock again, so an
/// injected clock that jumps ahead is noticed within a second.
const MAX_TIMER_SLEEP_MS: i64 = 1_000;

/// Expiry batches (each at most `MAX_EXPIRE_BATCH` holds) one turn of the
/// actor runs before it serves its mailbox again.
const SWEEP_BATCHES_PER_TURN: usize = 1;

/// A schedule snapshots only once its log since the last snapshot holds this
/// many times that snapshot's bytes (and the configured interval of events):
/// snapshots then cost at most about half of what logging costs, however
/// large the schedule, and recovery replays at most about twice the state.
pub const SNAPSHOT_LOG_TO_STATE_RATIO: u64 = 2;

/// How often (by the engine clock), at most, a schedule with an archive
/// writer offers it the ended reservations piled up (see `archive.rs`).
/// Offers go on between snapshots, so a snapshot holds at most about the
/// threshold and one batch of ended reservations, not the whole interval's
/// (issue 21: at 5,900 holds/s, ~40,000 of a snapshot's ~46,000
/// reservations were ended ones awaiting the archive).
pub const ARCHIVE_OFFER_EVERY_MS: i64 = 250;

pub struct ScheduleActor {
    id: ScheduleId,
    engine: EngineContext,
    /// `None` only if a reload from storage failed: then every request is `Unavailable`.
    state: Option<ScheduleState>,
    journal: Journal<ScheduleLogEvent>,
    /// ACTIVE queue tokens pushed by the queue actor: token -> (user, active until).
    admitted: HashMap<QueueTokenId, (UserId, Timestamp)>,
    queue: QueueLink,
    timer: Option<(Timestamp, SpawnHandle)>,
    /// Set when engine code panicked: the actor must reload before serving again.
    poisoned: bool,
    /// Ended reservations that must pile up before a snapshot archives them
    /// (`EngineConfig::archive_after_ended`; the `SetArchiveThreshold` test hook lowers it).
    archive_threshold: usize,
    /// An archive batch is with the archive writer (at most one at a time).
    archive_in_flight: bool,
    /// The engine time before which the actor offers no archive batch
    /// between snapshots (see [`ARCHIVE_OFFER_EVERY_MS`]).
    next_archive_offer: Timestamp,
    /// A key batch is with the key writer (at most one at a time).
    keys_in_flight: bool,
    /// The engine time before which the actor offers no key batch (see
    /// `idempotency/key_writer.rs`).
    next_key_offer: Timestamp,
    /// Decided keys up to this time were offered (or written) already.
    keys_offered_through: Timestamp,
    /// Keys written to the key store that the table forgets at the next
    /// snapshot.
    keys_written: Vec<WrittenKey>,
    /// Bumped at each restart: a batch's completion from before a restart
    /// changes nothing (its reservations, or keys, are archived again later).
    generation: u64,
    /// Where the seat counts are published for listings (see `seat_board`).
    seats: Arc<SeatBoard>,
    /// Where durable seat changes are published for the seat stream (see `seat_feed`).
    feed: Arc<SeatFeed>,
}

impl ScheduleActor {
    pub fn new(
        state: ScheduleState,
        engine: EngineContext,
        queue: QueueLink,
        seats: Arc<SeatBoard>,
        feed: Arc<SeatFeed>,
    ) -> Self {
        let id = state.schedule.id();
        let mut journal = Journal::new(
            log_name(id),
            engine.commit.clone(),
            engine.config.snapshot_every_events,
        );
        journal.amortize_snapshots(SNAPSHOT_LOG_TO_STATE_RATIO);
        journal.attach_outbox(Arc::clone(&engine.outbox));
        if let Some(trimmer) = &engine.log_trimmer {
            journal.trim_in_background(Arc::clone(trimmer));
        }
        let archive_threshold = engine.config.archive_after_ended;
        ScheduleActor {
            id,
            engine,
            state: Some(state),
            journal,
            admitted: HashMap::new(),
            queue,
            timer: None,
            poisoned: false,
            archive_threshold,
            archive_in_flight: false,
            next_archive_offer: Timestamp::MIN,
            keys_in_flight: false,
            next_key_offer: Timestamp::MIN,
            keys_offered_through: Timestamp::MIN,
            keys_written: Vec::new(),
            generation: 0,
            seats,
            feed,
        }
    }

    /// Publishes the seat counts as the state now has them (see `seat_board`
    /// for when); zeros for an actor whose reload failed, as `GetCounts` answers.
    fn publish_counts(&self) {
        self.seats.publish(counts_of(self.state.as_ref()));
        let cancelled = self
            .state
            .as_ref()
            .is_some_and(|s| s.schedule.is_cancelled());
        self.seats.publish_cancelled(cancelled);
    }

    fn now(&self) -> Timestamp {
        self.engine.clock.now()
    }

    /// Runs engine code with panics contained. After a panic the actor is
    /// marked poisoned; the handler then calls [`Self::after_panic`].
    fn guarded<T>(&mut self, f: impl FnOnce(&mut ScheduleState) -> T) -> EngineResult<T> {
        let state = self.state.as_mut().ok_or(EngineError::Unavailable)?;
        match catch_unwind(AssertUnwindSafe(|| f(state))) {
            Ok(value) => Ok(value),
            Err(_) => {
                self.poisoned = true;
                Err(EngineError::Internal(format!(
                    "schedule {} failed; it is reloading from storage",
                    self.id
                )))
            }
        }
    }

    fn after_panic(&mut self, ctx: &mut Context<Self>) {
        if self.poisoned {
            tracing::error!(schedule = %self.id, "engine panic contained; restarting the schedule actor from storage");
            self.journal.abandon(&StoreError::Io(
                "schedule actor restarted after a fault".into(),
            ));
            ctx.stop();
        }
    }

    /// Stages events, an idempotency record and a reply released once
    /// durable; schedules the commit.
    fn stage(
        &mut self,
        ctx: &mut Context<Self>,
        events: Vec<ScheduleLogEvent>,
        idem: Option<IdemRecord>,
        waiter: Option<Waiter>,
    ) {
        self.stage_at(ctx, events, idem, waiter, ReplyAt::Durable);
    }

    /// [`Self::stage`] with the reply released at `at` (see [`ReplyAt`]).
    fn stage_at(
        &mut self,
        ctx: &mut Context<Self>,
        events: Vec<ScheduleLogEvent>,
        idem: Option<IdemRecord>,
        waiter: Option<Waiter>,
        at: ReplyAt,
    ) {
        // The shared index learns an idempotency record when the reply goes.
        // For a request's own reply the caller records it too; for what
        // start-up recovery decides (a saga's end, a released key) this is
        // the only way. A reply released at append carries only a begun
        // saga's InProgress mark (the caller's index entry already says so):
        // publishing it needs no flush of its own, which would otherwise
        // delay the flush the saga's last step waits for.
        let publish = match (&idem, self.state.as_mut()) {
            (Some(record), Some(state)) => {
                debug_assert!(
                    at == ReplyAt::Durable || matches!(record.state, IdemState::InProgress),
                    "only an InProgress mark may be published before it is durable"
                );
                state.idempotency.apply(record);
                let (index, record) = (Arc::clone(&self.engine.idempotency), record.clone());
                Some(move |durable: &Result<(), StoreError>| {
                    if durable.is_ok() {
                        index.restore(&record);
                    }
                })
            }
            _ => None,
        };
        let waiter: Option<Waiter> = match publish {
            Some(publish) => Some(Box::new(move |durable: Result<(), StoreError>| {
                publish(&durable);
                if let Some(waiter) = waiter {
                    waiter(durable);
                }
            })),
            None => waiter,
        };
        // Every change to the seats comes with events staged here: publish it.
        self.publish_counts();
        // The seat stream hears of it once durable, whenever the reply goes:
        // staged first, so subscribers hear before the requester is answered.
        let mut schedule_commit = match self.feed_waiter(&events) {
            Some(feed) => {
                self.journal
                    .stage_at(std::iter::empty(), None, Some(feed), ReplyAt::Durable)
            }
            None => false,
        };
        // Their booking events go in the same batch (see `booking_events`).
        let booking = self.booking_events_of(&events);
        self.journal.stage_booking_events(booking);
        schedule_commit |= self.journal.stage_at(events, idem, waiter, at);
        if schedule_commit {
            ctx.notify(CommitBatch);
        }
        if self.journal.is_full() {
            self.commit(ctx);
        }
    }

    /// The waiter that publishes `events`' seat changes on the feed once
    /// they are durable (None when they change no seat). A batch of expiries
    /// thereby asks for a flush of its own, so freed seats reach the stream
    /// within a second even when nothing else is written.
    fn feed_waiter(&self, events: &[ScheduleLogEvent]) -> Option<Waiter> {
        let state = self.state.as_ref()?;
        let changes: Vec<_> = events
            .iter()
            .filter_map(|event| match event {
                ScheduleLogEvent::Engine(event) => Some(seat_changes(&state.schedule, event)),
                ScheduleLogEvent::PaymentStarted { .. } => None,
            })
            .flatten()
            .collect();
        if changes.is_empty() {
            return None;
        }
        let feed = Arc::clone(&self.feed);
        Some(Box::new(move |durable: Result<(), StoreError>| {
            if durable.is_ok() {
                feed.publish(changes);
            }
        }))
    }

    /// The booking events of `events`, from the state right after them.
    fn booking_events_of(&self, events: &[ScheduleLogEvent]) -> Vec<BookingEvent> {
        let Some(state) = self.state.as_ref() else {
            return Vec::new();
        };
        // A card payment's record is durable before its payment begins
        // (`card_payments`), so it is there whenever its payment ends.
        let store = self.engine.commit.store();
        let by_card = |payment_id| {
            is_card_payment(store.as_ref(), payment_id).unwrap_or_else(|err| {
                tracing::error!(%payment_id, %err, "could not read whether a payment is a card's; its event says WALLET");
                false
            })
        };
        events
            .iter()
            .flat_map(|event| match event {
                ScheduleLogEvent::Engine(event) => {
                    booking_events(&state.schedule, event, &self.engine.ids, &by_card)
                }
                ScheduleLogEvent::PaymentStarted { .. } => Vec::new(),
            })
            .collect()
    }

    fn commit(&mut self, ctx: &mut Context<Self>) {
        let committed = match self.journal.commit() {
            Ok(committed) => committed,
            Err(err) => {
                // Memory is now ahead of the log. Every staged reply was told; reload.
                tracing::error!(schedule = %self.id, %err, "log append failed; restarting from storage");
                ctx.stop();
                return;
            }
        };
        if matches!(committed, Committed::Record { .. }) {
            self.offer_keys(ctx);
            self.offer_archive(ctx);
        }
        if let Committed::Record {
            lsn,
            snapshot_due: true,
        } = committed
        {
            self.snapshot(ctx, lsn);
        }
    }

    /// Writes the table's due idempotency keys to the key store (see
    /// `idempotency/key_writer.rs`), at most every `KEY_OFFER_EVERY_MS` and
    /// one batch at a time: hands them to the key writer or, without one,
    /// writes them here. Either way the table forgets them at the next
    /// snapshot once they are written. Called right after a commit: every
    /// record in the table has then been appended to the log, so its
    /// key-store entry comes after it in the store's order.
    fn offer_keys(&mut self, ctx: &mut Context<Self>) {
        let now = self.now();
        if self.keys_in_flight || now < self.next_key_offer {
            return;
        }
        self.next_key_offer = now.plus_millis(key_writer::KEY_OFFER_EVERY_MS);
        // Younger keys stay: their request may not have recorded its reply
        // in the index yet (see `ARCHIVE_AFTER_MS`).
        let (after, through) = (
            self.keys_offered_through,
            now.plus_millis(-ARCHIVE_AFTER_MS),
        );
        let records = match self.guarded(|s| s.idempotency.decided_between(after, through)) {
            Ok(records) => records,
            Err(_) => {
                self.after_panic(ctx);
                return;
            }
        };
        if records.is_empty() {
            self.keys_offered_through = through;
            return;
        }
        let Some(writer) = self.engine.key_writer.clone() else {
            let written = self.engine.idempotency.archive(
                &records,
                now,
                KeyPacing::INLINE,
                &self.engine.work_times.key_archive,
            );
            match written {
                Ok(written) => {
                    self.keys_written
                        .extend(written.into_iter().map(WrittenKey::from));
                    self.keys_offered_through = through;
                }
                // They stay in the table and its snapshots; the next offer retries.
                Err(err) => {
                    tracing::warn!(schedule = %self.id, %err, "archiving idempotency keys failed")
                }
            }
            return;
        };
        let done = self.written_callback(ctx);
        // A full queue: keep them; the next offer tries again.
        if writer
            .submit(key_writer::KeyBatch { records, now }, done)
            .is_ok()
        {
            self.keys_in_flight = true;
            self.keys_offered_through = through;
        }
    }

    /// Hands the ended reservations piled up to the archive writer between
    /// snapshots, at most every [`ARCHIVE_OFFER_EVERY_MS`] (the count is a
    /// scan) and one batch at a time. Called right after a commit, like
    /// [`Self::offer_keys`]: every reservation's ending is then appended to
    /// the log, so its archive entry comes after it in the store's order.
    /// Without a writer (deterministic runs) archiving stays at snapshots,
    /// where forgetting and the snapshot recording it are one step.
    fn offer_archive(&mut self, ctx: &mut Context<Self>) {
        let now = self.now();
        if self.engine.archive_writer.is_none()
            || self.archive_in_flight
            || now < self.next_archive_offer
        {
            return;
        }
        self.next_archive_offer = now.plus_millis(ARCHIVE_OFFER_EVERY_MS);
        // False only after a failure `archive_ended` logged (or a panic it
        // handled); the next offer or snapshot retries.
        let _ = self.archive_ended(ctx);
    }

    /// Tidies the state (ended reservations to the archive, see
    /// `archive.rs`; idempotency keys already in the key store, see
    /// [`Self::offer_keys`], and those past retention out of the table) and
    /// snapshots it as covering `lsn`. A failed archive or snapshot is only
    /// logged: the log still holds everything and the next snapshot retries.
    fn snapshot(&mut self, ctx: &mut Context<Self>, lsn: boxoffice_storage::Lsn) {
        if self.state.is_none() {
            return;
        }
        let now = self.now();
        let written = std::mem::take(&mut self.keys_written);
        let tidied = self.guarded(|s| {
            s.idempotency.prune(now);
            s.idempotency.forget_archived(&written);
        });
        if tidied.is_err() {
            self.after_panic(ctx);
            return;
        }
        if !self.archive_ended(ctx) {
            return;
        }
        if let Some(state) = self.state.as_ref() {
            let times = &self.engine.work_times;
            let written = times.snapshot.time(|| {
                self.journal
                    .snapshot_timed(lsn, state, &times.snapshot_encode, &times.log_trim)
            });
            if let Err(err) = written {
                tracing::warn!(schedule = %self.id, %err, "snapshot failed");
            }
        }
    }

    /// Moves ended reservations to the archive once enough have piled up:
    /// hands a batch to the archive writer (they are forgotten when it
    /// comes back written), or, without one, writes and forgets
    /// them here. False when the snapshot must be skipped (an inline write
    /// failed, or engine code panicked).
    fn archive_ended(&mut self, ctx: &mut Context<Self>) -> bool {
        if self.archive_in_flight {
            return true;
        }
        let threshold = self.archive_threshold;
        let per_write = self.engine.config.archive_reservations_per_write;
        let times = Arc::clone(&self.engine.work_times);
        let batch = self.guarded(|s| {
            if s.schedule.ended_reservations().count() < threshold {
                return Ok(None);
            }
            times
                .archive_prepare
                .time(|| archive::ArchiveBatch::prepare(&s.schedule, per_write))
                .map(Some)
        });
        let batch = match batch {
            Ok(Ok(Some(batch))) => batch,
            Ok(Ok(None)) => return true,
            Ok(Err(err)) => {
                tracing::warn!(schedule = %self.id, %err, "rendering ended reservations failed; snapshot skipped");
                return false;
            }
            Err(_) => {
                self.after_panic(ctx);
                return false;
            }
        };
        let Some(writer) = self.engine.archive_writer.clone() else {
            let written = batch.write(
                self.journal.store().as_ref(),
                &self.engine.work_times.archive_write,
            );
            return self.forget_archived(ctx, batch, written);
        };
        let done = self.written_callback(ctx);
        // A full queue: keep them; the next snapshot offers them again.
        self.archive_in_flight = writer.submit(batch, done).is_ok();
        true
    }

    /// Forgets the reservations of a written batch (false if it was not written).
    fn forget_archived(
        &mut self,
        ctx: &mut Context<Self>,
        batch: archive::ArchiveBatch,
        written: Result<(), StoreError>,
    ) -> bool {
        if let Err(err) = written {
            tracing::warn!(schedule = %self.id, %err, "archiving ended reservations failed; snapshot skipped");
            return false;
        }
        let directory = Arc::clone(&self.engine.directory);
        let times = Arc::clone(&self.engine.work_times);
        let forgot = self.guarded(|s| {
            // Ended reservations never change and nothing else forgets
            // them, so every one the batch wrote is still here.
            let forgotten =
                (times.archive_forget).time(|| s.schedule.forget_ended_among(&batch.ids()));
            assert_eq!(
                forgotten,
                batch.archived.len(),
                "forgot exactly what was archived"
            );
            directory.forget_archived(&batch.archived);
            s.archived += forgotten as u64;
        });
        if forgot.is_err() {
            self.after_panic(ctx);
            return false;
        }
        true
    }

    /// Expires due holds, at most `batches` engine batches
    /// (`MAX_EXPIRE_BATCH` reservations each) in this turn; returns how
    /// many reservations expired. When holds are still due after that, a
    /// [`ContinueSweep`] comes back through the mailbox, so the holds and
    /// payments queued meanwhile are served between batches instead of
    /// waiting behind a mass expiry.
    fn sweep(&mut self, ctx: &mut Context<Self>, batches: usize) -> u32 {
        let now = self.now();
        let mut expired = 0u32;
        for _ in 0..batches {
            match self.guarded(|s| s.schedule.expire_due(now)) {
                Ok(Some(event)) => {
                    if let boxoffice_engine::schedule::ScheduleEvent::Expired {
                        reservation_ids,
                        ..
                    } = &event
                    {
                        expired += reservation_ids.len() as u32;
                    }
                    self.stage(ctx, vec![ScheduleLogEvent::Engine(event)], None, None);
                }
                Ok(None) => break,
                Err(_) => {
                    self.after_panic(ctx);
                    return expired;
                }
            }
        }
        let still_due = self
            .state
            .as_ref()
            .and_then(|s| s.schedule.next_deadline())
            .is_some_and(|deadline| deadline <= now);
        if still_due {
            ctx.notify(ContinueSweep);
        }
        self.forget_old_admissions(now);
        expired
    }

    /// Admissions are kept past their active time because a hold made under
    /// the token may still be paid until its own expiry; after that they are useless.
    fn forget_old_admissions(&mut self, now: Timestamp) {
        let Some(state) = self.state.as_ref() else {
            return;
        };
        let grace = state.schedule.rules().hold_ms;
        self.admitted
            .retain(|_, (_, until)| until.plus_millis(grace) > now);
    }

    /// Keeps one timer at the earliest hold deadline (not one per hold).
    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(deadline) = self.state.as_ref().and_then(|s| s.schedule.next_deadline()) else {
            return;
        };
        if let Some((armed, _)) = self.timer {
            if armed <= deadline {
                return;
            }
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let delay = deadline
            .millis_since(self.now())
            .clamp(0, MAX_TIMER_SLEEP_MS);
        let handle = ctx.run_later(Duration::from_millis(delay as u64), |actor, ctx| {
            actor.timer = None;
            actor.sweep(ctx, SWEEP_BATCHES_PER_TURN);
            actor.arm_timer(ctx);
        });
        self.timer = Some((deadline, handle));
    }

    /// True if `token` is an ACTIVE admission of `user` now (for holds and seat maps).
    fn queue_allows_hold(&self, user: UserId, token: Option<QueueTokenId>, now: Timestamp) -> bool {
        let gated = self.state.as_ref().is_some_and(|s| s.is_gated());
        !gated
            || token
                .and_then(|t| self.admitted.get(&t))
                .is_some_and(|(owner, until)| *owner == user && *until > now)
    }

    /// True if `token` was admitted for `user` and not yet used by a payment:
    /// a hold made under it may be paid until the hold's own expiry.
    fn queue_allows_payment(&self, user: UserId, token: Option<QueueTokenId>) -> bool {
        let gated = self.state.as_ref().is_some_and(|s| s.is_gated());
        !gated
            || token
                .and_then(|t| self.admitted.get(&t))
                .is_some_and(|(owner, _)| *owner == user)
    }
}

impl Actor for ScheduleActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Also after a restart: `restarting` reloaded the state (or lost it).
        self.publish_counts();
        self.arm_timer(ctx);
        if let Some(state) = self.state.as_ref().filter(|s| s.is_gated()) {
            self.queue.resend.do_send(ResendAdmissions {
                schedule_id: self.id,
                to: ctx.address().recipient::<QueueAdmitted>(),
                grace_ms: state.schedule.rules().hold_ms,
            });
        }
    }
}

impl Supervised for ScheduleActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.timer = None;
        self.generation += 1;
        self.archive_in_flight = false;
        self.next_archive_offer = Timestamp::MIN;
        self.keys_in_flight = false;
        self.next_key_offer = Timestamp::MIN;
        self.keys_offered_through = Timestamp::MIN;
        self.keys_written.clear();
        self.poisoned = false;
        self.admitted.clear();
        self.journal
            .abandon(&StoreError::Io("schedule actor restarted".into()));
        let log = log_name(self.id);
        match ScheduleState::load(self.journal.store().as_ref(), &log) {
            Ok(state) => {
                state.publish(&self.engine.directory, &self.engine.idempotency);
                self.state = Some(state);
                tracing::info!(schedule = %self.id, "schedule actor reloaded from storage");
            }
            Err(err) => {
                tracing::error!(schedule = %self.id, %err, "schedule could not be reloaded; it answers Unavailable");
                self.state = None;
            }
        }
        self.publish_counts();
    }
}

/// A schedule state's seat counts; all zeros without a state (a failed reload).
pub(crate) fn counts_of(state: Option<&ScheduleState>) -> SeatCounts {
    state.map(|s| s.schedule.counts()).unwrap_or(SeatCounts {
        total: 0,
        available: 0,
        held: 0,
        sold: 0,
    })
}

/// Internal: more holds are due than one turn of the sweep expires.
struct ContinueSweep;
impl Message for ContinueSweep {
    type Result = ();
}

impl Handler<ContinueSweep> for ScheduleActor {
    type Result = ();
    fn handle(&mut self, _: ContinueSweep, ctx: &mut Context<Self>) {
        self.sweep(ctx, SWEEP_BATCHES_PER_TURN);
        self.arm_timer(ctx);
    }
}

/// Internal: a background writer wrote (or failed to write) a batch (see
/// [`ScheduleActor::written_callback`]).
struct Written<B> {
    generation: u64,
    batch: B,
    written: Result<(), StoreError>,
}
impl<B: 'static> Message for Written<B> {
    type Result = ();
}

impl ScheduleActor {
    /// The callback that brings a batch back from its background writer to
    /// this actor, tagged with the actor's generation (a batch from before
    /// a restart changes nothing).
    fn written_callback<B: Send + 'static>(
        &self,
        ctx: &mut Context<Self>,
    ) -> crate::store_writer::WriteDone<B>
    where
        Self: Handler<Written<B>>,
    {
        let (addr, generation) = (ctx.address(), self.generation);
        Box::new(move |batch, written| {
            addr.do_send(Written {
                generation,
                batch,
                written,
            });
        })
    }
}

impl Handler<Written<archive::ArchiveBatch>> for ScheduleActor {
    type Result = ();
    fn handle(&mut self, msg: Written<archive::ArchiveBatch>, ctx: &mut Context<Self>) {
        if msg.generation != self.generation || self.state.is_none() {
            return;
        }
        self.archive_in_flight = false;
        // The next snapshot records the smaller state.
        self.forget_archived(ctx, msg.batch, msg.written);
    }
}

impl Handler<Written<key_writer::KeyBatch>> for ScheduleActor {
    type Result = ();
    fn handle(&mut self, msg: Written<key_writer::KeyBatch>, _: &mut Context<Self>) {
        if msg.generation != self.generation || self.state.is_none() {
            return;
        }
        self.keys_in_flight = false;
        if let Err(err) = msg.written {
            // Offer them (and any younger ones) again; the table and its
            // snapshots keep them meanwhile.
            tracing::warn!(schedule = %self.id, %err, "archiving idempotency keys failed");
            self.keys_offered_through = Timestamp::MIN;
            return;
        }
        // Forgotten at the next snapshot, which records the smaller table.
        self.keys_written
            .extend(msg.batch.records.into_iter().map(WrittenKey::from));
    }
}

/// Internal: write the staged batch.
struct CommitBatch;
impl Message for CommitBatch {
    type Result = ();
}

impl Handler<CommitBatch> for ScheduleActor {
    type Result = ();
    fn handle(&mut self, _: CommitBatch, ctx: &mut Context<Self>) {
        self.commit(ctx);
    }
}
