//! `QueueActor`: the virtual waiting room of every schedule.
//!
//! One actor owns one engine [`Queue`] per schedule (ungated schedules get a
//! disabled queue, which admits at once). Joins and admissions are logged like
//! any other actor's events. When a batch is admitted, and only once that is
//! durable, the admitted tokens are pushed to the schedule's actor, which then
//! checks Queue-Tokens on holds locally: the waiting room adds no actor round
//! trip to a hold. The schedule actor tells us when a payment ends a token.
//!
//! Polls refresh a token's liveness without writing anything (see
//! `Queue::touch`); after a restart every waiting token gets a fresh grace
//! period rather than being dropped for polls we did not record.
//!
//! This module never names the schedule actor: it finds a schedule's
//! `Recipient<QueueAdmitted>` in the shared [`ScheduleTable`], and the
//! messages both ways are those of [`crate::queue_link`].

use actix::prelude::*;
use boxoffice_engine::ids::*;
use boxoffice_engine::queue::{Queue, QueueConfig, QueueEvent, TokenView};
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
use crate::queue_link::{EndQueueToken, QueueAdmitted, ResendAdmissions};
use crate::routing::ScheduleTable;

pub const LOG_NAME: &str = "queue";
const MAX_TIMER_SLEEP_MS: i64 = 1_000;

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
    pub token_schedule: HashMap<QueueTokenId, ScheduleId>,
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
                if let QueueEvent::Joined { token, .. } = event {
                    self.token_schedule.insert(*token, *schedule_id);
                }
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
    /// False when joining again returned the existing place.
    pub created: bool,
}

pub struct QueueActor {
    engine: EngineContext,
    state: QueueState,
    journal: Journal<QueueLogEvent>,
    schedules: Arc<ScheduleTable>,
    timer: Option<(Timestamp, SpawnHandle)>,
}

impl QueueActor {
    pub fn new(state: QueueState, engine: EngineContext, schedules: Arc<ScheduleTable>) -> Self {
        let journal = Journal::new(
            LOG_NAME.to_string(),
            engine.commit.clone(),
            engine.config.snapshot_every_events,
        );
        QueueActor {
            engine,
            state,
            journal,
            schedules,
            timer: None,
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

    /// Admissions reach the schedule only once they are durable, so a crash
    /// can never leave a schedule honouring a token the queue has forgotten.
    fn push_when_durable(&self, schedule_id: ScheduleId, events: &[QueueEvent]) -> Option<Waiter> {
        let tokens: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                QueueEvent::Admitted { tokens, until, .. } => Some((tokens.clone(), *until)),
                _ => None,
            })
            .flat_map(|(tokens, until)| {
                let queue = self.state.queues.get(&schedule_id);
                tokens.into_iter().filter_map(move |t| {
                    queue
                        .and_then(|q| q.token(t))
                        .map(|tok| (t, tok.user, until))
                })
            })
            .collect();
        if tokens.is_empty() {
            return None;
        }
        let schedule = self.schedules.admissions(schedule_id)?;
        Some(Box::new(move |durable: Result<(), StoreError>| {
            if durable.is_ok() {
                schedule.do_send(QueueAdmitted { tokens });
            }
        }))
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.engine.clock.now();
        let ids: Vec<ScheduleId> = self.state.queues.keys().copied().collect();
        for schedule_id in ids {
            let Some(queue) = self.state.queues.get_mut(&schedule_id) else {
                continue;
            };
            let events = queue.tick(now);
            if events.is_empty() {
                continue;
            }
            let push = self.push_when_durable(schedule_id, &events);
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
        Ok(QueueTicket {
            schedule_id,
            view,
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
        if let Err(err) = self.journal.commit_and_snapshot(&mut self.state, |_| {}) {
            // Fail-stop: the queue's memory is ahead of its log. The group
            // commit is poisoned too, so the process must restart.
            tracing::error!(%err, "queue log append failed");
        }
        self.arm_timer(ctx);
    }
}

/// Makes sure a schedule has a queue (idempotent).
pub struct ConfigureQueue {
    pub schedule_id: ScheduleId,
    pub config: QueueConfig,
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
        let now = self.engine.clock.now();
        let new_token = self.engine.ids.queue_token_id();
        let joined = match self.state.queues.get_mut(&msg.schedule_id) {
            None => Err(EngineError::NotFound(Missing::Schedule)),
            Some(queue) => queue
                .join(msg.user, new_token, now)
                .map_err(EngineError::from),
        };
        match joined {
            Err(err) => {
                let _ = tx.send(Err(err));
            }
            Ok(outcome) => {
                let schedule_id = msg.schedule_id;
                self.state.token_schedule.insert(outcome.token, schedule_id);
                let push = self.push_when_durable(schedule_id, &outcome.events);
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

/// The current state of a token; counts as a poll (keeps a waiting token alive).
pub struct QueueStatus {
    pub token: QueueTokenId,
}
impl Message for QueueStatus {
    type Result = EngineResult<QueueTicket>;
}

impl Handler<QueueStatus> for QueueActor {
    type Result = EngineResult<QueueTicket>;
    fn handle(&mut self, msg: QueueStatus, _: &mut Context<Self>) -> Self::Result {
        let now = self.engine.clock.now();
        let schedule_id = *self
            .state
            .token_schedule
            .get(&msg.token)
            .ok_or(EngineError::QueueTokenInvalid)?;
        let queue = self
            .state
            .queues
            .get_mut(&schedule_id)
            .ok_or(EngineError::QueueTokenInvalid)?;
        queue.touch(msg.token, now)?;
        self.ticket(schedule_id, msg.token, false)
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
            self.stage(
                ctx,
                vec![QueueLogEvent::Event {
                    schedule_id: msg.schedule_id,
                    event,
                }],
                None,
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
