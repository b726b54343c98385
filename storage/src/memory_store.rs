//! An in-memory [`Store`] for tests and seeded simulations, with faults
//! injected deterministically.
//!
//! It keeps the current image (what reads see: durable + pending) and an undo
//! entry for every operation not yet flushed (appends, snapshots, trims and
//! meta alike). The durable image is "current image with the pending
//! operations undone", so:
//! - [`MemoryStore::flush`] forgets the undo entries of the operations it
//!   covers: O(pending), nothing is copied;
//! - [`MemoryStore::crash`] undoes the pending operations newest first, as a
//!   kill -9 would lose them: O(pending), not O(store). Lsn counters then
//!   restart from the durable last lsn, so the lost lsns are assigned again.
//!
//! Injected faults, each counted down by the operations it targets:
//! - [`MemoryStore::fail_appends`]: the next n appends fail, assigning no lsn;
//! - [`MemoryStore::fail_flushes`]: the next n flushes fail and lose nothing:
//!   the pending operations stay pending (a later flush may make them durable,
//!   a crash loses them). Unlike `SledStore`, the store is not poisoned; the
//!   `GroupCommit` above it is, which is where fail-stop is decided;
//! - [`MemoryStore::fail_snapshots`]: the next n `write_snapshot` calls fail;
//! - [`MemoryStore::fail_trims`]: the next n trims fail and remove nothing,
//!   as trims still queued on a background trimmer when the process dies;
//! - [`MemoryStore::crash_after_appends`]: after n more successful appends the
//!   store is "dead": every write (append, flush, snapshot, trim, meta) fails
//!   with `Injected("crashed")` until [`MemoryStore::crash`] completes the crash.
//!   Reads keep working, so a test can inspect what a dead process left.
//!
//! More crash points, for seeded simulations (one crash point is armed at a
//! time; arming one replaces the previous):
//! - [`MemoryStore::crash_after_snapshots`]: dies right after the n-th
//!   snapshot write, i.e. between an actor's snapshot and its trim;
//! - [`MemoryStore::crash_mid_trim`]: the n-th trim that removes records is
//!   torn: it removes only the older half of them, then the store dies;
//! - [`MemoryStore::crash_after_writes`]: dies after the n-th write of any
//!   kind (append, snapshot, trim, meta). Flushes are not counted: when the
//!   group commit's thread flushes is thread timing, not the caller's doing.
//!
//! A crash point that fires on a write other than an append lets one more
//! flush make the writes *before* the dying one durable (the flush already on
//! its way when the process died), never the dying write or later ones. An
//! actor snapshots right after appending a record, while the group commit
//! flushes that record on another thread; this rule makes the record's fate
//! the same whichever of the two came first, so a seeded run replays.
//!
//! [`MemoryStore::crash_keeping`] completes a crash like `crash()` but keeps
//! the oldest n pending operations, as a kill -9 after a partial background
//! flush would: a prefix of what was written survives, acknowledged or not.
//! (sled flushes in the background too, so the engine must cope with it.)
//! [`MemoryStore::crash_keeping_appends`] counts that prefix in appends.
//!
//! [`MemoryStore::set_flush_delay`] makes each non-empty flush sleep (without
//! holding the lock, like a real fsync) so that group commit can be observed.
//! A flush covers exactly the operations that were pending when it started;
//! if `crash()` runs while a flush sleeps, that flush fails.
//!
//! [`MemoryStore::block_flushes`] makes every flush wait (without holding
//! the lock) until [`MemoryStore::unblock_flushes`], as sled's flush did
//! when the process ran out of file descriptors: for the group commit's
//! hung-flush watchdog.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::limits::{
    check_log_name, check_log_prefix, check_size, MAX_META_VALUE_BYTES, MAX_RECORD_BYTES,
    MAX_SNAPSHOT_BYTES,
};
use crate::{Lsn, Store, StoreError};

/// Counters of a [`MemoryStore`], for assertions in tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStoreStats {
    /// Successful appends since creation (including ones a crash later lost).
    pub appends: u64,
    /// Successful flushes since creation (including flushes with nothing pending).
    pub flushes: u64,
    /// Records in the durable image right now.
    pub durable_records: u64,
    /// Successful snapshot writes since creation.
    pub snapshots: u64,
    /// Successful trims that removed records, since creation.
    pub trims: u64,
}

/// The in-memory store; see the module doc.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Blocked flushes wait on this until `unblock_flushes`.
    flush_gate: Condvar,
}

#[derive(Debug, Default)]
struct LogImage {
    records: BTreeMap<Lsn, Vec<u8>>,
    last: Lsn,
}

/// How to undo one pending (unflushed) operation.
#[derive(Debug)]
enum Undo {
    Append {
        log: String,
        lsn: Lsn,
        previous_last: Lsn,
    },
    /// A `remove_last`: the record removed, put back on undo.
    RemoveLast {
        log: String,
        lsn: Lsn,
        record: Vec<u8>,
    },
    Snapshot {
        log: String,
        previous: Option<(Lsn, Vec<u8>)>,
    },
    Trim {
        log: String,
        removed: BTreeMap<Lsn, Vec<u8>>,
    },
    Meta {
        key: String,
        previous: Option<Vec<u8>>,
    },
    /// A `put_meta_batch`: each key's previous value, in the order written
    /// (undone newest first, so a key written twice gets its first previous back).
    MetaBatch(Vec<(String, Option<Vec<u8>>)>),
}

impl Undo {
    /// An append of one record (a pair is two; what `crash_keeping_appends` counts).
    fn is_append(&self) -> bool {
        matches!(self, Undo::Append { .. })
    }
}

/// The writes a crash point counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Append,
    Snapshot,
    /// A trim that removed at least one record.
    Trim,
    /// A trim that removed nothing (counted only by `Any`).
    EmptyTrim,
    Meta,
}

/// What an armed crash point counts down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CrashOn {
    Appends,
    Snapshots,
    /// The last one counted is torn (see `MemoryStore::crash_mid_trim`).
    Trims,
    Any,
    /// Metadata writes with a key under this prefix (see `count_meta`).
    MetaUnder(&'static str),
}

impl CrashOn {
    fn counts(self, write: Write) -> bool {
        match self {
            CrashOn::Appends => write == Write::Append,
            CrashOn::Snapshots => write == Write::Snapshot,
            CrashOn::Trims => write == Write::Trim,
            CrashOn::Any => true,
            CrashOn::MetaUnder(_) => write == Write::Meta,
        }
    }
}

#[derive(Debug, Default)]
struct Faults {
    fail_appends: u32,
    fail_flushes: u32,
    fail_snapshots: u32,
    fail_trims: u32,
    /// Every flush waits while this is set (see `MemoryStore::block_flushes`).
    flushes_blocked: bool,
    /// The armed crash point: what it counts and how many are left before the store dies.
    crash_point: Option<(CrashOn, u64)>,
    /// Dead: every write fails until `crash()`.
    crashed: bool,
    /// When the store died on a write other than an append: one more flush
    /// may still make the writes with a sequence number below this durable.
    flushable_before: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    logs: BTreeMap<String, LogImage>,
    snapshots: BTreeMap<String, (Lsn, Vec<u8>)>,
    meta: BTreeMap<String, Vec<u8>>,
    /// Pending operations, oldest first.
    pending: VecDeque<Undo>,
    /// Sequence number the next pending operation gets; the oldest pending one
    /// has `next_op - pending.len()`. Lets a flush commit exactly the
    /// operations that were pending when it started.
    next_op: u64,
    /// Bumped by every `crash()`, so a sleeping flush notices it.
    crash_epoch: u64,
    faults: Faults,
    flush_delay: Duration,
    stats: MemoryStoreStats,
}

impl MemoryStore {
    /// An empty store with no faults armed.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Loses every unflushed operation, as a kill -9 would, and revives a
    /// store killed by a crash point (which is disarmed). Armed fail counters are kept.
    pub fn crash(&self) {
        self.crash_keeping(0);
    }

    /// Like [`Self::crash`], but the oldest `keep` pending operations (all of
    /// them if fewer) become durable first, as if a background flush had
    /// written them just before the kill. Operations are kept in the order
    /// they were made, so what survives is always a prefix.
    pub fn crash_keeping(&self, keep: usize) {
        let mut state = self.lock();
        let oldest = state.next_op - state.pending.len() as u64;
        state.commit_before(oldest.saturating_add(keep as u64));
        while let Some(undo) = state.pending.pop_back() {
            state.revert(undo);
        }
        state.faults.crashed = false;
        state.faults.flushable_before = None;
        state.faults.crash_point = None;
        state.crash_epoch += 1;
    }

    /// Like [`Self::crash_keeping`], with the prefix counted in appends: every
    /// pending write made before the `(appends + 1)`-th pending append is kept.
    pub fn crash_keeping_appends(&self, appends: usize) {
        let keep = {
            let state = self.lock();
            state
                .pending
                .iter()
                .enumerate()
                .filter(|(_, undo)| undo.is_append())
                .nth(appends)
                .map_or(state.pending.len(), |(index, _)| index)
        };
        self.crash_keeping(keep);
    }

    /// Appends written but not yet flushed.
    pub fn pending_appends(&self) -> usize {
        self.lock()
            .pending
            .iter()
            .filter(|undo| undo.is_append())
            .count()
    }

    /// True once an armed crash point has fired and until `crash()` completes the crash.
    pub fn is_dead(&self) -> bool {
        self.lock().faults.crashed
    }

    /// Operations written but not yet flushed (what `crash()` would lose).
    pub fn pending_operations(&self) -> usize {
        self.lock().pending.len()
    }

    /// The next `n` appends fail with `Injected("append")`.
    pub fn fail_appends(&self, n: u32) {
        self.lock().faults.fail_appends = n;
    }

    /// The next `n` flushes fail with `Injected("flush")`; pending operations stay pending.
    pub fn fail_flushes(&self, n: u32) {
        self.lock().faults.fail_flushes = n;
    }

    /// The next `n` snapshot writes fail with `Injected("snapshot")`.
    pub fn fail_snapshots(&self, n: u32) {
        self.lock().faults.fail_snapshots = n;
    }

    /// The next `n` trims (of records covered by a snapshot) fail with
    /// `Injected("trim")` and remove nothing.
    pub fn fail_trims(&self, n: u32) {
        self.lock().faults.fail_trims = n;
    }

    /// After `n` more successful appends the store dies (0: at once): later
    /// writes and flushes fail with `Injected("crashed")` until `crash()`.
    pub fn crash_after_appends(&self, n: u64) {
        self.arm(CrashOn::Appends, n);
    }

    /// After `n` more successful snapshot writes the store dies (0: at once).
    /// An actor trims its log right after a snapshot, so the trim then fails:
    /// the crash lands between the two.
    pub fn crash_after_snapshots(&self, n: u64) {
        self.arm(CrashOn::Snapshots, n);
    }

    /// The `n`-th trim from now that removes records (0: the store dies at
    /// once) is torn: of its k records it removes only the oldest ⌈k/2⌉, and
    /// the store dies. With [`Self::crash_keeping`] the torn trim may survive.
    pub fn crash_mid_trim(&self, n: u64) {
        self.arm(CrashOn::Trims, n);
    }

    /// After `n` more successful writes of any kind (append, snapshot, trim,
    /// meta; not flushes) the store dies (0: at once).
    pub fn crash_after_writes(&self, n: u64) {
        self.arm(CrashOn::Any, n);
    }

    /// After `n` more successful metadata writes (a put, a delete or a
    /// batch) that touch a key under `prefix`, the store dies (0: at once).
    /// Aims a crash into one kind of background write, e.g. the idempotency
    /// key store's (`idem/`) among the archive's.
    pub fn crash_after_meta_writes_under(&self, prefix: &'static str, n: u64) {
        self.arm(CrashOn::MetaUnder(prefix), n);
    }

    fn arm(&self, on: CrashOn, n: u64) {
        let mut state = self.lock();
        if n == 0 {
            state.faults.crashed = true;
            state.faults.flushable_before = None;
            state.faults.crash_point = None;
        } else {
            state.faults.crash_point = Some((on, n));
        }
    }

    /// Makes every flush wait until [`MemoryStore::unblock_flushes`] (a hung flush).
    pub fn block_flushes(&self) {
        self.lock().faults.flushes_blocked = true;
    }

    /// Lets blocked flushes (and later ones) proceed.
    pub fn unblock_flushes(&self) {
        self.lock().faults.flushes_blocked = false;
        self.flush_gate.notify_all();
    }

    /// Makes every flush with something pending sleep this long first.
    pub fn set_flush_delay(&self, delay: Duration) {
        self.lock().flush_delay = delay;
    }

    /// Current counters.
    pub fn stats(&self) -> MemoryStoreStats {
        self.lock().stats
    }
}

impl State {
    fn check_alive(&self) -> Result<(), StoreError> {
        if self.faults.crashed {
            return Err(StoreError::Injected("crashed"));
        }
        Ok(())
    }

    fn last_lsn(&self, log: &str) -> Lsn {
        self.logs.get(log).map_or(0, |image| image.last)
    }

    /// Counts a successful metadata write of `keys` (already pushed as
    /// pending): as any write, but against a crash point armed on a prefix
    /// only if one of its keys is under it.
    fn count_meta<'k>(&mut self, mut keys: impl Iterator<Item = &'k str>) {
        if let Some((CrashOn::MetaUnder(prefix), _)) = self.faults.crash_point {
            if !keys.any(|key| key.starts_with(prefix)) {
                return;
            }
        }
        self.count(Write::Meta);
    }

    /// Counts a successful write (already pushed as pending) against the
    /// armed crash point; the store dies when it reaches zero.
    fn count(&mut self, write: Write) {
        let Some((on, left)) = self.faults.crash_point else {
            return;
        };
        if !on.counts(write) {
            return;
        }
        debug_assert!(left > 0, "an armed crash point has writes left");
        if left <= 1 {
            self.faults.crash_point = None;
            self.faults.crashed = true;
            // A write that changed something is the newest pending operation;
            // one that changed nothing (an empty trim) pushed none.
            let dying = match write {
                Write::EmptyTrim => self.next_op,
                _ => self.next_op - 1,
            };
            self.faults.flushable_before = (write != Write::Append).then_some(dying);
        } else {
            self.faults.crash_point = Some((on, left - 1));
        }
    }

    /// True when the next trim that removes records is the torn one.
    fn next_trim_is_torn(&self) -> bool {
        self.faults.crash_point == Some((CrashOn::Trims, 1))
    }

    fn push_pending(&mut self, undo: Undo) {
        self.pending.push_back(undo);
        self.next_op += 1;
    }

    fn revert(&mut self, undo: Undo) {
        match undo {
            Undo::Append {
                log,
                lsn,
                previous_last,
            } => self.revert_append(log, lsn, previous_last),
            Undo::RemoveLast { log, lsn, record } => {
                let image = self.logs.entry(log).or_default();
                image.records.insert(lsn, record);
                image.last = image.last.max(lsn);
            }
            Undo::Snapshot { log, previous } => match previous {
                Some(previous) => {
                    self.snapshots.insert(log, previous);
                }
                None => {
                    self.snapshots.remove(&log);
                }
            },
            Undo::Trim { log, mut removed } => {
                let image = self
                    .logs
                    .get_mut(&log)
                    .expect("a trimmed log exists until reverted");
                image.records.append(&mut removed);
            }
            Undo::Meta { key, previous } => self.restore_meta(key, previous),
            Undo::MetaBatch(previous) => {
                for (key, previous) in previous.into_iter().rev() {
                    self.restore_meta(key, previous);
                }
            }
        }
    }

    fn revert_append(&mut self, log: String, lsn: Lsn, previous_last: Lsn) {
        let image = self
            .logs
            .get_mut(&log)
            .expect("a pending append's log exists until reverted");
        let removed = image.records.remove(&lsn);
        debug_assert!(
            removed.is_some(),
            "pending append {lsn} of {log} is present"
        );
        image.last = previous_last;
        if image.last == 0 && image.records.is_empty() {
            self.logs.remove(&log);
        }
    }

    /// Adds `record` to `log` (no fault checks); returns (lsn, previous last lsn).
    fn insert_record(&mut self, log: &str, record: &[u8]) -> Result<(Lsn, Lsn), StoreError> {
        let image = self.logs.entry(log.to_owned()).or_default();
        let previous_last = image.last;
        let lsn = previous_last
            .checked_add(1)
            .ok_or_else(|| StoreError::Io(format!("log {log} ran out of lsns")))?;
        image.records.insert(lsn, record.to_vec());
        image.last = lsn;
        Ok((lsn, previous_last))
    }

    fn restore_meta(&mut self, key: String, previous: Option<Vec<u8>>) {
        match previous {
            Some(previous) => {
                self.meta.insert(key, previous);
            }
            None => {
                self.meta.remove(&key);
            }
        }
    }

    /// Makes durable every pending operation with sequence number < `target`.
    fn commit_before(&mut self, target: u64) {
        let oldest = self.next_op - self.pending.len() as u64;
        let count = target.saturating_sub(oldest).min(self.pending.len() as u64);
        for undo in self.pending.drain(..count as usize) {
            match undo {
                Undo::Append { .. } => self.stats.durable_records += 1,
                Undo::RemoveLast { .. } => self.stats.durable_records -= 1,
                Undo::Trim { removed, .. } => self.stats.durable_records -= removed.len() as u64,
                Undo::Snapshot { .. } | Undo::Meta { .. } | Undo::MetaBatch(_) => {}
            }
        }
    }
}

impl Store for MemoryStore {
    fn append(&self, log: &str, record: &[u8]) -> Result<Lsn, StoreError> {
        check_log_name(log)?;
        check_size("record", record.len(), MAX_RECORD_BYTES)?;
        let mut state = self.lock();
        state.check_alive()?;
        if state.faults.fail_appends > 0 {
            state.faults.fail_appends -= 1;
            return Err(StoreError::Injected("append"));
        }
        let (lsn, previous_last) = state.insert_record(log, record)?;
        state.push_pending(Undo::Append {
            log: log.to_owned(),
            lsn,
            previous_last,
        });
        state.stats.appends += 1;
        state.count(Write::Append);
        Ok(lsn)
    }

    /// Two pending appends, the second record first, as sled writes them:
    /// a crash can keep the second record alone (never the first alone).
    /// The crash points count the pair as one append (so seeds keep their
    /// schedule of crashes); `crash_keeping_appends` and the seeded prefix
    /// of a crash see two, and may cut between them.
    fn append_pair(
        &self,
        first: (&str, &[u8]),
        second: (&str, &[u8]),
    ) -> Result<(Lsn, Lsn), StoreError> {
        crate::store::check_pair(first, second)?;
        let mut state = self.lock();
        state.check_alive()?;
        if state.faults.fail_appends > 0 {
            state.faults.fail_appends -= 1;
            return Err(StoreError::Injected("append"));
        }
        // Neither log can run out of lsns once the first insert is made:
        // check both before inserting either.
        for log in [first.0, second.0] {
            if state.last_lsn(log) == Lsn::MAX {
                return Err(StoreError::Io(format!("log {log} ran out of lsns")));
            }
        }
        let (second_lsn, second_previous) = state.insert_record(second.0, second.1)?;
        state.push_pending(Undo::Append {
            log: second.0.to_owned(),
            lsn: second_lsn,
            previous_last: second_previous,
        });
        let (first_lsn, first_previous) = state.insert_record(first.0, first.1)?;
        state.push_pending(Undo::Append {
            log: first.0.to_owned(),
            lsn: first_lsn,
            previous_last: first_previous,
        });
        state.stats.appends += 1;
        state.count(Write::Append);
        Ok((first_lsn, second_lsn))
    }

    fn remove_last(&self, log: &str, lsn: Lsn) -> Result<(), StoreError> {
        check_log_name(log)?;
        let mut state = self.lock();
        state.check_alive()?;
        let image = state
            .logs
            .get_mut(log)
            .ok_or_else(|| StoreError::Io(format!("log {log} has no record {lsn}")))?;
        if image.last != lsn || !image.records.contains_key(&lsn) {
            return Err(StoreError::Io(format!(
                "log {log}: {lsn} is not its last record ({})",
                image.last
            )));
        }
        let record = image.records.remove(&lsn).unwrap_or_default();
        image.last = lsn - 1;
        state.push_pending(Undo::RemoveLast {
            log: log.to_owned(),
            lsn,
            record,
        });
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.faults.crashed {
            // Dead on a snapshot, trim or meta write: the flush on its way still
            // lands the writes before it (see the module doc), once.
            if let Some(before) = state.faults.flushable_before.take() {
                let oldest = state.next_op - state.pending.len() as u64;
                if oldest < before {
                    state.commit_before(before);
                    state.stats.flushes += 1;
                    return Ok(());
                }
            }
        }
        state.check_alive()?;
        if state.faults.fail_flushes > 0 {
            state.faults.fail_flushes -= 1;
            return Err(StoreError::Injected("flush"));
        }
        if state.faults.flushes_blocked {
            while state.faults.flushes_blocked {
                state = self
                    .flush_gate
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            state.check_alive()?;
        }
        let target = state.next_op;
        if !state.pending.is_empty() && !state.flush_delay.is_zero() {
            let (delay, epoch) = (state.flush_delay, state.crash_epoch);
            drop(state);
            std::thread::sleep(delay);
            state = self.lock();
            if state.crash_epoch != epoch {
                return Err(StoreError::Injected("crashed during flush"));
            }
            state.check_alive()?;
        }
        state.commit_before(target);
        state.stats.flushes += 1;
        Ok(())
    }

    fn read_log(&self, log: &str, after: Lsn) -> Result<Vec<(Lsn, Vec<u8>)>, StoreError> {
        check_log_name(log)?;
        let state = self.lock();
        let Some(image) = state.logs.get(log) else {
            return Ok(Vec::new());
        };
        Ok(image
            .records
            .range((Bound::Excluded(after), Bound::Unbounded))
            .map(|(lsn, record)| (*lsn, record.clone()))
            .collect())
    }

    fn read_log_page(
        &self,
        log: &str,
        after: Lsn,
        max_records: usize,
    ) -> Result<Vec<(Lsn, Vec<u8>)>, StoreError> {
        check_log_name(log)?;
        let state = self.lock();
        let Some(image) = state.logs.get(log) else {
            return Ok(Vec::new());
        };
        Ok(image
            .records
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(max_records)
            .map(|(lsn, record)| (*lsn, record.clone()))
            .collect())
    }

    fn last_lsn(&self, log: &str) -> Result<Lsn, StoreError> {
        check_log_name(log)?;
        Ok(self.lock().last_lsn(log))
    }

    fn write_snapshot(&self, log: &str, upto: Lsn, snapshot: &[u8]) -> Result<(), StoreError> {
        check_log_name(log)?;
        check_size("snapshot", snapshot.len(), MAX_SNAPSHOT_BYTES)?;
        let mut state = self.lock();
        state.check_alive()?;
        if state.faults.fail_snapshots > 0 {
            state.faults.fail_snapshots -= 1;
            return Err(StoreError::Injected("snapshot"));
        }
        let last = state.last_lsn(log);
        if upto > last {
            return Err(StoreError::Io(format!(
                "snapshot of log {log} up to lsn {upto} is beyond its last lsn {last}"
            )));
        }
        let previous = state
            .snapshots
            .insert(log.to_owned(), (upto, snapshot.to_vec()));
        state.push_pending(Undo::Snapshot {
            log: log.to_owned(),
            previous,
        });
        state.stats.snapshots += 1;
        state.count(Write::Snapshot);
        Ok(())
    }

    fn read_snapshot(&self, log: &str) -> Result<Option<(Lsn, Vec<u8>)>, StoreError> {
        check_log_name(log)?;
        Ok(self.lock().snapshots.get(log).cloned())
    }

    fn trim(&self, log: &str, upto: Lsn) -> Result<(), StoreError> {
        check_log_name(log)?;
        let mut state = self.lock();
        state.check_alive()?;
        if upto == 0 {
            state.count(Write::EmptyTrim);
            return Ok(());
        }
        let covered = state.snapshots.get(log).map_or(0, |(covered, _)| *covered);
        if upto > covered {
            return Err(StoreError::Io(format!(
                "trim of log {log} up to lsn {upto} is beyond its snapshot (up to {covered})"
            )));
        }
        if state.faults.fail_trims > 0 {
            state.faults.fail_trims -= 1;
            return Err(StoreError::Injected("trim"));
        }
        let torn = state.next_trim_is_torn();
        let Some(image) = state.logs.get_mut(log) else {
            state.count(Write::EmptyTrim);
            return Ok(());
        };
        // upto <= covered <= last < Lsn::MAX, so upto + 1 cannot overflow.
        let kept = image.records.split_off(&(upto + 1));
        let mut removed = std::mem::replace(&mut image.records, kept);
        if removed.is_empty() {
            state.count(Write::EmptyTrim);
            return Ok(());
        }
        if torn {
            // Removals happen oldest first; the newer half is still there when the process dies.
            let tear_at = removed.keys().nth(removed.len().div_ceil(2)).copied();
            if let Some(tear_at) = tear_at {
                let mut left_behind = removed.split_off(&tear_at);
                image.records.append(&mut left_behind);
            }
        }
        state.push_pending(Undo::Trim {
            log: log.to_owned(),
            removed,
        });
        state.stats.trims += 1;
        state.count(Write::Trim);
        Ok(())
    }

    fn list_logs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        check_log_prefix(prefix)?;
        let state = self.lock();
        let mut names: BTreeSet<String> = names_with_prefix(&state.logs, prefix).collect();
        names.extend(names_with_prefix(&state.snapshots, prefix));
        Ok(names.into_iter().collect())
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        check_log_name(key)?;
        check_size("meta value", value.len(), MAX_META_VALUE_BYTES)?;
        let mut state = self.lock();
        state.check_alive()?;
        let previous = state.meta.insert(key.to_owned(), value.to_vec());
        state.push_pending(Undo::Meta {
            key: key.to_owned(),
            previous,
        });
        state.count_meta(std::iter::once(key));
        Ok(())
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_log_name(key)?;
        Ok(self.lock().meta.get(key).cloned())
    }

    fn delete_meta(&self, key: &str) -> Result<(), StoreError> {
        check_log_name(key)?;
        let mut state = self.lock();
        state.check_alive()?;
        let previous = state.meta.remove(key);
        state.push_pending(Undo::Meta {
            key: key.to_owned(),
            previous,
        });
        state.count_meta(std::iter::once(key));
        Ok(())
    }

    fn list_meta(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        check_log_prefix(prefix)?;
        Ok(names_with_prefix(&self.lock().meta, prefix)
            .take(limit)
            .collect())
    }

    /// One pending operation, counted as one write by the crash points: a
    /// crash keeps all of it or none, as sled's `apply_batch` does.
    fn put_meta_batch(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        crate::store::check_meta_batch(entries)?;
        let mut state = self.lock();
        state.check_alive()?;
        let previous = entries
            .iter()
            .map(|(key, value)| (key.clone(), state.meta.insert(key.clone(), value.clone())))
            .collect();
        state.push_pending(Undo::MetaBatch(previous));
        state.count_meta(entries.iter().map(|(key, _)| key.as_str()));
        Ok(())
    }

    fn scan_meta(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        check_log_prefix(prefix)?;
        let state = self.lock();
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        Ok(state
            .meta
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }
}

/// Keys of `map` that start with `prefix`, in order.
fn names_with_prefix<'a, V>(
    map: &'a BTreeMap<String, V>,
    prefix: &'a str,
) -> impl Iterator<Item = String> + 'a {
    map.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .map(|(name, _)| name)
        .take_while(move |name| name.starts_with(prefix))
        .cloned()
}
