//! The write-ahead half of every durable actor.
//!
//! An actor applies a command to its in-memory state at once, then *stages*
//! the resulting events, the idempotency records that guard them, and the
//! reply. Staged work is written as ONE log record per batch (not one per
//! event: sled tops out near 200k inserts/s) when the actor commits, which it
//! does after its mailbox drains or when the batch is full. The replies are
//! released only when the shared group-commit flush covers that record, so an
//! acknowledged change survives `kill -9`, while the actor itself never waits
//! for the disk: it goes on handling messages during the flush.
//!
//! Refusals are staged too, with no event: a refusal is often caused by state
//! still in flight (a seat held a microsecond ago), and answering before that
//! state is durable could reveal something a crash would undo.
//!
//! Booking events ([`crate::booking_events`]) staged with a batch are written
//! with its record as one pair append (the batch's record and its outbox
//! record land together or not at all); the batch is then always awaited, and
//! its durable waiter advances the outbox's durable lsn.
//!
//! Snapshot policy: a snapshot is due after `snapshot_every` entries logged
//! (events and idempotency records alike: a refusal under a key logs a record
//! and no event, and its record must still leave the actor's table at some
//! snapshot; counting events only let a run of 409s grow it unbounded). An actor
//! whose state can be large opts into amortized snapshots
//! ([`Journal::amortize_snapshots`]): then a snapshot is also held back until
//! the log bytes written since the last one reach `ratio` × that snapshot's
//! bytes. Writing a snapshot costs about as much per byte as writing records,
//! so the snapshots' share of the work stays under 1/`ratio` however large
//! the state grows, and the log a recovery replays stays under `ratio` × the
//! state (plus one interval). Sizes are measured in encoded bytes on both
//! sides: that is what each costs, whatever the state is made of.

use boxoffice_storage::{codec, GroupCommit, Lsn, Store, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

use crate::booking_events::{BookingEvent, Outbox, OutboxRecord, OUTBOX_LOG};
use crate::config::MAX_EVENTS_PER_RECORD;
use crate::error::{EngineError, EngineResult};
use crate::idempotency::IdemRecord;
use crate::log_trimmer::LogTrimmer;
use crate::work_times::Timings;

/// Largest accepted log-to-snapshot ratio: past it, recovery would replay a
/// log that many times larger than the state.
pub const MAX_LOG_TO_SNAPSHOT_RATIO: u64 = 16;

/// When a snapshot is due (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct SnapshotPolicy {
    pub every_events: u64,
    pub log_to_snapshot_ratio: Option<u64>,
}

/// True when a snapshot is due after `events` events of `log_bytes` bytes
/// logged since the last snapshot, which took `snapshot_bytes` bytes.
pub fn snapshot_due(
    policy: SnapshotPolicy,
    events: u64,
    log_bytes: u64,
    snapshot_bytes: u64,
) -> bool {
    let enough_events = events >= policy.every_events;
    match policy.log_to_snapshot_ratio {
        None => enough_events,
        Some(ratio) => enough_events && log_bytes >= snapshot_bytes.saturating_mul(ratio),
    }
}

/// A callback run once the staged work is durable (or has failed to become so).
pub type Waiter = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// When a staged reply is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyAt {
    /// Once a flush covers the record: every answer a client or another
    /// part of the system acts on.
    Durable,
    /// As soon as the record is appended (in the store's order), before it is
    /// durable. Only for an intermediate step of a saga whose caller tells
    /// nobody anything until a later step's [`ReplyAt::Durable`] reply: a
    /// flush makes a prefix of the appends durable, so the flush covering the
    /// last step covers this one too, and a crash before it leaves a prefix
    /// of the saga, which recovery already finishes. This is what lets a
    /// payment wait for one flush instead of one per step.
    Appended,
}

/// What an actor's log holds: one batch of events and the idempotency records
/// logged with them.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record<E> {
    pub events: Vec<E>,
    pub idempotency: Vec<IdemRecord>,
}

/// What a state-changing command replies with: a receiver the caller awaits,
/// fulfilled by [`reply_when_durable`] once the change is durable. Every
/// durable actor's commands use it, so it lives with the journal rather than
/// in any one actor.
pub type Pending<T> = oneshot::Receiver<EngineResult<T>>;

/// A reply that is sent only when durable; a storage failure turns it into an error.
pub fn reply_when_durable<T: Send + 'static>(
    tx: oneshot::Sender<EngineResult<T>>,
    value: EngineResult<T>,
) -> Waiter {
    Box::new(move |durable| {
        let answer = match durable {
            Ok(()) => value,
            Err(err) => Err(EngineError::Storage(err.to_string())),
        };
        // The caller may have gone away (timeout, disconnect): nothing to do then.
        let _ = tx.send(answer);
    })
}

pub struct Journal<E> {
    log: String,
    commit: Arc<GroupCommit>,
    events: Vec<E>,
    idempotency: Vec<IdemRecord>,
    waiters: Vec<Waiter>,
    /// Replies released when the batch is appended ([`ReplyAt::Appended`]).
    appended_waiters: Vec<Waiter>,
    events_since_snapshot: u64,
    snapshot_every: u64,
    /// Encoded bytes of the records appended since the last snapshot.
    bytes_since_snapshot: u64,
    /// Encoded bytes of the last snapshot this journal wrote (0 before the first).
    last_snapshot_bytes: u64,
    /// `Some(k)`: amortized snapshots (see the module doc); `None`: every `snapshot_every` events.
    log_to_snapshot_ratio: Option<u64>,
    /// A commit message is on its way to the owner.
    commit_scheduled: bool,
    /// Where staged booking events go (`None`: this actor stages none).
    outbox: Option<Arc<Outbox>>,
    booking_events: Vec<BookingEvent>,
    /// The last lsn of this actor's log, once known: the outbox record names
    /// the lsn its batch gets, and this actor is its log's only writer.
    last_lsn: Option<Lsn>,
    /// Trims this log behind its snapshots off the owner's thread (`None`: inline).
    trimmer: Option<Arc<LogTrimmer>>,
}

/// Outcome of [`Journal::commit`].
pub enum Committed {
    /// Nothing was staged.
    Nothing,
    /// Only waiters were staged; they fire after the batch in flight.
    WaitersOnly,
    /// A record was appended at this lsn; `snapshot_due` says the actor should snapshot now.
    Record { lsn: Lsn, snapshot_due: bool },
}

impl<E: Serialize> Journal<E> {
    pub fn new(log: String, commit: Arc<GroupCommit>, snapshot_every: u64) -> Self {
        assert!(snapshot_every > 0);
        Journal {
            log,
            commit,
            events: Vec::new(),
            idempotency: Vec::new(),
            waiters: Vec::new(),
            appended_waiters: Vec::new(),
            events_since_snapshot: 0,
            snapshot_every,
            bytes_since_snapshot: 0,
            last_snapshot_bytes: 0,
            log_to_snapshot_ratio: None,
            commit_scheduled: false,
            outbox: None,
            booking_events: Vec::new(),
            last_lsn: None,
            trimmer: None,
        }
    }

    /// Makes this journal hand its trims to `trimmer` instead of trimming
    /// inline after each snapshot (see `log_trimmer.rs`).
    pub fn trim_in_background(&mut self, trimmer: Arc<LogTrimmer>) {
        self.trimmer = Some(trimmer);
    }

    /// Makes this journal write the booking events staged with
    /// [`Self::stage_booking_events`] to `outbox`'s log.
    pub fn attach_outbox(&mut self, outbox: Arc<Outbox>) {
        self.outbox = Some(outbox);
    }

    /// Stages booking events for the batch in progress (call with the
    /// `stage` of the change they describe, in the same turn).
    pub fn stage_booking_events(&mut self, events: Vec<BookingEvent>) {
        if self.outbox.is_some() {
            self.booking_events.extend(events);
        }
    }

    /// Opts into amortized snapshots: one is due only once the log written
    /// since the last one holds `ratio` × that snapshot's bytes (and at least
    /// `snapshot_every` events). `ratio` is between 1 and [`MAX_LOG_TO_SNAPSHOT_RATIO`].
    pub fn amortize_snapshots(&mut self, ratio: u64) {
        assert!(
            (1..=MAX_LOG_TO_SNAPSHOT_RATIO).contains(&ratio),
            "log-to-snapshot ratio {ratio} out of range"
        );
        self.log_to_snapshot_ratio = Some(ratio);
    }

    /// Encoded bytes of the last snapshot written (0 before the first).
    pub fn last_snapshot_bytes(&self) -> u64 {
        self.last_snapshot_bytes
    }

    pub fn log(&self) -> &str {
        &self.log
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.commit.store()
    }

    /// Stages work. Returns true when the owner must schedule a commit now
    /// (something is staged and no commit is scheduled yet); the owner then
    /// sends itself its commit message, which runs after the messages already
    /// in its mailbox, so a burst shares one record.
    pub fn stage(
        &mut self,
        events: impl IntoIterator<Item = E>,
        idempotency: Option<IdemRecord>,
        waiter: Option<Waiter>,
    ) -> bool {
        self.stage_at(events, idempotency, waiter, ReplyAt::Durable)
    }

    /// [`Self::stage`], with the waiter released at `at` (see [`ReplyAt`]).
    pub fn stage_at(
        &mut self,
        events: impl IntoIterator<Item = E>,
        idempotency: Option<IdemRecord>,
        waiter: Option<Waiter>,
        at: ReplyAt,
    ) -> bool {
        self.events.extend(events);
        self.idempotency.extend(idempotency);
        match at {
            ReplyAt::Durable => self.waiters.extend(waiter),
            ReplyAt::Appended => self.appended_waiters.extend(waiter),
        }
        let schedule = !self.commit_scheduled && !self.is_empty();
        self.commit_scheduled |= schedule;
        schedule
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.booking_events.is_empty()
            && self.idempotency.is_empty()
            && self.waiters.is_empty()
            && self.appended_waiters.is_empty()
    }

    /// True when the batch is as large as one record may grow.
    pub fn is_full(&self) -> bool {
        self.events.len() >= MAX_EVENTS_PER_RECORD
    }

    /// Writes the staged batch as one record and hands the waiters to the
    /// group commit. On error every waiter has been told, and the actor's
    /// memory is ahead of its log: the caller must reload from storage.
    pub fn commit(&mut self) -> Result<Committed, StoreError> {
        self.commit_scheduled = false;
        if self.is_empty() {
            return Ok(Committed::Nothing);
        }
        let waiters = std::mem::take(&mut self.waiters);
        let booking_events = std::mem::take(&mut self.booking_events);
        let awaited = !waiters.is_empty();
        let appended = std::mem::take(&mut self.appended_waiters);
        let release_appended = move |result: Result<(), StoreError>| {
            for waiter in appended {
                waiter(result.clone());
            }
        };
        let on_durable: Waiter = Box::new(move |result| {
            for waiter in waiters {
                waiter(result.clone());
            }
        });
        if self.events.is_empty() && self.idempotency.is_empty() && booking_events.is_empty() {
            // Nothing to write: whatever these replies depend on was appended
            // by an earlier commit of this actor.
            release_appended(Ok(()));
            self.commit.after_pending(on_durable);
            return Ok(Committed::WaitersOnly);
        }
        let record = Record {
            events: std::mem::take(&mut self.events),
            idempotency: std::mem::take(&mut self.idempotency),
        };
        // Idempotency records count: see the module doc.
        let event_count = (record.events.len() + record.idempotency.len()) as u64;
        let bytes = match codec::encode(&record) {
            Ok(bytes) => bytes,
            Err(err) => {
                release_appended(Err(err.clone()));
                on_durable(Err(err.clone()));
                return Err(err);
            }
        };
        // GroupCommit::append does not call the waiter when it fails; keep a
        // handle on it so the failure reaches every caller all the same.
        let slot = Arc::new(Mutex::new(Some(on_durable)));
        let from_flusher = Arc::clone(&slot);
        let forward: Waiter = Box::new(move |result| {
            if let Some(waiter) = from_flusher
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                waiter(result);
            }
        });
        let appended = match (&self.outbox, booking_events.is_empty()) {
            (Some(outbox), false) => {
                self.append_with_events(&bytes, booking_events, Arc::clone(outbox), forward)
            }
            // A batch nobody waits on (expiries; a saga step that answers at
            // append) asks for no flush of its own: the next awaited one covers it.
            _ if awaited => self.commit.append(&self.log, &bytes, forward),
            _ => self.commit.append_unawaited(&self.log, &bytes),
        };
        self.last_lsn = appended.as_ref().ok().copied();
        match appended {
            Ok(lsn) => {
                release_appended(Ok(()));
                self.events_since_snapshot += event_count;
                self.bytes_since_snapshot =
                    self.bytes_since_snapshot.saturating_add(bytes.len() as u64);
                Ok(Committed::Record {
                    lsn,
                    snapshot_due: snapshot_due(
                        SnapshotPolicy {
                            every_events: self.snapshot_every,
                            log_to_snapshot_ratio: self.log_to_snapshot_ratio,
                        },
                        self.events_since_snapshot,
                        self.bytes_since_snapshot,
                        self.last_snapshot_bytes,
                    ),
                })
            }
            Err(err) => {
                release_appended(Err(err.clone()));
                if let Some(waiter) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    waiter(Err(err.clone()));
                }
                Err(err)
            }
        }
    }

    /// Appends the batch's record and the outbox record of its booking
    /// events as one pair; `forward` runs once a flush covers both, after
    /// the outbox's durable lsn is advanced past them. Always awaited: the
    /// feed serves the events only once that waiter has run.
    fn append_with_events(
        &mut self,
        bytes: &[u8],
        events: Vec<BookingEvent>,
        outbox: Arc<Outbox>,
        forward: Waiter,
    ) -> Result<Lsn, StoreError> {
        let last = match self.last_lsn {
            Some(last) => last,
            None => self.commit.store().last_lsn(&self.log)?,
        };
        let expected = last
            .checked_add(1)
            .ok_or_else(|| StoreError::Io(format!("log {} ran out of lsns", self.log)))?;
        let record = OutboxRecord {
            source_log: self.log.clone(),
            source_lsn: expected,
            events,
        };
        let outbox_bytes = codec::encode(&record)?;
        let (lsn, _) = self.commit.append_pair(
            (&self.log, bytes),
            (OUTBOX_LOG, &outbox_bytes),
            Box::new(move |(_, outbox_lsn), result| {
                if result.is_ok() {
                    outbox.advance(outbox_lsn);
                }
                forward(result);
            }),
        )?;
        if lsn != expected {
            // Only if something else appended to this actor's log: the
            // outbox record then names the wrong record. Reload to re-sync.
            return Err(StoreError::Io(format!(
                "log {} got lsn {lsn} where its outbox record says {expected}",
                self.log
            )));
        }
        Ok(lsn)
    }

    /// Commits, then, when a snapshot is due, lets `prepare` tidy `state`
    /// (e.g. prune expired idempotency keys) and snapshots it. A failed
    /// snapshot is only logged: the log still holds everything and the next
    /// one retries. An error is a failed commit (see [`Self::commit`]);
    /// `Ok(true)` when a snapshot was written.
    pub fn commit_and_snapshot<S: Serialize>(
        &mut self,
        state: &mut S,
        prepare: impl FnOnce(&mut S),
    ) -> Result<bool, StoreError> {
        if let Committed::Record {
            lsn,
            snapshot_due: true,
        } = self.commit()?
        {
            prepare(state);
            match self.snapshot(lsn, state) {
                Ok(()) => return Ok(true),
                Err(err) => tracing::warn!(log = %self.log, %err, "snapshot failed"),
            }
        }
        Ok(false)
    }

    /// Writes `state` as the snapshot covering every record up to `lsn`, then
    /// trims the log behind it: here, or, with a trimmer
    /// ([`Self::trim_in_background`]), later on its thread. Both become
    /// durable with a later flush, the trim never before the snapshot; a
    /// crash in between leaves the previous snapshot and the untrimmed log,
    /// or the new snapshot and records it covers, which recovery skips:
    /// either way the same state.
    pub fn snapshot<S: Serialize>(&mut self, lsn: Lsn, state: &S) -> Result<(), StoreError> {
        let untimed = Timings::default();
        self.snapshot_timed(lsn, state, &untimed, &untimed)
    }

    /// [`Self::snapshot`], timing the encoding into `encode` and an inline
    /// trim into `trim` (the write is the rest; a trimmer times its trims).
    pub fn snapshot_timed<S: Serialize>(
        &mut self,
        lsn: Lsn,
        state: &S,
        encode: &Timings,
        trim: &Timings,
    ) -> Result<(), StoreError> {
        let bytes = encode.time(|| codec::encode(state))?;
        self.commit.store().write_snapshot(&self.log, lsn, &bytes)?;
        match &self.trimmer {
            // Dropped only when the trimmer is full or stopped: the records
            // then stay until the next snapshot's trim.
            Some(trimmer) => {
                trimmer.submit(&self.log, lsn);
            }
            None => {
                if let Err(err) = trim.time(|| self.commit.store().trim(&self.log, lsn)) {
                    // As a trimmer's failed trim: the snapshot is written, and
                    // the records it covers, which recovery skips, stay until
                    // the next snapshot's trim.
                    tracing::warn!(log = %self.log, %err, "log trim failed");
                }
            }
        }
        self.events_since_snapshot = 0;
        self.bytes_since_snapshot = 0;
        self.last_snapshot_bytes = bytes.len() as u64;
        Ok(())
    }

    /// Fails every staged waiter (used when the actor is about to reload).
    pub fn abandon(&mut self, why: &StoreError) {
        // A restarting actor's pending commit message is gone with its old context.
        self.commit_scheduled = false;
        self.last_lsn = None;
        self.booking_events.clear();
        self.events.clear();
        self.idempotency.clear();
        for waiter in self
            .waiters
            .drain(..)
            .chain(self.appended_waiters.drain(..))
        {
            waiter(Err(why.clone()));
        }
    }
}

/// An actor's durable history: its last snapshot (with the lsn it covers) and every record after it.
pub struct History<S, E> {
    pub snapshot: Option<(Lsn, S)>,
    pub records: Vec<Record<E>>,
    /// The lsn of each record, parallel to `records` (for error messages).
    pub lsns: Vec<Lsn>,
}

/// Reads an actor's durable history.
pub fn read_history<S: DeserializeOwned, E: DeserializeOwned>(
    store: &dyn Store,
    log: &str,
) -> Result<History<S, E>, StoreError> {
    read_history_with(store, log, codec::decode::<S>)
}

/// [`read_history`] for a state whose snapshot has had more than one format:
/// `decode_snapshot` reads any of them.
pub fn read_history_with<S, E: DeserializeOwned>(
    store: &dyn Store,
    log: &str,
    decode_snapshot: impl Fn(&[u8]) -> Result<S, StoreError>,
) -> Result<History<S, E>, StoreError> {
    let snapshot = match store.read_snapshot(log)? {
        Some((lsn, bytes)) => {
            let state = decode_snapshot(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("snapshot of {log}: {e}")))?;
            Some((lsn, state))
        }
        None => None,
    };
    let after = snapshot.as_ref().map(|(lsn, _)| *lsn).unwrap_or(0);
    let mut records = Vec::new();
    let mut lsns = Vec::new();
    for (lsn, bytes) in store.read_log(log, after)? {
        records.push(codec::decode_record::<Record<E>>(log, lsn, &bytes)?);
        lsns.push(lsn);
    }
    Ok(History {
        snapshot,
        records,
        lsns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: SnapshotPolicy = SnapshotPolicy {
        every_events: 100,
        log_to_snapshot_ratio: None,
    };
    const AMORTIZED: SnapshotPolicy = SnapshotPolicy {
        every_events: 100,
        log_to_snapshot_ratio: Some(2),
    };

    /// Records at or below the snapshot's lsn that a trim left (queued on
    /// the trimmer at a crash, or cut half way) are not replayed.
    #[test]
    fn recovery_reads_after_the_snapshot_and_skips_what_a_trim_left() {
        use boxoffice_storage::MemoryStore;
        for torn in [false, true] {
            let store = MemoryStore::new();
            for n in 1..=6u32 {
                let record = Record::<u32> {
                    events: vec![n],
                    idempotency: Vec::new(),
                };
                store
                    .append("schedule/x", &codec::encode(&record).unwrap())
                    .unwrap();
            }
            store
                .write_snapshot("schedule/x", 4, &codec::encode(&40u32).unwrap())
                .unwrap();
            if torn {
                store.crash_mid_trim(1);
                store.trim("schedule/x", 4).unwrap();
                assert_eq!(store.read_log("schedule/x", 0).unwrap().len(), 4);
            }
            let history = read_history::<u32, u32>(&store, "schedule/x").unwrap();
            assert_eq!(history.snapshot, Some((4, 40)));
            assert_eq!(history.lsns, vec![5, 6]);
            let events: Vec<u32> = history
                .records
                .iter()
                .flat_map(|r| r.events.clone())
                .collect();
            assert_eq!(events, vec![5, 6], "torn: {torn}");
        }
    }

    #[test]
    fn without_a_ratio_only_the_event_count_matters() {
        assert!(!snapshot_due(PLAIN, 99, 1_000_000, 1));
        assert!(snapshot_due(PLAIN, 100, 0, 1_000_000_000));
    }

    #[test]
    fn a_large_state_waits_for_ratio_times_its_size_in_log() {
        // 10 MB of state: 100 events are not enough, 20 MB of log is.
        let state = 10_000_000;
        assert!(!snapshot_due(AMORTIZED, 100, 1_000, state));
        assert!(!snapshot_due(AMORTIZED, 150_000, 19_999_999, state));
        assert!(snapshot_due(AMORTIZED, 150_000, 20_000_000, state));
    }

    #[test]
    fn a_small_state_still_waits_for_the_interval() {
        assert!(!snapshot_due(AMORTIZED, 99, 1_000_000, 10));
        assert!(snapshot_due(AMORTIZED, 100, 1_000_000, 10));
        // Before the first snapshot its size is unknown (0): the interval alone decides.
        assert!(snapshot_due(AMORTIZED, 100, 0, 0));
    }

    #[test]
    fn snapshot_work_per_logged_byte_stays_bounded_as_state_grows() {
        // Simulate a state that grows by every byte logged (nothing ever
        // leaves it) and count the bytes snapshots write: with ratio k they
        // stay within (1/k + slack) of the bytes logged, not quadratic.
        let mut state = 0u64;
        let (mut logged, mut since, mut events, mut last) = (0u64, 0u64, 0u64, 0u64);
        let mut snapshot_bytes = 0u64;
        for _ in 0..1_000_000 {
            logged += 100;
            since += 100;
            events += 1;
            state += 100;
            if snapshot_due(AMORTIZED, events, since, last) {
                snapshot_bytes += state;
                last = state;
                since = 0;
                events = 0;
            }
        }
        // Geometric series: each snapshot is at most 1 + 1/ratio times the
        // previous, so their sum stays within a constant factor of the log.
        assert!(
            snapshot_bytes <= 3 * logged,
            "snapshots wrote {snapshot_bytes} bytes for {logged} logged"
        );
        // Under the plain policy the same history costs quadratically more.
        let (mut plain_bytes, mut n, mut s) = (0u64, 0u64, 0u64);
        for _ in 0..1_000_000 {
            n += 1;
            s += 100;
            if snapshot_due(PLAIN, n, 0, 0) {
                plain_bytes += s;
                n = 0;
            }
        }
        assert!(plain_bytes > 100 * logged);
    }
}
