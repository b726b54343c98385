//! The log trimmer: one thread that trims schedules' logs behind their
//! snapshots, so that removing the records a snapshot covers (tens of
//! thousands on a busy schedule) never stalls the schedule's actor.
//!
//! A schedule's journal writes its snapshot on the actor's thread, as
//! before, then hands (log, lsn) here and goes on at once
//! (`Journal::trim_in_background`). This thread trims in steps of
//! [`TRIM_RECORDS_PER_STEP`] records, oldest first, each one `Store::trim`
//! (the log's mark, then the removals a page per small batch: `SledStore`'s "Trims"), and pauses
//! after each step for as long as it took, up to [`LONGEST_PAUSE`]
//! (`store_writer::write_paced`, as the archive writer): unpaced, a trim of
//! tens of thousands of records kept a core and sled busy for 200-500 ms,
//! and the hold p99 followed its length (BENCHMARKS.md, issue 21). The work
//! of a whole trim (its steps, not the pauses) is the `log_trim` work time
//! (`work_times.rs`): off the actor's path now.
//!
//! Crash safety. The hand-off comes after `write_snapshot` returned, so every
//! removal follows the snapshot in the store's order, and a flush makes a
//! prefix of the writes durable: no removal is ever durable without the
//! snapshot that covers it. A crash with a trim queued, or cut half way,
//! leaves records at or below the snapshot's lsn, which recovery skips (it
//! reads the log after the snapshot's lsn, `journal::read_history`) and the
//! log's next trim removes. A step is a trim up to a lower lsn, so a crash
//! between steps is one of these cases too. The owner goes on appending meanwhile: appends
//! take lsns above the log's last, trims touch only lsns up to a snapshot's,
//! so the two never meet (the store holds the log's lock only for the mark).
//!
//! Bounded and coalescing: at most [`TRIMS_QUEUED`] logs wait. A later trim
//! of a log covers an earlier one, so a trim asked for a log already waiting
//! just raises that one's lsn. Past the bound a trim is dropped (counted in
//! [`LogTrimmer::dropped`]): harmless, the records stay until the log's next
//! trim removes them. The thread and queue are a [`StoreWriter`].
//!
//! Deterministic runs (`EngineConfig::archive_in_background = false`, like
//! the other background writers) configure none: the journal then trims
//! inline, as before, so a seed replays the same interleaving of writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use boxoffice_storage::{Lsn, Store, StoreError};

use crate::store_writer::{timed, write_paced, StoreWriter};
use crate::work_times::{Timings, WorkTimes};

/// Logs with a trim waiting, at most (one entry per log: see the module doc).
pub const TRIMS_QUEUED: usize = 256;
/// Records one step of a trim removes (one `Store::trim` call).
pub const TRIM_RECORDS_PER_STEP: Lsn = 256;
/// The longest pause after a step (see the module doc and
/// `archive_writer::LONGEST_PAUSE`, the archive writer's, measured there).
pub const LONGEST_PAUSE: Duration = Duration::from_millis(5);
/// Name of the trimmer thread (visible in `top -H` and panics).
pub const LOG_TRIMMER_THREAD_NAME: &str = "boxoffice-trimmer";

/// Logs waiting for a trim, and up to which lsn.
type Waiting = Arc<Mutex<HashMap<String, Lsn>>>;

/// See the module doc.
pub struct LogTrimmer {
    /// Jobs name a log; its lsn is read from `waiting` when the job runs, so
    /// that a raise while it waits is honoured.
    writer: Arc<StoreWriter<String>>,
    waiting: Waiting,
    dropped: AtomicU64,
}

impl LogTrimmer {
    /// Starts the trimmer thread over `store`, timing each trim into `times.log_trim`.
    pub fn start(store: Arc<dyn Store>, times: Arc<WorkTimes>) -> std::io::Result<Arc<LogTrimmer>> {
        LogTrimmer::start_with(move |log, upto| {
            trim_paced(store.as_ref(), log, upto, LONGEST_PAUSE, &times.log_trim)
        })
    }

    /// Starts the trimmer thread, trimming with `trim`.
    fn start_with(
        mut trim: impl FnMut(&str, Lsn) -> Result<(), StoreError> + Send + 'static,
    ) -> std::io::Result<Arc<LogTrimmer>> {
        let waiting: Waiting = Arc::default();
        let taken = Arc::clone(&waiting);
        let writer = StoreWriter::start(
            LOG_TRIMMER_THREAD_NAME,
            TRIMS_QUEUED,
            move |log: &mut String| {
                // Taken off the waiting list first: a trim asked from now on
                // queues a job of its own, behind this one.
                let upto = taken
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(log.as_str());
                match upto {
                    Some(upto) => trim(log, upto),
                    None => Ok(()),
                }
            },
        )?;
        Ok(Arc::new(LogTrimmer {
            writer,
            waiting,
            dropped: AtomicU64::new(0),
        }))
    }

    /// Queues a trim of `log` up to `upto` (a snapshot covering it has been
    /// written); never waits. False when it was dropped (see the module doc).
    pub fn submit(&self, log: &str, upto: Lsn) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(queued) = waiting.get_mut(log) {
            *queued = (*queued).max(upto);
            return true;
        }
        waiting.insert(log.to_owned(), upto);
        let done = Box::new(|log: String, trimmed| {
            if let Err(err) = trimmed {
                // The records stay; the log's next trim removes them.
                tracing::warn!(%log, %err, "log trim failed");
            }
        });
        match self.writer.submit(log.to_owned(), done) {
            Ok(()) => true,
            Err(_) => {
                waiting.remove(log);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Trims queued or running (0 once every asked trim has been done).
    pub fn trims_in_flight(&self) -> usize {
        self.writer.batches_in_flight()
    }

    /// Trims dropped because the queue was full or the trimmer stopped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops taking trims, does the queued ones, and waits for the thread. Idempotent.
    pub fn shutdown(&self) {
        self.writer.shutdown();
    }
}

/// Trims `log` up to `upto` in steps of [`TRIM_RECORDS_PER_STEP`] records,
/// from its oldest record, pausing after each step (see the module doc), and
/// records the steps' total time into `timings` as one trim.
pub fn trim_paced(
    store: &dyn Store,
    log: &str,
    upto: Lsn,
    longest_pause: Duration,
    timings: &Timings,
) -> Result<(), StoreError> {
    let first = match store.read_log_page(log, 0, 1)?.first() {
        Some((first, _)) if *first <= upto => *first,
        // Nothing at or below `upto` (an earlier trim removed it).
        _ => return Ok(()),
    };
    let steps = (upto - first) / TRIM_RECORDS_PER_STEP + 1;
    let step_times = Timings::default();
    let trimmed = write_paced(steps as usize, longest_pause, &step_times, |step| {
        let step_upto = first
            .saturating_add((step as Lsn + 1) * TRIM_RECORDS_PER_STEP - 1)
            .min(upto);
        timed(|| store.trim(log, step_upto))
    });
    timings.record(Duration::from_micros(step_times.reading().total_us));
    trimmed
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_storage::MemoryStore;

    fn store_with_snapshot(log: &str, records: u64) -> Arc<MemoryStore> {
        let store = Arc::new(MemoryStore::new());
        for _ in 0..records {
            store.append(log, b"e").unwrap();
        }
        store.write_snapshot(log, records, b"state").unwrap();
        store
    }

    fn wait_idle(trimmer: &LogTrimmer) {
        let started = std::time::Instant::now();
        while trimmer.trims_in_flight() > 0 {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn a_queued_trim_removes_the_covered_records_and_is_timed() {
        let store = store_with_snapshot("schedule/a", 5);
        store.append("schedule/a", b"after").unwrap();
        let times = Arc::new(WorkTimes::default());
        let trimmer = LogTrimmer::start(store.clone(), Arc::clone(&times)).unwrap();
        assert!(trimmer.submit("schedule/a", 5));
        wait_idle(&trimmer);
        assert_eq!(
            store.read_log("schedule/a", 0).unwrap(),
            vec![(6, b"after".to_vec())]
        );
        assert_eq!(store.last_lsn("schedule/a").unwrap(), 6);
        assert_eq!(times.log_trim.reading().count, 1);
    }

    #[test]
    fn a_trim_asked_while_one_of_the_same_log_waits_raises_it() {
        use std::sync::mpsc::channel;
        let (entered, trim_entered) = channel();
        let (release, released) = channel::<()>();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let trimmer = LogTrimmer::start_with(move |log, upto| {
            seen.lock().unwrap().push((log.to_owned(), upto));
            entered.send(()).unwrap();
            released.recv().unwrap();
            Ok(())
        })
        .unwrap();
        assert!(trimmer.submit("schedule/a", 3));
        // The thread is inside the first trim: the next one queues behind
        // it, and the one after that raises the queued one.
        trim_entered.recv().unwrap();
        assert!(trimmer.submit("schedule/a", 5));
        assert!(trimmer.submit("schedule/a", 8));
        assert!(trimmer.submit("schedule/a", 6));
        assert!(trimmer.submit("schedule/b", 2));
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        wait_idle(&trimmer);
        assert_eq!(
            *calls.lock().unwrap(),
            vec![
                ("schedule/a".to_owned(), 3),
                ("schedule/a".to_owned(), 8),
                ("schedule/b".to_owned(), 2)
            ]
        );
        assert_eq!(trimmer.dropped(), 0);
    }

    #[test]
    fn a_paced_trim_removes_everything_up_to_its_lsn_in_steps_and_counts_one_trim() {
        let records = 2 * TRIM_RECORDS_PER_STEP + 7;
        let store = store_with_snapshot("schedule/a", records);
        // An earlier trim took the oldest few: steps start at the first left.
        store.trim("schedule/a", 5).unwrap();
        store.append("schedule/a", b"after").unwrap();
        let timings = Timings::default();
        trim_paced(
            store.as_ref(),
            "schedule/a",
            records,
            Duration::ZERO,
            &timings,
        )
        .unwrap();
        assert_eq!(
            store.read_log("schedule/a", 0).unwrap(),
            vec![(records + 1, b"after".to_vec())]
        );
        // The earlier trim, then three steps (lsns 6-261, 262-517,
        // 518-519); one trim counted.
        assert_eq!(store.stats().trims, 1 + 3);
        assert_eq!(timings.reading().count, 1);
        // Nothing left at or below the lsn: no store write at all.
        trim_paced(
            store.as_ref(),
            "schedule/a",
            records,
            Duration::ZERO,
            &timings,
        )
        .unwrap();
        assert_eq!(store.stats().trims, 1 + 3);
    }

    #[test]
    fn a_stopped_trimmer_drops_trims_and_the_records_stay() {
        let store = store_with_snapshot("schedule/a", 4);
        let trimmer = LogTrimmer::start(store.clone(), Arc::default()).unwrap();
        trimmer.shutdown();
        assert!(!trimmer.submit("schedule/a", 4));
        assert_eq!(trimmer.dropped(), 1);
        assert_eq!(store.read_log("schedule/a", 0).unwrap().len(), 4);
        // Nothing is left waiting: a restarted trimmer would not see a stale entry.
        assert!(trimmer.waiting.lock().unwrap().is_empty());
    }
}
