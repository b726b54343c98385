//! [`IdempotencyTable`]: the keys one actor decided recently, part of its
//! durable state (snapshot + log). Older decided keys move to the
//! [`KeyStore`](super::KeyStore) at snapshot time, so the table (and every
//! snapshot) holds seconds of keys, not days.

use boxoffice_engine::Timestamp;
use boxoffice_storage::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::{IdemKey, IdemRecord, IdemState, IdempotencyIndex, ARCHIVE_AFTER_MS, RETENTION_MS};

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

    /// Drops records past retention.
    pub fn prune(&mut self, now: Timestamp) {
        let horizon = now.plus_millis(-RETENTION_MS);
        self.records
            .retain(|_, r| r.at >= horizon || r.state == IdemState::InProgress);
    }

    /// Tidies the table before a snapshot: drops expired records and moves
    /// decided ones older than [`ARCHIVE_AFTER_MS`] to the index's key store
    /// (which also forgets them in memory). Returns how many moved. On an
    /// error nothing is dropped: the records stay here and in the snapshot,
    /// and the next snapshot retries.
    pub fn archive_decided(
        &mut self,
        index: &IdempotencyIndex,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        self.prune(now);
        // Younger records stay: their request may not have recorded its reply
        // in the index yet, and forgetting must come after that.
        let horizon = now.plus_millis(-ARCHIVE_AFTER_MS);
        let due: Vec<&IdemRecord> = self
            .records
            .values()
            .filter(|r| matches!(r.state, IdemState::Done(_)) && r.at <= horizon)
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let moved: Vec<IdemKey> = index
            .archive(due, now)?
            .into_iter()
            .map(|r| r.key.clone())
            .collect();
        for key in &moved {
            self.records.remove(key);
        }
        Ok(moved.len())
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}
