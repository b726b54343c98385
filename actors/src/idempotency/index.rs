//! [`IdempotencyIndex`]: the one process-wide view of every key, in memory
//! for keys decided recently (or in flight) and in the [`KeyStore`] for older
//! ones. Keys are scoped to user and endpoint, not to an actor, so a key
//! first used on one schedule and then sent with a different body for another
//! must still be refused: only a shared index sees both. It also answers "in
//! progress" for a duplicate arriving mid-flight.
//!
//! Memory holds a key from `begin` until its actor archives it (soon after
//! [`ARCHIVE_AFTER_MS`](super::ARCHIVE_AFTER_MS)); a lookup that misses
//! memory reads the key store. The order that makes this safe:
//! an actor writes a record to the key store before it is forgotten here, so a
//! key missing from memory is either in the store or was never decided.

use boxoffice_engine::Timestamp;
use boxoffice_storage::{Store, StoreError};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{
    IdemKey, IdemRecord, IdemState, IdemTag, KeyPacing, KeyQuota, KeyStore, RequestDigest,
    DEFAULT_MAX_NEW_KEYS_PER_DAY, KEYS_PER_EXPIRY_ENTRY, MAX_KEY_LEN, RETENTION_MS,
};
use crate::error::EngineError;
use crate::receipt::StoredReply;
use crate::work_times::Timings;

const INDEX_SHARDS: usize = 32;
/// How often (by the engine clock) memory is swept for decided keys past
/// retention that no actor archived (a reply recorded after its actor
/// already archived the key; rare, but it must not stay for ever).
const MEMORY_SWEEP_EVERY_MS: i64 = 3_600_000;

#[derive(Clone, Debug)]
enum Slot {
    InProgress(RequestDigest),
    Done(RequestDigest, Arc<StoredReply>, Timestamp),
}

/// Idempotency replay: what a caller must do with a keyed request.
#[derive(Debug)]
pub enum Replay {
    /// First time: run it, then call `complete` or `abandon`.
    Proceed,
    /// Seen and finished: answer with this reply, do nothing else.
    Stored(Arc<StoredReply>),
}

pub struct IdempotencyIndex {
    shards: Vec<Mutex<HashMap<IdemKey, Slot>>>,
    keys: KeyStore,
    last_memory_sweep: AtomicI64,
    /// New keys stored per user per UTC day (see `quota.rs`).
    quota: KeyQuota,
}

impl IdempotencyIndex {
    /// An index with the default quota of new keys per user per day.
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Self::with_key_quota(store, DEFAULT_MAX_NEW_KEYS_PER_DAY)
    }

    /// An index whose users may each store `max_new_keys_per_day` new keys
    /// per UTC day (0: no quota).
    pub fn with_key_quota(store: Arc<dyn Store>, max_new_keys_per_day: u32) -> Arc<Self> {
        Arc::new(IdempotencyIndex {
            shards: (0..INDEX_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            keys: KeyStore::new(store),
            last_memory_sweep: AtomicI64::new(i64::MIN),
            quota: KeyQuota::new(max_new_keys_per_day),
        })
    }

    /// The shard that holds `key` (a hash of the whole key: hashed once per
    /// operation, and `begin` reuses it for its up to three visits).
    fn shard_of(&self, key: &IdemKey) -> &Mutex<HashMap<IdemKey, Slot>> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        &self.shards[(hasher.finish() as usize) % self.shards.len()]
    }

    fn shard(&self, key: &IdemKey) -> MutexGuard<'_, HashMap<IdemKey, Slot>> {
        lock(self.shard_of(key))
    }

    /// Claims a key, or says how it was already used.
    pub fn begin(&self, tag: &IdemTag, now: Timestamp) -> Result<Replay, EngineError> {
        if tag.key.key.is_empty() || tag.key.key.len() > MAX_KEY_LEN {
            return Err(EngineError::Validation(format!(
                "Idempotency-Key must be 1-{MAX_KEY_LEN} bytes"
            )));
        }
        let shard = self.shard_of(&tag.key);
        if let Some(answer) = begin_in_memory(shard, tag) {
            return answer;
        }
        // Read outside the shard lock. A key absent from memory now is in the
        // store already if it was ever decided (see the module doc).
        let archived = self
            .keys
            .get(&tag.key)?
            .filter(|r| r.at >= now.plus_millis(-RETENTION_MS));
        if let Some(answer) = begin_in_memory(shard, tag) {
            return answer;
        }
        match archived {
            Some(IdemRecord {
                digest,
                state: IdemState::Done(reply),
                ..
            }) => {
                if digest == tag.digest {
                    Ok(Replay::Stored(Arc::new(reply)))
                } else {
                    Err(EngineError::IdempotencyKeyReused)
                }
            }
            _ => {
                // A key never stored: it may be stored only within the quota.
                self.quota.check(tag.key.user, now)?;
                // Claim it unless someone did in between.
                let mut shard = lock(shard);
                match shard.entry(tag.key.clone()) {
                    Entry::Vacant(slot) => {
                        slot.insert(Slot::InProgress(tag.digest));
                        Ok(Replay::Proceed)
                    }
                    Entry::Occupied(slot) => answer_occupied(slot.get(), tag),
                }
            }
        }
    }

    /// The engine decided: future requests with this key replay `reply`.
    /// Only a key `begin` let proceed gets here: a new stored key. It
    /// replaces the mark `begin` left (or the copy the deciding actor
    /// published once durable). A key with no slot any more was already
    /// moved to the key store by its actor (or released by recovery): putting
    /// it back would keep a second copy in memory until the sweep past
    /// retention, so it stays where it is.
    pub fn complete(&self, tag: &IdemTag, reply: StoredReply, at: Timestamp) {
        if let Some(slot) = self.shard(&tag.key).get_mut(&tag.key) {
            *slot = Slot::Done(tag.digest, Arc::new(reply), at);
        }
        self.quota.count(tag.key.user, at);
    }

    /// Nothing was decided (validation, not found, overload...): free the key.
    pub fn abandon(&self, tag: &IdemKey) {
        let mut shard = self.shard(tag);
        if matches!(shard.get(tag), Some(Slot::InProgress(_))) {
            shard.remove(tag);
        }
    }

    /// Loads a durable record at start-up (or after an actor restart).
    pub fn restore(&self, record: &IdemRecord) {
        let slot = match &record.state {
            IdemState::Done(reply) => Slot::Done(record.digest, Arc::new(reply.clone()), record.at),
            IdemState::InProgress => Slot::InProgress(record.digest),
            IdemState::Released => {
                self.shard(&record.key).remove(&record.key);
                return;
            }
        };
        self.shard(&record.key).insert(record.key.clone(), slot);
    }

    /// Writes a decided record no actor logs (a refused card payment) to the
    /// key store, so it replays after a restart too; not flushed here (the
    /// caller flushes before it answers). It stays in memory as well, until
    /// the memory sweep forgets it past retention.
    pub fn persist(&self, record: &IdemRecord) -> Result<(), StoreError> {
        self.keys
            .put_all([record], KeyPacing::INLINE, &Timings::default())
            .map(|_| ())
    }

    /// Moves decided records to the key store (written as `pacing` says,
    /// each write timed into `timings`) and forgets them in memory (store
    /// first, see the module doc); prunes as many expired entries from the
    /// store as this adds, so the store keeps pace. Returns the records moved.
    pub fn archive<'a>(
        &self,
        records: impl IntoIterator<Item = &'a IdemRecord>,
        now: Timestamp,
        pacing: KeyPacing,
        timings: &Timings,
    ) -> Result<Vec<&'a IdemRecord>, StoreError> {
        let written = self.keys.put_all(records, pacing, timings)?;
        for record in &written {
            let mut shard = self.shard(&record.key);
            if matches!(shard.get(&record.key), Some(Slot::Done(digest, _, _)) if *digest == record.digest)
            {
                shard.remove(&record.key);
            }
        }
        let entries_added = written.len().div_ceil(KEYS_PER_EXPIRY_ENTRY);
        self.keys.prune(now, entries_added + 1)?;
        self.sweep_memory(now);
        Ok(written)
    }

    /// Forgets decided keys past retention that are still in memory, at most
    /// once per [`MEMORY_SWEEP_EVERY_MS`].
    fn sweep_memory(&self, now: Timestamp) {
        let last = self.last_memory_sweep.load(Ordering::Relaxed);
        if now.0.saturating_sub(last) < MEMORY_SWEEP_EVERY_MS
            || self
                .last_memory_sweep
                .compare_exchange(last, now.0, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.purge(now);
    }

    /// Forgets finished keys older than the retention period.
    pub fn purge(&self, now: Timestamp) {
        let horizon = now.plus_millis(-RETENTION_MS);
        for shard in &self.shards {
            let mut map = lock(shard);
            map.retain(|_, slot| !matches!(slot, Slot::Done(_, _, at) if *at < horizon));
        }
    }

    /// Keys held in memory (decided recently or in flight).
    pub fn keys_in_memory(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }
}

/// A poisoned shard means a panic while holding it; the map is still
/// consistent (every operation is a single insert/remove).
fn lock(shard: &Mutex<HashMap<IdemKey, Slot>>) -> MutexGuard<'_, HashMap<IdemKey, Slot>> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `None` if memory (this key's shard) does not know the key.
fn begin_in_memory(
    shard: &Mutex<HashMap<IdemKey, Slot>>,
    tag: &IdemTag,
) -> Option<Result<Replay, EngineError>> {
    lock(shard)
        .get(&tag.key)
        .map(|slot| answer_occupied(slot, tag))
}

fn answer_occupied(slot: &Slot, tag: &IdemTag) -> Result<Replay, EngineError> {
    match slot {
        Slot::InProgress(digest) if *digest == tag.digest => {
            Err(EngineError::IdempotencyInProgress)
        }
        Slot::Done(digest, reply, _) if *digest == tag.digest => {
            Ok(Replay::Stored(Arc::clone(reply)))
        }
        _ => Err(EngineError::IdempotencyKeyReused),
    }
}
