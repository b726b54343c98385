//! Shared set-up for the engine-level integration tests: an engine on a real
//! sled directory or a fault-injecting memory store, a manual clock, a seeded
//! id source, and helpers to export the whole durable state for comparison.

use boxoffice_actors::audit;
use boxoffice_actors::idempotency::{Endpoint, IdemKey, IdemTag, RequestDigest};
use boxoffice_actors::wallet_ledger;
use boxoffice_actors::{EngineConfig, IdSource, ManualClock, Registry, ScheduleSpec};
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::schedule::ScheduleRules;
use boxoffice_engine::Timestamp;
use boxoffice_storage::{MemoryStore, SledStore, Store};
use std::path::Path;
use std::sync::Arc;

/// 2026-03-15T10:00:00Z: tests start here on a manual clock.
pub const T0: Timestamp = Timestamp(1_773_568_800_000);

pub fn sled_store(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SledStore::open(dir).expect("open sled store"))
}

pub fn memory_store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

/// Small snapshot intervals; archive batches written inline by the schedule
/// actors (no writer thread), so that seeded runs replay the same writes.
pub fn test_config() -> EngineConfig {
    EngineConfig {
        snapshot_every_events: 50,
        wallet_shards: 4,
        archive_in_background: false,
        // Several store writes per archive batch (and crash points between them).
        archive_reservations_per_write: 3,
        ..EngineConfig::default()
    }
}

pub async fn start(store: Arc<dyn Store>, clock: &ManualClock, seed: u64) -> Arc<Registry> {
    start_with(store, clock, seed, test_config()).await
}

pub async fn start_with(
    store: Arc<dyn Store>,
    clock: &ManualClock,
    seed: u64,
    config: EngineConfig,
) -> Arc<Registry> {
    Registry::start(
        store,
        Arc::new(clock.clone()),
        Arc::new(IdSource::seeded(seed)),
        config,
    )
    .await
    .expect("engine starts")
}

/// A deterministic id from a small number.
pub fn id_bytes(kind: u8, n: u64) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[0] = kind;
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    bytes
}

pub fn user(n: u64) -> UserId {
    UserId::from_random_bytes(id_bytes(1, n))
}

pub fn schedule_id(n: u64) -> ScheduleId {
    ScheduleId::from_random_bytes(id_bytes(2, n))
}

pub fn spec(
    n: u64,
    layout: SeatLayout,
    rules: ScheduleRules,
    queue: Option<QueueConfig>,
) -> ScheduleSpec {
    ScheduleSpec {
        schedule_id: schedule_id(n),
        layout,
        rules,
        queue,
    }
}

/// One section `S0` of one row of `seats` seats.
pub fn one_row(seats: u32) -> SeatLayout {
    SeatLayout::uniform(1, 1, seats)
}

pub fn tag(user: UserId, endpoint: Endpoint, key: &str, body: &str) -> IdemTag {
    let mut digest = [0u8; 32];
    for (i, b) in body.bytes().enumerate() {
        digest[i % 32] = digest[i % 32].wrapping_mul(31).wrapping_add(b);
    }
    digest[31] = body.len() as u8;
    IdemTag {
        key: IdemKey {
            user,
            endpoint,
            key: key.to_string(),
        },
        digest: RequestDigest(digest),
    }
}

pub use boxoffice_actors::audit::EngineState;

/// Every actor's durable state, for before/after comparisons.
pub async fn export(registry: &Registry) -> EngineState {
    audit::export(registry)
        .await
        .expect("export the engine's state")
}

/// Every invariant of `boxoffice_actors::audit` over the whole engine, which
/// must be at rest (no request in flight); panics naming each broken one.
pub async fn check_all_invariants(registry: &Registry) {
    if let Err(broken) = audit::verdict(&audit::check_at_rest(&export(registry).await)) {
        panic!("engine invariants broken:\n{broken}");
    }
}

/// The transaction ids of every wallet's whole ledger in `state` (archived
/// entries read back from `store`, each wallet checked against them).
pub fn ledger_transactions(store: &dyn Store, state: &EngineState) -> Vec<TransactionId> {
    state
        .wallets
        .iter()
        .flat_map(|shard| shard.wallets.values())
        .flat_map(|wallet| full_ledger(store, wallet))
        .map(|entry| entry.transaction_id)
        .collect()
}

/// `wallet`'s whole ledger, oldest first, after checking it against the
/// archived entries in `store`.
pub fn full_ledger(
    store: &dyn Store,
    wallet: &boxoffice_engine::wallet::Wallet,
) -> Vec<boxoffice_engine::wallet::LedgerEntry> {
    wallet_ledger::check_with_archive(store, wallet)
        .unwrap_or_else(|e| panic!("wallet {} and its archived ledger: {e}", wallet.user()));
    wallet_ledger::full_ledger(store, wallet)
        .unwrap_or_else(|e| panic!("reading the ledger of {}: {e}", wallet.user()))
}
