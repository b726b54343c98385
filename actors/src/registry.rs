//! The registry: starts every actor at boot (recovering each from storage),
//! spreads them over a few arbiter threads, creates schedules, and routes a
//! request to the actor that owns what it names (schedules through the
//! [`ScheduleTable`] of `routing`, wallets by shard).
//!
//! The operations the API calls are `impl Registry` blocks in their own
//! modules (`booking`, `payment`, `accounts`, ...); so is the start-up
//! recovery of interrupted sagas (`recovery`).
//!
//! Start-up order matters: the queue actor first (schedule actors ask it for
//! admissions when they start), then the schedule, wallet, accounts and
//! catalogue actors, then
//! every payment or refund a crash left between two steps is driven to one end
//! before the registry is handed out. Nothing is served from a half-recovered
//! engine.

use crate::work_times::WorkTimes;
use actix::prelude::*;
use boxoffice_engine::ids::*;
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::schedule::ScheduleRules;
use boxoffice_storage::{codec, FlushStats, GroupCommit, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::accounts::throttle::LoginTurns;
use crate::accounts::{AccountsActor, AccountsState, RoleBoard};
use crate::catalog_actor::{CatalogActor, CatalogState, DraftBoard};
use crate::catalog_query::ConcertTextIndex;
use crate::clock::Clock;
use crate::config::{EngineConfig, QUEUE_JOINS_IN_FLIGHT};
use crate::context::EngineContext;
use crate::directory::Directory;
use crate::entropy::IdSource;
use crate::error::{EngineError, EngineResult};
use crate::handle::Handle;
use crate::idempotency::{key_writer, IdempotencyIndex};
use crate::log_trimmer::LogTrimmer;
use crate::queue_actor::{ConfigureQueue, QueueActor, QueueState};
use crate::queue_board::QueueBoard;
use crate::queue_link::QueueLink;
use crate::routing::{ScheduleHandle, ScheduleTable};
use crate::schedule_actor::{archive_by_schedule, archive_index};
use crate::schedule_actor::{log_name, ScheduleActor, ScheduleSpec, ScheduleState, LOG_PREFIX};
use crate::seat_board::SeatBoard;
use crate::seat_feed::SeatFeed;
use crate::wallet_actor::{self, WalletActor, WalletShardState};

/// What start-up recovery (`recovery.rs`) had to finish, for logs and tests.
/// Defined here, with the registry that keeps it, so that `recovery`, an
/// `impl Registry` block, depends on this module and not the other way round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub payments_confirmed: u32,
    pub payments_aborted: u32,
    pub refunds_settled: u32,
    /// Payments recovery could not end (a bug or a failing store): still pending.
    pub payments_stuck: u32,
    /// Schedule cancellations whose driver was restarted (`schedule_admin`).
    pub cancellations_resumed: u32,
}

pub struct Registry {
    engine: EngineContext,
    arbiters: Vec<ArbiterHandle>,
    /// Owned threads, taken out and joined at shutdown.
    threads: Mutex<Vec<Arbiter>>,
    recovery: Mutex<RecoveryReport>,
    schedules: Arc<ScheduleTable>,
    wallets: Vec<Handle<WalletActor>>,
    queue: Handle<QueueActor>,
    /// The same queue actor, for joins, with their own larger in-flight bound
    /// (`QUEUE_JOINS_IN_FLIGHT`): a crowd joining must wait its turn in the
    /// mailbox, never be refused.
    queue_joins: Handle<QueueActor>,
    accounts: Handle<AccountsActor>,
    /// Every account's role, kept by the accounts actor (see `accounts::roles`).
    roles: Arc<RoleBoard>,
    /// Per-account turns for logins, next to the accounts actor whose
    /// throttle they protect (see `accounts::throttle`).
    login_turns: LoginTurns,
    catalog: Handle<CatalogActor>,
    /// The schedules of DRAFT concerts (see `catalog_actor::DraftBoard`).
    drafts: Arc<DraftBoard>,
    /// What answers the `q` of a concert list, once attached (`catalog_query`).
    text_index: OnceLock<Arc<dyn ConcertTextIndex>>,
    /// Card payments through a payment provider, once attached (`card_payments`).
    card: OnceLock<Arc<crate::card_payments::CardPayments>>,
    next_arbiter: AtomicUsize,
}

impl Registry {
    /// Opens an engine on `store`, recovering every actor. Must run inside an actix system.
    pub async fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        ids: Arc<IdSource>,
        config: EngineConfig,
    ) -> EngineResult<Arc<Registry>> {
        config.validate().map_err(EngineError::Validation)?;
        let idempotency = IdempotencyIndex::with_key_quota(
            Arc::clone(&store),
            config.max_new_idempotency_keys_per_day,
        );
        let work_times = Arc::new(WorkTimes::default());
        let (archive_writer, key_writer, log_trimmer) = if config.archive_in_background {
            let archive = crate::archive_writer::start(Arc::clone(&store), Arc::clone(&work_times))
                .map_err(|err| EngineError::Storage(format!("archive writer: {err}")))?;
            let keys = key_writer::start(Arc::clone(&idempotency), Arc::clone(&work_times))
                .map_err(|err| EngineError::Storage(format!("key writer: {err}")))?;
            let trimmer = LogTrimmer::start(Arc::clone(&store), Arc::clone(&work_times))
                .map_err(|err| EngineError::Storage(format!("log trimmer: {err}")))?;
            (Some(archive), Some(keys), Some(trimmer))
        } else {
            (None, None, None)
        };
        let outbox = crate::booking_events::Outbox::open(store.as_ref())
            .map_err(|err| EngineError::Storage(format!("booking-event outbox: {err}")))?;
        let engine = EngineContext {
            outbox,
            clock,
            ids,
            commit: GroupCommit::start_with_flush_timeout(store, config.flush_timeout),
            directory: Arc::new(Directory::default()),
            idempotency,
            config,
            archive_writer,
            key_writer,
            log_trimmer,
            work_times,
        };
        let threads: Vec<Arbiter> = (0..engine.config.arbiters)
            .map(|_| Arbiter::new())
            .collect();
        let arbiters: Vec<ArbiterHandle> = threads.iter().map(|a| a.handle()).collect();
        let schedules: Arc<ScheduleTable> = Arc::default();
        let store = engine.commit.store().clone();
        let limit = engine.config.in_flight_per_actor;

        let queue_state = QueueState::load(store.as_ref(), engine.clock.now())?;
        let queue = {
            let (engine, schedules) = (engine.clone(), Arc::clone(&schedules));
            Handle::new(
                QueueActor::start_in_arbiter(&arbiters[0], move |_| {
                    QueueActor::new(queue_state, engine, schedules)
                }),
                limit,
            )
        };

        // Before any schedule actor can archive: index what an older version archived.
        let indexed = archive_index::migrate(store.as_ref())?;
        if indexed > 0 {
            tracing::info!(
                indexed,
                "indexed the archive of a data dir written before the index"
            );
        }
        let indexed = archive_by_schedule::migrate(store.as_ref())?;
        if indexed > 0 {
            tracing::info!(
                indexed,
                "indexed the archive by schedule (a data dir written before that index)"
            );
        }

        let mut specs = Vec::new();
        for (n, log) in store.list_logs(LOG_PREFIX)?.into_iter().enumerate() {
            let state = ScheduleState::load(store.as_ref(), &log)?;
            let id = state.schedule.id();
            state.publish(&engine.directory, &engine.idempotency);
            let queue_config = waiting_room_config(state.queue.clone(), state.schedule.rules());
            let hold_ms = state.schedule.rules().hold_ms;
            let handle = start_schedule(
                &engine,
                &arbiters[n % arbiters.len()],
                state,
                QueueLink::to(queue.addr()),
            );
            specs.push((id, queue_config, hold_ms, Arc::clone(&handle.board)));
            schedules.insert(handle);
        }

        let mut wallets = Vec::new();
        for shard in 0..engine.config.wallet_shards {
            let state = WalletShardState::load(store.as_ref(), &wallet_actor::log_name(shard))?;
            for record in state.idempotency.records() {
                engine.idempotency.restore(record);
            }
            let engine_for_actor = engine.clone();
            let addr =
                WalletActor::start_in_arbiter(&arbiters[shard % arbiters.len()], move |_| {
                    WalletActor::new(shard, state, engine_for_actor)
                });
            wallets.push(Handle::new(addr, limit));
        }

        let accounts_state = AccountsState::load(store.as_ref())?;
        let roles = Arc::new(RoleBoard::of(&accounts_state));
        let accounts = {
            let (engine, roles) = (engine.clone(), Arc::clone(&roles));
            Handle::new(
                AccountsActor::start_in_arbiter(&arbiters[0], move |_| {
                    AccountsActor::new(accounts_state, engine, roles)
                }),
                limit,
            )
        };
        let catalog_state = CatalogState::load(store.as_ref())?;
        warn_about_missing_schedules(&catalog_state, &schedules);
        let drafts = Arc::new(DraftBoard::of(&catalog_state));
        let catalog = {
            let (engine, drafts) = (engine.clone(), Arc::clone(&drafts));
            Handle::new(
                CatalogActor::start_in_arbiter(&arbiters[1 % arbiters.len()], move |_| {
                    CatalogActor::new(catalog_state, engine, Arc::default(), drafts)
                }),
                limit,
            )
        };

        let registry = Arc::new(Registry {
            next_arbiter: AtomicUsize::new(specs.len()),
            engine,
            arbiters,
            threads: Mutex::new(threads),
            recovery: Mutex::new(RecoveryReport::default()),
            schedules,
            wallets,
            queue_joins: Handle::new(queue.addr().clone(), QUEUE_JOINS_IN_FLIGHT),
            queue,
            accounts,
            roles,
            login_turns: LoginTurns::default(),
            catalog,
            drafts,
            text_index: OnceLock::new(),
            card: OnceLock::new(),
        });
        // A crash between creating a schedule and configuring its queue leaves it unconfigured: redo it.
        // It also publishes each recovered line on its board.
        for (id, queue, hold_ms, board) in specs {
            registry
                .queue
                .command(ConfigureQueue {
                    schedule_id: id,
                    config: queue,
                    board,
                    hold_ms,
                })
                .await?;
        }
        let mut report = registry.finish_interrupted_work().await?;
        report.cancellations_resumed = registry.resume_cancellations().await?;
        *registry.recovery.lock().unwrap_or_else(|p| p.into_inner()) = report;
        Ok(registry)
    }

    pub fn context(&self) -> &EngineContext {
        &self.engine
    }

    /// Creates a schedule: its creation snapshot is durable before this returns.
    pub async fn create_schedule(&self, spec: ScheduleSpec) -> EngineResult<ScheduleId> {
        spec.rules
            .validate()
            .map_err(|e| EngineError::Validation(e.to_string()))?;
        if let Some(queue) = &spec.queue {
            queue
                .validate()
                .map_err(|e| EngineError::Validation(e.to_string()))?;
        }
        let id = spec.schedule_id;
        if self.schedule(id).is_ok() {
            return Err(EngineError::Validation(format!(
                "schedule {id} already exists"
            )));
        }
        let queue_config = waiting_room_config(spec.queue.clone(), &spec.rules);
        let hold_ms = spec.rules.hold_ms;
        let state = ScheduleState::new(spec).map_err(|e| EngineError::Validation(e.to_string()))?;
        let store = self.engine.commit.store();
        store.write_snapshot(&log_name(id), 0, &codec::encode(&state)?)?;
        // Creation is rare (an admin action): a direct flush is simpler than a group-commit round.
        store.flush()?;
        let n = self.next_arbiter.fetch_add(1, Ordering::Relaxed);
        let handle = start_schedule(
            &self.engine,
            &self.arbiters[n % self.arbiters.len()],
            state,
            QueueLink::to(self.queue.addr()),
        );
        let board = Arc::clone(&handle.board);
        self.schedules.insert(handle);
        self.queue
            .command(ConfigureQueue {
                schedule_id: id,
                config: queue_config,
                board,
                hold_ms,
            })
            .await?;
        Ok(id)
    }

    pub fn schedule(&self, id: ScheduleId) -> EngineResult<ScheduleHandle> {
        self.schedules.get(id)
    }

    /// The table of schedule handles (for lookups that need less than a handle).
    pub(crate) fn schedules(&self) -> &ScheduleTable {
        &self.schedules
    }

    /// Every schedule's id, sorted.
    pub fn schedule_ids(&self) -> Vec<ScheduleId> {
        self.schedules.ids()
    }

    pub fn wallet(&self, user: UserId) -> &Handle<WalletActor> {
        &self.wallets[wallet_actor::shard_of(user, self.wallets.len())]
    }

    /// Batches submitted to the background writers (archive batches, key
    /// batches and log trims) and not yet written (0 without writers). See
    /// `store_writer`.
    pub fn archive_batches_in_flight(&self) -> usize {
        let archive = self
            .engine
            .archive_writer
            .as_ref()
            .map_or(0, |writer| writer.batches_in_flight());
        let keys = self
            .engine
            .key_writer
            .as_ref()
            .map_or(0, |writer| writer.batches_in_flight());
        let trims = self
            .engine
            .log_trimmer
            .as_ref()
            .map_or(0, |trimmer| trimmer.trims_in_flight());
        archive + keys + trims
    }

    pub fn wallet_shards(&self) -> &[Handle<WalletActor>] {
        &self.wallets
    }

    pub fn queue(&self) -> &Handle<QueueActor> {
        &self.queue
    }

    /// The queue actor, for joins only (see the field).
    pub(crate) fn queue_joins(&self) -> &Handle<QueueActor> {
        &self.queue_joins
    }

    /// The one actor owning every user account (see `accounts.rs` for the operations).
    pub fn accounts(&self) -> &Handle<AccountsActor> {
        &self.accounts
    }

    /// Every account's role (see `accounts::roles`).
    pub(crate) fn roles(&self) -> &RoleBoard {
        &self.roles
    }

    /// Logins take turns per account (see `accounts::throttle::LoginTurns`).
    pub(crate) fn login_turns(&self) -> &LoginTurns {
        &self.login_turns
    }

    /// The one actor owning venues and concerts (see `catalog.rs` for the operations).
    /// The `q` matcher of concert lists, if one is attached.
    pub fn text_index(&self) -> Option<&Arc<dyn ConcertTextIndex>> {
        self.text_index.get()
    }

    /// Attaches the `q` matcher of concert lists; the first one attached stays.
    pub fn attach_text_index(&self, index: Arc<dyn ConcertTextIndex>) {
        if self.text_index.set(index).is_err() {
            tracing::warn!("a concert text index was already attached; keeping the first");
        }
    }

    /// Card payments, if a payment provider is attached.
    pub fn card_payments(&self) -> Option<&Arc<crate::card_payments::CardPayments>> {
        self.card.get()
    }

    /// Attaches card payments; the first one attached stays.
    pub(crate) fn set_card_payments(&self, card: Arc<crate::card_payments::CardPayments>) {
        if self.card.set(card).is_err() {
            tracing::warn!("card payments were already attached; keeping the first");
        }
    }

    pub fn catalog(&self) -> &Handle<CatalogActor> {
        &self.catalog
    }

    pub fn drafts(&self) -> &DraftBoard {
        &self.drafts
    }

    pub fn flush_stats(&self) -> FlushStats {
        self.engine.commit.stats()
    }

    /// What start-up recovery had to finish.
    pub fn recovery_report(&self) -> RecoveryReport {
        *self.recovery.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Flushes, stops the flusher, then stops and joins the arbiter threads,
    /// so that every actor (and its handle on the store) is gone when this
    /// returns. Replies still staged get a storage error. Idempotent.
    pub fn shutdown(&self) {
        // Batches already queued are written before the last flush.
        if let Some(writer) = &self.engine.archive_writer {
            writer.shutdown();
        }
        if let Some(writer) = &self.engine.key_writer {
            writer.shutdown();
        }
        if let Some(trimmer) = &self.engine.log_trimmer {
            trimmer.shutdown();
        }
        self.engine.commit.shutdown();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for arbiter in &threads {
            arbiter.stop();
        }
        for arbiter in threads {
            if arbiter.join().is_err() {
                tracing::error!("an arbiter thread panicked");
            }
        }
    }
}

/// The queue actor's config for a schedule's waiting room (a disabled one when
/// it has none). A pre-queue is shuffled when booking opens, so the queue
/// learns `bookingOpensAt` from the schedule's rules, never from a client.
fn waiting_room_config(queue: Option<QueueConfig>, rules: &ScheduleRules) -> QueueConfig {
    QueueConfig {
        opens_at: rules.booking_opens_at,
        ..queue.unwrap_or_default()
    }
}

/// Concerts are logged only after their schedules exist, so a concert naming
/// a schedule with no log means lost or damaged storage. It is reported
/// rather than refused: the rest of the catalogue is still good to serve.
fn warn_about_missing_schedules(catalog: &CatalogState, schedules: &ScheduleTable) {
    for concert in catalog.concerts.values() {
        for schedule in &concert.schedules {
            if !schedules.contains(schedule.schedule_id) {
                tracing::error!(
                    concert = %concert.concert_id,
                    schedule = %schedule.schedule_id,
                    "a concert names a schedule that has no log"
                );
            }
        }
    }
}

fn start_schedule(
    engine: &EngineContext,
    arbiter: &ArbiterHandle,
    state: ScheduleState,
    queue: QueueLink,
) -> ScheduleHandle {
    let id = state.schedule.id();
    let gated = state.is_gated();
    let engine_for_actor = engine.clone();
    let seats = Arc::new(SeatBoard::new(state.schedule.counts()));
    let seats_for_actor = Arc::clone(&seats);
    let feed = SeatFeed::new(engine.clock.now());
    let feed_for_actor = Arc::clone(&feed);
    // Supervisor: a stopped actor (after a contained panic or a failed append)
    // is restarted in place, reloading from storage; its address stays valid.
    let addr = Supervisor::start_in_arbiter(arbiter, move |_| {
        ScheduleActor::new(
            state,
            engine_for_actor,
            queue,
            seats_for_actor,
            feed_for_actor,
        )
    });
    ScheduleHandle {
        id,
        gated,
        actor: Handle::new(addr, engine.config.in_flight_per_actor),
        board: Arc::new(QueueBoard::new()),
        seats,
        feed,
    }
}
