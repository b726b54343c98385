//! [`IdempotencyTable`]: the keys one actor decided recently, part of its
//! durable state (snapshot + log). Decided keys older than
//! [`ARCHIVE_AFTER_MS`] move to the [`KeyStore`](super::KeyStore): a
//! schedule's continuously through the key writer (`key_writer.rs`), a
//! wallet's at its snapshots. So the table (and every snapshot) holds about a
//! second of keys (a wallet's: plus one snapshot interval), not days.

use boxoffice_engine::Timestamp;
use boxoffice_storage::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::{
    IdemKey, IdemRecord, IdemState, IdempotencyIndex, KeyPacing, ARCHIVE_AFTER_MS, RETENTION_MS,
};
use crate::work_times::Timings;

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

    /// Drops expired records and returns copies of the decided ones older
    /// than [`ARCHIVE_AFTER_MS`]: what may move to the key store now. The
    /// table keeps them until [`Self::forget_archived`] says they are written.
    pub fn due_for_archive(&mut self, now: Timestamp) -> Vec<IdemRecord> {
        self.prune(now);
        // Younger records stay: their request may not have recorded its reply
        // in the index yet, and forgetting must come after that.
        let horizon = now.plus_millis(-ARCHIVE_AFTER_MS);
        self.records
            .values()
            .filter(|r| matches!(r.state, IdemState::Done(_)) && r.at <= horizon)
            .cloned()
            .collect()
    }

    /// Forgets records the key store now holds (those still as they were
    /// when offered); returns how many it forgot.
    pub fn forget_archived<'a>(
        &mut self,
        written: impl IntoIterator<Item = &'a IdemRecord>,
    ) -> usize {
        let mut forgotten = 0;
        for record in written {
            let unchanged = self
                .records
                .get(&record.key)
                .is_some_and(|r| r.digest == record.digest && r.at == record.at);
            if unchanged {
                self.records.remove(&record.key);
                forgotten += 1;
            }
        }
        forgotten
    }

    /// Moves the decided records due (see [`Self::due_for_archive`]) to the
    /// index's key store (which also forgets them in memory) on the caller's
    /// thread, each store write timed into `timings`; returns how many moved.
    /// On an error nothing is dropped: the records stay here and in the
    /// snapshot, and the next call retries.
    pub fn archive_decided(
        &mut self,
        index: &IdempotencyIndex,
        now: Timestamp,
        timings: &Timings,
    ) -> Result<usize, StoreError> {
        let due = self.due_for_archive(now);
        if due.is_empty() {
            return Ok(0);
        }
        let moved = index.archive(&due, now, KeyPacing::INLINE, timings)?;
        Ok(self.forget_archived(moved))
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}
