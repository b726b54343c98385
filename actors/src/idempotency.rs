//! Idempotency keys: the same key from the same user on the same endpoint with
//! the same request does its effect once and replays the first reply.
//!
//! Two halves:
//! - [`IdempotencyTable`] is durable actor state. The actor that performs an
//!   effect logs the key's record in the same batch as the effect's events, so
//!   after a crash both exist or neither does.
//! - [`IdempotencyIndex`] is one process-wide in-memory index over every
//!   table, rebuilt from them at start-up. Keys are scoped to user and endpoint,
//!   not to an actor, so a key first used on one schedule and then sent with a
//!   different body for another must still be refused: only a shared index sees
//!   both. It also answers "in progress" for a duplicate arriving mid-flight.

use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::error::EngineError;
use crate::receipt::StoredReply;

/// Longest accepted key (the HTTP layer validates before it gets here).
pub const MAX_KEY_LEN: usize = 255;
/// Keys are kept at least 24 hours (API.md); we keep them 48.
pub const RETENTION_MS: i64 = 48 * 3_600_000;
const INDEX_SHARDS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Endpoint {
    Reservations,
    Charges,
    Payments,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdemKey {
    pub user: UserId,
    pub endpoint: Endpoint,
    pub key: String,
}

/// A digest of the parsed request (the caller decides how to compute it, e.g.
/// a hash of canonical JSON); only equality matters here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestDigest(pub [u8; 32]);

/// What travels inside an actor command so the actor can log the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdemTag {
    pub key: IdemKey,
    pub digest: RequestDigest,
}

/// Where a durable key stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdemState {
    /// A payment saga started under the key and has not ended; start-up recovery ends it.
    InProgress,
    /// Decided: replay this.
    Done(StoredReply),
    /// The saga ended without a decision (interrupted before the debit): the key is free again.
    Released,
}

/// One durable record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdemRecord {
    pub key: IdemKey,
    pub digest: RequestDigest,
    pub state: IdemState,
    pub at: Timestamp,
}

/// Durable per-actor records, part of the actor's snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyTable {
    records: HashMap<IdemKey, IdemRecord>,
}

impl IdempotencyTable {
    pub fn apply(&mut self, record: &IdemRecord) {
        match record.state {
            IdemState::Released => {
                self.records.remove(&record.key);
            }
            _ => {
                self.records.insert(record.key.clone(), record.clone());
            }
        }
    }

    pub fn get(&self, key: &IdemKey) -> Option<&IdemRecord> {
        self.records.get(key)
    }

    pub fn records(&self) -> impl Iterator<Item = &IdemRecord> {
        self.records.values()
    }

    /// Drops records past retention; done when snapshotting so the table stays bounded.
    pub fn prune(&mut self, now: Timestamp) {
        let horizon = now.plus_millis(-RETENTION_MS);
        self.records
            .retain(|_, r| r.at >= horizon || r.state == IdemState::InProgress);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[derive(Clone, Debug)]
enum Slot {
    InProgress(RequestDigest),
    Done(RequestDigest, Arc<StoredReply>, Timestamp),
}

/// What a caller must do with a keyed request.
#[derive(Debug)]
pub enum Admission {
    /// First time: run it, then call `complete` or `abandon`.
    Proceed,
    /// Seen and finished: answer with this reply, do nothing else.
    Replay(Arc<StoredReply>),
}

#[derive(Default)]
pub struct IdempotencyIndex {
    shards: Vec<Mutex<HashMap<IdemKey, Slot>>>,
}

impl IdempotencyIndex {
    pub fn new() -> Arc<Self> {
        Arc::new(IdempotencyIndex {
            shards: (0..INDEX_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        })
    }

    fn shard(&self, key: &IdemKey) -> std::sync::MutexGuard<'_, HashMap<IdemKey, Slot>> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        let index = (hasher.finish() as usize) % self.shards.len();
        // A poisoned shard means a panic while holding it; the map is still consistent
        // (every operation is a single insert/remove).
        self.shards[index].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims a key, or says how it was already used.
    pub fn begin(&self, tag: &IdemTag) -> Result<Admission, EngineError> {
        if tag.key.key.is_empty() || tag.key.key.len() > MAX_KEY_LEN {
            return Err(EngineError::Validation(format!(
                "Idempotency-Key must be 1-{MAX_KEY_LEN} bytes"
            )));
        }
        let mut shard = self.shard(&tag.key);
        match shard.entry(tag.key.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(Slot::InProgress(tag.digest));
                Ok(Admission::Proceed)
            }
            Entry::Occupied(slot) => match slot.get() {
                Slot::InProgress(digest) if *digest == tag.digest => {
                    Err(EngineError::IdempotencyInProgress)
                }
                Slot::Done(digest, reply, _) if *digest == tag.digest => {
                    Ok(Admission::Replay(Arc::clone(reply)))
                }
                _ => Err(EngineError::IdempotencyKeyReused),
            },
        }
    }

    /// The engine decided: future requests with this key replay `reply`.
    pub fn complete(&self, tag: &IdemTag, reply: StoredReply, at: Timestamp) {
        self.shard(&tag.key)
            .insert(tag.key.clone(), Slot::Done(tag.digest, Arc::new(reply), at));
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

    /// Forgets finished keys older than the retention period.
    pub fn purge(&self, now: Timestamp) {
        let horizon = now.plus_millis(-RETENTION_MS);
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, slot| !matches!(slot, Slot::Done(_, _, at) if *at < horizon));
        }
    }
}

/// Runs `run` under an optional idempotency key: claims the key, replays a
/// stored reply, or runs and then records or frees the key by the outcome.
/// `wrap`/`unwrap` convert between the command's result and the stored form.
pub async fn run_keyed<T, F, Fut>(
    index: &IdempotencyIndex,
    tag: Option<&IdemTag>,
    now: impl Fn() -> Timestamp,
    wrap: fn(Result<T, EngineError>) -> StoredReply,
    unwrap: fn(&StoredReply) -> Option<Result<T, EngineError>>,
    run: F,
) -> Result<T, EngineError>
where
    T: Clone,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, EngineError>>,
{
    let Some(tag) = tag else { return run().await };
    match index.begin(tag)? {
        Admission::Replay(reply) => {
            unwrap(&reply).unwrap_or_else(|| Err(EngineError::IdempotencyKeyReused))
        }
        Admission::Proceed => {
            let outcome = run().await;
            let decided = match &outcome {
                Ok(_) => true,
                Err(e) => e.is_engine_decided(),
            };
            if decided {
                index.complete(tag, wrap(outcome.clone()), now());
            } else {
                index.abandon(&tag.key);
            }
            outcome
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::ChargeReceipt;
    use boxoffice_engine::ids::TransactionId;
    use boxoffice_engine::Money;

    fn tag(key: &str, digest: u8) -> IdemTag {
        IdemTag {
            key: IdemKey {
                user: UserId::from_random_bytes([1; 16]),
                endpoint: Endpoint::Charges,
                key: key.into(),
            },
            digest: RequestDigest([digest; 32]),
        }
    }

    fn reply() -> StoredReply {
        StoredReply::Charge(Ok(ChargeReceipt {
            transaction_id: TransactionId::from_random_bytes([2; 16]),
            amount: Money(5),
            balance: Money(5),
            charged_at: Timestamp(0),
        }))
    }

    #[test]
    fn a_key_moves_from_in_progress_to_replay() {
        let index = IdempotencyIndex::new();
        let t = tag("k", 1);
        assert!(matches!(index.begin(&t), Ok(Admission::Proceed)));
        assert_eq!(
            index.begin(&t).unwrap_err(),
            EngineError::IdempotencyInProgress
        );
        assert_eq!(
            index.begin(&tag("k", 2)).unwrap_err(),
            EngineError::IdempotencyKeyReused
        );
        index.complete(&t, reply(), Timestamp(0));
        assert!(matches!(index.begin(&t), Ok(Admission::Replay(r)) if *r == reply()));
        assert_eq!(
            index.begin(&tag("k", 2)).unwrap_err(),
            EngineError::IdempotencyKeyReused
        );
    }

    #[test]
    fn abandoned_keys_can_be_used_again_and_old_ones_are_purged() {
        let index = IdempotencyIndex::new();
        let t = tag("k", 1);
        assert!(matches!(index.begin(&t), Ok(Admission::Proceed)));
        index.abandon(&t.key);
        assert!(matches!(index.begin(&tag("k", 2)), Ok(Admission::Proceed)));
        index.complete(&tag("k", 2), reply(), Timestamp(0));
        index.purge(Timestamp(RETENTION_MS + 1));
        assert!(matches!(index.begin(&t), Ok(Admission::Proceed)));
    }
}
