//! `QueueActor`: the virtual waiting room of every schedule.
//!
//! One actor owns one engine [`Queue`] per schedule (ungated schedules get a
//! disabled queue, which admits at once). Joins and admissions are logged like
//! any other actor's events. When a batch is admitted, and only once that is
//! durable, the admitted tokens are pushed to the schedule's actor, which then
//! checks Queue-Tokens on holds locally: the waiting room adds no actor round
//! trip to a hold. The schedule actor tells us when a payment ends a token.
//!
//! Polls never reach this actor: it publishes each schedule's line on a
//! [`QueueBoard`] (after each change is durable), which polls read and on
//! which they record their poll times. Before dropping tokens that look
//! silent, a tick reads those poll times back (`sync_polls`). After a restart
//! every waiting token gets a fresh grace period rather than being dropped
//! for polls we did not record.
//!
//! This module never names the schedule actor: it finds a schedule's
//! `Recipient<QueueAdmitted>` in the shared [`ScheduleTable`], and the
//! messages both ways are those of [`crate::queue_link`].

use actix::prelude::*;
use boxoffice_engine::ids::*;
use boxoffice_engine::queue::{
    Queue, QueueConfig, QueueEvent, QueueToken, TokenStatus, TokenView, MAX_TOKENS_PER_EVENT,
    MAX_WAITING, WAITING_DROP_MS,
};
use boxoffice_engine::Timestamp;
use boxoffice_storage::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

use crate::context::EngineContext;
use crate::error::{EngineError, EngineResult, Missing};
use crate::journal::{read_history, reply_when_durable, Journal, Pending, Waiter};
use crate::memory_release;
use crate::queue_board::{place_tag, LineTotals, Place, QueueBoard, QueuePass, SlotChange};
use crate::queue_link::{EndQueueToken, QueueAdmitted, ResendAdmissions};
use crate::routing::ScheduleTable;

pub const LOG_NAME: &str = "queue";
const MAX_TIMER_SLEEP_MS: i64 = 1_000;
/// The queue snapshots once the log since its last snapshot holds as many
/// bytes as that snapshot (`Journal::amortize_snapshots`), not twice as
/// many as a schedule does: every join record stays in sled's memory until
/// the next snapshot trims it, and at ratio 2 that log tail was ~100 B of a
/// waiting user's ~600 (issue 13). Snapshots then cost at most about what
/// the joins' logging costs, and recovery replays at most about the state.
const LOG_TO_SNAPSHOT_RATIO: u64 = 1;
/// Joins between two memory releases (`memory_release`) during a burst:
/// each join's transient buffers (its record, the batch it is encoded in)
/// are freed on this thread, and a release every few thousand costs well
/// under a millisecond per thousand joins.
const JOINS_PER_MEMORY_RELEASE: u32 = 8_192;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum QueueLogEvent {
    Configured {
        schedule_id: ScheduleId,
        config: QueueConfig,
    },
    Event {
        schedule_id: ScheduleId,
        event: QueueEvent,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueState {
    pub queues: HashMap<ScheduleId, Queue>,
}

impl QueueState {
    pub fn apply(&mut self, entry: &QueueLogEvent) {
        match entry {
            QueueLogEvent::Configured {
                schedule_id,
                config,
            } => {
                self.queues.insert(*schedule_id, Queue::new(config.clone()));
            }
            QueueLogEvent::Event { schedule_id, event } => {
                if let Some(queue) = self.queues.get_mut(schedule_id) {
                    queue.apply(event);
                }
            }
        }
    }

    pub fn load(
        store: &dyn boxoffice_storage::Store,
        now: Timestamp,
    ) -> Result<QueueState, StoreError> {
        let history = read_history::<QueueState, QueueLogEvent>(store, LOG_NAME)?;
        let records = history.records;
        let mut state = history.snapshot.map(|(_, s)| s).unwrap_or_default();
        for record in records {
            for event in &record.events {
                state.apply(event);
            }
        }
        for queue in state.queues.values_mut() {
            queue.after_recovery(now);
        }
        Ok(state)
    }
}

/// A token as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueTicket {
    pub schedule_id: ScheduleId,
    pub view: TokenView,
    /// What the token proves (the HTTP layer signs it into the token string).
    pub pass: QueuePass,
    /// False when joining again returned the existing place.
    pub created: bool,
}

/// Rounds of `sync_polls` per tick: each revives up to `MAX_TOKENS_PER_EVENT`
/// tokens, which then cannot look silent again within the tick, so this
/// covers a full line.
const MAX_SYNC_ROUNDS: usize = MAX_WAITING / MAX_TOKENS_PER_EVENT + 2;

pub struct QueueActor {
    engine: EngineContext,
    state: QueueState,
    journal: Journal<QueueLogEvent>,
    schedules: Arc<ScheduleTable>,
    /// Each schedule's published line (see `queue_board`).
    boards: HashMap<ScheduleId, Arc<QueueBoard>>,
    timer: Option<(Timestamp, SpawnHandle)>,
    /// Joins handled since this thread last released memory.
    joins_since_release: u32,
}

impl QueueActor {
    pub fn new(state: QueueState, engine: EngineContext, schedules: Arc<ScheduleTable>) -> Self {
        let mut journal = Journal::new(
            LOG_NAME.to_string(),
            engine.commit.clone(),
            engine.config.snapshot_every_events,
        );
        // A crowd makes the queue's state large (100,000 waiting users are
        // megabytes): snapshot it in proportion to the log written, never
        // every `snapshot_every_events` joins.
        journal.amortize_snapshots(LOG_TO_SNAPSHOT_RATIO);
        QueueActor {
            engine,
            state,
            journal,
            schedules,
            boards: HashMap::new(),
            timer: None,
            joins_since_release: 0,
        }
    }

    fn stage(
        &mut self,
        ctx: &mut Context<Self>,
        events: Vec<QueueLogEvent>,
        waiter: Option<Waiter>,
    ) {
        if self.journal.stage(events, None, waiter) {
            ctx.notify(CommitQueue);
        }
    }

    /// What must happen once `events` (just applied) are durable: admissions
    /// pushed to the schedule, and every change published on the board. Only
    /// then, so a crash can never leave a schedule honouring, or a poll
    /// showing, a change the queue has forgotten.
    fn after_durable(&self, schedule_id: ScheduleId, events: &[QueueEvent]) -> Option<Waiter> {
        let queue = self.state.queues.get(&schedule_id)?;
        let push = self.push_admissions(schedule_id, queue, events);
        let board = self.boards.get(&schedule_id).map(Arc::clone);
        let changes = slot_changes(queue, events);
        let totals = line_totals(queue);
        Some(Box::new(move |durable: Result<(), StoreError>| {
            if durable.is_err() {
                return;
            }
            if let Some(board) = board {
                board.apply(&changes);
                board.publish(totals);
            }
            if let Some(push) = push {
                push();
            }
        }))
    }

    fn push_admissions(
        &self,
        schedule_id: ScheduleId,
        queue: &Queue,
        events: &[QueueEvent],
    ) -> Option<impl FnOnce() + Send + 'static> {
        let tokens: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                QueueEvent::Admitted { tokens, until, .. } => Some((tokens, *until)),
                _ => None,
            })
            .flat_map(|(tokens, until)| {
                tokens
                    .iter()
                    .filter_map(move |&t| queue.token(t).map(|tok| (t, tok.user, until)))
            })
            .collect();
        if tokens.is_empty() {
            return None;
        }
        let schedule = self.schedules.admissions(schedule_id)?;
        Some(move || schedule.do_send(QueueAdmitted { tokens }))
    }

    /// At `bookingOpensAt` the pre-queue is placed in the line in a random
    /// order, before anyone joins or is admitted after it. The seed comes
    /// from the injected random source and is logged with the event, so
    /// replaying the log (after a restart) gives the very same order; the
    /// admissions that follow are in later records, so no admission from it
    /// can be durable before the shuffle is.
    fn shuffle_if_due(
        queue: &mut Queue,
        engine: &EngineContext,
        now: Timestamp,
    ) -> Option<QueueEvent> {
        if !queue.shuffle_due(now) {
            return None;
        }
        let seed = u64::from_le_bytes(engine.ids.bytes::<8>());
        queue.shuffle_pre_queue(seed, now)
    }

    /// Polls went to the board, not here: before `tick` drops the tokens it
    /// thinks silent, record the polls the board saw. Loops until a round
    /// revives nobody, so the tokens `tick` then drops are exactly ones that
    /// really stopped polling.
    fn sync_polls(queue: &mut Queue, board: &QueueBoard, now: Timestamp) {
        let cutoff = now.plus_millis(-WAITING_DROP_MS);
        for _ in 0..MAX_SYNC_ROUNDS {
            let silent = queue.silent_tokens(cutoff, MAX_TOKENS_PER_EVENT);
            let mut revived = 0usize;
            for token in silent {
                let Some(seq) = queue.token(token).map(|t| t.seq) else {
                    continue;
                };
                if let Some(polled) = board.last_poll(seq).filter(|&at| at > cutoff) {
                    if queue.touch(token, polled).is_ok() {
                        revived += 1;
                    }
                }
            }
            if revived == 0 {
                return;
            }
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.engine.clock.now();
        let ids: Vec<ScheduleId> = self.state.queues.keys().copied().collect();
        for schedule_id in ids {
            let Some(queue) = self.state.queues.get_mut(&schedule_id) else {
                continue;
            };
            if let Some(board) = self.boards.get(&schedule_id) {
                Self::sync_polls(queue, board, now);
                // The rate moves with time even without events.
                board.publish(line_totals(queue));
            }
            let mut events: Vec<QueueEvent> = Self::shuffle_if_due(queue, &self.engine, now)
                .into_iter()
                .collect();
            events.extend(queue.tick(now));
            if events.is_empty() {
                continue;
            }
            let push = self.after_durable(schedule_id, &events);
            let logged = events
                .into_iter()
                .map(|event| QueueLogEvent::Event { schedule_id, event })
                .collect();
            self.stage(ctx, logged, push);
        }
    }

    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(next) = self
            .state
            .queues
            .values()
            .filter_map(|q| q.next_tick_at())
            .min()
        else {
            return;
        };
        if let Some((armed, _)) = self.timer {
            if armed <= next {
                return;
            }
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let delay = next
            .millis_since(self.engine.clock.now())
            .clamp(0, MAX_TIMER_SLEEP_MS);
        let handle = ctx.run_later(Duration::from_millis(delay as u64), |actor, ctx| {
            actor.timer = None;
            actor.tick(ctx);
            actor.arm_timer(ctx);
        });
        self.timer = Some((next, handle));
    }

    fn ticket(
        &self,
        schedule_id: ScheduleId,
        token: QueueTokenId,
        created: bool,
    ) -> EngineResult<QueueTicket> {
        let now = self.engine.clock.now();
        let queue = self
            .state
            .queues
            .get(&schedule_id)
            .ok_or(EngineError::NotFound(Missing::Schedule))?;
        let view = queue
            .view(token, now)
            .ok_or(EngineError::QueueTokenInvalid)?;
        let record = queue.token(token).ok_or(EngineError::QueueTokenInvalid)?;
        Ok(QueueTicket {
            schedule_id,
            view,
            pass: pass_of(schedule_id, &record),
            created,
        })
    }
}

impl Actor for QueueActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.arm_timer(ctx);
    }
}

struct CommitQueue;
impl Message for CommitQueue {
    type Result = ();
}

impl Handler<CommitQueue> for QueueActor {
    type Result = ();
    fn handle(&mut self, _: CommitQueue, ctx: &mut Context<Self>) {
        match self.journal.commit_and_snapshot(&mut self.state, |_| {}) {
            // A crowd's snapshot is megabytes, encoded and copied on this
            // thread, and a join burst leaves its buffers: give those pages
            // back now rather than keep them for a peak that has passed.
            Ok(snapshot) => {
                if snapshot || self.joins_since_release >= JOINS_PER_MEMORY_RELEASE {
                    self.joins_since_release = 0;
                    memory_release::release_retained();
                }
            }
            // Fail-stop: the queue's memory is ahead of its log. The group
            // commit is poisoned too, so the process must restart.
            Err(err) => tracing::error!(%err, "queue log append failed"),
        }
        self.arm_timer(ctx);
    }
}

/// Makes sure a schedule has a queue (idempotent), published on `board`.
pub struct ConfigureQueue {
    pub schedule_id: ScheduleId,
    pub config: QueueConfig,
    pub board: Arc<QueueBoard>,
    /// The schedule's hold lifetime: how long an admitted user is expected
    /// to stay until exits are measured (`Queue::expect_stay_ms`).
    pub hold_ms: i64,
}
impl Message for ConfigureQueue {
    type Result = Pending<()>;
}

impl Handler<ConfigureQueue> for QueueActor {
    type Result = MessageResult<ConfigureQueue>;
    fn handle(&mut self, msg: ConfigureQueue, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let mut events = Vec::new();
        if self.state.queues.get(&msg.schedule_id).map(|q| q.config()) != Some(&msg.config) {
            let event = QueueLogEvent::Configured {
                schedule_id: msg.schedule_id,
                config: msg.config,
            };
            self.state.apply(&event);
            events.push(event);
        }
        if let Some(queue) = self.state.queues.get_mut(&msg.schedule_id) {
            // Not durable: given again at every start-up, which configures
            // every schedule's queue anew.
            queue.expect_stay_ms(msg.hold_ms);
            // What the queue holds is durable here (recovered, or nothing yet
            // for a new schedule): publish all of it at once.
            msg.board.apply(&every_place(queue));
            msg.board.publish(line_totals(queue));
        }
        self.boards.insert(msg.schedule_id, msg.board);
        self.stage(ctx, events, Some(reply_when_durable(tx, Ok(()))));
        MessageResult(rx)
    }
}

pub struct JoinQueue {
    pub schedule_id: ScheduleId,
    pub user: UserId,
}
impl Message for JoinQueue {
    type Result = Pending<QueueTicket>;
}

impl Handler<JoinQueue> for QueueActor {
    type Result = MessageResult<JoinQueue>;
    fn handle(&mut self, msg: JoinQueue, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.joins_since_release = self.joins_since_release.saturating_add(1);
        let now = self.engine.clock.now();
        let new_token = self.engine.ids.queue_token_id();
        let joined = match self.state.queues.get_mut(&msg.schedule_id) {
            None => Err(EngineError::NotFound(Missing::Schedule)),
            Some(queue) => {
                let shuffled = Self::shuffle_if_due(queue, &self.engine, now);
                queue
                    .join(msg.user, new_token, now)
                    .map(|mut outcome| {
                        outcome.events.splice(0..0, shuffled);
                        outcome
                    })
                    .map_err(EngineError::from)
            }
        };
        match joined {
            Err(err) => {
                let _ = tx.send(Err(err));
            }
            Ok(outcome) => {
                let schedule_id = msg.schedule_id;
                let push = self.after_durable(schedule_id, &outcome.events);
                let ticket = self.ticket(schedule_id, outcome.token, outcome.created);
                let reply = reply_when_durable(tx, ticket);
                let waiter: Waiter = match push {
                    Some(push) => Box::new(move |durable: Result<(), StoreError>| {
                        push(durable.clone());
                        reply(durable)
                    }),
                    None => reply,
                };
                let logged = outcome
                    .events
                    .into_iter()
                    .map(|event| QueueLogEvent::Event { schedule_id, event })
                    .collect();
                self.stage(ctx, logged, Some(waiter));
                self.arm_timer(ctx);
            }
        }
        MessageResult(rx)
    }
}

/// A schedule's payment used the token up (see [`crate::queue_link`]).
impl Handler<EndQueueToken> for QueueActor {
    type Result = ();
    fn handle(&mut self, msg: EndQueueToken, ctx: &mut Context<Self>) {
        let now = self.engine.clock.now();
        if let Some(event) = self
            .state
            .queues
            .get_mut(&msg.schedule_id)
            .and_then(|q| q.end_by_payment(msg.token, now))
        {
            let publish = self.after_durable(msg.schedule_id, std::slice::from_ref(&event));
            self.stage(
                ctx,
                vec![QueueLogEvent::Event {
                    schedule_id: msg.schedule_id,
                    event,
                }],
                publish,
            );
            self.arm_timer(ctx);
        }
    }
}

/// A (re)started schedule actor lost its admissions: push the payable ones again.
impl Handler<ResendAdmissions> for QueueActor {
    type Result = ();
    fn handle(&mut self, msg: ResendAdmissions, _: &mut Context<Self>) {
        if let Some(queue) = self.state.queues.get(&msg.schedule_id) {
            let cutoff = self.engine.clock.now().plus_millis(-msg.grace_ms);
            let tokens: Vec<_> = queue
                .payable_tokens_since(cutoff)
                .filter_map(|t| t.active_until.map(|until| (t.token, t.user, until)))
                .collect();
            if !tokens.is_empty() {
                msg.to.do_send(QueueAdmitted { tokens });
            }
        }
    }
}

/// Test hook: runs admissions and expiries now (the timer does this by
/// itself; manual-clock tests call it).
#[cfg(feature = "test-hooks")]
pub struct TickNow;
#[cfg(feature = "test-hooks")]
impl Message for TickNow {
    type Result = Pending<()>;
}

#[cfg(feature = "test-hooks")]
impl Handler<TickNow> for QueueActor {
    type Result = MessageResult<TickNow>;
    fn handle(&mut self, _: TickNow, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.tick(ctx);
        self.stage(ctx, Vec::new(), Some(reply_when_durable(tx, Ok(()))));
        self.arm_timer(ctx);
        MessageResult(rx)
    }
}

/// Test hook: answers once everything staged before it is durable, and so
/// published on the boards (their callbacks run first, in log order).
#[cfg(feature = "test-hooks")]
pub struct DurableBarrier;
#[cfg(feature = "test-hooks")]
impl Message for DurableBarrier {
    type Result = Pending<()>;
}

#[cfg(feature = "test-hooks")]
impl Handler<DurableBarrier> for QueueActor {
    type Result = MessageResult<DurableBarrier>;
    fn handle(&mut self, _: DurableBarrier, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.stage(ctx, Vec::new(), Some(reply_when_durable(tx, Ok(()))));
        MessageResult(rx)
    }
}

pub struct ExportQueueState;
impl Message for ExportQueueState {
    type Result = QueueState;
}

impl Handler<ExportQueueState> for QueueActor {
    type Result = MessageResult<ExportQueueState>;
    fn handle(&mut self, _: ExportQueueState, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.clone())
    }
}

/// Users waiting over every waiting room (for metrics).
pub struct QueueStats;
impl Message for QueueStats {
    type Result = usize;
}

impl Handler<QueueStats> for QueueActor {
    type Result = usize;
    fn handle(&mut self, _: QueueStats, _: &mut Context<Self>) -> Self::Result {
        self.state.queues.values().map(|q| q.waiting_len()).sum()
    }
}

/// The board changes `events` (just applied to `queue`) make.
fn slot_changes(queue: &Queue, events: &[QueueEvent]) -> Vec<SlotChange> {
    let seq = |token: &QueueTokenId| queue.token(*token).map(|t| t.seq);
    let mut changes = Vec::new();
    for event in events {
        match event {
            QueueEvent::Joined { token, user, at } => {
                changes.extend(seq(token).map(|seq| SlotChange::Waiting {
                    seq,
                    at: *at,
                    tag: place_tag(*token, *user),
                }));
            }
            QueueEvent::Admitted { tokens, until, .. } => changes.extend(
                tokens
                    .iter()
                    .filter_map(seq)
                    .map(|seq| SlotChange::Active { seq, until: *until }),
            ),
            QueueEvent::DroppedOut { tokens, at } | QueueEvent::ActiveExpired { tokens, at } => {
                changes.extend(
                    tokens
                        .iter()
                        .filter_map(seq)
                        .map(|seq| SlotChange::Expired { seq, at: *at }),
                )
            }
            QueueEvent::Ended { token, at } => {
                changes.extend(seq(token).map(|seq| SlotChange::Ended { seq, at: *at }));
            }
            QueueEvent::PreQueueJoined { token, user, .. } => {
                let index = queue.token(*token).and_then(|t| t.pre_queue_index);
                changes.extend(index.map(|index| SlotChange::PreQueued {
                    index,
                    tag: place_tag(*token, *user),
                }));
            }
            QueueEvent::PreQueueShuffled { at, .. } => {
                // Once, at opening: every pre-queue arrival gets its place.
                // Whatever later events of this batch did to them (an
                // admission in the same tick) follows in order below.
                let mut placed: Vec<_> = queue
                    .tokens()
                    .filter_map(|t| t.pre_queue_index.map(|index| (index, t)))
                    .filter(|(_, t)| t.status != TokenStatus::PreQueue)
                    .collect();
                placed.sort_by_key(|(_, t)| t.seq);
                for (index, t) in placed {
                    changes.push(SlotChange::Waiting {
                        seq: t.seq,
                        at: *at,
                        tag: place_tag(t.token, t.user),
                    });
                    changes.push(SlotChange::Placed { index, seq: t.seq });
                }
            }
        }
    }
    changes
}

/// What a token proves: a pre-queue arrival keeps its arrival number for
/// good (so its signed token never changes), anyone else their join number.
fn pass_of(schedule_id: ScheduleId, token: &QueueToken) -> QueuePass {
    QueuePass {
        schedule_id,
        user: token.user,
        token: token.token,
        place: token
            .pre_queue_index
            .map_or(Place::Line(token.seq), Place::PreQueue),
    }
}

/// Every place `queue` holds, as board changes (to publish a recovered
/// queue): each joins as it did (which binds the place to its token), then
/// moves to where it is now.
fn every_place(queue: &Queue) -> Vec<SlotChange> {
    let mut tokens: Vec<_> = queue.tokens().collect();
    tokens.sort_by_key(|t| (t.seq, t.pre_queue_index));
    let mut changes = Vec::with_capacity(tokens.len() * 3);
    for t in tokens {
        let tag = place_tag(t.token, t.user);
        if let Some(index) = t.pre_queue_index {
            changes.push(SlotChange::PreQueued { index, tag });
            if t.status == TokenStatus::PreQueue {
                continue;
            }
            changes.push(SlotChange::Placed { index, seq: t.seq });
        }
        let (seq, since) = (t.seq, t.joined_at);
        changes.push(SlotChange::Waiting {
            seq,
            at: since,
            tag,
        });
        let ended_at = t.ended_at.unwrap_or(since);
        changes.extend(match t.status {
            TokenStatus::Waiting | TokenStatus::PreQueue => None,
            TokenStatus::Active => Some(SlotChange::Active {
                seq,
                until: t.active_until.unwrap_or(since),
            }),
            TokenStatus::Ended => Some(SlotChange::Ended { seq, at: ended_at }),
            TokenStatus::Expired => Some(SlotChange::Expired { seq, at: ended_at }),
        });
    }
    changes
}

fn line_totals(queue: &Queue) -> LineTotals {
    let config = queue.config();
    let pending = config.enabled && config.pre_queue_ms > 0 && !queue.shuffled();
    LineTotals {
        waiting: queue.waiting_len() as u64,
        eta: queue.eta_model(),
        pre_queue: pending.then(|| (config.opens_at, queue.pre_queue_len() as u64)),
    }
}
