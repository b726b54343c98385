//! [`IdempotencyTable`]: the keys one actor decided recently, part of its
//! durable state (snapshot + log). Decided keys older than
//! [`ARCHIVE_AFTER_MS`] move to the [`KeyStore`](super::KeyStore): a
//! schedule's continuously through the key writer (`key_writer.rs`), a
//! wallet's at its snapshots. The table forgets them only at a snapshot, so
//! it is always what its snapshot and log recover; a schedule's snapshot
//! holds about a second of keys (a wallet's: one snapshot interval), not days.

use boxoffice_engine::Timestamp;
use boxoffice_storage::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::{
    IdemKey, IdemRecord, IdemState, IdempotencyIndex, KeyPacing, RequestDigest, ARCHIVE_AFTER_MS,
    RETENTION_MS,
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

    /// Copies of the decided records decided after `after` and at or before
    /// `through`: what may move to the key store (see `key_writer.rs`). The
    /// table keeps them until [`Self::forget_archived`] is told they are written.
    pub fn decided_between(&self, after: Timestamp, through: Timestamp) -> Vec<IdemRecord> {
        self.records
            .values()
            .filter(|r| matches!(r.state, IdemState::Done(_)) && after < r.at && r.at <= through)
            .cloned()
            .collect()
    }

    /// Forgets records the key store now holds (those still as they were
    /// when written); returns how many it forgot. Call it only right before
    /// a snapshot: the table is then what its snapshot and log recover.
    pub fn forget_archived<'a>(
        &mut self,
        written: impl IntoIterator<Item = &'a WrittenKey>,
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

    /// Tidies the table before a snapshot, on the caller's thread: drops
    /// expired records and moves decided ones older than [`ARCHIVE_AFTER_MS`]
    /// to the index's key store (which also forgets them in memory), each
    /// store write timed into `timings`. Returns how many moved. On an error
    /// nothing is dropped: the records stay here and in the snapshot, and the
    /// next snapshot retries.
    pub fn archive_decided(
        &mut self,
        index: &IdempotencyIndex,
        now: Timestamp,
        timings: &Timings,
    ) -> Result<usize, StoreError> {
        self.prune(now);
        // Younger records stay: their request may not have recorded its reply
        // in the index yet, and forgetting must come after that.
        let due = self.decided_between(Timestamp::MIN, now.plus_millis(-ARCHIVE_AFTER_MS));
        if due.is_empty() {
            return Ok(0);
        }
        let moved: Vec<WrittenKey> = index
            .archive(&due, now, KeyPacing::INLINE, timings)?
            .into_iter()
            .map(WrittenKey::from)
            .collect();
        Ok(self.forget_archived(&moved))
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// What identifies a record written to the key store: enough for the table
/// to forget exactly that record later (not a newer one under the same key).
#[derive(Clone, Debug)]
pub struct WrittenKey {
    key: IdemKey,
    digest: RequestDigest,
    at: Timestamp,
}

impl From<&IdemRecord> for WrittenKey {
    fn from(record: &IdemRecord) -> Self {
        WrittenKey {
            key: record.key.clone(),
            digest: record.digest,
            at: record.at,
        }
    }
}

impl From<IdemRecord> for WrittenKey {
    fn from(record: IdemRecord) -> Self {
        WrittenKey {
            key: record.key,
            digest: record.digest,
            at: record.at,
        }
    }
}
