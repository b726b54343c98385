//! The storage contract every actor sees: per-actor append-only logs,
//! snapshots and a little metadata.
//!
//! An actor appends one record per batch of events (records are opaque bytes
//! here; the [`crate::codec`] turns values into them), snapshots its state
//! every N events, trims the log behind the snapshot, and recovers as "last
//! snapshot + the records after it". Nothing written is durable until a later
//! [`Store::flush`] returns Ok; the [`crate::GroupCommit`] shares one flush
//! among many actors. Implemented by [`crate::SledStore`] (production) and
//! [`crate::MemoryStore`] (tests, with deterministic fault injection).

use crate::StoreError;

/// Per-log sequence number of a record: starts at 1, strictly increasing,
/// never reused once durable (not even after a trim). 0 means "no record".
pub type Lsn = u64;

/// What every store offers. Object-safe; used as `Arc<dyn Store>`.
///
/// Log names (and meta keys) are checked by [`crate::limits::check_log_name`]:
/// a bad one is refused with [`StoreError::Io`].
pub trait Store: Send + Sync + 'static {
    /// Appends one record to `log`; visible to read_log at once, durable only
    /// after a later flush(). Returns its Lsn.
    fn append(&self, log: &str, record: &[u8]) -> Result<Lsn, StoreError>;
    /// Appends `first.1` to log `first.0` and `second.1` to log `second.0`
    /// (an actor's batch and the outbox record of its booking events),
    /// writing the SECOND first: after a crash both records are there, or
    /// neither, or the second alone, never the first alone. A caller that
    /// needs the pair atomic removes a lone second with [`Store::remove_last`]
    /// at start-up (it is always its log's last record: pairs on one log are
    /// serialized). Not one sled batch: sled 0.34 applies a batch under a
    /// global lock that waits for a running flush, which halved holds/s.
    /// The two logs must differ. Returns the two lsns; durable after a later
    /// flush, like `append`.
    fn append_pair(
        &self,
        first: (&str, &[u8]),
        second: (&str, &[u8]),
    ) -> Result<(Lsn, Lsn), StoreError>;
    /// Removes record `lsn` of `log`, which must be the log's last record
    /// (the lone half of a torn [`Store::append_pair`], found at start-up);
    /// the next append gets `lsn` again. Refused otherwise.
    fn remove_last(&self, log: &str, lsn: Lsn) -> Result<(), StoreError>;
    /// Makes every append/snapshot/trim/put_meta that returned before this call durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Records with lsn > `after`, in order.
    fn read_log(&self, log: &str, after: Lsn) -> Result<Vec<(Lsn, Vec<u8>)>, StoreError>;
    /// At most `max_records` records with lsn > `after`, in order: a walk
    /// of a long log (the outbox) a page at a time.
    fn read_log_page(
        &self,
        log: &str,
        after: Lsn,
        max_records: usize,
    ) -> Result<Vec<(Lsn, Vec<u8>)>, StoreError>;
    /// The last lsn ever assigned in `log` (0 if none); survives trims.
    fn last_lsn(&self, log: &str) -> Result<Lsn, StoreError>;
    /// Stores a snapshot covering every record <= `upto` (replaces the
    /// previous one atomically). `upto` must not exceed `last_lsn(log)`: a
    /// snapshot claiming records that do not exist yet would hide them at recovery.
    fn write_snapshot(&self, log: &str, upto: Lsn, snapshot: &[u8]) -> Result<(), StoreError>;
    /// The last snapshot written to `log` and the lsn it covers, if any.
    fn read_snapshot(&self, log: &str) -> Result<Option<(Lsn, Vec<u8>)>, StoreError>;
    /// Deletes records with lsn <= upto (only ever called after a snapshot
    /// covering them is written). The log's last lsn is kept.
    fn trim(&self, log: &str, upto: Lsn) -> Result<(), StoreError>;
    /// Names of every log (or snapshot) whose name starts with `prefix`, sorted, each once.
    fn list_logs(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Small key/value metadata (e.g. a generated JWT secret); durable after flush.
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// The value last put under `key`, if any.
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Removes `key` (nothing if absent); durable after flush, like `put_meta`.
    fn delete_meta(&self, key: &str) -> Result<(), StoreError>;
    /// Up to `limit` meta keys that start with `prefix`, sorted. Bounded so
    /// that a caller walking a large namespace does it a page at a time.
    fn list_meta(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError>;
    /// Puts every `(key, value)` of `entries` as one write: after a crash
    /// either all of them are there or none. Every key and value is checked
    /// as `put_meta` checks them before any is written; a later entry for the
    /// same key wins. Durable after flush, like `put_meta`.
    fn put_meta_batch(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError>;
    /// Up to `limit` meta entries (key and value) whose key starts with
    /// `prefix` and sorts strictly after `after` (from the first when `None`),
    /// in key order: a walk of a namespace a page at a time, each page
    /// resuming after the last key of the one before.
    fn scan_meta(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

/// Checks the two halves of an `append_pair` (both stores refuse the same pairs).
pub(crate) fn check_pair(first: (&str, &[u8]), second: (&str, &[u8])) -> Result<(), StoreError> {
    for (log, record) in [first, second] {
        crate::limits::check_log_name(log)?;
        crate::limits::check_size("record", record.len(), crate::limits::MAX_RECORD_BYTES)?;
    }
    if first.0 == second.0 {
        return Err(StoreError::Io(format!(
            "a pair append needs two different logs, not {} twice",
            first.0
        )));
    }
    Ok(())
}

/// Writes `entries` as plain `put_meta` inserts, one after another, for
/// writers that need only order, not all-or-none. Not `put_meta_batch`:
/// sled 0.34 applies a batch under its global write lock, which waits for
/// any running flush and stalls every append meanwhile (the webhook outbox's
/// pair did that and halved holds/s; the key writer's batches of 128 keys
/// doubled the hold p99, issue 21). Both stores recover a prefix of their
/// writes, so once a later entry is durable every earlier one is.
pub fn put_meta_in_order(
    store: &dyn Store,
    entries: &[(String, Vec<u8>)],
) -> Result<(), StoreError> {
    for (key, value) in entries {
        store.put_meta(key, value)?;
    }
    Ok(())
}

/// Checks every entry of a `put_meta_batch` (both stores refuse the same batches).
pub(crate) fn check_meta_batch(entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
    for (key, value) in entries {
        crate::limits::check_log_name(key)?;
        crate::limits::check_size(
            "meta value",
            value.len(),
            crate::limits::MAX_META_VALUE_BYTES,
        )?;
    }
    Ok(())
}
