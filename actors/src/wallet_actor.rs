//! `WalletActor`: owns the prepaid wallets of a shard of users.
//!
//! Users are spread over a fixed number of shards by id, so one actor's
//! mailbox is not every payment in the house. Debits and refunds are keyed by
//! payment id in the engine, which makes them safe to retry: the payment saga
//! and start-up recovery rely on that. Charges carry an idempotency key, whose
//! record is logged in the same batch as the charge. At snapshot time the
//! actor moves long ledgers to the store ([`crate::wallet_ledger`]), so a
//! shard's state (and its snapshot) does not grow with history.

use actix::prelude::*;
use boxoffice_engine::ids::*;
use boxoffice_engine::wallet::{ApplyError, LedgerKind, Wallet, WalletEvent, WalletPreviousFormat};
use boxoffice_engine::{Money, Timestamp};
use boxoffice_storage::{codec, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::oneshot;

use crate::context::EngineContext;
use crate::error::{EngineError, EngineResult};
use crate::idempotency::{IdemRecord, IdemState, IdemTag, IdempotencyTable};
use crate::journal::{reply_when_durable, Journal, Pending, Record, ReplyAt};
use crate::receipt::{ChargeReceipt, StoredReply};
use crate::wallet_ledger::{self, LedgerPage};

pub const LOG_PREFIX: &str = "wallet/";

pub fn log_name(shard: usize) -> String {
    format!("{LOG_PREFIX}{shard:03}")
}

/// The shard a user's wallet lives in: stable for a given shard count.
pub fn shard_of(user: UserId, shards: usize) -> usize {
    let bytes = user.0.as_bytes();
    (u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize) % shards
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WalletLogEvent {
    pub user: UserId,
    pub event: WalletEvent,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WalletShardState {
    pub wallets: HashMap<UserId, Wallet>,
    pub idempotency: IdempotencyTable,
}

/// A shard's snapshot as written before wallets archived their ledgers and
/// counted their daily charges (the whole ledger inside each wallet).
#[derive(Serialize, Deserialize)]
pub struct WalletShardStatePreviousFormat {
    pub wallets: HashMap<UserId, WalletPreviousFormat>,
    pub idempotency: IdempotencyTable,
}

impl WalletShardState {
    /// Applies one logged event to its user's wallet; refuses (changing
    /// nothing) an event that would break a wallet rule.
    pub fn apply(&mut self, entry: &WalletLogEvent) -> Result<(), ApplyError> {
        self.wallets
            .entry(entry.user)
            .or_insert_with(|| Wallet::new(entry.user))
            .apply(&entry.event)
    }

    /// Rebuilds a shard from its snapshot and the records after it.
    ///
    /// Refuses (`StoreError::Corrupt`, naming the record's lsn and the log) a
    /// record holding an event that breaks a wallet rule or repeats a
    /// transaction already in the wallet's ledger: a record appended twice,
    /// or a damaged log. Serving it would count money twice; panicking would
    /// say nothing useful. Then checks every wallet's invariants.
    pub fn load(
        store: &dyn boxoffice_storage::Store,
        log: &str,
    ) -> Result<WalletShardState, StoreError> {
        let (after, mut state) = match store.read_snapshot(log)? {
            Some((lsn, bytes)) => {
                let state = Self::decode_snapshot(&bytes)
                    .map_err(|e| StoreError::Corrupt(format!("snapshot of {log}: {e}")))?;
                (lsn, state)
            }
            None => (0, WalletShardState::default()),
        };
        // Apply has no transaction-id index (it would cost memory for the
        // life of every wallet); replay keeps one of the entries in memory
        // while it runs, and asks the archive's index about the others.
        let mut seen: HashSet<(UserId, TransactionId)> = state
            .wallets
            .values()
            .flat_map(|w| {
                w.recent_ledger()
                    .iter()
                    .map(|e| (w.user(), e.transaction_id))
            })
            .collect();
        for (lsn, bytes) in store.read_log(log, after)? {
            let record = codec::decode_record::<Record<WalletLogEvent>>(log, lsn, &bytes)?;
            for entry in &record.events {
                let refuse = |why: String| {
                    StoreError::Corrupt(format!(
                        "record {lsn} of log {log}: wallet {}: {why}; the log repeats or \
                         contradicts itself, refusing to replay it",
                        entry.user
                    ))
                };
                let transaction = entry.event.transaction_id();
                if !seen.insert((entry.user, transaction)) {
                    return Err(refuse(format!(
                        "transaction {transaction} is already in the ledger"
                    )));
                }
                if let Some(wallet) = state.wallets.get(&entry.user) {
                    // An archived entry is refused unless this event is the
                    // one that made it: a crash between the archive writes
                    // and the snapshot leaves entries archived ahead of the
                    // snapshot, which the log rebuilds at the same place.
                    let next = wallet.ledger_len();
                    if wallet.archived_ledger().entries > 0 {
                        if let Some(sequence) =
                            wallet_ledger::archived_sequence_of(store, entry.user, transaction)?
                        {
                            if sequence != next {
                                return Err(refuse(format!(
                                    "transaction {transaction} is already in the archived \
                                     ledger (entry {sequence})"
                                )));
                            }
                        }
                    }
                }
                state.apply(entry).map_err(|e| refuse(e.to_string()))?;
            }
            for idem in &record.idempotency {
                state.idempotency.apply(idem);
            }
        }
        state.check_invariants(log)?;
        Ok(state)
    }

    /// Decodes a snapshot, of this format or the previous one (whose wallets
    /// hold their whole ledger, archived at the next snapshot, and no daily
    /// charge count, rebuilt from that ledger); an error names the current
    /// format's failure.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<WalletShardState, StoreError> {
        let current = match codec::decode::<WalletShardState>(bytes) {
            Ok(state) => return Ok(state),
            Err(err) => err,
        };
        let older = codec::decode::<WalletShardStatePreviousFormat>(bytes).map_err(|_| current)?;
        Ok(WalletShardState {
            wallets: older
                .wallets
                .into_iter()
                .map(|(user, wallet)| (user, Wallet::from(wallet)))
                .collect(),
            idempotency: older.idempotency,
        })
    }

    /// Moves the ledger of every wallet holding more than `keep` entries in
    /// memory to the store, in user order (so a seeded run writes in one
    /// order). Returns the entries archived. A failed write leaves that
    /// wallet and the rest unchanged: the next snapshot retries.
    pub fn archive_ledgers(&mut self, store: &dyn boxoffice_storage::Store, keep: usize) -> u64 {
        let mut due: Vec<UserId> = self
            .wallets
            .values()
            .filter(|w| w.recent_ledger().len() > keep)
            .map(|w| w.user())
            .collect();
        due.sort();
        let mut archived = 0;
        for user in due {
            let Some(wallet) = self.wallets.get_mut(&user) else {
                continue;
            };
            match wallet_ledger::write_recent(store, wallet) {
                Ok(count) => {
                    wallet.forget_archived(count);
                    archived += count as u64;
                }
                Err(err) => {
                    tracing::warn!(%err, %user, "archiving a wallet ledger failed");
                    break;
                }
            }
        }
        archived
    }

    /// Every wallet's invariants (`Wallet::check_invariants`); the error
    /// names the log and the wallet.
    pub fn check_invariants(&self, log: &str) -> Result<(), StoreError> {
        for wallet in self.wallets.values() {
            wallet.check_invariants().map_err(|broken| {
                StoreError::Corrupt(format!("{log}: wallet {}: {broken}", wallet.user()))
            })?;
        }
        Ok(())
    }
}

/// A wallet as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletView {
    pub user: UserId,
    pub balance: Money,
    pub total_charged: Money,
    pub total_used: Money,
    pub total_refunded: Money,
    pub updated_at: Option<Timestamp>,
}

fn view(wallet: &Wallet) -> WalletView {
    WalletView {
        user: wallet.user(),
        balance: wallet.balance(),
        total_charged: wallet.total_charged(),
        total_used: wallet.total_used(),
        total_refunded: wallet.total_refunded(),
        updated_at: wallet.updated_at(),
    }
}

pub struct WalletActor {
    engine: EngineContext,
    state: WalletShardState,
    journal: Journal<WalletLogEvent>,
}

impl WalletActor {
    pub fn new(shard: usize, state: WalletShardState, engine: EngineContext) -> Self {
        let journal = Journal::new(
            log_name(shard),
            engine.commit.clone(),
            engine.config.snapshot_every_events,
        );
        WalletActor {
            engine,
            state,
            journal,
        }
    }

    fn stage(
        &mut self,
        ctx: &mut Context<Self>,
        events: Vec<WalletLogEvent>,
        idem: Option<IdemRecord>,
        waiter: crate::journal::Waiter,
    ) {
        self.stage_at(ctx, events, idem, waiter, ReplyAt::Durable);
    }

    /// [`Self::stage`] with the reply released at `at` (see [`ReplyAt`]).
    fn stage_at(
        &mut self,
        ctx: &mut Context<Self>,
        events: Vec<WalletLogEvent>,
        idem: Option<IdemRecord>,
        waiter: crate::journal::Waiter,
        at: ReplyAt,
    ) {
        if let Some(record) = &idem {
            self.state.idempotency.apply(record);
        }
        if self.journal.stage_at(events, idem, Some(waiter), at) {
            ctx.notify(CommitWallets);
        }
        if self.journal.is_full() {
            self.commit();
        }
    }

    fn commit(&mut self) {
        let now = self.engine.clock.now();
        let index = Arc::clone(&self.engine.idempotency);
        let store = Arc::clone(self.engine.commit.store());
        let keep = self.engine.config.archive_ledger_after;
        let times = Arc::clone(&self.engine.work_times);
        if let Err(err) = self.journal.commit_and_snapshot(&mut self.state, |s| {
            if let Err(err) = s
                .idempotency
                .archive_decided(&index, now, &times.key_archive)
            {
                // The keys stay in the table and its snapshot; the next one retries.
                tracing::warn!(%err, "archiving idempotency keys failed");
            }
            s.archive_ledgers(store.as_ref(), keep);
        }) {
            // Fail-stop: the group commit is poisoned too; the process must restart.
            tracing::error!(%err, "wallet log append failed");
        }
    }

    fn wallet_mut(&mut self, user: UserId) -> &mut Wallet {
        self.state
            .wallets
            .entry(user)
            .or_insert_with(|| Wallet::new(user))
    }

    /// The balance right after `payment_id`'s ledger entry of `kind`, from
    /// memory or (once archived) the store.
    fn balance_after(
        &self,
        user: UserId,
        payment_id: PaymentId,
        kind: LedgerKind,
    ) -> EngineResult<Money> {
        let recent = self.state.wallets.get(&user).and_then(|wallet| {
            wallet
                .recent_ledger()
                .iter()
                .rev()
                .find(|e| e.kind == kind && e.reference == Some(payment_id))
                .map(|e| e.balance_after)
        });
        if let Some(balance) = recent {
            return Ok(balance);
        }
        let store = self.engine.commit.store();
        match wallet_ledger::archived_payment_entry(store.as_ref(), user, payment_id, kind) {
            Ok(Some(entry)) => Ok(entry.balance_after),
            Ok(None) => Err(EngineError::Internal(format!(
                "payment {payment_id} has no {kind:?} entry in the ledger"
            ))),
            Err(err) => Err(EngineError::Storage(err.to_string())),
        }
    }
}

impl Actor for WalletActor {
    type Context = Context<Self>;
}

struct CommitWallets;
impl Message for CommitWallets {
    type Result = ();
}
impl Handler<CommitWallets> for WalletActor {
    type Result = ();
    fn handle(&mut self, _: CommitWallets, _: &mut Context<Self>) {
        self.commit();
    }
}

pub struct Charge {
    pub user: UserId,
    pub amount: Money,
    pub idem: Option<IdemTag>,
    /// The ledger entry's id when the caller already promised one (a card
    /// top-up's 202); otherwise a new one is drawn.
    pub transaction_id: Option<TransactionId>,
}
impl Message for Charge {
    type Result = Pending<ChargeReceipt>;
}

impl Handler<Charge> for WalletActor {
    type Result = MessageResult<Charge>;
    fn handle(&mut self, msg: Charge, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.engine.clock.now();
        let transaction_id = msg
            .transaction_id
            .unwrap_or_else(|| self.engine.ids.transaction_id());
        let limits = self.engine.config.wallet_limits.clone();
        let wallet = self.wallet_mut(msg.user);
        let mut events = Vec::new();
        let outcome = match wallet.charge(transaction_id, msg.amount, &limits, now) {
            Ok(event) => {
                events.push(WalletLogEvent {
                    user: msg.user,
                    event,
                });
                Ok(ChargeReceipt {
                    transaction_id,
                    amount: msg.amount,
                    balance: wallet.balance(),
                    charged_at: now,
                })
            }
            Err(err) => Err(EngineError::from(err)),
        };
        let decided = outcome
            .as_ref()
            .map_or_else(|e| e.is_engine_decided(), |_| true);
        let idem = msg.idem.filter(|_| decided).map(|tag| IdemRecord {
            key: tag.key,
            digest: tag.digest,
            state: IdemState::Done(StoredReply::Charge(outcome.clone())),
            at: now,
        });
        self.stage(ctx, events, idem, reply_when_durable(tx, outcome));
        MessageResult(rx)
    }
}

/// Debits a payment (at most once per payment id); replies with the balance after it.
pub struct Debit {
    pub user: UserId,
    pub payment_id: PaymentId,
    pub amount: Money,
    /// `Appended` in the payment saga, whose last step's flush covers the
    /// debit (see [`ReplyAt`]); `Durable` wherever the answer is acted on alone.
    pub reply_at: ReplyAt,
}
impl Message for Debit {
    type Result = Pending<Money>;
}

impl Handler<Debit> for WalletActor {
    type Result = MessageResult<Debit>;
    fn handle(&mut self, msg: Debit, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.engine.clock.now();
        let transaction_id = self.engine.ids.transaction_id();
        let wallet = self.wallet_mut(msg.user);
        let mut events = Vec::new();
        let outcome = match wallet.debit(transaction_id, msg.payment_id, msg.amount, now) {
            Ok(Some(event)) => {
                events.push(WalletLogEvent {
                    user: msg.user,
                    event,
                });
                Ok(wallet.balance())
            }
            Ok(None) => self.balance_after(msg.user, msg.payment_id, LedgerKind::Payment),
            Err(err) => Err(EngineError::from(err)),
        };
        self.stage_at(
            ctx,
            events,
            None,
            reply_when_durable(tx, outcome),
            msg.reply_at,
        );
        MessageResult(rx)
    }
}

/// Refunds a debited payment (at most once); replies with the balance after it.
pub struct Refund {
    pub user: UserId,
    pub payment_id: PaymentId,
}
impl Message for Refund {
    type Result = Pending<Money>;
}

impl Handler<Refund> for WalletActor {
    type Result = MessageResult<Refund>;
    fn handle(&mut self, msg: Refund, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.engine.clock.now();
        let transaction_id = self.engine.ids.transaction_id();
        let wallet = self.wallet_mut(msg.user);
        let mut events = Vec::new();
        let outcome = match wallet.refund(transaction_id, msg.payment_id, now) {
            Ok(Some(event)) => {
                events.push(WalletLogEvent {
                    user: msg.user,
                    event,
                });
                Ok(wallet.balance())
            }
            Ok(None) => self.balance_after(msg.user, msg.payment_id, LedgerKind::Refund),
            Err(err) => Err(EngineError::from(err)),
        };
        self.stage(ctx, events, None, reply_when_durable(tx, outcome));
        MessageResult(rx)
    }
}

/// Whether a payment id was debited, and how much (start-up recovery asks this).
pub struct WasDebited {
    pub user: UserId,
    pub payment_id: PaymentId,
}
impl Message for WasDebited {
    type Result = Option<Money>;
}
impl Handler<WasDebited> for WalletActor {
    type Result = Option<Money>;
    fn handle(&mut self, msg: WasDebited, _: &mut Context<Self>) -> Self::Result {
        self.state
            .wallets
            .get(&msg.user)
            .and_then(|w| w.debited(msg.payment_id))
    }
}

pub struct GetWallet {
    pub user: UserId,
}
impl Message for GetWallet {
    type Result = WalletView;
}
impl Handler<GetWallet> for WalletActor {
    type Result = MessageResult<GetWallet>;
    fn handle(&mut self, msg: GetWallet, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.state
                .wallets
                .get(&msg.user)
                .map(view)
                .unwrap_or_else(|| view(&Wallet::new(msg.user))),
        )
    }
}

/// Where a page of a user's ledger (newest first) lies: its entries still in
/// memory, and the archived ones the caller reads from the store.
pub struct GetLedger {
    pub user: UserId,
    pub offset: usize,
    pub limit: usize,
}
impl Message for GetLedger {
    type Result = LedgerPage;
}
impl Handler<GetLedger> for WalletActor {
    type Result = MessageResult<GetLedger>;
    fn handle(&mut self, msg: GetLedger, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.state
                .wallets
                .get(&msg.user)
                .map(|wallet| LedgerPage::of(wallet, msg.offset, msg.limit))
                .unwrap_or_default(),
        )
    }
}

/// Checks every wallet of the shard (start-up recovery asks this after
/// finishing interrupted sagas); the error names the log and the wallet.
pub struct CheckInvariants;
impl Message for CheckInvariants {
    type Result = Result<(), StoreError>;
}
impl Handler<CheckInvariants> for WalletActor {
    type Result = Result<(), StoreError>;
    fn handle(&mut self, _: CheckInvariants, _: &mut Context<Self>) -> Self::Result {
        self.state.check_invariants(self.journal.log())
    }
}

pub struct ExportWallets;
impl Message for ExportWallets {
    type Result = WalletShardState;
}
impl Handler<ExportWallets> for WalletActor {
    type Result = MessageResult<ExportWallets>;
    fn handle(&mut self, _: ExportWallets, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.clone())
    }
}
