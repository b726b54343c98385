//! The production [`Store`]: per-actor logs, snapshots and metadata in sled 0.34.
//!
//! Layout: tree `log` holds every record under `[log name][0x00][lsn BE]` (see
//! [`crate::sled_keys`]) so one log is one contiguous key range, plus a
//! high-water mark per trimmed log; tree `snapshot` maps a log name to
//! `[upto u64 BE][snapshot bytes]`; tree `meta` holds metadata. Each log's last
//! lsn is cached in memory, loaded lazily on first use as the largest of the
//! log's last record, its high-water mark and its snapshot's `upto`.
//!
//! sled is opened in `Mode::HighThroughput`: our writes are appends followed,
//! after each snapshot, by trims, so old segments are mostly garbage anyway;
//! `LowSpace` would rewrite (defragment) segments more eagerly, spending write
//! bandwidth on the hot path to save disk space we do not need to save.
//! sled's own background flush (every 500 ms) stays at its default: it is
//! harmless, and durability never relies on it.
//!
//! # Which failures a successful `flush` covers
//! - [`Durability::ProcessCrash`] (the default): sled's flush writes its
//!   buffers and calls `sync_file_range` on its `db` file. Everything flushed
//!   survives a crash of the process (panic, kill -9, OOM kill). It does NOT
//!   guarantee survival of a power loss or kernel crash: the drive's write
//!   cache and the file's metadata are not flushed, and sled writes values
//!   over ~128 KiB as separate blob files that it never syncs.
//! - [`Durability::PowerLoss`]: after sled's flush, additionally fdatasyncs
//!   the `db` file and syncs new blob files and their directory (see
//!   [`crate::power_loss_sync`]). Everything flushed then also survives power
//!   loss, on a drive that honours flush requests.
//!
//! Neither mode survives a lost or corrupted disk. Unflushed writes may or may
//! not survive any crash.
//!
//! Concurrency: appends to different logs run in parallel (one lock per log,
//! held across the sled insert so that lsns appear in a log in order); a single
//! log is normally appended only by its owning actor, but concurrent appends to
//! it are safe too. Per-log locks measured ~25-35% faster than one mutex for
//! all logs with 2 appending threads (the one-mutex case serializes sled
//! inserts that sled itself can run in parallel). The lock table keeps one
//! small entry per log ever touched (bounded by the number of actors).
//! A failed flush poisons the store: every later write and
//! flush returns [`StoreError::Poisoned`] (fail-stop).
//!
//! # Trims
//! A trim writes the log's high-water mark (its last lsn) as a plain insert,
//! then removes the records up to the snapshot's lsn oldest first, a page of
//! keys at a time ([`TRIM_KEYS_PER_PAGE`]), each page one small `sled::Batch`;
//! not the whole trim as one batch, which sled 0.34 applies under its global
//! write lock and so stalled every append for as long as a large trim took. The engine calls
//! it after the snapshot covering those records was written (in the store's
//! order), so, since sled recovers a prefix of its writes, a crash at any
//! point leaves: the snapshot; the mark, if any removal survived; and the
//! records not yet removed, all <= the snapshot's lsn, which recovery skips
//! (it reads the log after the snapshot's lsn) and the next trim removes.
//! The last lsn, the largest of the last record, the mark and the
//! snapshot's lsn, is never lost.
//!
//! # Lost flushed data is refused, not served
//! Each flush also advances a flush sequence number kept both inside sled
//! and in a side file next to it ([`crate::flush_watermark`]); `open`
//! refuses a data dir whose side file claims a flush that sled's file no
//! longer holds (a damaged or cut `db` file), instead of serving what is
//! left. Flushes are serialized by the watermark's lock so that the numbers
//! written inside sled, and the claims in the side file, only grow.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::flush_watermark::{self, FlushWatermark, SLED_FLUSH_SEQ_KEY};
use crate::limits::{
    check_log_name, check_log_prefix, check_size, MAX_META_VALUE_BYTES, MAX_RECORD_BYTES,
    MAX_SNAPSHOT_BYTES,
};
use crate::power_loss_sync::PowerLossSync;
use crate::sled_keys::{self, LogKey};
use crate::{Lsn, Store, StoreError};

/// Which failures a successful flush must survive (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// sled's own flush (`sync_file_range`): survives a process crash, not power loss.
    #[default]
    ProcessCrash,
    /// sled's flush plus fdatasync of its files: survives power loss too (slower per flush).
    PowerLoss,
}

/// Per-log state guarded by that log's lock.
#[derive(Debug, Default)]
struct LogCursor {
    /// The last lsn assigned in this log; `None` until loaded from disk.
    last: Option<Lsn>,
}

/// The sled-backed store. Cheap to share as `Arc<dyn Store>`.
pub struct SledStore {
    db: sled::Db,
    records: sled::Tree,
    snapshots: sled::Tree,
    meta: sled::Tree,
    /// One lock per log; the outer lock is held only to find or create it.
    cursors: Mutex<HashMap<String, Arc<Mutex<LogCursor>>>>,
    poisoned: AtomicBool,
    power_loss: Option<PowerLossSync>,
    /// The side file and the last flush sequence number written into sled;
    /// its lock serializes flushes.
    watermark: Mutex<WatermarkCursor>,
}

/// Flush sequencing state (see the module doc).
#[derive(Debug)]
struct WatermarkCursor {
    side_file: FlushWatermark,
    /// The last flush sequence number inserted into sled's `meta` tree.
    seq: u64,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("poisoned", &self.poisoned.load(Ordering::Relaxed))
            .field("power_loss", &self.power_loss.is_some())
            .finish_non_exhaustive()
    }
}

/// How long `open` waits for the directory's file lock. sled releases the lock
/// from a background thread shortly after the last handle in this process is
/// dropped, so an immediate reopen (a restart within one process) can find it
/// still taken for a moment. Another live process keeps it: then we give up.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(20);

/// Keys a trim reads per range scan before removing them (see "Trims" in
/// the module doc): bounds the memory of a trim of a long log.
const TRIM_KEYS_PER_PAGE: usize = 256;

/// Default of sled's page cache: sled's own default is 1 GiB, which a store
/// that archives every ended reservation fills within minutes of an on-sale.
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// Accepted range of the cache size (bytes).
pub const CACHE_BYTES_RANGE: std::ops::RangeInclusive<u64> = (8 * 1024 * 1024)..=(64 << 30);

fn open_db(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    if !CACHE_BYTES_RANGE.contains(&cache_bytes) {
        return Err(StoreError::Io(format!(
            "sled cache of {cache_bytes} bytes is outside {CACHE_BYTES_RANGE:?}"
        )));
    }
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(cache_bytes)
            .open()
        {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(io)) if is_lock_taken(&io) && started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(LOCK_RETRY);
            }
            Err(e) => {
                return Err(sled_error(
                    "open (is another boxoffice using this data dir?)",
                    &e,
                ))
            }
        }
    }
}

/// Whether sled's open failed because the directory's file lock is taken.
/// sled 0.34 reports it as `ErrorKind::Other` with the OS error (EWOULDBLOCK)
/// only in the message, so the kind alone never matches (that made the retry
/// above dead code until a test that reopens at once flaked in CI).
fn is_lock_taken(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("could not acquire lock")
}

impl SledStore {
    /// Opens (or creates) the store in `dir` with [`Durability::ProcessCrash`].
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with(dir, Durability::default())
    }

    /// Opens (or creates) the store in `dir` with the given durability.
    pub fn open_with(dir: &Path, durability: Durability) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(dir, durability, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store in `dir` with the given durability and a
    /// page cache of `cache_bytes` (within [`CACHE_BYTES_RANGE`]). sled's
    /// memory use grows up to about this, and somewhat past it.
    pub fn open_with_cache(
        dir: &Path,
        durability: Durability,
        cache_bytes: u64,
    ) -> Result<SledStore, StoreError> {
        let db = open_db(dir, cache_bytes)?;
        let open_tree = |name: &str| db.open_tree(name).map_err(|e| sled_error("open tree", &e));
        let records = open_tree("log")?;
        let snapshots = open_tree("snapshot")?;
        let meta = open_tree("meta")?;
        let power_loss = match durability {
            Durability::ProcessCrash => None,
            Durability::PowerLoss => Some(PowerLossSync::open(dir)?),
        };
        let sled_seq = flush_watermark::parse_sled_seq(
            meta.get(SLED_FLUSH_SEQ_KEY)
                .map_err(|e| sled_error("read flush sequence", &e))?
                .as_deref(),
        )?;
        let side_file = FlushWatermark::open(dir, sled_seq, power_loss.is_some())?;
        Ok(SledStore {
            db,
            records,
            snapshots,
            meta,
            cursors: Mutex::new(HashMap::new()),
            poisoned: AtomicBool::new(false),
            power_loss,
            watermark: Mutex::new(WatermarkCursor {
                side_file,
                seq: sled_seq,
            }),
        })
    }

    /// The durability this store was opened with.
    pub fn durability(&self) -> Durability {
        if self.power_loss.is_some() {
            Durability::PowerLoss
        } else {
            Durability::ProcessCrash
        }
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned);
        }
        Ok(())
    }

    fn cursor(&self, log: &str) -> Arc<Mutex<LogCursor>> {
        let mut cursors = self.cursors.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cursor) = cursors.get(log) {
            return Arc::clone(cursor);
        }
        let cursor = Arc::new(Mutex::new(LogCursor::default()));
        cursors.insert(log.to_owned(), Arc::clone(&cursor));
        cursor
    }

    /// The log's last lsn, loading it from disk on first use.
    fn last_loaded(
        &self,
        cursor: &mut MutexGuard<'_, LogCursor>,
        log: &str,
    ) -> Result<Lsn, StoreError> {
        if let Some(last) = cursor.last {
            return Ok(last);
        }
        let last = self.load_last(log)?;
        cursor.last = Some(last);
        Ok(last)
    }

    fn load_last(&self, log: &str) -> Result<Lsn, StoreError> {
        let mut last = 0;
        let range = sled_keys::mark_key(log)..sled_keys::end_key(log);
        if let Some(entry) = self.records.range(range).next_back() {
            let (key, value) = entry.map_err(|e| sled_error("read log", &e))?;
            last = match sled_keys::parse(&key)? {
                LogKey::Record(_, lsn) => lsn,
                LogKey::Mark(_) => sled_keys::parse_lsn(&value, &format!("mark of log {log}"))?,
            };
        }
        if let Some(mark) = self
            .records
            .get(sled_keys::mark_key(log))
            .map_err(|e| sled_error("read log mark", &e))?
        {
            last = last.max(sled_keys::parse_lsn(&mark, &format!("mark of log {log}"))?);
        }
        if let Some(upto) = self.snapshot_upto(log)? {
            last = last.max(upto);
        }
        Ok(last)
    }

    fn snapshot_upto(&self, log: &str) -> Result<Option<Lsn>, StoreError> {
        let Some(value) = self
            .snapshots
            .get(log.as_bytes())
            .map_err(|e| sled_error("read snapshot", &e))?
        else {
            return Ok(None);
        };
        Ok(Some(sled_keys::parse_lsn(
            &value,
            &format!("snapshot of log {log}"),
        )?))
    }
}

impl SledStore {
    /// [`Store::trim`], stopping after `most` writes (the mark, then each
    /// removal): a test cuts a trim there as a crash would (see "Trims" in
    /// the module doc).
    ///
    /// The log's cursor lock is held only for the checks and the mark: the
    /// owner's appends to the same log (lsns above `last`) go on during the
    /// removals, which touch only lsns <= `upto` <= `last`.
    fn trim_writing_at_most(&self, log: &str, upto: Lsn, most: usize) -> Result<(), StoreError> {
        check_log_name(log)?;
        self.check_writable()?;
        if upto == 0 || most == 0 {
            return Ok(());
        }
        {
            let cursor = self.cursor(log);
            let mut cursor = cursor.lock().unwrap_or_else(PoisonError::into_inner);
            let last = self.last_loaded(&mut cursor, log)?;
            let covered = self.snapshot_upto(log)?.unwrap_or(0);
            if upto > covered {
                return Err(StoreError::Io(format!(
                    "trim of log {log} up to lsn {upto} is beyond its snapshot (up to {covered})"
                )));
            }
            // The mark first, as a plain insert: once any removal is durable
            // the mark is too (a prefix of the writes), so the last lsn is
            // never lost, even if the records removed were the last ones.
            self.records
                .insert(sled_keys::mark_key(log), &last.to_be_bytes())
                .map_err(|e| sled_error("trim mark", &e))?;
        }
        let end = sled_keys::record_key(log, upto);
        let mut from = sled_keys::record_key(log, 1);
        let mut written = 1;
        while written < most {
            // A page of keys, removed as one small `sled::Batch`. Not the
            // whole trim as one batch: sled 0.34 applies a batch under its
            // global write lock, which waits for a running flush and blocks
            // every other write meanwhile; a trim of a large log held it for
            // hundreds of ms (issue 21). Not plain removes either: they cost
            // about twice the CPU per key (session 16). A page holds the lock
            // for milliseconds, not hundreds (estimated from the archive's
            // writes of ~100 keys, ~1.3 ms; not measured for trims).
            let keys = self
                .records
                .range(from.clone()..=end.clone())
                .keys()
                .take(TRIM_KEYS_PER_PAGE.min(most - written))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| sled_error("trim", &e))?;
            let Some(last_key) = keys.last() else {
                break;
            };
            from = last_key.to_vec();
            from.push(0);
            let mut page = sled::Batch::default();
            for key in &keys {
                page.remove(key.clone());
            }
            self.records
                .apply_batch(page)
                .map_err(|e| sled_error("trim", &e))?;
            written += keys.len();
        }
        Ok(())
    }
}

impl SledStore {
    /// One flush, with the watermark's lock held: the next sequence number
    /// into sled, sled's flush (and fdatasync in PowerLoss mode), then the
    /// side file's claim. Any error poisons the store (the caller does it).
    fn flush_under(&self, watermark: &mut WatermarkCursor) -> Result<(), StoreError> {
        let seq = watermark
            .seq
            .checked_add(1)
            .ok_or_else(|| StoreError::Io("flush sequence number overflowed".to_owned()))?;
        self.meta
            .insert(SLED_FLUSH_SEQ_KEY, &seq.to_be_bytes())
            .map_err(|e| sled_error("write flush sequence", &e))?;
        watermark.seq = seq;
        self.db.flush().map_err(|e| sled_error("flush", &e))?;
        if let Some(sync) = &self.power_loss {
            sync.sync()?;
        }
        watermark.side_file.record(seq)
    }
}

impl Store for SledStore {
    fn append(&self, log: &str, record: &[u8]) -> Result<Lsn, StoreError> {
        check_log_name(log)?;
        check_size("record", record.len(), MAX_RECORD_BYTES)?;
        self.check_writable()?;
        let cursor = self.cursor(log);
        let mut cursor = cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let last = self.last_loaded(&mut cursor, log)?;
        let lsn = last
            .checked_add(1)
            .ok_or_else(|| StoreError::Io(format!("log {log} ran out of lsns")))?;
        self.records
            .insert(sled_keys::record_key(log, lsn), record)
            .map_err(|e| sled_error("append", &e))?;
        cursor.last = Some(lsn);
        Ok(lsn)
    }

    /// Both records in one sled `Batch` on the records tree (atomic across a
    /// crash), with both logs' cursor locks held, taken in name order so two
    /// pair appends over the same logs cannot deadlock.
    fn append_pair(
        &self,
        first: (&str, &[u8]),
        second: (&str, &[u8]),
    ) -> Result<(Lsn, Lsn), StoreError> {
        crate::store::check_pair(first, second)?;
        self.check_writable()?;
        let (low, high) = if first.0 < second.0 {
            (first.0, second.0)
        } else {
            (second.0, first.0)
        };
        let (low_cursor, high_cursor) = (self.cursor(low), self.cursor(high));
        let mut low_cursor = low_cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let mut high_cursor = high_cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let next = |last: Lsn, log: &str| {
            last.checked_add(1)
                .ok_or_else(|| StoreError::Io(format!("log {log} ran out of lsns")))
        };
        let low_lsn = next(self.last_loaded(&mut low_cursor, low)?, low)?;
        let high_lsn = next(self.last_loaded(&mut high_cursor, high)?, high)?;
        let (first_lsn, second_lsn) = if first.0 == low {
            (low_lsn, high_lsn)
        } else {
            (high_lsn, low_lsn)
        };
        // Two plain inserts, the second record first. Not a `sled::Batch`:
        // sled 0.34 applies a batch under its global concurrency-control
        // write lock, which waits for a running flush (a flush holds the
        // read side through its fsync) and blocks every other insert
        // meanwhile, so appends stopped overlapping flushes and holds/s
        // halved. sled recovers a prefix of its writes, so a crash between
        // the two leaves the second record alone: the outbox record of a
        // batch that never landed, which `Outbox` start-up removes with
        // `Store::remove_last` before anyone can read it (it was never
        // served: the pair's waiter runs only after a flush covering both).
        self.records
            .insert(sled_keys::record_key(second.0, second_lsn), second.1)
            .map_err(|e| sled_error("append pair", &e))?;
        if let Err(e) = self
            .records
            .insert(sled_keys::record_key(first.0, first_lsn), first.1)
        {
            // The second record is written and the first is not: a torn
            // pair in a live process, which later pairs would serve as if
            // it were whole. Stop writing (fail-stop, like a failed flush),
            // so the start-up repair runs before anything reads past it.
            self.poisoned.store(true, Ordering::Release);
            return Err(sled_error("append pair", &e));
        }
        low_cursor.last = Some(low_lsn);
        high_cursor.last = Some(high_lsn);
        Ok((first_lsn, second_lsn))
    }

    fn remove_last(&self, log: &str, lsn: Lsn) -> Result<(), StoreError> {
        check_log_name(log)?;
        self.check_writable()?;
        let cursor = self.cursor(log);
        let mut cursor = cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let last = self.last_loaded(&mut cursor, log)?;
        let key = sled_keys::record_key(log, lsn);
        let present = self
            .records
            .contains_key(&key)
            .map_err(|e| sled_error("remove last", &e))?;
        if last != lsn || !present {
            return Err(StoreError::Io(format!(
                "log {log}: {lsn} is not its last record ({last})"
            )));
        }
        self.records
            .remove(key)
            .map_err(|e| sled_error("remove last", &e))?;
        cursor.last = Some(lsn - 1);
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.check_writable()?;
        let mut watermark = self
            .watermark
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let flushed = self.flush_under(&mut watermark);
        if let Err(error) = flushed {
            self.poisoned.store(true, Ordering::Release);
            tracing::error!(%error, "flush failed; the store is poisoned");
            return Err(error);
        }
        Ok(())
    }

    fn read_log(&self, log: &str, after: Lsn) -> Result<Vec<(Lsn, Vec<u8>)>, StoreError> {
        check_log_name(log)?;
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let range = sled_keys::record_key(log, first)..sled_keys::end_key(log);
        let mut out = Vec::new();
        for entry in self.records.range(range) {
            let (key, value) = entry.map_err(|e| sled_error("read log", &e))?;
            match sled_keys::parse(&key)? {
                LogKey::Record(name, lsn) if name == log => out.push((lsn, value.to_vec())),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "unexpected key {other:?} inside the range of log {log}"
                    )))
                }
            }
        }
        Ok(out)
    }

    fn read_log_page(
        &self,
        log: &str,
        after: Lsn,
        max_records: usize,
    ) -> Result<Vec<(Lsn, Vec<u8>)>, StoreError> {
        check_log_name(log)?;
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let range = sled_keys::record_key(log, first)..sled_keys::end_key(log);
        let mut out = Vec::new();
        for entry in self.records.range(range).take(max_records) {
            let (key, value) = entry.map_err(|e| sled_error("read log page", &e))?;
            match sled_keys::parse(&key)? {
                LogKey::Record(name, lsn) if name == log => out.push((lsn, value.to_vec())),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "unexpected key {other:?} inside the range of log {log}"
                    )))
                }
            }
        }
        Ok(out)
    }

    fn last_lsn(&self, log: &str) -> Result<Lsn, StoreError> {
        check_log_name(log)?;
        let cursor = self.cursor(log);
        let mut cursor = cursor.lock().unwrap_or_else(PoisonError::into_inner);
        self.last_loaded(&mut cursor, log)
    }

    fn write_snapshot(&self, log: &str, upto: Lsn, snapshot: &[u8]) -> Result<(), StoreError> {
        check_log_name(log)?;
        check_size("snapshot", snapshot.len(), MAX_SNAPSHOT_BYTES)?;
        self.check_writable()?;
        let cursor = self.cursor(log);
        let mut cursor = cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let last = self.last_loaded(&mut cursor, log)?;
        if upto > last {
            return Err(StoreError::Io(format!(
                "snapshot of log {log} up to lsn {upto} is beyond its last lsn {last}"
            )));
        }
        let mut value = Vec::with_capacity(8 + snapshot.len());
        value.extend_from_slice(&upto.to_be_bytes());
        value.extend_from_slice(snapshot);
        self.snapshots
            .insert(log.as_bytes(), value)
            .map_err(|e| sled_error("write snapshot", &e))?;
        Ok(())
    }

    fn read_snapshot(&self, log: &str) -> Result<Option<(Lsn, Vec<u8>)>, StoreError> {
        check_log_name(log)?;
        let Some(value) = self
            .snapshots
            .get(log.as_bytes())
            .map_err(|e| sled_error("read snapshot", &e))?
        else {
            return Ok(None);
        };
        let upto = sled_keys::parse_lsn(&value, &format!("snapshot of log {log}"))?;
        Ok(Some((upto, value[8..].to_vec())))
    }

    fn trim(&self, log: &str, upto: Lsn) -> Result<(), StoreError> {
        self.trim_writing_at_most(log, upto, usize::MAX)
    }

    fn list_logs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        check_log_prefix(prefix)?;
        let mut names = BTreeSet::new();
        // One seek per log: jump from each log's first key to past its range.
        let mut from = prefix.as_bytes().to_vec();
        while let Some(entry) = self.records.range(from.clone()..).keys().next() {
            let key = entry.map_err(|e| sled_error("list logs", &e))?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            let name = match sled_keys::parse(&key)? {
                LogKey::Mark(name) | LogKey::Record(name, _) => name,
            };
            from = sled_keys::end_key(name);
            names.insert(name.to_owned());
        }
        for key in self.snapshots.scan_prefix(prefix.as_bytes()).keys() {
            let key = key.map_err(|e| sled_error("list snapshots", &e))?;
            let name = std::str::from_utf8(&key)
                .map_err(|_| StoreError::Corrupt(format!("snapshot key {key:?} is not UTF-8")))?;
            names.insert(name.to_owned());
        }
        Ok(names.into_iter().collect())
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        check_log_name(key)?;
        check_size("meta value", value.len(), MAX_META_VALUE_BYTES)?;
        self.check_writable()?;
        self.meta
            .insert(key.as_bytes(), value)
            .map_err(|e| sled_error("put meta", &e))?;
        Ok(())
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_log_name(key)?;
        Ok(self
            .meta
            .get(key.as_bytes())
            .map_err(|e| sled_error("get meta", &e))?
            .map(|value| value.to_vec()))
    }

    fn delete_meta(&self, key: &str) -> Result<(), StoreError> {
        check_log_name(key)?;
        self.check_writable()?;
        self.meta
            .remove(key.as_bytes())
            .map_err(|e| sled_error("delete meta", &e))?;
        Ok(())
    }

    fn list_meta(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        check_log_prefix(prefix)?;
        let mut keys = Vec::new();
        // The flush counter's key holds a NUL byte, which no caller's prefix
        // may hold, so it is never listed (except under the empty prefix).
        for key in self.meta.scan_prefix(prefix.as_bytes()).keys() {
            if keys.len() >= limit {
                break;
            }
            let key = key.map_err(|e| sled_error("list meta", &e))?;
            if key.contains(&0) {
                continue;
            }
            let key = std::str::from_utf8(&key)
                .map_err(|_| StoreError::Corrupt(format!("meta key {key:?} is not UTF-8")))?;
            keys.push(key.to_owned());
        }
        Ok(keys)
    }

    /// sled's `apply_batch`: atomic, also across a crash.
    fn put_meta_batch(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        crate::store::check_meta_batch(entries)?;
        self.check_writable()?;
        let mut batch = sled::Batch::default();
        for (key, value) in entries {
            batch.insert(key.as_bytes(), value.as_slice());
        }
        self.meta
            .apply_batch(batch)
            .map_err(|e| sled_error("put meta batch", &e))?;
        Ok(())
    }

    fn scan_meta(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        check_log_prefix(prefix)?;
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after.as_bytes()),
            _ => Bound::Included(prefix.as_bytes()),
        };
        let mut entries = Vec::new();
        for entry in self.meta.range::<&[u8], _>((start, Bound::Unbounded)) {
            if entries.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(|e| sled_error("scan meta", &e))?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            // The flush counter's key (NUL inside) is never listed (see `list_meta`).
            if key.contains(&0) {
                continue;
            }
            let key = std::str::from_utf8(&key)
                .map_err(|_| StoreError::Corrupt(format!("meta key {key:?} is not UTF-8")))?;
            entries.push((key.to_owned(), value.to_vec()));
        }
        Ok(entries)
    }
}

fn sled_error(what: &str, error: &sled::Error) -> StoreError {
    StoreError::Io(format!("sled {what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store in `dir` holding records 1..=10 of log "q" and a snapshot up to `upto`.
    fn ten_records_and_a_snapshot(dir: &Path, upto: Lsn) -> SledStore {
        let store = SledStore::open(dir).unwrap();
        for n in 1..=10u8 {
            store.append("q", &[n]).unwrap();
        }
        store.write_snapshot("q", upto, b"state").unwrap();
        store
    }

    /// A crash cuts a trim after `cut` writes (the mark, then removals),
    /// with everything written before the cut durable (the worst a flush
    /// can leave).
    fn cut_trim(dir: &Path, upto: Lsn, cut: usize) {
        let store = ten_records_and_a_snapshot(dir, upto);
        store.trim_writing_at_most("q", upto, cut).unwrap();
        store.flush().unwrap();
    }

    #[test]
    fn a_trim_cut_at_any_removal_leaves_a_log_that_recovers_and_trims_again() {
        for cut in [0, 1, 2, 4, 8, 9] {
            let dir = tempfile::tempdir().unwrap();
            cut_trim(dir.path(), 8, cut);
            let store = SledStore::open(dir.path()).unwrap();
            assert_eq!(store.last_lsn("q").unwrap(), 10, "cut after {cut}");
            // The oldest `cut - 1` records are gone (the mark was the first
            // write); the rest, those <= the snapshot's lsn included, stay...
            let left: Vec<Lsn> = store
                .read_log("q", 0)
                .unwrap()
                .into_iter()
                .map(|(lsn, _)| lsn)
                .collect();
            let expected: Vec<Lsn> = (cut.max(1) as Lsn..=10).collect();
            assert_eq!(left, expected, "cut after {cut}");
            // ...and recovery, which reads after the snapshot's lsn, skips them.
            let (upto, _) = store.read_snapshot("q").unwrap().unwrap();
            assert_eq!(
                store.read_log("q", upto).unwrap(),
                vec![(9, vec![9]), (10, vec![10])]
            );
            assert_eq!(store.append("q", b"eleven").unwrap(), 11);
            // The next trim removes what the cut one left.
            store.trim("q", 8).unwrap();
            let left = store.read_log("q", 0).unwrap();
            assert_eq!(left.first().map(|(lsn, _)| *lsn), Some(9));
        }
    }

    #[test]
    fn the_last_lsn_survives_a_trim_of_every_record_cut_anywhere() {
        // Cut after every write of a trim of all ten records (the mark and
        // ten removals). The snapshot is then replaced by an older-looking
        // one, so that only the records or the mark can still say 10.
        for cut in 0..=11 {
            let dir = tempfile::tempdir().unwrap();
            cut_trim(dir.path(), 10, cut);
            {
                let store = SledStore::open(dir.path()).unwrap();
                store.write_snapshot("q", 2, b"older").unwrap();
                store.flush().unwrap();
            }
            let store = SledStore::open(dir.path()).unwrap();
            assert_eq!(store.last_lsn("q").unwrap(), 10, "cut after {cut}");
            assert_eq!(store.append("q", b"eleven").unwrap(), 11, "cut after {cut}");
        }
    }

    #[test]
    fn a_trim_longer_than_a_page_removes_every_covered_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let records = 2 * TRIM_KEYS_PER_PAGE as Lsn + 3;
        for _ in 0..records {
            store.append("q", b"e").unwrap();
        }
        // A neighbour whose name extends this one's stays whole.
        store.append("q2", b"other").unwrap();
        store.write_snapshot("q", records - 1, b"state").unwrap();
        store.trim("q", records - 1).unwrap();
        assert_eq!(
            store.read_log("q", 0).unwrap(),
            vec![(records, b"e".to_vec())]
        );
        assert_eq!(store.read_log("q2", 0).unwrap().len(), 1);
        assert_eq!(store.last_lsn("q").unwrap(), records);
    }
}
