//! [`BoundedStore`]: governor's keyed state, with a hard cap on the keys it
//! holds, so a flood of distinct callers (addresses) cannot grow the
//! limiter's memory without end.
//!
//! Each key's state is one "theoretical arrival time" (GCRA), in
//! nanoseconds since the limiter started. The store is sharded (a mutex per
//! shard, so workers rarely wait on each other). Two kinds of eviction:
//! - idle keys: [`BoundedStore::retain_recent`] drops every key whose
//!   allowance is whole again (its state says nothing a fresh key would not),
//!   run by the limiter every `PRUNE_EVERY_CHECKS` checks;
//! - at capacity: a shard that is full when a new key arrives drops the
//!   eighth of its keys whose allowance is closest to whole (idle keys
//!   first, as theirs is whole). Those callers get a fresh allowance,
//!   which only happens under a flood of more distinct callers than the
//!   capacity, and favours nobody who is actually being refused (their state
//!   is furthest from whole). Dropping an eighth at once keeps the cost of
//!   the selection (linear in the shard) constant per new key.

use governor::nanos::Nanos;
use governor::state::StateStore;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex, MutexGuard};

/// Shards of a store: a power of two, a few per core.
const SHARDS: usize = 16;
/// The share of a full shard evicted at once: 1/8.
const EVICT_SHARE_DIVISOR: usize = 8;

/// Cloning gives another handle on the same keys (the limiter owns one,
/// its pruning another: governor gives no access to its store).
#[derive(Clone)]
pub struct BoundedStore<K> {
    shards: Arc<[Mutex<HashMap<K, u64>>]>,
    per_shard: usize,
    hasher: RandomState,
}

impl<K: Hash + Eq + Clone> BoundedStore<K> {
    /// Holds at most about `capacity` keys (at least one per shard).
    pub fn with_capacity(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        BoundedStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &K) -> MutexGuard<'_, HashMap<K, u64>> {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        // A poisoned lock only means a thread panicked holding it; each
        // change is one insert or remove, so the map is still whole.
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the keys whose state is at or before `now_nanos` (allowance
    /// whole again), and gives their memory back.
    pub fn retain_recent(&self, now_nanos: u64) {
        for shard in self.shards.iter() {
            let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, tat| *tat > now_nanos);
            map.shrink_to_fit();
        }
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys held at once.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }
}

/// Makes room in a full shard: drops the eighth of its keys whose state is
/// lowest, i.e. whose allowance is closest to whole (idle keys first).
fn evict(map: &mut HashMap<impl Hash + Eq, u64>) {
    let mut tats: Vec<u64> = map.values().copied().collect();
    if tats.is_empty() {
        return;
    }
    let share = (tats.len() / EVICT_SHARE_DIVISOR).max(1);
    let threshold = *tats.select_nth_unstable(share - 1).1;
    // Exactly `share` keys, even when many states are equal.
    let mut left = share;
    map.retain(|_, tat| {
        let drop = *tat <= threshold && left > 0;
        left -= usize::from(drop);
        !drop
    });
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut map = self.shard(key);
        let old = map.get(key).copied();
        let (outcome, new) = f(old.map(Nanos::from))?;
        if old.is_none() && map.len() >= self.per_shard {
            evict(&mut map);
        }
        map.insert(key.clone(), new.as_u64());
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_shard_drops_the_keys_closest_to_whole() {
        let mut map: HashMap<u32, u64> = (0..80).map(|k| (k, u64::from(k) * 10)).collect();
        evict(&mut map);
        assert_eq!(map.len(), 70);
        assert!(
            (0..10).all(|k| !map.contains_key(&k)),
            "the ten lowest went"
        );
        // Equal states: still exactly an eighth.
        let mut map: HashMap<u32, u64> = (0..80).map(|k| (k, 5)).collect();
        evict(&mut map);
        assert_eq!(map.len(), 70);
    }

    #[test]
    fn the_store_never_holds_more_than_its_capacity() {
        let store = BoundedStore::<u32>::with_capacity(1_000);
        for key in 0..100_000u32 {
            let outcome: Result<(), ()> =
                store.measure_and_replace(&key, |_| Ok(((), Nanos::from(u64::from(key) + 1))));
            assert!(outcome.is_ok());
        }
        assert!(store.len() <= store.capacity(), "{} keys", store.len());
        assert!(store.len() >= store.capacity() / 2);
        store.retain_recent(u64::MAX);
        assert!(store.is_empty());
    }
}
