//! Durable storage for Boxoffice's actors: per-actor append-only logs and
//! snapshots, group commit, and the one codec that turns values into bytes.
//!
//! Each actor (a schedule, a wallet shard, the queue) owns a log named like
//! `schedule/<uuid>` or `wallet/07`. It appends one record per batch of events
//! through [`GroupCommit`], answers its callers only once the flush covering
//! that record has returned, snapshots its state every N events and trims the
//! log behind the snapshot. Recovery is: last snapshot + the records after it.
//!
//! - [`store`]: the [`Store`] trait every backend implements.
//! - [`sled_store`]: [`SledStore`], the production backend (sled 0.34).
//! - [`memory_store`]: [`MemoryStore`], the in-memory backend that injects faults deterministically.
//! - [`group_commit`]: [`GroupCommit`], one flusher thread shared by all actors.
//! - [`codec`]: versioned, checksummed bincode encoding of records and snapshots.
//! - [`flush_watermark`]: the side file that makes a sled file which lost flushed data refuse to open.
//! - [`limits`]: the explicit size limits both backends enforce.

pub mod codec;
pub mod error;
pub mod flush_watermark;
pub mod group_commit;
pub mod limits;
pub mod memory_store;
mod power_loss_sync;
mod sled_keys;
pub mod sled_store;
pub mod store;

pub use error::StoreError;
pub use group_commit::{
    DurableCallback, FlushStats, GroupCommit, PairCallback, DEFAULT_FLUSH_TIMEOUT,
};
pub use memory_store::{MemoryStore, MemoryStoreStats};
pub use sled_store::{Durability, SledStore};
pub use store::{put_meta_in_order, Lsn, Store};
